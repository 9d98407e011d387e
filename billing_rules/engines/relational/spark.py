"""Apache Spark: the relational plan's statements run by Spark SQL, on one machine or a cluster.

The statements are the same sqlglot trees DuckDB runs, generated here in Spark's dialect (one
intermediate form, not a second compiler). The validated invoice table is written as Parquet into a
private staging directory and read by Spark; each ``CREATE TABLE ... AS`` of the plan becomes a
cached temporary view of the check's own session.

Where the session comes from:

* ``SPARK_REMOTE`` (or ``--master sc://host:15002``): Spark Connect, a cluster's server. The staging
  directory must then be one the cluster reads (``BILLING_RULES_SPARK_STAGING``, a shared mount);
* otherwise a local session (``--master``, default ``local[2]``) started once per process; its driver
  memory comes from ``BILLING_RULES_SPARK_MEMORY`` (default ``2g``).

Every session runs in UTC with ANSI SQL on: nothing the plan computes depends on a time zone (the
timestamps are ``TIMESTAMP_NTZ``), and a failed cast is an error, never a silent NULL.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import rename_func
from sqlglot.dialects.spark import Spark
from sqlglot.generators.spark import SparkGenerator

from billing_rules.engines.relational.table import TABLE
from billing_rules.errors import BillingRulesError

DEFAULT_MASTER = "local[2]"
DEFAULT_MEMORY = "2g"
#: Session settings every check relies on (set on each session, local or remote).
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
}
#: Extra settings of a local session: few partitions (the default 200 is for clusters), no web UI.
LOCAL_CONF = {
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}
_SPARK_TYPES = {"VARCHAR": "STRING"}
#: The plan's tables read by many statements: computed once, cached (``sql``'s names).
CACHED = frozenset({"base", "subjects", "suggested"})
LOG_CONFIG = os.path.join(os.path.dirname(__file__), "spark-log4j2.properties")
CONNECT_PORT = 15002
CONNECT_TIMEOUT = 5.0


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


_ROOT: dict[str, Any] = {}


def pyspark_installed() -> bool:
    """Whether pyspark can be imported (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("pyspark") is not None


def remote_url(master: str | None = None) -> str | None:
    """The Spark Connect URL to use: ``--master sc://...``, else ``SPARK_REMOTE``, else none."""
    if master is not None:
        return master if master.startswith("sc://") else None
    return os.environ.get("SPARK_REMOTE") or None


def java_available() -> bool:
    """Whether a local session can start: a ``java`` on the PATH or under ``JAVA_HOME``."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return True
    return shutil.which("java") is not None


def session(master: str | None = None) -> Any:
    """The process's Spark session for ``master`` (started on first use: 5-7 s for a local one)."""
    key = master or remote_url() or DEFAULT_MASTER
    found = _ROOT.get(key)
    if found is not None:
        return found
    if not pyspark_installed():
        raise BillingRulesError("--engine spark demande l'extra spark : pip install 'billing-rules[spark]'")
    url = remote_url(master)
    if url is not None:
        spark = _connect(url)
    else:
        if not java_available():
            raise BillingRulesError(
                "--engine spark demande Java (17 ou plus) : installez un JRE (par exemple "
                "openjdk-17-jre-headless) ou indiquez JAVA_HOME"
            )
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.master(key).appName("billing-rules")
        memory = os.environ.get("BILLING_RULES_SPARK_MEMORY", DEFAULT_MEMORY)
        quiet = f"-Dlog4j2.configurationFile={LOG_CONFIG}"  # errors only, from the JVM's start
        settings = {**LOCAL_CONF, **SESSION_CONF, "spark.driver.memory": memory}
        settings["spark.driver.extraJavaOptions"] = quiet
        for name, value in settings.items():
            builder = builder.config(name, value)
        try:
            spark = builder.getOrCreate()
        except Exception as exc:  # noqa: BLE001 - the JVM did not start: say so in French
            raise BillingRulesError(
                f"Spark n'a pas pu démarrer ({type(exc).__name__}) : vérifiez Java"
            ) from None
        spark.sparkContext.setLogLevel("ERROR")
    _ROOT[key] = spark
    return spark


def _connect(url: str) -> Any:
    """A Spark Connect session; the server is reached first, so that a wrong address fails in seconds."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(url)
    host, port = parsed.hostname or "localhost", parsed.port or CONNECT_PORT
    unreachable = (
        f"Spark Connect injoignable à {host}:{port} : vérifiez SPARK_REMOTE ou --master, et que le "
        "serveur Spark Connect est démarré"
    )
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError:
        raise BillingRulesError(unreachable) from None
    from pyspark.sql import SparkSession

    try:
        spark = SparkSession.builder.remote(url).getOrCreate()
    except ImportError as exc:
        raise BillingRulesError(
            f"Spark Connect demande ses dépendances ({exc.name or 'grpcio'}) : pip install 'pyspark[connect]'"
        ) from None
    try:
        _configure(spark)
    except Exception:  # noqa: BLE001 - the port answers but no Spark Connect server behind it
        raise BillingRulesError(unreachable) from None
    return spark


def _configure(spark: Any) -> None:
    for name, value in SESSION_CONF.items():
        spark.conf.set(name, value)


def staging_dir() -> str:
    """A private directory (mode 0700) for the check's Parquet files.

    ``BILLING_RULES_SPARK_STAGING`` places it (on a cluster: a directory every executor reads).
    """
    parent = os.environ.get("BILLING_RULES_SPARK_STAGING") or None
    if parent is not None:
        os.makedirs(parent, exist_ok=True)
    return tempfile.mkdtemp(prefix="billing-rules-spark-", dir=parent)


class SparkBackend:
    """The check's own Spark session (its temporary views are nobody else's) and staging directory."""

    name = "spark"

    def __init__(self, *, master: str | None = None) -> None:
        root = session(master)
        # A local root hands out sessions sharing its JVM but not its views; a remote one is the
        # client's own already.
        self.spark = root if remote_url(master) is not None else root.newSession()
        _configure(self.spark)
        self.staging = staging_dir()
        self._cached: dict[str, Any] = {}

    def close(self) -> None:
        """Drop the check's views and cached tables, and its staging directory."""
        try:
            for name, frame in self._cached.items():
                frame.unpersist()
                self.spark.catalog.dropTempView(name)
        finally:
            self._cached = {}
            shutil.rmtree(self.staging, ignore_errors=True)

    def load_invoices(self, source: Any) -> None:
        """The validated invoice table as Parquet, read by Spark.

        DuckDB builds it exactly as for the embedded engine (the same types, the same loading code),
        then writes it: Parquet keeps dates, decimals, lists and timestamps without time zone.
        """
        from billing_rules.engines.relational.duckdb import DuckDbBackend

        path = os.path.join(self.staging, f"{TABLE}.parquet")
        local = DuckDbBackend()
        try:
            local.load_invoices(source)
            local.con.execute(f"COPY {TABLE} TO ? (FORMAT PARQUET)", [path])  # noqa: S608 - a constant
        finally:
            local.close()
        self._keep(TABLE, self.spark.read.parquet(path))

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
        self._keep(name, frame)
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

    def _keep(self, name: str, frame: Any) -> None:
        old = self._cached.pop(name, None)
        if old is not None:
            old.unpersist()
        frame.createOrReplaceTempView(name)
        self._cached[name] = frame
