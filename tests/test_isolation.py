"""The suite runs in the project's venv and reaches nothing else of the machine.

"Green here" must mean "green on a fresh clone": a test that passes only because the machine's
Python happens to have a package (hatchling, billing-rules installed by hand...) is a defect this
file makes loud. The README's test command creates such a venv (``python3 -m venv`` has no system
site-packages); run any other way (a system interpreter, ``--system-site-packages``, a
``PYTHONPATH``, packages in ``~/.local``), the suite fails here and says what leaked.
"""

from __future__ import annotations

import json
import os
import re
import site
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOW = "lancez la suite comme le README : python3 -m venv .venv && .venv/bin/pip install -e '.[test]'"


def _stdlib_dirs() -> list[Path]:
    """The base interpreter's standard library (a venv shares it), its zip and compiled modules."""
    dirs = {Path(sysconfig.get_path(name)).resolve() for name in ("stdlib", "platstdlib")}
    zipped = Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}{sys.version_info.minor}.zip"
    return sorted(dirs | {zipped.resolve()})


def _outside(entries: list[str], cwd: Path) -> list[str]:
    """The entries that are neither in the venv, the standard library (minus its site-packages), nor
    the repository."""
    venv_dir = Path(sys.prefix).resolve()
    stdlib = _stdlib_dirs()
    leaks = []
    for entry in entries:
        path = (cwd / entry).resolve() if entry else cwd
        if path.is_relative_to(venv_dir) or path.is_relative_to(REPO):
            continue
        if any(path == root or path.is_relative_to(root) for root in stdlib) and not (
            {"site-packages", "dist-packages"} & set(path.parts)
        ):
            continue
        leaks.append(entry)
    return leaks


def test_the_suite_runs_in_a_venv_without_system_site_packages() -> None:
    assert sys.prefix != sys.base_prefix, f"la suite ne tourne pas dans un venv : {HOW}"
    config = (Path(sys.prefix) / "pyvenv.cfg").read_text(encoding="utf-8")
    settings = {
        key.strip(): value.strip() for key, _, value in (line.partition("=") for line in config.splitlines())
    }
    assert settings.get("include-system-site-packages", "false").lower() == "false", (
        f"venv créé avec --system-site-packages : {HOW}"
    )
    assert not site.ENABLE_USER_SITE, f"les paquets de l'utilisateur (~/.local) sont visibles : {HOW}"


def test_no_import_path_lies_outside_the_venv_the_stdlib_and_the_repository() -> None:
    # A fresh interpreter with this run's environment: what PYTHONPATH, .pth files and site give it.
    result = subprocess.run(
        [sys.executable, "-c", "import json, sys; print(json.dumps(sys.path))"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    fresh = json.loads(result.stdout)
    assert _outside(fresh, REPO) == [], f"chemins d'import hors du venv : {_outside(fresh, REPO)} ; {HOW}"
    # And this process (its first entry is the directory it was started from; tests may add
    # temporary directories of their own).
    temporary = Path(tempfile.gettempdir()).resolve()
    here = [
        entry
        for entry in _outside(sys.path[1:], Path.cwd())
        if not Path(entry).resolve().is_relative_to(temporary)
    ]
    assert here == [], f"chemins d'import hors du venv : {here} ; {HOW}"


def test_every_imported_module_comes_from_the_venv_the_stdlib_or_the_repository() -> None:
    allowed = [Path(sys.prefix).resolve(), REPO, Path(tempfile.gettempdir()).resolve(), *_stdlib_dirs()]
    leaks = []
    for name, module in list(sys.modules.items()):
        where = getattr(module, "__file__", None)
        if not where:
            continue
        path = Path(where).resolve()
        inside = any(path.is_relative_to(root) for root in allowed)
        in_base_site = {"site-packages", "dist-packages"} & set(path.parts) and not path.is_relative_to(
            Path(sys.prefix).resolve()
        )
        if not inside or in_base_site:
            leaks.append(f"{name} ({where})")
    assert leaks == [], f"modules importés hors du venv : {leaks[:10]} ; {HOW}"


def test_the_environment_names_no_outside_import_path() -> None:
    assert not os.environ.get("PYTHONHOME"), f"PYTHONHOME est défini : {HOW}"
    leaks = _outside([entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry], REPO)
    assert leaks == [], f"PYTHONPATH hors du venv : {leaks} ; {HOW}"


def test_no_test_builds_a_venv_that_sees_the_machine() -> None:
    # Venvs made by tests go through tests/isolated_venv.py: no system site-packages, no pip index
    # or configuration of the machine, the project's venv as their only other source.
    leaks = []
    sources = [*(REPO / "tests").rglob("*.py"), *(REPO / "plugins").rglob("tests/*.py")]
    for path in sources:
        if path.name in {"isolated_venv.py", "test_isolation.py"}:
            continue
        text = path.read_text(encoding="utf-8")
        for needle in (
            r"system_site_packages=True",
            r"--system-site-packages",
            r"(?<!isolated_)venv\.create\(",
        ):
            if re.search(needle, text):
                leaks.append(f"{path.relative_to(REPO)}: {needle}")
    assert leaks == [], f"utilisez tests/isolated_venv.py : {leaks}"
