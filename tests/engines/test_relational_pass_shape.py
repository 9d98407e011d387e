"""What a relational pass runs: only the rules its invoices can wake, and one join for all windows.

A DSL rule's statement requires a code that wakes the rule to be billed (``validity.judged``), and
a Python rule runs on the rows its triggers wake: a rule whose codes no subject bills cannot fire,
and its statements (a window's count above all) are not run. The suggested codings' pass is judged
by the codes they bill, not the input's: an opportunity that suggests IMT is still checked against
IMT-ONCE when no input row bills IMT. The rules with a window are tested on the subjects in one join
(each join shuffled the subjects again on Spark); the findings stay the row engine's.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

from billing_rules.api.validator import Validator  # noqa: E402
from billing_rules.engines.relational import api, run  # noqa: E402
from billing_rules.model import Severity  # noqa: E402
from billing_rules.testing import make_events  # noqa: E402

#: An ALD patient without MT who declares the practitioner MT at a consultation: IMT was due.
NEW_MT = {"patient_id": "P1", "ald": "oui", "mt_status": "none", "declares_mt": "oui", "place": "cabinet"}


def _key(finding: Any) -> tuple[Any, ...]:
    return (finding.rule, finding.invoice_id, finding.message, finding.amount)


def _fresh() -> tuple[Validator, Any]:
    """A validator of its own: its checker's kept passes are this test's alone."""
    validator = Validator.build(entry_points=False)
    return validator, api.checker_for(validator, "duckdb")


def _passes(checker: Any, suggested: bool) -> list[set[str]]:
    return [set(rules) for over_suggested, rules in checker.passes if over_suggested is suggested]


def test_rules_no_input_code_wakes_are_left_out_and_the_findings_stay() -> None:
    validator, checker = _fresh()
    events = make_events({"date": "2025-03-03", "codes": "G"}, {"date": "2025-03-04", "codes": "G"}, **NEW_MT)
    expected = [_key(f) for f in validator.check_events(events).findings]
    found = [_key(f) for f in api.check_events(validator, events).findings]
    assert found == expected
    assert [rule for rule, *_ in found] == ["OPP-IMT", "OPP-IMT"]
    [input_pass] = _passes(checker, suggested=False)
    # Woken by G, by any code, or built in: kept.
    assert {"OPP-IMT", "OPP-MT-DECLARE", "CODE-DATE", "CODE-UNKNOWN", "AMOUNT-BELOW"} <= input_pass
    # Woken only by codes the input does not bill: out, with their windows.
    assert not {"VL-QUARTER", "SNP-WEEK", "IMT-ONCE", "VSP-PLACE", "GL-YEAR"} & input_pass
    [suggested_pass] = _passes(checker, suggested=True)
    # The suggested coding bills IMT: the IMT rules judge it, the visit rules cannot.
    assert {"IMT-ONCE", "IMT-CUMUL", "IMT-ALD"} <= suggested_pass
    assert not {"VL-QUARTER", "SNP-WEEK"} & suggested_pass
    # Only the error and warning rules judge a suggested coding (SPEC §5).
    severities = {plan.code: plan.severity for plan in checker.plan.rules}
    assert {severities[rule] for rule in suggested_pass} <= {Severity.ERROR, Severity.WARNING}


def test_a_suggestion_is_judged_by_the_codes_it_bills_not_the_inputs() -> None:
    """History bills IMT, the input only G: IMT-ONCE still blocks OPP-IMT (SPEC §5), as on the row engine."""
    validator, _ = _fresh()
    history = make_events({"invoice_id": "H1", "date": "2023-09-04", "codes": "IMT"}, **NEW_MT)
    events = make_events({"date": "2025-03-03", "codes": "G"}, **NEW_MT)
    expected = [_key(f) for f in validator.check_events(events, history=history).findings]
    assert expected == []
    assert [_key(f) for f in api.check_events(validator, events, history=history).findings] == expected
    # Without that IMT in the history the opportunity is there, on both engines.
    alone = [_key(f) for f in api.check_events(validator, events).findings]
    assert alone == [_key(f) for f in validator.check_events(events).findings]
    assert [rule for rule, *_ in alone] == ["OPP-IMT"]


def test_a_rule_woken_by_the_history_alone_does_not_fire() -> None:
    """VL billed only in the history: the input's G wakes no VL rule, and none reports."""
    validator, checker = _fresh()
    elderly = {"patient_id": "P2", "birth_date": "1930-01-01", "ald": "oui", "mt_status": "self"}
    history = make_events(
        {"invoice_id": "H1", "date": "2025-01-06", "codes": "VL+VG", "place": "domicile"}, **elderly
    )
    events = make_events({"date": "2025-01-07", "codes": "G", "place": "cabinet"}, **elderly)
    expected = [_key(f) for f in validator.check_events(events, history=history).findings]
    assert [_key(f) for f in api.check_events(validator, events, history=history).findings] == expected
    [input_pass] = _passes(checker, suggested=False)
    assert "VL-QUARTER" not in input_pass


def test_kept_statements_are_bounded_and_reused() -> None:
    _, checker = _fresh()
    made: list[int] = []

    def make(number: int) -> Any:
        def build() -> str:
            made.append(number)
            return f"statements {number}"

        return build

    for number in range(run.STATEMENT_SETS + 4):
        assert checker.statements((False, (), True, (f"R{number}",)), make(number)) == f"statements {number}"
    assert len(checker.passes) == run.STATEMENT_SETS
    assert checker.passes[0] == (False, ("R4",))  # the four oldest went first
    # A kept key is not generated again, and becomes the most recent.
    last = run.STATEMENT_SETS + 3
    assert checker.statements((False, (), True, ("R4",)), make(99)) == "statements 4"
    assert 99 not in made
    assert checker.passes[-1] == (False, ("R4",))
    assert checker.statements((False, (), True, (f"R{last}",)), make(100)) == f"statements {last}"
    assert 100 not in made


def test_the_window_rules_join_the_subjects_once() -> None:
    """Every rule with a window is tested in one join of the subjects, not one join per rule."""
    from sqlglot import exp

    from billing_rules.engines.relational import sql, windows
    from billing_rules.engines.relational.plan import DslPlan

    _, checker = _fresh()
    windowed = [
        (plan, f"counter_{plan.counter.id}", None)
        for plan in checker.plan.rules
        if isinstance(plan, DslPlan) and plan.counter is not None
    ]
    assert len(windowed) >= 7
    query = windows.window_hits(windowed)
    assert query is not None
    joins = list(query.find_all(exp.Join))
    assert [join.this.name for join in joins] == [sql.SUBJECTS]
    # A rule whose condition runs in Python brings its table of sids, LEFT JOINed.
    plan, counter, _ = windowed[0]
    with_python = windows.window_hits([(plan, counter, "python_0"), *windowed[1:]])
    assert with_python is not None
    assert sorted(join.this.name for join in with_python.find_all(exp.Join)) == ["python_0", sql.SUBJECTS]
    assert windows.window_hits([]) is None
