"""The invoices already seen in the input, for SPEC §1 duplicate detection, in bounded memory.

Every (practitioner_id, invoice_id) of the input must be remembered until the end of the run, so
the index grows with the file. Two choices keep it small and cheap:

* in memory, a key is one string (``"<length of practitioner_id>:<practitioner_id><invoice_id>"``,
  exact: the length says where the practitioner ends) and where it was seen is one integer (file
  number and line). Strings and integers are not containers, so the garbage collector never walks
  the index: with a pair of tuples per invoice, its full passes over millions of them cost more
  than reading the file, and the index took twice the memory;
* beyond :data:`MEMORY_KEYS` keys, they move to a temporary SQLite database (the standard
  library's) in the system's temp folder, deleted when the run ends, and only a small write buffer
  stays in memory.

Lookups stay exact: nothing is hashed away, so two different invoices are never confused.
"""

from __future__ import annotations

import itertools
import sqlite3
import tempfile
from pathlib import Path

#: Keys kept in memory before spilling to disk: about 80 MB, a year of a large group practice.
MEMORY_KEYS = 500_000
#: Keys written to the disk table at once, once spilled.
_BATCH = 20_000
#: Keys looked up in one query (one parameter each, far below SQLite's limit).
_QUERY_KEYS = 500
#: Bits of a location for the line; the file's number is above them.
_LINE_BITS = 40
_LINE_MASK = (1 << _LINE_BITS) - 1

Key = tuple[str, str]
Where = tuple["int | None", str]


def key_text(practitioner_id: str, invoice_id: str) -> str:
    """The one-string form of a key (injective: the length prefix bounds the practitioner)."""
    return f"{len(practitioner_id)}:{practitioner_id}{invoice_id}"


#: :func:`key_text` for whole columns through ``map``, without a Python call per key.
_KEY_FORMAT = "{}:{}{}".format


def _stored(text: str) -> bytes:
    """The key as bytes: any text an export holds (even a lone surrogate) is stored exactly."""
    return text.encode("utf-8", "surrogatepass")


class SeenInvoices:
    """A mapping (practitioner_id, invoice_id) -> (line, source) of the first occurrence."""

    def __init__(self, memory_keys: int = MEMORY_KEYS) -> None:
        self._memory: dict[str, int] = {}
        self._memory_keys = memory_keys
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._db: sqlite3.Connection | None = None
        self._sources: dict[str, int] = {}
        self._source_names: list[str] = []

    def get(self, key: Key) -> Where | None:
        """Where ``key`` was first seen, or None."""
        return self._where(key_text(*key))

    def add(self, key: Key, where: Where) -> None:
        """Remember the first occurrence of ``key`` (callers check :meth:`get` first)."""
        self._memory[key_text(*key)] = self._location(where)
        self._grown()

    def claim_all(self, practitioners: list[str], invoices: list[str], lines: list[int], source: str) -> bool:
        """Remember a run of keys, all new and distinct; False (and nothing remembered) otherwise.

        The block-wise fast path's check: set operations instead of a lookup per row. When it says
        False, the caller takes the rows one by one, so the first occurrence stays the first.
        """
        texts = list(map(_KEY_FORMAT, map(len, practitioners), practitioners, invoices))
        memory = self._memory
        if len(set(texts)) != len(texts) or not memory.keys().isdisjoint(texts):
            return False
        if self._db is not None and self._any_stored(texts):
            return False
        base = self._source_id(source) << _LINE_BITS
        memory.update(zip(texts, map(base.__or__, lines), strict=True))
        self._grown()
        return True

    def close(self) -> None:
        """Drop the disk table, if any (also done when the object is collected)."""
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
        self._memory = {}

    # --- locations -----------------------------------------------------------------------------

    def _location(self, where: Where) -> int:
        line, source = where
        return (self._source_id(source) << _LINE_BITS) | (line or 0)  # lines start at 1: 0 is none

    def _where(self, text: str) -> Where | None:
        location = self._memory.get(text)
        if location is None and self._db is not None:
            row = self._db.execute("SELECT at FROM seen WHERE key = ?", (_stored(text),)).fetchone()
            location = row[0] if row is not None else None
        if location is None:
            return None
        return (location & _LINE_MASK or None, self._source_names[location >> _LINE_BITS])

    def _source_id(self, source: str) -> int:
        number = self._sources.get(source)
        if number is None:
            number = self._sources[source] = len(self._source_names)
            self._source_names.append(source)
        return number

    # --- the disk table ------------------------------------------------------------------------

    def _grown(self) -> None:
        if self._db is None:
            if len(self._memory) > self._memory_keys:
                self._spill()
        elif len(self._memory) >= _BATCH:
            self._flush()

    def _any_stored(self, texts: list[str]) -> bool:
        assert self._db is not None
        for start in range(0, len(texts), _QUERY_KEYS):
            chunk = texts[start : start + _QUERY_KEYS]
            values = ", ".join(["(?)"] * len(chunk))
            # CROSS JOIN keeps the constant rows outside, so each is a primary-key search.
            query = f"SELECT 1 FROM (VALUES {values}) AS k CROSS JOIN seen ON seen.key = k.column1 LIMIT 1"
            if self._db.execute(query, list(map(_stored, chunk))).fetchone() is not None:
                return True
        return False

    def _spill(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="billing-rules-")
        path = Path(self._folder.name) / "seen.sqlite"
        self._db = sqlite3.connect(path, isolation_level=None)
        # Scratch data, rebuilt by the next run: no journal, no fsync.
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("CREATE TABLE seen (key BLOB PRIMARY KEY, at INTEGER) WITHOUT ROWID")
        self._flush()

    def _flush(self) -> None:
        assert self._db is not None
        items = iter(self._memory.items())
        self._db.execute("BEGIN")
        # A batch at a time: the first flush moves every in-memory key, and a copy of them all
        # as rows would double the peak memory the spill is there to bound.
        while batch := list(itertools.islice(items, _BATCH)):
            # Sorted: each insert lands next to the previous one in the table's tree.
            rows = sorted((_stored(text), location) for text, location in batch)
            self._db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?)", rows)
        self._db.execute("COMMIT")
        self._memory = {}

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - best effort at interpreter shutdown
            pass
