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
    """
    if _active:
        yield  # the outer batch's settings hold (unfreezing here would undo its freeze)
        return
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(thresholds[0], thresholds[1], _NO_FULL_COLLECTION)
    _active.append(True)
    try:
        yield
    finally:
        _active.pop()
        gc.set_threshold(*thresholds)
        gc.unfreeze()


#: Whether a batch is under way (a list: mutated in place, never rebound).
_active: list[bool] = []
