"""Differential tests of the engine's fast path (issue 5), on generated billing files.

1. The hand-written baseline of the five seed rules (``benchmarks/baseline.py``) and the engine
   restricted to those rules find exactly the same findings.
2. The engine (dispatch index, window counters that expire, compiled closures) equals a
   straightforward evaluation: every rule of the catalogue asked about every invoice, its windows
   counted by scanning the whole list of earlier invoices.
"""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from billing_rules.api.validator import Validator
from billing_rules.domain.calendar import rolling_start
from billing_rules.dsl.program import CounterSpec
from billing_rules.model import Event, Finding, Severity
from billing_rules.rule import WindowCount

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import baseline  # noqa: E402
import generate  # noqa: E402

SEED_RULES = ("IMT-ALD", "IMT-ONCE", "VL-QUARTER", "SNP-WEEK")


def _generated(
    tmp_path: Path, seed: int, *, rows: int, practitioners: int, start: dt.date, fmt: str = "csv"
) -> Path:
    path = tmp_path / f"gen-{seed}.{fmt}"
    # High violation rates so that small files exercise every rule, quarter and week boundaries.
    generate.generate(
        str(path), rows=rows, practitioners=practitioners, seed=seed, start=start, violations=40
    )
    return path


@pytest.fixture(scope="module")
def seed_validator(builtin_validator: Validator) -> Validator:
    ruleset = builtin_validator.ruleset
    rules = tuple(rule for rule in ruleset.rules if rule.code in SEED_RULES)
    return Validator(attrs.evolve(ruleset, rules=rules), readers=builtin_validator.readers)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_baseline_and_engine_find_the_same(tmp_path: Path, seed_validator: Validator, seed: int) -> None:
    path = _generated(tmp_path, seed, rows=6000, practitioners=3, start=dt.date(2025, 12, 1))
    expected = list(baseline.findings(str(path)))
    report = seed_validator.check_paths([str(path)])
    found = [
        (finding.line, finding.rule, finding.practitioner_id, finding.invoice_id)
        for finding in report.findings
    ]
    assert not report.input_errors
    assert found == expected
    assert {rule for _, rule, _, _ in expected} >= {"IMT-ALD", "VL-QUARTER", "SNP-WEEK"}


def test_the_seed_files_exercise_every_seed_rule(tmp_path: Path) -> None:
    rules: set[str] = set()
    for seed in (1, 2, 3, 4):
        path = _generated(tmp_path, seed, rows=6000, practitioners=3, start=dt.date(2025, 12, 1))
        rules |= {rule for _, rule, _, _ in baseline.findings(str(path))}
    assert rules == set(SEED_RULES)


def test_jsonl_and_csv_give_the_same_findings(tmp_path: Path, seed_validator: Validator) -> None:
    csv_path = _generated(tmp_path, 5, rows=3000, practitioners=2, start=dt.date(2024, 3, 4))
    jsonl_path = _generated(tmp_path, 5, rows=3000, practitioners=2, start=dt.date(2024, 3, 4), fmt="jsonl")
    from_csv = seed_validator.check_paths([str(csv_path)]).findings
    from_jsonl = seed_validator.check_paths([str(jsonl_path)]).findings
    assert [(f.rule, f.invoice_id, f.line - 1) for f in from_csv] == [
        (f.rule, f.invoice_id, f.line) for f in from_jsonl
    ]


# --- the straightforward evaluation ------------------------------------------------------------


@attrs.define
class _ScanView:
    """Window counts by scanning every earlier invoice: slow, obviously right."""

    history: list[Event]
    tariffs: Any

    def count(self, counter: CounterSpec, event: Event) -> list[WindowCount]:
        own = 1 if counter.counts(event) else 0
        results = []
        for key, code in counter.keys(event):
            dates = []
            for old in self.history:
                if not counter.counts(old) or (key, code) not in counter.keys(old):
                    continue
                if counter.window == "rolling":
                    lower = rolling_start(event.date, counter.period or "days", counter.span)
                    if not lower < old.date <= event.date:
                        continue
                elif counter.window_id(old) != counter.window_id(event):
                    continue
                dates.append(old.date)
            results.append(
                WindowCount(len(dates) + own, min(dates, default=None), max(dates, default=None), code)
            )
        return results

    def tariff(self, code: str, day: dt.date) -> Decimal | None:
        return self.tariffs.on(code, day)


def _naive_findings(validator: Validator, events: list[Event]) -> list[tuple[Any, ...]]:
    """SPEC §5 evaluation order, with no index, cache or counter state."""
    rules = sorted(validator.ruleset.rules, key=lambda rule: rule.code)
    view = _ScanView([], validator.ruleset.tariffs)

    def applies(rule: Any, event: Event) -> bool:
        return rule.triggers is None or not rule.triggers.isdisjoint(event.codes)

    def hits(severity: Severity, event: Event) -> list[tuple[Any, Any]]:
        return [
            (rule, hit)
            for rule in rules
            if rule.severity is severity and applies(rule, event)
            for hit in rule.check(event, view)
        ]

    found: list[tuple[Any, ...]] = []
    for event in sorted(events, key=lambda item: item.sort_key):
        if event.cancelled:
            continue
        current = hits(Severity.ERROR, event) + hits(Severity.WARNING, event)
        if not any(rule.severity is Severity.ERROR for rule, _ in current):
            offers = [
                (rule, hit)
                for rule, hit in hits(Severity.OPPORTUNITY, event)
                if hit.suggested_codes is None
                or not hits(Severity.ERROR, event.with_codes(hit.suggested_codes))
            ]
            current += _best_offers(offers, event, hits)
        for rule, hit in sorted(current, key=lambda item: item[0].code):
            found.append(
                (
                    event.seq,
                    rule.code,
                    hit.message,
                    _cents(hit.amount)
                    if rule.severity is not Severity.WARNING or rule.code == "AMOUNT-ABOVE"
                    else None,
                )
            )
        view.history.append(event)
    return found


def _best_offers(offers: list[tuple[Any, Any]], event: Event, hits: Any) -> list[tuple[Any, Any]]:
    """Of two offers recoding the same act, the better (fewer warnings, more euros, code)."""

    def removed(hit: Any) -> set[str]:
        return {
            code
            for code in event.codes
            if hit.suggested_codes is not None and code not in hit.suggested_codes
        }

    def rank(rule: Any, hit: Any) -> tuple[Any, ...]:
        return (
            len(hits(Severity.WARNING, event.with_codes(hit.suggested_codes))),
            -(hit.amount or 0),
            rule.code,
        )

    kept = []
    for rule, hit in offers:
        rivals = [
            (other, other_hit)
            for other, other_hit in offers
            if other_hit is not hit and removed(hit) & removed(other_hit)
        ]
        if all(rank(rule, hit) < rank(other, other_hit) for other, other_hit in rivals):
            kept.append((rule, hit))
    return kept


def _cents(amount: Any) -> Any:
    return None if amount is None else Decimal(amount).quantize(Decimal("0.01"))


def _engine_findings(findings: tuple[Finding, ...]) -> list[tuple[Any, ...]]:
    return [(f.seq, f.rule, f.message, f.amount) for f in findings]


@pytest.mark.parametrize(
    ("seed", "start"),
    [
        (11, dt.date(2023, 12, 18)),
        (12, dt.date(2024, 3, 25)),
        (13, dt.date(2025, 12, 22)),
        (14, dt.date(2023, 5, 8)),
    ],
)
def test_engine_equals_a_straightforward_evaluation(
    tmp_path: Path, builtin_validator: Validator, seed: int, start: dt.date
) -> None:
    path = _generated(tmp_path, seed, rows=1500, practitioners=2, start=start)
    report = builtin_validator.check_paths([str(path)])
    events = [event for event in _read(builtin_validator, path)]
    assert not report.input_errors
    expected = _naive_findings(builtin_validator, events)
    assert _engine_findings(report.findings) == expected
    assert len({rule for _, rule, _, _ in expected}) >= 5


def _read(validator: Validator, path: Path) -> list[Event]:
    from billing_rules.readers import InputStream

    return [item for item in InputStream([str(path)], readers=validator.readers) if isinstance(item, Event)]
