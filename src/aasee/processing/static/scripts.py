"""Scripts and other text: the interpreter, the language, and suspicious commands in them.

Owns :func:`analyse_script` and the table of indicators (:data:`INDICATORS`); a shell
script's commands (builtins included) come from the parser of :mod:`.shell`. Each indicator
has a stable ``id`` that signatures key on (``download_exec``, ``reverse_shell``,
``base64_decode_exec``, ``history_clear``, ``cron_install``, ``chmod_exec``,
``kill_security``, ``iptables_flush``...), a description and, where one fits, an ATT&CK
technique. Patterns match within one line; only the first :data:`SCRIPT_LIMIT` bytes are read,
which no real script exceeds.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from .models import ScriptCommand, ScriptIndicator, ScriptInfo, ScriptRedirect
from .shell import parse_script

__all__ = [
    "INDICATORS",
    "MAX_INDICATORS",
    "MAX_PER_INDICATOR",
    "SCRIPT_LIMIT",
    "Indicator",
    "analyse_script",
    "script_commands",
]

SCRIPT_LIMIT = 1 << 20
MAX_INDICATORS = 200
MAX_PER_INDICATOR = 20
_TEXT_LIMIT = 200


@dataclass(frozen=True)
class Indicator:
    id: str
    needles: tuple[str, ...]
    """Words one of which any match contains: the pattern only runs on text that has one."""
    description: str
    technique: str | None
    pattern: re.Pattern[str]
    hides: tuple[str, ...] = ()
    """Ids this one makes redundant on the same line (a download that is also executed)."""


def _pattern(*alternatives: str) -> re.Pattern[str]:
    # "\s" would let a match run on into the next line; within these patterns (never inside a
    # character class) a blank is a space or a tab.
    source = "|".join(f"(?:{a})" for a in alternatives).replace(r"\s", r"[ \t]")
    return re.compile(source, re.MULTILINE)


_FETCH = r"\b(?:wget|curl|tftp|ftpget|fetch|lwp-download)\b"
_SHELL = r"(?:sudo\s+)?(?:(?:/bin/)?busybox\s+)?(?:/bin/|/usr/bin/)?(?:ba|da|z|k|a)?sh\b"
_RUNNER = rf"(?:{_SHELL}|python[23]?\b|perl\b|php\b)"
_DROP_DIR = r"(?:\./|/tmp/|/var/tmp/|/dev/shm/|/var/run/|/run/)"

INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        "download_exec",
        (
            "wget",
            "curl",
            "tftp",
            "ftpget",
            "fetch",
            "lwp-download",
            "urlopen",
            "urllib",
            "requests.get",
        ),
        "downloads a file and runs it (piped into an interpreter, or executed right after)",
        "T1105",
        _pattern(
            rf"{_FETCH}[^\n|]*\|\s*{_RUNNER}",
            rf"{_FETCH}[^\n]*(?:;|&&|\|\|)\s*(?:chmod\s+\S+\s+\S+\s*(?:;|&&)\s*)?(?:{_DROP_DIR}|{_SHELL}\s+\S)",
            r"\bexec\s*\([^\n]*(?:urlopen|urllib\.request|requests\.get)\(",
            r"(?:urlopen|requests\.get)\([^\n]*\)[^\n]*\b(?:exec|eval)\s*\(",
        ),
        hides=("download", "chmod_exec"),
    ),
    Indicator(
        "download",
        (
            "wget",
            "curl",
            "tftp",
            "ftpget",
            "fetch",
            "lwp-download",
            "urlretrieve",
            "urlopen",
            "requests.get",
        ),
        "downloads a file from a URL",
        "T1105",
        _pattern(
            rf"{_FETCH}[^\n]*(?:https?|ftp|tftp)://",
            r"\btftp\b[^\n]*\s-[gr]\b",
            r"\b(?:urlretrieve|urlopen|requests\.get)\s*\(\s*['\"](?:https?|ftp)://",
        ),
    ),
    Indicator(
        "reverse_shell",
        (
            "/dev/tcp/",
            "/dev/udp/",
            "nc",
            "netcat",
            "mkfifo",
            "socat",
            "bash",
            "sh",
            "dup2",
            "pty.spawn",
            "fsockopen",
            "socket",
        ),
        "connects a shell's input and output to a network socket",
        "T1059.004",
        _pattern(
            r"/dev/(?:tcp|udp)/[^/ \t\n]+/\d+",
            r"\b(?:nc|ncat|netcat|nc\.traditional)\b[^\n]*\s-[ec]\s*\S*sh\b",
            r"\bmkfifo\b[^\n]*\b(?:nc|ncat|netcat|telnet|openssl\s+s_client)\b",
            r"\bsocat\b[^\n]*\bexec:",
            r"\bbash\s+-i\b[^\n]*[<>]&",
            r"\bsh\s+-i\s*[<>]&\s*\d",
            r"\bdup2\(\s*\w+\.fileno\(\)\s*,\s*[012]\s*\)",
            r"\bpty\.spawn\(\s*['\"](?:/bin/)?(?:ba)?sh",
            r"\bfsockopen\s*\([^\n]*\b(?:exec|shell_exec|system|passthru|proc_open|popen)\s*\(",
            r"\bsocket\s*\([^\n]*\bexec\b[^\n]*(?:/bin/sh|/bin/bash|sh\s+-i)",
        ),
        hides=("download",),
    ),
    Indicator(
        "base64_decode_exec",
        ("base64", "eval", "assert", "exec"),
        "decodes an encoded payload and runs it",
        "T1140",
        _pattern(
            rf"\bbase64\s+(?:-\w+\s+)*(?:-d|--decode|-D)\b[^\n]*\|\s*{_RUNNER}",
            r"\beval\s+\"?\$\((?:echo|printf)\b[^\n]*\|\s*base64\s+(?:-d|--decode)",
            r"\b(?:eval|assert)\s*\(\s*(?:base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13)\s*\(",
            r"\bexec\s*\(\s*(?:base64\.b64decode|codecs\.decode|zlib\.decompress|marshal\.loads|__import__\(\s*['\"](?:base64|zlib|marshal))",
            r"\beval\s*\(?\s*decode_base64\s*\(",
        ),
        hides=("download",),
    ),
    Indicator(
        "history_clear",
        ("history", "HIST", "_history"),
        "clears or disables the shell history",
        "T1070.003",
        _pattern(
            r"\bhistory\s+-c\b",
            r"\bunset\s+(?:\w+\s+)*HISTFILE\b",
            r"\bHISTFILE=/dev/null\b",
            r"\b(?:export\s+)?HISTSIZE=0\b",
            r"\bset\s+\+o\s+history\b",
            r"\brm\s+[^\n]*\.(?:bash|zsh|sh|ash)_history\b",
            r"\bln\s+-\w*s\w*\s+/dev/null\s+\S*\.(?:bash|zsh|sh|ash)_history\b",
            r"(?:^|[;&|]\s*|\becho\s*|\bcat\s+/dev/null\s*)>\s*\S*\.(?:bash|zsh|sh|ash)_history\b",
        ),
    ),
    Indicator(
        "cron_install",
        ("cron",),
        "installs a cron job",
        "T1053.003",
        _pattern(
            r">>?\s*/etc/cron(?:tab\b|\.d/|\.hourly/|\.daily/|\.weekly/|\.monthly/)",
            r">>?\s*/var/spool/cron\b",
            r"\|\s*crontab\b",
            r"\bcrontab\s+(?:-u\s+\S+\s+)?(?:-|/tmp/\S+|/var/tmp/\S+|/dev/shm/\S+)\s*$",
            r"\b(?:cp|mv|install)\b[^\n]*\s/etc/cron(?:tab\b|\.d/|\.hourly/|\.daily/)",
            r"\b(?:cp|mv)\b[^\n]*\s/var/spool/cron\b",
        ),
    ),
    Indicator(
        "chmod_exec",
        ("chmod",),
        "makes a file executable",
        "T1222.002",
        _pattern(r"\bchmod\s+(?:-\w+\s+)*(?:[ugoa]*\+[rw]*x\w*|0?[0-7]?[157][0-7]{2})\s+\S+"),
    ),
    Indicator(
        "kill_security",
        (
            "setenforce",
            "SELINUX",
            "systemctl",
            "chkconfig",
            "service",
            "ufw",
            "pkill",
            "killall",
            "kill",
            "/usr/local/",
        ),
        "stops or disables a security tool, SELinux, AppArmor or the firewall service",
        "T1562.001",
        _pattern(
            r"\bsetenforce\s+0\b",
            r"\bSELINUX=disabled\b",
            r"\b(?:systemctl|chkconfig)\s+(?:stop|disable|mask|off)\s+(?:\S+\s+)*(?:firewalld|ufw|apparmor|auditd|iptables|nftables|aliyun\S*|aegis\S*|falcon-sensor|osqueryd|clamav\S*|rsyslog|cloudmonitor)\b",
            r"\bservice\s+(?:firewalld|ufw|apparmor|auditd|iptables|aliyun\S*|aegis\S*|rsyslog)\s+stop\b",
            r"\bufw\s+disable\b",
            r"\b(?:pkill|killall|kill\s+-9)\b[^\n]*\b(?:auditd|AliYunDun\S*|aliyun\S*|aegis\S*|YDService|YDLive|qcloud\S*|osqueryd|falcon-sensor|clamd|rsyslogd)\b",
            r"/usr/local/(?:aegis|qcloud|cloudmonitor)\b[^\n]*(?:uninstall|\brm\b)|\brm\b[^\n]*/usr/local/(?:aegis|qcloud|cloudmonitor)\b",
        ),
    ),
    Indicator(
        "iptables_flush",
        ("iptables", "nft"),
        "flushes or opens up the packet filter",
        "T1562.004",
        _pattern(
            r"\b(?:iptables|ip6tables)(?:-legacy|-nft)?\s+(?:-t\s+\w+\s+)?(?:-F|--flush|-X|--delete-chain)\b",
            r"\b(?:iptables|ip6tables)\s+-P\s+(?:INPUT|OUTPUT|FORWARD)\s+ACCEPT\b",
            r"\bnft\s+flush\s+ruleset\b",
        ),
    ),
    Indicator(
        "kill_competitors",
        ("pkill", "killall", "grep"),
        "kills other malware or miners by name",
        None,
        _pattern(
            r"\b(?:pkill|killall)\b[^\n]*\b(?:xmrig|kinsing|kdevtmpfsi|minerd|cpuminer|cryptonight|kthreaddi|xmr-stak|mirai|dbused)\b",
            r"\bgrep\b[^\n]*\b(?:xmrig|kinsing|kdevtmpfsi|minerd|cryptonight|kthreaddi)\b[^\n]*\bkill\b",
        ),
    ),
    Indicator(
        "miner",
        ("stratum", "xmrig", "donate-level", "minerd", "cpuminer"),
        "runs or configures a cryptocurrency miner",
        "T1496",
        _pattern(
            r"stratum\+(?:tcp|ssl|tls)://",
            r"\bxmrig\b[^\n]*(?:\s-o\s|--url|--donate-level|\s-u\s)",
            r"--donate-level\b",
            r"\b(?:minerd|cpuminer)\b[^\n]*\s-o\s",
        ),
    ),
    Indicator(
        "ssh_key_inject",
        ("authorized_keys",),
        "adds a key to an SSH authorized_keys file",
        "T1098.004",
        _pattern(
            r"(?:>>?|\btee\s+(?:-a\s+)?)\s*\S*authorized_keys2?\b",
            r"\b(?:cp|mv|cat)\b[^\n]*>?\s*\S*\.ssh/authorized_keys2?\b[^\n]*$",
        ),
    ),
    Indicator(
        "ssh_key_access",
        (".ssh/",),
        "reads SSH private keys or known hosts",
        "T1552.004",
        _pattern(r"\.ssh/(?:id_(?:rsa|dsa|ecdsa|ed25519)|known_hosts)\b"),
    ),
    Indicator(
        "ld_preload",
        ("ld.so.preload", "LD_PRELOAD"),
        "hooks programs through the dynamic linker's preload list",
        "T1574.006",
        _pattern(r"/etc/ld\.so\.preload\b", r"\b(?:export\s+)?LD_PRELOAD=\S"),
    ),
    Indicator(
        "systemd_persist",
        ("systemd", "systemctl"),
        "installs or enables a systemd unit",
        "T1543.002",
        _pattern(
            r"(?:>>?|\b(?:cp|mv|tee|install)\b[^\n]*)\s*/(?:etc|lib|usr/lib)/systemd/system/\S+\.(?:service|timer)\b",
            r"\bsystemctl\s+(?:--now\s+)?enable\b",
        ),
    ),
    Indicator(
        "init_persist",
        ("/etc/", "update-rc.d", ".bashrc", ".profile", ".bash_profile", ".zshrc"),
        "installs a start-up script (rc.local, init.d, shell profile)",
        "T1037.004",
        _pattern(
            r"(?:>>?|\b(?:cp|mv|tee|ln)\b[^\n]*)\s*/etc/(?:rc\.local|rc\.d/|init\.d/|profile\.d/|profile\b|bash\.bashrc)",
            r"\bupdate-rc\.d\s+\S+\s+(?:defaults|enable)\b",
            r">>\s*\S*\.(?:bashrc|profile|bash_profile|zshrc)\b",
        ),
    ),
    Indicator(
        "log_clear",
        ("/var/log", "journalctl"),
        "deletes or empties system logs",
        "T1070.002",
        _pattern(
            r"\b(?:rm|shred|unlink)\b[^\n]*\s/var/log/",
            r"\btruncate\s+(?:-s\s*0|--size[= ]0)\b[^\n]*/var/log/",
            r"(?:^|[;&|]\s*|\becho\s*|\bcat\s+/dev/null\s*)>\s*/var/log/\S+",
            r"\bjournalctl\s+[^\n]*--vacuum",
        ),
    ),
    Indicator(
        "user_add",
        ("useradd", "adduser", "chpasswd", "passwd"),
        "creates an account or sets a password",
        "T1136.001",
        _pattern(
            r"(?:^|[;&|]\s*|\bsudo\s+)(?:useradd|adduser)\b",
            r"\bchpasswd\b",
            r"\bpasswd\s+--stdin\b",
            r">>\s*/etc/(?:passwd|shadow)\b",
        ),
    ),
    Indicator(
        "sudoers",
        ("sudoers", "NOPASSWD"),
        "grants sudo rights",
        "T1548.003",
        _pattern(r">>?\s*/etc/sudoers(?:\.d/\S*)?", r"\bNOPASSWD:\s*ALL\b"),
    ),
    Indicator(
        "shadow_read",
        ("/etc/shadow",),
        "reads the password hashes",
        "T1003.008",
        _pattern(r"\b(?:cat|cp|tar|grep|head|tail|less|base64)\b[^\n]*\s/etc/shadow\b"),
    ),
    Indicator(
        "immutable_attr",
        ("chattr",),
        "changes a file's immutable attribute",
        "T1222.002",
        _pattern(r"\bchattr\s+(?:-R\s+)?[+-][a-zA-Z]*i[a-zA-Z]*\b"),
    ),
    Indicator(
        "timestomp",
        ("touch",),
        "copies or sets a file's timestamps",
        "T1070.006",
        _pattern(r"\btouch\s+(?:-\w+\s+)*-(?:r|t|d)\s+\S+"),
    ),
    Indicator(
        "hidden_path",
        ("/tmp/.", "/var/tmp/.", "/dev/shm/."),
        "uses a hidden file or directory in a temporary directory",
        "T1564.001",
        _pattern(r"(?<![\w.])(?:/tmp|/var/tmp|/dev/shm)/\.[\w.-]+"),
    ),
    Indicator(
        "proc_hide",
        ("mount",),
        "hides a process by mounting over its /proc entry",
        "T1564",
        _pattern(r"\bmount\s+(?:-o\s+bind|--bind|-B)\s+\S+\s+/proc/"),
    ),
    Indicator(
        "self_delete",
        ("$0", "${0}"),
        "deletes the script itself",
        "T1070.004",
        _pattern(r"\brm\s+(?:-\w+\s+)*(?:--\s+)?\"?\$(?:0|\{0\})\"?"),
    ),
    Indicator(
        "webshell",
        (
            "eval",
            "assert",
            "system",
            "exec",
            "passthru",
            "popen",
            "proc_open",
            "Runtime",
            "Request",
        ),
        "runs commands taken from a web request",
        "T1505.003",
        _pattern(
            r"\b(?:eval|assert|system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec)\s*\(\s*(?:@?\$_(?:GET|POST|REQUEST|COOKIE|SERVER)\b|stripslashes\s*\(\s*\$_)",
            r"\bRuntime\.getRuntime\(\)\.exec\(\s*request\.getParameter\b",
            r"\beval\s*\(?\s*Request(?:\.Item)?\s*[\(\[]",
        ),
    ),
)

_SHEBANG = re.compile(rb"#![ \t]*([^\n]{1,512})")
_LANGUAGES = {
    "sh": "shell",
    "bash": "shell",
    "dash": "shell",
    "ash": "shell",
    "ksh": "shell",
    "zsh": "shell",
    "busybox": "shell",
    "python": "python",
    "perl": "perl",
    "php": "php",
    "node": "javascript",
    "nodejs": "javascript",
    "ruby": "ruby",
    "lua": "lua",
    "awk": "awk",
    "gawk": "awk",
    "tclsh": "tcl",
}
_MIME_LANGUAGES = {
    "text/x-shellscript": "shell",
    "text/x-python": "python",
    "text/x-script.python": "python",
    "text/x-perl": "perl",
    "text/x-php": "php",
    "text/x-ruby": "ruby",
    "text/x-lua": "lua",
    "application/javascript": "javascript",
}
_CLUES = {
    "python": re.compile(
        r"^(?:import\s+\w|from\s+[\w.]+\s+import\s|def\s+\w+\(.*\):|class\s+\w+.*:|if\s+__name__\s*==)",
        re.MULTILINE,
    ),
    "perl": re.compile(
        r"^\s*(?:use\s+(?:strict|warnings|IO::Socket|Socket)\b|my\s+[$@%]\w|sub\s+\w+\s*\{)",
        re.MULTILINE,
    ),
    "shell": re.compile(
        r"^\s*(?:if\s+\[|then$|fi$|done$|do$|esac$|export\s+\w+=|echo\s|cd\s|wget\s|curl\s|chmod\s|rm\s+-|for\s+\w+\s+in\s|\w+=\$\()",
        re.MULTILINE,
    ),
}


def _is_text(head: bytes) -> bool:
    if not head or b"\0" in head:
        return False
    # Bytes above 0x7f count as text: UTF-8 notes and scripts in other scripts are common.
    binary = sum(1 for byte in head if byte < 0x20 and byte not in (9, 10, 12, 13, 27))
    return binary * 100 <= len(head)


def _shebang(data: bytes) -> tuple[str | None, str | None]:
    """The interpreter named by a ``#!`` line, and the language that implies."""
    match = _SHEBANG.match(data)
    if not match or not match.group(1).split():
        return None, None
    words = match.group(1).decode("utf-8", "backslashreplace").split()
    program = words[0]
    if program.rsplit("/", 1)[-1] == "env":
        # "#!/usr/bin/env -S python3 -u": the program is env's first operand.
        operands = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        program = operands[0] if operands else program
    base = program.rsplit("/", 1)[-1]
    stem = base.rstrip("0123456789.")
    return program, _LANGUAGES.get(stem, _LANGUAGES.get(base))


def _guess(text: str, mime: str | None) -> str | None:
    if mime in _MIME_LANGUAGES:
        return _MIME_LANGUAGES[mime]
    head = text[:4096]
    if "<?php" in head:
        return "php"
    if re.search(r"<%@\s*page\b|<%\s*(?:Runtime|Process|java\.)", head):
        return "jsp"
    scores = {name: len(clue.findall(text, 0, 65536)) for name, clue in _CLUES.items()}
    name, score = max(scores.items(), key=lambda item: item[1])
    return name if score >= 2 else None


def _indicators(text: str) -> list[ScriptIndicator]:
    starts = [0] + [match.end() for match in re.finditer("\n", text)]
    lines = text.split("\n")
    found: dict[tuple[str, int], ScriptIndicator] = {}
    hidden: set[tuple[str, int]] = set()
    for indicator in INDICATORS:
        if not any(needle in text for needle in indicator.needles):
            continue
        count = 0
        for match in indicator.pattern.finditer(text):
            line = bisect.bisect_right(starts, match.start())
            if (indicator.id, line) in found or (indicator.id, line) in hidden:
                continue
            found[(indicator.id, line)] = ScriptIndicator(
                id=indicator.id,
                description=indicator.description,
                technique=indicator.technique,
                line=line,
                text=lines[line - 1].strip()[:_TEXT_LIMIT],
            )
            hidden.update((other, line) for other in indicator.hides)
            count += 1
            if count >= MAX_PER_INDICATOR:
                break
    kept = [item for key, item in found.items() if key not in hidden]
    kept.sort(key=lambda item: item.line)
    return kept[:MAX_INDICATORS]


def script_commands(text: str) -> tuple[list[ScriptCommand], bool]:
    """The commands of shell text as the report holds them, and whether a bound cut them."""
    parsed = parse_script(text)
    commands = [
        ScriptCommand(
            line=command.line,
            argv=list(command.argv),
            assignments=list(command.assignments),
            redirects=[
                ScriptRedirect(op=r.op, fd=r.fd, target=r.target) for r in command.redirects
            ],
            kind=command.kind,
            context=command.context,
            depth=command.depth,
            pipeline=command.pipeline,
            stage=command.stage,
            background=command.background,
            argv_truncated=command.argv_truncated,
        )
        for command in parsed.commands
    ]
    return commands, parsed.truncated


def analyse_script(data: bytes, mime: str | None = None) -> ScriptInfo | None:
    """Script facts of ``data``, or None for binary data and for text that is neither a known
    script language nor carries an indicator."""
    interpreter, language = _shebang(data)
    if interpreter is None and not _is_text(data[:8192]):
        return None
    chunk = data[:SCRIPT_LIMIT]
    text = chunk.decode("utf-8", "replace")
    language = language or _guess(text, mime)
    indicators = _indicators(text)
    if interpreter is None and language is None and not indicators:
        return None
    commands: list[ScriptCommand] = []
    cut = False
    if language == "shell":
        commands, cut = script_commands(text)
    return ScriptInfo(
        language=language or "text",
        interpreter=interpreter,
        lines=text.count("\n") + (0 if text.endswith("\n") or not text else 1),
        indicators=indicators,
        commands=commands,
        commands_truncated=cut,
        truncated=len(data) > SCRIPT_LIMIT,
    )
