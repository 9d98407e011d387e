"""Schema migrations that move data: extra values named like a column a later SPEC added.

A v1/v2 ledger kept a file's ``discharge_date`` and ``km`` columns as extras (JSON in
``invoices.extra``). Migration 3 added the columns but left those values in the extras, where
``ledger export`` wrote the name twice (CSV: a header ``ledger import`` refuses) or dropped the
value (JSON Lines). Migration 4 moves them (``schema.PROMOTED``), on both back ends; the export
never writes a name twice nor drops a value. Run on SQLite and, with BILLING_RULES_TEST_POSTGRES,
on PostgreSQL (the ``ledger_target`` fixture).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
from click.testing import CliRunner, Result

from billing_rules import cli
from billing_rules.api.validator import Validator
from billing_rules.ledger.common import SPEC_COLUMNS
from billing_rules.ledger.exchange import SalvagedEvents, write_export
from billing_rules.ledger.schema import LATEST, POSTGRES, SCHEMA_TABLE, SQLITE, promote_extra
from billing_rules.ledger.sqlite import SqliteLedger

_INSERT = (
    "INSERT INTO invoices (practitioner_id, invoice_id, date, specialty, sector, patient_id, birth_date, "
    "ald, palliative, neurodegenerative, mt_status, declares_mt, place, homebound, codes, regulated, "
    "status, extra, recorded_at{more}) VALUES ('1', ?, '2026-01-05', 'MG', '1', ?, '1960-01-01', false, "
    "false, false, 'none', false, 'cabinet', false, 'G', false, 'billed', ?, '2024-01-01T00:00:00Z'{values})"
)


def run(*args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(cli.main, list(args), input=stdin, catch_exceptions=False)


def _is_postgres(target: str) -> bool:
    return target.startswith("postgresql://")


def _execute(target: str, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
    if _is_postgres(target):
        import psycopg

        with psycopg.connect(target) as connection:
            for sql, params in statements:
                connection.execute(sql.replace("?", "%s"), params)
        return
    with sqlite3.connect(target) as connection:
        for sql, params in statements:
            connection.execute(sql, params)
    connection.close()


def _query(target: str, sql: str) -> list[tuple[Any, ...]]:
    if _is_postgres(target):
        import psycopg

        with psycopg.connect(target) as connection:
            return [tuple(row) for row in connection.execute(sql).fetchall()]
    connection = sqlite3.connect(target)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def _old_ledger(target: str, version: int, rows: list[dict[str, Any]]) -> None:
    """A ledger at schema ``version`` as an older release left it, built statement by statement.

    Each row: ``invoice_id``, ``extra`` (a dict, stored as JSON text) and, from schema 3 on, the
    ``discharge_date`` and ``km`` columns.
    """
    migrations = POSTGRES if _is_postgres(target) else SQLITE
    statements: list[tuple[str, tuple[Any, ...]]] = []
    for number in range(1, version + 1):
        statements += [(statement, ()) for statement in migrations[number]]
        statements.append((f"INSERT INTO {SCHEMA_TABLE} VALUES (?, '2024-01-01T00:00:00Z')", (number,)))
    for number, row in enumerate(rows):
        extra = json.dumps(row["extra"]) if row.get("extra") is not None else None
        params: tuple[Any, ...] = (row["invoice_id"], f"P{number}", extra)
        if version >= 3:
            sql = _INSERT.format(more=", discharge_date, km", values=", ?, ?")
            params += (row.get("discharge_date"), row.get("km"))
        else:
            sql = _INSERT.format(more="", values="")
        statements.append((sql, params))
        statements.append(
            (
                "INSERT INTO invoice_codes VALUES ('1', ?, 'G', ?, '2026-01-05')",
                (row["invoice_id"], f"P{number}"),
            )
        )
    _execute(target, statements)


def _stored(target: str) -> dict[str, tuple[str | None, str | None, dict[str, Any] | None]]:
    """invoice_id -> (discharge_date, km, extras) as stored, dates and decimals as text."""
    rows = _query(target, "SELECT invoice_id, discharge_date, km, extra FROM invoices")
    return {
        invoice: (
            None if day is None else str(day),
            None if km is None else str(km),
            None if extra is None else json.loads(extra),
        )
        for invoice, day, km, extra in rows
    }


def _export(target: str, *options: str) -> str:
    result = run("ledger", "export", "--ledger", target, *options)
    assert result.exit_code == 0, result.output
    return result.stdout


def _jsonl(text: str) -> dict[str, dict[str, Any]]:
    return {item["invoice_id"]: item for item in map(json.loads, text.splitlines())}


def _header(text: str) -> list[str]:
    return next(csv.reader(io.StringIO(text), delimiter=";"))


# --- migration 4 on a v1 ledger, then export and import ----------------------------------------------


V1_ROWS = [
    {"invoice_id": "I1", "extra": {"discharge_date": "2026-01-01", "note": "x"}},
    {"invoice_id": "I2", "extra": {"discharge_date": "02/01/2026", "km": "12,5"}},  # French spellings
    {"invoice_id": "I3", "extra": {"km": 7}},  # a JSON file's number
    {"invoice_id": "I4", "extra": {"km": "", "discharge_date": None}},  # empty cells: no value
    {"invoice_id": "I5"},
]


def test_v1_extras_move_into_their_columns(ledger_target: str) -> None:
    _old_ledger(ledger_target, 1, V1_ROWS)
    summary = run("ledger", "stats", "--ledger", ledger_target, "--format", "json")  # migrates
    assert summary.exit_code == 0, summary.output
    assert json.loads(summary.stdout)["schema_version"] == LATEST
    assert _stored(ledger_target) == {
        "I1": ("2026-01-01", None, {"note": "x"}),
        "I2": ("2026-01-02", "12.5", None),
        "I3": (None, "7", None),
        "I4": (None, None, None),
        "I5": (None, None, None),
    }


def test_migrated_v1_ledger_exports_and_imports_intact(ledger_target: str, tmp_path: Path) -> None:
    _old_ledger(ledger_target, 1, V1_ROWS)
    exact = _export(ledger_target, "--format", "jsonl")
    invoices = _jsonl(exact)
    assert [(invoices[i]["discharge_date"], invoices[i]["km"]) for i in ("I1", "I2", "I3", "I4", "I5")] == [
        ("2026-01-01", None),
        ("2026-01-02", "12.5"),
        (None, "7"),
        (None, None),
        (None, None),
    ]
    assert invoices["I1"]["note"] == "x"
    raw = _export(ledger_target, "--raw")
    header = _header(raw)
    assert header == [*SPEC_COLUMNS, "note"]  # each name once
    for name, text in (("copie.jsonl", exact), ("copie.csv", raw)):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        copy = str(tmp_path / f"{name}.db")
        result = run("ledger", "import", str(path), "--ledger", copy)
        assert result.exit_code == 0, result.output
        assert "5 factures importées" in result.stderr
        again = _jsonl(_export(copy, "--format", "jsonl"))
        assert {key: (item["discharge_date"], item["km"]) for key, item in again.items()} == {
            key: (item["discharge_date"], item["km"]) for key, item in invoices.items()
        }
        assert _export(copy, "--raw") == raw
        if name.endswith(".jsonl"):
            assert _export(copy, "--format", "jsonl") == exact  # JSON Lines: the exact copy


# --- migration 4 on a ledger already migrated by migration 3 ---------------------------------------


V3_ROWS = [
    # Migration 3 left it there, behind the empty column.
    {"invoice_id": "A", "extra": {"discharge_date": "2026-01-01"}},
    # The column is set and says otherwise: the column wins, the other value stays in the extras.
    {"invoice_id": "B", "discharge_date": "2026-01-03", "extra": {"discharge_date": "2026-01-04", "n": 1}},
    # The same value twice: once is enough.
    {"invoice_id": "C", "discharge_date": "2026-01-03", "km": "3", "extra": {"discharge_date": "03/01/2026"}},
    # Values the reader refuses: kept as they are, never guessed nor dropped.
    {"invoice_id": "D", "extra": {"discharge_date": "hier", "km": "12 km"}},
]


def test_v3_extras_move_unless_unreadable_or_contradicted(ledger_target: str) -> None:
    _old_ledger(ledger_target, 3, V3_ROWS)
    versions = run("ledger", "stats", "--ledger", ledger_target, "--format", "json")
    assert json.loads(versions.stdout)["schema_version"] == LATEST
    assert _stored(ledger_target) == {
        "A": ("2026-01-01", None, None),
        "B": ("2026-01-03", None, {"discharge_date": "2026-01-04", "n": 1}),
        "C": ("2026-01-03", "3", None),
        "D": (None, None, {"discharge_date": "hier", "km": "12 km"}),
    }


def test_export_of_unmoved_extras_names_each_column_once(ledger_target: str, tmp_path: Path) -> None:
    """An extra left beside its column: the column's value when set, else the extra's, once."""
    _old_ledger(ledger_target, 3, V3_ROWS)
    exact = _export(ledger_target, "--format", "jsonl")
    invoices = _jsonl(exact)
    assert invoices["B"]["discharge_date"] == "2026-01-03" and invoices["B"]["n"] == 1
    assert (invoices["D"]["discharge_date"], invoices["D"]["km"]) == ("hier", "12 km")
    for line in exact.splitlines():
        assert line.count('"discharge_date"') == 1 and line.count('"km"') == 1
    raw = _export(ledger_target, "--raw")
    assert _header(raw) == [*SPEC_COLUMNS, "n"]
    # The refused values are not lost on the way back: the import names them, on their row.
    path = tmp_path / "copie.jsonl"
    path.write_text(exact, encoding="utf-8")
    result = run("ledger", "import", str(path), "--ledger", str(tmp_path / "copie.db"))
    assert result.exit_code == 1
    assert "3 factures importées" in result.stderr
    assert "champ discharge_date" in result.stderr and "« hier »" in result.stderr
    assert "champ km" in result.stderr and "« 12 km »" in result.stderr


def test_promote_extra_rules() -> None:
    columns = ("discharge_date", "km")
    assert promote_extra(None, {}, columns) is None
    assert promote_extra('{"note": "x"}', {}, columns) is None
    assert promote_extra("pas du JSON", {}, columns) is None  # not this program's text: left alone
    moved = promote_extra('{"km": 12.5, "note": "x"}', {"km": None}, columns)
    assert moved == ({"km": Decimal("12.5")}, '{"note": "x"}')
    assert promote_extra('{"km": "12,50"}', {"km": "12.5"}, columns) == ({}, None)  # same value
    assert promote_extra('{"km": "13"}', {"km": Decimal("12.5")}, columns) is None  # the column wins
    assert promote_extra('{"km": {"a": 1}}', {"km": None}, columns) is None  # kept as it is
    day = promote_extra('{"discharge_date": "1/2/2026"}', {"discharge_date": None}, columns)
    assert day == ({"discharge_date": dt.date(2026, 2, 1)}, None)


# --- the export of an invoice whose extras collide with its columns ------------------------------


def test_export_of_extras_named_like_columns() -> None:
    """An embedder's Event may carry both; the export writes each name once, losing no empty column."""
    event = Validator.invoice(
        {
            "invoice_id": "F1",
            "date": "2026-01-05",
            "practitioner_id": "1",
            "patient_id": "P1",
            "birth_date": "1960-01-01",
            "codes": "G",
            "km": "3",
        }
    )
    event = attrs.evolve(event, extra={"km": "4", "discharge_date": "2026-01-02", "note": "n"})
    selection: dict[str, Any] = {}
    lines = io.StringIO()
    write_export(SalvagedEvents([event]), selection, "jsonl", lines)
    (item,) = map(json.loads, lines.getvalue().splitlines())
    assert (item["km"], item["discharge_date"], item["note"]) == ("3", "2026-01-02", "n")
    table = io.StringIO()
    write_export(SalvagedEvents([event]), selection, "csv", table, raw=True)
    header, row = csv.reader(io.StringIO(table.getvalue()), delimiter=";")
    assert header == [*SPEC_COLUMNS, "note"]
    values = dict(zip(header, row, strict=True))
    assert (values["km"], values["discharge_date"], values["note"]) == ("3", "2026-01-02", "n")


# --- ledger import: every header read before the ledger is created ---------------------------------


GOOD = "invoice_id;date;practitioner_id;patient_id;birth_date;codes\nF1;2024-02-05;1;P1;1950-01-01;G\n"
NO_COLUMNS = "invoice_id;date\nF2;2024-02-05\n"


def _files(tmp_path: Path) -> tuple[str, str]:
    good, bad = tmp_path / "good.csv", tmp_path / "nocols.csv"
    good.write_text(GOOD, encoding="utf-8")
    bad.write_text(NO_COLUMNS, encoding="utf-8")
    return str(good), str(bad)


def _leftovers(tmp_path: Path) -> list[str]:
    return sorted(path.name for path in tmp_path.iterdir() if path.name.startswith("new.sqlite"))


def test_import_with_an_unreadable_header_creates_no_ledger_in_any_order(tmp_path: Path) -> None:
    good, bad = _files(tmp_path)
    target = str(tmp_path / "new.sqlite")
    for files in ((good, bad), (bad, good)):
        result = run("ledger", "import", *files, "--ledger", target)
        assert result.exit_code == 2
        assert "nocols.csv" in result.stderr and "obligatoire" in result.stderr
        assert _leftovers(tmp_path) == []


def test_import_with_unreadable_standard_input_after_a_file_creates_no_ledger(tmp_path: Path) -> None:
    """Standard input is read once, in its turn: the ledger this command created is then removed."""
    good, _ = _files(tmp_path)
    result = run(
        "ledger", "import", good, "-", "--ledger", str(tmp_path / "new.sqlite"), stdin=NO_COLUMNS.encode()
    )
    assert result.exit_code == 2
    assert "l'entrée standard" in result.stderr
    assert _leftovers(tmp_path) == []


def test_import_failure_leaves_an_existing_ledger_as_it_was(tmp_path: Path) -> None:
    good, bad = _files(tmp_path)
    empty = tmp_path / "new.sqlite"
    SqliteLedger(empty).close()  # created before, empty
    result = run("ledger", "import", good, "-", "--ledger", str(empty), stdin=NO_COLUMNS.encode())
    assert result.exit_code == 2
    assert empty.exists()  # not this command's to remove, even empty
    filled = tmp_path / "filled.sqlite"
    assert run("ledger", "import", good, "--ledger", str(filled)).exit_code == 0
    before = _export(str(filled), "--format", "jsonl")
    for files in ((good, bad), (bad, good)):
        assert run("ledger", "import", *files, "--ledger", str(filled)).exit_code == 2
    assert _export(str(filled), "--format", "jsonl") == before
