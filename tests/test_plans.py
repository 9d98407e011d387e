"""Rules decided once per plan (``dsl/reads.py``, ``Engine.plan``) fire exactly as if asked every time.

The engine keys its plans by codes, period and the few-valued fields; a condition part that reads
only those, or a Python rule that declares ``reads`` within them, is evaluated on a plan's first
invoice only. These tests vary each kind of field between invoices of the same day and codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import attrs

from billing_rules.dsl import ast
from billing_rules.dsl.parser import parse
from billing_rules.dsl.reads import fields_read
from billing_rules.model import Event, Severity
from billing_rules.plugins import hookimpl
from billing_rules.rule import Hit
from billing_rules.testing import build_validator, check, codes_by_invoice


def _when(text: str) -> Any:
    source = f'define at_home = place in (domicile, ehpad)\nrule X warning "x"\n  when {text}\nend\n'
    rule_file = parse(source, "t.rules")
    (rule,) = [decl for decl in rule_file.declarations if isinstance(decl, ast.RuleDecl)]
    defines = {decl.name: decl.cond for decl in rule_file.declarations if isinstance(decl, ast.DefineDecl)}
    (when,) = [value for kind, value, _ in rule.clauses if kind == "when"]
    return when, defines


def _reads(text: str) -> frozenset[str] | None:
    when, defines = _when(text)
    return fields_read(when, defines, {"tariff": None, "pdsa_time": None})


def test_fields_read_by_conditions() -> None:
    assert _reads("mt_status is self") == {"mt_status"}
    assert _reads("ald and not declares_mt") == {"ald", "declares_mt"}
    assert _reads("at_home") == {"place"}  # through the definition
    assert _reads("billed MEG") == {"codes"}
    assert _reads("age >= 80 or sector in (1, optam)") == {"age", "sector"}
    assert _reads("referral_at is given") == {"referral_at"}
    assert _reads("pdsa_time") is None  # a function: cannot tell
    assert _reads("amount > tariff(G)") is None


RULES = """
rule T-SECTOR warning "secteur 2 à domicile"
  on G, VG
  when sector is 2 and at_home
end

rule T-AGE warning "80 ans et plus, patient MT"
  on G
  when mt_status is self and age >= 80
end
"""


class AmountAbove40:
    """A Python rule that declares what it reads: asked once per plan."""

    code = "T-AMOUNT"
    severity = Severity.WARNING
    source = "tests"
    triggers = None
    reads = frozenset({"amount"})

    def check(self, event: Event, history: Any) -> Iterable[Hit]:
        return [Hit("plus de 40 €")] if event.amount is not None and event.amount > Decimal(40) else []


class _Plugin:
    @hookimpl
    def register_rules(self, register: Any) -> None:
        register(AmountAbove40())


def test_rules_decided_per_plan_fire_on_the_right_invoices(tmp_path: Any) -> None:
    rules = tmp_path / "t.rules"
    rules.write_text(RULES, encoding="utf-8")  # at_home: the built-in definition
    validator = build_validator([rules], plugins=[("t", _Plugin())])
    day = {"date": "2026-03-02", "codes": "G"}
    rows = [
        {**day, "sector": "1", "place": "domicile", "amount": "50"},  # T-AMOUNT
        {**day, "sector": "2", "place": "domicile", "amount": "30"},  # T-SECTOR
        {**day, "sector": "2", "place": "cabinet", "amount": "30"},
        {**day, "sector": "2", "place": "ehpad", "amount": "30"},  # T-SECTOR
        {**day, "sector": "2", "place": "ehpad", "amount": "50"},  # T-SECTOR, T-AMOUNT: a new plan
        {**day, "sector": "1", "place": "domicile", "amount": "50"},  # same plan as the first
        {**day, "mt_status": "self", "birth_date": "1990-01-01"},  # age is not a plan field
        {**day, "mt_status": "self", "birth_date": "1940-01-01"},  # T-AGE
        {**day, "mt_status": "other", "birth_date": "1940-01-01"},
        {**day, "sector": "2", "place": "domicile", "amount": "30", "status": "cancelled"},
    ]
    report = check(validator, [{"invoice_id": f"F{n}", **row} for n, row in enumerate(rows)])
    ours = [finding for finding in report.findings if finding.rule.startswith("T-")]
    assert codes_by_invoice(ours) == {
        "F0": ["T-AMOUNT"],
        "F1": ["T-SECTOR"],
        "F3": ["T-SECTOR"],
        "F4": ["T-AMOUNT", "T-SECTOR"],
        "F5": ["T-AMOUNT"],
        "F7": ["T-AGE"],
    }


def test_a_rule_without_reads_is_asked_every_time(tmp_path: Any) -> None:
    asked: list[str] = []

    @attrs.define
    class Counting:
        code: str = "T-ASKED"
        severity: Severity = Severity.WARNING
        source: str = "tests"
        triggers: Any = None

        def check(self, event: Event, history: Any) -> Iterable[Hit]:
            asked.append(event.invoice_id)
            return []

    class Plugin:
        @hookimpl
        def register_rules(self, register: Any) -> None:
            register(Counting())

    validator = build_validator(plugins=[("t", Plugin())])
    check(validator, [{"invoice_id": f"F{n}", "date": "2026-03-02", "codes": "G"} for n in range(5)])
    assert asked == ["F0", "F1", "F2", "F3", "F4"]
