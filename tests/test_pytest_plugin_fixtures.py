"""The ``billing_validator`` fixture of the shipped pytest plugin includes the plugin under test.

A plugin author's test that asks for ``billing_validator`` must see the plugin's own rules: the ones
named in the pytest configuration (``billing_rules_plugins``) or by the test's ``billing_rules``
marker. Nothing else installed in the environment is loaded unless the test asks for it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow  # each test runs pytest in a subprocess

REPO = Path(__file__).resolve().parents[1]
SPECIALIST_SRC = REPO / "plugins" / "billing-rules-specialist" / "src"

MCU_LATE = (
    '{"codes": "CS+MCU", "mt_status": "other", "date": "2024-03-07", "time": "09:01", '
    '"mt_referral_at": "2024-03-05T09:00"}'
)


def _ini(pytester: pytest.Pytester, *lines: str) -> None:
    pytester.makeini("[pytest]\n" + "\n".join(lines) + "\n")


def test_billing_validator_includes_the_plugins_of_the_configuration(pytester: pytest.Pytester) -> None:
    _ini(
        pytester,
        f"pythonpath = {SPECIALIST_SRC}",
        "billing_rules_plugins = specialist = billing_rules_specialist",
    )
    pytester.makepyfile(
        test_own=textwrap.dedent(
            f"""
            def test_own_rule_fires(billing_validator, check_invoices, assert_findings):
                report = check_invoices(billing_validator, [{MCU_LATE}])
                assert_findings(report, {{"F-1": ["SPE-MCU-48H"]}}, only={{"SPE-MCU-48H"}})

            def test_sources(billing_validator):
                assert {{info.source for info in billing_validator.rules}} == {{"builtin", "specialist"}}
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_the_marker_names_the_plugin_under_test(pytester: pytest.Pytester) -> None:
    _ini(pytester, f"pythonpath = {SPECIALIST_SRC}")
    pytester.makepyfile(
        test_marked=textwrap.dedent(
            f"""
            import pytest

            @pytest.mark.billing_rules(plugins=["specialist = billing_rules_specialist"])
            def test_with_the_plugin(billing_validator, check_invoices, assert_findings):
                report = check_invoices(billing_validator, [{MCU_LATE}])
                assert_findings(report, {{"F-1": ["SPE-MCU-48H"]}}, only={{"SPE-MCU-48H"}})

            def test_without_it(billing_validator):
                assert {{info.source for info in billing_validator.rules}} == {{"builtin"}}

            @pytest.mark.billing_rules(plugins="specialist = billing_rules_specialist")
            def test_one_plugin_given_alone(billing_validator):
                assert "specialist" in {{info.source for info in billing_validator.rules}}
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=3)


def test_a_plugin_named_by_both_the_configuration_and_the_marker_is_loaded_once(
    pytester: pytest.Pytester,
) -> None:
    _ini(
        pytester,
        f"pythonpath = {SPECIALIST_SRC}",
        "billing_rules_plugins = specialist = billing_rules_specialist",
    )
    pytester.makepyfile(
        test_twice=textwrap.dedent(
            """
            import pytest

            @pytest.mark.billing_rules(plugins=["specialist = billing_rules_specialist"])
            def test_once(billing_validator):
                assert "SPE-MCU-48H" in {info.code for info in billing_validator.rules}
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_marker_adds_rule_files_relative_to_the_test(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".rules",
        cab='rule CAB-G-MONDAY warning "G le lundi"\n  on G\n  when weekday() = 1\nend\n',
    )
    pytester.makepyfile(
        test_files=textwrap.dedent(
            """
            import pytest

            @pytest.mark.billing_rules(rule_files=["cab.rules"])
            def test_file_rule(billing_validator, make_event):
                findings = billing_validator.check_one(make_event(codes="G", date="2026-01-05"))
                assert [f.rule for f in findings] == ["CAB-G-MONDAY"]
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=1)


def test_a_misspelt_marker_argument_is_an_error_not_a_silent_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_typo=textwrap.dedent(
            """
            import pytest

            @pytest.mark.billing_rules(plugin=["specialist"])
            def test_typo(billing_validator):
                pass
            """
        )
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*billing_rules*plugin*"])
