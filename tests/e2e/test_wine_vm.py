"""Windows PE samples in the Wine guest, end to end, with Windows-shaped evidence.

Two programs are built here with Debian's mingw-w64 cross compilers (``tests/e2e/programs``):
a PE32+ one that writes a Run key, copies itself into AppData and connects to an address, and
a PE32 one that "encrypts" the documents of the Windows user, renames them, drops a ransom
note and runs ``cmd /c vssadmin delete shadows``. Each is routed to the Wine guest by its
headers and analysed for real; a .NET PE comes back "not executed" with the reason.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aasee.images.store import GuestImage
from aasee.images.wine import WINE_RECIPES, builder_for
from aasee.images.wine_prefix import WINE_IMAGE
from aasee.service.analysis import AnalysisOptions, make_snapshot, run_analysis, warm_target

pytestmark = pytest.mark.vm
PROGRAMS = Path(__file__).parent / "programs" / "windows"
TIMEOUT = 30.0


@pytest.fixture(scope="session")
def wine_image() -> GuestImage:
    image = builder_for(WINE_RECIPES[WINE_IMAGE]).build()
    # The ready snapshot is made once per image build and VM shape, as for the default guest.
    if warm_target(WINE_IMAGE, AnalysisOptions(image=WINE_IMAGE)) is None:
        make_snapshot(AnalysisOptions(image=WINE_IMAGE))
    return image


def _compile(compiler: str, source: str, out: Path, *libs: str) -> Path:
    if shutil.which(compiler) is None:
        pytest.fail(f"{compiler} missing: `make install` installs gcc-mingw-w64")
    subprocess.run([compiler, "-O1", "-o", str(out), str(PROGRAMS / source), *libs], check=True)
    return out


def _analyse(sample: Path, out: Path) -> dict[str, Any]:
    result = run_analysis(sample, out, AnalysisOptions(timeout=TIMEOUT))
    assert result.report is not None
    return json.loads((out / "report.json").read_text())


def _signatures(report: dict[str, Any]) -> dict[str, list[str]]:
    return {s["id"]: s["techniques"] for s in report["signatures"]}


def test_persistence_program_pe32_plus(wine_image: GuestImage, tmp_path: Path) -> None:
    exe = _compile("x86_64-w64-mingw32-gcc", "win_persist.c", tmp_path / "invoice.exe", "-lws2_32")
    report = _analyse(exe, tmp_path / "out")
    assert report["analysis"]["guest_image"] == WINE_IMAGE
    windows = report["windows"]
    assert "Wine" in windows["warning"] and windows["not_covered"]
    assert any(p["image_name"] == "invoice.exe" for p in windows["processes"])
    run = [c for c in windows["registry"] if c["key"].endswith("\\CurrentVersion\\Run")]
    assert run and run[0]["data"].endswith("\\AppData\\Roaming\\OneDriveUpdater\\updater.exe")
    copies = [f for f in windows["files"] if f["path"].endswith("\\OneDriveUpdater\\updater.exe")]
    assert copies and copies[0]["path"].startswith("C:\\users\\jmiller\\AppData\\Roaming\\")
    # Taken on the host side of the guest's NIC (Wine's connect() is not always traced).
    assert any(f.get("dst_port") == 8443 for f in report["network"]["flows"])
    found = _signatures(report)
    assert found["win_persistence_run_key"] == ["T1547.001"]
    assert found["win_stealth_copy_to_appdata"] == ["T1036.005"]


def test_ransom_program_pe32(wine_image: GuestImage, tmp_path: Path) -> None:
    exe = _compile("i686-w64-mingw32-gcc", "win_ransom.c", tmp_path / "update.exe")
    report = _analyse(exe, tmp_path / "out")
    windows = report["windows"]
    renamed = [f for f in windows["files"] if (f.get("destination") or "").endswith(".locked")]
    assert len(renamed) >= 3
    assert any(f["path"].endswith("\\Documents\\README_DECRYPT.txt") for f in windows["files"])
    assert any(p["image_name"] == "cmd.exe" for p in windows["processes"])
    found = _signatures(report)
    assert found["win_impact_ransom_note"] == ["T1486"]
    assert found["win_impact_mass_encryption"] == ["T1486"]
    assert found["win_execution_cmd"] == ["T1059.003"]


def test_dotnet_pe_is_not_executed(wine_image: GuestImage, tmp_path: Path) -> None:
    exe = _compile("x86_64-w64-mingw32-gcc", "win_persist.c", tmp_path / "app.exe", "-lws2_32")
    data = bytearray(exe.read_bytes())
    offset = struct.unpack_from("<I", data, 0x3C)[0]
    directories = offset + 24 + 112
    struct.pack_into("<II", data, directories + 14 * 8, 0x2000, 0x48)  # a CLR header
    dotnet = tmp_path / "managed.exe"
    dotnet.write_bytes(bytes(data))
    result = run_analysis(dotnet, tmp_path / "out", AnalysisOptions(timeout=TIMEOUT))
    assert not result.executed
    assert ".NET" in (result.not_executed_reason or "")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["verdict"] == "not executed"
