"""Turning sample-controlled strings into bounded, visibly honest text for the HTML report.

Owns two rules on top of :mod:`aasee.processing.text`: characters that change how text
looks without being seen (controls, bidirectional overrides, zero-width and tag characters)
are shown as ``\\xNN``/``\\uNNNN`` escapes, so a file named ``exe.txt<RLO>`` cannot pose as
another name; and every string is cut to a length the page can afford, saying how much was
left out. The result is plain text: HTML escaping is Jinja's autoescape, applied later.
"""

from __future__ import annotations

import re

from ..text import clean_text

__all__ = ["display", "display_block"]

# C0 controls (but tab/newline, handled per caller), DEL, C1; then the Unicode format and
# separator characters that reorder, hide or break text: soft hyphen, Arabic letter mark,
# Mongolian vowel separator, zero-width and bidi marks/embeddings/overrides/isolates,
# line/paragraph separators, invisible operators, BOM, interlinear annotation, tags.
_INVISIBLE = (
    "\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\ufff9-\ufffb\U000e0000-\U000e007f"
)
_INLINE = re.compile(f"[\x00-\x1f{_INVISIBLE}]")
_BLOCK = re.compile(f"[\x00-\x08\x0b-\x1f{_INVISIBLE}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _cut(text: str, limit: int) -> tuple[str, int]:
    if len(text) > limit:
        return text[:limit], len(text) - limit
    return text, 0


def display(value: object, limit: int = 200) -> str:
    """One line of text: every invisible or control character escaped, at most ``limit``
    characters of the original kept (the rest counted)."""
    if value is None:
        return ""
    text, rest = _cut(clean_text(str(value)), limit)
    text = _INLINE.sub(_escape, text)
    return f"{text}… [+{rest} characters]" if rest else text


def display_block(value: str, limit: int) -> str:
    """Multi-line text (program output): like :func:`display` but newlines and tabs kept."""
    text, rest = _cut(clean_text(value), limit)
    text = _BLOCK.sub(_escape, text.replace("\r\n", "\n"))
    return f"{text}\n… [+{rest} characters not shown]" if rest else text
