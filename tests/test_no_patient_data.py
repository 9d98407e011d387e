"""Input errors name the field and the line, never the value of ``patient_id`` or ``birth_date``
(issue 16 point 8); other fields' values are still shown, they help find the typo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules import cli

HEADER = "invoice_id;date;practitioner_id;patient_id;birth_date;codes"


@pytest.mark.parametrize(
    "birth", ["19500101", "1950-13-01", "01/13/1950", "1950-02-30", "9999-12-31", "3000-01-01"]
)
@pytest.mark.parametrize("input_format", ["csv", "json"])
def test_birth_date_value_never_in_messages(tmp_path: Path, birth: str, input_format: str) -> None:
    if input_format == "csv":
        path = tmp_path / "jour.csv"
        path.write_text(f"{HEADER}\nF1;2024-02-05;1;P1;{birth};G\nF2;2024-02-05;1;P2;1950-01-01;G\n")
    else:
        path = tmp_path / "jour.json"
        rows = [
            {
                "invoice_id": "F1",
                "date": "2024-02-05",
                "practitioner_id": "1",
                "patient_id": "P1",
                "birth_date": birth,
                "codes": "G",
            },
            {
                "invoice_id": "F2",
                "date": "2024-02-05",
                "practitioner_id": "1",
                "patient_id": "P2",
                "birth_date": "1950-01-01",
                "codes": "G",
            },
        ]
        path.write_text(json.dumps(rows))
    for report_format in ("json", "text", "csv"):
        result = CliRunner().invoke(cli.main, ["check", str(path), "--format", report_format])
        assert result.exit_code == 1, result.output
        assert birth not in result.output, result.output
        assert "birth_date" in result.output or "date de naissance" in result.output
    report = json.loads(CliRunner().invoke(cli.main, ["check", str(path), "--format", "json"]).stdout)
    (error,) = report["input_errors"]
    assert error["field"] == "birth_date" and error["line"] in (2, None)


def test_other_fields_values_are_still_shown(tmp_path: Path) -> None:
    path = tmp_path / "jour.csv"
    path.write_text(f"{HEADER}\nF1;2024-13-05;1;P1;1950-01-01;G\n")
    result = CliRunner().invoke(cli.main, ["check", str(path), "--format", "json"])
    assert "« 2024-13-05 »" in result.stdout
