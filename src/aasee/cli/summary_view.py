"""Renders an analysis summary on the terminal with rich, sample strings never as markup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from aasee.processing.models import Report
from aasee.processing.summary import summary_sections


def render_summary(
    console: Console, report: dict[str, Any], out_dir: Path, wall_seconds: float
) -> None:
    model = Report.model_validate(report)
    analysis = report["analysis"]
    sample = report["sample"]
    header = Text()
    header.append("AASEE analysis ", style="bold")
    header.append(str(analysis["id"]))
    console.print(header)
    console.print(
        Text(f"sample   {sample['name']}  {sample['size']} bytes  sha256 {sample['sha256']}")
    )
    console.print(Text(f"type     {sample.get('type') or 'unknown'}"))
    console.print(
        Text(
            f"guest    {analysis.get('guest_image')}  accel {analysis.get('accel')}"
            f"  {analysis.get('boot') or ''}"
        )
    )
    if analysis.get("sandbox") == "lxc":
        console.print(Text(f"sandbox  lxc: {analysis.get('isolation')}", style="yellow"))
    console.print(Text(f"time     timeout {analysis.get('timeout')} s, wall {wall_seconds:.1f} s"))
    for title, lines in summary_sections(model):
        console.print(Text(title, style="bold cyan"))
        for line in lines:
            console.print(Text("  " + line))
    kept_apart = ", report/ (long lists whole)" if model.paged else ""
    console.print(
        Text(
            f"results  {out_dir}/ (report.json{kept_apart}, report.html, trace.log, "
            "network.pcap, dropped/, console.log, analysis.log)",
            style="dim",
        )
    )
