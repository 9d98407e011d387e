"""The wheel carries everything the CLI needs (grammar, rule files), installed away from the repo.

Nothing comes from the machine or an index: the wheel is built with the project venv's hatchling
(``test`` extra) without build isolation, and installed with ``--no-deps`` into a venv without
system site-packages whose only other source is the project's venv (``tests/isolated_venv.py``).
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import isolated_venv
import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=600,
        env=isolated_venv.clean_environ(),
    )
    (found,) = out.glob("billing_rules-*.whl")
    return found


def test_wheel_ships_grammar_and_rule_files(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "billing_rules/grammar/billing_rules.lark" in names
    rule_files = {
        name for name in names if name.startswith("billing_rules/builtin/ngap/") and name.endswith(".rules")
    }
    assert {Path(name).name for name in rule_files} >= {
        "codes.rules",
        "tariffs.rules",
        "visits.rules",
        "snp.rules",
    }
    assert any(name.startswith("billing_rules/reporters/templates/") for name in names)
    assert not any(name.startswith(("tests/", "examples/", "benchmarks/")) for name in names)


def test_wheel_says_the_package_is_typed(wheel: Path) -> None:
    """PEP 561: without ``py.typed`` a vendor's type checker ignores every annotation of the package."""
    assert "billing_rules/py.typed" in zipfile.ZipFile(wheel).namelist()


@pytest.mark.slow
def test_fresh_venv_outside_the_repo_checks_the_example(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    # The dependencies come from the project's venv as plain path entries: billing_rules itself is
    # importable only from the wheel installed here.
    python = isolated_venv.create(env_dir, with_pip=True, project=False)
    clean_env = isolated_venv.clean_environ()
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
        check=True,
        timeout=600,
        env=clean_env,
    )
    where = subprocess.run(
        [str(python), "-c", "import billing_rules; print(billing_rules.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env=clean_env,
    )
    assert str(env_dir) in where.stdout  # the installed copy, not the repository
    result = subprocess.run(
        [
            str(env_dir / "bin" / "billing-rules"),
            "check",
            str(ROOT / "examples" / "week-2026-01.csv"),
            "--format",
            "json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    intent = tomllib.loads((ROOT / "examples" / "week-2026-01.expected.toml").read_text(encoding="utf-8"))
    assert f'"errors": {intent["errors"]}' in result.stdout


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^(python3 -m venv .*)$", readme, flags=re.MULTILINE)
    assert len(commands) == 2, commands
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == commands[1]
