"""No full garbage collection while a batch is checked, on either back end.

A check allocates many short-lived objects (rows, events, findings), and CPython's collector then
walks every tracked object again and again: with the compiled rules, plugins and tariffs in the
oldest generation, full collections took about a quarter of a row-engine check, and close to half
of the relational engine's rebuilding of the invoices with findings.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

#: Oldest-generation threshold during a batch: young collections before a full one (never reached).
_NO_FULL_COLLECTION = 1 << 30


@contextlib.contextmanager
def batch_gc() -> Iterator[None]:
    """Freeze what exists now (the build) out of the collector's sight; only young collections run.

    Young collections still free the cycles a check makes. Everything is restored afterwards, so an
    embedding program's own collection settings are untouched; nested batches (a relational check
    inside a validator's batch) leave the outer one's settings in place.

    The full collection the batch held back is run once at its end (:func:`_deferred_collection`):
    without it, a program checking file after file (a server, a practice software's import loop)
    never reached one, since each batch froze the last one's cyclic garbage before a collection
    could free it; the SQL trees of a relational check alone are some 4 MB of such garbage, and a
    process running 6 000 small checks grew to 18 GB.
    """
    if _active:
        yield  # the outer batch's settings hold (unfreezing here would undo its freeze)
        return
    thresholds = gc.get_threshold()
    _count_what_freeze_resets()
    gc.freeze()
    gc.set_threshold(thresholds[0], thresholds[1], _NO_FULL_COLLECTION)
    _active.append(True)
    try:
        yield
    finally:
        _active.pop()
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        _deferred_collection(thresholds[2])


def _count_what_freeze_resets() -> None:
    """Keep the middle generation's collections that ``gc.freeze()`` is about to forget.

    ``freeze`` sets every generation's count to zero, the oldest one's included: that count is
    how many middle collections have run since the last full one, which decides when the next
    full one runs. Forgotten at every batch, it never reached its threshold in a program checking
    file after file, and no full collection ever ran there.
    """
    full_collections = gc.get_stats()[-1]["collections"]
    if full_collections != _held["full_collections"]:  # one ran since: the count started again
        _held["full_collections"], _held["middle"] = full_collections, 0
    _held["middle"] += gc.get_count()[2]


def _deferred_collection(oldest_threshold: int) -> None:
    """The full collection that the batch, and the freezes before it, held back, once it is due.

    Due as CPython decides it: more collections of the middle generation since the last full one
    than the oldest generation's threshold, counting those the freezes reset. A small check seldom
    gets there alone (its garbage waits for a later batch's end); a large one pays one full
    collection, against one every few thousand allocations without the batch. Never when the
    program turned the collector off.
    """
    if not gc.isenabled() or oldest_threshold <= 0:
        return
    if _held["middle"] + gc.get_count()[2] > oldest_threshold:
        gc.collect()
        _held["middle"], _held["full_collections"] = 0, gc.get_stats()[-1]["collections"]


#: The middle generation's collections counted before the freezes reset them, and how many full
#: collections had run when they were counted (one since makes them void).
_held: dict[str, int] = {"middle": 0, "full_collections": -1}


#: Whether a batch is under way (a list: mutated in place, never rebound).
_active: list[bool] = []
