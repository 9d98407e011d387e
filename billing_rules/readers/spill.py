"""A sorted run of keys on disk, with a Bloom filter in memory: the spilled part of the seen index.

The duplicate index (:mod:`billing_rules.readers.seen`) holds its newest keys in a dictionary and,
when that is full, writes them out as one :class:`SortedRun` and starts again. A run is written once
and never changed, so it needs no B-tree: the keys are sorted in memory and written in one pass to a
flat file, and a sparse index (every :data:`STRIDE`-th key with its offset) stays in memory. That
costs a fraction of a microsecond per key, where inserting into an indexed table costs ten, most of
it in page misses once the table outgrows its cache.

Almost every key looked up is new, so the run first asks its Bloom filter (two bits per key out of
:data:`BITS_PER_KEY`, about 1.4 % false positives); only a "maybe" reads the disk, one segment of
at most :data:`STRIDE` records. A Bloom filter never says "no" for a stored key, so lookups stay
exact.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterable
from pathlib import Path

#: Records between two entries of the in-memory sparse index (one disk read scans at most this).
STRIDE = 64
#: Filter bits per key: with two bits set per key, about 1.4 % of new keys read the disk.
BITS_PER_KEY = 16

_HEAD = struct.Struct("<IQ")  # key length in bytes, location
_MASK64 = (1 << 64) - 1


def _encoded(text: str) -> bytes:
    """The key as bytes: any text an export holds (even a lone surrogate) is stored exactly."""
    return text.encode("utf-8", "surrogatepass")


class BloomFilter:
    """Two bits per key, taken from the halves of the key's (per-process) 64-bit hash."""

    def __init__(self, keys: int) -> None:
        size = 1 << max(10, (keys * BITS_PER_KEY - 1).bit_length())
        self._bits = bytearray(size >> 3)
        self._mask = size - 1

    def add_all(self, texts: Iterable[str]) -> None:
        """Set the bits of every key of ``texts``."""
        bits, mask = self._bits, self._mask
        for value in map(hash, texts):
            value &= _MASK64
            low, high = value & mask, (value >> 32) & mask
            bits[low >> 3] |= 1 << (low & 7)
            bits[high >> 3] |= 1 << (high & 7)

    def maybe(self, texts: list[str]) -> list[int]:
        """Positions in ``texts`` of the keys that may have been added (the others surely not)."""
        bits, mask = self._bits, self._mask
        found = []
        for position, value in enumerate(map(hash, texts)):
            value &= _MASK64
            low, high = value & mask, (value >> 32) & mask
            if bits[low >> 3] >> (low & 7) & 1 and bits[high >> 3] >> (high & 7) & 1:
                found.append(position)
        return found


class SortedRun:
    """Keys with their locations, sorted, in one file; exact lookups, no writes after creation."""

    def __init__(self, path: Path, items: dict[str, int]) -> None:
        ordered = sorted(items)
        self._filter = BloomFilter(len(ordered))
        self._filter.add_all(ordered)
        self._firsts: list[str] = []
        self._offsets: list[int] = []
        offset = 0
        pack = _HEAD.pack
        with open(path, "wb") as out:
            for start in range(0, len(ordered), STRIDE):
                segment = b"".join(
                    pack(len(data), items[text]) + data
                    for text in ordered[start : start + STRIDE]
                    for data in (_encoded(text),)
                )
                self._firsts.append(ordered[start])
                self._offsets.append(offset)
                out.write(segment)
                offset += len(segment)
        self._offsets.append(offset)
        self._file = open(path, "rb")  # noqa: SIM115 - kept open for the lookups, closed by close()

    def maybe(self, texts: list[str]) -> list[int]:
        """Positions in ``texts`` of the keys the run may hold (see :class:`BloomFilter`)."""
        return self._filter.maybe(texts)

    def get(self, text: str) -> int | None:
        """The location stored for ``text``, or None."""
        segment = bisect.bisect_right(self._firsts, text) - 1
        if segment < 0:
            return None
        start, end = self._offsets[segment], self._offsets[segment + 1]
        self._file.seek(start)
        data = self._file.read(end - start)
        wanted = _encoded(text)
        position = 0
        while position < len(data):
            length, location = _HEAD.unpack_from(data, position)
            position += _HEAD.size
            if data[position : position + length] == wanted:
                return location
            position += length
        return None

    def close(self) -> None:
        """Close the file (the caller deletes its folder)."""
        self._file.close()
