"""``explain --ledger`` with a mistyped path refuses, as forfait and simulate do; nothing created."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from billing_rules import cli

WEEK = Path(__file__).resolve().parents[1] / "examples" / "week-2026-01.csv"


def test_explain_refuses_a_missing_ledger(tmp_path: Path) -> None:
    missing = tmp_path / "newl.sqlite"
    args = ["explain", str(WEEK), "F-2026-0051", "--ledger", str(missing), "--no-plugins"]
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 2, result.output
    assert "registre introuvable" in result.stderr
    assert not missing.exists()


def test_explain_api_refuses_a_missing_ledger_path(tmp_path: Path) -> None:
    import pytest

    from billing_rules.api.validator import Validator
    from billing_rules.errors import BillingRulesError

    missing = tmp_path / "newl.sqlite"
    validator = Validator.build(entry_points=False)
    with pytest.raises(BillingRulesError, match="registre introuvable"):
        validator.explain([str(WEEK)], "F-2026-0051", ledger=str(missing))
    assert not missing.exists()
