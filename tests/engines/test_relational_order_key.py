"""The SPEC §1 order key ``ord`` (``engines/relational/order.py``) at the edges of its ranges.

The key is a BIGINT computed from each row's own columns; it must sort exactly as the SPEC §1 sort
(ledger, date, timed before untimed, time, ``seq``) on every engine, keep within 64 bits at the
extreme dates and ``seq`` offsets, and give way to the numbered ROW_NUMBER when a row does not fit.
The first key of a window (date, then ``ord``) is checked the same way, and whole checks whose
windows cross those edges give the row engine's findings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import attrs
import pytest

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

from executors import ALL, run_args  # noqa: E402

from billing_rules.api.validator import Validator  # noqa: E402
from billing_rules.engines.relational import api, order, sql  # noqa: E402
from billing_rules.engines.relational.table import _HISTORY_SEQ, TableWriter  # noqa: E402
from billing_rules.readers.values import ACT_DATE_MAX, ACT_DATE_MIN  # noqa: E402
from billing_rules.testing import make_event  # noqa: E402

FIRST, LAST = ACT_DATE_MIN, ACT_DATE_MAX
SPAN = order.SEQ_SPAN


@attrs.frozen
class Row:
    """One invoice of the table: its origin, date, time (seconds, or None) and ``seq``."""

    origin: str
    date: dt.date
    second: int | None
    seq: int

    def spec_key(self) -> tuple[Any, ...]:
        """SPEC §1: the ledger first, then date, timed before untimed, time, file order."""
        return (self.origin != "ledger", self.date, self.second is None, self.second or 0, self.seq)

    def first_key(self) -> tuple[Any, ...]:
        """A window's first invoice: the earliest date, then the SPEC §1 order."""
        return (self.date, *self.spec_key()[:1], *self.spec_key()[2:])


class _Table:
    """The invoice table of ``rows`` (through :class:`TableWriter`), with their exact ``seq``."""

    def __init__(self, rows: Sequence[Row]) -> None:
        self.rows = rows
        self.writer = TableWriter()
        for index, row in enumerate(rows):
            second = row.second
            time = None if second is None else dt.time(second // 3600, second // 60 % 60, second % 60)
            # Built without the validator: the fallback's rows are dated outside the readers' range.
            event = attrs.evolve(make_event(invoice_id=f"F{index}"), date=row.date, time=time)
            event = attrs.evolve(event, birth_date=min(event.birth_date, row.date))
            (self.writer.add_history if row.origin == "ledger" else self.writer.add_input)(event)
        self.inputs = self.writer.inputs

    def create(self, con: Any) -> None:
        self.writer.create(con)
        seqs = ", ".join(f"('F{index}', {row.seq})" for index, row in enumerate(self.rows))
        con.execute(
            f"UPDATE invoices SET seq = v.seq FROM (VALUES {seqs}) AS v(id, seq) "  # noqa: S608
            "WHERE invoices.invoice_id = v.id"
        )

    def discard(self) -> None:
        self.writer.discard()


def _backend(engine: str) -> Any:
    if engine != "duckdb":
        from billing_rules.engines.relational.spark import SparkBackend

        return SparkBackend(master=run_args(engine).get("master"))
    from billing_rules.engines.relational.duckdb import DuckDbBackend

    return DuckDbBackend()


def keys_of(
    engine: str, rows: Sequence[Row], *, numbered: bool = False
) -> tuple[order.OrderKey, dict[int, tuple[int, int]]]:
    """The key chosen for ``rows``, and each row's (``ord``, first key) as the engine computes them."""
    backend = _backend(engine)
    try:
        backend.load_invoices(_Table(rows))
        bounds = order.TableBounds.of(backend.tuples(order.bounds_query())[0])
        key = order.OrderKey(packed=False) if numbered else bounds.order_key()
        backend.execute(sql.values_table(sql.HOLIDAYS, ("day",), [(dt.date(2024, 1, 1),)]))
        backend.execute(sql.create(sql.BASE, sql.base_query(history=bounds.history, order=key)))
        from sqlglot import exp

        query = exp.select(
            exp.column("invoice_id", table="b"),
            exp.column("ord", table="b"),
            order.first_key("b", packed=key.packed).as_("fkey"),
        ).from_(exp.to_table(sql.BASE).as_("b"))
        found = {int(invoice[1:]): (int(ord_), int(fkey)) for invoice, ord_, fkey in backend.tuples(query)}
        return key, found
    finally:
        backend.close()


def assert_sorted_as_spec(rows: Sequence[Row], found: dict[int, tuple[int, int]]) -> None:
    assert len(found) == len(rows)
    by_ord = sorted(found, key=lambda index: found[index][0])
    assert by_ord == sorted(range(len(rows)), key=lambda index: rows[index].spec_key())
    by_first = sorted(found, key=lambda index: found[index][1])
    assert by_first == sorted(range(len(rows)), key=lambda index: rows[index].first_key())
    assert len({ord_ for ord_, _ in found.values()}) == len(rows), "ord is a subject's id: unique"


#: Rows at every edge the packed key has: both ends of the dates and of each origin's ``seq``
#: offsets (the extreme keys ±(2⁶³ − 9 × 10⁹)), ledger and input on one day, 23:59:59 against
#: untimed, midnight against the day before's untimed, ``seq`` ties broken by file order.
EDGES = (
    Row("ledger", LAST, None, _HISTORY_SEQ + SPAN - 1),  # the largest ledger key: -1
    Row("ledger", FIRST, 0, _HISTORY_SEQ),  # the smallest key of all
    Row("input", FIRST, 0, 0),  # 0: the smallest input key
    Row("input", LAST, None, SPAN - 1),  # the largest key of all
    Row("input", dt.date(2024, 3, 4), None, 5),
    Row("input", dt.date(2024, 3, 4), 86_399, 9),  # 23:59:59 before untimed, whatever seq says
    Row("ledger", dt.date(2024, 3, 4), None, _HISTORY_SEQ + 7),  # same day: the ledger first
    Row("ledger", dt.date(2024, 3, 4), 30_600, _HISTORY_SEQ + 8),
    Row("input", dt.date(2024, 3, 5), 0, 3),  # midnight after the day before's untimed
    Row("input", dt.date(2024, 3, 4), 30_600, 12),  # time ties: file order
    Row("input", dt.date(2024, 3, 4), 30_600, 11),
    Row("input", dt.date(2024, 3, 4), 30_601, 10),
    Row("ledger", dt.date(2024, 3, 4), 30_600, _HISTORY_SEQ + 2),
    Row("ledger", dt.date(2199, 12, 30), None, _HISTORY_SEQ + 1),
    Row("input", dt.date(1900, 1, 2), None, 4),
)


@pytest.mark.parametrize("engine", ALL, indirect=True)
def test_packed_key_sorts_as_spec_at_its_edges(engine: str) -> None:
    key, found = keys_of(engine, EDGES)
    assert key == order.OrderKey(packed=True, input_seq=0, ledger_seq=_HISTORY_SEQ)
    assert_sorted_as_spec(EDGES, found)
    ords = {index: ord_ for index, (ord_, _) in found.items()}
    assert ords[1] == -order.DAY_SPAN * order.DAY_WIDTH and ords[0] == -1
    assert ords[2] == 0 and ords[3] == order.DAY_SPAN * order.DAY_WIDTH - 1
    assert max(abs(ord_) for ord_ in ords.values()) < 2**63
    assert max(abs(fkey) for _, fkey in found.values()) < 2**63


@pytest.mark.parametrize("engine", ALL, indirect=True)
def test_numbered_fallback_sorts_the_same(engine: str) -> None:
    key, found = keys_of(engine, EDGES, numbered=True)
    assert not key.packed
    assert_sorted_as_spec(EDGES, found)
    assert sorted(ord_ for ord_, _ in found.values()) == list(range(1, len(EDGES) + 1))


def test_seq_offsets_count_from_each_origins_first() -> None:
    """A simulated period numbers both origins from its ledger's ranks: offsets make them alike."""
    rows = (
        Row("ledger", dt.date(2024, 1, 2), None, 40),
        Row("input", dt.date(2024, 1, 1), None, 41),
        Row("ledger", dt.date(2024, 1, 1), None, 42),
        Row("input", dt.date(2024, 1, 1), None, 1),
        Row("ledger", dt.date(2024, 1, 1), None, 40 + SPAN - 1),
    )
    key, found = keys_of("duckdb", rows)
    assert key == order.OrderKey(packed=True, input_seq=1, ledger_seq=40)
    assert_sorted_as_spec(rows, found)


@pytest.mark.parametrize(
    "outside",
    [
        pytest.param(Row("input", dt.date(1899, 12, 31), None, 1), id="before-1900"),
        pytest.param(Row("ledger", dt.date(2200, 1, 1), 0, _HISTORY_SEQ + 100), id="after-2199"),
        pytest.param(Row("input", dt.date(2024, 3, 4), 10, SPAN), id="input-seq-span"),
        pytest.param(Row("ledger", dt.date(2024, 3, 4), 10, _HISTORY_SEQ + SPAN), id="ledger-seq-span"),
    ],
)
def test_a_row_out_of_range_falls_back_to_the_numbered_key(outside: Row) -> None:
    rows = (*EDGES, outside)
    key, found = keys_of("duckdb", rows)
    assert not key.packed
    assert_sorted_as_spec(rows, found)


def test_bounds_decide_the_key() -> None:
    def decide(**changes: Any) -> order.OrderKey:
        values: dict[str, Any] = {
            "first_date": FIRST,
            "last_date": LAST,
            "first_second": 0,
            "last_second": 86_399,
            "input_seqs": (0, SPAN - 1),
            "ledger_seqs": (_HISTORY_SEQ, _HISTORY_SEQ + SPAN - 1),
        }
        return order.TableBounds(**{**values, **changes}).order_key()

    assert decide() == order.WRITER_KEY
    assert decide(ledger_seqs=None) == order.OrderKey(packed=True, input_seq=0, ledger_seq=0)
    empty = {"first_date": None, "last_date": None, "first_second": None, "last_second": None}
    assert decide(**empty, input_seqs=None, ledger_seqs=None).packed
    assert decide(first_second=None, last_second=None).packed  # no act has a time
    assert not decide(first_date=FIRST - dt.timedelta(days=1)).packed
    assert not decide(last_date=LAST + dt.timedelta(days=1)).packed
    assert not decide(last_second=86_400).packed
    assert not decide(first_second=-1).packed
    assert not decide(input_seqs=(0, SPAN)).packed
    assert not decide(ledger_seqs=(_HISTORY_SEQ - 1, _HISTORY_SEQ + SPAN - 1)).packed


def test_the_ranges_fill_64_bits_and_match_the_readers() -> None:
    assert (order.EPOCH, order.DAY_SPAN) == (ACT_DATE_MIN, (ACT_DATE_MAX - ACT_DATE_MIN).days + 1)
    assert order.DAY_SPAN * order.DAY_WIDTH < 2**63 <= order.DAY_SPAN * order.SECOND_SPAN * (SPAN + 1)
    assert SPAN > 900_000_000


def _imt(day: str, invoice: str, **fields: Any) -> Any:
    return make_event(
        codes="IMT", ald="oui", mt_status="none", date=day, invoice_id=invoice, patient_id="P-1", **fields
    )


@pytest.mark.parametrize("engine", ALL, indirect=True)
@pytest.mark.parametrize("fallback", [False, True], ids=["packed", "numbered"])
def test_first_invoice_of_a_window_as_the_row_engine(
    builtin_validator: Validator, engine: str, fallback: bool
) -> None:
    """IMT once ever: the ledger counts first, the window's first invoice is the earliest date.

    A ledger invoice later than the input's, one on the same day as an input invoice (the ledger's
    is first), untimed against 23:59: the findings' first dates and invoices are the row engine's.
    ``numbered``: one history invoice dated before 1900 (an API caller's own event) makes the key
    fall back to the ROW_NUMBER, with the same findings.
    """
    history = [
        _imt("2024-05-02", "L1", practitioner_id="20002"),
        _imt("2024-02-01", "L2", practitioner_id="20003", time="23:59"),
        _imt("2024-02-01", "L3", practitioner_id="20004"),
    ]
    if fallback:
        old = _imt("2024-01-01", "L0", practitioner_id="20005")
        history.append(attrs.evolve(old, date=dt.date(1899, 6, 1), birth_date=dt.date(1850, 1, 1)))
    events = [
        _imt("2024-02-01", "F1", time="08:00", seq=0),
        _imt("2024-03-15", "F2", seq=1),
        _imt("2024-02-01", "F3", seq=2),
        _imt("2024-02-01", "F4", time="23:59", seq=3),
    ]
    expected = builtin_validator.check_events(events, history=history).findings
    found = api.check_events(builtin_validator, events, history=history, **run_args(engine)).findings
    assert [(f.rule, f.invoice_id, f.message, f.window) for f in found] == [
        (f.rule, f.invoice_id, f.message, f.window) for f in expected
    ]
    assert sum(f.rule == "IMT-ONCE" for f in expected) == len(events)
