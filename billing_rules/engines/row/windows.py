"""Counters behind the frequency rules: how many invoices each window already holds.

State is kept in flat dicts keyed by tuples and only for invoices a counter counts (an IMT counter
holds IMT patients, not every patient). Calendar windows that ended before the day being checked are
dropped as the input moves forward, so memory is bounded by patients and open windows, never by the
length of the file.

Of the invoices a window holds, only the earliest is named (SPEC §2 ``window``): its number and,
when the window is not kept per practitioner, its practitioner (the key gives it otherwise). The
earliest is the one of the earliest date; on the same date, the one counted first (history before
input, then SPEC order).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence
from typing import Any

from billing_rules.domain.calendar import rolling_start
from billing_rules.dsl.program import CounterSpec
from billing_rules.explain import WindowInvoice
from billing_rules.model import Event
from billing_rules.rule import WindowCount


class WindowStore:
    """Counts per (counter, key, window); the engine adds invoices after checking them."""

    def __init__(self) -> None:
        # calendar and "ever" windows, grouped by window so that a window that ended is dropped in
        # one step: (counter id, window id) -> {key: [count, first date, last date, first ref]}
        self._calendar: dict[tuple[int, Any], dict[tuple[Any, ...], list[Any]]] = {}
        # rolling windows: (counter id, key) -> (sorted dates of the counted invoices, their refs in
        # the same order (see ``_ref``))
        self._rolling: dict[tuple[Any, ...], tuple[list[dt.date], list[Any]]] = {}
        self._expired_before: dt.date | None = None
        self._rolling_pruned: tuple[int, int] | None = None
        self._starts: dict[tuple[dt.date, str, int], dt.date] = {}

    def __len__(self) -> int:
        return sum(len(group) for group in self._calendar.values()) + sum(
            len(dates) for dates, _refs in self._rolling.values()
        )

    def _rolling_start(self, day: dt.date, period: str, span: int) -> dt.date:
        key = (day, period, span)
        start = self._starts.get(key)
        if start is None:
            if len(self._starts) > 4096:
                self._starts.clear()
            start = self._starts[key] = rolling_start(day, period, span)
        return start

    def count(self, counter: CounterSpec, event: Event) -> list[WindowCount]:
        """Counts for ``event``'s keys, the event included when the counter counts it.

        The first invoice named is the window's earliest; the event itself when the window holds
        nothing else yet.
        """
        own = 1 if counter.counts(event) else 0
        results = []
        if counter.window == "rolling":
            lower = self._rolling_start(event.date, counter.period or "days", counter.span)
            for key, code in counter.keys(event):
                dates, refs = self._rolling.get((counter.id, key), _EMPTY)
                low = bisect.bisect_right(dates, lower)
                high = bisect.bisect_right(dates, event.date)
                inside = high - low
                if inside:
                    invoice, practitioner = _unref(counter, key, refs[low])
                    results.append(
                        WindowCount(inside + own, dates[low], dates[high - 1], code, invoice, practitioner)
                    )
                else:
                    results.append(_alone(own, code, event))
            return results
        group = self._calendar.get((counter.id, counter.window_id(event)))
        for key, code in counter.keys(event):
            state = group.get(key) if group is not None else None
            if state is None:
                results.append(_alone(own, code, event))
            else:
                invoice, practitioner = _unref(counter, key, state[3])
                results.append(WindowCount(state[0] + own, state[1], state[2], code, invoice, practitioner))
        return results

    def add(self, counter: CounterSpec, event: Event) -> None:
        """Count ``event`` in its windows (callers check ``counter.counts(event)`` first)."""
        day = event.date
        if counter.window == "rolling":
            ref = _ref(counter, event)
            rolling = self._rolling
            for key, _code in counter.keys(event):
                slot = (counter.id, key)
                pair = rolling.get(slot)
                if pair is None:
                    rolling[slot] = ([day], [ref])
                    continue
                dates, refs = pair
                if dates[-1] <= day:
                    dates.append(day)
                    refs.append(ref)
                else:
                    at = bisect.bisect_right(dates, day)
                    dates.insert(at, day)
                    refs.insert(at, ref)
            return
        slot = (counter.id, counter.window_id(event))
        group = self._calendar.get(slot)
        if group is None:
            group = self._calendar[slot] = {}
        for key, _code in counter.keys(event):
            state = group.get(key)
            if state is None:
                group[key] = [1, day, day, _ref(counter, event)]
            else:
                state[0] += 1
                if day < state[1]:
                    state[1] = day
                    state[3] = _ref(counter, event)
                elif day > state[2]:
                    state[2] = day

    def expire(self, today: dt.date, counters: dict[int, CounterSpec]) -> None:
        """Forget windows that ended before ``today``: called as sorted input moves forward.

        Only safe once every invoice still to come is dated ``today`` or later, which the engine
        guarantees by feeding the input in SPEC order after the history. Calendar windows go as
        whole groups; rolling lists, which need a pass over every key, are trimmed once a quarter (their
        counts never read dates below the window, so this only bounds memory).
        """
        if self._expired_before is not None and today <= self._expired_before:
            return
        self._expired_before = today
        stale = []
        for slot in self._calendar:
            counter = counters[slot[0]]
            if counter.window == "calendar" and _window_ended(counter.period, slot[1], today):
                stale.append(slot)
        for slot in stale:
            del self._calendar[slot]
        quarter = (today.year, (today.month - 1) // 3)
        if self._rolling_pruned == quarter:
            return
        self._rolling_pruned = quarter
        lowers = {
            counter.id: rolling_start(today, counter.period or "days", counter.span)
            for counter in counters.values()
            if counter.window == "rolling"
        }
        for slot, (dates, refs) in list(self._rolling.items()):
            cut = bisect.bisect_right(dates, lowers[slot[0]])
            if cut == len(dates):
                del self._rolling[slot]
            elif cut:
                del dates[:cut]
                del refs[:cut]


_EMPTY: tuple[list[dt.date], list[Any]] = ([], [])


def _ref(counter: CounterSpec, event: Event) -> Any:
    """What names a counted invoice: its number, and its practitioner unless the key holds it."""
    if "practitioner" in counter.scope:
        return event.invoice_id
    return (event.invoice_id, event.practitioner_id)


def _unref(counter: CounterSpec, key: tuple[Any, ...], ref: Any) -> tuple[str, str]:
    """(invoice id, practitioner id) of a ref made by :func:`_ref` for ``key``."""
    if "practitioner" in counter.scope:
        return ref, key[counter.scope.index("practitioner")]
    return ref


def _alone(own: int, code: str | None, event: Event) -> WindowCount:
    """The count of an empty window: the event is its first invoice when it counts."""
    if not own:
        return WindowCount(0, None, None, code)
    return WindowCount(1, event.date, event.date, code, event.invoice_id, event.practitioner_id)


def _window_ended(period: str | None, window: Any, today: dt.date) -> bool:
    if period == "day":
        return window < today
    if period == "week":
        iso = today.isocalendar()
        return window < (iso[0], iso[1])
    if period == "quarter":
        return window < (today.year, (today.month - 1) // 3 + 1)
    if period == "year":
        return window < today.year
    return False


def window_members(
    counter: Any, target: Any, events: Sequence[Any], history: Sequence[Any], code: str | None
) -> tuple[WindowInvoice, ...]:
    """The invoices ``counter`` counted in ``target``'s window when ``target`` was checked.

    ``events`` are the input's (SPEC order decides which came before), ``history`` the ledger's
    (all before the input). The window is the key of ``code`` (``per code``) or the first key.
    """
    keys = counter.keys(target)
    if not keys:
        return ()
    key = next((item for item, item_code in keys if item_code == code), keys[0][0])
    window_id = counter.window_id(target)
    lower = None
    if counter.window == "rolling":
        lower = rolling_start(target.date, counter.period or "days", counter.span)

    def inside(event: Any) -> bool:
        if event.cancelled or not counter.counts(event):
            return False
        if key not in (item for item, _ in counter.keys(event)):
            return False
        if counter.window == "rolling":
            return lower < event.date <= target.date  # type: ignore[operator]
        return counter.window_id(event) == window_id

    found = [(event.date, 0, event.sort_key, event, True) for event in history if inside(event)]
    target_order = target.sort_key
    found += [
        (event.date, 1, event.sort_key, event, False)
        for event in events
        if event.sort_key <= target_order and inside(event)
    ]
    found.sort(key=lambda item: (item[0], item[1], item[2]))
    return tuple(
        WindowInvoice(event.invoice_id, event.date, event.practitioner_id, from_ledger)
        for _, _, _, event, from_ledger in found
    )
