"""At a terminal, with the progress line shown, a check takes the route it takes anywhere else.

The progress line wraps the validator's format readers to count what they read. The relational
engine chose its route by those readers: wrapped, the columnar reader was never used (1 M rows
at a terminal: 18.5 s instead of 4.6 s) and a prepared file was read as an ordinary Parquet file
(a wrong report). The route is now decided on the readers behind the wrappers, and the columnar
reader feeds the progress line itself.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from executors import columnar_only

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")
pytest.importorskip("polars")

from billing_rules.api.prepare import prepare_files  # noqa: E402
from billing_rules.api.validator import Validator  # noqa: E402
from billing_rules.cli import main, progress  # noqa: E402
from billing_rules.engines.relational import api  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "week-2026-01.csv"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _shown(validator: Validator, paths: list[str]) -> progress.Progress:
    bar = progress.start(validator, paths, stream=Tty(), threshold=0)
    assert bar is not None
    return bar


def test_the_columnar_reader_runs_and_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = api.check_paths(Validator.build(entry_points=False), [str(EXAMPLE)])
    validator = Validator.build(entry_points=False)
    bar = _shown(validator, [str(EXAMPLE)])
    read = columnar_only(monkeypatch)
    report = api.check_paths(validator, [str(EXAMPLE)], progress=bar)
    assert read == [221] and report == expected
    assert bar.rows == 221
    assert bar.bytes >= EXAMPLE.stat().st_size  # the header is read twice: once for its checks


def test_a_parquet_file_counts_its_share_of_bytes(tmp_path: Path) -> None:
    import polars as pl

    path = tmp_path / "week.parquet"
    pl.read_csv(EXAMPLE, separator=";", infer_schema=False).write_parquet(path)
    validator = Validator.build(entry_points=False)
    bar = _shown(validator, [str(path)])
    report = api.check_paths(validator, [str(path)], progress=bar)
    assert report.events == bar.rows == 221
    assert abs(bar.bytes - path.stat().st_size) <= 221  # each batch its share, rounded down


def test_a_per_act_file_counts_its_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file of one line per act counts its lines, as the row readers' counting does, not its
    invoices (the example export's 9 lines make 7 invoices)."""
    export = EXAMPLE.with_name("export-logiciel.csv")
    validator = Validator.build(entry_points=False)
    bar = _shown(validator, [str(export)])
    read = columnar_only(monkeypatch)
    report = api.check_paths(validator, [str(export)], progress=bar)
    assert read == [7] and report.events == 7
    assert bar.rows == 9


def test_a_prepared_file_is_read_as_prepared(tmp_path: Path) -> None:
    plain = Validator.build(entry_points=False)
    out = str(tmp_path / "week.parquet")
    prepare_files(plain, [str(EXAMPLE)], out)
    expected_row, expected = plain.check_paths([str(EXAMPLE)]), api.check_paths(plain, [str(EXAMPLE)])
    validator = Validator.build(entry_points=False)
    bar = _shown(validator, [out])
    assert validator.check_paths([out]) == expected_row
    assert api.check_paths(validator, [out], progress=bar) == expected


def _at_a_terminal(monkeypatch: pytest.MonkeyPatch) -> list[progress.Progress]:
    """The commands' progress line shown, whatever the size; the list gets each line started."""
    shown: list[progress.Progress] = []
    real = progress.start

    def at_a_terminal(validator: Any, paths: Any, **_: Any) -> progress.Progress | None:
        bar = real(validator, paths, stream=Tty(), threshold=0)
        shown.extend([bar] if bar is not None else [])
        return bar

    monkeypatch.setattr(progress, "start", at_a_terminal)
    return shown


@pytest.mark.parametrize("engine", ["row", "duckdb"])
def test_the_command_at_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str) -> None:
    """``check`` with its progress line shown: the report of a check without it, file or prepared."""
    out = str(tmp_path / "week.parquet")
    assert CliRunner().invoke(main, ["prepare", "--no-plugins", str(EXAMPLE), "-o", out]).exit_code == 0
    command = ["check", "--no-plugins", "--format", "json", "--engine", engine]
    expected = CliRunner().invoke(main, [*command, str(EXAMPLE)]).stdout
    shown = _at_a_terminal(monkeypatch)
    if engine == "duckdb":
        columnar_only(monkeypatch)
    for path in (str(EXAMPLE), out):
        result = CliRunner().invoke(main, [*command, path])
        assert result.exit_code == 1 and result.stdout == expected
        assert json.loads(result.stdout)["summary"]["engine"] == engine
    assert len(shown) == 2 and shown[0].rows == 221


def test_prepare_at_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``prepare`` shows the progress line too, fed by the columnar reader; the file is the same."""
    import polars as pl

    plain, shown = str(tmp_path / "plain.parquet"), str(tmp_path / "shown.parquet")
    assert CliRunner().invoke(main, ["prepare", "--no-plugins", str(EXAMPLE), "-o", plain]).exit_code == 0
    bars = _at_a_terminal(monkeypatch)
    columnar_only(monkeypatch)
    assert CliRunner().invoke(main, ["prepare", "--no-plugins", str(EXAMPLE), "-o", shown]).exit_code == 0
    assert [bar.rows for bar in bars] == [221]
    assert pl.read_parquet(shown).equals(pl.read_parquet(plain))
    quiet = ["prepare", "-q", "--no-plugins", str(EXAMPLE), "-o", str(tmp_path / "quiet.parquet")]
    assert CliRunner().invoke(main, quiet).exit_code == 0
    assert len(bars) == 1  # -q: no progress line
