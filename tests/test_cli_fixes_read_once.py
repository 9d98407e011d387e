"""Inputs read once (standard input, a FIFO, a shell's ``/dev/fd/N``) checked and explained fully.

``explain`` reads its input twice (check, then the invoices of the windows) and ``check`` reads an
input out of date order twice (the row engine restarts): such an input is copied once to a private
temporary file, removed afterwards, and messages still name it as the user wrote it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules import cli, scratch
from billing_rules.readers.read_once import copied_inputs, read_once

REPO = Path(__file__).resolve().parents[1]
WEEK = REPO / "examples" / "week-2026-01.csv"  # not in date order: the row engine restarts


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "billing_rules", *args, "--no-plugins"]


def _expected_check() -> dict[str, object]:
    result = CliRunner().invoke(cli.main, ["check", str(WEEK), "--format", "json", "--no-plugins"])
    assert result.exit_code == 1, result.output
    return json.loads(result.stdout)["summary"]


def test_explain_reads_standard_input() -> None:
    args = ["explain", "-", "F-2026-0051", "--no-plugins"]
    result = CliRunner().invoke(cli.main, args, input=WEEK.read_bytes())
    assert result.exit_code == 0, result.output
    assert "IMT-MT (erreur)" in result.stdout
    assert "VSP-PALLIATIVE (erreur)" in result.stdout


def test_check_standard_input_out_of_order() -> None:
    args = ["check", "-", "--format", "json", "--no-plugins"]
    result = CliRunner().invoke(cli.main, args, input=WEEK.read_bytes())
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["summary"] == _expected_check()


def _through_pipe(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI with the week on a pipe named ``/dev/fd/N``, as ``<(cat week.csv)`` does."""
    read_end, write_end = os.pipe()
    path = f"/dev/fd/{read_end}"
    command = _cli(*[path if arg == "PIPE" else arg for arg in args])

    def feed() -> None:
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(WEEK.read_bytes())

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        return subprocess.run(
            command, pass_fds=(read_end,), capture_output=True, text=True, timeout=120, cwd=REPO
        )
    finally:
        os.close(read_end)
        writer.join()


@pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="no /dev/fd")
def test_check_and_explain_a_process_substitution() -> None:
    checked = _through_pipe(["check", "--input-format", "csv", "PIPE", "--format", "json"])
    assert checked.returncode == 1, checked.stderr
    assert json.loads(checked.stdout)["summary"] == _expected_check()
    explained = _through_pipe(["explain", "--input-format", "csv", "PIPE", "F-2026-0051"])
    assert explained.returncode == 0, explained.stderr
    assert "IMT-MT (erreur)" in explained.stdout


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_check_a_named_pipe_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "semaine.csv"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as pipe:
            pipe.write(WEEK.read_bytes())

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        result = subprocess.run(
            _cli("check", str(fifo), "--format", "json"), capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:  # the engine's restart opened the FIFO again
        pytest.fail("check of a FIFO hangs")
    writer.join(5)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["summary"] == _expected_check()


def test_copies_are_private_and_removed(tmp_path: Path) -> None:
    import io

    regular = tmp_path / "jour.csv"
    regular.write_text("x\n", encoding="utf-8")
    assert read_once("-") and not read_once(str(regular)) and not read_once(str(tmp_path / "absent"))
    with copied_inputs(["-", str(regular)], io.BytesIO(b"abc")) as copies:
        assert list(copies) == ["-"]
        copy = Path(copies["-"])
        assert copy.read_bytes() == b"abc"
        assert copy.stat().st_mode & 0o777 == 0o600
        # In the process's scratch folder (0700), swept by the next run if this one is killed.
        assert copy.parent == Path(scratch.folder())
        assert copy.parent.parent == Path(tempfile.gettempdir())
    assert not copy.exists()


def test_a_message_names_the_input_as_written() -> None:
    args = ["explain", "-", "F-ABSENT", "--no-plugins"]
    result = CliRunner().invoke(cli.main, args, input=b"invoice_id;date\n")
    assert result.exit_code == 2
    assert "billing-rules-input-" not in result.stderr


@pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="no /dev/fd")
def test_the_relational_engine_checks_and_records_a_process_substitution(tmp_path: Path) -> None:
    """DuckDB reads such an input through the row readers (its header cannot be peeked at), once."""
    pytest.importorskip("duckdb")
    ledger = tmp_path / "registre.sqlite"
    args = ["check", "--engine", "duckdb", "--input-format", "csv", "PIPE", "--format", "json"]
    checked = _through_pipe([*args, "--ledger", str(ledger), "--record"])
    assert checked.returncode == 1, checked.stderr
    summary = json.loads(checked.stdout)["summary"]
    assert summary.pop("engine") == "duckdb"
    expected = _expected_check()
    expected.pop("engine")
    assert summary == expected
    assert "221 factures enregistrées" in checked.stderr
