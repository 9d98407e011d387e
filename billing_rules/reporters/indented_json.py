"""``json.dumps(value, ensure_ascii=False, indent=2)``, the same text, several times faster.

CPython encodes JSON in C only without ``indent``; with it, every token goes through the pure
Python encoder, which was most of the time of writing a report of a million invoices' findings.
The report's shape is simple (dicts of text keys, lists, strings, numbers, booleans, null), so this
writes the indented layout itself and leaves each string to the C escaper: the output is the
standard library's, byte for byte (``tests/test_indented_json.py`` compares them). A value with
anything else in it (a non-finite float, a non-text key, a tuple, another type) is handed whole to
``json.dumps``, which then writes or raises exactly as it always did.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

_INDENT = "  "


def dumps(value: Any) -> str:
    """The indented JSON text of ``value`` (no final newline), as the standard library writes it."""
    parts: list[str] = []
    try:
        _write(value, "\n", parts)
    except _Fallback:
        return json.dumps(value, ensure_ascii=False, indent=2)
    return "".join(parts)


def _write(value: Any, newline: str, parts: list[str]) -> None:
    """Append ``value``'s text; ``newline`` is a line break followed by the current indentation."""
    kind = type(value)
    if kind is str:
        parts.append(encode_basestring(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif kind is int:
        parts.append(int.__repr__(value))
    elif kind is float and value == value and value not in (float("inf"), float("-inf")):
        parts.append(float.__repr__(value))
    elif kind is dict:
        _write_dict(value, newline, parts)
    elif kind is list:
        _write_list(value, newline, parts)
    else:
        raise _Fallback


def _write_dict(value: dict[Any, Any], newline: str, parts: list[str]) -> None:
    if not value:
        parts.append("{}")
        return
    inner = newline + _INDENT
    separator = "," + inner
    parts.append("{" + inner)
    first = True
    for key, item in value.items():
        if type(key) is not str:
            raise _Fallback
        if not first:
            parts.append(separator)
        first = False
        parts.append(encode_basestring(key) + ": ")
        _write(item, inner, parts)
    parts.append(newline + "}")


def _write_list(value: list[Any], newline: str, parts: list[str]) -> None:
    if not value:
        parts.append("[]")
        return
    inner = newline + _INDENT
    separator = "," + inner
    parts.append("[" + inner)
    first = True
    for item in value:
        if not first:
            parts.append(separator)
        first = False
        _write(item, inner, parts)
    parts.append(newline + "]")


class _Fallback(Exception):
    """A value this writer does not lay out itself."""
