"""The ledger as storage: opening (corrupt, foreign, newer files), schema migrations, permissions,
index use of the window queries."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules import cli
from billing_rules.api.validator import Validator
from billing_rules.ledger import HistoryRequest, LedgerError, open_ledger
from billing_rules.ledger.common import plan_windows
from billing_rules.ledger.schema import LATEST, POSTGRES, SCHEMA_TABLE, SQLITE
from billing_rules.ledger.sqlite import SqliteLedger

ROW = "invoice_id;date;practitioner_id;patient_id;birth_date;codes\nF1;2024-02-05;1;P1;1950-01-01;G\n"


def _check(tmp_path: Path, target: str) -> tuple[int, str]:
    day = tmp_path / "jour.csv"
    day.write_text(ROW, encoding="utf-8")
    result = CliRunner().invoke(cli.main, ["check", str(day), "--ledger", target, "--record"])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    "content",
    [b"ceci n'est pas un registre\n" * 100, b"SQLite format 3\x00" + b"\xff" * 4000, os.urandom(8192)],
    ids=["text", "damaged-header", "random"],
)
def test_corrupt_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    ledger = tmp_path / "registre.db"
    ledger.write_bytes(content)
    code, output = _check(tmp_path, str(ledger))
    assert code == 2
    assert "n'est pas un registre billing-rules lisible" in output
    assert "Traceback" not in output
    assert ledger.read_bytes() == content  # nothing written into someone else's file


def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "compta.db"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE ecritures (id INTEGER)")
    code, output = _check(tmp_path, str(foreign))
    assert code == 2
    assert "base SQLite d'une autre application" in output


def test_directory_and_missing_folder(tmp_path: Path) -> None:
    code, output = _check(tmp_path, str(tmp_path))
    assert code == 2 and "dossier" in output
    code, output = _check(tmp_path, str(tmp_path / "absent" / "registre.db"))
    assert code == 2 and "impossible de créer le registre" in output


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "registre.db"
    SqliteLedger(path).close()
    with sqlite3.connect(path) as connection:
        connection.execute(f"INSERT INTO {SCHEMA_TABLE} VALUES (?, 'futur')", (LATEST + 1,))
    code, output = _check(tmp_path, str(path))
    assert code == 2
    assert "version plus récente" in output


def test_new_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "registre.db"
    old = os.umask(0o022)
    try:
        ledger = SqliteLedger(path)
        ledger.record(
            [
                Validator.invoice(
                    {
                        "invoice_id": "F1",
                        "date": "2024-02-05",
                        "practitioner_id": "1",
                        "patient_id": "P",
                        "birth_date": "1950-01-01",
                        "codes": "G",
                    }
                )
            ]
        )
        for suffix in ("", "-wal", "-shm"):
            mode = stat.S_IMODE((tmp_path / f"registre.db{suffix}").stat().st_mode)
            assert mode == 0o600, (suffix, oct(mode))
        ledger.close()
    finally:
        os.umask(old)


def test_wal_and_busy_timeout(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "registre.db")
    try:
        assert ledger._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert ledger._db.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
        assert ledger.schema_version == LATEST
    finally:
        ledger.close()


def test_forward_migration_keeps_data(tmp_path: Path) -> None:
    """A ledger of schema 1 (first release: tables, no window indexes) is migrated on opening."""
    path = tmp_path / "ancien.db"
    with sqlite3.connect(path) as connection:
        for statement in SQLITE[1]:
            connection.execute(statement)
        connection.execute(f"INSERT INTO {SCHEMA_TABLE} VALUES (1, '2024-01-01T00:00:00Z')")
        connection.execute(
            "INSERT INTO invoices (practitioner_id, invoice_id, date, specialty, sector, patient_id, "
            "birth_date, ald, palliative, neurodegenerative, mt_status, declares_mt, place, homebound, "
            "codes, regulated, status, recorded_at) VALUES ('1', 'I1', '2023-06-12', 'MG', '1', 'P1', "
            "'1960-01-01', 1, 0, 0, 'none', 0, 'cabinet', 0, 'IMT', 0, 'billed', 'x')"
        )
        connection.execute("INSERT INTO invoice_codes VALUES ('1', 'I1', 'IMT', 'P1', '2023-06-12')")
    ledger = SqliteLedger(path)
    try:
        assert ledger.schema_version == LATEST
        versions = [row[0] for row in ledger._db.execute(f"SELECT version FROM {SCHEMA_TABLE} ORDER BY 1")]
        assert versions == list(range(1, LATEST + 1))
        indexes = {
            row[0] for row in ledger._db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        assert {"invoice_codes_by_patient", "invoice_codes_by_practitioner"} <= indexes
        assert ledger.stats().invoices == 1
    finally:
        ledger.close()
    day = tmp_path / "jour.csv"
    day.write_text(
        "invoice_id;date;practitioner_id;patient_id;birth_date;codes;ald;mt_status\nI2;2025-01-06;2;P1;1960-01-01;IMT;oui;none\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli.main, ["check", str(day), "--ledger", str(path), "--format", "json"])
    assert '"IMT-ONCE"' in result.output


def test_migrations_are_numbered_alike() -> None:
    assert sorted(SQLITE) == sorted(POSTGRES) == list(range(1, LATEST + 1))


def test_open_ledger_without_create(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="introuvable"):
        open_ledger(tmp_path / "absent.db", create=False)
    result = CliRunner().invoke(cli.main, ["ledger", "stats", "--ledger", str(tmp_path / "absent.db")])
    assert result.exit_code == 2 and "registre introuvable" in result.output


def test_window_queries_use_the_indexes(tmp_path: Path, builtin_validator: Validator) -> None:
    """EXPLAIN QUERY PLAN of the history statement: every window is an index range, no table scan."""
    ledger = SqliteLedger(tmp_path / "registre.db")
    try:
        ledger._db.execute("ANALYZE")
        day = dt.date(2024, 3, 6)
        for patients in (frozenset({"P1"}), frozenset(f"P{n}" for n in range(2000))):
            request = HistoryRequest(
                patients=patients,
                practitioners=frozenset({"10001"}),
                windows=plan_windows(builtin_validator.engine.counters.values(), day, day),
            )
            sql, params = ledger.history_rows(request)
            plan = ledger.explain(sql, params)
            text = "\n".join(plan)
            assert "invoice_codes_by_patient" in text, text
            assert "invoice_codes_by_practitioner" in text, text
            assert not any(
                line.startswith("SCAN invoice_codes") or line.startswith("SCAN i") for line in plan
            ), text
            # The rolling window keyed by patient and practitioner must not walk the practitioner's rows.
            assert "PRIMARY KEY (practitioner_id" not in text, text
    finally:
        ledger.close()


@pytest.mark.postgres
def test_postgres_foreign_invoices_table_is_refused(postgres_schema: str) -> None:
    import psycopg

    with psycopg.connect(postgres_schema, autocommit=True) as connection:
        connection.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(LedgerError, match="autre application"):
        open_ledger(postgres_schema)


@pytest.mark.postgres
def test_postgres_password_never_shown(postgres_dsn: str) -> None:
    from billing_rules.ledger.postgres import public_label

    assert public_label("postgresql://user:secret@host:5432/db") == "postgresql://user:***@host:5432/db"
    with pytest.raises(LedgerError) as error:
        open_ledger("postgresql://user:secret@127.0.0.1:1/db")
    assert "secret" not in str(error.value)
