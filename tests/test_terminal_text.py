"""Text from the input never reaches a terminal raw: every text output masks control characters.

A practitioner or invoice id, a header of the export: whoever wrote the file could put an escape
sequence or a right-to-left override in it, and the text of ``ledger stats``, ``simulate``,
``forfait``, ``explain`` and ``columns`` would then recolour or reorder what staff read, as
``check``'s report already prevents.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules import cli
from billing_rules.reporters.terminal import printable

HOSTILE = "DR\x1b[31mRED\u202eevil"
HEADER = "invoice_id;date;practitioner_id;patient_id;birth_date;ald;mt_status;codes"


def run(*args: str) -> str:
    plugins = ["--no-plugins"] if args[0] in ("simulate", "forfait", "explain") else []
    result = CliRunner().invoke(cli.main, [*args, *plugins])
    assert result.exit_code in (0, 1), result.output
    return result.stdout


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    day = tmp_path / "jour.csv"
    day.write_text(f"{HEADER}\nF\x1b[2J1;2025-03-04;{HOSTILE};P1;1950-01-01;oui;self;G\n", encoding="utf-8")
    path = tmp_path / "registre.sqlite"
    result = CliRunner().invoke(cli.main, ["check", str(day), "--ledger", str(path), "--record"])
    assert result.exit_code in (0, 1), result.output
    return path


def test_printable_masks_controls_and_bidi_but_keeps_french() -> None:
    assert printable(HOSTILE) == "DR?[31mRED?evil"
    assert printable("Médecin — « été »\tok") == "Médecin — « été »\tok"


def test_ledger_stats_and_simulate_and_forfait_mask_input_text(ledger: Path) -> None:
    outputs = [
        run("ledger", "stats", "--ledger", str(ledger)),
        run(
            "simulate",
            "--ledger",
            str(ledger),
            "--from",
            "2025-01-01",
            "--to",
            "2025-12-31",
            "--as-of",
            "2026-06-01",
        ),
        run("forfait", "--ledger", str(ledger), "--practitioner", HOSTILE, "--year", "2025"),
    ]
    for text in outputs:
        assert "\x1b" not in text and "\u202e" not in text
    assert "DR?[31mRED?evil" in outputs[0]


def test_explain_and_columns_mask_input_text(tmp_path: Path) -> None:
    day = tmp_path / "jour.csv"
    day.write_text(
        f"{HEADER};Note\x1b[1m\nF1;2025-03-04;{HOSTILE};P1;1950-01-01;non;none;IMT;x\n", encoding="utf-8"
    )
    explained = run("explain", str(day), "F1")
    assert "IMT-ALD" in explained and "\x1b" not in explained and "\u202e" not in explained
    columns = run("columns", str(day))
    assert "Note?[1m" in columns and "\x1b" not in columns
