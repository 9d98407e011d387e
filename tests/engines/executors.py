"""The engines the relational plan runs on, for the tests: each differential test names which.

DuckDB runs every corpus; Spark (slow per statement: a local session takes 5-7 s to start, then
tenths of a second per statement) runs a small one: the rules' examples, the oracle cases, the
plugin's rules, one generated file where every SPEC §5 code fires, the language constructs.
``spark-connect`` runs the same small corpus through Spark Connect (``--master sc://...``): a server
of pyspark's own started for the run (``connect_server``), or the one named by
``BILLING_RULES_TEST_SPARK_CONNECT`` (``sc://host:port``).

Without pyspark or Java the Spark cases are skipped with the reason, unless
``BILLING_RULES_REQUIRE_SPARK=1`` (CI), which makes them fail instead; likewise the Connect cases
without the Connect client's dependencies (``.[spark-connect]``) and
``BILLING_RULES_REQUIRE_SPARK_CONNECT=1``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

ENGINES = ("duckdb", "spark", "spark-connect")
#: The Connect server's URL once the session fixture ``spark_connect`` has it.
CONNECT: dict[str, str] = {}


def engine_params(*names: str) -> list[object]:
    """``parametrize`` values for ``engine`` (indirect): Spark's cases carry the ``spark`` mark, the
    Connect ones ``spark_connect`` too."""
    marks = {"spark": [pytest.mark.spark], "spark-connect": [pytest.mark.spark, pytest.mark.spark_connect]}
    return [pytest.param(name, id=name, marks=marks.get(name, [])) for name in names]


ALL = engine_params(*ENGINES)
DUCKDB = engine_params("duckdb")
SPARKS = engine_params("spark", "spark-connect")
WITHOUT_CONNECT = engine_params("duckdb", "spark")


def run_args(engine: str) -> dict[str, Any]:
    """The API's ``engine`` and ``master`` arguments for a test's engine."""
    if engine == "spark-connect":
        return {"engine": "spark", "master": CONNECT["url"]}
    return {"engine": engine}


def reported(engine: str) -> str:
    """The engine a report names (Spark Connect is Spark)."""
    return run_args(engine)["engine"]


def spark_missing() -> str | None:
    """Why a Spark session cannot start here, or None."""
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark n'est pas installé (pip install '.[spark]')"
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        return "Java est introuvable (openjdk-17-jre-headless)"
    return None


def connect_missing() -> str | None:
    """Why the Spark Connect tests cannot run here, or None."""
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark n'est pas installé (pip install '.[spark-connect]')"
    from billing_rules.engines.relational.spark_session import connect_missing as client_missing

    missing = client_missing()
    if missing is not None:
        return f"le client Spark Connect n'est pas installé ({missing} : pip install '.[spark-connect]')"
    if os.environ.get("BILLING_RULES_TEST_SPARK_CONNECT"):
        return None
    return spark_missing()  # the server of the run is a local JVM


def _require(reason: str | None, variable: str, what: str) -> None:
    if reason is None:
        return
    if os.environ.get(variable) == "1":
        pytest.fail(f"{what} exigé ({variable}=1) : {reason}")
    pytest.skip(reason)


def require_spark() -> None:
    """Skip (or, with ``BILLING_RULES_REQUIRE_SPARK=1``, fail) when Spark cannot run."""
    _require(spark_missing(), "BILLING_RULES_REQUIRE_SPARK", "Spark")


def require_spark_connect() -> None:
    """Skip (or, with ``BILLING_RULES_REQUIRE_SPARK_CONNECT=1``, fail) when Connect cannot run."""
    _require(connect_missing(), "BILLING_RULES_REQUIRE_SPARK_CONNECT", "Spark Connect")


def load_module(name: str, path: Path) -> Any:
    """A test module of another folder loaded under ``name``, to share its builders of cases."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def columnar_only(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Forbid the row-fed staging of ``api.check_paths``; the list gets each columnar read's rows."""
    import billing_rules.readers.columnar as columnar
    from billing_rules.engines.relational import api

    reads: list[int] = []
    real = columnar.read_invoices

    def spy(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        reads.append(result.events)
        return result

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the row readers fed the relational engine")

    monkeypatch.setattr(columnar, "read_invoices", spy)
    monkeypatch.setattr(api, "TableWriter", refused)
    return reads
