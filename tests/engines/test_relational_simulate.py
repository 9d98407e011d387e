"""``simulate`` on the relational engine: the row engine's simulation, figure for figure.

The example practice's ledger (2023-2025 history, then a week of 2026) on SQLite and, when
``BILLING_RULES_TEST_POSTGRES`` is set, PostgreSQL; periods whose texts change (tariffs of 2025,
forfait of 2026), a period where codes do not exist on the ``as_of`` day, one practitioner, and a
generated ledger with many violations.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

from billing_rules.api import batch_simulation as period  # noqa: E402
from billing_rules.api.simulation import simulate  # noqa: E402
from billing_rules.api.validator import Validator  # noqa: E402
from billing_rules.cli import main  # noqa: E402
from billing_rules.ledger import open_ledger  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
sys.path.insert(0, str(REPO / "benchmarks"))

import generate  # noqa: E402

CASES = [
    (dt.date(2024, 1, 1), dt.date(2024, 12, 31), dt.date(2025, 1, 1), None),
    (dt.date(2025, 1, 1), dt.date(2025, 12, 31), dt.date(2026, 1, 1), None),
    (dt.date(2026, 1, 5), dt.date(2026, 1, 11), dt.date(2025, 6, 1), None),
    (dt.date(2025, 4, 1), dt.date(2025, 9, 30), dt.date(2026, 1, 1), "10101234567"),
    (dt.date(2025, 1, 1), dt.date(2025, 12, 31), dt.date(2022, 10, 15), None),  # in SNP's gap
]


def _invoke(args: list[str], exit_code: int = 0) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == exit_code, (args, result.output)
    return result.stdout


@pytest.fixture
def example_ledger(ledger_target: str) -> str:
    _invoke(["ledger", "import", str(EXAMPLES / "history-2023-2025.csv"), "--ledger", ledger_target])
    _invoke(["check", str(EXAMPLES / "week-2026-01.csv"), "--ledger", ledger_target, "--record"], 1)
    return ledger_target


def _both(target: str, start: dt.date, end: dt.date, as_of: dt.date, who: str | None) -> tuple[Any, Any]:
    now = Validator.build(entry_points=False)
    then = Validator.build(entry_points=False, texts_as_of=as_of)
    options: dict[str, Any] = {
        "start": start,
        "end": end,
        "as_of": as_of,
        "now": now,
        "then": then,
        "practitioner_id": who,
    }
    ledger = open_ledger(target, create=False)
    try:
        row = simulate(list(ledger.events(end=end)), **options)
        relational = period.simulate(ledger, **options)
    finally:
        ledger.close()
    assert (row.engine, relational.engine) == ("row", "duckdb")
    return row, attrs.evolve(relational, engine="row")


@pytest.mark.parametrize(("start", "end", "as_of", "who"), CASES)
def test_example_ledger_identical(
    example_ledger: str, start: dt.date, end: dt.date, as_of: dt.date, who: str | None
) -> None:
    row, relational = _both(example_ledger, start, end, as_of, who)
    assert relational == row
    assert row.total.before.findings or row.total.after.findings


def test_generated_ledger_identical(tmp_path: Path) -> None:
    """Frequency windows over the history (VL of the quarter, SNP of the week), many findings."""
    source = tmp_path / "gen.csv"
    generate.generate(
        str(source), rows=6000, practitioners=3, seed=41, start=dt.date(2024, 10, 7), violations=30, ik=True
    )
    target = str(tmp_path / "ledger.sqlite")
    _invoke(["ledger", "import", str(source), "--ledger", target])
    row, relational = _both(target, dt.date(2025, 1, 1), dt.date(2025, 12, 31), dt.date(2026, 1, 1), None)
    assert relational == row
    rules = {line.key for line in row.by_rule}
    assert {"VL-QUARTER", "SNP-WEEK"} <= rules, rules


def test_cli_engines_print_the_same_report(tmp_path: Path) -> None:
    target = str(tmp_path / "cabinet.sqlite")
    _invoke(["ledger", "import", str(EXAMPLES / "history-2023-2025.csv"), "--ledger", target])
    args = ["simulate", "--ledger", target, "--from", "2024-01-01", "--to", "2024-12-31"]
    args += ["--as-of", "2025-01-01", "--format", "json", "--no-plugins"]
    row = json.loads(_invoke([*args, "--engine", "row"]))
    relational = json.loads(_invoke([*args, "--engine", "duckdb"]))
    automatic = json.loads(_invoke(args))  # a small ledger: the row engine
    assert (row.pop("engine"), relational.pop("engine"), automatic.pop("engine")) == ("row", "duckdb", "row")
    assert relational == row == automatic
