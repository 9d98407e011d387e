"""Properties of the whole check that no single rule test shows (issue 7).

Input order across days must not matter (the engine sorts; SPEC §1), while the order within a day is
meaningful (file order breaks ties), so the shuffles below keep each day's rows in their order.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_rules.api.validator import Validator
from billing_rules.model import Report

WEEK = Path(__file__).resolve().parent.parent / "examples" / "week-2026-01.csv"
_LINES = WEEK.read_text(encoding="utf-8").splitlines(keepends=True)
_HEADER, _ROWS = _LINES[0], _LINES[1:]
_DATE_COLUMN = _HEADER.strip().split(";").index("date")


def _signature(report: Report) -> list[tuple[str, str, str, object]]:
    """Findings without their line numbers, which move when rows move."""
    return [(f.practitioner_id, f.invoice_id, f.rule, f.amount) for f in report.findings]


def _interleave_days(rows: list[str], rng: random.Random) -> list[str]:
    by_day: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_day[row.split(";")[_DATE_COLUMN]].append(row)
    queues = [list(day_rows) for day_rows in by_day.values()]
    merged: list[str] = []
    while queues:
        queue = rng.choice(queues)
        merged.append(queue.pop(0))
        if not queue:
            queues.remove(queue)
    return merged


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rng=st.randoms(use_true_random=False))
def test_days_in_any_order_give_the_same_findings(
    builtin_validator: Validator, tmp_path_factory, rng: random.Random
) -> None:
    expected = _signature(builtin_validator.check_paths([str(WEEK)]))
    path = tmp_path_factory.mktemp("shuffled") / "week.csv"
    path.write_text(_HEADER + "".join(_interleave_days(_ROWS, rng)), encoding="utf-8")
    shuffled = builtin_validator.check_paths([str(path)])
    assert sorted(_signature(shuffled), key=str) == sorted(expected, key=str)
    # Findings still come in SPEC order: by date first.
    dates = [finding.date for finding in shuffled.findings]
    assert dates == sorted(dates)


def test_split_by_day_same_findings(builtin_validator: Validator, tmp_path: Path) -> None:
    """Several files read as one stream (SPEC §3) equal the single file."""
    by_day: dict[str, list[str]] = defaultdict(list)
    for row in _ROWS:
        by_day[row.split(";")[_DATE_COLUMN]].append(row)
    paths = []
    for day in sorted(by_day):
        path = tmp_path / f"{day}.csv"
        path.write_text(_HEADER + "".join(by_day[day]), encoding="utf-8")
        paths.append(str(path))
    whole = _signature(builtin_validator.check_paths([str(WEEK)]))
    split = _signature(builtin_validator.check_paths(paths))
    assert sorted(split, key=str) == sorted(whole, key=str)


def test_days_recorded_one_by_one_in_a_ledger_give_the_same_findings(
    builtin_validator: Validator, tmp_path: Path
) -> None:
    """Checking the week in one go equals checking and recording its days one by one, in date order,
    into a ledger (``check DAY --ledger L --record`` each day): the ledger carries every window."""
    from billing_rules.ledger import open_ledger

    by_day: dict[str, list[str]] = defaultdict(list)
    for row in _ROWS:
        by_day[row.split(";")[_DATE_COLUMN]].append(row)
    whole = _signature(builtin_validator.check_paths([str(WEEK)]))
    recorded: list[tuple[str, str, str, object]] = []
    alone: list[tuple[str, str, str, object]] = []
    for day in sorted(by_day):  # ISO dates: text order is date order
        path = tmp_path / f"{day}.csv"
        path.write_text(_HEADER + "".join(by_day[day]), encoding="utf-8")
        ledger = open_ledger(tmp_path / "registre.db")
        try:
            recorded += _signature(builtin_validator.check_paths([str(path)], ledger=ledger, record=True))
        finally:
            ledger.close()
        alone += _signature(builtin_validator.check_paths([str(path)]))
    assert sorted(recorded, key=str) == sorted(whole, key=str)
    # Not vacuous: without the ledger, the days checked apart miss findings that span days.
    assert sorted(alone, key=str) != sorted(whole, key=str)
    ledger = open_ledger(tmp_path / "registre.db", create=False)
    try:
        assert ledger.stats().invoices == len(_ROWS)
    finally:
        ledger.close()
