"""End to end in a real guest: the files a sample drops are collected, capped and hashed.

The sample writes a script, a 40 MB file (above the 1 MiB cap this test sets through the
hooks configuration), a file it deletes, a symlink to /etc/shadow and a FIFO it holds open.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from aasee.images.store import GuestImage
from aasee.service.analysis import AnalysisOptions, run_analysis

pytestmark = pytest.mark.vm

CAP = 1 << 20
BIG = 40 << 20
SCRIPT = "#!/bin/sh\necho second stage\n"
PRINTF = SCRIPT.replace("\n", "\\n")
SAMPLE = f"""#!/bin/sh
printf '{PRINTF}' > /tmp/aasee-drop.sh
chmod 755 /tmp/aasee-drop.sh
dd if=/dev/zero of=/tmp/aasee-big.bin bs=1M count={BIG >> 20} 2>/dev/null
echo short-lived > /tmp/aasee-gone.txt
rm /tmp/aasee-gone.txt
ln -s /etc/shadow /tmp/aasee-shadow-link
mkfifo /tmp/aasee-fifo
exec 3<>/tmp/aasee-fifo
echo held >&3
sleep 2
"""


def _entries(out: Path) -> dict[str, dict[str, Any]]:
    manifest = json.loads((out / "dropped" / "manifest.json").read_text())
    return {entry["path"]: entry for entry in manifest}


def test_dropped_files_are_collected_capped_and_hashed(
    guest_image: GuestImage, tmp_path: Path, no_leftovers: None
) -> None:
    sample = tmp_path / "dropper.sh"
    sample.write_text(SAMPLE)
    hooks = tmp_path / "hooks.json"
    hooks.write_text(json.dumps({"configuration": {"dropped_file_cap": CAP}, "hooks": []}))
    out = tmp_path / "analysis"
    options = AnalysisOptions(timeout=30, stop_on_exit=True)
    run_analysis(sample, out, options, postprocess=False, hooks_config=str(hooks))

    found = _entries(out)
    script = found["/tmp/aasee-drop.sh"]
    assert script["error"] is None and not script["truncated"]
    assert script["sha256"] == hashlib.sha256(SCRIPT.encode()).hexdigest() == script["stored_as"]
    assert script["md5"] == hashlib.md5(SCRIPT.encode()).hexdigest()
    assert script["size"] == script["collected"] == len(SCRIPT)
    assert script["process"].startswith(f"{script['pid']}@")

    big = found["/tmp/aasee-big.bin"]
    assert (big["size"], big["collected"], big["truncated"]) == (BIG, CAP, True)
    assert big["sha256"] == hashlib.sha256(b"\0" * CAP).hexdigest()
    assert (out / "dropped" / big["sha256"]).stat().st_size == CAP

    assert found["/tmp/aasee-gone.txt"]["error"] == "gone before collection"
    for path, kind in (("/tmp/aasee-shadow-link", "symbolic link"), ("/tmp/aasee-fifo", "fifo")):
        entry = found[path]
        assert kind in entry["error"], entry
        assert (entry["collected"], entry["stored_as"], entry["sha256"]) == (0, None, None)

    # Only content-addressed names on the host, each one a manifest entry's copy.
    stored = {p.name for p in (out / "dropped").iterdir()} - {"manifest.json"}
    assert all(re.fullmatch(r"[0-9a-f]{64}", name) for name in stored), stored
    assert stored == {e["stored_as"] for e in found.values() if e["stored_as"]}
    for name in stored:
        assert hashlib.sha256((out / "dropped" / name).read_bytes()).hexdigest() == name

    run = json.loads((out / "run.json").read_text())
    assert not [e for e in run["errors"] if "dropped" in e], run["errors"]
    print(f"dropped file collection took {run['timings']['dropped']} s")
