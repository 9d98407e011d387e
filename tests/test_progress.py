"""The progress line of ``check``: stderr only, only for a terminal and a large input."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules.api.validator import Validator
from billing_rules.cli import main, progress

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "week-2026-01.csv"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_line_shows_rows_rate_and_time_left() -> None:
    clock = Clock()
    bar = progress.Progress(1000, Tty(), clock=clock)
    clock.now = 2.0
    bar.advance(rows=5000, size=250)
    line = bar.line()
    assert "25 %" in line
    assert "5\u00a0000 lignes" in line
    assert "2\u00a0500 lignes/s" in line
    assert "reste environ 6 s" in line


def test_redraws_in_place_and_erases() -> None:
    clock = Clock()
    stream = Tty()
    bar = progress.Progress(100, stream, clock=clock)
    bar.advance(rows=1, size=10)
    clock.now = 1.0
    bar.advance(rows=1, size=10)
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") >= 3
    assert text.endswith("\r")
    assert "\n" not in text


def test_not_shown_when_piped_or_small(builtin_validator: Validator, tmp_path: Path) -> None:
    assert progress.start(builtin_validator, [str(EXAMPLE)], stream=io.StringIO(), threshold=0) is None
    assert progress.start(builtin_validator, [str(EXAMPLE)], stream=Tty()) is None  # 20 kB
    assert progress.start(builtin_validator, ["-"], stream=Tty(), threshold=0) is None


def test_counts_rows_of_a_real_check(tmp_path: Path) -> None:
    validator = Validator.build(entry_points=False)
    stream = Tty()
    bar = progress.start(validator, [str(EXAMPLE)], stream=stream, threshold=0)
    assert bar is not None
    report = validator.check_paths([str(EXAMPLE)])
    bar.close()
    assert report.events == 221
    assert bar.rows == 221
    assert bar.bytes == EXAMPLE.stat().st_size


def test_cli_output_never_has_it() -> None:
    result = CliRunner().invoke(main, ["check", str(EXAMPLE), "--format", "json"])
    assert "lignes/s" not in result.stdout
    assert "lignes/s" not in result.stderr


def test_counts_a_per_act_file_read_twice_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large per-act file is read twice (readers.stream.read_twice): counted once, first or not."""
    from billing_rules.readers import stream as stream_module

    monkeypatch.setattr(stream_module, "TWICE_BYTES", 0)
    export = EXAMPLE.parent / "export-logiciel.csv"  # one line per act
    lines = len(export.read_bytes().splitlines()) - 1
    for paths in ([export, EXAMPLE], [EXAMPLE, export]):
        validator = Validator.build(entry_points=False)
        bar = progress.start(validator, [str(path) for path in paths], stream=Tty(), threshold=0)
        assert bar is not None
        report = validator.check_paths([str(path) for path in paths])
        bar.close()
        assert report.events == 221 + 7
        assert bar.rows == 221 + lines
        assert bar.bytes == EXAMPLE.stat().st_size + export.stat().st_size
