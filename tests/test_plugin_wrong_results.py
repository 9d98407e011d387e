"""A plugin's result of the wrong type is its INTERNAL-ERROR, or a load-style error naming it.

``docs/plugins.md`` §7 gives every field of the :class:`~billing_rules.Hit` a rule returns, and
``billing_rules/model.py`` every field of the :class:`~billing_rules.Finding` an ``adjust_findings``
hook returns. A value of another type (``Hit(window="...")``, ``action=123``, a severity given as
text, a rule of ``None``) used to reach the engines or the reporters and stop the whole check with
exit 2, quoting the value (a patient's identifier). It now costs the invoice one INTERNAL-ERROR
finding naming the rule and the plugin, on both engines and through the embedding API. A plugin's
input format yielding something other than a ``RawRow`` of the documented field types is named, as
a reader that raises is.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from test_plugins import billing_file, run, site  # noqa: F401 - fixtures

import billing_rules
from billing_rules import cli
from billing_rules.api.validator import Validator
from billing_rules.model import Finding, FindingWindow
from billing_rules.rule import Hit, WindowCount
from billing_rules.testing import make_event, make_events

ENGINES = ["row", "duckdb"]

PATIENTS = ("P-1", "P-2", "P-3", "1970-01-01")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each check runs on both engines: both turn hits into findings through the same code."""
    if request.param == "duckdb":
        pytest.importorskip("duckdb")
        pytest.importorskip("sqlglot")
    return str(request.param)


# -- D1: a rule's Hit of the wrong types -------------------------------------------------------------

WRONG_HITS_PLUGIN = """
from decimal import Decimal
from billing_rules import hookimpl, Hit, Severity, WindowCount

BILLING_RULES_HOOK_API = 1


class Rule:
    severity = Severity.ERROR
    source = "wrong"
    triggers = frozenset({"G"})
    citation = "Règle interne de test"
    action = "vérifier"

    def __init__(self, code, hit):
        self.code = code
        self.hit = hit

    def check(self, event, history):
        return (self.hit(event),)


HITS = {
    "WRONG-WINDOW": lambda event: Hit(message="fenêtre", window="garbage"),
    "WRONG-ACTION": lambda event: Hit(message="action", action=123),
    "WRONG-WINDOW-DATE": lambda event: Hit(message="fenêtre", window=WindowCount(2, event.patient_id, None)),
    "WRONG-YEARLY": lambda event: Hit(message="annuel", amount=Decimal("5"), yearly="oui"),
    "WRONG-SUGGESTION": lambda event: Hit(message="suggestion", suggestion=event.birth_date),
    "RIGHT-ONE": lambda event: Hit(message="une règle juste", action="vérifier la cotation"),
}


@hookimpl
def register_rules(register):
    for code, hit in HITS.items():
        register(Rule(code, hit))
"""

WRONG_CODES = ("WRONG-WINDOW", "WRONG-ACTION", "WRONG-WINDOW-DATE", "WRONG-YEARLY", "WRONG-SUGGESTION")


def test_a_hit_of_the_wrong_types_is_an_internal_error_and_the_check_goes_on(
    site: Callable[..., str],  # noqa: F811
    billing_file: Path,  # noqa: F811
    engine: str,
) -> None:
    """``Hit(window="garbage")``, ``Hit(action=123)``...: exit 2 with « erreur interne » before."""
    site("wrong", WRONG_HITS_PLUGIN)
    result = run("check", str(billing_file), "--format", "json", "--engine", engine)
    assert result.exit_code == cli.EXIT_FINDINGS, result.output
    report = json.loads(result.stdout)
    crashes = [f for f in report["findings"] if f["rule"] == "INTERNAL-ERROR"]
    for code in WRONG_CODES:
        # One per G invoice (F-1 and F-3), naming the rule and its plugin, and what is wrong.
        named = [f for f in crashes if code + " (wrong)" in f["message"]]
        assert [f["invoice_id"] for f in named] == ["F-1", "F-3"], code
        assert all(f["source"] == "wrong" and "Hit." in f["message"] for f in named)
    assert not any(value in f["message"] for f in crashes for value in PATIENTS)
    found = {(f["invoice_id"], f["rule"]) for f in report["findings"]}
    # The other rules still ran: the plugin's right one, and the built-in IMT-ALD on F-2.
    assert {("F-1", "RIGHT-ONE"), ("F-3", "RIGHT-ONE"), ("F-2", "IMT-ALD")} <= found
    assert not any(code in {rule for _, rule in found} for code in WRONG_CODES)
    # Every report format writes it (text and csv stopped on ``action=123``).
    for report_format in ("text", "csv", "html", "jsonl"):
        written = run("check", str(billing_file), "--format", report_format, "--engine", engine)
        assert written.exit_code == cli.EXIT_FINDINGS, (report_format, written.output)


#: A value of the wrong type for every field of Hit: a field added later must be added here.
WRONG_HIT_FIELDS: dict[str, Any] = {
    "message": 123,
    "amount": "beaucoup",
    "suggestion": 1,
    "suggested_codes": ["G"],
    "action": 123,
    "window": "garbage",
    "yearly": "oui",
}

#: The same for every field of the WindowCount a hit carries.
WRONG_WINDOW_FIELDS: dict[str, Any] = {
    "count": "3",
    "first_date": "2024-03-04",
    "last_date": 20240304,
    "code": 1,
    "first_invoice_id": 1,
    "first_practitioner_id": 1,
}


def _wrong_hits() -> list[tuple[str, dict[str, Any]]]:
    cases = [(f"Hit.{name}", {"message": "x", name: value}) for name, value in WRONG_HIT_FIELDS.items()]
    right = {"count": 2, "first_date": dt.date(2024, 3, 1), "last_date": dt.date(2024, 3, 4)}
    for name, value in WRONG_WINDOW_FIELDS.items():
        window = WindowCount(**{**right, name: value})
        cases.append((f"Hit.window.{name}", {"message": "x", "window": window}))
    return cases


@pytest.mark.parametrize(("field", "hit"), _wrong_hits(), ids=[field for field, _ in _wrong_hits()])
def test_the_api_answers_a_wrong_hit_with_an_internal_error(field: str, hit: dict[str, Any]) -> None:
    """``session.check_one`` raised AttributeError on ``Hit(window="garbage")``."""
    assert set(WRONG_HIT_FIELDS) == {name.name for name in attrs.fields(Hit)}
    assert set(WRONG_WINDOW_FIELDS) == {name.name for name in attrs.fields(WindowCount)}

    class Wrong:
        code = "CAB-WRONG"
        severity = billing_rules.Severity.ERROR
        source = "cabinet"
        triggers = frozenset({"G"})

        def check(self, event: billing_rules.Event, history: object) -> tuple[Hit, ...]:
            return (Hit(**hit),)

    class Plugin:
        @billing_rules.hookimpl
        def register_rules(self, register: Callable[[object], None]) -> None:
            register(Wrong())

    validator = Validator.build(entry_points=False, plugins=[("cabinet", Plugin())])
    invoice = make_event(codes="G", date="2024-03-04")
    with validator.session() as session:
        in_session = session.check_one(invoice)
    for found in (in_session, validator.check_one(invoice)):
        crashes = [f for f in found if f.rule == "INTERNAL-ERROR"]
        assert [f.source for f in crashes] == ["cabinet"]
        assert "CAB-WRONG (cabinet)" in crashes[0].message and field + " attendu" in crashes[0].message
        assert "CAB-WRONG" not in {f.rule for f in found}


# -- D2: adjust_findings returning findings of the wrong types ---------------------------------------

#: A value of the wrong type for every field of Finding: a field added later must be added here.
WRONG_FINDING_FIELDS: dict[str, Any] = {
    "rule": None,
    "severity": "warning",
    "message": 123,
    "invoice_id": 1,
    "practitioner_id": 1,
    "patient_id": 1,
    "date": "2024-03-04",
    "line": "2",
    "file": 1,
    "amount": 1.5,
    "suggestion": 1,
    "source": None,
    "seq": "1",
    "citation": 1,
    "action": 1,
    "window": "garbage",
    "yearly": "oui",
    "facts": ("codes",),
}

WRONG_FINDING_WINDOW = {
    "first_invoice_id": 1,
    "first_date": "2024-03-01",
    "first_practitioner_id": 1,
    "count": "2",
    "limit": 1.0,
    "period": 3,
    "counted": 1,
}


def _wrong_findings() -> list[tuple[str, dict[str, Any]]]:
    cases = [(name, {name: value}) for name, value in WRONG_FINDING_FIELDS.items()]
    for name, value in WRONG_FINDING_WINDOW.items():
        window = FindingWindow(**{"first_invoice_id": "F-0", "first_date": None, name: value})
        cases.append((f"window.{name}", {"window": window}))
    return cases


def _imt_and_g() -> list[billing_rules.Event]:
    return make_events({"codes": "IMT", "mt_status": "none"}, {"codes": "G"})


@pytest.mark.parametrize(("field", "changes"), _wrong_findings(), ids=[name for name, _ in _wrong_findings()])
def test_adjusted_findings_of_the_wrong_types_leave_the_findings_unchanged(
    field: str, changes: dict[str, Any]
) -> None:
    """As a raising hook: the findings as the rules gave them, and an INTERNAL-ERROR naming it."""
    assert set(WRONG_FINDING_FIELDS) == {name.name for name in attrs.fields(Finding)}
    assert set(WRONG_FINDING_WINDOW) == {name.name for name in attrs.fields(FindingWindow)}

    class Wrong:
        @billing_rules.hookimpl
        def adjust_findings(self, findings: list[Finding], event: billing_rules.Event) -> list[Finding]:
            return [attrs.evolve(finding, **changes) for finding in findings]

    expected = list(Validator.build(entry_points=False).check_events(_imt_and_g()).findings)
    validator = Validator.build(entry_points=False, plugins=[("cabinet", Wrong())])
    report = validator.check_events(_imt_and_g())
    assert [f for f in report.findings if f.rule != "INTERNAL-ERROR"] == expected
    crashes = [f for f in report.findings if f.rule == "INTERNAL-ERROR"]
    assert [(f.invoice_id, f.source) for f in crashes] == [("F-1", "cabinet")]
    assert "cabinet" in crashes[0].message and "adjust_findings" in crashes[0].message
    assert "P-" not in crashes[0].message
    assert report.summary.errors == 2  # the reports can sum them: every field is of its type


def test_an_adjuster_editing_the_list_in_place_then_raising_leaves_it_unchanged() -> None:
    """docs/plugins.md: one that raises leaves the findings unchanged (and so does ``None``)."""

    class InPlace:
        @billing_rules.hookimpl
        def adjust_findings(self, findings: list[Finding], event: billing_rules.Event) -> None:
            findings[0] = attrs.evolve(findings[0], rule=None)
            if event.invoice_id == "F-1":
                raise RuntimeError(event.patient_id)
            return None

    expected = list(Validator.build(entry_points=False).check_events(_imt_and_g()).findings)
    validator = Validator.build(entry_points=False, plugins=[("cabinet", InPlace())])
    report = validator.check_events(_imt_and_g())
    assert [f for f in report.findings if f.rule != "INTERNAL-ERROR"] == expected
    assert [f.source for f in report.findings if f.rule == "INTERNAL-ERROR"] == ["cabinet"]


PATIENT_SEVERITY_PLUGIN = """
import attrs
from billing_rules import hookimpl

BILLING_RULES_HOOK_API = 1


@hookimpl
def adjust_findings(findings, event):
    return [attrs.evolve(finding, severity=event.patient_id) for finding in findings]
"""


def test_adjusted_findings_of_the_wrong_types_in_the_cli(
    site: Callable[..., str],  # noqa: F811
    billing_file: Path,  # noqa: F811
    engine: str,
) -> None:
    """``severity=event.patient_id``: exit 2, « erreur interne (KeyError) : 'P-2' » before."""
    site("sevpid", PATIENT_SEVERITY_PLUGIN)
    expected = run("check", str(billing_file), "--format", "json", "--engine", engine, "--no-plugins")
    for report_format in ("json", "text", "csv"):
        result = run("check", str(billing_file), "--format", report_format, "--engine", engine)
        assert result.exit_code == cli.EXIT_FINDINGS, result.output
        assert not any(value in result.stderr for value in PATIENTS)
    report = json.loads(run("check", str(billing_file), "--format", "json", "--engine", engine).stdout)
    before = json.loads(expected.stdout)["findings"]
    assert [f for f in report["findings"] if f["rule"] != "INTERNAL-ERROR"] == before
    crashes = [f for f in report["findings"] if f["rule"] == "INTERNAL-ERROR"]
    assert {f["invoice_id"] for f in crashes} == {f["invoice_id"] for f in before}
    assert all(f["source"] == "sevpid" and "sevpid" in f["message"] for f in crashes)
    assert not any(value in f["message"] for f in crashes for value in PATIENTS)


def test_an_internal_error_never_prints_its_text_without_debug(
    billing_file: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The text of an unexpected exception may be a patient's identifier (``KeyError: 'P-2'``)."""

    def crash(self: Validator, *args: object, **kwargs: object) -> None:
        raise KeyError("PATIENT-SECRET-42")

    monkeypatch.setattr(Validator, "check_paths", crash)
    result = run("check", str(billing_file), "--engine", "row")
    assert result.exit_code == cli.EXIT_ERROR
    assert "erreur interne (KeyError)" in result.stderr and "--debug" in result.stderr
    assert "PATIENT-SECRET-42" not in result.stderr and "Traceback" not in result.stderr
    debug = run("check", str(billing_file), "--engine", "row", "--debug")
    assert debug.exit_code == cli.EXIT_ERROR
    assert "Traceback" in debug.stderr and "PATIENT-SECRET-42" in debug.stderr  # asked for knowingly


# -- D3: a plugin's input format yielding something other than a RawRow ------------------------------

READERS_PLUGIN = """
from billing_rules import hookimpl
from billing_rules.readers import RawRow

BILLING_RULES_HOOK_API = 1

GOOD = {
    "invoice_id": "F-1", "date": "2024-03-04", "practitioner_id": "10001",
    "patient_id": "P-SECRET-7", "birth_date": "1970-01-01", "codes": "G",
}


class Reader:
    extensions = ()

    def __init__(self, name, row):
        self.name = name
        self.row = row

    def rows(self, stream, file):
        stream.read()
        yield self.row(file)


ROWS = {
    "as-dict": lambda file: dict(GOOD),
    "values-none": lambda file: RawRow(line=2, values=None, file=file),
    "values-list": lambda file: RawRow(line=2, values=list(GOOD.items()), file=file),
    "column-number": lambda file: RawRow(line=2, values={**GOOD, 3: "P-SECRET-7"}, file=file),
    "line-text": lambda file: RawRow(line="deux", values=dict(GOOD), file=file),
    "line-bool": lambda file: RawRow(line=True, values=dict(GOOD), file=file),
    "file-number": lambda file: RawRow(line=2, values=dict(GOOD), file=7),
    "problems-list": lambda file: RawRow(line=2, values=dict(GOOD), file=file, problems=[("codes", "x")]),
    "problems-text": lambda file: RawRow(line=2, values=dict(GOOD), file=file, problems=(("codes", 1),)),
    "good": lambda file: RawRow(line=2, values=dict(GOOD), file=file),
}


@hookimpl
def register_readers(register):
    for name, row in ROWS.items():
        register(Reader(name, row))
"""

WRONG_ROWS = [
    ("as-dict", "RawRow attendu, reçu dict"),
    ("values-none", "RawRow.values attendu dict, reçu NoneType"),
    ("values-list", "RawRow.values attendu dict, reçu list"),
    ("column-number", "RawRow.values : nom de colonne attendu str, reçu int"),
    ("line-text", "RawRow.line attendu int ou None, reçu str"),
    ("line-bool", "RawRow.line attendu int ou None, reçu bool"),
    ("file-number", "RawRow.file attendu str ou None, reçu int"),
    ("problems-list", "RawRow.problems"),
    ("problems-text", "RawRow.problems"),
]


@pytest.mark.parametrize(("name", "problem"), WRONG_ROWS, ids=[name for name, _ in WRONG_ROWS])
def test_a_plugin_format_yielding_a_wrong_row_is_named(
    site: Callable[..., str],  # noqa: F811
    billing_file: Path,  # noqa: F811
    engine: str,
    name: str,
    problem: str,
) -> None:
    """« erreur interne (AttributeError)… signalez le problème » before, not naming the plugin."""
    site("rows", READERS_PLUGIN)
    result = run("check", str(billing_file), "--input-format", name, "--engine", engine)
    assert result.exit_code == cli.EXIT_ERROR, result.output
    assert f"le format « {name} » de l'extension « rows » a produit une ligne mal formée" in result.stderr
    assert problem in result.stderr
    assert "erreur interne" not in result.stderr and "P-SECRET-7" not in result.stderr
    # The plugin's well-formed rows are read as before.
    good = run("check", str(billing_file), "--input-format", "good", "--engine", engine, "--format", "json")
    assert good.exit_code in (cli.EXIT_OK, cli.EXIT_FINDINGS), good.output
    assert json.loads(good.stdout)["summary"]["events"] == 1
