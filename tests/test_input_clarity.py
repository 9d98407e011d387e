"""Duplicate JSON keys, UTF-16/32 files without a BOM, and a closed pipe (issue 16 point 15)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules import cli
from billing_rules.model import Event, InputError
from billing_rules.readers import InputStream

ROW = {
    "invoice_id": "F1",
    "date": "2024-02-05",
    "practitioner_id": "1",
    "patient_id": "P1",
    "birth_date": "1950-01-01",
    "codes": "G",
}


def _items(path: Path) -> list[Event | InputError]:
    return list(InputStream([str(path)]))


def _with_duplicate(key: str, value: str) -> str:
    body = json.dumps(ROW)[:-1]
    return body + f', "{key}": "{value}"}}'


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_duplicate_key_is_an_input_error_naming_it(tmp_path: Path, fmt: str) -> None:
    second = json.dumps({**ROW, "invoice_id": "F2"})
    if fmt == "json":
        text = f"[{_with_duplicate('codes', 'VL')}, {second}]"
    else:
        text = _with_duplicate("codes", "VL") + "\n" + second + "\n"
    path = tmp_path / f"jour.{fmt}"
    path.write_text(text, encoding="utf-8")
    items = _items(path)
    errors = [item for item in items if isinstance(item, InputError)]
    events = [item for item in items if isinstance(item, Event)]
    assert [event.invoice_id for event in events] == ["F2"]
    (error,) = errors
    assert error.field == "codes" and "« codes »" in error.message and "deux fois" in error.message


def test_duplicate_patient_key_never_quotes_values(tmp_path: Path) -> None:
    path = tmp_path / "jour.jsonl"
    path.write_text(_with_duplicate("patient_id", "DUPONT-JEAN") + "\n", encoding="utf-8")
    (error,) = _items(path)
    assert isinstance(error, InputError)
    assert error.field == "patient_id" and "DUPONT" not in error.message


CSV = "invoice_id;date;practitioner_id;patient_id;birth_date;codes\nF1;2024-02-05;1;P1;1950-01-01;G\n"


@pytest.mark.parametrize(
    ("codec", "name"),
    [("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32-le", "UTF-32"), ("utf-32-be", "UTF-32")],
)
@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_utf16_32_without_bom_is_named(tmp_path: Path, codec: str, name: str, suffix: str) -> None:
    text = CSV if suffix == "csv" else json.dumps(ROW) + "\n"
    path = tmp_path / f"jour.{suffix}"
    path.write_bytes(text.encode(codec))  # no BOM
    result = CliRunner().invoke(cli.main, ["check", str(path)])
    assert result.exit_code == 2
    assert name in result.output and "sans BOM" in result.output
    assert "colonne(s) obligatoire(s)" not in result.output


@pytest.mark.parametrize("codec", ["utf-16", "utf-32"])
def test_utf16_32_with_bom_still_reads_or_says_so(tmp_path: Path, codec: str) -> None:
    path = tmp_path / "jour.csv"
    path.write_bytes(CSV.encode(codec))  # with its BOM
    result = CliRunner().invoke(cli.main, ["check", str(path), "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    assert json.loads(result.stdout)["summary"]["events"] == 1


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")
@pytest.mark.parametrize(
    "arguments",
    [["ledger", "export", "--ledger", "{ledger}"], ["check", "{day}", "--format", "json"], ["rules", "list"]],
    ids=["export", "check", "rules"],
)
def test_broken_pipe_is_quiet_and_exit_141(tmp_path: Path, arguments: list[str]) -> None:
    day = tmp_path / "jour.csv"
    day.write_text(
        CSV.split("\n")[0]
        + "\n"
        + "".join(f"F{n};2024-02-{1 + n % 28:02d};1;P{n};1950-01-01;G\n" for n in range(20000)),
        encoding="utf-8",
    )
    ledger = tmp_path / "registre.db"
    CliRunner().invoke(cli.main, ["ledger", "import", str(day), "--ledger", str(ledger)])
    command = [
        sys.executable,
        "-m",
        "billing_rules",
        *(argument.format(ledger=ledger, day=day) for argument in arguments),
    ]
    reader, writer = os.pipe()
    os.close(reader)  # nobody reads: the first write fails with EPIPE (as after `head -1` exits)
    try:
        result = subprocess.run(
            command, stdout=writer, stderr=subprocess.PIPE, text=True, timeout=120, check=False
        )
    finally:
        os.close(writer)
    assert result.returncode == 141, result.stderr
    assert result.stderr == ""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")
@pytest.mark.parametrize("report_format", ["json", "html"])
def test_a_large_report_to_a_pipe_closed_midway_exits_141(tmp_path: Path, report_format: str) -> None:
    """``| head -c 10`` on a report of megabytes: the reader leaves after the first bytes. Written
    in one call, the report was accepted in part without error and the command exited 0."""
    day = tmp_path / "jour.csv"
    day.write_text(
        "invoice_id;date;practitioner_id;patient_id;birth_date;ald;mt_status;codes\n"
        + "".join(f"F{n};2026-01-05;1;P{n};1970-01-01;non;none;IMT\n" for n in range(6000)),
        encoding="utf-8",
    )
    command = [sys.executable, "-m", "billing_rules", "check", str(day), "--format", report_format]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        assert len(process.stdout.read(10)) == 10
        process.stdout.close()
        stderr = process.stderr.read().decode("utf-8")
        returncode = process.wait(timeout=120)
    assert returncode == 141, stderr
