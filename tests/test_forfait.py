"""Forfait estimator (SPEC §6): seed examples, FMT 2026, ROSP scaling, levers, candidates, CLI."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules.api.validator import Validator
from billing_rules.cli import main
from billing_rules.domain.forfait.estimate import (
    EstimateError,
    Patient,
    estimate,
    estimate_to_dict,
    rosp_value,
)
from billing_rules.domain.forfait.levers import find_candidates, mt_patientele
from billing_rules.domain.forfait.patients import read_patients
from billing_rules.domain.forfait.tables import ForfaitTables
from billing_rules.model import Event, MtStatus, Place, Status

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "week-2026-01.csv"


@pytest.fixture(scope="module")
def tables(builtin_validator: Validator) -> ForfaitTables:
    return builtin_validator.ruleset.environment.forfaits


def ald_patients(count: int, birth: dt.date = dt.date(1970, 5, 1)) -> list[Patient]:
    return [Patient(f"P{index}", birth, ald=True) for index in range(count)]


# -- seed examples (SEED-000) -------------------------------------------------------------------


@pytest.mark.parametrize(("year", "total"), [(2023, "420"), (2024, "460"), (2025, "460")])
def test_ten_ald_patients_seed_example(tables: ForfaitTables, year: int, total: str) -> None:
    result = estimate(tables, ald_patients(10), year)
    assert result.total == Decimal(total)
    line = next(line for line in result.categories if line.category == "ald_under_80")
    assert line.patients == 10
    assert line.total == Decimal(total)
    assert result.scheme == "FPMT"
    assert result.settled


@pytest.mark.parametrize(
    ("patientele", "value"), [(0, "35"), (500, "35"), (800, "35"), (1000, "43.75"), (1200, "52.50")]
)
def test_rosp_indicator_of_five_points_seed_example(patientele: int, value: str) -> None:
    assert rosp_value(5, patientele) == Decimal(value)


def test_rosp_floor_can_be_lifted() -> None:
    assert rosp_value(5, 400, floor=False) == Decimal("17.50")


def test_rosp_scales_with_the_counted_patientele(tables: ForfaitTables) -> None:
    result = estimate(tables, ald_patients(1000), 2025, rosp_points=5)
    assert result.rosp is not None
    assert result.rosp.value == Decimal("43.75")
    assert estimate(tables, ald_patients(1200), 2024, rosp_points=5).rosp.value == Decimal("52.50")  # type: ignore[union-attr]


def test_rosp_is_gone_from_2026(tables: ForfaitTables) -> None:
    result = estimate(tables, ald_patients(3), 2026, rosp_points=5)
    assert result.rosp is None
    assert any("ROSP" in note for note in result.notes)


# -- categories ---------------------------------------------------------------------------------


def test_fpmt_categories_ages_on_31_december(tables: ForfaitTables) -> None:
    patients = [
        Patient("child", dt.date(2018, 1, 1)),  # 6 on 31/12/2024
        Patient("adult", dt.date(2017, 12, 31)),  # 7 on 31/12/2024
        Patient("turns80", dt.date(1944, 12, 31)),  # 80 on 31/12/2024
        Patient("still79", dt.date(1945, 1, 1)),
        Patient("ald79", dt.date(1945, 1, 1), ald=True),
        Patient("ald80", dt.date(1944, 6, 1), ald=True),
    ]
    result = estimate(tables, patients, 2024)
    counts = {line.category: line.patients for line in result.categories}
    assert counts == {"child_0_6": 1, "adult_7_79": 2, "over_80": 1, "ald_under_80": 1, "ald_80_plus": 1}
    assert result.total == Decimal("6") + 2 * 5 + 46 + 46 + 70


def test_fmt_2026_table_flags_unsettled_rows(tables: ForfaitTables) -> None:
    patients = [
        Patient("a", dt.date(2020, 1, 1)),
        Patient("b", dt.date(1960, 1, 1)),
        Patient("c", dt.date(1948, 1, 1)),  # 78
        Patient("d", dt.date(1940, 1, 1)),
        Patient("e", dt.date(1990, 1, 1), ald=True),
        Patient("f", dt.date(1940, 1, 1), ald=True, c2s=True),
    ]
    result = estimate(tables, patients, 2026)
    by_name = {line.category: line for line in result.categories}
    assert [line.category for line in result.categories] == [
        "child_0_6",
        "adult_7_74",
        "adult_75_79",
        "over_80",
        "ald_under_80",
        "ald_80_plus",
        "not_seen_2_years",
    ]
    assert {name: line.amount_per_patient for name, line in by_name.items()} == {
        "not_seen_2_years": Decimal("5"),
        "child_0_6": Decimal("15"),
        "adult_7_74": Decimal("5"),
        "adult_75_79": Decimal("15"),
        "over_80": Decimal("55"),
        "ald_under_80": Decimal("55"),
        "ald_80_plus": Decimal("100"),
    }
    assert by_name["ald_80_plus"].settled
    assert not by_name["ald_under_80"].settled
    assert not result.settled
    assert result.c2s_total == Decimal("10")
    assert result.total == Decimal("15") + 5 + 15 + 55 + 55 + 100 + 10
    data = estimate_to_dict(result)
    assert data["scheme"] == "FMT"
    assert data["settled"] is False
    assert any("non confirmé" in note for note in data["notes"])


def test_fpmt_c2s_majoration_is_not_invented(tables: ForfaitTables) -> None:
    result = estimate(tables, [Patient("a", dt.date(1960, 1, 1), c2s=True)], 2025)
    assert result.c2s_total == 0
    assert any("C2S" in note for note in result.notes)


def test_duplicates_and_unborn_patients(tables: ForfaitTables) -> None:
    patients = [*ald_patients(2), *ald_patients(2), Patient("later", dt.date(2025, 3, 1))]
    result = estimate(tables, patients, 2024)
    assert result.patients == 2
    assert result.ignored == 1


def test_no_table_for_the_year(tables: ForfaitTables) -> None:
    with pytest.raises(EstimateError):
        estimate(tables, [], 2010)


# -- what-if levers -----------------------------------------------------------------------------


def test_what_if_levers(tables: ForfaitTables) -> None:
    result = estimate(tables, [], 2024, what_if_ald=10, what_if_80=3)
    levers = {lever.lever: lever for lever in result.what_if}
    assert levers["ald"].total == Decimal("460")
    assert levers["over_80"].total == Decimal("138")
    assert estimate(tables, [], 2023, what_if_ald=10).what_if[0].total == Decimal("420")
    fmt = estimate(tables, [], 2026, what_if_ald=2).what_if[0]
    assert fmt.total == Decimal("110")
    assert not fmt.settled


def test_what_if_includes_the_rosp_growth(tables: ForfaitTables) -> None:
    result = estimate(tables, ald_patients(800), 2025, rosp_points=5, what_if_ald=200)
    lever = result.what_if[0]
    assert lever.forfait_gain == Decimal("9200")
    assert lever.rosp_gain == Decimal("8.75")  # 35 € → 43,75 €
    assert lever.total == Decimal("9208.75")


# -- patientèle and candidates from the history -------------------------------------------------

DR = "10001"
OTHER = "20002"
_seq = iter(range(1, 10_000))


def event(
    day: str,
    patient: str,
    codes: str = "G",
    *,
    practitioner: str = DR,
    birth: str = "1940-01-01",
    mt: MtStatus = MtStatus.SELF,
    **values: object,
) -> Event:
    return Event(
        invoice_id=f"F{next(_seq)}",
        date=dt.date.fromisoformat(day),
        practitioner_id=practitioner,
        patient_id=patient,
        birth_date=dt.date.fromisoformat(birth),
        codes=tuple(codes.split("+")),
        mt_status=mt,
        **values,  # type: ignore[arg-type]
    )


def test_patientele_is_the_latest_invoice_status() -> None:
    events = [
        event("2024-02-01", "own", ald=True),
        event("2024-03-01", "declared", mt=MtStatus.NONE, declares_mt=True),
        event("2024-03-01", "never", mt=MtStatus.NONE),
        event("2024-02-01", "left"),
        event("2024-05-01", "left", practitioner=OTHER, mt=MtStatus.OTHER, declares_mt=True),
        event("2025-01-05", "next-year", mt=MtStatus.NONE, declares_mt=True),
        event("2024-06-01", "cancelled-only", status=Status.CANCELLED),
        event("2024-02-01", "then-unknown"),
        event("2024-04-01", "then-unknown", mt=MtStatus.UNKNOWN),
        event("2024-02-01", "went-elsewhere"),
        event("2024-04-01", "went-elsewhere", mt=MtStatus.OTHER),
    ]
    patients = mt_patientele(events, DR, 2024)
    assert [patient.patient_id for patient in patients] == ["declared", "own", "then-unknown"]
    assert patients[1].ald


def test_candidates_from_the_history(tables: ForfaitTables) -> None:
    home = {"place": Place.DOMICILE}
    events = [
        # ALD patient without MT, 3 consultations in 12 months
        event("2024-01-10", "ald-no-mt", mt=MtStatus.NONE, ald=True, birth="1980-01-01"),
        event("2024-05-10", "ald-no-mt", mt=MtStatus.NONE, ald=True, birth="1980-01-01"),
        event("2024-09-10", "ald-no-mt", mt=MtStatus.NONE, ald=True, birth="1980-01-01"),
        # only 2 in the 12 months ending 2024-12-31
        event("2023-06-10", "ald-old", mt=MtStatus.NONE, ald=True),
        event("2024-02-10", "ald-old", mt=MtStatus.NONE, ald=True),
        event("2024-03-10", "ald-old", mt=MtStatus.NONE, ald=True),
        # own 85-year-old ALD patient: VL in Q1, plain VG in Q2, nothing in Q3, Q4
        event("2024-02-05", "old-ald", "VL+MD", ald=True, **home),
        event("2024-05-06", "old-ald", "VG+MD", ald=True, **home),
        event("2024-12-20", "old-ald", "G", ald=True),
        # palliative patient visited with VG twice
        event("2024-10-01", "palli", "VG+MD", palliative=True, **home),
        event("2024-11-01", "palli", "VG+MD", palliative=True, **home),
        event("2024-11-15", "palli", "VSP+MD", palliative=True, **home),
    ]
    found = find_candidates(events, tables, DR, 2024)
    kinds = [(item.kind, item.patient_id, item.act, item.amount) for item in found]
    assert kinds == [
        ("mt_declare", "ald-no-mt", "IMT", Decimal("33.50")),  # 60 − 26,50
        ("vl_quarter", "old-ald", "VL au lieu de VG", Decimal("33.50")),
        ("vl_quarter", "old-ald", "VL", Decimal("60")),
        ("vl_quarter", "old-ald", "VL", Decimal("60")),
        ("vsp", "palli", "VSP au lieu de VG", Decimal("67.00")),
    ]
    assert found[0].yearly == Decimal("46")
    assert len(found[-1].invoices) == 2


def test_candidates_stop_at_the_end_of_the_history(tables: ForfaitTables) -> None:
    events = [event("2026-01-06", "old", "G", ald=True)]
    found = find_candidates(events, tables, DR, 2026)
    assert [(item.kind, item.date) for item in found] == [("vl_quarter", dt.date(2026, 1, 6))]


# -- patient list file --------------------------------------------------------------------------


def test_read_patients_csv_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "patients.csv"
    path.write_text(
        "patient_id;birth_date;ald;c2s\nA;01/02/1950;oui;non\nB;1990-13-01;non;\nC;1940-01-01;peut-être;1\n",
        encoding="cp1252",
    )
    patients, errors = read_patients(path)
    assert patients == [Patient("A", dt.date(1950, 2, 1), True, False)]
    assert [(error.line, error.field) for error in errors] == [(3, "birth_date"), (4, "ald")]


def test_read_patients_json(tmp_path: Path) -> None:
    path = tmp_path / "patients.json"
    path.write_text(json.dumps([{"patient_id": 7, "birth_date": "1970-01-01", "ald": True, "c2s": True}]))
    patients, errors = read_patients(path)
    assert patients == [Patient("7", dt.date(1970, 1, 1), True, True)] and not errors


# -- CLI ----------------------------------------------------------------------------------------


def run(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


def test_cli_json_seed(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("patient_id,birth_date,ald\n" + "".join(f"P{i},1970-01-01,1\n" for i in range(10)))
    for year, total in ((2023, 420.0), (2024, 460.0)):
        result = run("forfait", str(path), "--year", str(year), "--format", "json")
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        data = json.loads(result.stdout)  # type: ignore[attr-defined]
        assert data["year"] == year and data["patients"] == 10 and data["total"] == total
        [ald] = data["categories"]  # only the categories that have patients, as in SPEC §6
        assert ald == {**ald, "category": "ald_under_80", "patients": 10, "amount_per_patient": total / 10}
        assert ald["total"] == total
        assert len(data["table"]) == 5


def test_cli_text_what_if_and_rosp(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("patient_id;birth_date;ald\n" + "".join(f"P{i};1970-01-01;1\n" for i in range(1000)))
    result = run("forfait", str(path), "--year", "2025", "--rosp-points", "5", "--what-if-ald", "10")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    out = result.stdout  # type: ignore[attr-defined]
    assert "46\u00a0000,00\u00a0€" in out
    assert "43,75\u00a0€" in out
    # 10 × 46 € of forfait, and the ROSP grows: 5 × 1010/800 × 7 = 44,19 € instead of 43,75 €
    assert "10 patient(s) en ALD (moins de 80 ans) de plus : 460,44\u00a0€" in out
    assert "dont ROSP 0,44\u00a0€" in out


def test_cli_history_of_the_example_every_year() -> None:
    for year in (2023, 2024, 2025, 2026):
        result = run(
            "forfait",
            "--invoices",
            str(EXAMPLE),
            "--practitioner",
            "10101234567",
            "--year",
            str(year),
            "--format",
            "json",
        )
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        data = json.loads(result.stdout)  # type: ignore[attr-defined]
        assert data["year"] == year
        assert data["patients"] == sum(item["patients"] for item in data["categories"])
        if year < 2026:
            assert data["patients"] == 0  # the example starts in 2026
    assert data["patients"] > 0 and data["total"] > 0
    assert data["settled"] is False


def test_cli_needs_one_source_and_one_practitioner(tmp_path: Path) -> None:
    assert run("forfait", "--year", "2024").exit_code == 2  # type: ignore[attr-defined]
    result = run("forfait", "--invoices", str(EXAMPLE), "--year", "2026")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "--practitioner" in result.stderr  # type: ignore[attr-defined]


def test_cli_html(tmp_path: Path) -> None:
    pytest.importorskip("jinja2")
    path = tmp_path / "p.csv"
    path.write_text("patient_id,birth_date,ald\n<script>x</script>,1970-01-01,1\n")
    result = run("forfait", str(path), "--year", "2024", "--format", "html")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "<!DOCTYPE html>" in result.stdout  # type: ignore[attr-defined]
    assert "46,00" in result.stdout  # type: ignore[attr-defined]


# -- ledger -------------------------------------------------------------------------------------


def test_cli_forfait_from_the_ledger(tmp_path: Path) -> None:
    ledger = tmp_path / "registre.sqlite"
    recorded = run("check", str(EXAMPLE), "--ledger", str(ledger), "--record", "--fail-on", "never")
    assert recorded.exit_code == 0, recorded.output  # type: ignore[attr-defined]
    from_files = run(
        "forfait",
        "--invoices",
        str(EXAMPLE),
        "--practitioner",
        "10102345678",
        "--year",
        "2026",
        "--format",
        "json",
    )
    for year in (2023, 2024, 2025, 2026):
        result = run(
            "forfait",
            "--ledger",
            str(ledger),
            "--practitioner",
            "10102345678",
            "--year",
            str(year),
            "--format",
            "json",
        )
        assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
        data = json.loads(result.stdout)  # type: ignore[attr-defined]
        assert [item["category"] for item in data["table"]][:2] == (
            ["child_0_6", "adult_7_79"] if year < 2026 else ["child_0_6", "adult_7_74"]
        )
    assert data == json.loads(from_files.stdout)  # type: ignore[attr-defined]
    assert data["patients"] == 29
    assert {item["kind"] for item in data["candidates"]} == {"mt_declare", "vl_quarter"}
    text = run("forfait", "--ledger", str(ledger), "--practitioner", "10102345678", "--year", "2026")
    assert "Patients en ALD sans médecin traitant vus 3 fois ou plus en 12 mois (1)" in text.stdout  # type: ignore[attr-defined]


def test_missing_ledger_is_an_error(tmp_path: Path) -> None:
    result = run("forfait", "--ledger", str(tmp_path / "absent.sqlite"), "--year", "2026")
    assert result.exit_code == 2  # type: ignore[attr-defined]


def test_c2s_is_kept_when_a_later_export_has_no_c2s_column() -> None:
    from billing_rules.api.validator import Validator
    from billing_rules.domain.forfait.levers import mt_patientele

    base = {
        "practitioner_id": "1",
        "patient_id": "P",
        "birth_date": "1960-01-01",
        "mt_status": "self",
        "codes": "G",
    }
    with_column = Validator.invoice({**base, "invoice_id": "A", "date": "2025-03-03", "c2s": "oui"})
    without_column = Validator.invoice({**base, "invoice_id": "B", "date": "2025-09-01"}, seq=1)
    (patient,) = mt_patientele([with_column, without_column], "1", 2025)
    assert patient.c2s is True
    declared_no = Validator.invoice({**base, "invoice_id": "C", "date": "2025-11-01", "c2s": "non"}, seq=2)
    (patient,) = mt_patientele([with_column, without_column, declared_no], "1", 2025)
    assert patient.c2s is False
