"""The invoices already seen in the input, for SPEC §1 duplicate detection, in bounded memory.

Every (practitioner_id, invoice_id) of the input must be remembered until the end of the run, so a
plain dict grows with the file: about 300 bytes per row, 1.5 GB for 5 M invoices, on machines that
run the practice's software next to it. Up to :data:`MEMORY_KEYS` keys stay in a dict (every daily
file fits); beyond that they move to a temporary SQLite database (the standard library's) in the
system's temp folder, deleted when the run ends, and only a small write buffer stays in memory.
Lookups stay exact: nothing is hashed away, so two different invoices are never confused.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

#: Keys kept in memory before spilling to disk (a year of a large group practice fits).
MEMORY_KEYS = 400_000
#: Keys written to the disk table at once, once spilled.
_BATCH = 20_000

Key = tuple[str, str]
Where = tuple["int | None", str]


def _stored(key: Key) -> tuple[bytes, bytes]:
    """The key as bytes: any text an export holds (even a lone surrogate) is stored exactly."""
    return (key[0].encode("utf-8", "surrogatepass"), key[1].encode("utf-8", "surrogatepass"))


class SeenInvoices:
    """A mapping (practitioner_id, invoice_id) -> (line, source) of the first occurrence."""

    def __init__(self, memory_keys: int = MEMORY_KEYS) -> None:
        self._memory: dict[Key, Where] = {}
        self._memory_keys = memory_keys
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._db: sqlite3.Connection | None = None
        self._sources: dict[str, int] = {}
        self._source_names: list[str] = []

    def get(self, key: Key) -> Where | None:
        """Where ``key`` was first seen, or None."""
        found = self._memory.get(key)
        if found is not None or self._db is None:
            return found
        row = self._db.execute(
            "SELECT line, source FROM seen WHERE practitioner = ? AND invoice = ?", _stored(key)
        ).fetchone()
        if row is None:
            return None
        return (row[0], self._source_names[row[1]])

    def add(self, key: Key, where: Where) -> None:
        """Remember the first occurrence of ``key`` (callers check :meth:`get` first)."""
        self._memory[key] = where
        if self._db is None:
            if len(self._memory) > self._memory_keys:
                self._spill()
        elif len(self._memory) >= _BATCH:
            self._flush()

    def claim(self, key: Key, where: Where) -> bool:
        """Remember ``key`` as first seen at ``where`` if it is new; False if it was seen before."""
        memory = self._memory
        if key in memory or (self._db is not None and self.get(key) is not None):
            return False
        memory[key] = where
        if self._db is None:
            if len(memory) > self._memory_keys:
                self._spill()
        elif len(memory) >= _BATCH:
            self._flush()
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

    def _spill(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="billing-rules-")
        path = Path(self._folder.name) / "seen.sqlite"
        self._db = sqlite3.connect(path, isolation_level=None)
        # Scratch data, rebuilt by the next run: no journal, no fsync.
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(
            "CREATE TABLE seen (practitioner BLOB, invoice BLOB, line INTEGER, source INTEGER, "
            "PRIMARY KEY (practitioner, invoice)) WITHOUT ROWID"
        )
        self._flush()

    def _flush(self) -> None:
        assert self._db is not None
        rows = [(*_stored(key), where[0], self._source_id(where[1])) for key, where in self._memory.items()]
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?, ?, ?)", rows)
        self._db.execute("COMMIT")
        self._memory = {}

    def _source_id(self, source: str) -> int:
        number = self._sources.get(source)
        if number is None:
            number = self._sources[source] = len(self._source_names)
            self._source_names.append(source)
        return number

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - best effort at interpreter shutdown
            pass
