"""A batch check runs without full garbage collections and restores the collector afterwards."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

import pytest

from billing_rules.api.validator import Validator, batch_gc

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "week-2026-01.csv"


def test_batch_freezes_the_build_and_skips_full_collections(monkeypatch: Any) -> None:
    validator = Validator.build(entry_points=False)
    before = (gc.get_threshold(), gc.get_freeze_count())
    seen: list[tuple[tuple[int, int, int], int]] = []
    original = Validator._check_streams

    def spy(self: Validator, *args: Any) -> Any:
        seen.append((gc.get_threshold(), gc.get_freeze_count()))
        return original(self, *args)

    monkeypatch.setattr(Validator, "_check_streams", spy)
    report = validator.check_paths([str(EXAMPLE)])
    assert report.events > 0
    ((thresholds, frozen),) = seen
    assert frozen > 0  # the build (compiled rules, tariffs, plugins) is out of the collector's walks
    assert thresholds[:2] == before[0][:2] and thresholds[2] > 1_000_000  # no full collection
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_restored_when_the_check_fails() -> None:
    before = (gc.get_threshold(), gc.get_freeze_count())
    try:
        with batch_gc():
            raise KeyError("boom")
    except KeyError:
        pass
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_nested_batches_keep_the_outer_settings(monkeypatch: Any) -> None:
    unfrozen: list[int] = []
    real_unfreeze = gc.unfreeze

    def unfreeze() -> None:
        unfrozen.append(1)
        real_unfreeze()

    monkeypatch.setattr(gc, "unfreeze", unfreeze)
    before = gc.get_threshold()
    with batch_gc():
        outer = gc.get_threshold()
        with batch_gc():
            assert gc.get_threshold() == outer
        # The inner batch neither restored the thresholds nor undid the outer one's freeze (the
        # frozen count itself may drop: a frozen object can still be freed).
        assert gc.get_threshold() == outer and outer[2] > 1_000_000
        assert unfrozen == [] and gc.get_freeze_count() > 0
    assert unfrozen == [1]
    assert gc.get_threshold() == before


def test_relational_check_runs_without_full_collections(monkeypatch: Any) -> None:
    pytest.importorskip("duckdb", reason="the relational engine needs the batch extra")
    from billing_rules.engines.relational import api
    from billing_rules.engines.relational.run import _Run

    validator = Validator.build(entry_points=False)
    before = (gc.get_threshold(), gc.get_freeze_count())
    seen: list[tuple[tuple[int, int, int], int]] = []
    original = _Run.run

    def spy(self: _Run, *args: Any) -> Any:
        seen.append((gc.get_threshold(), gc.get_freeze_count()))
        return original(self, *args)

    monkeypatch.setattr(_Run, "run", spy)
    report = api.check_paths(validator, [str(EXAMPLE)])
    assert report.events > 0 and report.engine == "duckdb"
    ((thresholds, frozen),) = seen
    assert frozen > 0 and thresholds[2] > 1_000_000
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


@pytest.mark.parametrize("report_format", ["json", "text", "csv", "jsonl"])
def test_the_report_is_written_without_full_collections(
    monkeypatch: Any, tmp_path: Path, report_format: str
) -> None:
    """Writing a report allocates a small text per value, none in a cycle: no full collection walks
    the check's objects meanwhile, and the collector is as it was once the command is over."""
    from click.testing import CliRunner

    from billing_rules import cli
    from billing_rules.reporters import get_reporter

    reporter = type(get_reporter(report_format))
    original = reporter.render
    seen: list[tuple[tuple[int, int, int], int]] = []

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append((gc.get_threshold(), gc.get_freeze_count()))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(reporter, "render", spy)
    before = (gc.get_threshold(), gc.get_freeze_count())
    output = tmp_path / f"report.{report_format}"
    arguments = ["check", "--no-plugins", "--engine", "row", str(EXAMPLE), "--format", report_format]
    result = CliRunner().invoke(cli.main, [*arguments, "--output", str(output)])
    assert result.exit_code in (0, 1), result.output
    assert output.stat().st_size > 0
    ((thresholds, frozen),) = seen
    assert frozen > 0 and thresholds[:2] == before[0][:2] and thresholds[2] > 1_000_000
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


class _Cycle:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def _batch_holding(objects: int) -> None:
    """One batch that keeps ``objects`` containers alive until its end: young collections run."""
    with batch_gc():
        kept = [[] for _ in range(objects)]
        del kept


def test_batch_after_batch_the_cyclic_garbage_is_freed() -> None:
    """Each batch's freeze reset the collector's count of middle collections: a program checking
    file after file never reached a full collection, and kept every cycle it ever dropped (a
    fuzzing campaign of 6 000 small checks grew to 18 GB). The batches now run it once it is due."""
    _batch_holding(0)
    dropped = weakref.ref(_Cycle())  # garbage from the start, frozen by the next batch's freeze
    full = gc.get_stats()[-1]["collections"]
    for _ in range(20):
        _batch_holding(20_000)  # some 28 young and 2 middle collections each
    assert dropped() is None
    assert gc.get_stats()[-1]["collections"] > full


def test_a_batch_without_allocations_runs_no_full_collection() -> None:
    _batch_holding(0)
    full = gc.get_stats()[-1]["collections"]
    for _ in range(50):
        _batch_holding(0)
    assert gc.get_stats()[-1]["collections"] == full


def test_no_collection_when_the_program_turned_the_collector_off() -> None:
    gc.disable()
    try:
        full = gc.get_stats()[-1]["collections"]
        for _ in range(20):
            _batch_holding(20_000)
        assert gc.get_stats()[-1]["collections"] == full
    finally:
        gc.enable()


def test_a_new_validator_does_not_keep_the_last_ones_tariffs_alive() -> None:
    """The AMOUNT rules remember invoices' totals in the tariff table itself, not in a module-level
    memo keyed by the table, which kept the table of every validator a process had built."""
    validator = Validator.build(entry_points=False)
    report = validator.check_paths([str(EXAMPLE)])
    assert any(finding.rule.startswith("AMOUNT-") for finding in report.findings)  # totals were asked
    tariffs = weakref.ref(validator.ruleset.tariffs)
    del validator, report
    gc.collect()
    assert tariffs() is None
