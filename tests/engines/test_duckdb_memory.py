"""DuckDB's memory through a check: the reader's share goes back to the engine once the input is in.

While the columnar reader fills the invoice table, its own buffers live beside DuckDB, so DuckDB
holds to :data:`DEFAULT_MEMORY`; once the input is in, the checking statements get
:data:`CHECKING_MEMORY` (at 10 M rows they spilled their wide tables otherwise). A limit the caller
or the environment fixed holds throughout. And the reader keeps nothing of the rows once they are
in DuckDB: the hashes of their invoices' keys, needed for the duplicate check only, are let go.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

import duckdb  # noqa: E402

from billing_rules.engines.relational import api  # noqa: E402
from billing_rules.engines.relational.duckdb import CHECKING_MEMORY, DEFAULT_MEMORY, DuckDbBackend  # noqa: E402
from billing_rules.engines.relational.table import TABLE, TableWriter  # noqa: E402
from billing_rules.readers.stream import BUILTIN_READERS  # noqa: E402
from billing_rules.testing import make_event  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "week-2026-01.csv"


def _limit(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def _as_duckdb_shows(limit: str) -> str:
    """``limit`` as DuckDB prints it back (``2GB`` reads ``1.8 GiB``)."""
    con = duckdb.connect(":memory:", config={"memory_limit": limit})
    try:
        return _limit(con)
    finally:
        con.close()


def _loaded(backend: DuckDbBackend) -> DuckDbBackend:
    writer = TableWriter()
    writer.add_input(make_event(invoice_id="F1"))
    backend.load_invoices(writer)
    assert backend.con.execute(f"SELECT count(*) FROM {TABLE}").fetchone() == (1,)  # noqa: S608
    return backend


def test_the_limit_rises_once_the_input_is_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BILLING_RULES_DUCKDB_MEMORY", raising=False)
    assert _as_duckdb_shows(DEFAULT_MEMORY) != _as_duckdb_shows(CHECKING_MEMORY)
    backend = DuckDbBackend()
    try:
        assert _limit(backend.con) == _as_duckdb_shows(DEFAULT_MEMORY)
        _loaded(backend)
        assert _limit(backend.con) == _as_duckdb_shows(CHECKING_MEMORY)
    finally:
        backend.close()


def test_a_limit_set_in_the_environment_holds_throughout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_RULES_DUCKDB_MEMORY", "700MB")
    backend = DuckDbBackend()
    try:
        assert _limit(backend.con) == _as_duckdb_shows("700MB")
        _loaded(backend)
        assert _limit(backend.con) == _as_duckdb_shows("700MB")
    finally:
        backend.close()


def test_a_limit_given_by_the_caller_holds_throughout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_RULES_DUCKDB_MEMORY", "700MB")
    backend = DuckDbBackend(memory_limit="900MB")
    try:
        _loaded(backend)
        assert _limit(backend.con) == _as_duckdb_shows("900MB")
    finally:
        backend.close()


def test_the_reader_lets_its_rows_go_once_they_are_in_duckdb(tmp_path: Path) -> None:
    pytest.importorskip("polars")
    header, first, second, *_ = EXAMPLE.read_text(encoding="utf-8").splitlines()
    damaged = second.split(";")
    columns = header.split(";")
    damaged[columns.index("date")] = "2026-02-30"
    damaged[columns.index("invoice_id")] = "F-DAMAGED"
    path = tmp_path / "day.csv"
    # A repeated invoice (dropped from DuckDB at the end of the reading) and a bad date.
    path.write_text("\n".join([header, first, second, first, ";".join(damaged)]) + "\n", encoding="utf-8")
    streamed = api.streamed_input([str(path)], None, None, None, dict(BUILTIN_READERS))
    backend = DuckDbBackend()
    try:
        backend.load_invoices(streamed)
        in_duckdb = backend.con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]  # noqa: S608
    finally:
        backend.close()
    read = streamed.read
    assert read.table.height == 0
    # What the report still needs is kept: the invoices counted, the input errors, the files.
    assert read.events == in_duckdb == 2
    assert [(error.line, error.field) for error in read.input_errors] == [(4, "invoice_id"), (5, "date")]
    assert read.files == (str(path),)
