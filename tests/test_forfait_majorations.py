"""The doctor's FMT majorations (SPEC §6) scale every forfait euro the estimator shows.

The rates (+10 % for a doctor of 67 or more or in a ZIP, +50 % / +30 % the first two years after a
first installation in a ZIP) apply to the categories' total and add up: the report's total carries
them, so the what-if levers and the candidates' yearly euros must carry them too, or the figures a
doctor compares would disagree on the same page.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules.api.validator import Validator
from billing_rules.cli import main
from billing_rules.domain.forfait.estimate import Patient, estimate
from billing_rules.domain.forfait.levers import find_candidates
from billing_rules.domain.forfait.tables import ForfaitTables, PractitionerFacts
from billing_rules.model import Event, MtStatus

DR = "D1"
# In a ZIP since March 2025: +10 % (ZIP) and +30 % (2nd year of the first installation) in 2026.
ZIP_YEAR_2 = PractitionerFacts(birth_date=dt.date(1970, 1, 1), zip=True, installed_on=dt.date(2025, 3, 1))
CONFIG = '[practitioners."D1"]\nbirth_date = "1970-01-01"\nzip = true\ninstalled_on = 2025-03-01\n'


@pytest.fixture(scope="module")
def tables(builtin_validator: Validator) -> ForfaitTables:
    return builtin_validator.ruleset.environment.forfaits


def test_one_function_owns_the_scale(tables: ForfaitTables) -> None:
    assert tables.majoration_scale(ZIP_YEAR_2, 2026) == Decimal("1.40")
    assert tables.scaled(Decimal("55"), 2026, ZIP_YEAR_2) == Decimal("77.00")
    assert tables.scaled(Decimal("55"), 2026, None) == Decimal("55")
    assert tables.majoration_scale(ZIP_YEAR_2, 2025) == Decimal("1")  # no rate under the FPMT


def test_what_if_levers_carry_the_majorations(tables: ForfaitTables) -> None:
    result = estimate(tables, [], 2026, what_if_ald=10, what_if_80=3, practitioner=ZIP_YEAR_2)
    levers = {lever.lever: lever for lever in result.what_if}
    assert levers["ald"].forfait_gain == levers["ald"].total == Decimal("770.00")  # 550 × 1,40
    assert levers["over_80"].total == Decimal("231.00")  # 165 × 1,40
    assert levers["ald"].amount_per_patient == Decimal("55")  # the table's row, unscaled
    assert levers["ald"].majoration_rate == Decimal("0.40")


def test_a_what_if_lever_is_what_the_total_would_grow_by(tables: ForfaitTables) -> None:
    patients = [Patient(f"P{index}", dt.date(1940, 1, 1)) for index in range(3)]
    now = estimate(tables, patients, 2026, what_if_ald=10, practitioner=ZIP_YEAR_2)
    more = [*patients, *(Patient(f"A{index}", dt.date(1970, 1, 1), ald=True) for index in range(10))]
    later = estimate(tables, more, 2026, practitioner=ZIP_YEAR_2)
    assert now.what_if[0].total == later.total - now.total


def _ald_without_mt(day: str) -> Event:
    return Event(
        invoice_id=f"A-{day}",
        date=dt.date.fromisoformat(day),
        practitioner_id=DR,
        patient_id="A",
        birth_date=dt.date(1976, 1, 1),
        ald=True,
        mt_status=MtStatus.NONE,
        codes=("G",),
    )


def test_the_mt_declaration_lever_carries_the_majorations(tables: ForfaitTables) -> None:
    events = [_ald_without_mt(day) for day in ("2026-01-10", "2026-02-10", "2026-03-10")]
    (item,) = find_candidates(events, tables, DR, 2026, practitioner=ZIP_YEAR_2)
    assert (item.kind, item.yearly) == ("mt_declare", Decimal("77.00"))  # 55 € × 1,40
    (plain,) = find_candidates(events, tables, DR, 2026)
    assert plain.yearly == Decimal("55")


def _cli(tmp_path: Path, *args: str) -> str:
    config = tmp_path / "billing-rules.toml"
    config.write_text(CONFIG, encoding="utf-8")
    result = CliRunner().invoke(main, [*args, "--config", str(config), "--practitioner", DR, "--no-plugins"])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_cli_what_if_line_carries_the_majorations(tmp_path: Path) -> None:
    patients = tmp_path / "patients.csv"
    patients.write_text("patient_id;birth_date;ald\nP1;1970-01-01;oui\n", encoding="utf-8")
    out = _cli(tmp_path, "forfait", str(patients), "--year", "2026", "--what-if-ald", "10")
    assert "10 patient(s) en ALD (moins de 80 ans) de plus : 770,00\u00a0€ par an" in out
    assert "majorations +40 %" in out
    data = json.loads(
        _cli(tmp_path, "forfait", str(patients), "--year", "2026", "--what-if-80", "3", "--format", "json")
    )
    (lever,) = data["what_if"]
    assert (lever["forfait_gain"], lever["total"], lever["majoration_rate"]) == (231.0, 231.0, 0.4)


def test_cli_candidates_are_scaled_alike(tmp_path: Path) -> None:
    history = tmp_path / "historique.csv"
    history.write_text(
        "invoice_id;date;practitioner_id;patient_id;birth_date;codes;mt_status;ald\n"
        "A0;2026-01-10;D1;A;1976-01-01;G;none;oui\n"
        "A1;2026-02-10;D1;A;1976-01-01;G;none;oui\n"
        "A2;2026-03-10;D1;A;1976-01-01;G;none;oui\n"
        "D0;2024-06-01;D1;D;1976-01-01;G;self;oui\n",
        encoding="utf-8",
    )
    data = json.loads(
        _cli(tmp_path, "forfait", "--invoices", str(history), "--year", "2026", "--format", "json")
    )
    yearly = {item["kind"]: item["yearly"] for item in data["candidates"]}
    assert yearly == {"mt_declare": 77.0, "not_seen": 70.0}  # 55 × 1,4 ; (55 − 5) × 1,4
