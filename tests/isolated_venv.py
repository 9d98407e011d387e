"""Throw-away venvs that see the project's own venv and nothing else of the machine.

Tests that install something for real (the example plugin, the wheel) need a second environment.
It must not borrow from the machine: no system site-packages, no user site, no ``PYTHONPATH``, no
pip configuration file or ``PIP_*`` variable (a machine's ``find-links`` would silently feed pip).
What the child needs beyond the standard library (billing-rules' dependencies, pytest, the
``hatchling`` build backend of the ``test`` extra) comes from the venv running the tests, through
a ``.pth`` file in the child's site-packages naming that venv's site directories only. pip then
runs with ``--no-index``: if something is missing from the project's venv, the test fails here,
the same way on every machine, instead of passing where the machine happens to have it.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import venv
from pathlib import Path


def project_site_dirs() -> list[str]:
    """The site-packages directories of the venv running the tests (never the base interpreter's)."""
    if sys.prefix == sys.base_prefix:
        raise RuntimeError(
            "la suite doit tourner dans un venv (python3 -m venv .venv && .venv/bin/pip install -e '.[test]')"
        )
    dirs = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    return sorted(path for path in dirs if Path(path).is_dir())


def child_site_packages(env_dir: Path) -> Path:
    """The purelib directory of a venv created at ``env_dir`` by this interpreter."""
    scheme = "venv" if "venv" in sysconfig.get_scheme_names() else sysconfig.get_default_scheme()
    base = {"base": str(env_dir), "platbase": str(env_dir), "installed_base": str(env_dir)}
    return Path(sysconfig.get_path("purelib", scheme=scheme, vars=base))


def create(env_dir: Path, *, with_pip: bool, project: bool) -> Path:
    """A venv without system site-packages that also sees the project's venv; its python.

    ``project=True`` adds the project's site directories with :func:`site.addsitedir`, so their
    ``.pth`` files run too: the editable install of billing-rules resolves to the repository.
    ``project=False`` adds them as plain path entries: the dependencies are importable, but
    billing-rules itself only if installed into the child (a wheel under test).
    """
    venv.create(env_dir, system_site_packages=False, with_pip=with_pip, symlinks=os.name != "nt")
    site_packages = child_site_packages(env_dir)
    if project:
        lines = [f"import site; site.addsitedir({path!r})" for path in project_site_dirs()]
    else:
        lines = list(project_site_dirs())
    (site_packages / "_billing_rules_tests_project_venv.pth").write_text(
        "\n".join(lines) + "\n", encoding="utf-8"
    )
    return env_dir / "bin" / "python"


def clean_environ(**extra: str) -> dict[str, str]:
    """``os.environ`` without what would let a child reach outside the venvs, plus ``extra``.

    pip reads no configuration file and no index: everything it installs is local and named.
    """
    removed = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "BILLING_RULES_LOAD_PLUGINS"}
    variables = {
        key: value for key, value in os.environ.items() if key not in removed and not key.startswith("PIP_")
    }
    variables.update(
        PYTHONNOUSERSITE="1",
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    variables.update(extra)
    return variables
