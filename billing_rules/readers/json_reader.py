"""JSON billing files: an array of objects (``.json``) or one object per line (``.jsonl``).

Both are streamed. The array is cut into its elements with :meth:`json.JSONDecoder.raw_decode` over
a sliding text buffer, so a file of a million invoices is never held whole in memory, nor is its
parsed list. Keys are taken exactly as written (SPEC §1 names them): JSON comes from programs,
unlike CSV headers typed in spreadsheets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, BinaryIO, TextIO

from billing_rules.errors import ReadError
from billing_rules.readers.base import ROW_FIELD, RawRow, file_label
from billing_rules.readers.encoding import TextSource, unreadable_values

#: Characters of text read at a time from a JSON array.
CHUNK_SIZE = 64 * 1024

# An element cut by the end of the buffer fails at most this far from the end ("tru", "\\u00e").
_CUT_MARGIN = 8
_WHITESPACE = frozenset(" \t\n\r")
_decoder = json.JSONDecoder()

# French for the messages of the json module that broken exports produce.
_JSON_MESSAGES = {
    "Expecting value": "valeur attendue",
    "Expecting ',' delimiter": "« , » attendu",
    "Expecting ':' delimiter": "« : » attendu",
    "Expecting property name enclosed in double quotes": "nom de clé entre guillemets attendu",
    "Unterminated string starting at": "texte jamais fermé",
    "Invalid control character at": "caractère de contrôle dans un texte",
    "Invalid \\escape": "séquence d'échappement invalide",
    "Extra data": "contenu en trop après l'objet",
}


def _french(message: str) -> str:
    return _JSON_MESSAGES.get(message, message)


def _kind(value: object) -> str:
    """The JSON kind of a value, in French, for messages (never the value: it may be private)."""
    if isinstance(value, list):
        return "un tableau"
    if isinstance(value, str):
        return "un texte"
    if isinstance(value, bool) or value is None:
        return "une constante (true, false ou null)"
    return "un nombre"


class _ArrayScanner:
    """A sliding window over the text of a JSON array, handing out its elements one by one."""

    def __init__(self, text: TextIO, file: str) -> None:
        self._text = text
        self._file = file
        self.buffer = ""
        self.pos = 0
        self._lines_before = 0  # newlines dropped from the buffer, to locate syntax errors
        self._at_eof = False

    def fill(self) -> bool:
        """Append a chunk to the buffer, dropping what was consumed; False at end of file."""
        if self._at_eof:
            return False
        chunk = self._text.read(CHUNK_SIZE)
        if not chunk:
            self._at_eof = True
            return False
        self._lines_before += self.buffer.count("\n", 0, self.pos)
        self.buffer = self.buffer[self.pos :] + chunk
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next significant character, whitespace skipped ('' at end of file)."""
        while True:
            buffer, pos = self.buffer, self.pos
            size = len(buffer)
            while pos < size and buffer[pos] in _WHITESPACE:
                pos += 1
            self.pos = pos
            if pos < size:
                return buffer[pos]
            if not self.fill():
                return ""

    def element(self) -> Any:
        """Decode the element at the position, reading more text until it is complete.

        A decode that fails, or succeeds right at the end of the buffer (``12`` may be the start
        of ``1234``), is retried with more text; only at the end of the file is a failure final.
        """
        while True:
            try:
                value, end = _decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                # Only an error at the very end of the buffer (or an open string) may be a cut
                # element; any other is final, and reading on would load the rest of the file.
                truncated = exc.pos >= len(self.buffer) - _CUT_MARGIN or exc.msg.startswith("Unterminated")
                if truncated and self.fill():
                    continue
                raise self.error(_french(exc.msg), exc.pos) from None
            if end < len(self.buffer) or not self.fill():
                self.pos = end
                return value

    def error(self, message: str, at: int | None = None) -> ReadError:
        """A ReadError locating ``at`` (default: the position) by line and column of the file."""
        at = self.pos if at is None else at
        line = self._lines_before + self.buffer.count("\n", 0, at) + 1
        column = at - (self.buffer.rfind("\n", 0, at) + 1) + 1
        where = f"JSON invalide ligne {line}, colonne {column}"
        return ReadError(f"{file_label(self._file)} : {where} : {message}")


class JsonReader:
    """The ``json`` format: the top level is an array of invoice objects.

    Rows have no line (``None``, SPEC §2): an object of an array is not a line. A syntax error
    makes the file unreadable (:class:`ReadError`, with its line and column): the end of a broken
    element cannot be found reliably, so the rows after it could not be trusted.
    """

    name = "json"
    extensions = (".json",)

    def rows(self, stream: BinaryIO, file: str) -> Iterator[RawRow]:
        """Yield one raw row per element of the top-level array, in order.

        Raises:
            ReadError: the file is empty or not an array (at once), or not valid JSON further
                on (lazily: the rows before the fault have then already been yielded).
        """
        source = TextSource(stream)
        scanner = _ArrayScanner(source.text, file)
        first = scanner.peek()
        if first == "\ufeff":  # a BOM the encoding did not remove (a Windows-1252 guess)
            scanner.pos += 1
            first = scanner.peek()
        if first == "":
            raise ReadError(f"{file_label(file)} : fichier vide, un tableau JSON d'objets est attendu")
        if first != "[":
            raise ReadError(
                f"{file_label(file)} : le fichier JSON doit contenir un tableau d'objets « [{{...}}, ...] »"
            )
        scanner.pos += 1
        return self._elements(scanner, source, file)

    @staticmethod
    def _elements(scanner: _ArrayScanner, source: TextSource, file: str) -> Iterator[RawRow]:
        index = 0
        scan = False
        if scanner.peek() == "]":
            scanner.pos += 1
        else:
            while True:
                if scanner.peek() == "":
                    raise scanner.error("fin de fichier avant la fin du tableau (« ] » manquant)")
                value = scanner.element()
                index += 1
                if isinstance(value, dict):
                    problems: tuple[tuple[str, str], ...] = ()
                    if not scan:
                        scan = source.suspicious()
                    if scan:
                        problems = unreadable_values(value)
                    yield RawRow(None, value, file, problems)
                else:
                    message = f"l'élément n° {index} du tableau est {_kind(value)}, pas un objet"
                    yield RawRow(None, {}, file, ((ROW_FIELD, message),))
                separator = scanner.peek()
                scanner.pos += 1
                if separator == "]":
                    break
                if separator != ",":
                    scanner.pos -= 1
                    if separator == "":
                        raise scanner.error("fin de fichier avant la fin du tableau (« ] » manquant)")
                    raise scanner.error("« , » ou « ] » attendu après un élément")
        if scanner.peek() != "":
            raise scanner.error("contenu inattendu après la fin du tableau")


class JsonLinesReader:
    """The ``jsonl`` format: one invoice object per line; blank lines are skipped.

    Unlike an array, a bad line only spoils itself: it becomes an input error on its line (field
    ``_row``) and reading goes on with the next line.
    """

    name = "jsonl"
    extensions = (".jsonl", ".ndjson")

    def rows(self, stream: BinaryIO, file: str) -> Iterator[RawRow]:
        """Yield one raw row per non-blank line, with its 1-based line number."""
        return self._lines(TextSource(stream, newline="\n"), file)

    @staticmethod
    def _lines(source: TextSource, file: str) -> Iterator[RawRow]:
        decode = _decoder.decode
        scan = False
        for number, line in enumerate(source.text, start=1):
            if number == 1 and line.startswith("\ufeff"):
                line = line[1:]
            if not line or line.isspace():
                continue
            try:
                value = decode(line)
            except json.JSONDecodeError as exc:
                message = f"ligne JSON illisible, colonne {exc.colno} : {_french(exc.msg)}"
                yield RawRow(number, {}, file, ((ROW_FIELD, message),))
                continue
            if not isinstance(value, dict):
                message = f"la ligne est {_kind(value)}, pas un objet JSON"
                yield RawRow(number, {}, file, ((ROW_FIELD, message),))
                continue
            problems: tuple[tuple[str, str], ...] = ()
            if not scan:
                scan = source.suspicious()
            if scan:
                problems = unreadable_values(value)
            yield RawRow(number, value, file, problems)
