"""DuckDB: the embedded engine that runs the relational plan's statements on one machine.

The statements are sqlglot trees generated in DuckDB's dialect here, and nowhere else. Memory stays
bounded: DuckDB spills to a temporary directory beyond ``memory_limit``.

A Ctrl-C that arrives while DuckDB runs a statement is caught by DuckDB itself, which stops the
statement and raises its own error instead (``RuntimeError: Query interrupted``, or
``duckdb.InterruptException`` when the connection was interrupted): every call on the connection
goes through :func:`interruptible`, which gives the ``KeyboardInterrupt`` back, so the command
exits 130 saying that nothing was recorded rather than 2 with an "internal error".
"""

from __future__ import annotations

import contextlib
import csv
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlglot import exp

from billing_rules import interrupt, scratch

DIALECT = "duckdb"
#: DuckDB's memory limit while the input is read into it: the columnar reader's own buffers (the
#: batch being validated, the next one being cut, a hash and a rank of every row for the duplicate
#: check) live beside it then (10 M rows: about 3.0 GiB in all; 2.5 GB here was no faster).
DEFAULT_MEMORY = "2GB"
#: Its limit once the input is in, when the reader's memory has gone back: at 10 M rows, the
#: statements over ``base`` then spill less (a whole check 42-43 s -> 36.5 s, about the same peak).
CHECKING_MEMORY = "3GB"

#: What DuckDB's Python client raises when a signal handler raised while a statement ran: the
#: ``KeyboardInterrupt`` itself is swallowed (checked with ``PyErr_CheckSignals``, then cleared).
_INTERRUPTED = "Query interrupted"


def is_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` is DuckDB saying that a statement was interrupted, and nothing else.

    Three forms, all seen with a Ctrl-C: DuckDB's ``InterruptException`` (the connection was
    interrupted); the ``RuntimeError`` whose whole text is the one its client raises for a signal;
    and a DuckDB error saying that Python code it called back (reading a registered Arrow
    stream's schema) failed with ``KeyboardInterrupt``. Any other error (a failed statement, a
    bug) keeps its type, so that it is never mistaken for a Ctrl-C.
    """
    import duckdb

    interrupted = getattr(duckdb, "InterruptException", None)
    if interrupted is not None and isinstance(exc, interrupted):
        return True
    if type(exc) is RuntimeError:
        return str(exc).strip() == _INTERRUPTED
    if isinstance(exc, duckdb.Error):
        return isinstance(exc.__context__, KeyboardInterrupt) or "failed: KeyboardInterrupt" in str(exc)
    return False


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Run DuckDB calls; an interruption comes out as the ``KeyboardInterrupt`` it stands for.

    The CLI then tells a real Ctrl-C (its handler saw SIGINT) from anything else, as for every
    other ``KeyboardInterrupt`` (:mod:`billing_rules.interrupt`).
    """
    try:
        yield
    except Exception as exc:
        if is_interrupt(exc):
            raise KeyboardInterrupt from None
        raise


class DuckDbBackend:
    """One in-memory DuckDB database for one check."""

    name = "duckdb"

    def __init__(self, *, memory_limit: str | None = None, threads: int | None = None) -> None:
        import duckdb

        self._spill = tempfile.TemporaryDirectory(prefix="duckdb-", dir=scratch.folder())
        config: dict[str, Any] = {"temp_directory": self._spill.name}
        # Beyond this DuckDB spills to the temporary directory instead of growing (issue 14 target:
        # 10 M rows within 4 GiB); BILLING_RULES_DUCKDB_MEMORY overrides it ("8GB", "500MB").
        # A limit given (or set in the environment) holds for the whole check.
        fixed = memory_limit or os.environ.get("BILLING_RULES_DUCKDB_MEMORY")
        config["memory_limit"] = fixed or DEFAULT_MEMORY
        #: The limit :meth:`load_invoices` sets once the input is in (None: the same throughout).
        self._checking_memory = None if fixed else CHECKING_MEMORY
        # No statement relies on the order of rows a query returns without ORDER BY (hits are
        # grouped by subject, then sorted): DuckDB may then stream and spill without keeping it.
        config["preserve_insertion_order"] = False
        if threads is not None:
            config["threads"] = threads
        self.con = duckdb.connect(":memory:", config=config)
        # A Ctrl-C stops the running statement at once (DuckDB alone may finish it first).
        self._interrupter = interrupt.add_interrupter(self.con.interrupt)

    def close(self) -> None:
        """Drop the database and its spill files."""
        interrupt.remove_interrupter(self._interrupter)
        try:
            with interruptible():
                self.con.close()
        finally:
            self._spill.cleanup()

    def load_invoices(self, source: Any) -> None:
        """The invoice table, created by its source in this connection (its statements interruptible).

        Then the memory limit of the checking (:data:`CHECKING_MEMORY`), unless one was fixed.
        """
        with interruptible():
            source.create(self.con)
            if self._checking_memory is not None:
                self.con.execute(f"SET memory_limit = '{self._checking_memory}'")

    def load_rows(self, name: str, columns: dict[str, str], rows: Iterable[Sequence[Any]]) -> None:
        """A table of Python values (thousands of rows: too many for a VALUES list), through CSV.

        Only numbers and codes go through here (sids, codes joined by ``+``): no NULL, no quoting issue.
        """
        handle = tempfile.NamedTemporaryFile(
            "w", suffix=".csv", delete=False, encoding="utf-8", newline="", dir=scratch.folder()
        )
        try:
            with handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerows(rows)
            spec = ", ".join(f"'{column}': '{kind}'" for column, kind in columns.items())
            with interruptible():
                self.con.execute(
                    f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM read_csv(?, header=false, "  # noqa: S608
                    f"auto_detect=false, delim=',', quote='\"', escape='\"', columns={{{spec}}})",
                    [handle.name],
                )
        finally:
            os.unlink(handle.name)

    def sql(self, tree: exp.Expression) -> str:
        """The statement's text in DuckDB's dialect.

        Generated without the defensive copy of the whole tree (a third of the statements' cost):
        every tree is built for one statement and dropped once its text exists.
        """
        return tree.sql(dialect=DIALECT, copy=False)

    def run(self, text: str) -> None:
        """Run a statement already generated by :meth:`sql`."""
        with interruptible():
            self.con.execute(text)

    def fetch(self, text: str) -> list[tuple[Any, ...]]:
        """Run a query already generated by :meth:`sql`; its rows as tuples."""
        with interruptible():
            return self.con.execute(text).fetchall()

    def execute(self, tree: exp.Expression) -> None:
        """Run a statement that returns nothing (``CREATE TABLE ... AS``)."""
        self.run(self.sql(tree))

    def rows(self, tree: exp.Expression) -> list[dict[str, Any]]:
        """Run a query; its rows as dicts."""
        text = self.sql(tree)
        with interruptible():
            cursor = self.con.execute(text)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def tuples(self, tree: exp.Expression) -> list[tuple[Any, ...]]:
        """Run a query; its rows as tuples."""
        return self.fetch(self.sql(tree))
