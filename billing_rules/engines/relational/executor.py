"""What the relational plan asks of an engine: the one seam between the statements and who runs them.

``run.RelationalChecker`` builds sqlglot trees once (``sql``, ``windows``, ``compile``) and hands them
to an :class:`Executor`; DuckDB (``duckdb``) and Apache Spark (``spark``) implement it. Each engine
generates the trees in its own dialect and nowhere else, so the plan stays one intermediate form:
a construct whose meaning differs between engines is replaced in the shared trees by one that
means the same on both (the differential tests run every engine on the same corpora).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sqlglot import exp


class InvoiceSource(Protocol):
    """The invoice table to load: ``table.TableWriter`` or ``table.FrameTable``."""

    inputs: int

    def create(self, con: Any) -> None:
        """Create the table in a DuckDB connection (the one loading path both engines share)."""

    def discard(self) -> None:
        """Drop what the source holds (idempotent)."""


class Executor(Protocol):
    """One engine, for one check: a fresh namespace of tables, dropped by :meth:`close`."""

    #: The engine's name, as the report shows it (``duckdb``, ``spark``).
    name: str

    def load_invoices(self, source: InvoiceSource) -> None:
        """Make :data:`table.TABLE` from the validated invoice table."""

    def load_rows(self, name: str, columns: dict[str, str], rows: Iterable[Sequence[Any]]) -> None:
        """A small table of Python values (sids, suggested codings); ``columns``: name -> SQL type."""

    def sql(self, tree: exp.Expression) -> Any:
        """The statement prepared for this engine (what :meth:`run` takes); the plan caches it."""

    def run(self, prepared: Any) -> None:
        """Run a statement prepared by :meth:`sql` that returns nothing (``CREATE ... AS``)."""

    def fetch(self, prepared: Any) -> list[tuple[Any, ...]]:
        """Run a query prepared by :meth:`sql`; its rows as tuples."""

    def execute(self, tree: exp.Expression) -> None:
        """Prepare and run a statement that returns nothing."""

    def rows(self, tree: exp.Expression) -> list[dict[str, Any]]:
        """Prepare and run a query; its rows as dicts."""

    def tuples(self, tree: exp.Expression) -> list[tuple[Any, ...]]:
        """Prepare and run a query; its rows as tuples."""

    def close(self) -> None:
        """Drop every table of the check and any file it staged."""
