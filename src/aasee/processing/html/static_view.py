"""Page sections for what is known about a file without running it (the sample, or one it
dropped): hashes and type, ELF/PE headers, script indicators, strings and YARA matches."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..static.models import ElfInfo, PeInfo, StaticAnalysis
from .context import PageContext, build_table
from .tables import Cell, Fact, Table, cell
from .textfmt import display

__all__ = ["MAX_LISTED", "StaticView", "dropped_table", "static_view"]

MAX_LISTED = 200
"""Names listed in one cell (needed libraries, imported functions)."""

Tokens = tuple[str | int, ...]


@dataclass
class StaticView:
    title: str
    anchor: str
    facts: list[Fact] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _names(names: list[str], each: int = 80) -> str:
    text = ", ".join(display(n, each) for n in names[:MAX_LISTED])
    if len(names) > MAX_LISTED:
        text += f", … (+{len(names) - MAX_LISTED})"
    return text


def _fact(label: str, value: object, limit: int = 200, css: str | None = None) -> Fact:
    return Fact(label, cell(value, limit, css))


def _elf(ctx: PageContext, elf: ElfInfo, at: Tokens, view: StaticView) -> None:
    view.facts += [
        _fact("ELF", f"{elf.machine}, {elf.bits}-bit {elf.endianness}-endian, {elf.elf_type}"),
        _fact("OS/ABI", elf.os_abi or "-"),
        _fact("entry point", f"0x{elf.entry_point:x}", css="mono"),
        _fact("linking", "static" if elf.static else "dynamic"),
        _fact(
            "stripped",
            f"yes ({elf.symbols} symbols)" if elf.stripped else f"no ({elf.symbols} symbols)",
        ),
    ]
    if elf.interpreter:
        view.facts.append(_fact("interpreter", elf.interpreter, css="mono"))
    if elf.needed:
        view.facts.append(Fact("needed libraries", Cell(text=_names(elf.needed), css="mono")))
    if elf.imported_functions:
        view.facts.append(
            Fact("imported functions", Cell(text=_names(elf.imported_functions, 60), css="mono"))
        )
    if elf.packers:
        view.facts.append(Fact("packers", Cell(text=_names(elf.packers), css="warn")))
    view.tables.append(
        build_table(
            ctx,
            "ELF sections",
            (*at, "elf", "sections"),
            elf.sections,
            ["name", "type", "size", "flags", "entropy"],
            lambda s: [
                cell(s.name, 60, "mono"),
                cell(s.type, 30),
                Cell(text=str(s.size)),
                cell(s.flags, 20),
                Cell(text="" if s.entropy is None else f"{s.entropy:.2f}"),
            ],
            collapsed=True,
        )
    )


def _pe(ctx: PageContext, pe: PeInfo, at: Tokens, view: StaticView) -> None:
    view.facts += [
        _fact("PE", f"{pe.machine}, {pe.bits}-bit{' DLL' if pe.dll else ''}"),
        _fact("subsystem", pe.subsystem or "-"),
        _fact("compiled", pe.timestamp_utc or (str(pe.timestamp) if pe.timestamp else "-")),
        _fact("entry point", f"0x{pe.entry_point:x}", css="mono"),
        _fact("imphash", pe.imphash or "-", css="mono"),
    ]
    if pe.packers:
        view.facts.append(Fact("packers", Cell(text=_names(pe.packers), css="warn")))
    view.tables.append(
        build_table(
            ctx,
            "PE imports",
            (*at, "pe", "imports"),
            pe.imports,
            ["DLL", "functions"],
            lambda i: [cell(i.dll, 80, "mono"), Cell(text=_names(i.functions, 60), css="mono")],
            collapsed=True,
        )
    )
    view.tables.append(
        build_table(
            ctx,
            "PE sections",
            (*at, "pe", "sections"),
            pe.sections,
            ["name", "virtual size", "raw size", "entropy", "characteristics"],
            lambda s: [
                cell(s.name, 20, "mono"),
                Cell(text=str(s.virtual_size)),
                Cell(text=str(s.raw_size)),
                Cell(text="" if s.entropy is None else f"{s.entropy:.2f}"),
                Cell(text=_names(s.characteristics, 30)),
            ],
            collapsed=True,
        )
    )


def static_view(ctx: PageContext, static: StaticAnalysis, at: Tokens, title: str) -> StaticView:
    """The static facts of one file, its rows anchored under the pointer ``at``."""
    view = StaticView(title=title, anchor=ctx.place(*at))
    view.facts += [
        _fact("name", static.name, 300, "mono"),
        _fact("size", f"{static.size} bytes"),
        _fact("type", static.type or "unknown", 300),
        _fact("MIME type", static.mime or "-", 100),
        _fact("MD5", static.md5, 32, "mono"),
        _fact("SHA-1", static.sha1, 40, "mono"),
        _fact("SHA-256", static.sha256, 64, "mono"),
        _fact("ssdeep", static.ssdeep or "-", 200, "mono"),
        _fact("entropy", "-" if static.entropy is None else f"{static.entropy:.3f} bits/byte"),
    ]
    if static.truncated:
        view.facts.append(
            _fact("analysed", f"first {static.analysed_bytes} bytes only", css="warn")
        )
    if static.elf is not None:
        _elf(ctx, static.elf, at, view)
    if static.pe is not None:
        _pe(ctx, static.pe, at, view)
    if static.script is not None:
        script = static.script
        view.facts.append(
            _fact(
                "script",
                f"{script.language}, {script.lines} lines"
                + (f", interpreter {script.interpreter}" if script.interpreter else ""),
                300,
            )
        )
        view.tables.append(
            build_table(
                ctx,
                "Script indicators",
                (*at, "script", "indicators"),
                script.indicators,
                ["indicator", "description", "line", "text"],
                lambda i: [
                    cell(i.id, 60, "mono"),
                    cell(i.description, 200),
                    Cell(text=str(i.line)),
                    cell(i.text, 300, "mono"),
                ],
            )
        )
    view.tables.append(
        build_table(
            ctx,
            "YARA matches",
            (*at, "yara"),
            static.yara,
            ["rule", "namespace", "source", "tags", "meta", "strings"],
            lambda y: [
                cell(y.rule, 100, "mono"),
                cell(y.namespace, 60),
                Cell(text=y.source),
                Cell(text=_names(y.tags, 40)),
                Cell(
                    text="; ".join(
                        f"{display(k, 40)}={display(v, 120)}" for k, v in list(y.meta.items())[:20]
                    )
                ),
                Cell(
                    text="; ".join(
                        f"{display(s.identifier, 40)}@0x{s.offset:x}: {display(s.data, 80)}"
                        for s in y.strings[:10]
                    )
                    + (f"; … (+{len(y.strings) - 10})" if len(y.strings) > 10 else ""),
                    css="mono",
                ),
            ],
        )
    )
    strings = static.strings
    view.facts.append(
        _fact("strings", f"{strings.count}" + (" (list cut)" if strings.truncated else ""))
    )
    for title_, key, values in (
        ("URLs in strings", "urls", strings.urls),
        ("IP addresses in strings", "ips", strings.ips),
        ("Domains in strings", "domains", strings.domains),
        ("E-mail addresses in strings", "emails", strings.emails),
        ("Interesting strings", "interesting", strings.interesting),
    ):
        view.tables.append(
            build_table(
                ctx,
                title_,
                (*at, "strings", key),
                values,
                ["value"],
                lambda v: [cell(v, 300, "mono")],
                collapsed=key == "interesting",
            )
        )
    view.tables = [t for t in view.tables if t.total]
    view.errors = [display(e, 300) for e in static.errors[:100]]
    return view


def dropped_table(ctx: PageContext) -> Table:
    return build_table(
        ctx,
        "Dropped files",
        ("dropped",),
        ctx.report.dropped,
        ["path", "size", "SHA-256", "MD5", "SHA-1", "stored as", "process", "note"],
        lambda d: [
            cell(d.path, 300, "mono"),
            Cell(
                text=f"{d.size}" + (f" ({d.collected} collected)" if d.truncated else ""),
            ),
            cell(d.sha256 or "-", 64, "mono hash"),
            cell(d.md5 or "-", 32, "mono hash"),
            cell(d.sha1 or "-", 40, "mono hash"),
            cell(d.stored_as or "-", 120, "mono"),
            ctx.process_cell(d.process, d.pid),
            cell(
                d.error or ("truncated copy" if d.truncated else ""),
                200,
                "bad" if d.error else None,
            ),
        ],
        failed=lambda d: d.error is not None,
    )
