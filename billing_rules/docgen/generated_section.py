"""Sections of the documentation generated from the code, so that they cannot drift from it.

The README's catalogue (``billing_rules.docgen.catalogue``) and the plugin guide's vocabulary
(``billing_rules.docgen.reference``) sit between two HTML comments; each generator rewrites only what
lies between its markers, and a test fails when the committed text differs from a fresh one.
"""

from __future__ import annotations

import sys
from pathlib import Path


def replace_between(text: str, start: str, end: str, generated: str) -> str:
    """``text`` with the part between the ``start`` and ``end`` markers replaced by ``generated``."""
    head, found_start, rest = text.partition(start)
    _, found_end, tail = rest.partition(end)
    if not found_start or not found_end:
        raise ValueError(f"markers not found: {start}")
    return f"{head}{start}\n{generated}{end}{tail}"


def rewrite(paths: list[str], start: str, end: str, generated: str) -> int:
    """Rewrite the section of each Markdown file in place; print it when no file is given."""
    for name in paths:
        path = Path(name)
        text = path.read_text(encoding="utf-8")
        path.write_text(replace_between(text, start, end, generated), encoding="utf-8")
    if not paths:
        sys.stdout.write(generated)
    return 0
