"""The row engine and the relational engine (DuckDB) give the same report on random small files.

A small fixed budget of the on-demand campaign ``fuzz/fuzz_engines.py``: a few seeds of its
generator (boundary dates, missing and equal times, ledgers recorded by one engine, files given
together), each checked through the real ``check --format json`` by both engines. A difference is a
bug, never a tolerance, so the reports must be equal except for ``summary.engine``. Spark is not
involved: the campaign compares the reference engine with DuckDB only, and the Spark runs of the
relational plan have their own differential tests (``tests/engines``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("polars")

ROOT = Path(__file__).resolve().parent.parent

#: Seeds whose cases cover the generator's shapes (checked with ``max_invoices=25``): one file, a
#: ledger of one or two recorded files, by either engine, the checked rows split over two files, a
#: practice's own headers, each encoding, an export with one line per act, each input format
#: (JSON, JSON Lines and Parquet, with native values or text).
SEEDS = (1, 3, 4, 11, 13, 16, 18, 29, 30)


def _load_campaign() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_engines", ROOT / "fuzz" / "fuzz_engines.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fuzz_engines", module)
    spec.loader.exec_module(module)
    return module


campaign = _load_campaign()


def test_the_seeds_cover_ledgers_and_several_files() -> None:
    """The budget is small: make sure it still holds every shape the campaign generates."""
    cases = [campaign.generate(seed, max_invoices=25) for seed in SEEDS]
    assert any(not case.history and not case.split for case in cases)
    assert any(len(case.history) == 2 for case in cases)
    assert {case.recorder for case in cases if case.history} == {"row", "duckdb"}
    assert any(case.split for case in cases)
    assert any(case.headers for case in cases)
    assert {case.encoding for case in cases} == {"utf-8", "utf-8-sig", "cp1252"}
    assert any(case.lines for case in cases)
    assert {case.file_format for case in cases} == {"csv", "json", "jsonl", "parquet"}
    assert {case.encoding for case in cases if case.file_format == "csv"} == {"utf-8", "utf-8-sig", "cp1252"}
    assert any(case.typed and case.lines for case in cases)
    assert any(case.typed and case.file_format == "parquet" for case in cases)


@pytest.mark.parametrize("seed", SEEDS)
def test_row_and_duckdb_give_the_same_report(tmp_path: Path, seed: int) -> None:
    case = campaign.generate(seed, max_invoices=25)
    difference, reference = campaign.run_case(case, tmp_path)
    assert reference.report is not None, reference.error
    assert difference is None, f"seed {seed}: " + difference.describe()


#: The seeds whose case records a ledger first.
LEDGER_SEEDS = tuple(seed for seed in SEEDS if campaign.generate(seed, max_invoices=25).history)


@pytest.mark.postgres
@pytest.mark.parametrize("seed", LEDGER_SEEDS)
def test_a_postgresql_ledger_gives_the_reports_of_an_sqlite_one(
    tmp_path: Path, postgres_schema: str, seed: int
) -> None:
    """The same case on a PostgreSQL ledger: both engines agree, and with the SQLite run, day by day."""
    case = campaign.generate(seed, max_invoices=25)
    _, on_sqlite = campaign.run_case(case, tmp_path)
    # The same folder, so that the reports name the same files.
    difference, on_postgres = campaign.run_case(case, tmp_path, ledger_url=postgres_schema)
    assert on_postgres.report is not None, on_postgres.error
    assert difference is None, f"seed {seed}: " + difference.describe()
    assert on_postgres.key() == on_sqlite.key()
