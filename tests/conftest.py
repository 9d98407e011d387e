"""Shared fixtures: a validator with the built-in rules only (no installed plugin)."""

from __future__ import annotations

import os

import pytest

# The tests parse thousands of generated rule files: keep them out of the user's parsed-tree cache
# (``billing_rules.dsl.astcache``); tests of the cache point it at a temporary directory.
os.environ["BILLING_RULES_CACHE_DIR"] = "off"

from billing_rules.validator import Validator


@pytest.fixture(scope="session")
def builtin_validator() -> Validator:
    """Built once per test session: compiling the catalogue is the expensive part."""
    return Validator.build(entry_points=False)


# --- ledger back ends (SQLite always; PostgreSQL with BILLING_RULES_TEST_POSTGRES) -------------------
from ledger_fixtures import ledger_target, postgres_dsn, postgres_schema  # noqa: E402,F401
