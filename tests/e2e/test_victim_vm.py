"""The default x86-64 guest looks like a real Debian server to a fingerprinting sample.

The sample is what evasive malware runs before it acts: it reads the DMI identity, the CPU
model and flags, the NIC's MAC, the running processes, and calls the tools payloads use. Each
check prints one ``key=value`` line; the test reads them back from the run's stdout.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aasee.images.store import GuestImage
from aasee.processing.report import validate_report
from aasee.service.analysis import AnalysisOptions, run_analysis

pytestmark = pytest.mark.vm

TOOLS = {
    "sudo": "sudo -n true",
    "systemctl": "systemctl --version",
    "systemd_run": "systemd-run --version",
    "curl": "curl --version",
    "wget": "wget --version",
    "crontab": "crontab -l",
    "at": "command -v at",
    "openssl": "openssl version",
    "ufw": "ufw --version",
    "ping": "ping -c1 -W2 127.0.0.1",
    "netstat": "netstat -an",
    "zip": "zip -v",
    "ldapsearch": "ldapsearch -VV",
    "iptables": "iptables -V",
    "nft": "nft --version",
    "useradd": "command -v useradd",
    "usermod": "command -v usermod",
    "shutdown": "command -v shutdown",
    "reboot": "command -v reboot",
    "python3": "python3 --version",
    "perl": "perl -v",
}

FINGERPRINT = (
    "#!/bin/sh\n"
    'echo "sys_vendor=$(cat /sys/class/dmi/id/sys_vendor)"\n'
    'echo "product_name=$(cat /sys/class/dmi/id/product_name)"\n'
    'echo "bios_vendor=$(cat /sys/class/dmi/id/bios_vendor)"\n'
    'echo "board_vendor=$(cat /sys/class/dmi/id/board_vendor)"\n'
    'echo "chassis_vendor=$(cat /sys/class/dmi/id/chassis_vendor)"\n'
    "echo \"cpu_model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')\"\n"
    "echo \"cpu_flags=$(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2-)\"\n"
    "echo \"cpu_vendor=$(grep -m1 '^vendor_id' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')\"\n"
    'echo "mac=$(cat /sys/class/net/eth0/address)"\n'
    'echo "disk_serial=$(cat /sys/block/vda/serial 2>/dev/null)"\n'
    'echo "detect_virt=$(systemd-detect-virt 2>&1)"\n'
    'echo "hostname=$(hostname)"\n'
    'echo "config_age=$(( $(date +%s) - $(stat -c %Y /etc/ssh) ))"\n'
    'echo "home_age=$(( $(date +%s) - $(stat -c %Y /home/admin) ))"\n'
    "echo \"processes=$(ps -eo comm= | sort -u | tr '\\n' ' ')\"\n"
    + "".join(
        f'{command} >/dev/null 2>&1; echo "tool_{name}=$?"\n' for name, command in TOOLS.items()
    )
)


def _fields(stdout: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key] = value
    return fields


def test_guest_looks_like_a_debian_server(guest_image: GuestImage, tmp_path: Path) -> None:
    sample = tmp_path / "fingerprint.sh"
    sample.write_text(FINGERPRINT)
    result = run_analysis(sample, tmp_path / "analysis", AnalysisOptions(timeout=60))
    report = result.report
    assert report is not None, "the analysis made no report"
    validate_report(report)
    stdout = report["output"]["stdout"]
    seen = _fields(stdout)
    assert "QEMU" not in seen["sys_vendor"] and seen["sys_vendor"], stdout
    assert "QEMU" not in seen["product_name"] and "Standard PC" not in seen["product_name"]
    assert "QEMU" not in seen["bios_vendor"] and "SeaBIOS" not in seen["bios_vendor"]
    assert "QEMU" not in seen["board_vendor"] and "QEMU" not in seen["chassis_vendor"]
    assert "QEMU" not in seen["cpu_model"] and seen["cpu_model"], stdout
    assert seen["cpu_vendor"] == "GenuineIntel", stdout
    assert "hypervisor" not in seen["cpu_flags"].split(), seen["cpu_flags"]
    assert seen["mac"] and not seen["mac"].startswith("52:54:00"), seen["mac"]
    assert seen["mac"].startswith(guest_image.hardware_identity().mac_prefix)
    assert seen["disk_serial"], stdout
    # The firmware's SMBIOS type 0 says nothing of a virtual machine: systemd finds none.
    assert seen["detect_virt"] == "none", seen["detect_virt"]
    # What the build wrote is dated months back, not the build day.
    assert int(seen["config_age"]) > 90 * 86400 and int(seen["home_age"]) > 90 * 86400, stdout
    processes = seen["processes"].split()
    for daemon in ("cron", "sshd", "rsyslogd", "atd"):
        assert daemon in processes, seen["processes"]
    failed = {name: seen.get(f"tool_{name}") for name in TOOLS if seen.get(f"tool_{name}") != "0"}
    assert not failed, f"tools missing or failing in the guest: {failed}\n{stdout}"
