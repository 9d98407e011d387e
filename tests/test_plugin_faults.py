"""A plugin's code never decides the exit code (issue 16 point 2) and Ctrl-C (point 4).

``SystemExit``, a ``KeyboardInterrupt`` the plugin raised itself, any other ``BaseException``, and
results of the wrong shape become one INTERNAL-ERROR finding for that invoice; the check goes on.
A real Ctrl-C (SIGINT) stops the command with exit 130 and says that nothing was recorded.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from test_plugins import billing_file, run, site  # noqa: F401 - fixtures

from billing_rules import cli

HOSTILE_PLUGIN = """
from decimal import Decimal
from billing_rules import hookimpl, Hit, Severity

BILLING_RULES_HOOK_API = 1


class Custom(BaseException):
    pass


class Hostile:
    severity = Severity.ERROR
    source = "hostile"
    triggers = frozenset({"G"})
    summary = "Une règle qui fait tout ce qu'il ne faut pas"

    def __init__(self, code, behaviour):
        self.code = code
        self.behaviour = behaviour

    def check(self, event, history):
        return self.behaviour(event)


def exit_zero(event):
    raise SystemExit(0)


def interrupt(event):
    raise KeyboardInterrupt


def custom(event):
    raise Custom("P-1")


def wrong_type(event):
    return [42]


def bad_amount(event):
    return [Hit(message="montant", amount="beaucoup")]


def bad_message(event):
    return [Hit(message=None)]


def not_iterable(event):
    return 42


@hookimpl
def register_rules(register):
    for number, behaviour in enumerate(
        [exit_zero, interrupt, custom, wrong_type, bad_amount, bad_message, not_iterable]
    ):
        register(Hostile(f"HOSTILE-{number}-{behaviour.__name__.upper()}", behaviour))


@hookimpl
def adjust_findings(findings, event):
    if event.invoice_id == "F-3":
        raise SystemExit(3)
    if event.invoice_id == "F-2":
        return [42]
    return None
"""

BEHAVIOURS = 7


def test_plugin_base_exceptions_and_bad_results_are_internal_errors(
    site: Callable[..., str],  # noqa: F811
    billing_file: Path,  # noqa: F811
) -> None:
    site("hostile", HOSTILE_PLUGIN)
    result = run("check", str(billing_file), "--format", "json", "--fail-on", "never")
    # --fail-on never is 0 whatever was found; the plugin's SystemExit(0) did not end the check early.
    assert result.exit_code == cli.EXIT_OK
    report = json.loads(result.stdout)
    crashes = [f for f in report["findings"] if f["rule"] == "INTERNAL-ERROR"]
    by_invoice: dict[str, list[str]] = {}
    for finding in crashes:
        by_invoice.setdefault(finding["invoice_id"], []).append(finding["message"])
    # F-1 and F-3 are G invoices: every hostile rule gives one INTERNAL-ERROR on each.
    rule_crashes = {key: [m for m in messages if "HOSTILE-" in m] for key, messages in by_invoice.items()}
    assert len(rule_crashes["F-1"]) == BEHAVIOURS
    assert len(rule_crashes["F-3"]) == BEHAVIOURS
    # adjust_findings: SystemExit on F-3, a wrong result on F-2.
    assert any("adjust_findings" in m for m in by_invoice["F-3"])
    assert any("adjust_findings" in m for m in by_invoice["F-2"])
    assert all("P-1" not in m for m in by_invoice["F-1"])
    # The built-in rules still ran: IMT-ALD on F-2.
    assert ("F-2", "IMT-ALD") in {(f["invoice_id"], f["rule"]) for f in report["findings"]}
    # Without --fail-on never, the incomplete check is exit 1, never the plugin's 0.
    result = run("check", str(billing_file), "--format", "json")
    assert result.exit_code == cli.EXIT_FINDINGS


SIGINT_PLUGIN = """
import os, signal, time
from billing_rules import hookimpl, Severity

BILLING_RULES_HOOK_API = 1


class CtrlC:
    code = "CTRL-C"
    severity = Severity.ERROR
    source = "ctrlc"
    triggers = None
    summary = "Reçoit un vrai Ctrl-C pendant le contrôle"

    def check(self, event, history):
        if event.invoice_id == "F-3":
            os.kill(os.getpid(), signal.SIGINT)   # the user presses Ctrl-C now
            time.sleep(5)
        return ()


@hookimpl
def register_rules(register):
    register(CtrlC())
"""


def _install(root: Path, name: str, source: str) -> dict[str, str]:
    module = f"billing_rules_test_{name}"
    (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    dist = root / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(f"[billing_rules]\n{name} = {module}\n", encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    env.pop("BILLING_RULES_LOAD_PLUGINS", None)
    return env


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_real_ctrl_c_exits_130_and_records_nothing(tmp_path: Path, billing_file: Path) -> None:  # noqa: F811
    root = tmp_path / "site"
    root.mkdir()
    env = _install(root, "ctrlc", SIGINT_PLUGIN)
    ledger = tmp_path / "registre.db"
    other = tmp_path / "autre.csv"
    other.write_text(
        "invoice_id;date;practitioner_id;patient_id;birth_date;codes\nA-1;2024-03-01;10001;P-9;1970-01-01;G\n",
        encoding="utf-8",
    )
    # Two files: the first one is not recorded alone (--record is one transaction for the input).
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "billing_rules",
            "check",
            str(other),
            str(billing_file),
            "--ledger",
            str(ledger),
            "--record",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 130, result.stderr
    assert "interrompu" in result.stderr and "rien n'a été enregistré" in result.stderr
    assert "Traceback" not in result.stderr and "Aborted" not in result.stderr
    assert result.stdout == ""
    if ledger.exists():
        with sqlite3.connect(ledger) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "invoices" in tables:
                assert db.execute("SELECT count(*) FROM invoices").fetchone()[0] == 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_during_the_recording_leaves_the_ledger_as_before(
    tmp_path: Path,
    billing_file: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A SIGINT while the ledger writes: the transaction is rolled back, the message is true."""
    from billing_rules.ledger import sqlite as sqlite_ledger

    ledger = tmp_path / "registre.db"
    original = sqlite_ledger.SqliteLedger.record

    def interrupted(self, events):  # noqa: ANN001, ANN202
        def stream():  # noqa: ANN202
            for number, event in enumerate(events):
                if number == 1:
                    signal.raise_signal(signal.SIGINT)
                yield event

        return original(self, stream())

    monkeypatch.setattr(sqlite_ledger.SqliteLedger, "record", interrupted)
    result = run_catching("check", str(billing_file), "--ledger", str(ledger), "--record")
    assert result.exit_code == 130
    assert "rien n'a été enregistré" in result.output
    with sqlite3.connect(ledger) as db:
        assert db.execute("SELECT count(*) FROM invoices").fetchone()[0] == 0


def run_catching(*args: str):  # noqa: ANN201
    from click.testing import CliRunner

    return CliRunner().invoke(cli.main, list(args))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_right_after_the_commit_says_it_was_recorded(
    tmp_path: Path,
    billing_file: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by ``kill_record.py --signal int``: a SIGINT just after COMMIT said « rien n'a été
    enregistré » while the invoices were in the ledger."""
    import sqlite3 as sqlite_module

    from billing_rules.ledger import sqlite as sqlite_ledger

    ledger = tmp_path / "registre.db"
    original = sqlite_ledger.SqliteLedger.record

    def then_interrupted(self, events):  # noqa: ANN001, ANN202
        stored = original(self, events)
        signal.raise_signal(signal.SIGINT)  # the user presses Ctrl-C as the commit returns
        return stored

    monkeypatch.setattr(sqlite_ledger.SqliteLedger, "record", then_interrupted)
    result = run_catching("check", str(billing_file), "--ledger", str(ledger), "--record")
    assert result.exit_code == 130
    assert "rien n'a été enregistré" not in result.output
    assert "déjà enregistré" in result.output
    with sqlite_module.connect(ledger) as db:
        assert db.execute("SELECT count(*) FROM invoices").fetchone()[0] == 3


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_while_the_arguments_are_parsed_is_130(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by ``kill_record.py --signal int``: a Ctrl-C before the command ran gave click's exit 1."""
    import click

    original = click.Group.parse_args

    def interrupted(self, ctx, args):  # noqa: ANN001, ANN202
        signal.raise_signal(signal.SIGINT)
        return original(self, ctx, args)

    monkeypatch.setattr(click.Group, "parse_args", interrupted)
    result = run_catching("rules", "list")
    assert result.exit_code == 130
    assert "rien n'a été enregistré" in result.output


def test_the_relational_engine_contains_a_plugin_as_the_row_engine_does(
    site: Callable[..., str],  # noqa: F811
    billing_file: Path,  # noqa: F811
) -> None:
    """``--engine duckdb`` (also what ``auto`` picks for a large input): the same INTERNAL-ERROR
    findings as the row engine, never the plugin's ``SystemExit`` as « erreur interne », exit 2."""
    pytest.importorskip("duckdb")
    pytest.importorskip("sqlglot")
    site("hostile", HOSTILE_PLUGIN)
    row = run("check", str(billing_file), "--format", "json", "--engine", "row")
    relational = run("check", str(billing_file), "--format", "json", "--engine", "duckdb")
    assert relational.exit_code == row.exit_code == cli.EXIT_FINDINGS, relational.output
    expected, found = json.loads(row.stdout), json.loads(relational.stdout)
    assert found["summary"]["engine"] == "duckdb"
    assert found["findings"] == expected["findings"]
    messages = [f["message"] for f in found["findings"] if f["rule"] == "INTERNAL-ERROR"]
    assert sum("HOSTILE-" in message for message in messages) == 2 * BEHAVIOURS
    assert all(isinstance(f["message"], str) for f in found["findings"])
