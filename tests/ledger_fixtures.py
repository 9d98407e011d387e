"""Fixtures that run the ledger tests on both back ends (registered in ``conftest.py``).

- SQLite: a fresh file in the test's temporary directory.
- PostgreSQL: a fresh schema in the database named by ``BILLING_RULES_TEST_POSTGRES`` (a DSN, e.g.
  from ``.ci/postgres.sh``), dropped afterwards. Without that variable the PostgreSQL tests are
  skipped, saying why; with ``BILLING_RULES_REQUIRE_POSTGRES=1`` (CI) they fail instead.
"""

from __future__ import annotations

import os
import urllib.parse
import uuid
from collections.abc import Iterator

import pytest

POSTGRES_ENV = "BILLING_RULES_TEST_POSTGRES"
REQUIRE_ENV = "BILLING_RULES_REQUIRE_POSTGRES"


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"PostgreSQL requis ({REQUIRE_ENV}=1) mais indisponible : {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The DSN of the test server (skips or fails as the module docstring says)."""
    dsn = os.environ.get(POSTGRES_ENV, "").strip()
    if not dsn:
        _unavailable(f"set {POSTGRES_ENV} to a DSN (DSN=$(.ci/postgres.sh) starts a local server)")
    try:
        import psycopg
    except ImportError:
        _unavailable("psycopg is not installed (pip install 'billing-rules[postgres]')")
    try:
        with psycopg.connect(dsn, connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        _unavailable(f"cannot connect to {POSTGRES_ENV}: {str(exc).strip().splitlines()[0]}")
    return dsn


def with_schema(dsn: str, schema: str) -> str:
    """``dsn`` with ``search_path`` set to ``schema`` (URL or key=value form)."""
    option = f"-csearch_path={schema}"
    if "://" in dsn:
        parts = urllib.parse.urlsplit(dsn)
        query = urllib.parse.parse_qsl(parts.query)
        query.append(("options", option))
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
    return f"{dsn} options={option}"


@pytest.fixture
def postgres_schema(postgres_dsn: str) -> Iterator[str]:
    """A fresh schema; yields the DSN that uses it."""
    import psycopg

    schema = f"ledger_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_schema(postgres_dsn, schema)
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_target(request: pytest.FixtureRequest, tmp_path) -> str:  # noqa: ANN001
    """Where a test's ledger lives: an SQLite path or a PostgreSQL URL (fresh and empty)."""
    if request.param == "sqlite":
        return str(tmp_path / "registre.db")
    dsn = request.getfixturevalue("postgres_schema")
    if "://" not in dsn:
        pytest.fail("BILLING_RULES_TEST_POSTGRES must be a postgresql:// URL", pytrace=False)
    return dsn
