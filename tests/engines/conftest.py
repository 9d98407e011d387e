"""Fixtures of the engine tests: ``engine`` (indirect parameter), one Spark session and one Spark
Connect server for the run, and a five-invoice excerpt of the example week for Spark's own tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from executors import CONNECT, require_spark, require_spark_connect

#: Five invoices of the example week (their lines) with findings of both kinds (SNP-MT, AMOUNT-ABOVE,
#: IMT-MT; OPP-SNP, OPP-MEG), billing G, SNP and IMT only: the rules of those codes run, no other.
EXCERPT_LINES = (8, 19, 22, 24, 39)


@pytest.fixture(scope="session")
def week_excerpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example week cut to :data:`EXCERPT_LINES`, in its own format (``;``, SPEC headers).

    For the tests of Spark's sessions, masters and processes, where the rules are not what is under
    test: on two cores each Spark check of the whole week takes a minute or more, since its cost is
    the stages of the rules it runs, not the rows.
    """
    example = Path(__file__).resolve().parents[2] / "examples" / "week-2026-01.csv"
    header, *lines = example.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [lines[number - 2] for number in EXCERPT_LINES]  # the header is line 1
    path = tmp_path_factory.mktemp("excerpt") / "week-excerpt.csv"
    path.write_text(header + "".join(kept), encoding="utf-8")
    return path


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
