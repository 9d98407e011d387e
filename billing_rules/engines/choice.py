"""Which engine checks an input: ``--engine row|duckdb|spark``, or chosen by the input's size.

Deciding imports nothing columnar: whether DuckDB and sqlglot are installed is asked of the import
system (``find_spec``), and the size of the input is estimated from the files' sizes (a Parquet
file's rows are counted in its footer). A 10-line file never pays for the relational engine.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence

ENGINES = ("auto", "row", "duckdb", "spark")
"""Values of ``--engine``; ``auto`` picks DuckDB for a large input when installed, never Spark.

Spark is for clusters: a local session costs seconds to start, so only ``--engine spark`` runs it.
"""

AUTO_ROWS: int | None = 75_000
"""From this many rows (estimated), ``auto`` runs the relational engine; None would mean never.

Measured with whole ``check --format json`` processes on generated files (20 practitioners): at
50 000 rows the row engine is faster (1.1-1.3 s against 1.2-1.5 s), at 100 000 DuckDB is (1.7 s
against 1.8-2.0 s), at 200 000 clearly (1.8-2.0 s against 3.5 s), and on 1 M rows about four times
(benchmarks/run.py --only relational). Below the crossover its fixed costs (importing polars and
DuckDB, planning and generating the statements) outweigh what it saves, and the row engine's
smaller memory (60-100 MB against 280-450 MB there) wins.
"""

BYTES_PER_ROW = {"csv": 130, "json": 420, "jsonl": 420}
"""Average size of a row by format: a SPEC §1 CSV row (the generated benchmark files: 120-140
bytes), a JSON object with the SPEC keys (410-430). Parquet is compressed ten times and more: its
rows are counted in its footer instead."""


def relational_installed() -> bool:
    """Whether the ``batch`` extra (duckdb, sqlglot) is installed, without importing them."""
    return all(importlib.util.find_spec(name) is not None for name in ("duckdb", "sqlglot"))


def spark_installed() -> bool:
    """Whether the ``spark`` extra (pyspark, with the batch engine's duckdb and sqlglot) is installed."""
    return relational_installed() and importlib.util.find_spec("pyspark") is not None


def estimated_rows(paths: Sequence[str], input_format: str | None = None) -> int:
    """Rows of the input: counted in a Parquet file's footer, estimated from the others' sizes.

    Standard input counts as small (it cannot be sized); a file whose format is unknown is sized
    as CSV (its reader then says what is wrong).
    """
    from billing_rules.errors import BillingRulesError
    from billing_rules.readers.parquet_reader import parquet_footer
    from billing_rules.readers.stream import reader_for

    total = 0
    for path in paths:
        if path == "-":
            continue
        try:
            kind = reader_for(path, input_format).name
        except BillingRulesError:
            kind = "csv"
        if kind == "parquet":
            # Reading Parquet needs polars on either engine: reading its footer here costs nothing.
            footer = parquet_footer(path)
            total += footer[1] if footer is not None else 0  # unreadable: its reader says why
            continue
        try:
            size = os.path.getsize(path)
        except OSError:
            continue
        total += size // BYTES_PER_ROW.get(kind, BYTES_PER_ROW["csv"])
    return total


def choose(engine: str, paths: Sequence[str], input_format: str | None = None) -> str:
    """The engine to run: the one asked for, or for ``auto`` the relational one on a large input."""
    if engine != "auto":
        return engine
    if AUTO_ROWS is not None and estimated_rows(paths, input_format) >= AUTO_ROWS and relational_installed():
        return "duckdb"
    return "row"
