"""Owner-only (0600) creation of every file that holds patient data, whatever the umask, also
through a dangling symlink (issue 16 point 3)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules import cli
from billing_rules.api.validator import Validator
from billing_rules.ledger import open_ledger
from billing_rules.readers.spill import SpilledKeys

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")

ROW = "invoice_id;date;practitioner_id;patient_id;birth_date;codes\nF1;2024-02-05;1;P1;1950-01-01;G\n"


@pytest.fixture(params=[0o000, 0o022, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _target(tmp_path: Path, through_symlink: bool, name: str) -> tuple[Path, Path]:
    """(the path given to the command, the file that comes into existence)."""
    real = tmp_path / "real" / name
    real.parent.mkdir()
    if not through_symlink:
        return real, real
    link = tmp_path / f"lien-{name}"
    link.symlink_to(real)  # dangling: the target does not exist yet
    return link, real


@pytest.mark.parametrize("through_symlink", [False, True], ids=["file", "dangling-symlink"])
def test_ledger_and_its_wal_and_shm_are_owner_only(tmp_path: Path, umask: int, through_symlink: bool) -> None:
    given, real = _target(tmp_path, through_symlink, "registre.db")
    ledger = open_ledger(given)
    try:
        values = dict(zip(*(line.split(";") for line in ROW.splitlines()), strict=True))
        ledger.record([Validator.invoice(values)])
        assert _mode(real) == 0o600
        for suffix in ("-wal", "-shm"):
            side = Path(f"{real}{suffix}")
            assert side.exists(), suffix
            assert _mode(side) == 0o600, suffix
    finally:
        ledger.close()


@pytest.mark.parametrize("through_symlink", [False, True], ids=["file", "dangling-symlink"])
def test_ledger_created_by_check_record_is_owner_only(
    tmp_path: Path, umask: int, through_symlink: bool
) -> None:
    given, real = _target(tmp_path, through_symlink, "registre.db")
    day = tmp_path / "jour.csv"
    day.write_text(ROW, encoding="utf-8")
    result = CliRunner().invoke(cli.main, ["check", str(day), "--ledger", str(given), "--record"])
    assert result.exit_code in (0, 1), result.output
    assert _mode(real) == 0o600


@pytest.mark.parametrize("through_symlink", [False, True], ids=["file", "dangling-symlink"])
@pytest.mark.parametrize("output_format", ["csv", "jsonl"])
def test_ledger_export_output_is_owner_only(
    tmp_path: Path, umask: int, through_symlink: bool, output_format: str
) -> None:
    day = tmp_path / "jour.csv"
    day.write_text(ROW, encoding="utf-8")
    ledger = tmp_path / "registre.db"
    CliRunner().invoke(cli.main, ["check", str(day), "--ledger", str(ledger), "--record"])
    given, real = _target(tmp_path, through_symlink, f"export.{output_format}")
    result = CliRunner().invoke(
        cli.main,
        ["ledger", "export", "--ledger", str(ledger), "--format", output_format, "--output", str(given)],
    )
    if through_symlink:  # -o never writes through a link (billing_rules/reporters/files.py): refused
        assert result.exit_code == 2 and "lien symbolique" in result.output
        assert not real.exists()
        return
    assert result.exit_code == 0, result.output
    assert _mode(real) == 0o600
    assert "P1" in real.read_text(encoding="utf-8")


def test_spill_files_are_owner_only(umask: int) -> None:
    spilled = SpilledKeys()
    try:
        spilled.write({f"key-{number}": number for number in range(100)})
        folder = Path(spilled._folder.name)  # noqa: SLF001 - the test looks at the files themselves
        assert _mode(folder) == 0o700
        runs = list(folder.iterdir())
        assert runs and all(_mode(run) == 0o600 for run in runs)
        assert spilled.get("key-42") == 42
    finally:
        spilled.close()
