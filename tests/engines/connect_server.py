"""A Spark Connect server for the tests: pyspark's own, started on this machine on a free port.

pyspark's wheel ships the server (``jars/spark-connect_*.jar``) and ``bin/spark-submit``: the server
is that class submitted in ``local[2]``, in its own process group (a JVM beside the tests' classic
session), bound to 127.0.0.1 only, and stopped at the end of the run. It needs Java, nothing from
the network. It reads the staging Parquet the engine writes, as a cluster's server reads a shared
mount: here both are on one machine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import attrs

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
START_TIMEOUT = 180.0  # seconds: a JVM's start on a loaded 2-core machine, with margin
#: What the client's environment may carry and the server's must not: either would make
#: spark-submit start a Connect client instead of the server.
CLIENT_VARIABLES = ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "SPARK_LOCAL_REMOTE", "SPARK_API_MODE")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
    except OSError:
        return False
    return True


@attrs.define
class ConnectServer:
    """A running server: its URL, process and log."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"sc://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to its process group (spark-submit execs the JVM), SIGKILL after 30 s."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


def start(directory: Path) -> ConnectServer:
    """Start a server and wait until its port answers; raises RuntimeError (with its log) if not."""
    from pyspark.find_spark_home import _find_spark_home

    from billing_rules.engines.relational.spark_driver import LOG_CONFIG

    home = _find_spark_home()
    port = free_port()
    log = directory / "spark-connect-server.log"
    env = {name: value for name, value in os.environ.items() if name not in CLIENT_VARIABLES}
    env |= {"SPARK_HOME": home, "SPARK_CONNECT_MODE": "0"}
    command = [
        os.path.join(home, "bin", "spark-submit"),
        "--class", SERVER_CLASS,
        "--master", "local[2]",
        "--name", "billing-rules tests",
        "--driver-memory", "1g",
        "--driver-java-options", f"-Dlog4j2.configurationFile={LOG_CONFIG}",
        "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.sql.shuffle.partitions=8",
        "--conf", f"spark.local.dir={directory}",
    ]  # fmt: skip
    with open(log, "wb") as output:
        process = subprocess.Popen(  # noqa: S603 - pyspark's own script, fixed arguments
            command, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    server = ConnectServer(process, port, log)
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers(port):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(
                f"le serveur Spark Connect n'a pas démarré (code {process.returncode}) :\n{server.log_tail()}"
            )
        time.sleep(0.5)
    return server
