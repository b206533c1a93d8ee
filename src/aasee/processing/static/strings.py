"""Printable strings of a file and the network indicators in them.

Owns :func:`analyse_strings`: ASCII and UTF-16LE runs of at least :data:`MIN_LENGTH`
printable characters (at most :data:`MAX_STRINGS` of them), then URLs, IPv4 addresses, domain
names and e-mail addresses found in those runs. The extraction leans towards precision, since
a signature turns each indicator into evidence:

- an IPv4 address must parse, must not be part of a longer dotted number (``1.3.6.1.4.1``),
  must not follow a version word or a letter (``v1.2.3.4``), and must be routable somewhere
  (loopback, multicast, link-local, reserved and 0/8 addresses are dropped; private ones kept)
  and must not be one of the well-known object identifiers crypto code carries (``2.5.4.3``);
- a domain must end in a delegated TLD (:mod:`.tlds`), must not be followed by another dotted
  part (``libc.so.6``) nor follow a ``/`` (a path), must be in one case (``System.Net`` is an
  identifier); standing alone it must also have a country-code or common generic TLD that is
  not a file extension (``.so``, ``.py``, ``.sh``) and an owner label that is not a variable
  (``self.stream``, ``io.open``): other names are only believed inside a URL or an e-mail
  address, or after ``www.``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from .models import StringsInfo
from .tlds import TLDS

__all__ = ["MAX_INDICATORS", "MAX_STRINGS", "MIN_LENGTH", "analyse_strings", "extract_strings"]

MIN_LENGTH = 6
MAX_STRINGS = 200_000
"""Strings examined; the rest only set ``truncated``."""
MAX_INDICATORS = 200
"""Entries kept in each indicator list."""
_STRING_LIMIT = 4096
"""Characters of one string examined."""
_INTERESTING_LIMIT = 100

_PRINTABLE = frozenset(range(0x20, 0x7F)) | {0x09}
# Strings are found on a mask of the input (one marker byte per printable byte, zero for the
# rest): a pattern that starts with a literal lets the regex engine skip ahead with a fast
# search instead of trying a character class at every offset, about 3x faster on binaries.
_MARK = 0x50
_PRINTABLE_MASK = bytes(_MARK if i in _PRINTABLE else 0 for i in range(256))
_ZERO_MASK = bytes([_MARK]) + bytes(255)
_RUN = re.compile(bytes([_MARK]) * MIN_LENGTH + bytes([_MARK]) + b"*")

_URL = re.compile(
    r"\b(?:https?|ftp|tftp|wss?|stratum\+(?:tcp|ssl|tls))://"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?(?:[/?#][^\s\"'<>`\\{}|^]*)?"
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")
_VERSION_WORD = re.compile(
    r"(?i)\b(?:version|ver|v|build|release|rev|section|chapter|see|table|figure)[\s:=/#-]*$"
)
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(
    rf"(?<![\w@.%$/\\-])(?:{_LABEL}\.)+[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])(?![\w-]|\.\w)"
)
_EMAIL = re.compile(
    rf"(?<![\w.%+-])[A-Za-z0-9._%+-]{{1,64}}@(?P<domain>(?:{_LABEL}\.)+[A-Za-z]{{2,63}})(?![\w-]|\.\w)"
)
_URL_TRAILER = ".,;:!?)]}'\""

# A name standing alone (not inside a URL or an e-mail address, not after "www.") is only
# believed under a country code or one of the generic TLDs domains are commonly registered
# in: the hundreds of word TLDs (.open, .search, .stream, .help, .inc, .prime...) are as
# often the member of an object ("io.open", "self.stream") as a domain.
_COMMON_GENERIC_TLDS = frozenset(
    "com net org edu gov mil int biz info xyz online club icu cyou buzz shop monster rest".split()
)
# Two-letter TLDs that are also file extensions or short identifiers ("libc.so",
# "setup.py", "run.sh", "main.cc", "cmp.eq.ph" in an assembler's tables).
_AMBIGUOUS_TLDS = frozenset(
    "so sh py pl pm rb md cc cs in am ac mk mo po ps rs sc st ml id js go kt vb ui bz gz xz "
    "re ss mm nr mr ph gi".split()
)
# Owner labels that name a variable rather than a company ("self.stream", "log.info").
_IDENTIFIER_LABELS = frozenset(
    "self this value obj object item node data info args kwargs ctx config module os io re "
    "sys np str len key val var tmp result res req request response resp msg event log "
    "logger console user author committer header footer format fmt remote server local "
    "client section env seq options window document".split()
)

_INTERESTING_TOKENS = (
    "/dev/watchdog",
    "/dev/misc/watchdog",
    "/dev/tcp/",
    "/dev/udp/",
    "/dev/shm/",
    "/etc/ld.so.preload",
    "/etc/rc.local",
    "/etc/init.d/",
    "/etc/cron",
    "/var/spool/cron",
    "/etc/shadow",
    "/etc/sudoers",
    "/proc/net/tcp",
    "/proc/self/exe",
    "authorized_keys",
    "id_rsa",
    ".bash_history",
    "HISTFILE",
    "LD_PRELOAD",
    "/bin/busybox",
    "stratum+",
    "xmrig",
    "wget ",
    "curl ",
    "tftp ",
    "chmod 777",
    "chmod +x",
    "crontab",
    "iptables",
    "setenforce",
    "base64 -d",
    "bash -i",
    "nc -e",
    "POST /cdn-cgi/",
)
_INTERESTING = re.compile("|".join(map(re.escape, _INTERESTING_TOKENS)))


def _ascii_runs(data: bytes) -> Iterator[str]:
    for match in _RUN.finditer(data.translate(_PRINTABLE_MASK)):
        start, end = match.span()
        yield data[start : min(end, start + _STRING_LIMIT)].decode("ascii")


def _utf16_runs(data: bytes) -> Iterator[str]:
    # A UTF-16LE character of the ASCII range is a printable byte followed by a zero byte: mask
    # the low bytes and the high bytes of each alignment and AND the masks (as big integers,
    # the one bytewise AND Python does at C speed).
    for parity in (0, 1):
        high = data[parity + 1 :: 2].translate(_ZERO_MASK)
        length = len(high)
        if length < MIN_LENGTH:
            continue
        # Each intermediate is half the input: let go of each as soon as it is used.
        low = data[parity : parity + 2 * length : 2].translate(_PRINTABLE_MASK)
        both = int.from_bytes(low, "little")
        del low
        both &= int.from_bytes(high, "little")
        del high
        mask = both.to_bytes(length, "little")
        del both
        for match in _RUN.finditer(mask):
            start, end = match.span()
            end = min(end, start + _STRING_LIMIT)
            yield data[parity + 2 * start : parity + 2 * end].decode("utf-16-le")


def extract_strings(data: bytes, limit: int = MAX_STRINGS) -> tuple[list[str], bool]:
    """The printable runs of ``data`` (ASCII first, then UTF-16LE) and whether some were left."""
    found: list[str] = []
    for runs in (_ascii_runs(data), _utf16_runs(data)):
        for text in runs:
            if len(found) >= limit:
                return found, True
            found.append(text)
    return found, False


# Four-part object identifiers that crypto libraries carry as text (X.500 attributes 2.5.4.x,
# X.509 extensions 2.5.29.x, curves 1.3.101.x and 1.3.132.x, ...).
_OID_PREFIXES = ("1.3.6.", "1.3.14.", "1.3.101.", "1.3.132.", "2.5.4.", "2.5.29.")


def _ip_ok(text: str, start: int, address: str) -> bool:
    if address.startswith(_OID_PREFIXES) or _VERSION_WORD.search(text, max(start - 12, 0), start):
        return False
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        return False
    first = int(address.split(".", 1)[0])
    return not (
        first in (0, 255)
        or ip.is_loopback
        or ip.is_multicast
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
    )


def _tld_ok(name: str) -> bool:
    labels = name.lower().split(".")
    return len(labels) > 1 and labels[-1] in TLDS and not all(x.isdigit() for x in labels[:-1])


def _domain_ok(name: str) -> bool:
    return (name.islower() or name.isupper()) and _tld_ok(name)


def _standalone_ok(name: str) -> bool:
    labels = name.split(".")
    tld, owner = labels[-1], labels[-2]
    if labels[0] == "www":
        return True
    if len(tld) == 2:
        # Short two-label names under a country code are mostly mnemonics and fields
        # ("vga.ar", "env.tr"); real ones of that shape turn up in URLs and addresses.
        common = tld not in _AMBIGUOUS_TLDS and (len(labels) > 2 or len(owner) > 3)
    else:
        common = tld in _COMMON_GENERIC_TLDS
    return common and len(owner) > 1 and owner not in _IDENTIFIER_LABELS


class _Collector:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: dict[str, None] = {}
        self.truncated = False

    def add(self, item: str) -> None:
        if item in self.items:
            return
        if len(self.items) >= self.limit:
            self.truncated = True
            return
        self.items[item] = None

    def list(self) -> list[str]:
        return list(self.items)


def analyse_strings(data: bytes) -> StringsInfo:
    """Strings of ``data`` and the indicators in them."""
    strings, truncated = extract_strings(data)
    # One text, one line per string: each indicator pattern makes a single pass and cannot
    # join two unrelated strings.
    text = "\n".join(strings)
    urls, ips, domains, emails = (_Collector(MAX_INDICATORS) for _ in range(4))
    # Hosts of URLs and e-mail addresses: names believed whatever their TLD.
    vouched: dict[str, None] = {}
    for match in _URL.finditer(text):
        url = match.group().rstrip(_URL_TRAILER)
        host = match.group("host").strip("[]").lower().rstrip(".")
        if _IPV4.fullmatch(host) or ":" in host:
            urls.add(url)
        elif _tld_ok(host):
            urls.add(url)
            vouched[host] = None
    for match in _EMAIL.finditer(text):
        domain = match.group("domain").lower()
        if _tld_ok(domain):
            emails.add(match.group())
            vouched[domain] = None
    for match in _IPV4.finditer(text):
        if _ip_ok(text, match.start(), match.group()):
            ips.add(match.group())
    for match in _DOMAIN.finditer(text):
        name = match.group()
        if not _domain_ok(name):
            continue
        lowered = name.lower()
        if lowered in vouched or _standalone_ok(lowered):
            domains.add(lowered)
    for host in vouched:
        domains.add(host)
    interesting = _Collector(_INTERESTING_LIMIT)
    position = 0
    while not interesting.truncated and (hit := _INTERESTING.search(text, position)):
        start = text.rfind("\n", 0, hit.start()) + 1
        end = text.find("\n", hit.end())
        end = len(text) if end < 0 else end
        interesting.add(text[start:end][:200])
        position = end
    return StringsInfo(
        count=len(strings),
        urls=urls.list(),
        ips=ips.list(),
        domains=domains.list(),
        emails=emails.list(),
        interesting=interesting.list(),
        truncated=truncated or any(c.truncated for c in (urls, ips, domains, emails, interesting)),
    )
