"""``rules changes``: the changelog of the texts, derived from the dates of the rule files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from click.testing import CliRunner

from billing_rules.api.validator import Validator
from billing_rules.cli import EXIT_ERROR, main
from billing_rules.domain.changes import ChangeKind, ChangeWhat, changes, texts_date


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["rules", "changes", *args, "--no-plugins"])
    return result.exit_code, result.output


def _json(*args: str) -> dict:
    code, output = _run(*args, "--format", "json")
    assert code == 0, output
    return json.loads(output)


def _entries(document: dict, **match: str) -> list[dict]:
    entries = document["changes"]
    return [entry for entry in entries if all(entry[key] == value for key, value in match.items())]


def test_since_2024_lists_she_gl_g_and_the_fmt() -> None:
    document = _json("--since", "2024-01-01")
    # SHE: the code, its tariff and the rules that read it, on 2024-12-22.
    assert _entries(document, code="SHE", kind="code", change="starts", date="2024-12-22")
    assert _entries(document, code="SHE", kind="tariff", change="starts", date="2024-12-22")
    assert _entries(document, code="OPP-SHE", kind="rule", change="starts", date="2024-12-22")
    # GL1-3 from 2026-01-01.
    for code in ("GL1", "GL2", "GL3"):
        assert _entries(document, code=code, kind="code", change="starts", date="2026-01-01")
        assert _entries(document, code=code, kind="tariff", change="starts", date="2026-01-01")
    # G: 26,50 € → 30,00 € on 2024-12-22, with its source.
    (g,) = _entries(document, code="G", kind="tariff", date="2024-12-22")
    assert g["change"] == "changes"
    assert "26,50" in g["description"] and "30,00" in g["description"]
    assert g["source"] and "2024-2029" in g["source"]
    # The FMT rows of 2026, and the end of the FPMT's 7-79 row.
    (ald80,) = _entries(document, code="FORFAIT-ALD-80-PLUS", date="2026-01-01")
    assert ald80["change"] == "changes" and "100,00" in ald80["description"]
    assert _entries(document, code="FORFAIT-ADULT-7-74", change="starts", date="2026-01-01")
    assert _entries(document, code="FORFAIT-ADULT-7-79", change="ends", date="2026-01-01")
    assert document["texts_date"] == "2026-01-01"


def test_earlier_changes_are_left_out_and_order_is_by_day() -> None:
    document = _json("--since", "2024-12-22", "--until", "2025-12-31")
    days = [entry["date"] for entry in document["changes"]]
    assert days == sorted(days)
    assert set(days) == {"2024-12-22"}
    assert not _entries(document, code="MOP")  # 2024-01-01, before --since


def test_text_output_is_french(tmp_path: Path) -> None:
    code, output = _run("--since", "22/12/2024", "--until", "22/12/2024")
    assert code == 0, output
    assert output.startswith("Changements des textes du 22/12/2024 au 22/12/2024")
    assert "22/12/2024  tarif  G" in output
    assert "Source : Convention médicale 2024-2029" in output


def test_rule_end_tariff_end_and_plugin_origin(tmp_path: Path) -> None:
    draft = tmp_path / "brouillon.rules"
    draft.write_text(
        'code ZZ1 "Essai" valid from 2027-01-01 until 2027-06-30\n'
        'tariff ZZ1 12.00 from 2027-01-01 until 2027-06-30 source "Arrêté d\'essai"\n'
        'rule ZZ-ONE error "essai"\n  from 2027-01-01\n  until 2027-03-31\n  on ZZ1\nend\n',
        encoding="utf-8",
    )
    validator = Validator.build(entry_points=False, rule_files=[draft])
    found = changes(validator.ruleset, dt.date(2027, 1, 1))
    summary = [(change.day.isoformat(), change.kind, change.what, change.subject) for change in found]
    assert summary == [
        ("2027-01-01", ChangeKind.RULE, ChangeWhat.STARTS, "ZZ-ONE"),
        ("2027-01-01", ChangeKind.TARIFF, ChangeWhat.STARTS, "ZZ1"),
        ("2027-01-01", ChangeKind.CODE, ChangeWhat.STARTS, "ZZ1"),
        ("2027-04-01", ChangeKind.RULE, ChangeWhat.ENDS, "ZZ-ONE"),
        ("2027-07-01", ChangeKind.TARIFF, ChangeWhat.ENDS, "ZZ1"),
        ("2027-07-01", ChangeKind.CODE, ChangeWhat.ENDS, "ZZ1"),
    ]
    assert {change.origin for change in found} == {"brouillon.rules"}
    assert texts_date(validator.ruleset) == dt.date(2027, 7, 1)


def test_bad_date_is_a_usage_error() -> None:
    code, output = _run("--since", "hier")
    assert code == EXIT_ERROR
    assert "date invalide" in output


# -- rates, rows that follow each other, amounts in JSON ----------------------------------------------


def test_forfait_majorations_are_rates_not_euros() -> None:
    document = _json("--since", "2026-01-01", "--until", "2026-01-01")
    for code, percent, rate in (
        ("FORFAIT-MAJ-67-OR-ZIP", "+10 %", 0.1),
        ("FORFAIT-MAJ-ZIP-YEAR-1", "+50 %", 0.5),
        ("FORFAIT-MAJ-ZIP-YEAR-2", "+30 %", 0.3),
    ):
        (entry,) = _entries(document, code=code)
        assert entry["description"].endswith(f"nouveau taux {percent}"), entry
        assert "€" not in entry["description"]
        assert (entry["amount"], entry["previous_amount"], entry["unit"]) == (rate, None, "rate")
    code, output = _run("--since", "2026-01-01", "--until", "2026-01-01")
    assert code == 0 and "nouveau taux +10 %" in output and "0,10" not in output


def test_a_row_taking_over_the_day_after_the_last_one_ends_is_one_change() -> None:
    document = _json("--since", "2026-01-01", "--until", "2026-01-01")
    (child,) = _entries(document, code="FORFAIT-CHILD-0-6")
    assert child["change"] == "changes"
    assert child["description"].endswith("6,00\u00a0€ → 15,00\u00a0€")
    assert (child["previous_amount"], child["amount"], child["unit"]) == (6.0, 15.0, "EUR")
    # A row with no successor still ends: the FPMT's 7-79 row.
    (adult,) = _entries(document, code="FORFAIT-ADULT-7-79")
    assert adult["change"] == "ends"
    assert (adult["previous_amount"], adult["amount"]) == (5.0, None)


def test_follow_gap_and_per_km_rows(tmp_path: Path) -> None:
    draft = tmp_path / "brouillon.rules"
    draft.write_text(
        'code ZZ2 "Suivie"\ncode ZZ3 "Interrompue"\ncode ZZ4 "Au km"\n'
        "tariff ZZ2 10.00 from 2027-01-01 until 2027-03-31\n"
        "tariff ZZ2 12.00 from 2027-04-01\n"
        "tariff ZZ3 10.00 from 2027-01-01 until 2027-03-31\n"
        "tariff ZZ3 12.00 from 2027-04-02\n"
        "tariff ZZ4 0.70 per km from 2027-01-01\n",
        encoding="utf-8",
    )
    validator = Validator.build(entry_points=False, rule_files=[draft])
    found = [
        change
        for change in changes(validator.ruleset, dt.date(2027, 1, 1))
        if change.kind is ChangeKind.TARIFF
    ]
    summary = [(change.day.isoformat(), change.what, change.subject) for change in found]
    assert summary == [
        ("2027-01-01", ChangeWhat.STARTS, "ZZ2"),
        ("2027-01-01", ChangeWhat.STARTS, "ZZ3"),
        ("2027-01-01", ChangeWhat.STARTS, "ZZ4"),
        ("2027-04-01", ChangeWhat.CHANGES, "ZZ2"),  # the next day: one change
        ("2027-04-01", ChangeWhat.ENDS, "ZZ3"),  # a day without tariff: an end, then a start
        ("2027-04-02", ChangeWhat.STARTS, "ZZ3"),
    ]
    (per_km,) = [change for change in found if change.subject == "ZZ4"]
    assert per_km.to_json()["unit"] == "EUR/km" and per_km.to_json()["amount"] == 0.7
    assert per_km.description == "Au km : nouveau tarif 0,70\u00a0€ / km"


def test_json_keys_of_every_entry_stay_and_tariffs_add_their_amounts() -> None:
    document = _json("--since", "2024-12-22", "--until", "2024-12-22")
    kept = {"date", "kind", "change", "code", "description", "source", "origin"}
    for entry in document["changes"]:
        added = {"amount", "previous_amount", "unit", "sector"} if entry["kind"] == "tariff" else set()
        assert set(entry) == kept | added, entry
    (g,) = _entries(document, code="G", kind="tariff")
    assert (g["previous_amount"], g["amount"], g["unit"], g["sector"]) == (26.5, 30.0, "EUR", None)


def test_long_codes_keep_the_descriptions_in_one_column() -> None:
    code, output = _run("--since", "2026-01-01", "--until", "2026-01-01")
    assert code == 0, output
    lines = output.splitlines()[1:]
    starts = {
        line.index("Forfait MT") for line in lines if line.startswith("01/01/2026") and "Forfait MT" in line
    }
    sources = {len(line) - len(line.lstrip()) for line in lines if line.lstrip().startswith("Source :")}
    assert len(starts) == 1 and sources == starts
    assert "FORFAIT-NOT-SEEN-2-YEARS Forfait MT" in output
