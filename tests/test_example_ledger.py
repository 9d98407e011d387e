"""The example ledger: the practice's 2023-2025 history imported, then the example week recorded.

Issue 6 asks ``forfait`` on the example ledger to print per-category counts, amounts and total for
2023, 2024, 2025 and 2026. Everything goes through the command line (``ledger import``, ``check
--ledger --record``, ``forfait --ledger``), as a practice would run it; the euros are compared with
the rates of the forfait tables the estimator reads, never with numbers written here.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import json
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import tomllib
from click.testing import CliRunner
from test_examples import assert_spec_report

from billing_rules.api.validator import Validator
from billing_rules.cli import main
from billing_rules.domain.forfait.tables import C2S_CODE, CATEGORIES, ForfaitTables
from billing_rules.money import format_euros

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
WEEK = EXAMPLES / "week-2026-01.csv"
HISTORY = EXAMPLES / "history-2023-2025.csv"
EXPECTED = tomllib.loads((EXAMPLES / "week-2026-01.expected.toml").read_text(encoding="utf-8"))
PRACTITIONERS = ("10101234567", "10102345678", "10103456789", "10104567890")
DR_A, DR_B = PRACTITIONERS[0], PRACTITIONERS[1]
YEARS = (2023, 2024, 2025, 2026)
FPMT = ("child_0_6", "adult_7_79", "over_80", "ald_under_80", "ald_80_plus")
FMT = ("child_0_6", "adult_7_74", "adult_75_79", "over_80", "ald_under_80", "ald_80_plus", "not_seen_2_years")


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_history", EXAMPLES / "make_history.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the script's annotations through it
    spec.loader.exec_module(module)
    return module


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream, delimiter=";"))


def _invoke(args: list[str], exit_code: int) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == exit_code, (args, result.output)
    return result.stdout


@pytest.fixture(scope="module")
def tables() -> ForfaitTables:
    """The tables ``forfait`` itself uses (built-in rows plus installed plugins)."""
    return Validator.build(entry_points=True).ruleset.environment.forfaits


@pytest.fixture(scope="module")
def example_ledger(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Build the example ledger the README shows; keep the week's report checked against the history."""
    ledger = str(tmp_path_factory.mktemp("ledger") / "cabinet.sqlite")
    _invoke(["ledger", "import", str(HISTORY), "--ledger", ledger], 0)
    with_history = json.loads(_invoke(["check", str(WEEK), "--ledger", ledger, "--format", "json"], 1))
    _invoke(["check", str(WEEK), "--ledger", ledger, "--record"], 1)
    return {"path": ledger, "week_report": with_history}


@pytest.fixture(scope="module")
def forfaits(example_ledger: dict[str, Any]) -> dict[tuple[str, int], dict[str, Any]]:
    out = {}
    for practitioner in PRACTITIONERS:
        for year in YEARS:
            args = ["forfait", "--ledger", example_ledger["path"], "--practitioner", practitioner]
            out[(practitioner, year)] = json.loads(
                _invoke([*args, "--year", str(year), "--format", "json"], 0)
            )
    return out


# ---- the history file


def test_history_is_what_the_seeded_script_writes() -> None:
    assert _script().build() == HISTORY.read_text(encoding="utf-8")


def test_history_has_the_week_layout_and_its_own_invoice_ids() -> None:
    # The week's layout less the 2026 optional columns (no GL1 before 2026), plus the forfait's c2s.
    week_columns = [name for name in WEEK.read_text(encoding="utf-8").splitlines()[0].split(";")]
    history_columns = [name for name in week_columns if name not in ("discharge_date", "km")] + ["c2s"]
    assert HISTORY.read_text(encoding="utf-8").splitlines()[0] == ";".join(history_columns)
    assert HISTORY.stat().st_size < 1_500_000
    history, week = _rows(HISTORY), _rows(WEEK)
    keys = [(row["practitioner_id"], row["invoice_id"]) for row in history]
    assert len(set(keys)) == len(keys)
    assert not set(keys) & {(row["practitioner_id"], row["invoice_id"]) for row in week}
    assert all(row["invoice_id"].startswith(f"H-{row['date'][:4]}-") for row in history)
    assert {row["practitioner_id"] for row in history} == set(PRACTITIONERS)
    assert min(row["date"] for row in history) >= "2023-01-01"
    assert max(row["date"] for row in history) <= "2025-12-31"
    per_year: dict[tuple[str, str], int] = defaultdict(int)
    for row in history:
        per_year[(row["practitioner_id"], row["date"][:4])] += 1
    assert all(count >= 300 for count in per_year.values()), per_year


def test_week_patients_keep_their_identity_in_the_history() -> None:
    week = {row["patient_id"]: row for row in _rows(WEEK)}
    shared = 0
    for row in _rows(HISTORY):
        known = week.get(row["patient_id"])
        if known is None:
            continue
        shared += 1
        for column in ("birth_date", "ald", "neurodegenerative"):
            assert row[column] == known[column], (row["invoice_id"], column)
        # Palliative care begins at some date: never before the week for a patient not in it then.
        assert known["palliative"] == "oui" or row["palliative"] == "non", row["invoice_id"]
        assert row["c2s"] == "non"
    assert shared > 300


def test_history_errors_are_exactly_the_deliberate_ones() -> None:
    script = _script()
    script.build()
    report = json.loads(_invoke(["check", str(HISTORY), "--format", "json"], 1))
    assert_spec_report(report)
    assert report["summary"]["input_errors"] == 0
    found = sorted(
        (finding["invoice_id"], finding["rule"])
        for finding in report["findings"]
        if finding["severity"] != "opportunity" or finding["rule"].startswith("AMOUNT-")
    )
    assert found == sorted(script.DELIBERATE)
    assert {rule for _, rule in found} == {
        "AMOUNT-BELOW",
        "MOP-MT",
        "VL-QUARTER",
        "VL-PALLIATIVE",
        "SNP-MT",
        "IMT-MT",
    }
    # Mostly compliant: forgotten majorations and VL are a few percent of the invoices.
    assert report["summary"]["opportunities"] < report["summary"]["events"] * 0.05


# ---- the week checked against the history


def test_week_with_history_follows_spec_and_differs_only_by_the_designed_cases(
    example_ledger: dict[str, Any], tables: ForfaitTables
) -> None:
    report = example_ledger["week_report"]
    assert_spec_report(report)
    found = {(f["practitioner_id"], f["invoice_id"], f["rule"]) for f in report["findings"]}
    reviewed = {
        (item["practitioner_id"], item["invoice_id"], rule)
        for item in EXPECTED["invoice"]
        for rule in item["rules"]
    }
    # P1882 got IMT from Dr B on 2024-03-12 (history): Dr A's IMT of the week is a second one.
    # P0057 saw Dr B twice in 2025 (history): the 3rd consultation in 12 months is the week's first.
    assert found - reviewed == {(DR_A, "F-2026-0051", "IMT-ONCE"), (DR_B, "F-2026-0025", "OPP-MT-DECLARE")}
    assert reviewed - found == {(DR_B, "F-2026-0064", "OPP-MT-DECLARE")}
    imt_once = next(f for f in report["findings"] if f["rule"] == "IMT-ONCE" and f["practitioner_id"] == DR_A)
    assert "12/03/2024" in imt_once["message"]
    imt = tables.tariffs.on("IMT", dt.date(2026, 1, 7))
    assert imt is not None
    summary = report["summary"]
    assert summary["events"] == EXPECTED["events"]
    assert (summary["errors"], summary["warnings"], summary["opportunities"]) == (
        EXPECTED["errors"] + 1,
        EXPECTED["warnings"],
        EXPECTED["opportunities"],
    )
    assert Decimal(str(summary["amount_at_risk"])) == Decimal(str(EXPECTED["amount_at_risk"])) + imt
    assert Decimal(str(summary["missed_revenue"])) == Decimal(str(EXPECTED["missed_revenue"]))


# ---- forfait on the example ledger


def test_forfait_counts_and_prices_every_category_every_year(
    forfaits: dict[tuple[str, int], dict[str, Any]], tables: ForfaitTables
) -> None:
    for (practitioner, year), result in forfaits.items():
        day = dt.date(year, 12, 31)
        where = (practitioner, year)
        assert result["year"] == year
        assert result["scheme"] == ("FMT" if year >= 2026 else "FPMT"), where
        lines = {line["category"]: line for line in result["categories"]}
        assert tuple(name for name in lines) == (FMT if year >= 2026 else FPMT), where
        for name, line in lines.items():
            rate = tables.amount(name, day)
            assert rate is not None and line["patients"] > 0, (where, name)
            assert Decimal(str(line["amount_per_patient"])) == rate, (where, name)
            assert Decimal(str(line["total"])) == rate * line["patients"], (where, name)
        c2s_rate = tables.tariffs.on(C2S_CODE, day) or Decimal("0")
        assert result["c2s"]["patients"] > 0, where
        assert Decimal(str(result["c2s"]["total"])) == c2s_rate * result["c2s"]["patients"], where
        total = sum((Decimal(str(line["total"])) for line in lines.values()), Decimal("0"))
        assert Decimal(str(result["total"])) == total + Decimal(str(result["c2s"]["total"])), where
        assert result["patients"] == sum(line["patients"] for line in lines.values()), where
    # The C2S majoration exists from the FMT on; the FPMT years say it is not counted.
    assert tables.tariffs.on(C2S_CODE, dt.date(2025, 12, 31)) is None
    assert all(forfaits[(p, 2026)]["c2s"]["total"] > 0 for p in PRACTITIONERS)
    assert set(CATEGORIES) >= set(FMT) | set(FPMT)


def test_forfait_patientele_grows_and_follows_the_changes_of_mt(
    forfaits: dict[tuple[str, int], dict[str, Any]],
) -> None:
    for practitioner in PRACTITIONERS:
        sizes = [forfaits[(practitioner, year)]["patients"] for year in YEARS]
        assert sizes == sorted(sizes) and sizes[0] >= 200, (practitioner, sizes)

    # P0057, ALD without MT seen 5 times by Dr B in 12 months: a lever of 2026, not yet of 2025.
    def declare(practitioner: str, year: int) -> set[str]:
        return {
            item["patient_id"]
            for item in forfaits[(practitioner, year)]["candidates"]
            if item["kind"] == "mt_declare"
        }

    assert "P0057" in declare(DR_B, 2026) and "P0057" not in declare(DR_B, 2025)
    assert len(declare(DR_A, 2025)) == 1  # the ALD patient Dr A saw 3 times in 2025


def test_forfait_moves_a_patient_who_declares_another_mt(example_ledger: dict[str, Any]) -> None:
    from billing_rules.cli.forfait import ledger_events
    from billing_rules.domain.forfait.levers import mt_patientele

    events = ledger_events(example_ledger["path"])

    def ids(practitioner: str, year: int) -> set[str]:
        return {patient.patient_id for patient in mt_patientele(events, practitioner, year)}

    # P1882 declared Dr B with the IMT of 2024-03-12, then Dr A in the example week.
    assert "P1882" not in ids(DR_B, 2023)
    assert "P1882" in ids(DR_B, 2024) and "P1882" in ids(DR_B, 2025)
    assert "P1882" not in ids(DR_B, 2026) and "P1882" in ids(DR_A, 2026)


def test_forfait_text_prints_counts_amounts_and_total_for_four_years(
    example_ledger: dict[str, Any], forfaits: dict[tuple[str, int], dict[str, Any]]
) -> None:
    for year in YEARS:
        text = _invoke(
            ["forfait", "--ledger", example_ledger["path"], "--practitioner", DR_A, "--year", str(year)], 0
        )
        result = forfaits[(DR_A, year)]
        assert f"Forfait médecin traitant {year}" in text
        assert f"Patientèle MT au 31/12/{year} : {result['patients']} patient(s)" in text
        total_line = next(line for line in text.splitlines() if line.strip().startswith("Total annuel"))
        assert str(result["patients"]) in total_line
        assert total_line.endswith(format_euros(Decimal(str(result["total"]))))
        for line in result["categories"]:
            row = next(row for row in text.splitlines() if row.strip().startswith(line["label"]))
            assert f" {line['patients']} " in row, row
            assert row.endswith(format_euros(Decimal(str(line["total"])))), row


# ---- the README's excerpts of issue 15 §2 (text report, explain) are real output


def _readme_block(after: str) -> list[str]:
    """The lines of the README's first fenced block after ``after`` (``...`` lines left out)."""
    text = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    where = text.index(after)
    start = text.rindex("```", 0, where) if after.startswith("$ ") else text.index("```", where)
    block = text[start : text.index("```", start + 3)]
    lines = [line for line in block.splitlines()[1:] if line.strip() and line.strip() != "..."]
    assert lines
    return [line for line in lines if not line.startswith("$ ")]


def test_readme_explain_excerpt_is_real(example_ledger: dict[str, Any]) -> None:
    out = _invoke(
        ["explain", str(WEEK), "F-2026-0051", "--ledger", example_ledger["path"], "--practitioner", DR_A], 0
    )
    lines = out.replace("\u00a0", " ").splitlines()
    for line in _readme_block("$ billing-rules explain examples/week-2026-01.csv F-2026-0051"):
        assert line in lines, line


def test_readme_text_report_excerpt_is_real() -> None:
    out = _invoke(["check", str(WEEK)], 1).replace("\u00a0", " ").splitlines()
    for line in _readme_block("An excerpt of the text report of `examples/week-2026-01.csv`:"):
        assert line in out, line
