"""The spilled part of the duplicate index: sorted runs on disk, Bloom filters in memory.

The duplicate index (:mod:`billing_rules.readers.seen`) holds its newest keys in a dictionary and,
when that is full, writes them out here as one :class:`SortedRun` and starts again. A run is written
once and never changed, so it needs no B-tree: the keys are sorted in memory and written in one
pass to a flat file, and a sparse index (every :data:`STRIDE`-th key with its offset) stays in
memory. That costs a fraction of a microsecond per key, where inserting into an indexed table costs
ten, most of it in page misses once the table outgrows its cache.

Almost every key looked up is new, so the disk is only read when Bloom filters say "maybe":

* runs are grouped in generations, each with one filter over all its keys. A generation holds
  at least :data:`GENERATION_KEYS` keys and at least as many as all the earlier ones together, so
  a new key costs one filter test per generation, O(log n) of them (one up to four million
  spilled keys, two up to eight, three up to sixteen...), however many runs there are;
* on a generation's "maybe" (about 1 % of new keys), each of its runs asks its own filter, and a
  run that still says "maybe" reads one segment of at most :data:`STRIDE` records, where one
  C-level search usually shows that the key is not there.

A Bloom filter never says "no" for a stored key, so lookups stay exact. The filters cost about
4 bytes per spilled key, the sparse indexes about 2.
"""

from __future__ import annotations

import bisect
import struct
import tempfile
from collections.abc import Iterable
from itertools import accumulate, chain, repeat
from pathlib import Path

from billing_rules import scratch
from billing_rules.files import open_private

#: Records between two entries of a run's in-memory sparse index (one disk read scans at most this).
STRIDE = 64
#: Keys under one generation filter; beyond, a new generation starts.
GENERATION_KEYS = 4_000_000
#: Filter bits per key, two bits set per key: about 0.9 % false positives for a generation
#: (20 bits), 3.3 % for a run (10 bits; only asked after its generation said "maybe"). Every new
#: key asks every generation, and a generation's "maybe" asks each of its runs: the generation's
#: rate is what keeps the cost of a key from growing with the number of runs.
GENERATION_BITS_PER_KEY = 20
RUN_BITS_PER_KEY = 10

_HEAD = struct.Struct("<IQ")  # key length in bytes, location
#: Records encoded and written at once (whole segments).
_WRITE_RECORDS = 64 * STRIDE
_MASK64 = (1 << 64) - 1


def _encoded(text: str) -> bytes:
    """The key as bytes: any text an export holds (even a lone surrogate) is stored exactly."""
    return text.encode("utf-8", "surrogatepass")


class BloomFilter:
    """Two bits per key, taken from the halves of the key's (per-process) 64-bit hash."""

    def __init__(self, keys: int, bits_per_key: int) -> None:
        self._size = max(1024, keys * bits_per_key)
        self._bits = bytearray((self._size + 7) >> 3)

    def add_all(self, texts: Iterable[str]) -> None:
        """Set the bits of every key of ``texts``."""
        bits, size = self._bits, self._size
        for value in map(hash, texts):
            value &= _MASK64
            low, high = value % size, (value >> 32) % size
            bits[low >> 3] |= 1 << (low & 7)
            bits[high >> 3] |= 1 << (high & 7)

    def maybe(self, texts: list[str]) -> list[int]:
        """Positions in ``texts`` of the keys that may have been added (the others surely not)."""
        bits, size = self._bits, self._size
        found = []
        for position, value in enumerate(map(hash, texts)):
            value &= _MASK64
            low, high = value % size, (value >> 32) % size
            if bits[low >> 3] >> (low & 7) & 1 and bits[high >> 3] >> (high & 7) & 1:
                found.append(position)
        return found

    def holds(self, value: int) -> bool:
        """Whether a key of (Python) hash ``value`` may have been added: one test, no list."""
        value &= _MASK64
        size, bits = self._size, self._bits
        low, high = value % size, (value >> 32) % size
        return bool(bits[low >> 3] >> (low & 7) & 1 and bits[high >> 3] >> (high & 7) & 1)


class SortedRun:
    """Keys with their locations, sorted, in one file; exact lookups, no writes after creation."""

    def __init__(self, path: Path, items: dict[str, int]) -> None:
        ordered = sorted(items)
        self.filter = BloomFilter(len(ordered), RUN_BITS_PER_KEY)
        self.filter.add_all(items)  # in the dictionary's order, close to the strings' order in memory
        # The sparse index holds new bytes, not the dictionary's strings: one string kept in 64
        # would keep every memory arena of the emptied dictionary from going back to the system.
        # UTF-8 bytes sort as their texts do (by code point), so both bisect alike.
        self._firsts: list[bytes] = []
        self._offsets: list[int] = []
        offset = 0
        with open_private(path, "wb") as out:  # keys are patient data: owner-only
            # A few thousand records at a time, each step a C-level map: writing costs about as
            # much as sorting.
            for start in range(0, len(ordered), _WRITE_RECORDS):
                texts = ordered[start : start + _WRITE_RECORDS]
                encoded = list(map(str.encode, texts, repeat("utf-8"), repeat("surrogatepass")))
                lengths = list(map(len, encoded))
                heads = map(_HEAD.pack, lengths, map(items.__getitem__, texts))
                out.write(b"".join(chain.from_iterable(zip(heads, encoded, strict=True))))
                starts = list(accumulate(map(_HEAD.size.__add__, lengths), initial=offset))
                self._firsts += encoded[::STRIDE]
                self._offsets += starts[:-1:STRIDE]
                offset = starts[-1]
        self._offsets.append(offset)
        self._size = len(ordered)
        self._file = open(path, "rb")  # noqa: SIM115 - kept open for the lookups, closed by close()

    def __len__(self) -> int:
        return self._size

    def get(self, text: str) -> int | None:
        """The location stored for ``text``, or None (reads the disk: ask :attr:`filter` first)."""
        wanted = _encoded(text)
        segment = bisect.bisect_right(self._firsts, wanted) - 1
        if segment < 0:
            return None
        start, end = self._offsets[segment], self._offsets[segment + 1]
        self._file.seek(start)
        data = self._file.read(end - start)
        if data.find(wanted) < 0:  # the usual answer (a filter's false "maybe"), in one C-level scan
            return None
        position = 0
        while position < len(data):
            length, location = _HEAD.unpack_from(data, position)
            position += _HEAD.size
            if data[position : position + length] == wanted:
                return location
            position += length
        return None

    def close(self) -> None:
        """Close the file (its folder is deleted by the owner)."""
        self._file.close()


class _Generation:
    """Runs under one filter."""

    def __init__(self, capacity: int) -> None:
        self.filter = BloomFilter(capacity, GENERATION_BITS_PER_KEY)
        self.room = capacity
        self.runs: list[SortedRun] = []


class SpilledKeys:
    """Every run written so far, in a temporary folder deleted by :meth:`close`."""

    def __init__(self) -> None:
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._generations: list[_Generation] = []

    def __bool__(self) -> bool:
        return bool(self._generations)

    @property
    def runs(self) -> int:
        """How many runs were written."""
        return sum(len(generation.runs) for generation in self._generations)

    def write(self, items: dict[str, int]) -> None:
        """Store ``items`` (keys not stored yet) as one more run."""
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="spill-", dir=scratch.folder())
        generation = self._generations[-1] if self._generations else None
        if generation is None or generation.room < len(items):
            # Each generation holds at least as many keys as all the earlier ones together, so a
            # new key asks O(log n) generation filters, not one per 4 million keys.
            spilled = sum(len(run) for generation in self._generations for run in generation.runs)
            generation = _Generation(max(GENERATION_KEYS, len(items), spilled))
            self._generations.append(generation)
        path = Path(self._folder.name) / f"seen-{self.runs}.run"
        generation.runs.append(SortedRun(path, items))
        generation.filter.add_all(items)
        generation.room -= len(items)

    def get(self, text: str) -> int | None:
        """The location stored for ``text``, or None."""
        value = hash(text)
        for generation in self._generations:
            if generation.filter.holds(value):
                location = self._in_runs(generation, text, value)
                if location is not None:
                    return location
        return None

    def any_of(self, texts: list[str]) -> bool:
        """Whether any key of ``texts`` is stored.

        Each generation filters the whole block at once; the few keys it lets through (about
        1 %) are then tested against its runs one key at a time, without a call per run, so that
        the cost of a block does not grow with the number of runs.
        """
        for generation in self._generations:
            for position in generation.filter.maybe(texts):
                text = texts[position]
                if self._in_runs(generation, text, hash(text)) is not None:
                    return True
        return False

    @staticmethod
    def _in_runs(generation: _Generation, text: str, value: int) -> int | None:
        for run in generation.runs:
            if run.filter.holds(value):
                location = run.get(text)
                if location is not None:
                    return location
        return None

    def close(self) -> None:
        """Close and delete every run."""
        for generation in self._generations:
            for run in generation.runs:
                run.close()
        self._generations = []
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
