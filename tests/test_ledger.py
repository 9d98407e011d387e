"""The ledger's SPEC §3 semantics, on SQLite and PostgreSQL alike (``ledger_target`` runs each test on
both back ends; see ``ledger_fixtures.py`` for when PostgreSQL runs).

Cross-day cases go through the command line (``check --ledger --record``), like a practice would.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import tomllib
from click.testing import CliRunner, Result

from billing_rules import cli
from billing_rules.api.validator import Validator
from billing_rules.ledger import HistoryRequest, Ledger, open_ledger
from billing_rules.ledger.common import plan_windows

CASES_DIR = Path(__file__).parent / "rules"
COLUMNS = (
    "invoice_id",
    "date",
    "time",
    "practitioner_id",
    "patient_id",
    "birth_date",
    "ald",
    "neurodegenerative",
    "palliative",
    "mt_status",
    "declares_mt",
    "place",
    "homebound",
    "codes",
    "regulated",
    "referral_at",
    "status",
)


def write_csv(path: Path, rows: Sequence[dict[str, str]], defaults: dict[str, str] | None = None) -> str:
    defaults = defaults or {}
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(COLUMNS)
        for row in rows:
            merged = {**defaults, **row}
            writer.writerow([merged.get(column, "") for column in COLUMNS])
    return str(path)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


def check(target: str, *files: str, record: bool = False) -> dict[str, Any]:
    args = ["check", *files, "--ledger", target, "--format", "json", "--fail-on", "never"]
    if record:
        args.append("--record")
    result = run(*args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def fired(report: dict[str, Any], rule: str) -> list[str]:
    return [finding["invoice_id"] for finding in report["findings"] if finding["rule"] == rule]


def stats(target: str) -> dict[str, Any]:
    result = run("ledger", "stats", "--ledger", target, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def export(target: str, fmt: str = "csv") -> str:
    result = run("ledger", "export", "--ledger", target, "--format", fmt)
    assert result.exit_code == 0, result.output
    return result.stdout


# --- cross-day cases of every frequency rule, through the command line ------------------------

SNP_DEFAULTS = {
    "practitioner_id": "10001",
    "birth_date": "1985-04-02",
    "place": "cabinet",
    "mt_status": "other",
    "regulated": "oui",
    "codes": "G+SNP",
}


def _snp_rows(days: Sequence[str], first: int) -> list[dict[str, str]]:
    rows = []
    number = first
    for day in days:
        for hour in ("09:00", "10:30", "14:00", "16:30"):
            rows.append(
                {"invoice_id": f"S{number:02d}", "date": day, "time": hour, "patient_id": f"P{number:02d}"}
            )
            number += 1
    return rows


def test_snp_week_spanning_two_files(ledger_target: str, tmp_path: Path) -> None:
    # Monday to Wednesday: 12 SNP, recorded. Thursday and Friday: 8 more (20: fine), then Saturday's 21st.
    first = write_csv(
        tmp_path / "lun-mer.csv", _snp_rows(["2024-03-04", "2024-03-05", "2024-03-06"], 1), SNP_DEFAULTS
    )
    assert fired(check(ledger_target, first, record=True), "SNP-WEEK") == []
    second_rows = _snp_rows(["2024-03-07", "2024-03-08"], 13) + [
        {"invoice_id": "S21", "date": "2024-03-09", "time": "09:30", "patient_id": "P21"}
    ]
    second = write_csv(tmp_path / "jeu-sam.csv", second_rows, SNP_DEFAULTS)
    assert fired(check(ledger_target, second), "SNP-WEEK") == ["S21"]
    # Alone, the second file is within the limit: the ledger made the difference.
    assert fired(check(str(tmp_path / "vide.db"), second), "SNP-WEEK") == []
    # The next Monday is another civil week.
    monday = write_csv(
        tmp_path / "lundi.csv",
        [{"invoice_id": "S22", "date": "2024-03-11", "time": "09:00", "patient_id": "P22"}],
        SNP_DEFAULTS,
    )
    check(ledger_target, second, record=True)
    assert fired(check(ledger_target, monday), "SNP-WEEK") == []


VL_DEFAULTS = {
    "practitioner_id": "10001",
    "patient_id": "P-VL",
    "birth_date": "1940-01-01",
    "ald": "oui",
    "mt_status": "self",
    "place": "domicile",
    "codes": "VL+MD",
}


def test_vl_quarter_across_months(ledger_target: str, tmp_path: Path) -> None:
    february = write_csv(tmp_path / "fev.csv", [{"invoice_id": "V1", "date": "2024-02-05"}], VL_DEFAULTS)
    march = write_csv(tmp_path / "mars.csv", [{"invoice_id": "V2", "date": "2024-03-20"}], VL_DEFAULTS)
    april = write_csv(tmp_path / "avril.csv", [{"invoice_id": "V3", "date": "2024-04-02"}], VL_DEFAULTS)
    assert fired(check(ledger_target, february, record=True), "VL-QUARTER") == []
    report = check(ledger_target, march)
    assert fired(report, "VL-QUARTER") == ["V2"]
    assert "05/02/2024" in report["findings"][0]["message"]
    # SPEC §2: the window's first invoice, from the ledger (both back ends return it).
    window = report["findings"][0]["window"]
    assert (window["first_invoice_id"], window["first_date"]) == ("V1", "2024-02-05")
    assert fired(check(ledger_target, april), "VL-QUARTER") == []  # a new quarter


def test_history_counts_before_the_input_whatever_its_date(ledger_target: str, tmp_path: Path) -> None:
    """SPEC §1 Order: a ledger VL dated later in the quarter still makes the input's VL the 2nd."""
    later = write_csv(tmp_path / "mars.csv", [{"invoice_id": "V2", "date": "2024-03-20"}], VL_DEFAULTS)
    earlier = write_csv(tmp_path / "fev.csv", [{"invoice_id": "V1", "date": "2024-02-05"}], VL_DEFAULTS)
    check(ledger_target, later, record=True)
    assert fired(check(ledger_target, earlier), "VL-QUARTER") == ["V1"]


def test_imt_years_apart(ledger_target: str, tmp_path: Path) -> None:
    defaults = {
        "practitioner_id": "10001",
        "patient_id": "P-IMT",
        "birth_date": "1960-05-01",
        "ald": "oui",
        "mt_status": "none",
        "codes": "IMT",
    }
    first = write_csv(tmp_path / "2023.csv", [{"invoice_id": "I1", "date": "2023-06-12"}], defaults)
    second = write_csv(
        tmp_path / "2025.csv",
        [{"invoice_id": "I2", "date": "2025-03-03", "practitioner_id": "20002"}],
        defaults,
    )
    assert fired(check(ledger_target, first, record=True), "IMT-ONCE") == []
    report = check(ledger_target, second)
    assert fired(report, "IMT-ONCE") == ["I2"]
    assert "12/06/2023" in report["findings"][0]["message"]
    window = report["findings"][0]["window"]
    assert (window["first_invoice_id"], window["first_date"], window["first_practitioner_id"]) == (
        "I1",
        "2023-06-12",
        "10001",
    )


def test_vl_first_ever(ledger_target: str, tmp_path: Path) -> None:
    defaults = {
        "practitioner_id": "10001",
        "patient_id": "P-NEW",
        "birth_date": "1950-01-01",
        "ald": "oui",
        "mt_status": "none",
        "declares_mt": "oui",
        "homebound": "oui",
        "place": "domicile",
        "codes": "VL",
    }
    first = write_csv(tmp_path / "a.csv", [{"invoice_id": "N1", "date": "2024-01-10"}], defaults)
    second = write_csv(tmp_path / "b.csv", [{"invoice_id": "N2", "date": "2025-05-02"}], defaults)
    check(ledger_target, first, record=True)
    assert fired(check(ledger_target, second), "VL-FIRST") == ["N2"]


def test_gl_year_across_months(ledger_target: str, tmp_path: Path) -> None:
    defaults = {
        "practitioner_id": "10001",
        "patient_id": "P-GL",
        "birth_date": "1935-01-01",
        "mt_status": "self",
        "codes": "GL1",
    }
    february = write_csv(tmp_path / "fev.csv", [{"invoice_id": "G1", "date": "2026-02-03"}], defaults)
    october = write_csv(tmp_path / "oct.csv", [{"invoice_id": "G2", "date": "2026-10-05"}], defaults)
    next_year = write_csv(tmp_path / "2027.csv", [{"invoice_id": "G3", "date": "2027-01-05"}], defaults)
    check(ledger_target, february, record=True)
    assert fired(check(ledger_target, october), "GL-YEAR") == ["G2"]
    assert fired(check(ledger_target, next_year), "GL-YEAR") == []


def test_opp_mt_declare_over_twelve_months(ledger_target: str, tmp_path: Path) -> None:
    defaults = {
        "practitioner_id": "10001",
        "patient_id": "P-ALD",
        "birth_date": "1970-03-01",
        "ald": "oui",
        "mt_status": "none",
        "codes": "G",
    }
    june = write_csv(tmp_path / "juin.csv", [{"invoice_id": "C1", "date": "2024-06-10"}], defaults)
    november = write_csv(tmp_path / "nov.csv", [{"invoice_id": "C2", "date": "2024-11-04"}], defaults)
    assert fired(check(ledger_target, june, record=True), "OPP-MT-DECLARE") == []
    assert fired(check(ledger_target, november, record=True), "OPP-MT-DECLARE") == []
    within = write_csv(tmp_path / "mai.csv", [{"invoice_id": "C3", "date": "2025-05-20"}], defaults)
    assert fired(check(ledger_target, within), "OPP-MT-DECLARE") == ["C3"]
    # 12 months ending on 2025-06-10 start after 2024-06-10: only the November visit is inside.
    beyond = write_csv(tmp_path / "juin25.csv", [{"invoice_id": "C4", "date": "2025-06-10"}], defaults)
    assert fired(check(ledger_target, beyond), "OPP-MT-DECLARE") == []
    # Another practitioner's visits do not count (per patient and practitioner).
    other = write_csv(
        tmp_path / "autre.csv",
        [{"invoice_id": "C5", "date": "2025-05-20", "practitioner_id": "20002"}],
        defaults,
    )
    assert fired(check(ledger_target, other), "OPP-MT-DECLARE") == []


# --- storing: idempotent, counted once, cancelled counted nowhere ------------------------------


def test_recheck_and_rerecord_of_a_recorded_day_change_nothing(ledger_target: str, tmp_path: Path) -> None:
    monday = write_csv(
        tmp_path / "lundi.csv", _snp_rows(["2024-03-04", "2024-03-05", "2024-03-06"], 1), SNP_DEFAULTS
    )
    rows = _snp_rows(["2024-03-07", "2024-03-08"], 13) + [
        {"invoice_id": "S21", "date": "2024-03-09", "time": "09:30", "patient_id": "P21"},
        {
            "invoice_id": "V1",
            "date": "2024-03-07",
            **{k: v for k, v in VL_DEFAULTS.items() if k != "practitioner_id"},
        },
    ]
    thursday = write_csv(tmp_path / "jeudi.csv", rows, SNP_DEFAULTS)
    check(ledger_target, monday, record=True)
    first = check(ledger_target, thursday, record=True)
    before_stats, before_export = stats(ledger_target), export(ledger_target)
    again = check(ledger_target, thursday, record=True)
    assert again == first
    assert fired(again, "SNP-WEEK") == ["S21"] and fired(again, "VL-QUARTER") == []
    assert stats(ledger_target) == before_stats
    assert export(ledger_target) == before_export
    assert before_stats["invoices"] == 22


def test_invoice_in_file_and_ledger_counts_once(ledger_target: str, tmp_path: Path) -> None:
    february = write_csv(tmp_path / "fev.csv", [{"invoice_id": "V1", "date": "2024-02-05"}], VL_DEFAULTS)
    check(ledger_target, february, record=True)
    both = write_csv(
        tmp_path / "t1.csv",
        [{"invoice_id": "V1", "date": "2024-02-05"}, {"invoice_id": "V2", "date": "2024-03-20"}],
        VL_DEFAULTS,
    )
    assert fired(check(ledger_target, both), "VL-QUARTER") == ["V2"]
    # The input's copy replaces the ledger's: moved to April, V1 leaves the first quarter.
    moved = write_csv(
        tmp_path / "t2.csv",
        [{"invoice_id": "V1", "date": "2024-04-05"}, {"invoice_id": "V2", "date": "2024-03-20"}],
        VL_DEFAULTS,
    )
    assert fired(check(ledger_target, moved), "VL-QUARTER") == []


def test_cancelled_invoices_are_stored_and_counted_nowhere(ledger_target: str, tmp_path: Path) -> None:
    cancelled = write_csv(
        tmp_path / "fev.csv", [{"invoice_id": "V1", "date": "2024-02-05", "status": "cancelled"}], VL_DEFAULTS
    )
    march = write_csv(tmp_path / "mars.csv", [{"invoice_id": "V2", "date": "2024-03-20"}], VL_DEFAULTS)
    check(ledger_target, cancelled, record=True)
    assert stats(ledger_target)["cancelled"] == 1
    assert fired(check(ledger_target, march), "VL-QUARTER") == []
    # Billed again under the same number: now it counts; cancelled again: it stops counting.
    billed = write_csv(tmp_path / "fev2.csv", [{"invoice_id": "V1", "date": "2024-02-05"}], VL_DEFAULTS)
    check(ledger_target, billed, record=True)
    assert fired(check(ledger_target, march), "VL-QUARTER") == ["V2"]
    check(ledger_target, cancelled, record=True)
    assert fired(check(ledger_target, march), "VL-QUARTER") == []
    assert stats(ledger_target)["invoices"] == 1


def test_record_stores_only_readable_rows(ledger_target: str, tmp_path: Path) -> None:
    rows = [
        {"invoice_id": "V1", "date": "2024-02-05"},
        {"invoice_id": "V2", "date": "2024-13-05"},
        {"invoice_id": "V1", "date": "2024-02-06"},  # duplicate of the first row: an input error
    ]
    path = write_csv(tmp_path / "fev.csv", rows, VL_DEFAULTS)
    result = run("check", path, "--ledger", ledger_target, "--record", "--format", "json")
    assert result.exit_code == 1
    assert len(json.loads(result.stdout)["input_errors"]) == 2
    exported = list(csv.DictReader(export(ledger_target).splitlines(), delimiter=";"))
    assert [(row["invoice_id"], row["date"]) for row in exported] == [("V1", "2024-02-05")]


def test_record_is_one_transaction_per_file(ledger_target: str, tmp_path: Path) -> None:
    a = write_csv(tmp_path / "a.csv", [{"invoice_id": "V1", "date": "2024-02-05"}], VL_DEFAULTS)
    b = write_csv(tmp_path / "b.csv", [{"invoice_id": "V2", "date": "2024-05-05"}], VL_DEFAULTS)
    check(ledger_target, a, b, record=True)
    assert stats(ledger_target)["invoices"] == 2


def test_record_requires_ledger(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", [{"invoice_id": "V1", "date": "2024-02-05"}], VL_DEFAULTS)
    result = CliRunner().invoke(cli.main, ["check", path, "--record"])
    assert result.exit_code == 2
    assert "--ledger" in result.output


# --- the engine asks once, for what the windows need ---------------------------------------------


class CountingLedger:
    """A ledger wrapper counting history requests."""

    def __init__(self, inner: Ledger) -> None:
        self.inner = inner
        self.label = inner.label
        self.requests: list[HistoryRequest] = []

    def history(self, request: HistoryRequest) -> Any:
        self.requests.append(request)
        return self.inner.history(request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_one_history_query_per_check(
    ledger_target: str, tmp_path: Path, builtin_validator: Validator
) -> None:
    rows = _snp_rows(["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"], 1)
    path = write_csv(tmp_path / "semaine.csv", rows, SNP_DEFAULTS)
    ledger = CountingLedger(open_ledger(ledger_target))
    try:
        builtin_validator.check_paths([path], ledger=ledger, record=True)
        assert len(ledger.requests) == 1
        request = ledger.requests[0]
        assert request.practitioners == {"10001"}
        assert len(request.patients) == 20
        # One query per kind of window (codes × keys), whatever the number of invoices.
        assert len(request.windows) == len(
            {(w.codes, w.by_patient, w.by_practitioner) for w in request.windows}
        )
        snp = [w for w in request.windows if w.codes == frozenset({"SNP"})]
        assert [(str(w.start), str(w.end)) for w in snp] == [("2024-03-04", "2024-03-10")]
    finally:
        ledger.close()


def test_plan_windows_cover_each_counter(builtin_validator: Validator) -> None:
    import datetime as dt

    windows = plan_windows(
        builtin_validator.engine.counters.values(), dt.date(2024, 2, 14), dt.date(2024, 2, 20)
    )
    by_codes = {tuple(sorted(w.codes or ())): w for w in windows}
    assert by_codes[("IMT",)].start is None  # ever
    assert by_codes[("VL",)].start is None  # VL-FIRST (ever) covers VL-QUARTER
    assert (by_codes[("SNP",)].start, by_codes[("SNP",)].end) == (dt.date(2024, 2, 12), dt.date(2024, 2, 25))
    assert (by_codes[("GL1", "GL2", "GL3")].start, by_codes[("GL1", "GL2", "GL3")].end) == (
        dt.date(2024, 1, 1),
        dt.date(2024, 12, 31),
    )
    rolling = next(w for w in windows if w.by_patient and w.by_practitioner)
    assert (rolling.start, rolling.end) == (dt.date(2023, 2, 15), dt.date(2024, 2, 20))


# --- the ledger agrees with in-memory history on every oracle case that has history -------------


def _history_cases() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for case in data.get("case", []):
            if case.get("history"):
                params.append(pytest.param(data.get("defaults", {}), case, id=f"{path.stem}-{case['name']}"))
    return params


@pytest.mark.parametrize(("defaults", "case"), _history_cases())
def test_ledger_history_equals_in_memory_history(
    ledger_target: str, tmp_path: Path, builtin_validator: Validator, defaults: dict, case: dict
) -> None:
    history = [Validator.invoice({**defaults, **row}, seq=index) for index, row in enumerate(case["history"])]
    rows = [{**defaults, **row} for row in case["rows"]]
    events = [Validator.invoice(row, seq=index) for index, row in enumerate(rows)]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    expected = builtin_validator.check_events(events, history=history)
    ledger = open_ledger(ledger_target)
    try:
        ledger.record(history)
        got = builtin_validator.check_paths([str(path)], ledger=ledger)
    finally:
        ledger.close()

    def key(report: Any) -> list[tuple[Any, ...]]:
        return [(f.rule, f.invoice_id, f.amount, f.message) for f in report.findings]

    assert key(got) == key(expected)


# --- ledger commands --------------------------------------------------------------------------------


def _year_of_invoices(tmp_path: Path) -> str:
    rows = []
    for month in range(1, 13):
        for day in (3, 17):
            for practitioner in ("A", "B"):
                rows.append(
                    {
                        "invoice_id": f"{practitioner}-{month:02d}-{day:02d}",
                        "date": f"2024-{month:02d}-{day:02d}",
                        "practitioner_id": practitioner,
                        "patient_id": f"P{month}",
                        "birth_date": "1950-06-30",
                        "codes": "G" if day == 3 else "VG+MD",
                        "place": "cabinet" if day == 3 else "domicile",
                        "status": "cancelled" if (month, day, practitioner) == (5, 17, "B") else "",
                    }
                )
    rows[0]["time"] = "08:15"
    rows[0]["referral_at"] = "2024-01-03T07:30"
    return write_csv(tmp_path / "annee.csv", rows)


def test_import_stats_and_export_round_trip(ledger_target: str, tmp_path: Path) -> None:
    source = _year_of_invoices(tmp_path)
    result = run("ledger", "import", source, "--ledger", ledger_target)
    assert result.exit_code == 0, result.output
    assert "48 factures importées" in result.stderr
    summary = stats(ledger_target)
    assert (summary["invoices"], summary["cancelled"]) == (48, 1)
    assert (summary["first_date"], summary["last_date"]) == ("2024-01-03", "2024-12-17")
    assert {"practitioner_id": "A", "month": "2024-05", "invoices": 2} in summary["per_month"]
    assert len(summary["per_month"]) == 24
    text = run("ledger", "stats", "--ledger", ledger_target)
    assert "Factures : 48 (dont 1 annulées)" in text.stdout and "du 03/01/2024 au 17/12/2024" in text.stdout
    for fmt in ("csv", "jsonl"):
        exported = tmp_path / f"export.{fmt}"
        exported.write_text(export(ledger_target, fmt), encoding="utf-8")
        copy = str(tmp_path / f"copie-{fmt}.db")
        assert run("ledger", "import", str(exported), "--ledger", copy).exit_code == 0
        assert {k: v for k, v in stats(copy).items()} == summary
        assert export(copy, fmt) == exported.read_text(encoding="utf-8")


def test_import_reports_unreadable_rows(ledger_target: str, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "a.csv",
        [{"invoice_id": "V1", "date": "2024-02-05"}, {"invoice_id": "V2", "date": "31/02/2024"}],
        VL_DEFAULTS,
    )
    result = run("ledger", "import", path, "--ledger", ledger_target)
    assert result.exit_code == 1
    assert "ligne 3, champ date" in result.stderr
    assert stats(ledger_target)["invoices"] == 1


def test_import_of_an_unreadable_file_creates_no_ledger(tmp_path: Path) -> None:
    """A file whose header cannot be read is exit 2, and no new, empty SQLite ledger is left behind."""
    path = tmp_path / "a.csv"
    path.write_text(
        "invoice_id,date,practitioner_id,patient_id,birth_date,codes,Date acte\n", encoding="utf-8"
    )
    target = tmp_path / "new.db"
    result = run("ledger", "import", str(path), "--ledger", str(target))
    assert result.exit_code == 2
    assert "Date acte" in result.stderr
    assert not target.exists()


def test_forget_before(ledger_target: str, tmp_path: Path) -> None:
    run("ledger", "import", _year_of_invoices(tmp_path), "--ledger", ledger_target)
    result = run("ledger", "forget", "--before", "2024-07-01", "--ledger", ledger_target)
    assert result.exit_code == 0, result.output
    assert "24 factures antérieures au 01/07/2024 supprimées" in result.stderr
    summary = stats(ledger_target)
    assert (summary["invoices"], summary["first_date"]) == (24, "2024-07-03")
    # Forgotten invoices no longer count: a VL-QUARTER pair across the cut.
    vl = write_csv(tmp_path / "vl.csv", [{"invoice_id": "V1", "date": "2024-06-28"}], VL_DEFAULTS)
    check(ledger_target, vl, record=True)
    run("ledger", "forget", "--before", "2024-06-29", "--ledger", ledger_target)
    late = write_csv(tmp_path / "vl2.csv", [{"invoice_id": "V2", "date": "2024-06-30"}], VL_DEFAULTS)
    assert fired(check(ledger_target, late), "VL-QUARTER") == []


def test_forget_needs_a_valid_date(ledger_target: str) -> None:
    result = CliRunner().invoke(
        cli.main, ["ledger", "forget", "--before", "demain", "--ledger", ledger_target]
    )
    assert result.exit_code == 2
    assert "date invalide" in result.output


# --- the real-time API ----------------------------------------------------------------------------


def _vl(invoice_id: str, day: str, **changes: str) -> dict[str, str]:
    return {**VL_DEFAULTS, "invoice_id": invoice_id, "date": day, **changes}


def test_session_check_one_and_record(ledger_target: str, builtin_validator: Validator) -> None:
    with builtin_validator.session(ledger=ledger_target) as session:
        assert session.check_one(_vl("V1", "2024-02-05")) == []
        # Checked again as the user edits it: still the same invoice, never counted twice.
        assert session.check_one(_vl("V1", "2024-02-06")) == []
        # Another invoice of the quarter: the earlier checked one counts, though not stored.
        assert [f.rule for f in session.check_one(_vl("V2", "2024-03-01"))] == ["VL-QUARTER"]
        assert stats(ledger_target)["invoices"] == 0
        session.record(_vl("V1", "2024-02-06"))
        session.discard(_vl("V2", "2024-03-01"))
        assert session.pending == ()
    with builtin_validator.session(ledger=open_ledger(ledger_target)) as fresh:
        findings = fresh.check_one(_vl("V3", "2024-03-20"))
        assert [f.rule for f in findings] == ["VL-QUARTER"]
        assert "06/02/2024" in findings[0].message
        fresh.discard(_vl("V3", "2024-03-20"))
        # A re-check of the recorded invoice replaces its stored copy.
        assert fresh.check_one(_vl("V1", "2024-02-06")) == []
        fresh.ledger.close()


def test_session_sees_other_workstations_at_once(ledger_target: str, builtin_validator: Validator) -> None:
    with (
        builtin_validator.session(ledger=ledger_target) as desk,
        builtin_validator.session(ledger=ledger_target) as other,
    ):
        assert desk.check_one(_vl("V1", "2024-02-05")) == []
        other.record(_vl("V9", "2024-01-15", practitioner_id="20002"))
        assert [f.rule for f in desk.check_one(_vl("V1", "2024-02-05"))] == ["VL-QUARTER"]


def test_session_rejects_unreadable_invoice(ledger_target: str, builtin_validator: Validator) -> None:
    from billing_rules.api.validator import InvalidInvoice

    with builtin_validator.session(ledger=ledger_target) as session, pytest.raises(InvalidInvoice):
        session.check_one(_vl("V1", "2024-02-30"))


# --- randomized: every window kind, ledger history == in-memory history -------------------------------

EXTRA_RULES = """
rule X-DAY warning "trop de factures ce jour pour ce patient"
  at most 2 per patient per day
end

rule X-ROLL warning "G déjà facturée dans les 2 semaines"
  on G
  at most 1 per patient and practitioner within 2 weeks
end

rule X-CODE warning "trop de ce code cette semaine"
  on G, VG
  at most 3 per code per week
end

rule X-YEARS warning "deux visites à domicile en deux ans"
  on VG
  at most 1 per practitioner and patient within 2 years counting place is domicile
end
"""


@pytest.mark.parametrize("seed", range(3))
def test_random_histories_agree_with_in_memory(ledger_target: str, tmp_path: Path, seed: int) -> None:
    """Window kinds the catalogue lacks too (no ``on``, per code, days, weeks, years): the ledger
    gives the engine exactly the counts the whole history in memory gives."""
    import random

    rules = tmp_path / "extra.rules"
    rules.write_text(EXTRA_RULES, encoding="utf-8")
    validator = Validator.build(rule_files=[rules], entry_points=False)
    rnd = random.Random(seed)
    codes = ["G", "G+SNP", "VG+MD", "VL+MD", "IMT", "G+MOP", "GL1", "APC", "VSP"]

    def invoice(number: int, year: int) -> dict[str, str]:
        return {
            "invoice_id": f"F{number}",
            "date": f"{year}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
            "time": rnd.choice(["", "09:00", "14:30", "21:00"]),
            "practitioner_id": rnd.choice(["A", "B"]),
            "patient_id": rnd.choice(["P1", "P2", "P3", "P4"]),
            "birth_date": rnd.choice(["1935-02-01", "1970-06-15", "2021-03-03"]),
            "ald": rnd.choice(["oui", "non"]),
            "mt_status": rnd.choice(["self", "other", "none", "unknown"]),
            "declares_mt": rnd.choice(["oui", "non"]),
            "homebound": rnd.choice(["oui", "non"]),
            "place": rnd.choice(["cabinet", "domicile", "ehpad"]),
            "codes": rnd.choice(codes),
            "regulated": rnd.choice(["oui", "non"]),
            "status": rnd.choice(["billed"] * 5 + ["cancelled"]),
        }

    history_rows = [invoice(n, rnd.choice([2024, 2025, 2026])) for n in range(150)]
    # Some input invoices are copies (same number) of history ones: the input's copy replaces them.
    input_rows = [invoice(n, 2026) for n in range(140, 200)]
    history = [Validator.invoice(row, seq=index) for index, row in enumerate(history_rows)]
    events = [Validator.invoice(row, seq=index) for index, row in enumerate(input_rows)]
    expected = validator.check_events(events, history=history)
    path = write_csv(tmp_path / "jour.csv", input_rows)
    ledger = open_ledger(ledger_target)
    try:
        ledger.record(history)
        got = validator.check_paths([path], ledger=ledger)
        with validator.session(ledger=ledger) as session:
            # Real-time: each input invoice alone against the ledger gives what a one-invoice check gives.
            for event in events[:15]:
                alone = validator.check_events([event], history=[h for h in history if h.key != event.key])
                assert [(f.rule, f.message) for f in session.check_one(event)] == [
                    (f.rule, f.message) for f in alone.findings
                ]
                session.discard(event)
    finally:
        ledger.close()
    assert [(f.rule, f.invoice_id, f.amount, f.message) for f in got.findings] == [
        (f.rule, f.invoice_id, f.amount, f.message) for f in expected.findings
    ]
    assert {f.rule for f in got.findings} & {"X-DAY", "X-ROLL", "X-CODE", "X-YEARS"}
