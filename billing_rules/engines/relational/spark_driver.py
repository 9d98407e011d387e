"""The settings of a classic Spark driver started by this process: memory, logs, and where it writes.

A local session (``local[N]``) writes the rows of a check (patient data) to its disk: shuffle
files, cached blocks, pyspark's own temporary files, all under ``spark.local.dir``. Spark deletes
them when its JVM ends normally, and the JVM ends with this process; but a JVM killed outright (the
kernel's out-of-memory killer picks the largest process, and that is the JVM) leaves them in the
temporary folder for good. A local driver therefore writes them in this process's scratch folder
(:mod:`billing_rules.scratch`), which the next check sweeps once this process is gone, as it does
DuckDB's spill and Spark's staging. ``SPARK_LOCAL_DIRS``, when set, still decides (Spark's own
rule); on a cluster, the executors keep the folders their cluster manager gives them, and the
driver's setting is left alone (a path of this machine means nothing there).
"""

from __future__ import annotations

import os
import re
import tempfile

from billing_rules import scratch

DEFAULT_MEMORY = "2g"
#: Settings of every classic driver started here: no web UI, no progress bars on the terminal.
DRIVER_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}
#: Settings of each check's session on a classic (in-process driver) master: no broadcast joins.
#: A broadcast hash join builds its table in the driver's memory; on a local session those tables
#: of a finished check are only freed when the JVM's garbage collector happens to let Spark's
#: ContextCleaner see them gone, so a long-running process checking again and again fills the driver
#: heap until Spark fails (« Not enough memory to build and broadcast the table », after some
#: sixteen checks). Dropping the views and cached tables at the end of a check does not release
#: them; sort-merge joins keep no such table (Spark Connect's server sessions, released at each
#: check's end, do not grow either, and keep Spark's defaults).
CLASSIC_SESSION_CONF = {"spark.sql.autoBroadcastJoinThreshold": "-1"}
LOG_CONFIG = os.path.join(os.path.dirname(__file__), "spark-log4j2.properties")


_LOCAL = re.compile(r"local(?:\[(\*|\d+)(?:,\s*\d+)?\])?")
_LOCAL_CLUSTER = re.compile(r"local-cluster\[(\d+),\s*(\d+),\s*\d+\]")


def local_cores(key: str) -> int | None:
    """The cores a local master runs tasks on (``local[*]``: this machine's); None off this machine."""
    found = _LOCAL.fullmatch(key)
    if found is not None:
        cores = found.group(1)
        return (os.cpu_count() or 1) if cores == "*" else int(cores or 1)
    found = _LOCAL_CLUSTER.fullmatch(key)
    if found is not None:
        return int(found.group(1)) * int(found.group(2))
    return None


def driver_settings(key: str, session_conf: dict[str, str]) -> dict[str, str]:
    """Everything the JVM of master ``key`` starts with (a running JVM keeps its first ones).

    A local master shuffles into one partition per core. Spark's default of 200 is made for
    clusters, and even 8 cost a small check time. Measured on ``local[2]``, with the oracle corpus
    of 1 877 rows (first and second check of a process) and on 1 M generated rows: 8 partitions
    took 25.9-29.2 s, 10.7 s and 55.7 s; 4 took 24.7 s, 9.1 s and 53.8 s; 2 took 23.4 s, 9.0 s
    and 52.0-55.4 s (at 1 M rows, the same within the noise). Adaptive query execution is off there
    too: it re-plans each stage from statistics that, on two partitions of one machine, have
    nothing to change; measured on the differential tests' small Spark corpora, 67.1 s with it and
    56.8 s without (each check's statements are many and small), and on 1 M rows 55.4-55.7 s
    against 55.1-55.6 s. A cluster master keeps its own settings.
    """
    memory = os.environ.get("BILLING_RULES_SPARK_MEMORY", DEFAULT_MEMORY)
    settings = {**DRIVER_CONF, **session_conf, "spark.driver.memory": memory}
    # Errors only, from the JVM's start.
    settings["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile={LOG_CONFIG}"
    cores = local_cores(key)
    if cores is not None:
        settings["spark.sql.shuffle.partitions"] = str(max(cores, 1))
        settings["spark.sql.adaptive.enabled"] = "false"
        if not os.environ.get("SPARK_LOCAL_DIRS"):
            settings["spark.local.dir"] = local_dir()
    return settings


def local_dir() -> str:
    """A folder of this process's scratch folder for a local driver's files (0700)."""
    return tempfile.mkdtemp(prefix="spark-local-", dir=scratch.folder())
