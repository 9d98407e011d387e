"""Examples written beside the rules: the built-in catalogue's, ``rules test`` and the pytest plugin."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from billing_rules import cli
from billing_rules.testing import (
    assert_findings,
    build_validator,
    check,
    examples_of,
    make_event,
    run_example,
)

pytest_plugins = ["pytester"]

_VALIDATOR = build_validator()
BUILTIN_EXAMPLES = examples_of(_VALIDATOR)

WRONG_RULES = """
rule CAB-WRONG warning "G le lundi"
  on G
  when weekday() = 1
  example fires { codes = "G", date = 2024-03-05 }
  example passes { codes = "G", date = 2024-03-05 }
end
"""


def test_builtin_catalogue_has_examples() -> None:
    assert len(BUILTIN_EXAMPLES) >= 50
    assert {example.source for example in BUILTIN_EXAMPLES} == {"builtin"}
    assert any(example.history for example in BUILTIN_EXAMPLES)


@pytest.mark.parametrize("example", BUILTIN_EXAMPLES, ids=lambda example: example.label)
def test_builtin_example(example) -> None:
    result = run_example(_VALIDATOR, example)
    assert result.ok, result.message


def test_a_wrong_example_fails_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "cab.rules"
    path.write_text(WRONG_RULES, encoding="utf-8")
    validator = build_validator([path])
    results = [run_example(validator, example) for example in examples_of(validator, paths=[path])]
    assert [result.ok for result in results] == [False, True]
    assert "CAB-WRONG ne se déclenche pas" in results[0].message


def test_rules_test_command(tmp_path: Path) -> None:
    runner = CliRunner()
    builtin = runner.invoke(cli.main, ["rules", "test", "--no-plugins"])
    assert builtin.exit_code == 0, builtin.output
    assert (
        f"{len(BUILTIN_EXAMPLES)} exemples : {len(BUILTIN_EXAMPLES)} réussi(s), 0 en échec" in builtin.stdout
    )
    path = tmp_path / "cab.rules"
    path.write_text(WRONG_RULES, encoding="utf-8")
    wrong = runner.invoke(cli.main, ["rules", "test", "--no-plugins", str(path)])
    assert wrong.exit_code == cli.EXIT_FINDINGS
    assert "ÉCHEC  CAB-WRONG fires" in wrong.stdout and "2 exemples : 1 réussi(s), 1 en échec" in wrong.stdout
    custom = runner.invoke(cli.main, ["rules", "test", "--no-plugins", "examples/custom.rules"])
    assert custom.exit_code == 0 and "CABINET-TCG-DAY" in custom.stdout


def test_terse_helpers() -> None:
    event = make_event(codes="G+MEG", birth_date="2022-05-01")
    assert event.age == 3 and event.codes == ("G", "MEG")
    report = check(_VALIDATOR, [{"codes": "IMT", "mt_status": "none"}, {"codes": "G"}])
    assert_findings(report, {"F-1": ["IMT-ALD"]})
    assert_findings(report, ["IMT-ALD"], only={"IMT-ALD"})
    with pytest.raises(AssertionError, match="attendues"):
        assert_findings(report, {"F-2": ["IMT-ALD"]})


def test_pytest_plugin_collects_examples_and_offers_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makefile(".rules", cab=WRONG_RULES)
    pytester.makeini("[pytest]\nbilling_rules_examples = true\n")
    pytester.makepyfile(
        test_fixtures=textwrap.dedent(
            """
            def test_fixtures(billing_validator, make_event, check_invoices, assert_findings):
                report = check_invoices(billing_validator, [{"codes": "IMT", "mt_status": "none"}])
                assert_findings(report, ["IMT-ALD"])
                assert make_event(codes="VL").codes == ("VL",)
            """
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*cab.rules::CAB-WRONG:fires:4 FAILED*", "*CAB-WRONG ne se déclenche pas*"])


def test_rule_files_are_not_collected_without_the_opt_in(pytester: pytest.Pytester) -> None:
    pytester.makefile(".rules", cab=WRONG_RULES)
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
