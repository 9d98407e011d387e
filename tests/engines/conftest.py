"""Fixtures of the engine tests: ``engine`` (indirect parameter) and one Spark session for the run."""

from __future__ import annotations

from typing import Any

import pytest
from executors import require_spark


@pytest.fixture(scope="session")
def spark_session() -> Any:
    """The process's local Spark session, started once for the whole run (5-7 s)."""
    require_spark()
    from billing_rules.engines.relational.spark import session

    return session()


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """The engine a test runs the relational plan on (``duckdb`` unless parametrized)."""
    name = getattr(request, "param", "duckdb")
    if name == "spark":
        request.getfixturevalue("spark_session")
    return name
