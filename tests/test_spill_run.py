"""The sorted runs of the duplicate index: exact lookups whatever the keys, across segment edges."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from billing_rules.readers import spill
from billing_rules.readers.seen import SeenInvoices
from billing_rules.readers.spill import RUN_BITS_PER_KEY, STRIDE, BloomFilter, SortedRun

ODD_KEYS = ["", "a", "a\x00b", "ligne\nsuivante", "\udcff", "é", "Ω", "\U0001f600", "5:10001F;1", "z" * 5000]


def _keys(count: int, seed: int) -> dict[str, int]:
    chance = random.Random(seed)
    keys = {f"11:{chance.randrange(10**11):011d}F{chance.randrange(10**9)}": n for n in range(count)}
    keys.update((text, 10**12 + n) for n, text in enumerate(ODD_KEYS))
    return keys


SIZES = [0, 1, STRIDE - len(ODD_KEYS) - 1, STRIDE - len(ODD_KEYS), 3 * STRIDE, 2000]  # around segment edges


@pytest.mark.parametrize("count", SIZES)
def test_every_stored_key_is_found_with_its_location(tmp_path: Path, count: int) -> None:
    keys = _keys(count, seed=count)
    run = SortedRun(tmp_path / "run", keys)
    try:
        for text, location in keys.items():
            assert run.get(text) == location
        assert run.filter.maybe(list(keys)) == list(range(len(keys)))  # the filter never forgets
    finally:
        run.close()


def test_absent_keys_are_not_found(tmp_path: Path) -> None:
    keys = _keys(1000, seed=1)
    run = SortedRun(tmp_path / "run", keys)
    ordered = sorted(keys)
    # Before the first key, after the last one, and just beside every key (inside segments and
    # on their edges).
    absent = ["\x00" if ordered[0] else None, ordered[-1] + "\x00"]
    absent += [text + "0" for text in ordered] + [text[:-1] for text in ordered if text]
    try:
        for text in absent:
            if text is not None and text not in keys:
                assert run.get(text) is None, text
    finally:
        run.close()


def test_the_filter_rarely_sends_a_new_key_to_the_disk() -> None:
    stored = [f"11:10000000001F{n}" for n in range(20_000)]
    bloom = BloomFilter(len(stored), RUN_BITS_PER_KEY)
    bloom.add_all(stored)
    new = [f"11:10000000002F{n}" for n in range(20_000)]
    assert len(bloom.maybe(new)) < 0.05 * len(new)
    assert bloom.maybe(stored) == list(range(len(stored)))


@pytest.mark.parametrize("generation_keys", [spill.GENERATION_KEYS, 256])  # one filter, or three
def test_duplicates_are_caught_across_runs(monkeypatch: pytest.MonkeyPatch, generation_keys: int) -> None:
    monkeypatch.setattr(spill, "GENERATION_KEYS", generation_keys)
    seen = SeenInvoices(memory_keys=100)
    lines = iter(range(2, 10**6))
    for block in range(11):  # 64 keys a block: a run every second block, the last block in memory
        practitioners = ["10001"] * 64
        invoices = [f"F{block * 64 + n}" for n in range(64)]
        assert seen.claim_all(practitioners, invoices, [next(lines) for _ in range(64)], "a.csv")
    assert seen._spilled.runs == 5
    for number in (0, 63, 64, 127, 128, 350, 639, 640, 703):
        assert seen.get(("10001", f"F{number}")) == (number + 2, "a.csv")
        # One old key in a block of new ones: the whole block is refused, nothing is remembered.
        block = [f"N{number}-{n}" for n in range(20)] + [f"F{number}"]
        assert not seen.claim_all(["10001"] * 21, block, list(range(21)), "b.csv")
        assert seen.get(("10001", f"N{number}-0")) is None
    assert seen.get(("10001", "F704")) is None
    assert seen.get(("10002", "F1")) is None
    seen.close()
    assert not seen._spilled


def test_generations_grow_so_a_new_key_asks_few_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each generation holds as many keys as the earlier ones together: O(log n) filters per key."""
    monkeypatch.setattr(spill, "GENERATION_KEYS", 256)
    spilled = spill.SpilledKeys()
    try:
        for run in range(64):  # 64 runs of 64 keys: 4096 keys
            spilled.write({f"2:D1F{run}-{n}": n + 1 for n in range(64)})
        capacities = [len(generation.filter._bits) * 8 for generation in spilled._generations]
        assert len(capacities) <= 5  # 256, 256, 512, 1024, 2048 keys: not 16 generations of 256
        assert spilled.get("2:D1F63-63") == 64 and spilled.get("2:D1F0-0") == 1
        assert not spilled.any_of(["2:D1F64-0", "2:D2F0-0"])
    finally:
        spilled.close()
