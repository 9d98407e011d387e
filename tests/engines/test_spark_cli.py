"""``check --engine spark``: the report names the engine, the findings are the row engine's (on a
local session and through Spark Connect, by ``SPARK_REMOTE`` and by ``--master sc://...``), and what
cannot start (pyspark, Java or the Connect client missing, Spark Connect unreachable) is said in
French."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

from billing_rules import cli  # noqa: E402
from billing_rules.engines import choice  # noqa: E402
from billing_rules.engines.relational import spark, spark_session  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "week-2026-01.csv"


def run(*args: str) -> Any:
    return CliRunner().invoke(cli.main, ["check", "--no-plugins", *args], catch_exceptions=False)


def _row_engine_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: Path = EXAMPLE
) -> tuple[Path, int, dict[str, Any]]:
    """A private staging directory for Spark, and the row engine's exit code and JSON report of
    ``path``, named as Spark's would be (what a Spark run must give)."""
    staging = tmp_path / "staging"
    monkeypatch.setenv("BILLING_RULES_SPARK_STAGING", str(staging))
    row = run(str(path), "--format", "json", "--engine", "row")
    expected = json.loads(row.output)
    expected["summary"]["engine"] = "spark"
    return staging, row.exit_code, expected


@pytest.mark.spark
def test_spark_engine_is_named_and_finds_what_the_row_engine_finds(
    spark_session: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, week_excerpt: Path
) -> None:
    staging, exit_code, expected = _row_engine_report(tmp_path, monkeypatch)
    found = run(str(EXAMPLE), "--format", "json", "--engine", "spark")
    data = json.loads(found.output)
    assert data["summary"]["engine"] == "spark"
    assert found.exit_code == exit_code
    assert data == expected
    assert data["findings"]
    text = run(str(week_excerpt), "--engine", "spark", "--master", "local[2]")
    assert "Moteur : spark" in text.output
    # The check's staging directory (the Parquet copy of the invoices) is gone afterwards.
    assert staging.is_dir() and not list(staging.iterdir())


@pytest.mark.spark
@pytest.mark.spark_connect
def test_spark_connect_by_spark_remote_and_by_master(
    spark_connect: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, week_excerpt: Path
) -> None:
    staging, exit_code, expected = _row_engine_report(tmp_path, monkeypatch)
    monkeypatch.setenv("SPARK_REMOTE", spark_connect)
    found = run(str(EXAMPLE), "--format", "json", "--engine", "spark")
    assert (found.exit_code, json.loads(found.output)) == (exit_code, expected)
    monkeypatch.delenv("SPARK_REMOTE")
    # The same server by --master: on the excerpt (the whole week was compared just above).
    _, exit_code, expected = _row_engine_report(tmp_path, monkeypatch, week_excerpt)
    found = run(str(week_excerpt), "--format", "json", "--engine", "spark", "--master", spark_connect)
    assert (found.exit_code, json.loads(found.output)) == (exit_code, expected)
    assert expected["findings"]
    # The server read the staging Parquet (one machine here; a shared mount on a cluster): removed.
    assert staging.is_dir() and not list(staging.iterdir())


@pytest.mark.spark
@pytest.mark.spark_connect
def test_spark_connect_command_ends(spark_connect: str, tmp_path: Path, week_excerpt: Path) -> None:
    """A real process: its Connect clients are closed at exit (gRPC's finaliser could hang it)."""
    env = {**os.environ, "SPARK_REMOTE": spark_connect, "BILLING_RULES_SPARK_STAGING": str(tmp_path)}
    command = [
        sys.executable,
        "-m",
        "billing_rules",
        "check",
        "--no-plugins",
        str(week_excerpt),
        "--engine",
        "spark",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Moteur : spark" in done.stdout


def test_staging_directory_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_RULES_SPARK_STAGING", str(tmp_path / "here"))
    path = spark.staging_dir()
    try:
        assert Path(path).parent == tmp_path / "here"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    finally:
        os.rmdir(path)


def test_master_only_with_spark() -> None:
    result = run(str(EXAMPLE), "--engine", "duckdb", "--master", "local[2]")
    assert result.exit_code == 2
    assert "--master ne sert qu'avec --engine spark" in result.output


def test_auto_never_chooses_spark(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "spark" in choice.ENGINES
    monkeypatch.setattr(choice, "estimated_rows", lambda paths, input_format=None: 10**9)
    assert choice.choose("auto", [str(EXAMPLE)]) == "duckdb"


def test_without_the_spark_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(choice, "spark_installed", lambda: False)
    result = run(str(EXAMPLE), "--engine", "spark")
    assert result.exit_code == 2
    assert "--engine spark demande l'extra spark : pip install 'billing-rules[spark]'" in result.output


def test_without_java(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spark_session, "java_available", lambda: False)
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    if not spark.pyspark_installed():
        pytest.skip("pyspark n'est pas installé")
    result = run(str(EXAMPLE), "--engine", "spark", "--master", "local[1]")  # not started yet
    assert result.exit_code == 2
    assert "--engine spark demande Java (17 ou plus)" in result.output


def test_spark_connect_client_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    if not spark.pyspark_installed():
        pytest.skip("pyspark n'est pas installé")
    monkeypatch.setattr(spark_session, "connect_missing", lambda: "grpcio")
    result = run(str(EXAMPLE), "--engine", "spark", "--master", "sc://127.0.0.1:9")
    assert result.exit_code == 2
    assert (
        "Spark Connect demande ses dépendances (grpcio) : pip install 'billing-rules[spark-connect]'"
        in result.output
    )


def test_spark_connect_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    if not spark.pyspark_installed():
        pytest.skip("pyspark n'est pas installé")
    monkeypatch.setenv("SPARK_REMOTE", "sc://127.0.0.1:9")
    result = run(str(EXAMPLE), "--engine", "spark")
    assert result.exit_code == 2
    assert "Spark Connect injoignable à 127.0.0.1:9" in result.output


class _NotConnect:
    """A TCP port on 127.0.0.1 that accepts connections but is no Spark Connect server.

    ``close``: hangs up at once; ``http``: answers HTTP/1.1 400; ``silent``: keeps the connection
    and never says a word (a proxy, a stuck server).
    """

    def __init__(self, mode: str) -> None:
        import socket
        import threading

        self.mode = mode
        self.held: list[socket.socket] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            if self.mode == "silent":
                self.held.append(conn)
                continue
            try:
                if self.mode == "http":
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                pass
            conn.close()

    def close(self) -> None:
        self.server.close()
        for conn in self.held:
            conn.close()


@pytest.mark.parametrize("mode", ["close", "http", "silent"])
def test_spark_connect_port_that_is_not_spark_connect(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """A port that answers but is not Spark Connect is said unreachable within the probe's time:
    pyspark's own retries would wait about ten minutes, and a silent port forever."""
    import threading

    if spark_session.connect_missing() is not None:
        pytest.skip("le client Spark Connect n'est pas installé")
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    monkeypatch.setattr(spark_session, "PROBE_TIMEOUT", 2.0)
    server = _NotConnect(mode)
    try:
        result = run(str(EXAMPLE), "--engine", "spark", "--master", f"sc://127.0.0.1:{server.port}")
    finally:
        server.close()
    assert result.exit_code == 2
    assert f"Spark Connect injoignable à 127.0.0.1:{server.port}" in result.output
    assert "RETRIES_EXCEEDED" not in result.output
    probes = [thread for thread in threading.enumerate() if thread.name == "billing-rules-connect-probe"]
    for thread in probes:  # the closed channel ends the call that was waiting
        thread.join(10)
        assert not thread.is_alive()


def test_spark_connect_client_import_failure_is_said_in_french(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's modules are present but one fails to import (a broken gRPC build): the extra is
    named, not a traceback."""
    import builtins

    if spark_session.connect_missing() is not None:
        pytest.skip("le client Spark Connect n'est pas installé")
    real_import = builtins.__import__

    def failing(name: str, *args: object, **kwargs: object) -> object:
        if name == "pyspark.sql.connect.session":
            raise ModuleNotFoundError("No module named 'grpc'", name="grpc")
        return real_import(name, *args, **kwargs)

    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    server = _NotConnect("silent")  # reachable: the client is built, and its import fails
    monkeypatch.setattr(builtins, "__import__", failing)
    try:
        result = run(str(EXAMPLE), "--engine", "spark", "--master", f"sc://127.0.0.1:{server.port}")
    finally:
        monkeypatch.setattr(builtins, "__import__", real_import)
        server.close()
    assert result.exit_code == 2
    assert "Spark Connect demande ses dépendances (grpc) : pip install 'billing-rules[spark-connect]'" in (
        result.output
    )


def test_spark_connect_server_that_stops_answering_fails_each_check_quickly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The root session was made while the server answered; it no longer does. Each check's own
    session is probed as the root was: the check is said unreachable within the probe's time."""

    class _Root:  # what the process kept of the server while it answered
        def stop(self) -> None:
            pass

    if spark_session.connect_missing() is not None:
        pytest.skip("le client Spark Connect n'est pas installé")
    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    monkeypatch.setattr(spark_session, "PROBE_TIMEOUT", 2.0)
    server = _NotConnect("silent")
    url = f"sc://127.0.0.1:{server.port}"
    monkeypatch.setitem(spark_session._ROOT, url, _Root())
    try:
        with pytest.raises(spark_session.BillingRulesError, match=f"injoignable à 127.0.0.1:{server.port}"):
            spark_session.check_session(url)
    finally:
        server.close()
