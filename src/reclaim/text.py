"""Untrusted text is data: the one place that decides how attacker-controlled strings are stored and shown.

Chat names, sender names, captions, file names and URLs come from material an attacker may have written.
They may hold NUL (PostgreSQL refuses it in text), lone surrogates (no encoding can write them), terminal
escape sequences, line breaks that would start a new paragraph in a notice, and bidi overrides that show
``gpj.exe`` as ``exe.jpg``. Two steps, used everywhere such text goes:

- :func:`storable`, when text is **stored**: every control character except a caption's line breaks and
  tabs becomes its visible Unicode *control picture* (``\\x00`` → ``␀``, ESC → ``␛``, a line break in a
  single-line field → ``␊``), a lone surrogate becomes U+FFFD. Nothing is dropped silently: the caller keeps
  the exact original (:func:`escaped`) beside the cleaned value whenever they differ.
- :func:`shown`, when text is **rendered** as plain text (notices, the PDF report, the terminal): the same,
  plus bidi embedding/override/isolate controls made visible (``⟨U+202E⟩``), so what a reader sees is the
  order the characters really have. HTML keeps them (Jinja escapes markup) inside ``<bdi>``, which isolates
  them from the page around them.
"""

from __future__ import annotations

import codecs
import re

BIDI_CONTROLS = frozenset(
    {0x061C, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069}
)
"""Arabic letter mark, LRM/RLM, the embeddings and overrides (LRE, RLE, PDF, LRO, RLO) and the isolates."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BIDI = re.compile("[" + "".join(chr(c) for c in sorted(BIDI_CONTROLS)) + "]")


def _picture(ch: str, keep: str) -> str:
    code = ord(ch)
    if ch in keep:
        return ch
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ … ␟
    if code == 0x7F:
        return "\u2421"  # ␡
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return f"\u27e8U+{code:04X}\u27e9"  # C1 controls: ⟨U+009B⟩


def storable(text: str, *, multiline: bool = False) -> str:
    """``text`` safe to store: no control characters (a multi-line field keeps ``\\n`` and ``\\t``; CRLF and
    CR become ``\\n``), no lone surrogates. Every other character is kept as it is."""
    keep = ""
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        keep = "\n\t"
    return _CONTROL.sub(lambda m: _picture(m.group(), keep), text)


def shown(text: str | None, *, multiline: bool = False, default: str = "") -> str:
    """``text`` for a plain-text reader (a notice, the PDF, a terminal): :func:`storable`, and bidi
    controls shown as ``⟨U+202E⟩`` instead of reordering what follows them."""
    if text is None:
        return default
    return _BIDI.sub(lambda m: f"\u27e8U+{ord(m.group()):04X}\u27e9", storable(text, multiline=multiline))


def escaped(text: str) -> str:
    """An ASCII-only, lossless spelling of ``text`` (Python's ``unicode_escape``: ``\\x00``, ``\\u202e``,
    ``\\ud800``), for keeping an original that :func:`storable` had to change. :func:`unescaped` reverses
    it."""
    return text.encode("unicode_escape", "surrogatepass").decode("ascii")


def unescaped(value: str) -> str:
    """The original text of an :func:`escaped` value."""
    return codecs.decode(value.encode("ascii"), "unicode_escape")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with a note of how long it was (for table cells and one-line
    labels: an attacker's 10,000-character chat name must not break a layout)."""
    if len(text) <= limit:
        return text
    return f"{text[: max(1, limit - 24)]}… ({len(text):,} characters)"
