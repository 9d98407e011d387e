"""Fixtures of the engine tests: ``engine`` (indirect parameter), one Spark session and one Spark
Connect server for the run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from executors import CONNECT, require_spark, require_spark_connect


@pytest.fixture(scope="session")
def spark_session() -> Any:
    """The process's local Spark session, started once for the whole run (5-7 s)."""
    require_spark()
    from billing_rules.engines.relational.spark import session

    return session()


@pytest.fixture(scope="session")
def spark_connect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server's URL: ``BILLING_RULES_TEST_SPARK_CONNECT``, else one started for the
    run (about 10 s) and stopped at its end."""
    require_spark_connect()
    given = os.environ.get("BILLING_RULES_TEST_SPARK_CONNECT")
    if given:
        CONNECT["url"] = given
        yield given
        return
    import connect_server

    try:
        server = connect_server.start(tmp_path_factory.mktemp("spark-connect"))
    except RuntimeError as exc:
        pytest.fail(str(exc))
    CONNECT["url"] = server.url
    try:
        yield server.url
    finally:
        CONNECT.pop("url", None)
        from billing_rules.engines.relational import spark_session

        # The run's clients of this server go with it (their channels would point at nothing).
        root = spark_session._ROOT.pop(server.url, None)
        if root is not None:
            root.stop()
        server.stop()


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    """The engine a test runs the relational plan on (``duckdb`` unless parametrized)."""
    name = getattr(request, "param", "duckdb")
    if name == "spark":
        request.getfixturevalue("spark_session")
    elif name == "spark-connect":
        request.getfixturevalue("spark_connect")
    return name
