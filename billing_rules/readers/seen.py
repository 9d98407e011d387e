"""The invoices already seen in the input, for SPEC §1 duplicate detection, in bounded memory.

Every (practitioner_id, invoice_id) of the input must be remembered until the end of the run, so
the index grows with the file. Three choices keep it small and cheap:

* in memory, a key is one string (``"<length of practitioner_id>:<practitioner_id><invoice_id>"``,
  exact: the length says where the practitioner ends) and where it was seen is one integer (file
  number and line). Strings and integers are not containers, so the garbage collector never walks
  the index: with a pair of tuples per invoice, its full passes over millions of them cost more
  than reading the file, and the index took twice the memory;
* at :data:`MEMORY_KEYS` keys, the dictionary is written out as one sorted run in a temporary
  folder (deleted once the input is read) and emptied, then again every :data:`RUN_KEYS` keys: a
  small dictionary from then on leaves the memory of the first one to the rest of the check. A key
  on disk keeps about 6 bytes in memory (Bloom filters and a sparse index, see
  :mod:`billing_rules.readers.spill`), and only about 1 % of new keys look further than the
  filters.

Lookups stay exact: nothing is hashed away, so two different invoices are never confused.
"""

from __future__ import annotations

from billing_rules.readers.spill import SpilledKeys

#: Keys kept in memory before the first run is written: about 80 MB, a year of a large practice.
MEMORY_KEYS = 500_000
#: Keys kept in memory between two later runs.
RUN_KEYS = 125_000
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


class SeenInvoices:
    """A mapping (practitioner_id, invoice_id) -> (line, source) of the first occurrence."""

    def __init__(self, memory_keys: int = MEMORY_KEYS) -> None:
        self._memory: dict[str, int] = {}
        self._memory_keys = memory_keys
        self._spilled = SpilledKeys()
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
        """Remember a block of keys, all new and distinct; False (and nothing remembered) otherwise.

        The block-wise fast path's check: set operations instead of a lookup per row. When it says
        False, the caller takes the rows one by one, so the first occurrence stays the first.
        """
        texts = list(map(_KEY_FORMAT, map(len, practitioners), practitioners, invoices))
        memory = self._memory
        if len(set(texts)) != len(texts) or not memory.keys().isdisjoint(texts):
            return False
        if self._spilled and self._spilled.any_of(texts):
            return False
        base = self._source_id(source) << _LINE_BITS
        memory.update(zip(texts, map(base.__or__, lines), strict=True))
        self._grown()
        return True

    def close(self) -> None:
        """Delete the runs, if any (also done when the object is collected)."""
        self._spilled.close()
        self._memory = {}

    # --- locations -----------------------------------------------------------------------------

    def _location(self, where: Where) -> int:
        line, source = where
        return (self._source_id(source) << _LINE_BITS) | (line or 0)  # lines start at 1: 0 is none

    def _where(self, text: str) -> Where | None:
        location = self._memory.get(text)
        if location is None and self._spilled:
            location = self._spilled.get(text)
        if location is None:
            return None
        return (location & _LINE_MASK or None, self._source_names[location >> _LINE_BITS])

    def _source_id(self, source: str) -> int:
        number = self._sources.get(source)
        if number is None:
            number = self._sources[source] = len(self._source_names)
            self._source_names.append(source)
        return number

    # --- the runs on disk ----------------------------------------------------------------------

    def _grown(self) -> None:
        limit = min(self._memory_keys, RUN_KEYS) if self._spilled else self._memory_keys
        if len(self._memory) >= limit:
            self._spilled.write(self._memory)
            self._memory = {}

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - best effort at interpreter shutdown
            pass
