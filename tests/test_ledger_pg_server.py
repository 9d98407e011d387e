"""PostgreSQL ledger on a server: read-only uses create nothing, stats is one snapshot, locks time out."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from billing_rules import cli
from billing_rules.ledger import LedgerError, open_ledger
from billing_rules.ledger.common import COLUMNS

pytestmark = pytest.mark.postgres

ROWS = (
    "invoice_id;date;practitioner_id;patient_id;birth_date;codes\n"
    "F1;2024-02-05;1;P1;1950-01-01;G\n"
    "F2;2024-03-05;1;P2;1951-01-01;G\n"
)


def _tables(url: str) -> list[str]:
    import psycopg

    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = ANY(current_schemas(false))"
        ).fetchall()
    return sorted(row[0] for row in rows)


def _recorded(url: str, folder: Path) -> None:
    day = folder / "jour.csv"
    day.write_text(ROWS, encoding="utf-8")
    result = CliRunner().invoke(cli.main, ["check", str(day), "--ledger", url, "--record"])
    assert result.exit_code in (0, 1), result.output


def test_read_only_commands_create_no_table(postgres_schema: str, tmp_path: Path) -> None:
    for arguments in (
        ["ledger", "stats", "--ledger", postgres_schema],
        ["ledger", "export", "--ledger", postgres_schema, "--output", str(tmp_path / "x.csv")],
    ):
        result = CliRunner().invoke(cli.main, arguments)
        assert result.exit_code == 2, result.output
        assert "registre introuvable" in result.output
    with pytest.raises(LedgerError, match="registre introuvable"):
        open_ledger(postgres_schema, create=False, readonly=True)
    assert _tables(postgres_schema) == []
    open_ledger(postgres_schema).close()  # creating uses still create it
    assert "invoices" in _tables(postgres_schema)
    open_ledger(postgres_schema, create=False).close()


def test_stats_is_one_snapshot(postgres_schema: str, tmp_path: Path) -> None:
    import psycopg

    _recorded(postgres_schema, tmp_path)
    ledger = open_ledger(postgres_schema)
    columns = ", ".join(["practitioner_id", "invoice_id || 'b'", *COLUMNS[2:]])
    real_cursor = ledger._db.cursor

    class Cursor:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def __enter__(self) -> Cursor:
            self.inner.__enter__()
            return self

        def __exit__(self, *exc: Any) -> None:
            self.inner.__exit__(*exc)

        def execute(self, statement: Any, *rest: Any, **more: Any) -> Any:
            result = self.inner.execute(statement, *rest, **more)
            if "count(*) FILTER (WHERE status" in str(statement):
                # Another workstation records between the totals and the per-month figures.
                with psycopg.connect(postgres_schema, autocommit=True) as other:
                    other.execute(
                        f"INSERT INTO invoices ({', '.join(COLUMNS)}, recorded_at) "
                        f"SELECT {columns}, now() FROM invoices"
                    )
            return result

    ledger._db.cursor = lambda *args, **kwargs: Cursor(real_cursor(*args, **kwargs))
    try:
        stats = ledger.stats()
    finally:
        ledger.close()
    assert stats.invoices == sum(count for _p, _m, count in stats.per_month) == 2


def test_lock_timeout_gives_up_in_french(postgres_schema: str, tmp_path: Path) -> None:
    import psycopg

    from billing_rules.ledger.postgres import PostgresLedger

    _recorded(postgres_schema, tmp_path)
    assert PostgresLedger.lock_timeout == 60.0
    holder = psycopg.connect(postgres_schema)
    try:
        holder.execute("LOCK TABLE invoices IN ACCESS EXCLUSIVE MODE")
        outcome: list[Any] = []

        def record() -> None:
            try:
                with PostgresLedger(postgres_schema, lock_timeout=0.5) as ledger:
                    ledger.stats()
            except LedgerError as exc:
                outcome.append(exc)

        worker = threading.Thread(target=record, daemon=True)
        start = time.monotonic()
        worker.start()
        worker.join(20)
        assert not worker.is_alive(), "waited for the lock forever"
        assert time.monotonic() - start < 15
    finally:
        holder.rollback()
        holder.close()
    assert outcome and "occupé par un autre poste" in str(outcome[0]) and "réessayez" in str(outcome[0])


@pytest.mark.parametrize(
    "foreign",
    ["CREATE TABLE invoice_codes (code text)", "CREATE VIEW invoices AS SELECT 1 AS invoice_id"],
)
def test_foreign_relations_are_refused(postgres_schema: str, foreign: str) -> None:
    import psycopg

    with psycopg.connect(postgres_schema, autocommit=True) as connection:
        connection.execute(foreign)
    with pytest.raises(LedgerError, match="autre application"):
        open_ledger(postgres_schema)


def test_driver_log_is_quiet(postgres_schema: str) -> None:
    import logging

    logging.getLogger("psycopg").setLevel(logging.NOTSET)
    open_ledger(postgres_schema).close()
    assert logging.getLogger("psycopg").getEffectiveLevel() >= logging.CRITICAL


def test_row_lock_timeout_while_recording(postgres_schema: str, tmp_path: Path) -> None:
    import psycopg

    from billing_rules.ledger.postgres import PostgresLedger

    _recorded(postgres_schema, tmp_path)
    with open_ledger(postgres_schema) as ledger:
        events = list(ledger.events())
    holder = psycopg.connect(postgres_schema)
    try:
        holder.execute("SELECT 1 FROM invoices FOR UPDATE")  # another workstation's recording
        start = time.monotonic()
        with PostgresLedger(postgres_schema, lock_timeout=0.5) as ledger:
            with pytest.raises(LedgerError, match="occupé par un autre poste"):
                ledger.record(events)
        assert time.monotonic() - start < 15
    finally:
        holder.rollback()
        holder.close()
