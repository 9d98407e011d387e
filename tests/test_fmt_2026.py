"""The forfait médecin traitant of 2026 (SPEC §6): patients not seen for two years, majorations, levers."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules.api.validator import Validator
from billing_rules.cli import main
from billing_rules.config import ConfigError, parse_config
from billing_rules.domain.forfait.estimate import Patient, estimate, estimate_to_dict
from billing_rules.domain.forfait.levers import find_candidates
from billing_rules.domain.forfait.tables import ForfaitTables, PractitionerFacts
from billing_rules.model import Event, MtStatus


@pytest.fixture(scope="module")
def tables(builtin_validator: Validator) -> ForfaitTables:
    return builtin_validator.ruleset.environment.forfaits


# -- not seen for two years -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_seen", "category"),
    [
        (dt.date(2024, 12, 31), "not_seen_2_years"),  # the two years are 2025 and 2026
        (dt.date(2025, 1, 1), "ald_80_plus"),  # seen on the first day of the two years
        (None, "ald_80_plus"),  # unknown: taken as seen
    ],
)
def test_not_seen_boundary(tables: ForfaitTables, last_seen: dt.date | None, category: str) -> None:
    patient = Patient("a", dt.date(1940, 1, 1), ald=True, last_seen=last_seen)
    result = estimate(tables, [patient], 2026)
    (line,) = [line for line in result.categories if line.patients]
    assert line.category == category
    assert result.total == (Decimal("5") if category == "not_seen_2_years" else Decimal("100"))


def test_not_seen_whatever_age_or_ald(tables: ForfaitTables) -> None:
    old = dt.date(2023, 6, 1)
    patients = [
        Patient("child", dt.date(2022, 1, 1), last_seen=old),
        Patient("ald", dt.date(1970, 1, 1), ald=True, last_seen=old),
        Patient("old", dt.date(1930, 1, 1), last_seen=old),
    ]
    result = estimate(tables, patients, 2026)
    counts = {line.category: line.patients for line in result.categories if line.patients}
    assert counts == {"not_seen_2_years": 3}
    assert not next(line for line in result.categories if line.category == "not_seen_2_years").settled


def test_no_not_seen_category_under_the_fpmt(tables: ForfaitTables) -> None:
    patient = Patient("a", dt.date(1940, 1, 1), ald=True, last_seen=dt.date(2020, 1, 1))
    result = estimate(tables, [patient], 2025)
    assert [line.category for line in result.categories if line.patients] == ["ald_80_plus"]
    assert "not_seen_2_years" not in {line.category for line in result.categories}


# -- majorations ----------------------------------------------------------------------------------

PATIENTS = [
    Patient("a", dt.date(1940, 1, 1), ald=True),  # 100
    Patient("b", dt.date(1980, 1, 1), c2s=True),  # 5, and +10 C2S
    Patient("c", dt.date(1944, 6, 1)),  # 55
]  # categories total: 160 €


def _majorations(tables: ForfaitTables, facts: PractitionerFacts | None, year: int = 2026) -> dict:
    result = estimate(tables, PATIENTS, year, practitioner=facts)
    return {line.name: line for line in result.majorations}, result.total


@pytest.mark.parametrize(
    ("birth", "earns"),
    [(dt.date(1959, 12, 31), True), (dt.date(1960, 1, 1), False)],  # 67 on 31/12/2026, or 66
)
def test_67_on_31_december(tables: ForfaitTables, birth: dt.date, earns: bool) -> None:
    lines, total = _majorations(tables, PractitionerFacts(birth_date=birth))
    assert ("age_67_or_zip" in lines) is earns
    assert total == Decimal("170") + (Decimal("16") if earns else 0)


def test_zip_and_67_is_one_majoration(tables: ForfaitTables) -> None:
    lines, total = _majorations(tables, PractitionerFacts(birth_date=dt.date(1950, 1, 1), zip=True))
    assert set(lines) == {"c2s", "age_67_or_zip"}
    line = lines["age_67_or_zip"]
    assert (line.rate, line.base, line.total) == (Decimal("0.10"), Decimal("160"), Decimal("16.00"))
    assert not line.settled and lines["c2s"].settled
    assert total == Decimal("186")


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (2026, {"age_67_or_zip": "16.00", "zip_first_installation_year_1": "80.00"}),
        (2027, {"age_67_or_zip": "16.00", "zip_first_installation_year_2": "48.00"}),
        (2028, {"age_67_or_zip": "16.00"}),
    ],
)
def test_first_installation_in_a_zip(tables: ForfaitTables, year: int, expected: dict) -> None:
    facts = PractitionerFacts(zip=True, installed_on=dt.date(2026, 11, 15))
    lines, total = _majorations(tables, facts, year)
    rates = {name: str(line.total) for name, line in lines.items() if name != "c2s"}
    assert rates == expected
    # The rates add up, on the categories' total without C2S.
    assert total == Decimal("170") + sum(Decimal(value) for value in expected.values())


def test_installation_outside_a_zip_earns_nothing(tables: ForfaitTables) -> None:
    lines, _ = _majorations(tables, PractitionerFacts(zip=False, installed_on=dt.date(2026, 1, 1)))
    assert set(lines) == {"c2s"}


def test_no_majoration_before_the_fmt(tables: ForfaitTables) -> None:
    lines, _ = _majorations(tables, PractitionerFacts(birth_date=dt.date(1940, 1, 1), zip=True), 2025)
    assert lines == {}


def test_json_shows_each_majoration(tables: ForfaitTables) -> None:
    facts = PractitionerFacts(zip=True, installed_on=dt.date(2026, 3, 1))
    data = estimate_to_dict(estimate(tables, PATIENTS, 2026, practitioner=facts))
    names = [line["majoration"] for line in data["majorations"]]
    assert names == ["c2s", "age_67_or_zip", "zip_first_installation_year_1"]
    assert data["majorations"][2]["rate"] == 0.5 and data["majorations"][2]["total"] == 80.0
    assert data["total"] == 160 + 10 + 16 + 80


# -- configuration and command line -----------------------------------------------------------------


def test_config_facts() -> None:
    config = parse_config(
        {
            "practitioner": {"zip": True},
            "practitioners": {"101": {"birth_date": dt.date(1958, 3, 14), "installed_on": "2025-09-01"}},
        }
    )
    facts = config.facts_for("101")
    assert (facts.birth_date, facts.zip, facts.installed_on) == (
        dt.date(1958, 3, 14),
        True,
        dt.date(2025, 9, 1),
    )
    assert dict(facts.items()) == {}  # never filled into invoices


@pytest.mark.parametrize(
    ("values", "message"),
    [({"zip": "oui"}, "true ou false"), ({"birth_date": "14/03/1958"}, "date attendue")],
)
def test_bad_config_facts(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"practitioner": values})


def test_cli_with_config_and_last_seen(tmp_path: Path) -> None:
    patients = tmp_path / "patients.csv"
    patients.write_text(
        "patient_id;birth_date;ald;c2s;last_seen\nP1;1940-01-01;oui;non;2026-05-01\nP2;1940-01-01;oui;non;2024-05-01\n",
        encoding="utf-8",
    )
    config = tmp_path / "billing-rules.toml"
    config.write_text("[practitioner]\nbirth_date = 1955-01-01\n", encoding="utf-8")
    options = ["--year", "2026", "--config", str(config), "--no-plugins"]
    result = CliRunner().invoke(main, ["forfait", str(patients), *options, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {line["category"]: line["patients"] for line in data["categories"]} == {
        "ald_80_plus": 1,
        "not_seen_2_years": 1,
    }
    assert [line["majoration"] for line in data["majorations"]] == ["age_67_or_zip"]
    assert data["total"] == round((100 + 5) * 1.1, 2)
    text = CliRunner().invoke(main, ["forfait", str(patients), *options])
    assert "Majoration médecin de 67 ans et plus ou en ZIP (non confirmé)" in text.stdout
    assert "+10 %" in text.stdout


# -- the lever: MT patients not seen in the two years ending 31 December (more: test_forfait_not_seen.py)


def _visit(patient: str, day: dt.date, number: int) -> Event:
    return Event(
        invoice_id=f"F{number}",
        date=day,
        practitioner_id="101",
        patient_id=patient,
        birth_date=dt.date(1940, 1, 1),
        ald=True,
        mt_status=MtStatus.SELF,
        codes=("G",),
    )


def test_not_seen_lever(tables: ForfaitTables) -> None:
    events = [
        _visit("P-2024-12-01", dt.date(2024, 12, 1), 1),  # no invoice in 2025-2026 yet: at stake
        _visit("P-2024-12-02", dt.date(2024, 12, 2), 2),  # at stake too, however recent the history
        _visit("P-SEEN", dt.date(2026, 9, 30), 3),
        _visit("P-SEEN", dt.date(2024, 1, 10), 4),
        _visit("P-2025", dt.date(2025, 1, 5), 5),  # seen within the two years: still paid in full
        _visit("P-LAST", dt.date(2026, 10, 1), 6),  # makes the history run to 2026-10-01
    ]
    candidates = [item for item in find_candidates(events, tables, "101", 2026) if item.kind == "not_seen"]
    assert [item.patient_id for item in candidates] == ["P-2024-12-01", "P-2024-12-02"]
    item = candidates[0]
    assert item.yearly == Decimal("95")  # ALD 80+: 100 € kept instead of 5 €
    assert "31/12/2026" in item.message and "01/12/2024" in item.message
