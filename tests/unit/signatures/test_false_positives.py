"""Ordinary administration must not read as an attack: process listings and tree walks are
not debugger or sandbox checks; package installations, log rotation and routine checks stay
below medium."""

from __future__ import annotations

from aasee.processing.scoring import score
from aasee.processing.signatures import all_signatures, run_signatures

from .builder import APPEND, Builder

SIGNATURES = {cls.id: cls for cls in all_signatures()}
SANDBOX = "discovery_sandbox_checks"
TRACERPID = "antianalysis_tracerpid_check"


def _matched(b: Builder, *ids: str) -> dict[str, list[str]]:
    matches, errors = run_signatures(b.build(), [SIGNATURES[i] for i in ids])
    assert errors == []
    return {m.id: [e.summary for e in m.evidence] for m in matches}


def _ps_like(b: Builder, argv: list[str], image: str, pids: range) -> str:
    """A process listing: the status, stat and cmdline of every process, its own included."""
    key = b.run(argv, image=image)
    own = b.pid(key)
    for pid in [*pids, own]:
        for entry in ("status", "stat", "cmdline"):
            b.read(f"/proc/{pid}/{entry}", key=key)
    b.read("/proc/1/cgroup", key=key)
    b.read("/proc/1/environ", key=key, ok=False)
    b.read("/proc/self/status", key=key)
    b.listdir("/proc", key=key)
    return key


class TestListingsAreNotChecks:
    def test_find_walking_the_whole_tree(self) -> None:
        b = Builder()
        find = b.run(["find", "/", "-name", "*.conf"])
        for folder in ("/", "/sys", "/sys/class", "/sys/class/dmi/id", "/sys/hypervisor",
                       "/proc", "/proc/xen", "/sys/devices/virtual/dmi/id"):  # fmt: skip
            b.listdir(folder, key=find)
        grep = b.run(["grep", "-r", "x", "/sys/class"], image="/bin/grep")
        b.read("/sys/class/dmi/id/product_name", key=grep)
        b.read("/sys/class/dmi/id/sys_vendor", key=grep)
        assert _matched(b, SANDBOX, TRACERPID) == {}

    def test_ps_pgrep_and_ls_proc(self) -> None:
        b = Builder()
        _ps_like(b, ["ps", "aux"], "/bin/ps", range(1, 40))
        _ps_like(b, ["pgrep", "sshd"], "/usr/bin/pgrep", range(1, 40))
        _ps_like(b, ["top", "-bn1"], "/usr/bin/top", range(1, 40))
        b.listdir("/proc", key=b.run(["ls", "/proc"], image="/bin/ls"))
        assert _matched(b, SANDBOX, TRACERPID) == {}

    def test_a_program_listing_processes_itself(self) -> None:
        b = Builder()
        py = b.run(["python3", "/opt/monitor.py"], image="/usr/bin/python3")
        for pid in (1, 7, 9, 12, 30, b.pid(py)):
            b.read(f"/proc/{pid}/status", key=py)
        b.read("/proc/self/status", key=py)
        b.read("/proc/1/cgroup", key=py)
        assert _matched(b, SANDBOX, TRACERPID) == {}

    def test_the_targeted_looks_still_count(self) -> None:
        b = Builder()
        b.read("/proc/self/status")
        b.run(["grep", "TracerPid", "/proc/self/status"], image="/bin/grep")
        cat = b.run(["cat", "/sys/class/dmi/id/product_name"], image="/bin/cat")
        b.read("/sys/class/dmi/id/product_name", key=cat)
        b.listdir("/sys/class/dmi/id", key=b.run(["ls", "/sys/class/dmi/id"], image="/bin/ls"))
        found = _matched(b, SANDBOX, TRACERPID)
        assert len(found[TRACERPID]) == 2 and len(found[SANDBOX]) == 2

    def test_mac_prefixes_and_guest_tools_count(self) -> None:
        b = Builder()
        b.shell("ip link | grep -i 08:00:27")
        cat = b.run(["cat", "/sys/class/net/eth0/address"], image="/bin/cat")
        b.read("/sys/class/net/eth0/address", key=cat)
        b.read("/usr/bin/VBoxControl")
        b.read("/sys/class/net/eth0/address")  # a program's own look, not a text tool
        assert len(_matched(b, SANDBOX)[SANDBOX]) == 3


def _package_installation(b: Builder) -> None:
    apt = b.run(["apt-get", "install", "-y", "nginx"])
    dpkg = b.run(
        ["dpkg", "--status-fd", "23", "--configure", "nginx"], parent=apt, image="/usr/bin/dpkg"
    )
    postinst = b.run(
        ["/bin/sh", "/var/lib/dpkg/info/nginx-common.postinst", "configure"], parent=dpkg
    )
    for path in (
        "/lib/systemd/system/nginx.service",
        "/etc/cron.d/nginx-logs",
        "/etc/init.d/nginx",
        "/etc/logrotate.d/nginx",
        "/etc/ufw/applications.d/nginx",
        "/usr/lib/python3/dist-packages/nginx_helpers.pth",
        "/var/www/html/index.nginx-debian.html",
        "/etc/apt/apt.conf.d/50unattended-upgrades",
        "/usr/share/ca-certificates/mozilla/New_CA.crt",
        "/etc/.pwd.lock",
        "/lib/modules/6.1.0-18-amd64/modules.dep",
    ):
        b.write(path, key=dpkg)
    adduser = b.run(["adduser", "--system", "--group", "www-data"], parent=postinst)
    useradd = b.run(["useradd", "-r", "-g", "www-data", "www-data"], parent=adduser)
    for path in ("/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"):
        b.read(path, key=useradd)
        b.write(path, key=useradd)
    b.run(["update-rc.d", "nginx", "defaults"], parent=postinst)
    b.run(["deb-systemd-helper", "enable", "nginx.service"], parent=postinst)
    b.run(["systemctl", "enable", "nginx.service"], parent=postinst)
    b.run(["systemctl", "stop", "nginx"], parent=postinst)
    b.run(["update-ca-certificates"], parent=postinst)


def _log_rotation(b: Builder) -> None:
    rotate = b.run(["logrotate", "/etc/logrotate.conf"], image="/usr/sbin/logrotate")
    b.rename("/var/log/syslog", "/var/log/syslog.1", key=rotate)
    b.write("/var/log/syslog", key=rotate)
    b.write("/var/log/wtmp", key=rotate, flags="O_RDWR")
    gzip = b.run(["gzip", "-9", "/var/log/syslog.2"], parent=rotate, image="/bin/gzip")
    b.read("/var/log/syslog.2", key=gzip)
    b.write("/var/log/syslog.2.gz", key=gzip)
    b.delete("/var/log/syslog.2", key=gzip)
    b.delete("/var/log/syslog.5.gz", key=rotate)


def _routine_checks(b: Builder) -> None:
    for argv in (
        ["systemctl", "restart", "nginx"],
        ["systemctl", "status", "nginx"],
        ["journalctl", "-n", "20"],
        ["df", "-h"],
        ["free", "-m"],
        ["ss", "-tlnp"],
        ["ip", "addr"],
        ["uptime"],
        ["date"],
        ["id"],
        ["sleep", "2"],
        ["sudo", "-u", "www-data", "id"],
        ["chmod", "+x", "/tmp/deploy.sh"],
        ["python3", "-m", "pip", "install", "requests"],
    ):
        b.run(argv)
    _ps_like(b, ["ps", "aux"], "/bin/ps", range(1, 20))
    b.write("/var/log/deploy.log", flags=APPEND)
    b.shell("export PATH=/usr/local/bin:$PATH; trap 'rm -f /tmp/deploy.lock' EXIT")
    b.shell_script(
        "#!/bin/sh\nset -eu\nlock=/tmp/deploy.lock\ntrap 'rm -f \"$lock\"' EXIT INT TERM\n"
        "export PATH=/usr/local/bin:$PATH LANG=C.UTF-8\n"
        'PROMPT_COMMAND=\'printf "\\033]0;%s\\007" "$PWD"\'\n'
        "systemctl restart nginx\n"
    )


def test_administration_stays_below_medium() -> None:
    b = Builder(image="/tmp/admin.sh")
    _package_installation(b)
    _log_rotation(b)
    _routine_checks(b)
    matches, errors = run_signatures(b.build())
    assert errors == []
    loud = [
        (m.id, m.severity, [e.summary for e in m.evidence])
        for m in matches
        if m.severity not in ("info", "low")
    ]
    assert loud == []
    assert score(matches)[1] == "benign"
