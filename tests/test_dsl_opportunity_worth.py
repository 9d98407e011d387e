"""An opportunity is a better-paid coding (SPEC §2, §5): one worth nothing is never reported.

A suggested coding that is the billed one, or whose euros missed are not above 0 (``TCG instead of
G``: 5 € less), would count a loss as missed revenue. Both engines drop such a hit before choosing
between two suggestions for the same act, so that it cannot hide a better-paid one; an amount left
unknown (no tariff) keeps the hit. ``instead of`` never bills a code twice: ``G instead of TCG`` on
G+TCG is G, not G+G, for a suggestion as for an action's corrected coding.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import attrs
from click.testing import CliRunner

from billing_rules import cli
from billing_rules.api.validator import Validator
from billing_rules.dsl.program import SuggestionSpec

RULES = """\
code G "Consultation"
code TCG "Téléconsultation"
code VG "Visite"
code XX "Acte sans tarif"
tariff G 30.00 from 2017-05-01
tariff TCG 25.00 from 2017-05-01
tariff VG 40.00 from 2017-05-01

rule T-TELE opportunity "{suggestion} ({amount})"
  action "facturer {suggestion} au lieu de {codes}"
  on G
  when place in (domicile, tele)
  suggest TCG instead of G
end

rule T-VISIT opportunity "{suggestion} ({amount})"
  action "facturer {suggestion} au lieu de {codes}"
  on G
  when place is domicile
  suggest VG instead of G
end

rule T-VG-WARN warning "VG à justifier"
  action "noter le motif de la visite"
  on VG
end

rule T-ADD opportunity "{suggestion} ({amount})"
  action "facturer {suggestion}"
  on G
  when place is cabinet
  suggest add G
  amount 10.00
end

rule T-BACK opportunity "{suggestion} ({amount})"
  action "facturer {suggestion} au lieu de {codes}"
  on TCG
  suggest G instead of TCG
end

rule T-UNPRICED opportunity "{suggestion}"
  action "facturer {suggestion}"
  on G
  when place is ehpad
  suggest add XX
end

rule T-BOTH error "G et TCG facturées ensemble"
  action G instead of TCG "facturer {recoded} au lieu de {codes}"
  on TCG
  when billed G
end
"""

ROWS = [
    # T-TELE (-5 €, no warning) and T-VISIT (+10 €, a warning on VG) recode the same G: the better-
    # paid one is reported, the one worth less than nothing cannot win by having fewer warnings.
    ("A1", "G", "domicile"),
    ("A2", "G", "cabinet"),  # G added to G: the billed coding, even with an amount of its own
    ("A3", "TCG", "tele"),  # G instead of TCG: 5 € more
    ("A4", "G+TCG", "cabinet"),  # an error: G (not G+G) instead of G+TCG
    ("A5", "G", "ehpad"),  # XX has no tariff: the amount is unknown, the opportunity kept
    ("A6", "G", "tele"),  # TCG instead of G: 5 € less, not reported
]

EXPECTED = {
    ("T-VISIT", "A1"): ("VG (10,00\u00a0€)", 10.0, "VG", "facturer VG au lieu de G"),
    ("T-BACK", "A3"): ("G (5,00\u00a0€)", 5.0, "G", "facturer G au lieu de TCG"),
    ("T-BOTH", "A4"): ("G et TCG facturées ensemble", 25.0, None, "facturer G au lieu de G+TCG"),
    ("T-UNPRICED", "A5"): ("G+XX", None, "G+XX", "facturer G+XX"),
}


def _input(tmp_path: Path) -> Path:
    path = tmp_path / "week.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        header = ["invoice_id", "date", "practitioner_id", "patient_id", "birth_date", "codes", "place"]
        writer.writerow(header)
        for invoice, codes, place in ROWS:
            writer.writerow([invoice, "2025-03-10", "D1", f"P-{invoice}", "1970-01-01", codes, place])
    return path


def _validator(tmp_path: Path) -> Validator:
    path = tmp_path / "worth.rules"
    path.write_text(RULES, encoding="utf-8")
    return Validator.build(rule_files=[path], builtin=False, entry_points=False)


def _findings(validator: Validator, engine: str, path: Path) -> list[Any]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    events = [Validator.invoice(row, seq=index) for index, row in enumerate(rows)]
    if engine == "row":
        return list(validator.check_events(events).findings)
    from billing_rules.engines.relational import api

    return list(api.check_events(validator, events, engine=engine).findings)


def _euros(amount: Any) -> float | None:
    return None if amount is None else float(amount)


def test_only_better_paid_opportunities_are_reported(tmp_path: Path, engine: str) -> None:
    validator, path = _validator(tmp_path), _input(tmp_path)
    findings = _findings(validator, engine, path)
    found = {(f.rule, f.invoice_id): (f.message, _euros(f.amount), f.suggestion, f.action) for f in findings}
    # T-VG-WARN speaks of billed VG only: none here.
    assert found == EXPECTED
    if engine != "row":  # and the same findings, field for field, as the reference engine
        row = [attrs.asdict(f) for f in _findings(validator, "row", path)]
        assert [attrs.asdict(f) for f in findings] == row


def test_instead_of_never_bills_a_code_twice() -> None:
    back = SuggestionSpec("replace", "G", frozenset({"TCG"}), None)
    assert back.apply(("G", "TCG")) == ("G",)
    assert back.apply(("TCG", "MD")) == ("G", "MD")
    assert back.apply(("MD",)) == ("G", "MD")  # nothing to replace: the code is put first
    # The code replaced by itself stays once, where the first replaced code stood.
    assert SuggestionSpec("replace", "G", frozenset({"G", "MD"}), None).apply(("MD", "G")) == ("G",)


#: The auditor's third-party rules on top of the built-in catalogue (G 30 €, TCG 25 € in 2025).
CATALOGUE_RULES = """\
rule CAB-TELE opportunity "Téléconsultation : {suggestion} ({amount})"
  source "interne"
  action "facturer {suggestion} au lieu de {codes}"
  on G
  when place is tele
  suggest TCG instead of G
end
rule CAB-ADD opportunity "ajout {suggestion} {amount}"
  source "interne"
  action "facturer {suggestion}"
  on G
  suggest add G
end
rule CAB-BACK opportunity "remplacement {suggestion} {amount}"
  source "interne"
  action "facturer {suggestion}"
  on TCG
  suggest G instead of TCG
end
"""


def _report(tmp_path: Path, engine: str) -> dict[str, Any]:
    rules = tmp_path / "cabinet.rules"
    rules.write_text(CATALOGUE_RULES, encoding="utf-8")
    data = tmp_path / "day.csv"
    data.write_text(
        "invoice_id;date;practitioner_id;patient_id;birth_date;codes;place\n"
        "F1;2025-03-10;D1;N1;1970-01-01;G;tele\n"
        "F2;2025-03-10;D1;N2;1970-01-01;G;cabinet\n"
        "F3;2025-03-10;D1;N3;1970-01-01;TCG;tele\n"
        "F4;2025-03-10;D1;N4;1970-01-01;G+TCG;cabinet\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli.main,
        ["check", str(data), "--rules", str(rules), "--isolated", "--engine", engine, "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    report["summary"].pop("engine", None)
    return report


def test_missed_revenue_counts_only_what_was_missed(tmp_path: Path, engine: str) -> None:
    report = _report(tmp_path, engine)
    opportunities = [(f["rule"], f["invoice_id"], f["amount"], f["suggestion"]) for f in report["findings"]]
    assert opportunities == [("CAB-BACK", "F3", 5.0, "G")]
    assert report["summary"]["opportunities"] == 1
    assert report["summary"]["missed_revenue"] == 5.0
    if engine != "row":  # the whole JSON report, but for the engine's name
        assert report == _report(tmp_path, "row")
