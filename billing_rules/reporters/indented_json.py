"""``json.dumps(value, ensure_ascii=False, indent=2)``, the same text, several times faster.

CPython encodes JSON in C only without ``indent``; with it, every token goes through the pure
Python encoder, which was most of the time of writing a report of a million invoices' findings.
The report's shape is simple (dicts of text keys, lists, strings, numbers, booleans, null), so this
writes the indented layout itself and leaves each string to the C escaper: the output is the
standard library's, byte for byte (``tests/test_indented_json.py`` compares them). A value with
anything else in it (a non-finite float, a non-text key, a tuple, another type) is handed whole to
``json.dumps``, which then writes or raises exactly as it always did.

A report repeats the same texts thousands of times (each finding's keys, a rule's code, message,
citation and action, the dates): each distinct string is escaped once per report, which was most
of what was left of the writing's time.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

_INDENT = "  "


def dumps(value: Any) -> str:
    """The indented JSON text of ``value`` (no final newline), as the standard library writes it."""
    writer = _Writer()
    try:
        writer.write(value, "\n")
    except _Fallback:
        return json.dumps(value, ensure_ascii=False, indent=2)
    return "".join(writer.parts)


class _Writer:
    """Appends one value's text to :attr:`parts`, each distinct string escaped once."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        #: String -> its JSON text.
        self.escaped: dict[str, str] = {}
        #: Key -> its JSON text followed by the key separator.
        self.names: dict[str, str] = {}

    def write(self, value: Any, newline: str) -> None:
        """Append ``value``'s text; ``newline`` is a line break followed by the current indentation."""
        kind = type(value)
        if kind is str:
            escaped = self.escaped.get(value)
            if escaped is None:
                escaped = self.escaped[value] = encode_basestring(value)
            self.parts.append(escaped)
        elif value is None:
            self.parts.append("null")
        elif value is True:
            self.parts.append("true")
        elif value is False:
            self.parts.append("false")
        elif kind is int:
            self.parts.append(int.__repr__(value))
        elif kind is float and value == value and value not in (float("inf"), float("-inf")):
            self.parts.append(float.__repr__(value))
        elif kind is dict:
            self._dict(value, newline)
        elif kind is list:
            self._list(value, newline)
        else:
            raise _Fallback

    def _dict(self, value: dict[Any, Any], newline: str) -> None:
        parts = self.parts
        if not value:
            parts.append("{}")
            return
        escaped, names = self.escaped, self.names
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
            name = names.get(key)
            if name is None:
                name = names[key] = encode_basestring(key) + ": "
            parts.append(name)
            if type(item) is str:  # most values: :meth:`write`'s first case, inlined
                text = escaped.get(item)
                if text is None:
                    text = escaped[item] = encode_basestring(item)
                parts.append(text)
            else:
                self.write(item, inner)
        parts.append(newline + "}")

    def _list(self, value: list[Any], newline: str) -> None:
        parts = self.parts
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
            self.write(item, inner)
        parts.append(newline + "]")


class _Fallback(Exception):
    """A value this writer does not lay out itself."""
