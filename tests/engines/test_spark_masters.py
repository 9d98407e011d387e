"""Several Spark masters in one process: each check runs on the master it names, or is refused.

A process holds one SparkContext: another classic master replaces the idle session (and the first
one comes back when asked again), a busy one or one started outside billing-rules is never taken
over (a French error names both masters), and Spark Connect sessions stand beside a local one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

from billing_rules.api.validator import Validator  # noqa: E402
from billing_rules.engines.relational import api  # noqa: E402
from billing_rules.engines.relational import spark_session as sessions  # noqa: E402
from billing_rules.engines.relational.spark import SparkBackend  # noqa: E402
from billing_rules.errors import BillingRulesError  # noqa: E402


def _findings(validator: Validator, path: Path, **where: Any) -> list[tuple[str, str, str]]:
    report = api.check_paths(validator, [str(path)], engine="spark", **where)
    return [(f.rule, f.invoice_id, f.message) for f in report.findings]


def _row_findings(validator: Validator, path: Path) -> list[tuple[str, str, str]]:
    found = [(f.rule, f.invoice_id, f.message) for f in validator.check_paths([str(path)]).findings]
    assert {rule for rule, *_ in found} >= {"SNP-MT", "IMT-MT", "OPP-MEG"}  # errors and opportunities
    return found


def _running_master() -> str:
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    assert context is not None
    return str(context.master)


@pytest.mark.spark
def test_another_local_master_replaces_the_idle_session(
    spark_session: Any, builtin_validator: Validator, week_excerpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _row_findings(builtin_validator, week_excerpt)
    # Ignored with a local --master: neither the session's choice nor the JVM's start sees it.
    monkeypatch.setenv("SPARK_REMOTE", "sc://127.0.0.1:9")
    try:
        assert _findings(builtin_validator, week_excerpt, master="local[1]") == expected
        assert _running_master() == "local[1]"
        assert spark_session._sc._jsc is None  # the first session was stopped, not kept half-dead
    finally:
        # Back to the run's session: the checker of local[2] asks for it, and it starts again.
        assert _findings(builtin_validator, week_excerpt, master="local[2]") == expected
    assert _running_master() == "local[2]"
    assert "local[1]" not in sessions._ROOT


@pytest.mark.spark
def test_a_busy_local_master_is_kept(spark_session: Any) -> None:
    backend = SparkBackend(master="local[2]")  # a check running on local[2]
    try:
        with pytest.raises(BillingRulesError) as refused:
            sessions.session("local[1]")
        message = str(refused.value)
        assert "Spark tourne déjà dans ce processus avec --master local[2]" in message
        assert "impossible d'y démarrer --master local[1]" in message
    finally:
        backend.close()
    assert _running_master() == "local[2]"


@pytest.mark.spark
def test_a_spark_context_started_elsewhere_is_not_taken(
    spark_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if an embedding application had started the running local[2] context itself.
    monkeypatch.setattr(sessions, "_ROOT", {})
    with pytest.raises(BillingRulesError) as refused:
        sessions.session("local[1]")
    assert "avec --master local[2] (démarrée hors de billing-rules)" in str(refused.value)
    assert "--master local[1]" in str(refused.value)
    assert _running_master() == "local[2]"


@pytest.mark.spark
@pytest.mark.spark_connect
def test_spark_connect_beside_a_local_session(
    spark_session: Any,
    spark_connect: str,
    builtin_validator: Validator,
    week_excerpt: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    local = _findings(builtin_validator, week_excerpt, master="local[2]")
    assert local == _row_findings(builtin_validator, week_excerpt)
    assert _findings(builtin_validator, week_excerpt, master=spark_connect) == local
    assert _findings(builtin_validator, week_excerpt, master="local[2]") == local
    assert _running_master() == "local[2]"
    # Checkers are kept per master as resolved: SPARK_REMOTE's is --master sc://...'s.
    monkeypatch.setenv("SPARK_REMOTE", spark_connect)
    remote = api.checker_for(builtin_validator, "spark")
    assert remote is api.checker_for(builtin_validator, "spark", spark_connect)
    monkeypatch.delenv("SPARK_REMOTE")
    assert api.checker_for(builtin_validator, "spark") is api.checker_for(
        builtin_validator, "spark", "local[2]"
    )
    assert api.checker_for(builtin_validator, "spark") is not remote
