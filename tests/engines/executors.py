"""The engines the relational plan runs on, for the tests: each differential test names which.

DuckDB runs every corpus; Spark (slow per statement: a local session takes 5-7 s to start, then
tenths of a second per statement) runs a small one: the rules' examples, the oracle cases, the
plugin's rules, one generated file where every SPEC §5 code fires, the language constructs.

Without pyspark or Java the Spark cases are skipped with the reason, unless
``BILLING_RULES_REQUIRE_SPARK=1`` (CI), which makes them fail instead.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

ENGINES = ("duckdb", "spark")


def engine_params(*names: str) -> list[object]:
    """``parametrize`` values for ``engine`` (indirect): Spark's cases carry the ``spark`` mark."""
    return [
        pytest.param(name, id=name, marks=[pytest.mark.spark] if name == "spark" else []) for name in names
    ]


ALL = engine_params(*ENGINES)
DUCKDB = engine_params("duckdb")


def spark_missing() -> str | None:
    """Why a Spark session cannot start here, or None."""
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark n'est pas installé (pip install '.[spark]')"
    remote = os.environ.get("SPARK_REMOTE")
    if not remote and not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        return "Java est introuvable (openjdk-17-jre-headless)"
    return None


def require_spark() -> None:
    """Skip (or, with ``BILLING_RULES_REQUIRE_SPARK=1``, fail) when Spark cannot run."""
    reason = spark_missing()
    if reason is None:
        return
    if os.environ.get("BILLING_RULES_REQUIRE_SPARK") == "1":
        pytest.fail(f"Spark exigé (BILLING_RULES_REQUIRE_SPARK=1) : {reason}")
    pytest.skip(reason)
