"""Making sample-controlled text safe to store and to show.

Owns two rules: stored strings are valid Unicode (bytes that were not UTF-8 stay visible as
``\\xNN`` escapes), and strings meant for a terminal carry no control characters, so a file
or process name cannot move the cursor, recolour or rewrite what an analyst sees.
"""

from __future__ import annotations

import re

__all__ = ["clean_text", "decode_bytes", "printable"]

# C0 controls, DEL and C1 controls: what a terminal may interpret.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def decode_bytes(data: bytes) -> str:
    return data.decode("utf-8", "backslashreplace")


def clean_text(text: str) -> str:
    """The same text with lone surrogates (undecodable file names) turned into escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join(_escape_surrogate(ch) if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text


def _escape_surrogate(ch: str) -> str:
    # U+DC80..U+DCFF is how os.fsdecode() carries a byte that was not UTF-8: show that byte.
    if "\udc80" <= ch <= "\udcff":
        return f"\\x{ord(ch) - 0xDC00:02x}"
    return ch.encode("utf-8", "surrogatepass").decode("utf-8", "backslashreplace")


def printable(text: str, limit: int = 200) -> str:
    """Text fit for one terminal line: control characters escaped, length bounded."""
    # Printable ASCII (most text) holds no surrogate and no control character.
    if not (text.isascii() and text.isprintable()):
        text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", clean_text(text))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text
