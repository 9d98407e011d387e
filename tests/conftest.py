"""Shared fixtures: a validator with the built-in rules only (no installed plugin)."""

from __future__ import annotations

import os

import pytest

# The tests parse thousands of generated rule files: keep them out of the user's parsed-tree cache
# (``billing_rules.dsl.astcache``); tests of the cache point it at a temporary directory.
os.environ["BILLING_RULES_CACHE_DIR"] = "off"

from billing_rules.api.validator import Validator


@pytest.fixture(scope="session")
def builtin_validator() -> Validator:
    """Built once per test session: compiling the catalogue is the expensive part."""
    return Validator.build(entry_points=False)


@pytest.fixture(params=["row", "duckdb"])
def engine(request: pytest.FixtureRequest) -> str:
    """``check --engine``: the row engine, and the columnar one where the batch extra is installed.

    ``tests/engines`` has its own, with Spark; this one is for the tests of readers and commands.
    """
    if request.param == "duckdb":
        pytest.importorskip("duckdb")
        pytest.importorskip("polars")
    return str(request.param)


# --- ledger back ends (SQLite always; PostgreSQL with BILLING_RULES_TEST_POSTGRES) -------------------
from ledger_fixtures import ledger_target, postgres_dsn, postgres_schema  # noqa: E402,F401

# --- CI visibility: say which optional back ends this run really used ---------------------------------


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Printed at the top of every run, so a CI log shows whether PostgreSQL and Chromium were used."""
    postgres = "oui (BILLING_RULES_TEST_POSTGRES)" if os.environ.get("BILLING_RULES_TEST_POSTGRES") else "non"
    chromium = "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else "absent"
    return [f"billing-rules: PostgreSQL {postgres} ; Chromium {chromium}"]


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # noqa: ANN001
    """Count the PostgreSQL and browser tests by outcome at the end of the run."""
    counts: dict[str, dict[str, int]] = {"PostgreSQL": {}, "navigateur": {}}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            if getattr(report, "when", "call") not in ("call", "setup") or not nodeid:
                continue
            if outcome == "passed" and report.when != "call":
                continue
            if "postgres" in nodeid.lower():
                counts["PostgreSQL"][outcome] = counts["PostgreSQL"].get(outcome, 0) + 1
            if "browser" in nodeid.lower() or "chromium" in nodeid.lower():
                counts["navigateur"][outcome] = counts["navigateur"].get(outcome, 0) + 1
    for name, by_outcome in counts.items():
        detail = ", ".join(f"{number} {outcome}" for outcome, number in sorted(by_outcome.items())) or "aucun"
        terminalreporter.write_line(f"billing-rules: tests {name} : {detail}")
