"""What the row engine decides once per plan or per counting is keyed by every fact it reads.

A rule that declares ``reads`` within the plan fields (``codes``, ``texts``, ``amount``...) is
asked on a plan's first invoice only; a counter's condition part that reads only them is decided
once per (codes, plan fields). ``codes`` is the invoice's coding as billed: AMOUNT-* price each
code it lists (``VG+MD+VG`` is 70 €, ``VG+MD`` 40 €), and a plugin's rule may read their order.
So two codings of the same set of codes must never share a decision, whichever comes first, in
one run or across the sessions of one validator (the engine and its plans outlive a session).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billing_rules.dsl.program import CounterSpec
from billing_rules.model import Event, Finding, Severity
from billing_rules.plugins import hookimpl
from billing_rules.rule import Hit
from billing_rules.testing import build_validator, check, codes_by_invoice

HEADER = "invoice_id,date,practitioner_id,patient_id,birth_date,codes,amount,place\n"
#: VG 30 € + MD 10 € on 2025-02-03: ``VG+MD+VG`` is 70 €, ``VG+MD`` 40 €.
THREE = "2025-02-03,P1,X1,1950-01-01,VG+MD+VG,{amount},domicile\n"
TWO = "2025-02-03,P1,X2,1950-01-01,VG+MD,{amount},domicile\n"


def _amount_findings(findings: Iterable[Finding]) -> list[tuple[str, str, Any]]:
    return [(f.invoice_id, f.rule, f.amount) for f in findings if f.rule.startswith("AMOUNT-")]


def _write(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "in.csv"
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def validator() -> Any:
    return build_validator()


def test_amount_above_after_a_coding_with_a_repeated_code(tmp_path: Path, validator: Any) -> None:
    path = _write(tmp_path, "D1," + THREE.format(amount="70.00"), "D2," + TWO.format(amount="70.00"))
    report = validator.check_paths([path])
    assert _amount_findings(report.findings) == [("D2", "AMOUNT-ABOVE", 30)]


def test_amount_below_after_the_coding_without_the_repeat(tmp_path: Path, validator: Any) -> None:
    path = _write(tmp_path, "D1," + TWO.format(amount="40.00"), "D2," + THREE.format(amount="40.00"))
    report = validator.check_paths([path])
    assert _amount_findings(report.findings) == [("D2", "AMOUNT-BELOW", 30)]


def test_both_engines_agree_on_repeated_codes(tmp_path: Path, validator: Any) -> None:
    pytest.importorskip("duckdb")
    pytest.importorskip("sqlglot")
    from billing_rules.engines.relational import api

    lines = [
        "D1," + THREE.format(amount="70.00"),
        "D2," + TWO.format(amount="70.00"),
        "D3," + TWO.format(amount="40.00"),
        "D4," + THREE.format(amount="40.00"),
        "D5,2025-02-03,P1,X5,1950-01-01,MD+VG,40.00,domicile\n",
    ]
    path = _write(tmp_path, *lines)
    row = validator.check_paths([path])
    relational = api.check_paths(validator, [path], engine="duckdb")
    assert _amount_findings(row.findings) == [("D2", "AMOUNT-ABOVE", 30), ("D4", "AMOUNT-BELOW", 30)]
    assert [(f.invoice_id, f.rule, f.message, f.amount) for f in relational.findings] == [
        (f.invoice_id, f.rule, f.message, f.amount) for f in row.findings
    ]


def _visit(invoice_id: str, codes: str, amount: str) -> dict[str, str]:
    return {"invoice_id": invoice_id, "date": "2025-02-03", "practitioner_id": "P1", "patient_id": invoice_id,
            "birth_date": "1950-01-01", "place": "domicile", "codes": codes, "amount": amount}  # fmt: skip


def test_check_one_is_not_answered_from_another_sessions_coding() -> None:
    validator = build_validator()  # its own engine: no plan made by another test
    with validator.session() as first:
        assert _amount_findings(first.check_one(_visit("D1", "VG+MD+VG", "70.00"))) == []
    with validator.session() as second:
        found = second.check_one(_visit("D2", "VG+MD", "70.00"))
    assert _amount_findings(found) == [("D2", "AMOUNT-ABOVE", 30)]
    # The validator's own session too, after another coding of the same set of codes.
    assert _amount_findings(validator.check_one(_visit("D3", "VG+VG+MD", "70.00"))) == []
    found = validator.check_one(_visit("D4", "MD+VG", "70.00"))
    assert _amount_findings(found) == [("D4", "AMOUNT-ABOVE", 30)]


class MdFirst:
    """A plugin's rule decided per plan (it reads the codes only) that reads their order."""

    code = "T-MD-FIRST"
    severity = Severity.WARNING
    source = "tests"
    triggers = frozenset({"MD"})
    reads = frozenset({"codes"})

    def check(self, event: Event, history: Any) -> Iterable[Hit]:
        return [Hit("MD avant la visite")] if event.codes[0] == "MD" else []


def _repeated_vg(event: Event) -> bool:
    return event.codes.count("VG") >= 2


#: Counts the invoices that bill VG twice; its condition reads the codes only (decided per plan).
TWICE = CounterSpec(
    id=0,
    triggers=frozenset({"VG"}),
    counting=_repeated_vg,
    scope=("patient",),
    window="ever",
    period=None,
    counting_parts=((_repeated_vg, frozenset({"codes"})),),
)


class SecondDoubleVisit:
    """A plugin's rule over its own counter: fires on a patient's second invoice billing VG twice."""

    code = "T-VG-TWICE"
    severity = Severity.WARNING
    source = "tests"
    triggers = frozenset({"VG"})
    counters = (TWICE,)

    def check(self, event: Event, history: Any) -> Iterable[Hit]:
        if not _repeated_vg(event):
            return []
        counts = history.count(TWICE, event)
        return [Hit("deuxième VG double")] if any(window.count >= 2 for window in counts) else []


class _Plugin:
    @hookimpl
    def register_rules(self, register: Any) -> None:
        register(MdFirst())
        register(SecondDoubleVisit())


def test_a_rule_decided_per_plan_sees_the_order_of_the_codes() -> None:
    validator = build_validator(plugins=[("t", _Plugin())])
    day = {"date": "2025-02-03", "place": "domicile", "birth_date": "1950-01-01"}
    rows = [
        {**day, "invoice_id": "F1", "patient_id": "X1", "codes": "VG+MD"},
        {**day, "invoice_id": "F2", "patient_id": "X2", "codes": "MD+VG"},  # same set of codes
    ]
    report = check(validator, rows)
    assert {k: v for k, v in codes_by_invoice(report).items() if "T-MD-FIRST" in v} == {"F2": ["T-MD-FIRST"]}


def test_a_counter_decided_per_coding_counts_repeated_codes() -> None:
    validator = build_validator(plugins=[("t", _Plugin())])
    visit = {"place": "domicile", "birth_date": "1950-01-01", "patient_id": "X1", "practitioner_id": "P1"}
    rows = [
        {**visit, "invoice_id": "F1", "date": "2025-02-03", "codes": "VG+MD"},  # not counted
        {**visit, "invoice_id": "F2", "date": "2025-02-04", "codes": "VG+MD+VG"},  # counted: 1
        {**visit, "invoice_id": "F3", "date": "2025-02-05", "codes": "VG+MD+VG"},  # counted: 2, fires
    ]
    report = check(validator, rows)
    fired = [f.invoice_id for f in report.findings if f.rule == "T-VG-TWICE"]
    assert fired == ["F3"]
    # Recorded as history (counted only, never checked), then checked: the same counting.
    validator = build_validator(plugins=[("t", _Plugin())])
    with validator.session() as session:
        for row in rows[:2]:
            session.record(row)
        found = session.check_one(rows[2])
    assert [f.rule for f in found if f.rule == "T-VG-TWICE"] == ["T-VG-TWICE"]


def test_a_hand_built_event_with_a_list_of_codes() -> None:
    validator = build_validator()
    event = Event(
        invoice_id="L1",
        date=dt.date(2025, 2, 3),
        practitioner_id="P1",
        patient_id="X1",
        birth_date=dt.date(1960, 1, 1),
        codes=["G"],  # type: ignore[arg-type]
        amount=Decimal("25.00"),
    )
    found = validator.check_one(event)
    assert [(f.rule, f.amount) for f in found] == [("AMOUNT-BELOW", 5)]


def test_a_hand_built_event_with_a_list_of_codes_in_a_batch() -> None:
    """``check_events`` too: the event keeps its codes as a tuple, so AMOUNT-* can price them."""
    validator = build_validator()
    event = Event(
        invoice_id="L2",
        date=dt.date(2025, 2, 3),
        practitioner_id="P1",
        patient_id="X1",
        birth_date=dt.date(1950, 1, 1),
        codes=["VG", "MD"],  # type: ignore[arg-type]
        amount=Decimal("70.00"),
    )
    assert event.codes == ("VG", "MD")
    report = validator.check_events([event])
    assert [(f.rule, f.amount) for f in report.findings] == [("AMOUNT-ABOVE", 30)]
