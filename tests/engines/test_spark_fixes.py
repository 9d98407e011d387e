"""Spark's local sessions: Ctrl-C, the memory of finished checks, staging paths, bad masters.

Most tests here need no JVM: pyspark's classes are replaced by fakes where only the project's own
handling is under test; the ones that run a check carry the ``spark`` mark.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from billing_rules import interrupt
from billing_rules.engines.relational import spark_session as sessions

pytest.importorskip("pyspark")


class _FakeContext:
    """pyspark's ``SparkContext`` as far as its SIGINT handler goes (no JVM)."""

    _active_spark_context = None
    cancelled = 0

    def __init__(self, conf: Any = None) -> None:
        def signal_handler(signum: Any, frame: Any) -> None:  # as pyspark's own
            try:
                self.cancelAllJobs()
            finally:
                raise KeyboardInterrupt()

        signal.signal(signal.SIGINT, signal_handler)

    def cancelAllJobs(self) -> None:  # noqa: N802 - pyspark's name
        type(self).cancelled += 1

    def setLogLevel(self, level: str) -> None:  # noqa: N802 - pyspark's name
        pass


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_after_a_local_session_started_is_the_users(monkeypatch: pytest.MonkeyPatch) -> None:
    """SparkContext replaces the SIGINT handler: the project's is put back, Spark's jobs still cancelled."""
    import pyspark
    import pyspark.sql

    monkeypatch.setattr(pyspark, "SparkContext", _FakeContext)
    monkeypatch.setattr(pyspark.sql, "SparkSession", lambda context: ("session", context))
    monkeypatch.setattr(sessions, "java_available", lambda: True)
    monkeypatch.setattr(sessions, "_ROOT", {})
    previous = interrupt.install()
    if previous is None:
        pytest.skip("no signal handler can be installed here")
    try:
        sessions._local("local[1]")
        with pytest.raises(KeyboardInterrupt) as raised:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler raises as soon as the signal arrives
        assert interrupt.is_real(raised.value)  # the CLI says « interrompu (Ctrl-C) », exit 130
        for _ in range(100):  # cancelled from a thread of its own (not inside the broken py4j call)
            if _FakeContext.cancelled:
                break
            time.sleep(0.01)
        assert _FakeContext.cancelled == 1
        # py4j's traceback of the broken call (logged on the root logger) stays off the terminal.
        gateway = f"{os.sep}x{os.sep}py4j{os.sep}java_gateway.py"
        py4j_record = logging.LogRecord("root", logging.ERROR, gateway, 1, "KeyboardInterrupt", (), None)
        other = logging.LogRecord("root", logging.ERROR, f"{os.sep}x{os.sep}app.py", 1, "autre", (), None)
        assert not logging.getLogger().filter(py4j_record)
        assert logging.getLogger().filter(other)
    finally:
        interrupt.restore(previous)
        logging.getLogger().removeFilter(sessions._QUIET_AFTER_CTRL_C)


@pytest.mark.spark
def test_a_local_checks_session_builds_no_broadcast_table(spark_session: Any) -> None:
    """Broadcast tables of finished checks filled a long-running process's driver: none are built."""
    own, key = sessions.check_session()
    try:
        assert own.conf.get("spark.sql.autoBroadcastJoinThreshold") == "-1"
    finally:
        sessions.release(own, key)


@pytest.mark.spark
@pytest.mark.parametrize("parent", ["tmp[x]", "run[1]", "run{a,b}", "star*?"])
def test_staging_path_with_glob_characters(
    spark_session: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parent: str
) -> None:
    """Spark reads the staged invoices where they are, whatever characters the path holds."""
    from billing_rules.api.validator import Validator
    from billing_rules.engines.relational import api
    from billing_rules.testing import make_event

    monkeypatch.setenv("BILLING_RULES_SPARK_STAGING", str(tmp_path / parent))
    validator = Validator.build(entry_points=False)
    events = [
        make_event(seq=i, invoice_id=f"F{i}", codes=codes) for i, codes in enumerate(["G", "G+MEG", "IMT"])
    ]
    expected = [(f.rule, f.invoice_id, f.message) for f in validator.check_events(events).findings]
    report = api.check_events(validator, events, engine="spark")
    assert [(f.rule, f.invoice_id, f.message) for f in report.findings] == expected
    assert os.listdir(tmp_path / parent) == []  # the check's staging directory is gone


def _check(*args: str) -> Any:
    from click.testing import CliRunner

    from billing_rules import cli

    example = Path(__file__).resolve().parents[2] / "examples" / "week-2026-01.csv"
    return CliRunner().invoke(cli.main, ["check", "--no-plugins", str(example), "--engine", "spark", *args])


@pytest.mark.parametrize("master", ["local[abc]", "local[0]", "foo", "spark://", "spark://h:x"])
def test_a_bad_master_url_is_named(monkeypatch: pytest.MonkeyPatch, master: str) -> None:
    """Refused before any JVM starts, naming the URL, never blaming Java."""
    monkeypatch.setattr(sessions, "java_available", lambda: True)
    result = _check("--master", master)
    assert result.exit_code == 2, result.output
    assert f"--master {master} n'est pas une URL de master Spark valide" in result.output
    assert "Java" not in result.output and "erreur interne" not in result.output


def test_spark_remote_not_a_connect_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARK_REMOTE", "foo")
    result = _check()
    assert result.exit_code == 2, result.output
    assert "SPARK_REMOTE=foo n'est pas une adresse Spark Connect : attendu sc://hôte:port" in result.output
    assert "Java" not in result.output and "erreur interne" not in result.output


def test_spark_connect_port_not_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions, "connect_missing", lambda: None)
    result = _check("--master", "sc://127.0.0.1:abc")
    assert result.exit_code == 2, result.output
    assert (
        "adresse Spark Connect invalide « sc://127.0.0.1:abc » : le port doit être un nombre" in result.output
    )
    assert "erreur interne" not in result.output


def test_standalone_master_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Said within seconds (no minute of Spark's retries, no internal error)."""
    monkeypatch.setattr(sessions, "java_available", lambda: True)
    result = _check("--master", "spark://127.0.0.1:9")
    assert result.exit_code == 2, result.output
    assert "master Spark injoignable à 127.0.0.1:9 (--master spark://127.0.0.1:9)" in result.output
    assert "erreur interne" not in result.output


@pytest.mark.parametrize(
    ("condition", "said"),
    [
        ("JAVA_GATEWAY_EXITED", "(JAVA_GATEWAY_EXITED : la JVM s'est arrêtée avant de répondre ;"),
        ("NO_ACTIVE_SESSION", "(NO_ACTIVE_SESSION)"),
        (None, "(RuntimeError)"),
    ],
)
def test_a_jvm_that_does_not_start_is_named_by_its_condition(
    monkeypatch: pytest.MonkeyPatch, condition: str | None, said: str
) -> None:
    """pyspark's condition, not only its exception's class, in the French line (exit 2)."""
    pyspark = pytest.importorskip("pyspark")
    from pyspark.errors import PySparkRuntimeError

    def failing_start(*args: Any, **kwargs: Any) -> None:
        if condition is None:
            raise RuntimeError("no gateway")
        raise PySparkRuntimeError(errorClass=condition, messageParameters={})

    monkeypatch.setattr(sessions, "java_available", lambda: True)
    monkeypatch.setattr(sessions, "_ROOT", {})
    failing = type("Failing", (), {"__new__": failing_start, "_active_spark_context": None})
    monkeypatch.setattr(pyspark, "SparkContext", failing)
    result = _check("--master", "local[1]")
    assert result.exit_code == 2, result.output
    assert f"Spark n'a pas pu démarrer {said}" in result.output
    assert "vérifiez Java" in result.output and "erreur interne" not in result.output
