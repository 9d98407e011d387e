"""A practice's configuration: rules on and off, severities, facts the export lacks, where it is found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules import cli
from billing_rules.api.validator import Validator
from billing_rules.config import ConfigError, find_config, load_config, parse_config

HEADER = "invoice_id;date;practitioner_id;patient_id;birth_date;codes;mt_status;ald;amount"
ROWS = [
    "F-1;2024-03-04;10001;P-1;1970-01-01;IMT;none;non;60",  # IMT-ALD
    "F-2;2024-03-04;10001;P-2;2021-01-01;G;other;non;26.50",  # OPP-MEG
    "F-3;2025-03-04;20002;P-3;1970-01-01;G;other;non;40",  # AMOUNT-ABOVE only in sector 1
]


@pytest.fixture
def practice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "jour.csv").write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    return tmp_path


def check(*args: str) -> tuple[int, dict, str]:
    result = CliRunner().invoke(
        cli.main, ["check", "jour.csv", "--no-plugins", "--format", "json", *args], catch_exceptions=False
    )
    return result.exit_code, json.loads(result.stdout) if result.stdout else {}, result.stderr


def found(report: dict) -> set[tuple[str, str, str]]:
    return {(f["invoice_id"], f["rule"], f["severity"]) for f in report["findings"]}


def test_without_config_nothing_is_announced(practice: Path) -> None:
    code, report, stderr = check()
    assert code == 1 and stderr == ""
    assert {
        ("F-1", "IMT-ALD", "error"),
        ("F-2", "OPP-MEG", "opportunity"),
        ("F-3", "AMOUNT-ABOVE", "warning"),
    } <= found(report)


def test_disable_severity_and_facts(practice: Path) -> None:
    (practice / "billing-rules.toml").write_text(
        """
        [rules]
        disable = ["OPP-*"]
        [rules.severity]
        IMT-ALD = "warning"
        [practitioners."20002"]
        sector = "2"
        """,
        encoding="utf-8",
    )
    code, report, stderr = check()
    assert f"configuration : {practice / 'billing-rules.toml'}" in stderr
    assert ("F-1", "IMT-ALD", "warning") in found(report)
    assert not any(rule.startswith("OPP-") for _, rule, _ in found(report))
    # Sector 2 (from the config: the export has no sector column) may bill above the tariff.
    assert not any(invoice == "F-3" for invoice, _, _ in found(report))
    assert code == 0  # nothing left at error level


def test_enable_is_a_whitelist_and_rule_files_are_relative(practice: Path) -> None:
    (practice / "cab.rules").write_text('rule CAB-G warning "G facturée"\n  on G\nend\n', encoding="utf-8")
    (practice / "pyproject.toml").write_text(
        '[project]\nname = "cabinet"\n[tool.billing-rules.rules]\n'
        'enable = ["CAB-*", "IMT-ALD"]\nfiles = ["cab.rules"]\n',
        encoding="utf-8",
    )
    sub = practice / "sub"
    sub.mkdir()
    assert find_config(sub) == practice / "pyproject.toml"
    code, report, stderr = check()
    assert "pyproject.toml" in stderr
    assert {rule for _, rule, _ in found(report)} == {"IMT-ALD", "CAB-G"}


def test_explicit_config_option(practice: Path, tmp_path: Path) -> None:
    other = tmp_path / "ailleurs.toml"
    other.write_text('[rules]\ndisable = ["IMT-ALD"]\n', encoding="utf-8")
    code, report, stderr = check("--config", str(other))
    assert str(other) in stderr
    assert "IMT-ALD" not in {rule for _, rule, _ in found(report)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[rulez]\ndisable = ["X"]\n', "clé inconnue « rulez »"),
        ('[rules]\ndisable = "IMT-ALD"\n', "doit être une liste"),
        ('[rules.severity]\nIMT-ALD = "grave"\n', "gravité inconnue « grave »"),
        ('[practitioner]\nsector = "3"\n', "secteur inconnu « 3 »"),
        ("[rules\n", "TOML invalide"),
    ],
)
def test_invalid_config_is_an_error_naming_the_file(practice: Path, text: str, message: str) -> None:
    path = practice / "billing-rules.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(path)
    code, report, stderr = check()
    assert code == cli.EXIT_ERROR and report == {}
    assert str(path) in stderr or "billing-rules.toml" in stderr


def test_a_code_matching_no_rule_is_an_error(practice: Path) -> None:
    (practice / "billing-rules.toml").write_text('[rules]\ndisable = ["IMT-ONE"]\n', encoding="utf-8")
    code, _, stderr = check()
    assert code == cli.EXIT_ERROR and "IMT-ONE" in stderr


def test_severity_override_applies_to_the_rule_itself() -> None:
    # On the rule, not on its findings: the engine then treats it as the practice says.
    config = parse_config({"rules": {"severity": {"IMT-ALD": "warning"}}})
    validator = Validator.build(entry_points=False, config=config)
    assert validator.ruleset.rule("IMT-ALD").severity.value == "warning"


def test_plugins_table_selects_installed_plugins(practice: Path) -> None:
    (practice / "billing-rules.toml").write_text('[plugins]\nenable = ["absent"]\n', encoding="utf-8")
    result = CliRunner().invoke(cli.main, ["rules", "list"], catch_exceptions=False)
    assert result.exit_code == cli.EXIT_ERROR and "absent" in result.stderr
