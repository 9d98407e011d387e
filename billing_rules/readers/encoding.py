"""Byte stream to text stream, streaming, with the encodings French billing exports come in.

SPEC §1 accepts UTF-8 (with or without BOM) and Windows-1252. The choice is made on the first
64 KiB only, so that a file of millions of rows is never read whole:

* a UTF-8 BOM means UTF-8 (a UTF-16 BOM means UTF-16: Excel's "texte Unicode" export);
* bytes that are not valid UTF-8 mean Windows-1252;
* valid UTF-8 with some non-ASCII bytes means UTF-8;
* pure ASCII proves nothing (ids and NGAP codes are ASCII, accents may only come later): the file
  is then read as UTF-8, and any later byte sequence that is not UTF-8 is read as Windows-1252.

A decoding error never raises: in a file whose encoding was established, an undecodable byte
becomes U+FFFD and its row gets an input error (see :func:`unreadable_values`), so one corrupt row
does not stop the check of the others. NUL bytes (a sign of a binary or mis-encoded file) are
reported the same way.
"""

from __future__ import annotations

import codecs
import io
from typing import BinaryIO

from billing_rules.readers.base import ROW_FIELD

#: How much of the file decides the encoding (and the CSV delimiter).
HEAD_SIZE = 64 * 1024

_FLAG = "billing_rules.flag"
_FALLBACK = "billing_rules.cp1252_fallback"

# Number of bytes that could not be decoded, process-wide. Codec error handlers are global, so a
# per-stream counter is not possible; a stream only compares the value with the one it saw when it
# opened, to know that it must from now on look for U+FFFD in its values. Another stream's error
# can only cause a useless look, never a missed error.
_replaced = 0


def _flag_replace(exc: UnicodeError) -> tuple[str, int]:
    """Replace undecodable bytes with U+FFFD and remember that it happened."""
    global _replaced
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _replaced += 1
    return ("\ufffd", exc.end)


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Read a byte sequence that is not UTF-8 as Windows-1252 (the file was only ASCII so far)."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return (exc.object[exc.start : exc.end].decode("cp1252", _FLAG), exc.end)


codecs.register_error(_FLAG, _flag_replace)
codecs.register_error(_FALLBACK, _cp1252_fallback)


def detect_encoding(head: bytes, at_eof: bool) -> tuple[str, str]:
    """Pick ``(encoding, error handler)`` for a file from its first bytes.

    Args:
        head: the first bytes of the file (up to :data:`HEAD_SIZE`).
        at_eof: whether ``head`` is the whole file; if not, a multi-byte character cut at the end
            of ``head`` is not a decoding error.
    """
    if head.startswith(codecs.BOM_UTF8):
        return ("utf-8-sig", _FLAG)
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # before UTF-16: FF FE 00 00
        return ("utf-32", _FLAG)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return ("utf-16", _FLAG)
    wide = wide_encoding(head)
    if wide is not None:
        raise WideWithoutBom(wide)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=at_eof)
    except UnicodeDecodeError:
        return ("cp1252", _FLAG)
    if head.isascii():
        return ("utf-8", _FALLBACK)
    return ("utf-8", _FLAG)


class WideWithoutBom(ValueError):
    """The file is UTF-16 or UTF-32 without a byte-order mark (``encoding``: which one)."""

    def __init__(self, encoding: str) -> None:
        super().__init__(encoding)
        self.encoding = encoding


_WIDE_PATTERNS = {
    # zero bytes expected at these positions (mod 4) of mostly-Latin text, and none at the others
    "UTF-32 (little-endian)": (1, 2, 3),
    "UTF-32 (big-endian)": (0, 1, 2),
    "UTF-16 (little-endian)": (1, 3),
    "UTF-16 (big-endian)": (0, 2),
}


def wide_encoding(head: bytes) -> str | None:
    """Which UTF-16/32 variant ``head`` looks like, from where its NUL bytes fall; None if neither.

    A billing file is mostly Latin letters and digits: in UTF-16 every other byte is then 0, in
    UTF-32 three bytes of four. Without a BOM such a file would be read as UTF-8 full of NULs and
    its header would not match any column: say what it is instead.
    """
    sample = head[:4096]
    size = len(sample) - len(sample) % 4
    if size < 8 or b"\0" not in sample:
        return None
    quarter = size // 4
    zeros = [sample[offset:size:4].count(0) / quarter for offset in range(4)]
    for name, positions in _WIDE_PATTERNS.items():
        others = [zeros[offset] for offset in range(4) if offset not in positions]
        if all(zeros[offset] >= 0.7 for offset in positions) and all(share <= 0.1 for share in others):
            return name
    return None


class _HeadThenRest(io.RawIOBase):
    """A raw stream that gives back the already-read head, then the rest of the original stream.

    Reading the head ourselves (rather than relying on ``peek``, which most streams lack or which
    returns less than asked) works with files, pipes, ``BytesIO`` and any object with ``read``.
    Closing it does not close the original stream: its owner (maybe ``sys.stdin``) does that.
    """

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._pos = 0
        self._rest = rest
        self.saw_nul = b"\0" in head

    def readable(self) -> bool:
        """Always readable: this is an input stream."""
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        """Fill ``buffer`` from the head first, then from the original stream."""
        wanted = len(buffer)
        if self._pos < len(self._head):
            chunk = self._head[self._pos : self._pos + wanted]
            size = len(chunk)
            buffer[:size] = chunk
            self._pos += size
            return size
        data = self._rest.read(wanted)
        if not data:
            return 0
        if b"\0" in data:
            self.saw_nul = True
        size = len(data)
        buffer[:size] = data
        return size


class TextSource:
    r"""A decoded, streaming view of a byte stream, and whether its values need a closer look.

    Attributes:
        text: the text stream; line endings are never translated (``newline``: ``""`` for CSV,
            whose quoted fields keep their line breaks and whose lines end with ``\r\n``,
            ``\n`` or ``\r``; ``"\n"`` for JSON Lines, where only ``\n`` ends a line).
        encoding: the codec chosen by :func:`detect_encoding`.
    """

    def __init__(self, stream: BinaryIO, newline: str = "", file: str | None = None) -> None:
        chunks: list[bytes] = []
        size = 0
        at_eof = False
        while size < HEAD_SIZE:
            data = stream.read(HEAD_SIZE - size)
            if not data:
                at_eof = True
                break
            chunks.append(data)
            size += len(data)
        head = b"".join(chunks)
        try:
            self.encoding, errors = detect_encoding(head, at_eof)
        except WideWithoutBom as exc:
            from billing_rules.errors import ReadError
            from billing_rules.readers.base import file_label

            raise ReadError(
                f"{file_label(file)} : fichier en {exc.encoding} sans BOM (marque d'ordre des octets) : "
                "enregistrez-le en UTF-8 (ou en UTF-16 avec BOM, le « texte Unicode » d'Excel)"
            ) from None
        self._raw = _HeadThenRest(head, stream)
        self._check_nul = self.encoding not in ("utf-16", "utf-32")
        self._replaced_at_open = _replaced
        self.text = io.TextIOWrapper(
            io.BufferedReader(self._raw, buffer_size=HEAD_SIZE),
            encoding=self.encoding,
            errors=errors,
            newline=newline,
        )

    def suspicious(self) -> bool:
        """True once a NUL byte or an undecodable byte has been read: values must then be scanned.

        Cheap enough to call for every row; the scan itself (:func:`unreadable_values`) is only
        paid by damaged files.
        """
        return (self._check_nul and self._raw.saw_nul) or _replaced != self._replaced_at_open


_UNDECODABLE = "caractères illisibles : octets invalides pour l'encodage du fichier"
_NUL = "caractère nul (octet 0) dans la valeur"
# JSON can spell half of a UTF-16 pair (``"\ud800"``): such a string cannot be written back as
# UTF-8, so a report quoting it would fail; it is garbage from a broken export anyway.
_SURROGATE = "caractère illisible : demi-caractère UTF-16 isolé (séquence \\u invalide)"


def _has_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _text_problem(text: str) -> str | None:
    if "\ufffd" in text:
        return _UNDECODABLE
    if "\0" in text:
        return _NUL
    if _has_surrogate(text):
        return _SURROGATE
    return None


def unreadable_values(values: dict[str, object], *, keys: bool = False) -> tuple[tuple[str, str], ...]:
    """Problems for the string values holding NUL, U+FFFD (undecodable bytes) or a lone surrogate.

    Lists are looked into (JSON ``codes``), not deeper structures, which only plugins read. With
    ``keys`` (JSON objects, whose every key is its own), a key that could not be written back
    makes the whole row unusable (field ``_row``); a CSV header's names are the file's, not the
    row's. The message never quotes the value: it may be a patient identifier, and it is garbled
    anyway.
    """
    problems = []
    for name, value in values.items():
        if keys and (_has_surrogate(name) or "\0" in name):
            problems.append((ROW_FIELD, "nom de colonne illisible (caractère nul ou séquence \\u invalide)"))
            continue
        problem = None
        if isinstance(value, str):
            problem = _text_problem(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    problem = _text_problem(item)
                    if problem is not None:
                        break
        if problem is not None:
            problems.append((name, problem))
    return tuple(problems)
