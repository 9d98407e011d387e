"""SPEC §1 order for a stream of invoices, without holding the whole input in memory.

Billing exports are almost always sorted by date. Invoices are therefore buffered one day at a time
and released day by day, sorted by time and input order. If an invoice turns up dated before a day
already released, streaming cannot be correct any more: :class:`OutOfOrder` tells the caller to start
again with a full sort.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

from billing_rules.model import Event


class OutOfOrder(Exception):
    """An invoice is dated before a day whose invoices were already checked."""


def by_day(events: Iterable[Event]) -> Iterator[Event]:
    """Yield ``events`` in SPEC order, one day at a time; raises :class:`OutOfOrder` if unsorted."""
    buffer: list[Event] = []
    current: dt.date | None = None
    released: dt.date | None = None
    for event in events:
        if current is None or event.date == current:
            buffer.append(event)
            current = event.date
            continue
        if event.date > current:
            buffer.sort(key=_sort_key)
            yield from buffer
            released = current
            buffer = [event]
            current = event.date
            continue
        # An earlier date: still fine if no later day was released yet (sort within the buffer).
        if released is not None and event.date <= released:
            raise OutOfOrder(event.date)
        buffer.append(event)
        # ``current`` stays the latest day of the buffer, which may now hold several days.
    buffer.sort(key=_sort_key)
    yield from buffer


def fully_sorted(events: Iterable[Event]) -> list[Event]:
    """Every event sorted in SPEC order (the fallback for unsorted input)."""
    return sorted(events, key=_sort_key)


def _sort_key(event: Event) -> tuple[dt.date, int, dt.time, int]:
    return event.sort_key
