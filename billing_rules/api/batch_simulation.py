"""``simulate`` (SPEC §7) on the relational engine: a period of the ledger checked twice by one plan each.

The row engine's simulation (:func:`billing_rules.api.simulation.simulate`) builds an event for every
invoice of the ledger up to the period's end, then checks the period twice. Here the ledger writes
those rows once, in bulk, to a CSV file (:meth:`copy_rows`, in the order of ``ledger export``: each
row's rank is its ``seq``), and DuckDB reads it for each run: the invoices before the period are the
history (``ledger`` rows), those of the period the input. For the run under the texts of ``as_of``,
the codes that do not exist that day are left out of the lists in SQL, and an invoice left with no
code is left out, as :func:`billing_rules.api.simulation._without_absent` does.

Only what the report needs comes back to Python: the findings (built from the few invoices that have
one), the period's practitioners and invoice counts, the codes left out, and for the forfait médecin
traitant the few invoices :func:`billing_rules.domain.forfait.estimate.mt_patientele` can look at: for
each patient and practitioner, the latest billed invoice, the latest that says who the MT is, the latest
that makes the practitioner the MT, and the latest whose export has a ``c2s`` column (each
practitioner's forfait is then estimated on the invoices of their own patients only). Every invoice that
function takes as "the latest" of something is among them, so its result is the same.

Every result is identical to the row engine's (``tests/engines/test_relational_simulate.py``).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from billing_rules import scratch
from billing_rules.engines.relational.history import read_stored, stored_to_table
from billing_rules.engines.relational.table import TABLE
from billing_rules.model import Event
from billing_rules.readers.prepared import event_of

if TYPE_CHECKING:
    from billing_rules.api.simulation import Simulation
    from billing_rules.api.validator import Validator
    from billing_rules.domain.forfait.tables import PractitionerFacts

#: ``simulate --engine auto`` runs the relational engine from this many ledger rows.
AUTO_ROWS = 50_000

_CODES = "string_split(coalesce(codes, ''), '+')"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _day(value: dt.date) -> str:
    return f"DATE '{value.isoformat()}'"


class PeriodTable:
    """The invoice table of one run: the ledger's CSV, ``start`` splitting history from input.

    ``absent``: codes left out of every invoice (the run under the texts of ``as_of``).
    """

    def __init__(self, path: str, start: dt.date, absent: Sequence[str] = ()) -> None:
        self._path = path
        self._start = start
        self._absent = tuple(absent)
        self.inputs = 0

    def create(self, con: Any) -> None:
        """Create :data:`TABLE` in the DuckDB connection ``con``."""
        codes = _CODES
        where = ""
        if self._absent:
            absent = "[" + ", ".join(_literal(code) for code in self._absent) + "]"
            codes = f"list_filter({_CODES}, lambda c: NOT list_contains({absent}, c))"
            # An invoice that loses every code is left out (a stored invoice without codes reads as
            # the one empty code, which no list of absent codes holds: it is kept, as it is).
            where = f" WHERE len({codes}) > 0"
        origin = f"CASE WHEN CAST(date AS DATE) >= {_day(self._start)} THEN 'input' ELSE 'ledger' END"
        selected = stored_to_table(origin=origin, seq="CAST(n AS BIGINT)", codes=codes)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {TABLE} AS SELECT {selected} FROM {read_stored(self._path)}{where}"  # noqa: S608
        )
        self.inputs = int(con.execute(f"SELECT count(*) FROM {TABLE} WHERE origin = 'input'").fetchone()[0])  # noqa: S608

    def discard(self) -> None:
        """Nothing to drop: the CSV file belongs to the simulation."""


class _Facts:
    """What the report needs besides findings, read from the ledger's CSV in one DuckDB session."""

    def __init__(self, path: str, start: dt.date, exists: Callable[[str], bool]) -> None:
        from billing_rules.engines.relational.duckdb import DuckDbBackend, interruptible

        backend = DuckDbBackend()
        try:
            # Every call on the connection: a Ctrl-C that DuckDB turns into its own error still
            # stops the simulation as a Ctrl-C.
            with interruptible():
                self._read(backend, path, start, exists)
        finally:
            backend.close()

    def _read(self, backend: Any, path: str, start: dt.date, exists: Callable[[str], bool]) -> None:
        """The period's absent codes, the acts they drop, the counts per practitioner, the forfait events."""
        con = backend.con
        PeriodTable(path, start).create(con)
        period = "origin = 'input'"
        distinct = con.execute(f"SELECT DISTINCT unnest(codes) FROM {TABLE}").fetchall()  # noqa: S608
        self.absent = sorted(code for (code,) in distinct if not exists(code))
        self.dropped: dict[str, int] = {}
        if self.absent:
            absent = "[" + ", ".join(_literal(code) for code in self.absent) + "]"
            rows = con.execute(
                f"SELECT code, count(*) FROM (SELECT unnest(codes) AS code FROM {TABLE} WHERE {period}) "  # noqa: S608
                f"WHERE list_contains({absent}, code) GROUP BY code"
            ).fetchall()
            self.dropped = {code: int(count) for code, count in rows}
        self.per_practitioner = dict(
            con.execute(
                f"SELECT practitioner_id, count(*) FROM {TABLE} WHERE {period} GROUP BY practitioner_id"  # noqa: S608
            ).fetchall()
        )
        self.forfait_events = self._forfait_events(backend)

    @staticmethod
    def _forfait_events(backend: Any) -> list[Event]:
        """The invoices :func:`mt_patientele` can name as a patient's latest (see the module doc)."""
        latest = []
        for condition in (
            "TRUE",
            "(mt_status <> 'unknown' OR declares_mt)",
            "(mt_status = 'self' OR declares_mt)",
            "coalesce(extras, '') LIKE '%c2s%'",
        ):
            latest.append(
                f"SELECT seq FROM (SELECT seq, row_number() OVER (PARTITION BY patient_id, practitioner_id "  # noqa: S608
                f"ORDER BY seq DESC) AS r FROM {TABLE} WHERE status = 'billed' AND {condition}) WHERE r = 1"
            )
        cursor = backend.con.execute(
            f"SELECT * FROM {TABLE} WHERE seq IN ({' UNION '.join(latest)}) ORDER BY seq"  # noqa: S608
        )
        names = [column[0] for column in cursor.description]
        return [event_of(dict(zip(names, row, strict=True))) for row in cursor.fetchall()]


def ledger_rows(ledger: Any) -> int:
    """How many invoices the ledger holds (what ``--engine auto`` decides on)."""
    return int(ledger.stats().invoices)


def simulate(
    ledger: Any,
    *,
    start: dt.date,
    end: dt.date,
    as_of: dt.date,
    now: Validator,
    then: Validator,
    practitioner_id: str | None = None,
    facts: Callable[[str], PractitionerFacts | None] | None = None,
    draft_files: Sequence[str] = (),
) -> Simulation:
    """:func:`billing_rules.api.simulation.simulate` on the relational engine, reading ``ledger`` in bulk."""
    from billing_rules.api.simulation import _exists_on, compared
    from billing_rules.engines.relational.api import checker_for

    handle = tempfile.NamedTemporaryFile(suffix=".csv", prefix="period-", delete=False, dir=scratch.folder())
    handle.close()
    try:
        ledger.copy_rows(handle.name, end=end)
        known = _Facts(handle.name, start, _exists_on(now, as_of))
        # Any table with ``create``/``inputs``/``discard`` will do (``check_table`` names the writer's type).
        as_they_were: Any = PeriodTable(handle.name, start)
        under_as_of: Any = PeriodTable(handle.name, start, known.absent)
        before = checker_for(now).check_table(as_they_were, adjust=now._adjust).findings
        after = checker_for(then).check_table(under_as_of, adjust=then._adjust).findings
    finally:
        os.unlink(handle.name)
    by_patient: dict[str, list[Event]] = {}
    patients_of: dict[str, set[str]] = {}
    for event in known.forfait_events:
        by_patient.setdefault(event.patient_id, []).append(event)
        patients_of.setdefault(event.practitioner_id, set()).add(event.patient_id)

    def invoices_of(who: str) -> list[Event]:
        # Only the patients ``who`` billed can be in their patientèle: their invoices, with anyone.
        return [event for patient in patients_of.get(who, ()) for event in by_patient[patient]]

    return compared(
        before,
        after,
        start=start,
        end=end,
        as_of=as_of,
        now=now,
        then=then,
        practitioners=known.per_practitioner,
        invoices=lambda chosen: sum(int(known.per_practitioner.get(who, 0)) for who in chosen),
        invoices_of=invoices_of,
        dropped=dict(known.dropped),
        practitioner_id=practitioner_id,
        facts=facts,
        draft_files=draft_files,
        engine="duckdb",
    )
