"""Every report writer flushes and checks: a full disk is exit 2 with « disque plein », never a
truncated report with exit 0 or 1 (issue 16 point 10). ``/dev/full`` fails every write with ENOSPC."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")

HEADER = "invoice_id;date;practitioner_id;patient_id;birth_date;codes;mt_status;ald"


def _files(tmp_path: Path) -> tuple[Path, Path]:
    day = tmp_path / "jour.csv"
    rows = [f"F{n};2024-03-04;10001;P-{n};1970-01-01;IMT;none;non" for n in range(200)]
    day.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    ledger = tmp_path / "registre.db"
    subprocess.run(
        [sys.executable, "-m", "billing_rules", "check", str(day), "--ledger", str(ledger), "--record"],
        capture_output=True,
        check=False,
        timeout=120,
    )
    return day, ledger


def _commands(day: Path, ledger: Path) -> dict[str, list[str]]:
    commands = {f"check-{fmt}": ["check", str(day), "--format", fmt] for fmt in ("text", "json", "csv")}
    commands.update(
        {
            "check-ledger-text": ["check", str(day), "--ledger", str(ledger)],
            "ledger-export-csv": ["ledger", "export", "--ledger", str(ledger)],
            "ledger-export-jsonl": ["ledger", "export", "--ledger", str(ledger), "--format", "jsonl"],
            "ledger-stats": ["ledger", "stats", "--ledger", str(ledger)],
            "rules-list": ["rules", "list"],
            "rules-list-json": ["rules", "list", "--format", "json"],
            "rules-show": ["rules", "show", "IMT-ONCE"],
            "forfait-json": ["forfait", "--ledger", str(ledger), "--year", "2024", "--format", "json"],
        }
    )
    try:
        import jinja2  # noqa: F401

        commands["check-html"] = ["check", str(day), "--format", "html"]
        commands["forfait-html"] = ["forfait", "--ledger", str(ledger), "--year", "2024", "--format", "html"]
    except ImportError:
        pass
    return commands


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_full_disk_is_exit_2_disque_plein(tmp_path: Path, encoding: str) -> None:
    day, ledger = _files(tmp_path)
    env = dict(os.environ, PYTHONIOENCODING=encoding)
    failures = []
    for name, arguments in _commands(day, ledger).items():
        with open("/dev/full", "w") as full:
            result = subprocess.run(
                [sys.executable, "-m", "billing_rules", *arguments],
                stdout=full,
                stderr=subprocess.PIPE,
                encoding=encoding,
                env=env,
                timeout=120,
                check=False,
            )
        if result.returncode != 2 or "disque plein" not in result.stderr or "Traceback" in result.stderr:
            failures.append((name, result.returncode, result.stderr[-300:]))
    assert not failures
