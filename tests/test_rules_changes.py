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
