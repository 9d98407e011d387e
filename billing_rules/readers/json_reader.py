"""JSON billing files: an array of objects (``.json``) or one object per line (``.jsonl``).

Both are streamed. The array is cut into its elements with :meth:`json.JSONDecoder.raw_decode` over
a sliding text buffer, so a file of a million invoices is never held whole in memory, nor is its
parsed list. Keys are matched like CSV headers (SPEC §1b: the SPEC names, the built-in aliases,
the practice's mapping); a key that is no field is kept exactly as written, for plugins.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, Protocol, TextIO

from billing_rules.errors import ReadError
from billing_rules.readers.base import ROW_FIELD, RawRow, file_label
from billing_rules.readers.columns import DEFAULT_MAPPING, ColumnMapping, KeyMapper
from billing_rules.readers.encoding import TextSource, unreadable_values
from billing_rules.readers.json_numbers import json_number

#: Characters of text read at a time from a JSON array.
CHUNK_SIZE = 64 * 1024

#: Longest element of a JSON array, or line of JSON Lines, in characters. One invoice is well
#: under a kilobyte; anything near this is a broken export (a string never closed swallowing the
#: rest of the file), and reading on would hold the whole file in memory.
ELEMENT_LIMIT = 16 * 1024 * 1024

# An element cut by the end of the buffer fails at most this far from the end ("tru", "\\u00e").
_CUT_MARGIN = 8
_WHITESPACE = frozenset(" \t\n\r")


class _Duplicated(dict):  # type: ignore[type-arg]
    """An object that held a key twice: the json module keeps the last value without a word."""

    keys_twice: tuple[str, ...] = ()


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """The object of ``pairs``; marked when a key came twice (which value was meant is unknown)."""
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    marked = _Duplicated(value)
    seen: set[str] = set()
    marked.keys_twice = tuple(dict.fromkeys(key for key, _ in pairs if key in seen or seen.add(key)))
    return marked


def _duplicate_problems(value: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """One input error per key the object holds twice, naming the key (never its values)."""
    if not isinstance(value, _Duplicated):
        return ()
    return tuple(
        (key, f"la clé « {key} » figure deux fois dans l'objet JSON : laquelle des deux valeurs ?")
        for key in value.keys_twice
    )


_decoder = json.JSONDecoder(object_pairs_hook=_pairs, parse_float=json_number)


class _BigNumber(str):
    """An integer longer than Python's limit on int conversion, kept as its digits.

    ``json`` raises a bare ``ValueError`` on such a number (the limit guards against a
    denial of service); rather than losing the row or the file, the value stays a string of a
    type that no column accepts, so its field gets an ordinary input error.
    """


def _int_or_big(digits: str) -> int | str:
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)()  # Python 3.10.7 and later
    if limit and len(digits) > limit:
        return _BigNumber(digits)
    return int(digits)


# Used only for a line or element that the fast decoder refused for an overlong integer.
_lenient = json.JSONDecoder(parse_int=_int_or_big, object_pairs_hook=_pairs, parse_float=json_number)

_TOO_DEEP = "imbrication trop profonde (tableaux ou objets emboîtés)"
_SKIPPED = object()  # what ``element()`` returns for an element it could not decode
_TOO_LONG = f"plus de {ELEMENT_LIMIT // (1024 * 1024)} millions de caractères"

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
        #: Whether the last element's text holds a ``\u`` escape (its strings need a closer look).
        self.escaped = False

    def fill(self, size: int = CHUNK_SIZE) -> bool:
        """Append ``size`` characters to the buffer, dropping what was consumed; False at end of file."""
        if self._at_eof:
            return False
        chunk = self._text.read(size)
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
        Each retry reads as much again as the buffer holds, so a long element costs a few
        decodes, not one per chunk. An element nested too deep for the decoder is skipped and
        returned as :data:`_SKIPPED`.

        Raises:
            ReadError: invalid JSON, or an element longer than :data:`ELEMENT_LIMIT`.
        """
        decoder = _decoder
        while True:
            try:
                value, end = decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                # Only an error at the very end of the buffer (or an open string) may be a cut
                # element; any other is final, and reading on would load the rest of the file.
                truncated = exc.pos >= len(self.buffer) - _CUT_MARGIN or exc.msg.startswith("Unterminated")
                if truncated and self._grow():
                    continue
                raise self.error(_french(exc.msg), exc.pos) from None
            except RecursionError:
                self._skip()
                return _SKIPPED
            except ValueError:  # an integer beyond the int conversion limit: see _BigNumber
                decoder = _lenient
                continue
            if end < len(self.buffer) or not self._grow():
                self.escaped = self.buffer.find("\\u", self.pos, end) >= 0
                self.pos = end
                return value

    def _grow(self) -> bool:
        """Read more of the current element: as much again as it already has (at least a chunk)."""
        held = len(self.buffer) - self.pos
        if held >= ELEMENT_LIMIT:
            raise self.error(f"élément du tableau trop long ({_TOO_LONG} : texte jamais fermé ?)")
        return self.fill(max(CHUNK_SIZE, held))

    def _skip(self) -> None:
        """Move past the element at the position without decoding it (brackets counted in order).

        Raises:
            ReadError: the file ends inside the element, or the element is too long.
        """
        depth = 0
        in_string = escaped = False
        start = self.pos
        while True:
            buffer = self.buffer
            for index in range(start, len(buffer)):
                char = buffer[index]
                if in_string:
                    if escaped:
                        escaped = False
                    elif char == "\\":
                        escaped = True
                    elif char == '"':
                        in_string = False
                elif char == '"':
                    in_string = True
                elif char in "[{":
                    depth += 1
                elif char in "]}":
                    depth -= 1
                    if depth <= 0:
                        self.pos = index + 1
                        return
            offset = len(buffer) - self.pos
            if not self._grow():
                raise self.error("fin de fichier avant la fin du tableau (« ] » manquant)")
            start = self.pos + offset

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

    def __init__(self, columns: ColumnMapping | None = DEFAULT_MAPPING) -> None:
        #: How keys are understood; None: keys exactly as written (``billing-rules columns``).
        self.columns = columns

    def with_columns(self, columns: ColumnMapping) -> JsonReader:
        """The same format, reading keys and values through ``columns``."""
        return JsonReader(columns)

    def rows(self, stream: BinaryIO, file: str) -> Iterator[RawRow]:
        """Yield one raw row per element of the top-level array, in order.

        Raises:
            ReadError: the file is empty or not an array (at once), or not valid JSON further
                on (lazily: the rows before the fault have then already been yielded).
        """
        source = TextSource(stream, file=file)
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
        return self._elements(scanner, source, file, key_mapper(self.columns, file))

    @staticmethod
    def _elements(
        scanner: _ArrayScanner,
        source: TextSource,
        file: str,
        mapper: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> Iterator[RawRow]:
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
                    problems: tuple[tuple[str, str], ...] = _duplicate_problems(value)
                    value = mapper(value)
                    if not scan:
                        scan = source.suspicious()
                    if scan or scanner.escaped:
                        problems += unreadable_values(value, keys=True)
                    yield RawRow(None, value, file, problems)
                elif value is _SKIPPED:
                    message = f"l'élément n° {index} du tableau : {_TOO_DEEP}"
                    yield RawRow(None, {}, file, ((ROW_FIELD, message),))
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

    def __init__(self, columns: ColumnMapping | None = DEFAULT_MAPPING) -> None:
        #: How keys are understood; None: keys exactly as written (``billing-rules columns``).
        self.columns = columns

    def with_columns(self, columns: ColumnMapping) -> JsonLinesReader:
        """The same format, reading keys and values through ``columns``."""
        return JsonLinesReader(columns)

    def rows(self, stream: BinaryIO, file: str) -> Iterator[RawRow]:
        """Yield one raw row per non-blank line, with its 1-based line number."""
        source = TextSource(stream, newline="\n", file=file)
        return self.rows_of_lines(
            physical_lines(source.text.readline), source, file, key_mapper(self.columns, file)
        )

    @staticmethod
    def rows_of_lines(
        lines: Iterable[tuple[int, str | None]],
        source: Damageable,
        file: str,
        mapper: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> Iterator[RawRow]:
        """The rows of numbered lines (:func:`physical_lines`) of ``source``, a file or part of one."""
        scan = False
        for number, line in lines:
            if line is None:
                yield RawRow(number, {}, file, ((ROW_FIELD, f"ligne trop longue ({_TOO_LONG})"),))
                continue
            text = line[1:] if line[0] == "\ufeff" else line  # a BOM: files joined with ``cat``
            if not text or text.isspace():
                continue
            value, message = decode_line(text)
            if message is not None:
                yield RawRow(number, {}, file, ((ROW_FIELD, message),))
                continue
            problems: tuple[tuple[str, str], ...] = _duplicate_problems(value)  # keys as written
            value = mapper(value)
            if not scan:
                scan = source.suspicious()
            if scan or "\\u" in text:
                problems += unreadable_values(value, keys=True)
            yield RawRow(number, value, file, problems)


def physical_lines(readline: Callable[[int], str], number: int = 0) -> Iterator[tuple[int, str | None]]:
    """Each line with its end and its number, from ``number + 1``; None for a line too long.

    A bounded read: a line without end (a broken export) must not fill the memory; the rest of
    a line too long is skipped.
    """
    while True:
        line = readline(ELEMENT_LIMIT)
        if not line:
            return
        number += 1
        if len(line) == ELEMENT_LIMIT and line[-1] != "\n":
            while True:
                rest = readline(ELEMENT_LIMIT)
                if not rest or rest[-1] == "\n":
                    break
            yield number, None
            continue
        yield number, line


class Damageable(Protocol):
    """What knows whether the bytes of the text read so far were damaged (:class:`TextSource`)."""

    def suspicious(self) -> bool:
        """Whether values must be scanned for damaged bytes (:meth:`TextSource.suspicious`)."""


def key_mapper(columns: ColumnMapping | None, file: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What renames an object's keys: the columns' :class:`KeyMapper`, or nothing (keys as written)."""
    if columns is None:
        return lambda values: values
    return KeyMapper(columns, file)


def decode_line(line: str) -> tuple[dict[str, Any], str | None]:
    """The object of one JSON Lines line, or the French reason why there is none."""
    try:
        try:
            value = _decoder.decode(line)
        except json.JSONDecodeError:
            raise
        except ValueError:  # an integer beyond the int conversion limit: see _BigNumber
            value = _lenient.decode(line)
    except json.JSONDecodeError as exc:
        return {}, f"ligne JSON illisible, colonne {exc.colno} : {_french(exc.msg)}"
    except RecursionError:
        return {}, f"ligne JSON illisible : {_TOO_DEEP}"
    if not isinstance(value, dict):
        return {}, f"la ligne est {_kind(value)}, pas un objet JSON"
    return value, None
