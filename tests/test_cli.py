"""The ``billing-rules`` command line: exit codes (SPEC §4), stdout/stderr split, ``rules`` commands.

Two kinds of tests:

- most run against a fake Validator (the ``fake`` fixture), so the CLI's own behaviour is pinned
  whatever the engine does;
- ``test_e2e_*`` run the real Validator on real files.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import attrs
import click
import pytest
from click.testing import CliRunner, Result

import billing_rules.api.validator as validator_module
from billing_rules import cli
from billing_rules.api.validator import RuleInfo
from billing_rules.errors import PluginLoadError, ReadError, RuleClashError, RuleSyntaxError
from billing_rules.model import Finding, InputError, Report, Severity
from billing_rules.reporters import BUILTIN_REPORTERS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (requires-python); tomli is a dependency there
    import tomli as tomllib

ANSI_ESCAPE = "\x1b["
REPO = Path(__file__).resolve().parents[1]


def run(*args: str, input: str | bytes | None = None, charset: str = "utf-8") -> Result:
    return CliRunner(charset=charset).invoke(cli.main, list(args), input=input, catch_exceptions=False)


def make_finding(severity: Severity, **overrides: object) -> Finding:
    values: dict[str, object] = {
        "rule": {"error": "IMT-ONCE", "warning": "CODE-UNKNOWN", "opportunity": "OPP-MEG"}[severity.value],
        "severity": severity,
        "message": "message de test « é »",
        "invoice_id": "F-1",
        "practitioner_id": "10001234567",
        "patient_id": "P-1",
        "date": dt.date(2024, 3, 4),
        "line": 2,
        "amount": None if severity is Severity.WARNING else Decimal("60"),
    }
    values.update(overrides)
    return Finding(**values)  # type: ignore[arg-type]


def make_report(*severities: Severity, input_errors: int = 0, files: Sequence[str] = ("jour.csv",)) -> Report:
    return Report(
        events=3,
        findings=tuple(make_finding(severity, seq=index) for index, severity in enumerate(severities)),
        input_errors=tuple(
            InputError(line=3 + index, field="date", message="date invalide « 2024-13-01 »")
            for index in range(input_errors)
        ),
        files=tuple(files),
    )


# -- the fake Validator -------------------------------------------------------------------------

RULE_INFOS = (
    RuleInfo(
        code="IMT-ONCE",
        severity=Severity.ERROR,
        source="builtin",
        summary="Une seule IMT par patient.\nDétail sur la deuxième ligne.",
        doc="NGAP art. 18.2 : « n'est facturable qu'une seule fois par patient ».",
        citation="NGAP art. 18.2",
        action="facturer {recoded} au lieu de {codes}",
        valid_from="2023-05-15",
        origin="builtin/ngap/imt.rules:3",
        text='rule IMT-ONCE error "IMT déjà facturée"\n  when code IMT\n',
    ),
    RuleInfo(
        code="OPP-MEG",
        severity=Severity.OPPORTUNITY,
        source="builtin",
        summary="MEG oubliée pour un enfant de moins de 6 ans.",
    ),
    RuleInfo(
        code="EX-TELE-WEEK",
        severity=Severity.WARNING,
        source="example",
        summary="Téléconsultations fréquentes.",
        valid_from="2024-01-01",
        valid_until="2025-12-31",
    ),
)

BAD_RULE_MARK = "### syntaxe invalide"


@attrs.define
class FakeBackend:
    """What the fake Validator returns or raises, and what it was asked."""

    report: Report = attrs.field(factory=make_report)
    build_error: Exception | None = None
    check_error: Exception | None = None
    builds: list[dict[str, object]] = attrs.field(factory=list)
    checks: list[dict[str, object]] = attrs.field(factory=list)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeBackend:
    """Replace the Validator the CLI imports lazily with a scripted fake."""
    backend = FakeBackend()

    class FakeValidator:
        def __init__(self, rule_files: Sequence[str]) -> None:
            self.rule_files = list(rule_files)

        @classmethod
        def build(cls, *, rule_files: Sequence[str] = (), entry_points: bool = True) -> FakeValidator:
            backend.builds.append({"rule_files": list(rule_files), "entry_points": entry_points})
            if backend.build_error is not None:
                raise backend.build_error
            for path in rule_files:
                lines = Path(path).read_text(encoding="utf-8").splitlines()
                for number, text in enumerate(lines, start=1):
                    if BAD_RULE_MARK in text:
                        raise RuleSyntaxError(
                            "mot inattendu", path=str(path), line=number, column=5, source_line=text
                        )
            return cls(rule_files)

        @property
        def rules(self) -> tuple[RuleInfo, ...]:
            extra = tuple(
                RuleInfo(code=f"CUSTOM-{index}", severity=Severity.WARNING, source="rules", summary="perso")
                for index, _ in enumerate(self.rule_files)
            )
            return tuple(sorted(RULE_INFOS + extra, key=lambda info: info.code))

        def check_paths(self, paths: Sequence[str], *, input_format: str | None = None) -> Report:
            backend.checks.append({"paths": list(paths), "input_format": input_format})
            if backend.check_error is not None:
                raise backend.check_error
            return backend.report

    monkeypatch.setattr(validator_module, "Validator", FakeValidator)
    return backend


@pytest.fixture
def billing_file(tmp_path: Path) -> Path:
    path = tmp_path / "jour.csv"
    path.write_text("invoice_id;date\nF-1;2024-03-04\n", encoding="utf-8")
    return path


# -- exit codes ---------------------------------------------------------------------------------


def test_exit_code_constants_match_spec() -> None:
    assert (cli.EXIT_OK, cli.EXIT_FINDINGS, cli.EXIT_ERROR) == (0, 1, 2)


def test_clean_report_exits_0(fake: FakeBackend, billing_file: Path) -> None:
    fake.report = make_report()
    result = run("check", str(billing_file))
    assert result.exit_code == cli.EXIT_OK
    assert "Aucune anomalie" in result.stdout
    assert result.stderr == ""


FAIL_ON_CASES = [
    # (severity found, --fail-on, expected exit code)
    (Severity.ERROR, "error", 1),
    (Severity.WARNING, "error", 0),
    (Severity.OPPORTUNITY, "error", 0),
    (Severity.ERROR, "warning", 1),
    (Severity.WARNING, "warning", 1),
    (Severity.OPPORTUNITY, "warning", 0),
    (Severity.ERROR, "opportunity", 1),
    (Severity.WARNING, "opportunity", 1),
    (Severity.OPPORTUNITY, "opportunity", 1),
    (Severity.ERROR, "never", 0),
    (Severity.WARNING, "never", 0),
    (Severity.OPPORTUNITY, "never", 0),
]


@pytest.mark.parametrize(("severity", "fail_on", "expected"), FAIL_ON_CASES)
def test_fail_on(
    fake: FakeBackend, billing_file: Path, severity: Severity, fail_on: str, expected: int
) -> None:
    fake.report = make_report(severity)
    result = run("check", str(billing_file), "--fail-on", fail_on)
    assert result.exit_code == expected
    assert fake.report.findings[0].rule in result.stdout


def test_default_fail_on_is_error(fake: FakeBackend, billing_file: Path) -> None:
    fake.report = make_report(Severity.WARNING, Severity.OPPORTUNITY)
    assert run("check", str(billing_file)).exit_code == cli.EXIT_OK
    fake.report = make_report(Severity.OPPORTUNITY, Severity.ERROR)
    assert run("check", str(billing_file)).exit_code == cli.EXIT_FINDINGS


@pytest.mark.parametrize("fail_on", ["error", "warning", "opportunity"])
def test_input_errors_exit_1(fake: FakeBackend, billing_file: Path, fail_on: str) -> None:
    fake.report = make_report(input_errors=1)
    result = run("check", str(billing_file), "--fail-on", fail_on)
    assert result.exit_code == cli.EXIT_FINDINGS
    assert "Lignes illisibles" in result.stdout


def test_fail_on_never_exits_0_even_with_input_errors(fake: FakeBackend, billing_file: Path) -> None:
    fake.report = make_report(Severity.ERROR, input_errors=2)
    assert run("check", str(billing_file), "--fail-on", "never").exit_code == cli.EXIT_OK


@pytest.mark.parametrize(("severity", "fail_on", "expected"), FAIL_ON_CASES)
def test_exit_code_function(severity: Severity, fail_on: str, expected: int) -> None:
    assert cli.exit_code(make_report(severity), fail_on) == expected


def test_exit_code_function_input_errors() -> None:
    report = make_report(input_errors=1)
    assert [cli.exit_code(report, value) for value in cli.FAIL_ON_CHOICES] == [1, 1, 1, 0]


# -- errors: exit 2, French message on stderr, no traceback -------------------------------------


def assert_clean_failure(result: Result, *fragments: str) -> None:
    assert result.exit_code == cli.EXIT_ERROR
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def test_missing_file_exits_2_before_building(fake: FakeBackend, tmp_path: Path) -> None:
    missing = tmp_path / "absent.csv"
    result = run("check", str(missing))
    assert_clean_failure(result, "fichier introuvable", "absent.csv")
    assert fake.builds == []


def test_directory_exits_2(fake: FakeBackend, tmp_path: Path) -> None:
    assert_clean_failure(run("check", str(tmp_path)), "dossier")


def test_unreadable_file_reported_by_reader_exits_2(fake: FakeBackend, billing_file: Path) -> None:
    fake.check_error = ReadError("fichier illisible : aucune ligne d'en-tête")
    assert_clean_failure(run("check", str(billing_file)), "fichier illisible : aucune ligne d'en-tête")


def test_os_error_from_reader_exits_2_in_french(fake: FakeBackend, billing_file: Path) -> None:
    fake.check_error = PermissionError(13, "Permission denied", str(billing_file))
    assert_clean_failure(run("check", str(billing_file)), "impossible de lire", "accès refusé")


def test_invalid_rule_file_exits_2_with_location(
    fake: FakeBackend, billing_file: Path, tmp_path: Path
) -> None:
    rules = tmp_path / "perso.rules"
    rules.write_text(f"# règles locales\nrule {BAD_RULE_MARK}\n", encoding="utf-8")
    result = run("check", str(billing_file), "--rules", str(rules))
    assert_clean_failure(result, f"{rules}:2:5: mot inattendu", "    ^")
    assert fake.checks == []


def test_plugin_load_failure_exits_2(fake: FakeBackend, billing_file: Path) -> None:
    fake.build_error = PluginLoadError("billing-rules-cassé", "0.3", ImportError("No module named x"))
    assert_clean_failure(run("check", str(billing_file)), "billing-rules-cassé 0.3")


def test_rule_clash_exits_2(fake: FakeBackend, billing_file: Path) -> None:
    fake.build_error = RuleClashError("la règle IMT-ONCE est définie par builtin et par example")
    assert_clean_failure(run("check", str(billing_file)), "IMT-ONCE est définie")


def test_internal_error_exits_2_not_1(fake: FakeBackend, billing_file: Path) -> None:
    fake.check_error = ZeroDivisionError("division by zero")
    assert_clean_failure(run("check", str(billing_file)), "erreur interne", "--debug")


def test_debug_shows_traceback(fake: FakeBackend, billing_file: Path) -> None:
    fake.check_error = ReadError("fichier illisible")
    result = run("check", str(billing_file), "--debug")
    assert result.exit_code == cli.EXIT_ERROR
    assert "Traceback" in result.stderr
    assert "fichier illisible" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["check"],
        ["check", "x.csv", "--fail-on", "sometimes"],
        ["check", "x.csv", "--format", "xml"],
        ["check", "x.csv", "--input-format", "xlsx"],
        ["check", "x.csv", "--ledger", "h.db"],  # not yet: next issue
        ["nope"],
    ],
)
def test_usage_errors_exit_2(fake: FakeBackend, args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == cli.EXIT_ERROR
    assert result.stdout == ""
    assert fake.checks == []


# -- what check hands to the Validator, and what it prints ---------------------------------------


def test_check_passes_files_rules_and_input_format(fake: FakeBackend, tmp_path: Path) -> None:
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    rules_a, rules_b = tmp_path / "a.rules", tmp_path / "b.rules"
    for path in (first, second, rules_a, rules_b):
        path.write_text("x\n", encoding="utf-8")
    result = run(
        "check",
        str(first),
        str(second),
        "--rules",
        str(rules_a),
        "--rules",
        str(rules_b),
        "--input-format",
        "jsonl",
    )
    assert result.exit_code == cli.EXIT_OK
    assert fake.builds == [{"rule_files": [str(rules_a), str(rules_b)], "entry_points": True}]
    assert fake.checks == [{"paths": [str(first), str(second)], "input_format": "jsonl"}]


def test_stdin_dash_is_passed_through(fake: FakeBackend) -> None:
    result = run("check", "-", "--input-format", "csv", input="invoice_id\nF-1\n")
    assert result.exit_code == cli.EXIT_OK
    assert fake.checks == [{"paths": ["-"], "input_format": "csv"}]


def test_json_format_prints_only_the_report(fake: FakeBackend, billing_file: Path) -> None:
    fake.report = make_report(Severity.ERROR, Severity.OPPORTUNITY, input_errors=1)
    result = run("check", str(billing_file), "--format", "json")
    assert result.exit_code == cli.EXIT_FINDINGS
    data = json.loads(result.stdout)
    assert data["summary"]["errors"] == 1
    assert data["summary"]["amount_at_risk"] == 60.0
    assert data["input_errors"][0]["field"] == "date"
    assert result.stderr == ""


def test_json_is_utf8_even_on_a_non_utf8_stdout(fake: FakeBackend, billing_file: Path) -> None:
    # Windows: a redirected stdout is cp1252; the JSON must still be UTF-8 (SPEC §2).
    fake.report = make_report(Severity.ERROR)
    result = run("check", str(billing_file), "--format", "json", charset="cp1252")
    data = json.loads(result.stdout_bytes.decode("utf-8"))
    assert data["findings"][0]["message"] == "message de test « é »"


def test_text_report_has_no_ansi_when_not_a_terminal(fake: FakeBackend, billing_file: Path) -> None:
    fake.report = make_report(Severity.ERROR, Severity.WARNING, Severity.OPPORTUNITY)
    result = run("check", str(billing_file))
    assert "ERREUR" in result.stdout
    assert ANSI_ESCAPE not in result.stdout


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_use_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert cli.use_color(_Tty()) is True
    assert cli.use_color(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli.use_color(_Tty()) is False
    monkeypatch.setenv("NO_COLOR", "")  # no-color.org: only a non-empty value disables colour
    assert cli.use_color(_Tty()) is True


def test_use_color_on_classic_windows_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    for name in ("NO_COLOR", "FORCE_COLOR", "WT_SESSION", "TERM"):
        monkeypatch.delenv(name, raising=False)
    assert cli.use_color(_Tty()) is False
    monkeypatch.setenv("WT_SESSION", "1")
    assert cli.use_color(_Tty()) is True


def test_report_formats_match_builtin_reporters() -> None:
    assert set(cli.REPORT_FORMATS) == set(BUILTIN_REPORTERS)


def test_help_is_french() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "Contrôle la facturation" in result.stdout
    assert "Affiche cette aide et quitte." in result.stdout
    check_help = run("check", "--help").stdout
    assert "--fail-on" in check_help and "--ledger" in check_help and "--record" in check_help


@pytest.mark.slow
def test_help_does_not_import_the_engine() -> None:
    code = (
        "import sys\n"
        "from billing_rules.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = sorted(m for m in sys.modules if m == 'lark' or m.startswith(('lark.', "
        "'billing_rules.dsl', 'billing_rules.engines.row.engine', "
        "'billing_rules.api.validator', 'pluggy')))\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO, timeout=60
    )
    assert completed.stdout.splitlines()[-1] == "HEAVY=", completed.stdout


# -- rules list / show / check ------------------------------------------------------------------


def test_rules_list_table(fake: FakeBackend) -> None:
    result = run("rules", "list")
    assert result.exit_code == cli.EXIT_OK
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["CODE", "GRAVITÉ", "SOURCE", "RÉSUMÉ"]
    assert [line.split()[0] for line in lines[1:]] == ["EX-TELE-WEEK", "IMT-ONCE", "OPP-MEG"]
    imt = next(line for line in lines if line.startswith("IMT-ONCE"))
    assert imt.split()[1:3] == ["erreur", "builtin"]
    assert imt.endswith("Une seule IMT par patient.")  # first line of the summary only
    assert "alerte" in result.stdout and "opportunité" in result.stdout
    assert fake.builds == [{"rule_files": [], "entry_points": True}]


def test_rules_list_json(fake: FakeBackend) -> None:
    result = run("rules", "list", "--format", "json")
    assert result.exit_code == cli.EXIT_OK
    data = json.loads(result.stdout)
    assert [entry["code"] for entry in data] == ["EX-TELE-WEEK", "IMT-ONCE", "OPP-MEG"]
    assert data[1] == {
        "code": "IMT-ONCE",
        "severity": "error",
        "source": "builtin",
        "summary": "Une seule IMT par patient.",
        "valid_from": "2023-05-15",
        "valid_until": None,
        "citation": "NGAP art. 18.2",
        "action": "facturer {recoded} au lieu de {codes}",
        # Without alternatives (the fake gives none): its one action, with no condition nor coding.
        "actions": [{"condition": None, "coding": None, "text": "facturer {recoded} au lieu de {codes}"}],
        "suggestions": [],
    }
    assert data[2]["citation"] is None and data[2]["action"] is None  # OPP-MEG of the fake declares none


def test_rules_list_with_extra_rule_file(fake: FakeBackend, tmp_path: Path) -> None:
    extra = tmp_path / "perso.rules"
    extra.write_text("rule ok\n", encoding="utf-8")
    result = run("rules", "list", "--rules", str(extra))
    assert "CUSTOM-0" in result.stdout


def test_rules_list_plugin_failure_exits_2(fake: FakeBackend) -> None:
    fake.build_error = PluginLoadError("billing-rules-cassé", None, "boum")
    assert_clean_failure(run("rules", "list"), "« billing-rules-cassé »")


def test_rules_show(fake: FakeBackend) -> None:
    result = run("rules", "show", "IMT-ONCE")
    assert result.exit_code == cli.EXIT_OK
    out = result.stdout
    assert out.splitlines()[0] == "IMT-ONCE"
    assert "Gravité  : erreur" in out
    assert "Source   : builtin" in out
    assert "Validité : à partir du 15/05/2023" in out
    assert "Origine  : builtin/ngap/imt.rules:3" in out
    assert "Détail sur la deuxième ligne." in out
    assert "NGAP art. 18.2" in out
    assert 'rule IMT-ONCE error "IMT déjà facturée"' in out


def test_rules_show_is_case_insensitive_and_shows_periods(fake: FakeBackend) -> None:
    result = run("rules", "show", "ex-tele-week")
    assert result.exit_code == cli.EXIT_OK
    assert "Validité : du 01/01/2024 au 31/12/2025" in result.stdout
    assert "pas de texte DSL" in result.stdout


def test_rules_show_unknown_code_exits_2(fake: FakeBackend) -> None:
    result = run("rules", "show", "IMT-ONC")
    assert_clean_failure(result, "règle inconnue : « IMT-ONC »", "IMT-ONCE")


def test_rules_check_valid(fake: FakeBackend, tmp_path: Path) -> None:
    rules = tmp_path / "perso.rules"
    rules.write_text("rule ok\n", encoding="utf-8")
    result = run("rules", "check", str(rules))
    assert result.exit_code == cli.EXIT_OK
    assert result.stdout.strip() == f"règles valides : 1 règle dans « {rules} »"
    assert {"rule_files": [str(rules)], "entry_points": False} in fake.builds
    assert all(build["entry_points"] is False for build in fake.builds)


def test_rules_check_several_files(fake: FakeBackend, tmp_path: Path) -> None:
    paths = [tmp_path / f"r{index}.rules" for index in range(2)]
    for path in paths:
        path.write_text("rule ok\n", encoding="utf-8")
    result = run("rules", "check", *map(str, paths))
    assert result.exit_code == cli.EXIT_OK
    assert "règles valides : 2 règles dans 2 fichiers" in result.stdout


def test_rules_check_invalid_exits_2_with_caret(fake: FakeBackend, tmp_path: Path) -> None:
    rules = tmp_path / "perso.rules"
    rules.write_text(f"rule ok\nrule {BAD_RULE_MARK}\n", encoding="utf-8")
    result = run("rules", "check", str(rules))
    assert_clean_failure(result, f"{rules}:2:5: mot inattendu", f"rule {BAD_RULE_MARK}")
    lines = result.stderr.splitlines()
    assert lines[-1].strip() == "^"
    assert lines[-1].index("^") == lines[-2].index("rule") + 4


def test_rules_check_missing_file_exits_2(fake: FakeBackend, tmp_path: Path) -> None:
    assert_clean_failure(run("rules", "check", str(tmp_path / "absent.rules")), "fichier introuvable")


# -- end to end, against the real Validator ------------------------------------------------------

CSV_HEADER = "invoice_id;date;practitioner_id;patient_id;birth_date;ald;mt_status;place;codes;amount"


@pytest.fixture
def real(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real Validator, third-party plugins kept out (a failure to build fails the test)."""
    monkeypatch.setenv("BILLING_RULES_LOAD_PLUGINS", "")
    validator_module.Validator.build(entry_points=False)


def write_csv(path: Path, *rows: str) -> Path:
    path.write_text("\n".join([CSV_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


# A plain G consultation by the patient's own MT, at the 2025 tariff: nothing to say but maybe
# opportunities, which do not fail by default.
CLEAN_ROW = "F-1;2025-03-04;10001234567;P-1;1980-06-01;non;self;cabinet;G;30.00"
# IMT for a patient not in ALD: IMT-ALD, an error (SPEC §5).
IMT_NO_ALD_ROW = "F-2;2024-03-04;10001234567;P-2;1960-01-01;non;none;cabinet;IMT;60.00"
BAD_DATE_ROW = "F-3;2024-13-01;10001234567;P-3;1960-01-01;non;self;cabinet;G;26.50"


def test_e2e_clean_file_exits_0(real: None, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "jour.csv", CLEAN_ROW)
    result = run("check", str(path), "--format", "json")
    assert result.exit_code == cli.EXIT_OK, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["events"] == 1
    assert data["summary"]["errors"] == 0
    assert data["input_errors"] == []


def test_e2e_error_exits_1_and_fail_on_never_exits_0(real: None, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "jour.csv", CLEAN_ROW, IMT_NO_ALD_ROW)
    result = run("check", str(path), "--format", "json")
    assert result.exit_code == cli.EXIT_FINDINGS, result.output
    findings = json.loads(result.stdout)["findings"]
    imt = [finding for finding in findings if finding["rule"] == "IMT-ALD"]
    assert imt and imt[0]["invoice_id"] == "F-2" and imt[0]["line"] == 3
    assert "file" not in imt[0]
    assert run("check", str(path), "--fail-on", "never").exit_code == cli.EXIT_OK


def test_e2e_text_report(real: None, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "jour.csv", IMT_NO_ALD_ROW)
    result = run("check", str(path))
    assert result.exit_code == cli.EXIT_FINDINGS
    assert "IMT-ALD" in result.stdout and "ERREUR" in result.stdout
    assert "Facture F-2 du 04/03/2024" in result.stdout
    assert ANSI_ESCAPE not in result.stdout


def test_e2e_input_error_exits_1(real: None, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "jour.csv", CLEAN_ROW, BAD_DATE_ROW)
    result = run("check", str(path), "--format", "json")
    assert result.exit_code == cli.EXIT_FINDINGS, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["input_errors"] >= 1
    assert {"line": 3, "field": "date"}.items() <= data["input_errors"][0].items()
    assert run("check", str(path), "--fail-on", "never").exit_code == cli.EXIT_OK


def test_e2e_several_files_carry_file(real: None, tmp_path: Path) -> None:
    first = write_csv(tmp_path / "lundi.csv", IMT_NO_ALD_ROW)
    second = write_csv(tmp_path / "mardi.csv", BAD_DATE_ROW)
    result = run("check", str(first), str(second), "--format", "json")
    assert result.exit_code == cli.EXIT_FINDINGS, result.output
    data = json.loads(result.stdout)
    assert all("file" in entry for entry in data["findings"] + data["input_errors"])


def test_e2e_stdin(real: None, tmp_path: Path) -> None:
    result = run(
        "check", "-", "--input-format", "csv", "--format", "json", input=f"{CSV_HEADER}\n{IMT_NO_ALD_ROW}\n"
    )
    assert result.exit_code == cli.EXIT_FINDINGS, result.output
    assert any(finding["rule"] == "IMT-ALD" for finding in json.loads(result.stdout)["findings"])


def test_e2e_missing_file_exits_2(real: None, tmp_path: Path) -> None:
    assert_clean_failure(run("check", str(tmp_path / "absent.csv")), "absent.csv")


def test_e2e_invalid_rule_file_exits_2(real: None, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "jour.csv", CLEAN_ROW)
    rules = tmp_path / "cassé.rules"
    rules.write_text("ceci n'est pas une règle {{{ ]]\n", encoding="utf-8")
    assert_clean_failure(run("check", str(path), "--rules", str(rules)), rules.name)
    assert_clean_failure(run("rules", "check", str(rules)), rules.name)


def test_e2e_rules_list_and_show(real: None) -> None:
    listing = run("rules", "list", "--format", "json")
    assert listing.exit_code == cli.EXIT_OK, listing.output
    codes = {entry["code"]: entry for entry in json.loads(listing.stdout)}
    assert codes["IMT-ONCE"]["severity"] == "error"
    assert codes["IMT-ONCE"]["source"] == "builtin"
    shown = run("rules", "show", "IMT-ONCE")
    assert shown.exit_code == cli.EXIT_OK
    assert shown.stdout.startswith("IMT-ONCE")
    assert_clean_failure(run("rules", "show", "PAS-UNE-REGLE"), "règle inconnue")


EXAMPLE_RULE_FILES = sorted((REPO / "examples").glob("**/*.rules"))


@pytest.mark.parametrize("rule_file", EXAMPLE_RULE_FILES, ids=[path.name for path in EXAMPLE_RULE_FILES])
def test_e2e_rules_check_examples(real: None, rule_file: Path) -> None:
    result = run("rules", "check", str(rule_file))
    assert result.exit_code == cli.EXIT_OK, result.output
    assert result.stdout.startswith("règles valides")


def test_console_script_is_the_click_group() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts["billing-rules"] == "billing_rules.cli:main"
    assert isinstance(cli.main, click.Group)
