"""The example plugin installed for real (a venv and pip), and every command of docs/plugins.md.

The plugin is installed into a venv of its own, made without system site-packages, that sees the
project's venv and nothing else of the machine (``tests/isolated_venv.py``): billing-rules, pytest
and the ``hatchling`` build backend (``test`` extra) come from there, pip uses no index and no
configuration file, and builds without isolation. The plugin itself lands in the child venv, so
``billing-rules plugins`` finds it through its installed entry point. The commands run in a copy of
the plugin and the examples, so nothing is written into the repository.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import isolated_venv
import pytest

from billing_rules import hookspecs

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "plugins.md"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("plugin-install")
    shutil.copytree(
        REPO / "plugins" / "billing-rules-specialist",
        root / "plugins" / "billing-rules-specialist",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", ".pytest_cache"),
    )
    shutil.copytree(REPO / "examples", root / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.fixture(scope="module")
def env(workdir: Path) -> dict[str, str]:
    """A venv seeing only the project's venv, with pip and a ``billing-rules`` command of its own."""
    env_dir = workdir / "venv"
    python = isolated_venv.create(env_dir, with_pip=True, project=True)
    bin_dir = python.parent
    command = bin_dir / "billing-rules"
    command.write_text(
        f"#!{python}\nimport sys\nfrom billing_rules.cli import main\nsys.exit(main())\n",
        encoding="utf-8",
    )
    command.chmod(0o755)
    return isolated_venv.clean_environ(
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        VIRTUAL_ENV=str(env_dir),
        # pip's spelling of --no-build-isolation: the build backend is the project venv's hatchling.
        PIP_NO_BUILD_ISOLATION="0",
        NO_COLOR="1",
    )


def sh(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def installed(env: dict[str, str], workdir: Path) -> dict[str, str]:
    result = sh("pip install -q plugins/billing-rules-specialist", env, workdir)
    assert result.returncode == 0, result.stderr
    return env


def test_plugin_is_installed_in_the_child_venv_and_found_by_its_entry_point(
    installed: dict[str, str], workdir: Path
) -> None:
    code = (
        "import importlib.metadata as m, json, sys; "
        "d = m.distribution('billing-rules-specialist'); "
        "eps = [(e.name, e.value) for e in d.entry_points if e.group == 'billing_rules']; "
        "print(json.dumps([str(d.locate_file('')), eps, sys.prefix, sys.base_prefix]))"
    )
    result = sh(f'python -c "{code}"', installed, workdir)
    assert result.returncode == 0, result.stderr
    location, entry_points, prefix, base_prefix = json.loads(result.stdout)
    assert Path(prefix) == workdir / "venv" and prefix != base_prefix
    assert Path(location).is_relative_to(workdir / "venv")
    assert entry_points == [["specialist", "billing_rules_specialist"]]


def test_installed_plugin_adds_rules_findings_and_source(installed: dict[str, str], workdir: Path) -> None:
    listing = sh("billing-rules rules list --format json", installed, workdir)
    assert listing.returncode == 0, listing.stderr
    sources = {entry["code"]: entry["source"] for entry in json.loads(listing.stdout)}
    assert sources["SPE-MCU-48H"] == "specialist" and sources["IMT-ONCE"] == "builtin"

    check = sh(
        "billing-rules check --format json --input-format medilogic "
        "plugins/billing-rules-specialist/examples/medilogic.csv",
        installed,
        workdir,
    )
    assert check.returncode == 1, check.stderr
    findings = {(f["invoice_id"], f["rule"], f["source"]) for f in json.loads(check.stdout)["findings"]}
    assert {("M-2", "SPE-MCU-48H", "specialist"), ("M-3", "SPE-APC-MT", "specialist")} <= findings

    plugins = sh("billing-rules plugins --format json", installed, workdir)
    entry = next(item for item in json.loads(plugins.stdout) if item["name"] == "specialist")
    assert entry["version"] == "0.1.0" and entry["distribution"] == "billing-rules-specialist"
    assert "register_readers" in entry["hooks"] and "SPE-RPPS-REFERRER" in entry["rules"]

    show = sh("billing-rules rules show SPE-APC-4M", installed, workdir)
    assert show.returncode == 0 and "Source   : specialist" in show.stdout

    without = sh("billing-rules rules list --no-plugins --format json", installed, workdir)
    assert {entry["source"] for entry in json.loads(without.stdout)} == {"builtin"}


def test_plugin_own_suite_passes_when_installed(installed: dict[str, str], workdir: Path) -> None:
    result = sh(
        "python -m pytest -q -p no:cacheprovider", installed, workdir / "plugins" / "billing-rules-specialist"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\d+ passed", result.stdout)


# -- the guide ---------------------------------------------------------------------------------


def doc_commands() -> list[tuple[str, int]]:
    """``$ command  # exit N`` lines of the ``console`` blocks, in order, with their exit code."""
    commands: list[tuple[str, int]] = []
    inside = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = line.strip() == "```console" and not inside
            continue
        if inside and line.startswith("$ "):
            text = line[2:]
            match = re.search(r"\s+#\s*exit (\d+)\s*$", text)
            commands.append((text[: match.start()] if match else text, int(match.group(1)) if match else 0))
    return commands


def test_guide_has_commands_to_run() -> None:
    commands = [command for command, _ in doc_commands()]
    assert any(command.startswith("pip install") for command in commands)
    assert any("rules test" in command for command in commands)
    assert any("pytest" in command for command in commands)


def test_guide_commands_run(env: dict[str, str], workdir: Path) -> None:
    # The guide installs the plugin itself (its first command), in a venv of its own.
    guide_env = dict(env)
    for command, expected in doc_commands():
        result = sh(command, guide_env, workdir)
        assert result.returncode == expected, f"{command}\n{result.stdout}\n{result.stderr}"
    assert list((workdir / "dist").glob("billing_rules_specialist-0.1.0-*.whl"))


def test_every_hook_has_a_section_with_its_signature() -> None:
    import inspect

    text = DOC.read_text(encoding="utf-8")
    for name in dir(hookspecs):
        function = getattr(hookspecs, name)
        if callable(function) and hasattr(function, "billing_rules_spec"):
            arguments = ", ".join(inspect.signature(function).parameters)
            assert f"### `{name}({arguments})`" in text, name


def test_guide_module_paths_exist() -> None:
    text = DOC.read_text(encoding="utf-8")
    for path in re.findall(r"`((?:plugins|billing_rules|tests)/[\w./-]+)`", text):
        assert (REPO / path).exists(), path
    assert sys.version_info >= (3, 10)
