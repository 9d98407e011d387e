"""Rule and configuration files are read at most up to their limit plus one byte (issue 16 point 5):
``/dev/zero`` or a 300 MB file is refused at once, in bounded memory."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from billing_rules.api.ruleset import RuleText
from billing_rules.config import load_config
from billing_rules.errors import BillingRulesError

BIG = 300 * 1024 * 1024


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as out:
        out.truncate(size)  # no disk used: a hole of zeros
    return path


def _peak(action) -> tuple[int, BaseException | None]:  # noqa: ANN001
    tracemalloc.start()
    caught = None
    try:
        action()
    except BillingRulesError as exc:
        caught = exc
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, caught


def test_huge_rule_file_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    path = _sparse(tmp_path / "enorme.rules", BIG)
    peak, caught = _peak(lambda: RuleText.from_path(path))
    assert caught is not None and "trop grand" in str(caught)
    assert peak < 8 * 1024 * 1024


def test_huge_config_file_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    path = _sparse(tmp_path / "billing-rules.toml", BIG)
    peak, caught = _peak(lambda: load_config(path))
    assert caught is not None and "trop grand" in str(caught)
    assert peak < 8 * 1024 * 1024


@pytest.mark.skipif(not os.path.exists("/dev/zero") or sys.platform == "win32", reason="/dev/zero")
@pytest.mark.parametrize("option", ["--rules", "--config"])
def test_dev_zero_is_refused(tmp_path: Path, option: str) -> None:
    day = tmp_path / "jour.csv"
    day.write_text("invoice_id;date;practitioner_id;patient_id;birth_date;codes\n", encoding="utf-8")

    # A failing fix must not take the machine down with it: the command runs under a 1.5 GB
    # address-space limit, set by the new interpreter itself. Not in a ``preexec_fn``: the forked
    # copy of this process (its address space already larger when earlier tests loaded gRPC, Arrow
    # or a JVM client) would fail its first allocation under the limit and abort before ``exec``.
    limited = (
        "import resource, runpy, sys; size = 1536 * 1024 * 1024; "
        "resource.setrlimit(resource.RLIMIT_AS, (size, size)); "
        "sys.argv = ['billing-rules', *sys.argv[1:]]; runpy.run_module('billing_rules', run_name='__main__')"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", limited, "check", str(day), option, "/dev/zero"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "trop grand" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
