"""What a local Spark driver starts with: its files in the scratch folder, a partition per core.

Shuffle files, cached blocks and pyspark's temporary files hold the rows of a check (patient
data). Spark removes them when its JVM ends normally; a JVM killed outright (out of memory) would
leave them for good, so they go where the next check sweeps what a dead process left
(:mod:`billing_rules.scratch`, whose sweep ``tests/test_scratch.py`` covers). And a local master
shuffles into as many partitions as it has cores, without adaptive execution, where a cluster
keeps its own settings.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest

from billing_rules import scratch
from billing_rules.engines.relational import spark_driver


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder of this test (the scratch folder is made there) and no SPARK_LOCAL_DIRS."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv("SPARK_LOCAL_DIRS", raising=False)
    return tmp_path


def test_a_local_driver_writes_in_the_scratch_folder(temp_root: Path) -> None:
    settings = spark_driver.driver_settings("local[2]", {"spark.sql.session.timeZone": "UTC"})
    folder = Path(settings["spark.local.dir"])
    assert folder.parent == Path(scratch.folder())
    assert folder.parent.parent == temp_root
    assert folder.is_dir()
    assert folder.stat().st_mode & 0o777 == 0o700
    # The rest of what the JVM starts with is still there.
    assert settings["spark.sql.session.timeZone"] == "UTC"
    assert settings["spark.driver.memory"] == spark_driver.DEFAULT_MEMORY
    assert spark_driver.LOG_CONFIG in settings["spark.driver.extraJavaOptions"]


def test_each_local_driver_has_a_folder_of_its_own(temp_root: Path) -> None:
    first = spark_driver.driver_settings("local[2]", {})["spark.local.dir"]
    second = spark_driver.driver_settings("local[1]", {})["spark.local.dir"]
    assert first != second
    assert Path(first).parent == Path(second).parent == Path(scratch.folder())


@pytest.mark.parametrize(
    "master", ["spark://cluster:7077", "yarn", "k8s://https://cluster:6443", "localhost"]
)
def test_a_cluster_keeps_the_folders_its_manager_gives(temp_root: Path, master: str) -> None:
    assert "spark.local.dir" not in spark_driver.driver_settings(master, {})
    assert not list(temp_root.iterdir())  # not even a scratch folder made for it


def test_spark_local_dirs_still_decides(temp_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARK_LOCAL_DIRS", str(temp_root / "spark-disks"))
    assert "spark.local.dir" not in spark_driver.driver_settings("local[2]", {})


@pytest.mark.parametrize(
    ("master", "local"),
    [
        ("local", True),
        ("local[2]", True),
        ("local[*]", True),
        ("local[2,3]", True),
        ("local-cluster[2,1,1024]", True),
        ("localhost", False),
        ("spark://local:7077", False),
    ],
)
def test_which_masters_run_on_this_machine(master: str, local: bool) -> None:
    assert (spark_driver.local_cores(master) is not None) is local


@pytest.mark.parametrize(
    ("master", "cores"),
    [
        ("local", 1),
        ("local[2]", 2),
        ("local[3,2]", 3),
        ("local[*]", os.cpu_count()),
        ("local-cluster[2,3,1024]", 6),
        ("spark://cluster:7077", None),
        ("yarn", None),
    ],
)
def test_a_local_master_shuffles_into_a_partition_per_core(
    temp_root: Path, master: str, cores: int | None
) -> None:
    assert spark_driver.local_cores(master) == cores
    settings = spark_driver.driver_settings(master, {})
    assert settings.get("spark.sql.shuffle.partitions") == (None if cores is None else str(cores))
    # Adaptive execution off on this machine only: a cluster keeps its own settings.
    assert settings.get("spark.sql.adaptive.enabled") == (None if cores is None else "false")


@pytest.mark.spark
def test_the_running_local_session_writes_in_a_scratch_folder(spark_session: Any) -> None:
    from billing_rules.engines.relational.spark import session

    live = session()  # the run's local[2] (another test may have started it again since)
    assert live.conf.get("spark.sql.shuffle.partitions") == "2"
    assert live.conf.get("spark.sql.adaptive.enabled") == "false"
    context = live.sparkContext
    folder = Path(context.getConf().get("spark.local.dir"))
    assert re.fullmatch(rf"billing-rules-{os.getpid()}-\w+", folder.parent.name)
    assert list(folder.glob("blockmgr-*"))  # the block manager's files: shuffles, cached tables
    # pyspark's own temporary files: in this process's scratch folder too. The JVM settles its
    # local folders at its first context and keeps them for the next ones, so after a test has
    # restarted the session they are in the first driver's folder, not in the current one's.
    assert Path(context._temp_dir).is_relative_to(folder.parent)
