"""Small judgements rules share: how to describe a record, what a system path is, whether a
domain name looks machine-generated or a word encoded data, what a permission string means,
which programs are package managers, process listers or tree walkers (whose reads are not
the targeted look they would be from another program)."""

from __future__ import annotations

import base64
import binascii
import math
import posixpath
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from ..modelbase import StrictModel
from .commands import Command
from .query import Found
from .vocabulary import (
    BROWSERS,
    FETCHER_NAMES,
    HOME_DIRS,
    INTERPRETERS,
    PACKAGE_MANAGERS,
    PROCESS_TOOLS,
    SHELL_NAMES,
    TEXT_TOOLS,
    TRAVERSERS,
)

__all__ = [
    "BROWSERS",
    "FETCHER_NAMES",
    "HOME_DIRS",
    "INTERPRETERS",
    "PACKAGE_MANAGERS",
    "PROCESS_TOOLS",
    "SHELL_NAMES",
    "SYSTEM_DIRS",
    "TEMP_DIRS",
    "TEXT_TOOLS",
    "TRAVERSERS",
    "basename",
    "command_summary",
    "decoded_text",
    "decodes",
    "domain_label",
    "entropy",
    "file_summary",
    "has",
    "has_option",
    "has_short_flag",
    "in_dirs",
    "looks_random",
    "mode_value",
    "operands",
    "option_value",
    "outcome",
    "proc_sys_key",
    "sysctl_assignments",
    "written_path",
]

SYSTEM_DIRS = (
    "/bin/",
    "/sbin/",
    "/usr/bin/",
    "/usr/sbin/",
    "/usr/lib/",
    "/usr/libexec/",
    "/lib/",
    "/lib64/",
    "/usr/local/bin/",
    "/usr/local/sbin/",
)
"""Where a Debian guest's own programs live."""
TEMP_DIRS = ("/tmp/", "/var/tmp/", "/dev/shm/", "/run/shm/")


def in_dirs(path: str | None, dirs: tuple[str, ...]) -> bool:
    return path is not None and path.startswith(dirs)


_HAS: dict[tuple[type, str], bool] = {}


def has(item: object, name: str) -> bool:
    """``hasattr(item, name)``, quick where a report model says no (its ``__getattr__`` is
    slow): a model refuses fields it does not declare, so its instances all have the same
    attributes."""
    cls = type(item)
    if not issubclass(cls, StrictModel):
        return hasattr(item, name)
    found = _HAS.get((cls, name))
    if found is None:
        found = _HAS[(cls, name)] = hasattr(item, name)
    return found


def written_path(item: Any) -> str:
    """Where a write (its path) or a rename (its destination) put data."""
    return str(item.dst) if has(item, "dst") else str(item.path)


def outcome(record: Any) -> str:
    """`` (failed: EACCES)`` for an attempt that failed, else nothing."""
    ok = record.ok if has(record, "ok") else None
    if ok is False:
        error = record.error if has(record, "error") else None
        return f" (failed: {error or 'error'})"
    result = record.result if has(record, "result") else None
    if isinstance(result, str) and result != "ok":
        return f" ({result})"
    return ""


def file_summary(found: Found[Any], verb: str = "wrote") -> str:
    """One line for a file record: what happened to which path, and whether it failed."""
    item = found.item
    if has(item, "dst"):
        return f"renamed {item.src} to {item.dst}{outcome(item)}"
    if has(item, "target"):
        return f"created {item.kind} {item.path} -> {item.target}{outcome(item)}"
    return f"{verb} {item.path}{outcome(item)}"


def command_summary(found: Found[Command], what: str = "ran") -> str:
    """One line for a command: an exec, a command of ``sh -c`` text, or a line of a script
    (saying whether the shell runs it itself, or whether its exec was traced)."""
    command = found.item
    if command.via == "script":
        where = f"script line {command.lineno}"
        if command.context:
            where += f" ({command.context})"
        if not command.name:
            note = "a shell assignment: no exec to trace"
        elif command.builtin:
            note = "a shell builtin: no exec to trace"
        elif command.ran:
            note = f"traced: pid {command.ran_pid} ran it"
        else:
            note = "no exec of it was traced"
        return f"{where}: {command.line} ({note})"
    where = " (in a shell command line)" if command.via == "shell" else ""
    return f"{what} {command.line}{where}"


def has_option(command: Command, *options: str) -> bool:
    """Whether any argument is one of ``options`` (``--date=x`` counts as ``--date``)."""
    for arg in command.args:
        if arg in options or arg.split("=", 1)[0] in options:
            return True
    return False


def has_short_flag(command: Command, letter: str) -> bool:
    """Whether a short-option cluster holds ``letter`` (``-la`` holds ``l`` and ``a``)."""
    for arg in command.args:
        if arg == "--":
            return False
        if arg.startswith("-") and not arg.startswith("--") and letter in arg[1:]:
            return True
    return False


def option_value(command: Command, *options: str) -> str | None:
    """The value of the first of ``options`` given: ``-o X``, ``-oX``, ``--opt=X``, ``--opt X``."""
    args = command.args
    for i, arg in enumerate(args):
        for option in options:
            if arg == option:
                return args[i + 1] if i + 1 < len(args) else ""
            if option.startswith("--") and arg.startswith(option + "="):
                return arg[len(option) + 1 :]
            if len(option) == 2 and not option.startswith("--") and arg.startswith(option):
                if len(arg) > 2 and not arg.startswith("--"):
                    return arg[2:]
    return None


def operands(command: Command, valued: frozenset[str] = frozenset()) -> list[str]:
    """The arguments that are not options (nor the values of the ``valued`` options)."""
    found: list[str] = []
    args = command.args
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            found.extend(args[i + 1 :])
            break
        if arg in valued:
            i += 2
            continue
        if arg == "-" or not arg.startswith("-"):
            found.append(arg)
        i += 1
    return found


_DECODE_FLAGS = {
    "base64": ("-d", "--decode", "-D"),
    "base32": ("-d", "--decode"),
    "basenc": ("-d", "--decode"),
    "xxd": ("-r", "--revert"),
    "openssl": ("-d",),
    "gpg": ("-d", "--decrypt"),
    "gpg2": ("-d", "--decrypt"),
}
_DECODE_LETTERS = {
    "base64": "dD",
    "base32": "d",
    "basenc": "d",
    "xxd": "r",
    "gpg": "d",
    "gpg2": "d",
}
_ALWAYS_DECODING = frozenset({"uudecode", "uudeview", "ccdecrypt", "mcrypt"})
_DECODE_CODE = re.compile(
    r"b64decode|b32decode|a2b_base64|unhexlify|fromhex|codecs\.decode|decode_base64|"
    r"base64_decode|MIME::Base64|unpack\s*\(\s*['\"](?:m|H)|str_rot13|gzinflate|"
    r"zlib\.decompress|Buffer\.from\([^)]*['\"]base64",
)


def decodes(command: Command) -> bool:
    """Whether the command decodes or decrypts data: base64/base32 -d, xxd -r, openssl ... -d,
    gpg -d, uudecode, or interpreter code (``-c``/``-e``) calling a decoding function."""
    name = command.name
    if name in _ALWAYS_DECODING:
        return True
    flags = _DECODE_FLAGS.get(name)
    if flags is not None:
        if any(a in flags or a.split("=", 1)[0] in flags for a in command.args):
            return True
        letters = _DECODE_LETTERS.get(name, "")
        return any(
            a.startswith("-") and not a.startswith("--") and any(ch in a[1:] for ch in letters)
            for a in command.args
        )
    if name.startswith(("python", "perl", "php", "ruby", "node")):
        return any(_DECODE_CODE.search(a) for a in command.args)
    return False


def proc_sys_key(path: str) -> str | None:
    """The sysctl name a /proc/sys file stands for (``kernel.randomize_va_space``)."""
    if not path.startswith("/proc/sys/"):
        return None
    return path[len("/proc/sys/") :].replace("/", ".")


def sysctl_assignments(command: Command) -> list[tuple[str, str]]:
    """(name, value) of the settings a ``sysctl`` command line writes (``-w k=v`` or ``k=v``);
    names normalised to dots."""
    if command.name != "sysctl":
        return []
    found = []
    for arg in command.args:
        if "=" in arg and not arg.startswith("-"):
            key, value = arg.split("=", 1)
            found.append((key.strip().replace("/", "."), value.strip()))
    return found


def mode_value(mode: str | None) -> int | None:
    """Permission bits from their octal text (``"4755"``), ``None`` if unreadable."""
    if not mode:
        return None
    try:
        return int(mode, 8)
    except ValueError:
        return None


def entropy(text: str) -> float:
    """Shannon entropy of the characters of ``text``, in bits per character."""
    if not text:
        return 0.0
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


# Second-level suffixes under which the registered name is the third label from the right.
_SECOND_LEVEL = frozenset(
    {
        "co.uk", "org.uk", "ac.uk", "gov.uk", "com.au", "net.au", "org.au", "com.br", "com.cn",
        "net.cn", "org.cn", "co.jp", "ne.jp", "or.jp", "co.kr", "co.in", "co.za", "com.mx",
        "com.tr", "com.ru", "com.ua", "co.nz", "com.sg", "com.hk", "com.tw",
    }
)  # fmt: skip
_VOWELS = frozenset("aeiouy")
_CONSONANT_RUN = re.compile(r"[bcdfghjklmnpqrstvwxz]{5,}")


def domain_label(name: str) -> str:
    """The label a domain was registered under: ``files`` for ``a.files.example.co.uk``."""
    labels = [label for label in name.lower().rstrip(".").split(".") if label]
    if len(labels) < 2:
        return labels[0] if labels else ""
    if len(labels) >= 3 and ".".join(labels[-2:]) in _SECOND_LEVEL:
        return labels[-3]
    return labels[-2]


def looks_random(label: str) -> bool:
    """Whether a domain label reads as machine-generated (DGA-like) rather than as words.

    Long enough (8+ characters), varied (character entropy 3 bits or more), and unlike
    language: almost no vowels, a run of five consonants, or digits and letters interleaved.
    """
    text = "".join(ch for ch in label.lower() if ch.isalnum())
    if len(text) < 8 or entropy(text) < 3.0:
        return False
    letters = [ch for ch in text if ch.isalpha()]
    vowel_ratio = sum(ch in _VOWELS for ch in letters) / len(letters) if letters else 0.0
    switches = sum(1 for a, b in zip(text, text[1:], strict=False) if a.isdigit() != b.isdigit())
    return vowel_ratio < 0.2 or bool(_CONSONANT_RUN.search(text)) or switches >= 4


_B64_TOKEN = re.compile(r"^[A-Za-z0-9+/_-]{8,}={0,2}$")
_B32_TOKEN = re.compile(r"^[A-Za-z2-7]{8,}={0,6}$")
_HEX_TOKEN = re.compile(r"^(?:[0-9a-fA-F]{2}){6,}$")


def _printable(data: bytes) -> str | None:
    if len(data) < 5:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    shown = sum(1 for ch in text if ch.isprintable() or ch in "\t\n")
    letters = sum(1 for ch in text if ch.isalnum())
    return text if shown == len(text) and letters * 2 >= len(text) else None


def decoded_text(token: str) -> str | None:
    """The readable text ``token`` encodes in base64, base32 or hex, if it is one of those
    and decodes to printable text (mostly letters and digits); else ``None``."""
    if len(token) > 4096:
        return None
    if _HEX_TOKEN.match(token):
        return _printable(bytes.fromhex(token))
    candidates: list[Callable[[], bytes]] = []
    if _B64_TOKEN.match(token) and any(ch.isdigit() or ch == "=" for ch in token):
        padded = token + "=" * (-len(token) % 4)
        candidates.append(lambda: base64.b64decode(padded.replace("-", "+").replace("_", "/")))
    if _B32_TOKEN.match(token):
        padded32 = token.upper() + "=" * (-len(token) % 8)
        candidates.append(lambda: base64.b32decode(padded32))
    for decode in candidates:
        try:
            text = _printable(decode())
        except (binascii.Error, ValueError):
            continue
        if text is not None:
            return text
    return None


def basename(path: str | None) -> str:
    return posixpath.basename(path) if path else ""
