"""Apache Spark: the relational plan's statements run by Spark SQL, on one machine or a cluster.

The statements are the same sqlglot trees DuckDB runs, generated here in Spark's dialect (one
intermediate form, not a second compiler). The validated invoice table is written as Parquet into a
private staging directory and read by Spark; each ``CREATE TABLE ... AS`` of the plan becomes a
temporary view of the check's own session, cached when many statements read it.

The sessions (``spark_session``): ``--master sc://host:15002`` or ``SPARK_REMOTE`` for Spark
Connect, whose server reads the staging directory (on a cluster: ``BILLING_RULES_SPARK_STAGING``, a
shared mount); otherwise a local session (``--master``, default ``local[2]``) started once per
process. The calls below are those both kinds of session have (no ``sparkContext``, no RDD): the
differential tests run them on both.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import rename_func
from sqlglot.dialects.spark import Spark
from sqlglot.generators.spark import SparkGenerator

from billing_rules import scratch
from billing_rules.engines.relational.spark_session import (
    DEFAULT_MASTER,
    check_session,
    java_available,
    master_key,
    pyspark_installed,
    release,
    remote_url,
    session,
)
from billing_rules.engines.relational.table import TABLE

__all__ = [
    "DEFAULT_MASTER",
    "BillingSpark",
    "SparkBackend",
    "java_available",
    "master_key",
    "pyspark_installed",
    "read_in_place",
    "remote_url",
    "session",
    "staging_dir",
]

_SPARK_TYPES = {"VARCHAR": "STRING"}
#: The plan's tables read by many statements: computed once, cached (``sql``'s names).
CACHED = frozenset({"base", "subjects", "suggested", "rows_with_hits"})


class _Generator(SparkGenerator):
    """Spark's generator, with the one construct sqlglot writes in a form Spark refuses."""

    TRANSFORMS = {
        **SparkGenerator.TRANSFORMS,
        # sqlglot writes ``a && b`` (PostgreSQL's operator); Spark's function is ARRAYS_OVERLAP.
        exp.ArrayOverlaps: rename_func("ARRAYS_OVERLAP"),
    }


class BillingSpark(Spark):
    """Spark SQL as the plan's statements are generated for it."""

    Generator = _Generator


def staging_dir() -> str:
    """A private directory (mode 0700) for the check's Parquet files.

    ``BILLING_RULES_SPARK_STAGING`` places it (on a cluster: a directory every executor reads).
    """
    parent = os.environ.get("BILLING_RULES_SPARK_STAGING") or None
    if parent is not None:
        os.makedirs(parent, exist_ok=True)
    if parent is None:
        return tempfile.mkdtemp(prefix="spark-", dir=scratch.folder())
    return tempfile.mkdtemp(prefix="billing-rules-spark-", dir=parent)


def read_in_place(path: str, master: str) -> bool:
    """Whether Spark on ``master`` sees the file ``path`` of this machine where it lies.

    A local master runs on this machine; a cluster or a Spark Connect server sees the folder shared
    for staging (``BILLING_RULES_SPARK_STAGING``), and nothing else this machine can tell.
    """
    if master.startswith("local"):
        return True
    shared = os.environ.get("BILLING_RULES_SPARK_STAGING") or None
    if shared is None:
        return False
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(shared))


def hadoop_literal(path: str) -> str:
    """``path`` as Spark reads it literally: its glob characters escaped the way Hadoop's globs do.

    Spark takes ``[]{}*?`` in a path it reads as a pattern, and a staging directory under
    ``TMPDIR=/tmp/x/tmp[x]`` or ``BILLING_RULES_SPARK_STAGING=.../run{a,b}`` would then match nothing.
    """
    return re.sub(r"([\\\[\]{}*?])", r"\\\1", path)


class SparkBackend:
    """The check's own Spark session (its temporary views are nobody else's) and staging directory."""

    name = "spark"

    def __init__(self, *, master: str | None = None) -> None:
        self.spark, self._root = check_session(master)
        try:
            self.staging = staging_dir()
        except BaseException:
            release(self.spark, self._root)
            raise
        #: The check's views, and whether each is cached.
        self._views: dict[str, bool] = {}

    def close(self) -> None:
        """Drop the check's views and cached tables, its staging directory, and its session."""
        try:
            # By the views' names, not the frames: a Connect frame is the text of its query, which
            # reads views the plan may have dropped since (``invoices``, once ``base`` is cached).
            for name, cached in self._views.items():
                if cached:
                    self.spark.catalog.uncacheTable(name)
            for name in self._views:
                self.spark.catalog.dropTempView(name)
        finally:
            self._views = {}
            shutil.rmtree(self.staging, ignore_errors=True)
            release(self.spark, self._root)

    def load_invoices(self, source: Any) -> None:
        """The validated invoice table as Parquet, read by Spark.

        DuckDB builds it exactly as for the embedded engine (the same types, the same loading code),
        then writes it: Parquet keeps dates, decimals, lists and timestamps without time zone. A
        prepared file is that Parquet already: Spark reads it where it lies when it can see it
        (:func:`read_in_place`), with no copy through this machine.
        """
        from billing_rules.engines.relational.duckdb import DuckDbBackend, interruptible

        prepared = getattr(source, "parquet_path", None)
        if prepared is not None and read_in_place(prepared, self._root):
            self._keep(TABLE, self.spark.read.parquet(hadoop_literal(os.path.abspath(prepared))))
            return
        path = os.path.join(self.staging, f"{TABLE}.parquet")
        local = DuckDbBackend()
        try:
            local.load_invoices(source)
            with interruptible():
                local.con.execute(f"COPY {TABLE} TO ? (FORMAT PARQUET)", [path])  # noqa: S608 - a constant
        finally:
            local.close()
        self._keep(TABLE, self.spark.read.parquet(hadoop_literal(path)))

    def load_rows(self, name: str, columns: dict[str, str], rows: Iterable[Sequence[Any]]) -> None:
        """A small table of Python values, sent by the driver."""
        schema = ", ".join(f"{column} {_SPARK_TYPES.get(kind, kind)}" for column, kind in columns.items())
        self._keep(name, self.spark.createDataFrame([tuple(row) for row in rows], schema=schema))

    def sql(self, tree: exp.Expression) -> tuple[str | None, str]:
        """(table to create or None, the query's text in Spark's dialect)."""
        if isinstance(tree, exp.Create):
            return tree.this.name, tree.expression.sql(dialect=BillingSpark)
        return None, tree.sql(dialect=BillingSpark)

    def run(self, prepared: tuple[str | None, str]) -> None:
        """``CREATE TABLE name AS query``: the view ``name``, its rows cached when many statements read it.

        The tables every rule reads (the derived invoice table, the subjects) are computed once and
        cached; a window's counter, read by its rules' hits only, stays a view that the final query
        computes in the same job (one job instead of one per window: Spark's cost is per job).
        """
        name, text = prepared
        frame = self.spark.sql(text)
        if name is None:
            frame.collect()
            return
        if name not in CACHED:
            self._keep(name, frame)
            return
        # Cached as computed: ``ord`` is arithmetic on each row (``order``), so ``base`` keeps the
        # partitions of the scan and joins that made it (no global sort gathers it in one task).
        frame = frame.cache()
        self._keep(name, frame, cached=True)
        frame.count()  # materialised now: every later statement reads the cached rows

    def fetch(self, prepared: tuple[str | None, str]) -> list[tuple[Any, ...]]:
        """Run a query; its rows as tuples."""
        return [tuple(row) for row in self.spark.sql(prepared[1]).collect()]

    def execute(self, tree: exp.Expression) -> None:
        """Run a statement that returns nothing (``CREATE TABLE ... AS``)."""
        self.run(self.sql(tree))

    def rows(self, tree: exp.Expression) -> list[dict[str, Any]]:
        """Run a query; its rows as dicts."""
        return [row.asDict() for row in self.spark.sql(self.sql(tree)[1]).collect()]

    def tuples(self, tree: exp.Expression) -> list[tuple[Any, ...]]:
        """Run a query; its rows as tuples."""
        return self.fetch(self.sql(tree))

    def explain(self, tree: exp.Expression) -> str:
        """The physical plan Spark chooses for a query (``EXPLAIN FORMATTED``: local or Connect)."""
        return str(self.spark.sql(f"EXPLAIN FORMATTED {self.sql(tree)[1]}").collect()[0][0])

    def _keep(self, name: str, frame: Any, *, cached: bool = False) -> None:
        if self._views.pop(name, False):
            self.spark.catalog.uncacheTable(name)
        frame.createOrReplaceTempView(name)
        self._views[name] = cached
