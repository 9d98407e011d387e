"""How DuckDB stores the invoice table: the closed SPEC §1 vocabularies as ENUMs.

One byte a row instead of a sixteen-byte text is what keeps 10 M invoices closer to DuckDB's memory
limit; the queries must not notice: every way the table is filled (events, the columnar reader's
frames, a ledger's rows read back as text) gives the same types, a missing stored value still
reads, and a comparison with a word outside the vocabulary is false, not an error.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

from billing_rules.engines.relational import history  # noqa: E402
from billing_rules.engines.relational.duckdb import DuckDbBackend  # noqa: E402
from billing_rules.engines.relational.table import DUCKDB_TYPES, SCHEMA, TABLE, TableWriter  # noqa: E402
from billing_rules.model import MtStatus, Place, Sector, Status  # noqa: E402
from billing_rules.testing import make_event  # noqa: E402

CLOSED = {"sector": Sector, "mt_status": MtStatus, "place": Place, "status": Status}


def _types(con: object) -> dict[str, str]:
    rows = con.execute(
        f"SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '{TABLE}'"
    )  # type: ignore[attr-defined]  # noqa: S608
    return dict(rows.fetchall())


def test_every_member_of_each_vocabulary_is_in_its_enum() -> None:
    for name, members in CLOSED.items():
        for member in members:
            assert f"'{member.value}'" in DUCKDB_TYPES[name]
    assert DUCKDB_TYPES["origin"] == "ENUM('ledger', 'input')"
    assert {name for name in SCHEMA if DUCKDB_TYPES[name] != SCHEMA[name]} == {"origin", *CLOSED}


def test_events_are_stored_with_enums_and_read_back_as_text() -> None:
    backend = DuckDbBackend()
    try:
        writer = TableWriter()
        writer.add_input(make_event(invoice_id="F1", place=Place.DOMICILE, sector=Sector.OPTAM))
        writer.add_history(make_event(invoice_id="F0"))
        writer.create(backend.con)
        types = _types(backend.con)
        for name in ("origin", *CLOSED):
            assert types[name].startswith("ENUM"), name
        con = backend.con
        rows = con.execute(f"SELECT origin, place, sector FROM {TABLE} ORDER BY seq DESC").fetchall()  # noqa: S608
        assert rows[0] == ("input", "domicile", "optam")
        assert all(isinstance(value, str) for value in rows[0])
        outside = f"SELECT count(*) FROM {TABLE} WHERE place = 'teleconsultation' OR sector IN ('3', 'x')"  # noqa: S608
        assert con.execute(outside).fetchone() == (0,)
        union = f"SELECT origin FROM {TABLE} UNION ALL SELECT 'suggested'"  # noqa: S608
        assert sorted(row[0] for row in con.execute(union).fetchall()) == ["input", "ledger", "suggested"]
    finally:
        backend.close()


def test_a_ledger_row_without_a_stored_value_still_loads(tmp_path: Path) -> None:
    """A ledger row read back as text turns a missing value into the empty text: it is in each ENUM."""
    stored = tmp_path / "ledger.csv"
    values = {name: "" for name in history.STORED}
    values.update(
        invoice_id="F9", practitioner_id="P1", patient_id="X1", date="2026-01-05", codes="G", sector="1",
        mt_status="self", place="", status="billed", ald="0", n="1",
    )  # fmt: skip
    with stored.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow([values.get(name, "") for name in history.STORED])
    backend = DuckDbBackend()
    try:
        selected = history.stored_to_table(origin="'ledger'", seq="0")
        backend.con.execute(
            f"CREATE TEMP TABLE {TABLE} AS SELECT {selected} FROM {history.read_stored(str(stored))}"
        )  # noqa: S608
        assert backend.con.execute(f"SELECT origin, place, sector FROM {TABLE}").fetchall() == [
            ("ledger", "", "1")
        ]  # noqa: S608
        assert _types(backend.con)["place"].startswith("ENUM")
    finally:
        backend.close()
