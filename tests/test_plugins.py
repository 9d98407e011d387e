"""The plugin platform: discovery, attribution, isolation of broken plugins, clashes, the CLI.

Installed plugins are simulated without pip: each test writes a package and its ``.dist-info``
(METADATA and entry_points.txt) into a temporary folder put on ``sys.path``, which is exactly what
``importlib.metadata`` reads for a real install. The real install (a venv and pip) is in
``test_plugins_install.py``.
"""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import billing_rules
from billing_rules import cli
from billing_rules.api.validator import Validator
from billing_rules.errors import PluginLoadError, RuleClashError
from billing_rules.plugins import DEFAULT_PLUGINS, make_plugin_manager, plugin_infos

REPO = Path(__file__).resolve().parents[1]
SPECIALIST_SRC = REPO / "plugins" / "billing-rules-specialist" / "src"

HEADER = "invoice_id;date;practitioner_id;patient_id;birth_date;codes;mt_status;ald"
ROWS = [
    "F-1;2024-03-04;10001;P-1;1970-01-01;G;other;non",
    "F-2;2024-03-04;10001;P-2;1970-01-01;IMT;none;non",  # IMT-ALD (built-in)
    "F-3;2024-03-05;10001;P-3;1970-01-01;G;other;non",
]

GOOD_PLUGIN = '''
from billing_rules import hookimpl, Hit, Severity

BILLING_RULES_HOOK_API = 1

RULES = """
rule ACME-G-TUESDAY warning "G facturée un mardi"
  on G
  when weekday() = 2
  example fires { codes = "G", date = 2024-03-05 }
  example passes { codes = "G", date = 2024-03-04 }
end
"""


class Crashing:
    code = "ACME-CRASH"
    severity = Severity.ERROR
    source = "acme"
    triggers = frozenset({"G"})
    summary = "Une règle Python qui échoue sur le patient P-3"

    def check(self, event, history):
        if event.patient_id == "P-3":
            raise ZeroDivisionError("division par zéro")
        return ()


@hookimpl
def register_rule_sets(register):
    register(text=RULES, name="acme.rules")


@hookimpl
def register_rules(register):
    register(Crashing())
'''


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """``install(entry_name, source, version=...)``: a fake installed plugin; returns its module name."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delenv("BILLING_RULES_LOAD_PLUGINS", raising=False)
    modules: list[str] = []

    def install(entry_name: str, source: str, *, version: str = "1.2.3") -> str:
        module = f"billing_rules_test_{entry_name.replace('-', '_')}_{len(modules)}"
        (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        dist = root / f"{module}-{version}.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {module}\nVersion: {version}\n", encoding="utf-8"
        )
        (dist / "entry_points.txt").write_text(
            f"[billing_rules]\n{entry_name} = {module}\n", encoding="utf-8"
        )
        modules.append(module)
        importlib.invalidate_caches()
        return module

    yield install
    for module in modules:
        sys.modules.pop(module, None)
    importlib.invalidate_caches()


@pytest.fixture
def billing_file(tmp_path: Path) -> Path:
    path = tmp_path / "jour.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


# -- the built-in catalogue is a plugin like any other ------------------------------------------


def test_builtin_catalogue_goes_through_public_hooks_only() -> None:
    default = Validator.build(entry_points=False)
    # Without the default plugins there is no rule at all: nothing is special-cased in the core...
    assert Validator.build(entry_points=False, builtin=False).rules == ()
    # ... and registering the same modules as ordinary third-party plugin objects gives the same rules.
    modules = [importlib.import_module(name) for name in DEFAULT_PLUGINS]
    as_third_party = Validator.build(
        entry_points=False, builtin=False, plugins=[("ngap", modules[0]), modules[1]]
    )
    assert [info.code for info in as_third_party.rules] == [info.code for info in default.rules]
    assert {info.source for info in as_third_party.rules} == {"ngap"}
    # The modules hold hook implementations only, registered through billing_rules.hookimpl.
    for module in modules:
        functions = [
            value for name, value in vars(module).items() if callable(value) and name.startswith("register_")
        ]
        assert functions and all(hasattr(function, "billing_rules_impl") for function in functions)


def test_core_modules_never_import_the_builtin_catalogue() -> None:
    for name in (
        "engines/row/engine.py",
        "engines/findings.py",
        "api/ruleset.py",
        "api/validator.py",
        "engines/row/windows.py",
        "engines/row/compiler.py",
        "dsl/check.py",
        "dsl/program.py",
    ):
        text = (REPO / "billing_rules" / name).read_text(encoding="utf-8")
        assert "billing_rules.builtin" not in text, name


def test_hook_api_is_versioned() -> None:
    from billing_rules import hookspecs

    assert billing_rules.HOOK_API_VERSION == hookspecs.HOOK_API_VERSION == 1
    assert "hook API version 1" in hookspecs.__doc__


# -- discovery and attribution -------------------------------------------------------------------


def test_installed_plugin_adds_rules_with_its_name(site: Callable[..., str], billing_file: Path) -> None:
    site("acme", GOOD_PLUGIN)
    listing = json.loads(run("rules", "list", "--format", "json").stdout)
    assert {"code": "ACME-G-TUESDAY", "source": "acme"}.items() <= next(
        entry for entry in listing if entry["code"] == "ACME-G-TUESDAY"
    ).items()
    result = run("check", str(billing_file), "--format", "json", "--fail-on", "never")
    findings = json.loads(result.stdout)["findings"]
    assert ("F-2", "IMT-ALD", "builtin") in {(f["invoice_id"], f["rule"], f["source"]) for f in findings}
    assert ("F-3", "ACME-G-TUESDAY", "acme") in {(f["invoice_id"], f["rule"], f["source"]) for f in findings}


def test_plugins_command_lists_version_hooks_and_codes(site: Callable[..., str]) -> None:
    site("acme", GOOD_PLUGIN, version="2.0.1")
    result = run("plugins", "--format", "json")
    assert result.exit_code == 0, result.output
    entries = {entry["name"]: entry for entry in json.loads(result.stdout)}
    assert entries["acme"]["version"] == "2.0.1"
    assert entries["acme"]["hooks"] == ["register_rule_sets", "register_rules"]
    assert entries["acme"]["rules"] == ["ACME-CRASH", "ACME-G-TUESDAY"]
    assert entries["builtin"]["builtin"] is True and "IMT-ONCE" in entries["builtin"]["rules"]
    text = run("plugins").stdout
    assert "acme 2.0.1" in text and "ACME-G-TUESDAY" in text


def test_plugins_command_warns_of_plugin_rules_without_citation_or_action(site: Callable[..., str]) -> None:
    """SPEC §2: their findings would carry ``null``; the plugin's author hears it, the run still works."""
    site("acme", GOOD_PLUGIN)
    result = run("plugins")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "avertissement" in line]
    assert len(warnings) == 4, warnings  # two rules, each without citation and without action
    assert any("règle ACME-CRASH sans référence" in line for line in warnings)
    assert any("acme.rules" in line and "règle ACME-G-TUESDAY sans action" in line for line in warnings)
    assert "IMT-ONCE" not in result.stderr  # the built-in rules have both


def test_rules_show_works_for_plugin_rules(site: Callable[..., str]) -> None:
    site("acme", GOOD_PLUGIN)
    dsl = run("rules", "show", "ACME-G-TUESDAY")
    assert dsl.exit_code == 0
    assert "Source   : acme" in dsl.stdout and "weekday() = 2" in dsl.stdout
    python = run("rules", "show", "ACME-CRASH")
    assert python.exit_code == 0 and "règle écrite en Python" in python.stdout


def test_plugin_selection_options(site: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> None:
    site("acme", GOOD_PLUGIN)
    site("other", GOOD_PLUGIN.replace("ACME-", "OTHER-"))

    def sources(*args: str) -> set[str]:
        result = run("rules", "list", "--format", "json", *args)
        assert result.exit_code == 0, result.output
        return {entry["source"] for entry in json.loads(result.stdout)}

    assert sources() == {"builtin", "acme", "other"}
    assert sources("--plugin", "acme") == {"builtin", "acme"}
    assert sources("--no-plugins") == {"builtin"}
    monkeypatch.setenv("BILLING_RULES_LOAD_PLUGINS", "other")
    assert sources() == {"builtin", "other"}
    monkeypatch.setenv("BILLING_RULES_LOAD_PLUGINS", "")
    assert sources() == {"builtin"}


def test_unknown_plugin_name_is_an_error(site: Callable[..., str], billing_file: Path) -> None:
    site("acme", GOOD_PLUGIN)
    result = run("check", str(billing_file), "--plugin", "acmee")
    assert result.exit_code == cli.EXIT_ERROR
    assert "acmee" in result.stderr and "non installée" in result.stderr and "acme" in result.stderr


def test_plugin_and_no_plugins_exclude_each_other(billing_file: Path) -> None:
    result = run("check", str(billing_file), "--plugin", "x", "--no-plugins")
    assert result.exit_code == cli.EXIT_ERROR and "s'excluent" in result.stderr


# -- isolation: a broken plugin is named -----------------------------------------------------------


def test_import_error_exits_2_before_reading_data(
    site: Callable[..., str], billing_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site("broken", "import billing_rules_does_not_exist\n", version="0.3")

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the input was opened")

    monkeypatch.setattr("billing_rules.readers.stream.InputStream.__init__", no_reading)
    result = run("check", str(billing_file), "--format", "json")
    assert result.exit_code == cli.EXIT_ERROR
    assert result.stdout == ""
    assert "« broken 0.3 »" in result.stderr
    assert "ModuleNotFoundError" in result.stderr


def test_broken_plugin_is_listed_with_its_error(site: Callable[..., str]) -> None:
    site("acme", GOOD_PLUGIN)
    site("broken", "raise RuntimeError('configuration absente')\n")
    result = run("plugins", "--format", "json")
    assert result.exit_code == cli.EXIT_ERROR
    entries = {entry["name"]: entry for entry in json.loads(result.stdout)}
    assert "configuration absente" in entries["broken"]["error"]
    assert entries["acme"]["error"] is None and entries["acme"]["rules"]


def test_rule_raising_gives_internal_error_for_that_invoice_only(
    site: Callable[..., str], billing_file: Path
) -> None:
    site("acme", GOOD_PLUGIN)
    result = run("check", str(billing_file), "--format", "json", "--fail-on", "error")
    # Incomplete check: exit 1, like an input error (an invoice was not fully checked).
    assert result.exit_code == cli.EXIT_FINDINGS
    findings = json.loads(result.stdout)["findings"]
    crashes = [f for f in findings if f["rule"] == "INTERNAL-ERROR"]
    assert [(f["invoice_id"], f["source"], f["severity"]) for f in crashes] == [("F-3", "acme", "error")]
    assert "ACME-CRASH" in crashes[0]["message"] and "acme" in crashes[0]["message"]
    assert "P-3" not in crashes[0]["message"]  # never a patient identifier in an error message
    # The other invoices were checked, and the crashing invoice's other rules too.
    assert ("F-2", "IMT-ALD") in {(f["invoice_id"], f["rule"]) for f in findings}
    assert ("F-3", "ACME-G-TUESDAY") in {(f["invoice_id"], f["rule"]) for f in findings}
    assert "contrôle incomplet" in result.stderr


def test_rule_raising_with_fail_on_never_still_says_incomplete(
    site: Callable[..., str], billing_file: Path
) -> None:
    site("acme", GOOD_PLUGIN)
    result = run("check", str(billing_file), "--fail-on", "never")
    assert result.exit_code == cli.EXIT_OK  # SPEC §4: never means 0
    assert "contrôle incomplet : 1 facture" in result.stderr


def test_hook_raising_at_load_is_named(site: Callable[..., str], billing_file: Path) -> None:
    site(
        "fragile",
        """
        from billing_rules import hookimpl

        @hookimpl
        def register_tariffs(register):
            raise KeyError("MCS")
        """,
    )
    result = run("check", str(billing_file))
    assert result.exit_code == cli.EXIT_ERROR
    assert "« fragile 1.2.3 »" in result.stderr and "register_tariffs" in result.stderr


def test_invalid_rule_file_of_a_plugin_names_the_plugin(site: Callable[..., str], billing_file: Path) -> None:
    site(
        "typo",
        """
        from billing_rules import hookimpl

        @hookimpl
        def register_rule_sets(register):
            register(text="rule TYPO-1 error \\"x\\"\\n  on G\\n  when agee > 3\\nend\\n", name="typo.rules")
        """,
    )
    result = run("check", str(billing_file))
    assert result.exit_code == cli.EXIT_ERROR
    assert "« typo 1.2.3 »" in result.stderr and "typo/typo.rules:3" in result.stderr


def test_misspelled_hook_is_refused_by_name(site: Callable[..., str]) -> None:
    site(
        "misspelled",
        """
        from billing_rules import hookimpl

        @hookimpl
        def register_rule(register):
            pass
        """,
    )
    with pytest.raises(PluginLoadError, match="misspelled.*crochet inconnu"):
        make_plugin_manager()


def test_newer_hook_api_is_refused_by_name(site: Callable[..., str]) -> None:
    site("future", "BILLING_RULES_HOOK_API = 99\n")
    with pytest.raises(PluginLoadError, match="future.*version 99"):
        make_plugin_manager()
    infos = plugin_infos(make_plugin_manager(keep_going=True))
    assert [info.name for info in infos if info.error] == ["future"]


def test_two_plugins_with_one_rule_code_is_a_load_error_naming_both(
    site: Callable[..., str], billing_file: Path
) -> None:
    site("acme", GOOD_PLUGIN)
    site("copycat", GOOD_PLUGIN.replace("ACME-CRASH", "COPY-CRASH"))
    with pytest.raises(RuleClashError, match="extension « copycat ».*ACME-G-TUESDAY.*par acme"):
        Validator.build()
    result = run("check", str(billing_file))
    assert result.exit_code == cli.EXIT_ERROR
    assert "ACME-G-TUESDAY" in result.stderr and "acme" in result.stderr and "copycat" in result.stderr
    listing = run("plugins")
    assert listing.exit_code == cli.EXIT_ERROR and "copycat" in listing.stderr
    assert "acme 1.2.3" in listing.stdout and "copycat 1.2.3" in listing.stdout


def test_plugin_cannot_take_a_builtin_code() -> None:
    class Squatter:
        code = "IMT-ONCE"
        severity = billing_rules.Severity.ERROR
        source = "squatter"
        triggers = None

        def check(self, event: object, history: object) -> tuple[()]:
            return ()

    class Plugin:
        @billing_rules.hookimpl
        def register_rules(self, register: Callable[[object], None]) -> None:
            register(Squatter())

    with pytest.raises(RuleClashError, match="IMT-ONCE.*builtin.*squatter"):
        Validator.build(entry_points=False, plugins=[("squatter", Plugin())])


def test_two_readers_with_one_name_is_a_load_error() -> None:
    class Reader:
        name = "csv"
        extensions = (".csv",)

        def rows(self, stream: object, file: str) -> Iterator[object]:
            return iter(())

    class Plugin:
        @billing_rules.hookimpl
        def register_readers(self, register: Callable[[object], None]) -> None:
            register(Reader())

    with pytest.raises(RuleClashError, match="format d'entrée « csv ».*builtin.*vendor"):
        Validator.build(entry_points=False, plugins=[("vendor", Plugin())])


# -- adjust_findings ---------------------------------------------------------------------------------


def test_adjust_findings_turns_an_error_into_a_warning_with_the_reason() -> None:
    import attrs

    from billing_rules.testing import make_event

    class Exemption:
        @billing_rules.hookimpl
        def adjust_findings(self, findings: list, event: billing_rules.Event) -> list | None:
            if event.extra.get("derogation") != "oui":
                return None
            return [
                attrs.evolve(f, severity=billing_rules.Severity.WARNING, message=f.message + " (dérogation)")
                for f in findings
            ]

    validator = Validator.build(entry_points=False, plugins=[("cabinet", Exemption())])
    imt = {"codes": "IMT", "mt_status": "none", "date": "2024-03-04"}
    exempted = validator.check_one(make_event(**imt, derogation="oui"))
    assert [(f.rule, f.severity.value) for f in exempted] == [("IMT-ALD", "warning")]
    assert exempted[0].message.endswith("(dérogation)")
    assert exempted[0].amount is None  # SPEC §2: a warning carries no euros at risk
    refused = validator.check_one(make_event(**imt))
    assert [(f.severity.value, f.amount) for f in refused] == [("error", Decimal("60.00"))]


def test_adjusted_findings_stay_in_rule_order() -> None:
    """An added finding takes its place by rule code (SPEC §2), not after the others."""
    import attrs

    from billing_rules.testing import make_event

    class Extra:
        @billing_rules.hookimpl
        def adjust_findings(self, findings: list, event: billing_rules.Event) -> list | None:
            return [*findings, attrs.evolve(findings[0], rule="AAA-CABINET")]

    validator = Validator.build(entry_points=False, plugins=[("cabinet", Extra())])
    found = validator.check_one(make_event(codes="IMT", mt_status="none", date="2024-03-04"))
    assert [f.rule for f in found] == ["AAA-CABINET", "IMT-ALD"]


def test_plugin_rule_amounts_round_half_up_as_the_project() -> None:
    """0,125 € is 0,13 € as everywhere in the project (money.round_cents), not 0,12 € (half to even)."""
    from billing_rules.testing import make_event

    class HalfCent:
        code = "CAB-HALF"
        severity = billing_rules.Severity.ERROR
        source = "cabinet"
        triggers = frozenset({"G"})

        def check(self, event: billing_rules.Event, history: object) -> tuple:
            return (billing_rules.Hit(message="demi-centime", amount=Decimal("0.125")),)

    class Plugin:
        @billing_rules.hookimpl
        def register_rules(self, register: object) -> None:
            register(HalfCent())  # type: ignore[operator]

    validator = Validator.build(entry_points=False, plugins=[("cabinet", Plugin())])
    found = validator.check_one(make_event(codes="G", date="2024-03-04"))
    assert [(f.rule, f.amount) for f in found if f.rule == "CAB-HALF"] == [("CAB-HALF", Decimal("0.13"))]


def test_adjust_findings_raising_is_an_internal_error_naming_the_plugin() -> None:
    from billing_rules.testing import make_events

    class Broken:
        @billing_rules.hookimpl
        def adjust_findings(self, findings: list, event: billing_rules.Event) -> None:
            raise ValueError("oups")

    validator = Validator.build(entry_points=False, plugins=[("cabinet", Broken())])
    report = validator.check_events(make_events({"codes": "IMT", "mt_status": "none"}, {"codes": "G"}))
    assert [(f.invoice_id, f.rule, f.source) for f in report.findings] == [
        ("F-1", "IMT-ALD", "builtin"),
        ("F-1", "INTERNAL-ERROR", "cabinet"),
    ]
    assert "cabinet" in report.findings[1].message


# -- the example plugin, registered from the checkout ------------------------------------------------


@pytest.fixture
def specialist(monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.syspath_prepend(str(SPECIALIST_SRC))
    return importlib.import_module("billing_rules_specialist")


def test_example_plugin_contributes_every_kind(specialist: object) -> None:
    validator = Validator.build(entry_points=False, plugins=[("specialist", specialist)])
    codes = {info.code for info in validator.rules if info.source == "specialist"}
    assert {"SPE-MCU-48H", "SPE-APC-4M", "SPE-RPPS-REFERRER"} <= codes
    assert "medilogic" in validator.readers
    assert "MCS" in validator.ruleset.tariffs
    assert validator.ruleset.functions["mt_referral_at"].origin == "specialist"
    report = validator.check_paths(
        [str(SPECIALIST_SRC.parent / "examples" / "medilogic.csv")], input_format="medilogic"
    )
    assert {(f.invoice_id, f.rule, f.source) for f in report.findings} >= {
        ("M-2", "SPE-MCU-48H", "specialist"),
        ("M-4", "SPE-RPPS-REFERRER", "specialist"),
    }


REPORTER_PLUGIN = """
from billing_rules import hookimpl


class Tally:
    name = "tally"

    def render(self, report, stream, *, color=False):
        stream.write(f"{report.summary.events} factures, {len(report.findings)} constats\\n")


@hookimpl
def register_reporters(register):
    register(Tally())
"""


def test_plugin_reporter_is_a_format_of_check(
    site: Callable[..., str], billing_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site("tally", REPORTER_PLUGIN)
    result = run("check", str(billing_file), "--format", "tally", "--fail-on", "never")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("3 factures, ")

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the input was opened")

    monkeypatch.setattr("billing_rules.readers.stream.InputStream.__init__", no_reading)
    unknown = run("check", str(billing_file), "--format", "talley")
    assert unknown.exit_code == cli.EXIT_ERROR
    assert "format de rapport inconnu « talley »" in unknown.stderr and "tally" in unknown.stderr


def test_crashing_plugin_reader_and_reporter_are_named(site: Callable[..., str], billing_file: Path) -> None:
    site(
        "shaky",
        """
        from billing_rules import hookimpl


        class Reader:
            name = "shaky"
            extensions = ()

            def rows(self, stream, file):
                raise IndexError("ligne P-1 illisible")
                yield


        class Reporter:
            name = "shaky-report"

            def render(self, report, stream, *, color=False):
                raise TypeError("P-1")


        @hookimpl
        def register_readers(register):
            register(Reader())


        @hookimpl
        def register_reporters(register):
            register(Reporter())
        """,
    )
    reading = run("check", str(billing_file), "--input-format", "shaky")
    assert reading.exit_code == cli.EXIT_ERROR
    assert "« shaky » de l'extension « shaky » a échoué (IndexError)" in reading.stderr
    assert "P-1" not in reading.stderr
    rendering = run("check", str(billing_file), "--format", "shaky-report")
    assert rendering.exit_code == cli.EXIT_ERROR
    assert "« shaky-report » de l'extension « shaky » a échoué (TypeError)" in rendering.stderr


def test_reporter_failing_after_record_says_the_invoices_are_stored(
    site: Callable[..., str], billing_file: Path, tmp_path: Path
) -> None:
    """The ledger is committed before the report: exit 2 must not leave staff unsure what happened."""
    site(
        "brittle",
        """
        from billing_rules import hookimpl


        class Reporter:
            name = "brittle"

            def render(self, report, stream, *, color=False):
                raise TypeError("P-1")


        @hookimpl
        def register_reporters(register):
            register(Reporter())
        """,
    )
    ledger = tmp_path / "cabinet.sqlite"
    failed = run("check", str(billing_file), "--ledger", str(ledger), "--record", "--format", "brittle")
    assert failed.exit_code == cli.EXIT_ERROR
    assert "« brittle » de l'extension « brittle » a échoué (TypeError)" in failed.stderr
    assert "les 3 factures restent enregistrées dans le registre" in failed.stderr
    assert "P-1" not in failed.stderr
    stored = run("ledger", "export", "--ledger", str(ledger), "--format", "jsonl").stdout.splitlines()
    assert len(stored) == 3
    again = run("check", str(billing_file), "--ledger", str(ledger), "--record", "--format", "json")
    assert again.exit_code in (0, 1), again.stderr
    assert run("ledger", "export", "--ledger", str(ledger), "--format", "jsonl").stdout.splitlines() == stored
    unrecorded = run("check", str(billing_file), "--ledger", str(ledger), "--format", "brittle")
    assert unrecorded.exit_code == cli.EXIT_ERROR
    assert "enregistrée" not in unrecorded.stderr


def test_ledger_import_reads_as_check_reads(
    site: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ledger import`` takes a plugin's input format and fills the practice's facts, as ``check`` does.

    A practice whose software exports a vendor format, and whose configuration says its doctor is
    in sector 2, imports its history with the same rows ``check`` would read: the ledger must not
    hold sector-1 invoices that ``simulate`` and ``forfait`` would then judge wrongly.
    """
    site(
        "pipes",
        """
        from billing_rules import hookimpl
        from billing_rules.readers import RawRow


        class Pipes:
            name = "pipes"
            extensions = (".pipes",)

            def rows(self, stream, file):
                for number, line in enumerate(stream.read().decode("utf-8").splitlines(), start=1):
                    invoice, day, codes = line.split("|")
                    values = {"invoice_id": invoice, "date": day, "codes": codes,
                              "practitioner_id": "10001", "patient_id": "P1", "birth_date": "1970-01-01"}
                    yield RawRow(line=number, values=values, file=file)


        @hookimpl
        def register_readers(register):
            register(Pipes())
        """,
    )
    monkeypatch.chdir(tmp_path)
    (tmp_path / "billing-rules.toml").write_text('[practitioner]\nsector = "2"\n', encoding="utf-8")
    (tmp_path / "jour.pipes").write_text("H1|2025-03-03|G\nH2|2025-03-04|G\n", encoding="utf-8")
    target = str(tmp_path / "registre.db")
    result = run("ledger", "import", "jour.pipes", "--ledger", target)
    assert result.exit_code == 0, result.output
    assert "2 factures importées" in result.stderr
    exported = run("ledger", "export", "--ledger", target, "--format", "jsonl")
    assert exported.exit_code == 0, exported.output
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [(row["invoice_id"], row["sector"]) for row in rows] == [("H1", "2"), ("H2", "2")]
    # --no-plugins: the format is not there, as for check.
    refused = run("ledger", "import", "jour.pipes", "--ledger", target, "--no-plugins")
    assert refused.exit_code == cli.EXIT_ERROR


# -- a Python rule counting in windows of its own -------------------------------------------------

COUNTING_PLUGIN = """
import attrs

from billing_rules import Hit, Severity, hookimpl
from billing_rules.dsl.program import CounterSpec

BILLING_RULES_HOOK_API = 1

# id 0 is also a built-in DSL counter's: the engine numbers the counters it keeps itself.
G_PER_PATIENT = CounterSpec(
    id=0, triggers=frozenset({"G"}), counting=None, scope=("patient",), window="rolling",
    period="months", span=12,
)


@attrs.frozen
class AgainRule:
    code: str = "CNT-G-AGAIN"
    severity: Severity = Severity.WARNING
    source: str = "counting"
    triggers: frozenset = frozenset({"G"})
    counters: tuple = (G_PER_PATIENT,)

    def check(self, event, history):
        (window,) = history.count(G_PER_PATIENT, event)
        if window.count < 2:
            return ()
        return (Hit(message=f"G n° {window.count} en 12 mois", window=window),)


@hookimpl
def register_rules(register):
    register(AgainRule())
"""

COUNTING_HEADER = "invoice_id;date;practitioner_id;patient_id;birth_date;codes;mt_status"


def _counting_csv(path: Path, *rows: str) -> str:
    path.write_text("\n".join([COUNTING_HEADER, *rows]) + "\n", encoding="utf-8")
    return str(path)


def _counting_module(site: Callable[..., str]) -> object:
    return importlib.import_module(site("counting", COUNTING_PLUGIN))


def test_python_rule_counts_in_the_counters_it_declares(site: Callable[..., str], tmp_path: Path) -> None:
    """The 1st G of a patient is not the 2nd: the rule's own window is kept, never an empty one."""
    module = _counting_module(site)
    validator = Validator.build(entry_points=False, plugins=[("counting", module)])
    declared = module.G_PER_PATIENT  # type: ignore[attr-defined]
    kept = validator.engine.kept[declared]
    assert kept is not declared and kept.id not in {
        rule.frequency.counter.id for rule in validator.ruleset.rules if getattr(rule, "frequency", None)
    }
    path = _counting_csv(
        tmp_path / "jour.csv",
        "F-1;2024-03-04;10001;P-1;1970-01-01;G;self",
        "F-2;2024-03-05;10001;P-2;1970-01-01;G;self",
        "F-3;2024-05-06;10001;P-1;1970-01-01;G;self",
    )
    report = validator.check_paths([path])
    found = [(f.invoice_id, f.message) for f in report.findings if f.rule == "CNT-G-AGAIN"]
    assert found == [("F-3", "G n° 2 en 12 mois")]
    window = next(f.window for f in report.findings if f.rule == "CNT-G-AGAIN")
    assert window is not None and window.first_invoice_id == "F-1"
    # The ledger's history counts before the input, as for the DSL rules' windows.
    ledger = str(tmp_path / "cabinet.sqlite")
    validator.check_paths(
        [_counting_csv(tmp_path / "avant.csv", "H-1;2024-01-08;10001;P-2;1970-01-01;G;self")],
        ledger=ledger,
        record=True,
    )
    report = validator.check_paths([path], ledger=ledger)
    found = [(f.invoice_id, f.message) for f in report.findings if f.rule == "CNT-G-AGAIN"]
    assert found == [("F-2", "G n° 2 en 12 mois"), ("F-3", "G n° 2 en 12 mois")]


def test_undeclared_counter_is_an_internal_error_naming_the_rule(
    site: Callable[..., str], tmp_path: Path
) -> None:
    source = COUNTING_PLUGIN.replace("counters: tuple = (G_PER_PATIENT,)", "")
    module = importlib.import_module(site("counting", source))
    validator = Validator.build(entry_points=False, plugins=[("counting", module)])
    report = validator.check_paths(
        [_counting_csv(tmp_path / "jour.csv", "F-1;2024-03-04;10001;P-1;1970-01-01;G;self")]
    )
    (crash,) = [f for f in report.findings if f.rule == "INTERNAL-ERROR"]
    assert "CNT-G-AGAIN (counting)" in crash.message and "counters" in crash.message


def test_undeclared_counter_gives_the_same_report_on_both_engines(
    site: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planned (nothing declared to refuse), its count fails per invoice on DuckDB too, never the run."""
    pytest.importorskip("duckdb")
    pytest.importorskip("sqlglot")
    from billing_rules.engines import choice

    site("counting", COUNTING_PLUGIN.replace("counters: tuple = (G_PER_PATIENT,)", ""))
    path = _counting_csv(
        tmp_path / "jour.csv",
        "F-1;2024-03-04;10001;P-1;1970-01-01;G;self",
        "F-2;2024-05-06;10001;P-1;1970-01-01;G;self",
        "F-3;2024-05-07;10001;P-2;1970-01-01;VL;self",
    )
    reports = {}
    for engine in ("row", "duckdb"):
        result = run("check", path, "--engine", engine, "--format", "json", "--isolated")
        # As the plugin guide says: an INTERNAL-ERROR is an error, the check exits 1, not 2.
        assert result.exit_code == cli.EXIT_FINDINGS, (engine, result.output)
        reports[engine] = json.loads(result.stdout)
        assert reports[engine]["summary"]["engine"] == engine
        assert "contrôle incomplet" in result.stderr
    row, duckdb = (
        [
            {key: value for key, value in finding.items() if key != "engine"}
            for finding in reports[engine]["findings"]
        ]
        for engine in ("row", "duckdb")
    )
    assert row == duckdb
    crashes = [finding for finding in row if finding["rule"] == "INTERNAL-ERROR"]
    # F-3 bills no G: the rule is not woken there.
    assert [(f["invoice_id"], f["source"]) for f in crashes] == [("F-1", "counting"), ("F-2", "counting")]
    assert all("CNT-G-AGAIN (counting)" in f["message"] and "counters" in f["message"] for f in crashes)
    summary = {key: value for key, value in reports["duckdb"]["summary"].items() if key != "engine"}
    assert summary == {key: value for key, value in reports["row"]["summary"].items() if key != "engine"}
    # --engine auto picks DuckDB for a large input (the plan has nothing to refuse): same report.
    monkeypatch.setattr(choice, "AUTO_ROWS", 1)
    auto = run("check", path, "--format", "json", "--isolated")
    assert auto.exit_code == cli.EXIT_FINDINGS, auto.output
    assert json.loads(auto.stdout)["findings"] == reports["duckdb"]["findings"]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ('window="rolling"', 'window="sliding"'),
        ('period="months"', 'period="month"'),
        ("counters: tuple = (G_PER_PATIENT,)", 'counters: tuple = ("G",)'),
    ],
)
def test_malformed_declared_counter_is_refused_at_load(
    site: Callable[..., str], change: str, says: str
) -> None:
    module = importlib.import_module(site("counting", COUNTING_PLUGIN.replace(change, says)))
    with pytest.raises(billing_rules.BillingRulesError, match=r"règle CNT-G-AGAIN \(counting\) : counters"):
        Validator.build(entry_points=False, plugins=[("counting", module)])


def test_relational_engine_refuses_a_rule_with_counters(
    site: Callable[..., str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("duckdb")
    pytest.importorskip("sqlglot")
    from billing_rules.engines import choice
    from billing_rules.engines.relational.api import checker_for
    from billing_rules.engines.relational.plan import Unsupported

    module = _counting_module(site)
    validator = Validator.build(entry_points=False, plugins=[("counting", module)])
    with pytest.raises(Unsupported, match=r"CNT-G-AGAIN .*counters.*--engine row"):
        checker_for(validator, "duckdb")
    path = _counting_csv(
        tmp_path / "jour.csv",
        "F-1;2024-03-04;10001;P-1;1970-01-01;G;self",
        "F-2;2024-05-06;10001;P-1;1970-01-01;G;self",
    )
    explicit = run("check", path, "--engine", "duckdb")
    assert explicit.exit_code == cli.EXIT_ERROR
    assert "CNT-G-AGAIN" in explicit.stderr and "counters" in explicit.stderr
    monkeypatch.setattr(choice, "AUTO_ROWS", 1)
    auto = run("check", path, "--format", "json", "--fail-on", "never")
    assert auto.exit_code == 0, auto.output
    report = json.loads(auto.stdout)
    assert report["summary"]["engine"] == "row"
    assert [(f["invoice_id"], f["rule"]) for f in report["findings"] if f["source"] == "counting"] == [
        ("F-2", "CNT-G-AGAIN")
    ]


# -- explain shows what a plugin's function read ----------------------------------------------------


def test_explain_shows_the_facts_a_plugin_function_reads(specialist: object) -> None:
    validator = Validator.build(entry_points=False, plugins=[("specialist", specialist)])
    assert validator.ruleset.functions["mt_referral_at"].reads == ("extra:mt_referral_at",)
    (explanation,) = validator.explain(
        [str(SPECIALIST_SRC.parent / "examples" / "medilogic.csv")], "M-2", input_format="medilogic"
    )
    text = str(explanation)
    assert text.startswith("SPE-MCU-48H (erreur)")
    assert "- date et heure de l'acte : 10/03/2025 à 11:30" in text
    assert "- colonne « mt_referral_at » : 2025-03-05T09:00" in text


def test_function_without_reads_still_loads_and_explains(site: Callable[..., str], tmp_path: Path) -> None:
    """``reads`` is optional: a function registered without it works as before, showing the other facts."""
    module = site(
        "flagged",
        """
        from billing_rules import Function, Kind, hookimpl

        BILLING_RULES_HOOK_API = 1


        def flagged(env, event):
            return event.extra.get("flag") == "x"


        @hookimpl
        def register_functions(register):
            register(Function("flagged", (), Kind.BOOL, flagged, "colonne flag à x"))


        @hookimpl
        def register_rule_sets(register):
            rule = 'rule FLG-G warning "G signalée"\\n  on G\\n  when flagged() and age >= 18\\nend\\n'
            register(text=rule, name="flg.rules")
        """,
    )
    validator = Validator.build(entry_points=False, plugins=[("flagged", importlib.import_module(module))])
    path = tmp_path / "jour.csv"
    path.write_text(
        f"{COUNTING_HEADER};flag\nF-1;2024-03-04;10001;P-1;1970-01-01;G;self;x\n", encoding="utf-8"
    )
    (explanation,) = [item for item in validator.explain([str(path)], "F-1") if item.finding.rule == "FLG-G"]
    labels = [label for label, _ in explanation.facts]
    assert "âge le jour de l'acte" in labels and not any("flag" in label for label in labels)


# -- rules test FILE: an edited copy of an installed plugin's rule file ------------------------------

INSTALLED_RULES = """
family acme_visit = G, VG

rule ACME-VISIT-SUNDAY warning "visite un dimanche"
  source "Règle interne"
  action "vérifier la majoration du dimanche"
  on acme_visit
  when weekday() = 7
  example fires { codes = "G", date = 2024-03-10 }
  example passes { codes = "G", date = 2024-03-04 }
end
"""

INSTALLED_PLUGIN = """
from pathlib import Path

from billing_rules import hookimpl

BILLING_RULES_HOOK_API = 1


@hookimpl
def register_rule_sets(register):
    register(Path(__file__).with_name("acme.rules"))
"""


def test_rules_test_of_an_edited_copy_replaces_the_installed_file(
    site: Callable[..., str], tmp_path: Path
) -> None:
    """A plugin installed without -e: its author tests the edited checkout, not the installed copy."""
    module = site("acme", INSTALLED_PLUGIN)
    installed = Path(importlib.import_module(module).__file__).with_name("acme.rules")  # type: ignore[arg-type]
    installed.write_text(INSTALLED_RULES, encoding="utf-8")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    same = checkout / "acme.rules"
    same.write_text(INSTALLED_RULES, encoding="utf-8")
    unchanged = run("rules", "test", str(same))
    assert unchanged.exit_code == 0, unchanged.output
    assert "2 exemples : 2 réussi(s)" in unchanged.stdout
    # The edit breaks an example and adds a rule: both are what is tested, whatever the copy's name.
    edited_text = INSTALLED_RULES.replace("date = 2024-03-04 }", "date = 2024-03-17 }") + (
        '\nrule ACME-VISIT-SATURDAY warning "visite un samedi"\n  on acme_visit\n  when weekday() = 6\n'
        '  example fires { codes = "VG", date = 2024-03-09 }\nend\n'
    )
    for name in ("acme.rules", "edited-copy.rules"):
        edited = checkout / name
        edited.write_text(edited_text, encoding="utf-8")
        result = run("rules", "test", str(edited))
        assert result.exit_code == cli.EXIT_FINDINGS, result.output
        assert "déclarée deux fois" not in result.output
        assert f"ÉCHEC  ACME-VISIT-SUNDAY passes {edited}:" in result.stdout
        assert f"ok     ACME-VISIT-SATURDAY fires  {edited}:" in result.stdout
        assert "3 exemples : 2 réussi(s), 1 en échec" in result.stdout
        assert f"à la place du fichier chargé {installed}" in result.stderr
    # A practice's own file that clashes with nothing is added as before.
    own = checkout / "cabinet.rules"
    own.write_text(
        'rule CAB-ONE warning "G"\n  on G\n  when weekday() = 1\n  example fires { codes = "G" }\nend\n',
        encoding="utf-8",
    )
    added = run("rules", "test", str(own))
    assert added.exit_code == 0, added.output
    assert "à la place" not in added.stderr and "1 exemple : 1 réussi(s)" in added.stdout


def test_rules_test_never_replaces_a_rule_file_of_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy of the practice's own rule file is not a plugin's: it is tested as the clash it is."""
    project = tmp_path / "cabinet"
    project.mkdir()
    text = 'rule CAB-ONE warning "G"\n  on G\n  when weekday() = 1\n  example fires { codes = "G" }\nend\n'
    (project / "cabinet.rules").write_text(text, encoding="utf-8")
    (project / "billing-rules.toml").write_text('[rules]\nfiles = ["cabinet.rules"]\n', encoding="utf-8")
    edited = tmp_path / "cabinet.rules"
    edited.write_text(text.replace("weekday() = 1", "weekday() = 2"), encoding="utf-8")
    monkeypatch.chdir(project)
    result = run("rules", "test", str(edited))
    assert "à la place" not in result.stderr
    assert result.exit_code == cli.EXIT_ERROR and "CAB-ONE" in result.output
