"""The not-seen lever of the FMT (SPEC §6): MT patients to see before 31 December, and what each keeps.

An MT patient with no invoice from the practitioner in the two years ending 31 December is paid
5 € instead of their category's amount. The window is fixed by the year (1 January of the year
before to 31 December), not by how far the history runs: early in the year, a patient last seen
in December two years back is already at stake, and one visit before 31 December saves them.
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
from billing_rules.domain.forfait.estimate import Candidate, estimate
from billing_rules.domain.forfait.levers import find_candidates, mt_patientele
from billing_rules.domain.forfait.tables import (
    ForfaitTables,
    PractitionerFacts,
    not_seen_since,
    not_seen_window_start,
)
from billing_rules.model import Event, MtStatus

DR = "101"


@pytest.fixture(scope="module")
def tables(builtin_validator: Validator) -> ForfaitTables:
    return builtin_validator.ruleset.environment.forfaits


def visit(patient: str, day: str, *, birth: str = "1940-01-01", ald: bool = True) -> Event:
    return Event(
        invoice_id=f"F-{patient}-{day}",
        date=dt.date.fromisoformat(day),
        practitioner_id=DR,
        patient_id=patient,
        birth_date=dt.date.fromisoformat(birth),
        ald=ald,
        mt_status=MtStatus.SELF,
        codes=("G",),
    )


def not_seen(
    events: list[Event],
    tables: ForfaitTables,
    year: int = 2026,
    practitioner: PractitionerFacts | None = None,
) -> list[Candidate]:
    found = find_candidates(events, tables, DR, year, practitioner=practitioner)
    return [item for item in found if item.kind == "not_seen"]


# -- the window ------------------------------------------------------------------------------------


def test_the_window_is_the_two_calendar_years_ending_31_december() -> None:
    assert not_seen_window_start(2026) == dt.date(2025, 1, 1)
    assert not_seen_since(dt.date(2024, 12, 31), 2026)
    assert not not_seen_since(dt.date(2025, 1, 1), 2026)


@pytest.mark.parametrize(
    ("last_seen", "at_stake"),
    [
        ("2024-12-31", True),  # the day before the window: 5 € unless seen in 2026
        ("2025-01-01", False),  # the window's first day: paid in full
        ("2023-03-10", True),
        ("2026-02-01", False),
    ],
)
def test_boundary_of_the_window(tables: ForfaitTables, last_seen: str, at_stake: bool) -> None:
    events = [visit("P", last_seen), visit("LAST", "2026-03-02")]
    assert [item.patient_id for item in not_seen(events, tables)] == (["P"] if at_stake else [])


def test_early_in_the_year_every_patient_of_the_31_december_count_is_listed(tables: ForfaitTables) -> None:
    """The defect: counted back 22 months from the history's end, December 2024 was not yet a lever."""
    events = [
        visit("DEC-2024", "2024-12-20"),
        visit("JAN-2024", "2024-01-15"),
        visit("LAST", "2026-01-06"),  # the history stops in the first week of 2026
    ]
    candidates = not_seen(events, tables)
    assert [item.patient_id for item in candidates] == ["DEC-2024", "JAN-2024"]
    # The same patients the 31 December estimate pays 5 €.
    result = estimate(tables, mt_patientele(events, DR, 2026), 2026)
    counts = {line.category: line.patients for line in result.categories}
    assert counts["not_seen_2_years"] == 2


# -- the euros at stake ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth", "ald", "yearly"),
    [
        ("1940-01-01", True, Decimal("95")),  # ALD 80+: 100 € instead of 5 €
        ("1970-01-01", True, Decimal("50")),  # ALD under 80: 55 €
        ("1940-01-01", False, Decimal("50")),  # 80+ without ALD: 55 €
        ("1949-06-01", False, Decimal("10")),  # 77 on 31/12/2026: 15 €
        ("2021-01-01", False, Decimal("10")),  # child 0-6: 15 €
        ("1980-01-01", False, None),  # 7-74: 5 € either way, nothing to gain
    ],
)
def test_what_one_visit_keeps(tables: ForfaitTables, birth: str, ald: bool, yearly: Decimal | None) -> None:
    events = [visit("P", "2024-06-01", birth=birth, ald=ald), visit("LAST", "2026-04-01", birth="1980-01-01")]
    candidates = not_seen(events, tables)
    if yearly is None:
        assert candidates == []
        return
    (item,) = candidates
    assert (item.yearly, item.amount, item.date) == (yearly, Decimal("0"), dt.date(2024, 6, 1))
    kept = yearly + 5
    assert f"passe de {kept:.2f}".replace(".", ",") in item.message
    assert "non vu depuis le 01/06/2024" in item.message and "avant le 31/12/2026" in item.message


def test_the_doctors_majorations_scale_what_is_at_stake(tables: ForfaitTables) -> None:
    events = [visit("P", "2024-06-01"), visit("LAST", "2026-04-01")]
    zip_year_1 = PractitionerFacts(zip=True, installed_on=dt.date(2026, 2, 1))  # +10 % and +50 %
    (item,) = not_seen(events, tables, practitioner=zip_year_1)
    assert item.yearly == Decimal("152.00")  # (100 - 5) × 1.6
    assert "passe de 160,00\u00a0€ à 8,00\u00a0€" in item.message
    (plain,) = not_seen(events, tables, practitioner=PractitionerFacts())
    assert plain.yearly == Decimal("95")


def test_no_lever_under_the_fpmt(tables: ForfaitTables) -> None:
    events = [visit("P", "2022-06-01"), visit("LAST", "2025-04-01")]
    assert not_seen(events, tables, year=2025) == []


def test_not_an_mt_patient_is_no_lever(tables: ForfaitTables) -> None:
    events = [visit("P", "2024-06-01"), visit("LAST", "2026-04-01")]
    moved = Event(
        invoice_id="F-other",
        date=dt.date(2024, 7, 1),
        practitioner_id="202",
        patient_id="P",
        birth_date=dt.date(1940, 1, 1),
        ald=True,
        declares_mt=True,
        codes=("G",),
    )
    assert not_seen([*events, moved], tables) == []  # another doctor became the MT after


# -- command line ------------------------------------------------------------------------------------


def test_cli_lists_the_lever_with_its_total(tmp_path: Path) -> None:
    history = tmp_path / "historique.csv"
    history.write_text(
        "invoice_id;date;practitioner_id;patient_id;birth_date;codes;mt_status;ald\n"
        "F1;2024-12-31;101;OLD-ALD;1940-01-01;G;self;oui\n"
        "F2;2025-01-01;101;SEEN;1940-01-01;G;self;oui\n"
        "F3;2024-03-01;101;CHILD;2021-05-05;G;self;non\n"
        "F4;2024-03-01;101;ADULT;1980-05-05;G;self;non\n"
        "F5;2026-01-06;101;NEW;1980-05-05;G;self;non\n",
        encoding="utf-8",
    )
    args = ["forfait", "--invoices", str(history), "--year", "2026", "--no-plugins", "--isolated"]
    text = CliRunner().invoke(main, args)
    assert text.exit_code == 0, text.output
    heading = (
        "Patients médecin traitant sans facture depuis le 01/01/2025 : à revoir avant le 31/12/2026 "
        "(2 ; 105,00\u00a0€ par an en jeu)"
    )
    assert heading in text.stdout
    assert "22 mois" not in text.stdout
    data = json.loads(CliRunner().invoke(main, [*args, "--format", "json"]).stdout)
    levers = {item["patient_id"]: item["yearly"] for item in data["candidates"] if item["kind"] == "not_seen"}
    assert levers == {"OLD-ALD": 95.0, "CHILD": 10.0}
    counts = {line["category"]: line["patients"] for line in data["categories"]}
    assert counts["not_seen_2_years"] == 3  # the 7-74 one too, but nothing to gain by seeing them
