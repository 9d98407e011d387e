"""Text from the input made safe to print on a terminal.

An invoice id, a practitioner id, an unknown code or a file's header comes from the practice's
export, or from whoever wrote it: its control characters and bidirectional overrides could move
the cursor, recolour or reorder what staff read on a terminal. Every text report shows them as
« ? »; the report's own colours are added after.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

_UNPRINTABLE = {
    **{code: "?" for code in range(0x20) if code != 0x09},
    0x7F: "?",
    **{code: "?" for code in range(0x80, 0xA0)},
    **{code: "?" for code in (0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E)},
    **{code: "?" for code in range(0x2066, 0x206A)},
}


def printable(text: str) -> str:
    """``text`` with every control character and bidirectional override shown as ``?`` (one line)."""
    return text.translate(_UNPRINTABLE)


def printable_lines(lines: Iterable[str]) -> Iterator[str]:
    """Each line made :func:`printable` (the line breaks between them are the report's own)."""
    for line in lines:
        yield line.translate(_UNPRINTABLE)
