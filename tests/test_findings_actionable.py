"""Issue 15 §2: every finding says why (the legal text) and what to do, frequency findings name the
first invoice of their window, ``explain`` shows the facts a rule read, yearly forfaits stay apart,
human text uses French dates and euros, and CODE-UNKNOWN names the code that was meant.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
import tomllib
from click.testing import CliRunner

from billing_rules import cli
from billing_rules.api.validator import Validator
from billing_rules.domain.lookalike import closest_code, latin_twin, one_edit_away
from billing_rules.dsl.program import DslRule
from billing_rules.engines.row.windows import WindowStore
from billing_rules.errors import RuleCompileError
from billing_rules.model import Event, Finding, Severity
from billing_rules.rule import Hit
from billing_rules.testing import build_validator, check, make_events

NBSP = "\u00a0"
COLUMNS = (
    "invoice_id",
    "date",
    "time",
    "practitioner_id",
    "patient_id",
    "birth_date",
    "ald",
    "mt_status",
    "declares_mt",
    "place",
    "codes",
    "regulated",
    "amount",
)
# A legal reference names an article, a decision, an avenant, a convention or a date.
REFERENCE = re.compile(
    r"(art\.|Décision|Avenant|[Aa]venant|[Cc]onvention|[Rr]èglement|NGAP|\d{2}/\d{2}/\d{4})"
)


def write_csv(path: Path, rows: Sequence[dict[str, str]], defaults: dict[str, str] | None = None) -> str:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(COLUMNS)
        for row in rows:
            merged = {**(defaults or {}), **row}
            writer.writerow([merged.get(column, "") for column in COLUMNS])
    return str(path)


def run(*args: str) -> object:
    return CliRunner().invoke(cli.main, list(args), catch_exceptions=False)


# --- every built-in rule has a citation and an action -------------------------------------------


def test_every_builtin_rule_has_a_citation_and_an_action(builtin_validator: Validator) -> None:
    rules = builtin_validator.rules
    assert len(rules) >= 33
    for info in rules:
        assert info.citation.strip(), f"{info.code}: no citation"
        assert REFERENCE.search(info.citation), f"{info.code}: {info.citation!r} cites no text"
        assert info.action.strip(), f"{info.code}: no action"
    # The compiled rules hand the same citation to every finding.
    for rule in builtin_validator.ruleset.rules:
        assert getattr(rule, "citation", ""), rule.code


def test_every_finding_of_the_example_week_is_actionable(builtin_validator: Validator) -> None:
    week = Path(__file__).parents[1] / "examples" / "week-2026-01.csv"
    report = builtin_validator.check_paths([str(week)])
    intent = tomllib.loads(week.with_suffix(".expected.toml").read_text(encoding="utf-8"))
    assert len(report.findings) == intent["errors"] + intent["warnings"] + intent["opportunities"]
    for finding in report.findings:
        assert finding.citation and REFERENCE.search(finding.citation), finding.rule
        assert finding.action and "{" not in finding.action, (finding.rule, finding.action)
    # An error's action gives the corrected coding, rendered for the invoice.
    snp = next(f for f in report.findings if f.rule == "SNP-WEEK")
    assert snp.action is not None and snp.action.startswith("facturer G au lieu de G+SNP")


# --- the DSL action clause ----------------------------------------------------------------------


def test_action_clause_renders_placeholders_and_the_recoding(tmp_path: Path) -> None:
    rules = tmp_path / "t.rules"
    rules.write_text(
        'rule X-VL error "VL le {date}"\n'
        '  source "NGAP art. 15.2.3"\n'
        '  action VG instead of VL "facturer {recoded} au lieu de {codes} (acte du {date})"\n'
        "  on VL\n"
        "end\n"
        'rule X-SNP error "SNP"\n'
        '  action without SNP, MD "facturer {recoded}"\n'
        "  on SNP\n"
        "end\n",
        encoding="utf-8",
    )
    validator = build_validator([rules])
    report = check(validator, [{"codes": "VL+MD", "date": "2026-01-05"}, {"codes": "G+SNP+MD"}])
    by_rule = {finding.rule: finding for finding in report.findings if finding.rule.startswith("X-")}
    assert by_rule["X-VL"].message == "VL le 05/01/2026"
    assert by_rule["X-VL"].action == "facturer VG+MD au lieu de VL+MD (acte du 05/01/2026)"
    assert by_rule["X-VL"].citation == "NGAP art. 15.2.3"
    assert by_rule["X-SNP"].action == "facturer G"
    assert by_rule["X-SNP"].citation is None  # a rule without ``source``: null (SPEC §2)


@pytest.mark.parametrize(
    ("clause", "error"),
    [
        ('action "facturer {recoded}"', "« {recoded} » demande un codage corrigé"),
        ('action "faire {jour}"', "variable « {jour} » inconnue dans l'action"),
        ('action "faire {date:>9}"', "ni format ni conversion dans une action"),
        ('action "faire {"', "texte de l'action mal formé"),
        ('action VG instead of NOPE "x"', "code inconnu « NOPE »"),
        ("amount tariff(G) per month", "seul « per year » est possible"),
    ],
)
def test_action_and_yearly_amount_errors_are_located(tmp_path: Path, clause: str, error: str) -> None:
    rules = tmp_path / "t.rules"
    rules.write_text(f'rule X error "m"\n  on G\n  {clause}\nend\n', encoding="utf-8")
    with pytest.raises(RuleCompileError) as caught:
        build_validator([rules])
    assert error in str(caught.value)
    assert f"{rules}:3:" in str(caught.value)


def test_rules_show_prints_reference_and_action() -> None:
    result = run("rules", "show", "VL-QUARTER", "--no-plugins")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    out = result.stdout  # type: ignore[attr-defined]
    assert "Référence : Avenant 9 (en vigueur le 01/04/2022), NGAP art. 15.2.3" in out
    # Two alternatives, each under its condition, with the coding it corrects to.
    assert "À faire  : selon la facture, la première dont la condition tient :" in out
    assert "    - si not at_home : facturer {recoded} au lieu de {codes}" in out
    assert "      codage corrigé : G au lieu de VL, MD" in out
    assert "    - sinon : facturer {recoded} au lieu de {codes}" in out
    assert "      codage corrigé : VG au lieu de VL" in out


def test_rules_check_warns_about_a_rule_without_citation_or_action(tmp_path: Path) -> None:
    rules = tmp_path / "nos-regles.rules"
    rules.write_text(
        'rule X-BARE error "m"\n  on G\nend\n'
        'rule X-FULL error "m"\n  source "NGAP art. 1"\n  action "conserver le justificatif"\n  on G\nend\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli.main, ["rules", "check", str(rules)])
    assert result.exit_code == 0, result.output  # a warning, not an error
    assert "règles valides : 2 règles" in result.stdout
    assert f"avertissement : {rules}:1 : règle X-BARE sans référence" in result.stderr
    assert f"avertissement : {rules}:1 : règle X-BARE sans action" in result.stderr
    assert "X-FULL" not in result.stderr


# --- Python and plugin rules ------------------------------------------------------------------


@attrs.frozen
class _PluginRule:
    code: str = "ZZ-PLUGIN"
    severity: Severity = Severity.WARNING
    source: str = "zz"
    triggers: frozenset[str] | None = frozenset({"G"})

    def check(self, event: Event, history: object) -> list[Hit]:
        return [Hit(message="vu")]


@attrs.frozen
class _CitingRule(_PluginRule):
    code: str = "ZZ-CITING"
    citation: str = "NGAP art. 99"
    action: str = "conserver le compte rendu"


def _rules_plugin(*rules: object) -> object:
    from billing_rules import hookimpl

    class Plugin:
        @hookimpl
        def register_rules(self, register) -> None:  # type: ignore[no-untyped-def]
            for rule in rules:
                register(rule)

    return Plugin()


def test_plugin_rules_declare_citation_and_action_or_get_null() -> None:
    validator = build_validator(plugins=[_rules_plugin(_PluginRule(), _CitingRule())])
    report = check(validator, [{"codes": "G"}])
    by_rule = {finding.rule: finding for finding in report.findings}
    assert (by_rule["ZZ-PLUGIN"].citation, by_rule["ZZ-PLUGIN"].action) == (None, None)
    assert by_rule["ZZ-CITING"].citation == "NGAP art. 99"
    assert by_rule["ZZ-CITING"].action == "conserver le compte rendu"
    data = json.loads(validator.render(report, "json") or "")
    entry = next(item for item in data["findings"] if item["rule"] == "ZZ-PLUGIN")
    assert entry["citation"] is None and entry["action"] is None


# --- windows ------------------------------------------------------------------------------------


def test_window_first_invoice_in_json_from_the_input(builtin_validator: Validator) -> None:
    events = make_events(
        {"invoice_id": "V-1", "date": "2024-02-05", "practitioner_id": "B"},
        {"invoice_id": "V-2", "date": "2024-03-20", "practitioner_id": "A"},
        patient_id="P1",
        birth_date="1938-06-20",
        ald="oui",
        mt_status="self",
        place="domicile",
        codes="VL+MD",
    )
    report = builtin_validator.check_events(events)
    data = json.loads(builtin_validator.render(report, "json") or "")
    (vl,) = [finding for finding in data["findings"] if finding["rule"] == "VL-QUARTER"]
    assert vl["window"] == {
        "first_invoice_id": "V-1",
        "first_date": "2024-02-05",
        "first_practitioner_id": "B",
        "count": 2,
        "limit": 1,
        "period": "quarter",
    }
    assert vl["date"] == "2024-03-20"  # contract fields stay ISO
    assert all("window" not in finding for finding in data["findings"] if finding["rule"] != "VL-QUARTER")


def test_window_store_names_the_earliest_invoice_whatever_the_order(builtin_validator: Validator) -> None:
    rule = next(rule for rule in builtin_validator.ruleset.rules if rule.code == "VL-QUARTER")
    assert isinstance(rule, DslRule) and rule.frequency is not None
    counter = rule.frequency.counter
    common = {
        "patient_id": "P1",
        "birth_date": "1938-06-20",
        "ald": "oui",
        "mt_status": "self",
        "codes": "VL",
    }
    later, earlier, same_day, now = make_events(
        {"invoice_id": "H-LATE", "date": "2024-03-01"},
        {"invoice_id": "H-EARLY", "date": "2024-01-10", "practitioner_id": "B"},
        {"invoice_id": "H-SAME", "date": "2024-01-10"},
        {"invoice_id": "NOW", "date": "2024-02-01"},
        **common,
    )
    store = WindowStore()
    for event in (later, earlier, same_day):  # the ledger's rows come in no particular order
        store.add(counter, event)
    (count,) = store.count(counter, now)
    assert (count.count, count.first_invoice_id, count.first_practitioner_id, count.first_date) == (
        4,
        "H-EARLY",  # the earliest date; on the same date, the one counted first
        "B",
        dt.date(2024, 1, 10),
    )


def test_rolling_window_first_invoice_follows_the_window(builtin_validator: Validator) -> None:
    rows = [
        {"invoice_id": "F1", "date": "2023-02-01"},
        {"invoice_id": "F2", "date": "2024-01-15"},
        {"invoice_id": "F3", "date": "2024-02-15"},
        {"invoice_id": "F4", "date": "2024-03-10"},
    ]
    events = make_events(
        *rows, patient_id="P1", birth_date="1970-04-12", ald="oui", mt_status="none", codes="G"
    )
    report = builtin_validator.check_events(events)
    (declare,) = [finding for finding in report.findings if finding.rule == "OPP-MT-DECLARE"]
    # F1 is more than 12 months before F3 and F4: F4 is the 3rd, its window starts at F2.
    assert declare.invoice_id == "F4"
    assert declare.window is not None
    assert (declare.window.first_invoice_id, declare.window.first_date) == ("F2", dt.date(2024, 1, 15))
    assert declare.window.period == "12 months" and declare.window.limit is None


# --- yearly forfaits ----------------------------------------------------------------------------


def test_opp_mt_declare_is_summed_in_yearly_revenue_missed(builtin_validator: Validator) -> None:
    events = make_events(
        {"invoice_id": "F1", "date": "2025-01-15"},
        {"invoice_id": "F2", "date": "2025-04-15"},
        {"invoice_id": "F3", "date": "2025-09-15", "amount": "26.50"},
        patient_id="P1",
        birth_date="1970-04-12",
        ald="oui",
        mt_status="none",
        codes="G",
    )
    report = builtin_validator.check_events(events)
    rules = sorted(finding.rule for finding in report.findings)
    assert rules == ["AMOUNT-BELOW", "OPP-MT-DECLARE"]
    summary = report.summary
    assert summary.yearly_revenue_missed == Decimal("46.00")  # FPMT 2025, ALD under 80
    assert summary.missed_revenue == Decimal("3.50")  # G 30 - 26.50: the day's money only
    data = json.loads(builtin_validator.render(report, "json") or "")
    assert data["summary"]["yearly_revenue_missed"] == 46.0
    assert data["summary"]["missed_revenue"] == 3.5
    text = builtin_validator.render(report, "text") or ""
    assert re.search(r"Forfaits annuels manqués *: 46,00\xa0€ par an", text)
    assert re.search(r"Manque à gagner *: *3,50\xa0€", text)
    assert "(manque à gagner : 46,00\xa0€ par an)" in text
    html = builtin_validator.render(report, "html") or ""
    assert f'id="total-yearly">46,00{NBSP}€<' in html
    assert f'id="total-missed">3,50{NBSP}€<' in html


# --- French dates and euros in human text ---------------------------------------------------------


def test_messages_and_suggestions_use_french_dates_and_euros(builtin_validator: Validator) -> None:
    report = check(
        builtin_validator,
        [
            {"invoice_id": "F1", "date": "2025-01-10", "codes": "G", "amount": "26.50"},
            {
                "invoice_id": "F2",
                "date": "2025-11-15",
                "codes": "GL1",
                "birth_date": "1930-01-01",
                "mt_status": "self",
            },
        ],
    )
    below = next(f for f in report.findings if f.rule == "AMOUNT-BELOW")
    assert below.suggestion == f"30,00{NBSP}€"
    assert "le 10/01/2025" in below.message
    assert below.action is not None and f"facturer 30,00{NBSP}€ pour G" in below.action
    code_date = next(f for f in report.findings if f.rule == "CODE-DATE")
    assert code_date.message == "GL1 n'existe pas à la date du 15/11/2025 (GL1 : à partir du 01/01/2026)"
    assert code_date.action is not None and "facturer G au lieu de GL1" in code_date.action
    assert code_date.date == dt.date(2025, 11, 15)
    for finding in report.findings:
        assert not re.search(r"\d{4}-\d{2}-\d{2}", finding.message + (finding.action or "")), finding


# --- CODE-UNKNOWN -------------------------------------------------------------------------------


KNOWN = dict.fromkeys("G GS C IMT MD VL VG V VSP SNP MOP MEG DE DA FORFAIT-C2S".split())


@pytest.mark.parametrize(
    ("code", "meant"),
    [
        ("MDD", "MD"),  # one letter extra
        ("VGG", "VG"),
        ("GG", "G"),  # a key pressed twice: the code it repeats, before GS one letter wrong
        ("CC", "C"),
        ("VV", "V"),
        ("DM", "MD"),  # swapped first, before the substitutions DA / DE
        ("IMY", "IMT"),  # one letter wrong
        ("SN", "SNP"),  # one letter missing
        ("XYZ", None),
        ("FORFAIT-C2", None),  # pseudo-codes are never suggested
    ],
)
def test_one_edit_away(code: str, meant: str | None) -> None:
    assert one_edit_away(code, KNOWN) == meant


def test_one_edit_away_is_deterministic() -> None:
    # GX is one substitution from G? No: one deletion from G, one substitution from GS: GS first.
    assert one_edit_away("GX", KNOWN) == "GS"
    assert one_edit_away("GX", list(reversed(list(KNOWN)))) == "GS"


def test_one_edit_away_prefers_a_code_valid_and_certain_on_the_acts_date() -> None:
    """GS is UNCERTAIN after 2024-12-22 (ngap-facts.md §1.6): a typo of G is not sent there."""
    from billing_rules.domain.tariffs import CodeInfo

    doubtful = {"GS": dt.date(2024, 12, 22)}
    before, after = dt.date(2024, 12, 21), dt.date(2024, 12, 22)
    assert one_edit_away("GX", KNOWN, day=before, doubtful=doubtful) == "GS"  # one letter wrong first
    assert one_edit_away("GX", KNOWN, day=after, doubtful=doubtful) == "G"
    assert one_edit_away("GG", KNOWN, day=before, doubtful=doubtful) == "G"
    # A code that does not exist on the act's date is not suggested while another one fits.
    # VSL: VSP one letter wrong, VL one letter extra; VSP exists from 2023-11-01.
    dated = {**KNOWN, "VSP": CodeInfo("VSP", periods=((dt.date(2023, 11, 1), None),))}
    assert one_edit_away("VSL", dated, day=dt.date(2023, 10, 31)) == "VL"
    assert one_edit_away("VSL", dated, day=dt.date(2023, 11, 1)) == "VSP"
    assert one_edit_away("VSL", dated) == "VSP"  # no date: the likelier typo
    # Deterministic whatever the order of the code table.
    reverse = dict(reversed(list(dated.items())))
    assert one_edit_away("GX", reverse, day=after, doubtful=doubtful) == "G"
    assert closest_code("GX", KNOWN, day=after, doubtful=doubtful) == ("vouliez-vous dire G ?", "G", None)
    assert closest_code("GX", KNOWN, day=before, doubtful=doubtful)[1] == "GS"  # not the memo's G


def test_lookalike_characters_are_named() -> None:
    assert latin_twin("\u0422") == ("T", "cyrillique")
    assert latin_twin("\u039c") == ("M", "grec")
    assert latin_twin("T") is None
    hint, meant, _ = closest_code("IM\u0422", KNOWN)
    assert meant == "IMT"
    assert hint == "le caractère « \u0422 » (cyrillique) ressemble à « T » : vouliez-vous dire IMT ?"


def test_code_unknown_says_what_was_meant(builtin_validator: Validator) -> None:
    report = check(
        builtin_validator, [{"codes": "G+MEGG"}, {"codes": "IM\u0422", "ald": "oui"}, {"codes": "QQQQ"}]
    )
    messages = [f.message for f in report.findings if f.rule == "CODE-UNKNOWN"]
    assert messages == [
        "code(s) inconnu(s) de la nomenclature chargée : MEGG (vouliez-vous dire MEG ?)",
        "code(s) inconnu(s) de la nomenclature chargée : IM\u0422 (le caractère « \u0422 » (cyrillique) "
        "ressemble à « T » : vouliez-vous dire IMT ?)",
        "code(s) inconnu(s) de la nomenclature chargée : QQQQ",
    ]
    actions = [f.action for f in report.findings if f.rule == "CODE-UNKNOWN"]
    assert actions[0] == "corriger le code : facturer G+MEG au lieu de G+MEGG"
    assert actions[1] == "corriger le code : facturer IMT au lieu de IM\u0422"
    assert actions[2] is not None and actions[2].startswith("vérifier le code")


# --- the text report ----------------------------------------------------------------------------


def test_text_report_prints_reference_action_and_first_invoice(builtin_validator: Validator) -> None:
    events = make_events(
        {"invoice_id": "F-2026-0012", "date": "2026-01-03", "practitioner_id": "B"},
        {"invoice_id": "F-2026-0044", "date": "2026-02-10", "practitioner_id": "A"},
        patient_id="P-SECRET",
        birth_date="1938-06-20",
        ald="oui",
        mt_status="self",
        place="domicile",
        codes="VL+MD",
    )
    text = builtin_validator.render(builtin_validator.check_events(events), "text") or ""
    lines = [re.sub(r"\s+", " ", line).strip() for line in text.splitlines()]
    assert (
        "Fenêtre : 2e VL du trimestre (au plus 1) : la 1re est la facture F-2026-0012 du 03/01/2026, Dr B"
    ) in lines
    assert any(line.startswith("Référence : Avenant 9 (en vigueur le 01/04/2022)") for line in lines)
    assert (
        "À faire : facturer VG+MD au lieu de VL+MD : la VL de ce trimestre a déjà été facturée le 03/01/2026"
    ) in lines


# --- explain ------------------------------------------------------------------------------------


def test_finding_explain_in_the_api(builtin_validator: Validator) -> None:
    events = make_events(
        {"invoice_id": "V-1", "date": "2024-02-05", "practitioner_id": "B"},
        {"invoice_id": "V-2", "date": "2024-03-20", "practitioner_id": "A"},
        patient_id="P-SECRET",
        birth_date="1938-06-20",
        ald="oui",
        mt_status="self",
        place="domicile",
        codes="VL+MD",
    )
    (finding,) = [f for f in builtin_validator.check_events(events).findings if f.rule == "VL-QUARTER"]
    explanation = finding.explain()
    facts = dict(explanation.facts)
    assert facts["âge le jour de l'acte"] == "85 ans"
    assert facts["en ALD"] == "oui"
    assert facts["médecin traitant déclaré avant l'acte"] == "vous (le praticien qui facture)"
    assert facts["codes facturés"] == "VL+MD"
    assert explanation.window_line() == (
        "2e VL du trimestre (au plus 1) : la 1re est la facture V-1 du 05/02/2024, Dr B"
    )
    text = str(explanation)
    assert "Référence : Avenant 9" in text and "À faire : facturer VG+MD au lieu de VL+MD" in text
    assert "P-SECRET" not in text and "1938" not in text and "20/06" not in text


def test_finding_explain_without_facts() -> None:
    finding = Finding(
        rule="X",
        severity=Severity.WARNING,
        message="m",
        invoice_id="F",
        practitioner_id="1",
        patient_id="P",
        date=dt.date(2024, 1, 2),
    )
    assert str(finding.explain()) == "X (alerte) : m"


VL_DEFAULTS = {
    "patient_id": "P-SECRET-1",
    "birth_date": "1938-06-20",
    "ald": "oui",
    "mt_status": "self",
    "place": "domicile",
    "codes": "VL+MD",
}


def _record(ledger: Path, path: str) -> None:
    result = CliRunner().invoke(
        cli.main, ["check", path, "--ledger", str(ledger), "--record", "--fail-on", "never", "--no-plugins"]
    )
    assert result.exit_code == 0, result.output


def _explain(path: str, invoice: str, ledger: Path) -> str:
    result = CliRunner().invoke(cli.main, ["explain", path, invoice, "--ledger", str(ledger), "--no-plugins"])
    assert result.exit_code == 0, result.output
    return result.stdout


def _private(out: str) -> None:
    assert "P-SECRET" not in out
    assert "1938" not in out and "1970" not in out and "1960" not in out  # no birth date


def test_explain_vl_quarter_from_the_ledger(tmp_path: Path) -> None:
    ledger = tmp_path / "cabinet.sqlite"
    january = write_csv(
        tmp_path / "janvier.csv",
        [{"invoice_id": "F-2026-0012", "date": "2026-01-03", "practitioner_id": "B"}],
        VL_DEFAULTS,
    )
    _record(ledger, january)
    february = write_csv(
        tmp_path / "fevrier.csv",
        [{"invoice_id": "F-2026-0044", "date": "2026-02-10", "practitioner_id": "A"}],
        VL_DEFAULTS,
    )
    out = _explain(february, "F-2026-0044", ledger)
    assert out.startswith(
        "Facture F-2026-0044 du 10/02/2026 — praticien A\n\n"
        "VL-QUARTER (erreur) : VL déjà facturée ce trimestre pour ce patient (le 03/01/2026)"
    )
    assert "- âge le jour de l'acte : 87 ans" in out
    assert "- en ALD : oui" in out
    assert "- médecin traitant déclaré avant l'acte : vous (le praticien qui facture)" in out
    assert "2e VL du trimestre (au plus 1) : la 1re est la facture F-2026-0012 du 03/01/2026, Dr B" in out
    assert "Factures comptées dans la fenêtre (2) :" in out
    assert "- facture F-2026-0012 du 03/01/2026, Dr B (registre)" in out
    assert "- facture F-2026-0044 du 10/02/2026, Dr A (cette facture)" in out
    assert "Référence : Avenant 9 (en vigueur le 01/04/2022), NGAP art. 15.2.3" in out
    assert "À faire : facturer VG+MD au lieu de VL+MD" in out
    _private(out)


def test_explain_snp_week_from_the_ledger(tmp_path: Path) -> None:
    ledger = tmp_path / "cabinet.sqlite"
    defaults = {
        "practitioner_id": "D",
        "birth_date": "1970-01-01",
        "mt_status": "other",
        "codes": "G+SNP",
        "regulated": "oui",
    }
    days = ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07"]
    week = [
        {
            "invoice_id": f"H{index:02d}",
            "date": days[index % 4],
            "time": f"{9 + index // 4}:00",
            "patient_id": f"P-SECRET-{index}",
        }
        for index in range(20)
    ]
    _record(ledger, write_csv(tmp_path / "semaine.csv", week, defaults))
    friday = write_csv(
        tmp_path / "vendredi.csv",
        [{"invoice_id": "F-21", "date": "2024-03-08", "time": "10:00", "patient_id": "P-SECRET-99"}],
        defaults,
    )
    out = _explain(friday, "F-21", ledger)
    assert "\nSNP-WEEK (erreur) : 21e majoration SNP de la semaine pour ce praticien" in out
    assert "21e SNP de la semaine (au plus 20) : la 1re est la facture H00 du 04/03/2024, Dr D" in out
    assert "Factures comptées dans la fenêtre (21) :" in out
    assert "- facture H00 du 04/03/2024, Dr D (registre)" in out
    assert out.index("facture H00 du") < out.index("facture H01 du") < out.index("facture H03 du")
    assert "- facture F-21 du 08/03/2024, Dr D (cette facture)" in out
    assert "À faire : facturer G au lieu de G+SNP" in out
    assert "Référence : NGAP art. 14.1.3" in out
    _private(out)


def test_explain_imt_once_from_the_ledger(tmp_path: Path) -> None:
    ledger = tmp_path / "cabinet.sqlite"
    defaults = {
        "patient_id": "P-SECRET-IMT",
        "birth_date": "1960-05-01",
        "ald": "oui",
        "mt_status": "none",
        "codes": "IMT",
        "declares_mt": "oui",
    }
    _record(
        ledger,
        write_csv(
            tmp_path / "2023.csv",
            [{"invoice_id": "I-1", "date": "2023-06-12", "practitioner_id": "B"}],
            defaults,
        ),
    )
    # Another patient's IMT in the ledger must not appear in the window.
    _record(
        ledger,
        write_csv(
            tmp_path / "autre.csv",
            [
                {
                    "invoice_id": "I-OTHER",
                    "date": "2023-07-01",
                    "practitioner_id": "B",
                    "patient_id": "P-SECRET-2",
                }
            ],
            defaults,
        ),
    )
    path = write_csv(
        tmp_path / "2025.csv", [{"invoice_id": "I-2", "date": "2025-03-03", "practitioner_id": "A"}], defaults
    )
    out = _explain(path, "I-2", ledger)
    assert "\nIMT-ONCE (erreur) : IMT déjà facturée pour ce patient le 12/06/2023" in out
    assert "2e IMT de tout l'historique (au plus 1) : la 1re est la facture I-1 du 12/06/2023, Dr B" in out
    assert "- facture I-1 du 12/06/2023, Dr B (registre)" in out
    assert "I-OTHER" not in out
    assert "- âge le jour de l'acte" not in out  # IMT-ONCE reads no age
    assert (
        "À faire : facturer G au lieu de IMT : l'IMT de ce patient a déjà été facturée le 12/06/2023" in out
    )
    _private(out)


def test_explain_an_invoice_without_findings_or_absent(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "jour.csv",
        [
            {
                "invoice_id": "F1",
                "date": "2026-01-05",
                "patient_id": "P",
                "practitioner_id": "1",
                "birth_date": "1970-01-01",
                "codes": "G",
            }
        ],
    )
    result = CliRunner().invoke(cli.main, ["explain", path, "F1", "--no-plugins"])
    assert result.exit_code == 0 and result.stdout == "Aucun constat sur la facture F1.\n"
    result = CliRunner().invoke(cli.main, ["explain", path, "F9", "--no-plugins"])
    assert result.exit_code == 2
    assert "facture « F9 » absente du fichier" in result.stderr


def test_explain_writes_to_an_owner_only_file(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "jour.csv",
        [
            {
                "invoice_id": "F1",
                "date": "2026-01-05",
                "practitioner_id": "1",
                "birth_date": "1970-01-01",
                "patient_id": "P",
                "codes": "G+MDD",
            }
        ],
    )
    report = tmp_path / "explication.txt"
    result = CliRunner().invoke(cli.main, ["explain", path, "F1", "--no-plugins", "-o", str(report)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "CODE-UNKNOWN (alerte) : code(s) inconnu(s) de la nomenclature chargée : MDD" in report.read_text(
        encoding="utf-8"
    )
    assert report.stat().st_mode & 0o077 == 0


def test_explain_reads_the_file_as_check_does(tmp_path: Path) -> None:
    """A file ``check`` reads with ``--column`` and ``--lines`` is explained with the same options."""
    path = tmp_path / "export.csv"
    path.write_text(
        "Réf;date;practitioner_id;patient_id;birth_date;ald;mt_status;code;amount\n"
        "F1;2026-01-05;1;P;1970-01-01;non;self;G;30.00\n"
        "F1;2026-01-05;1;P;1970-01-01;non;self;IMT;60.00\n",
        encoding="utf-8",
    )
    options = ["--column", "invoice_id=Réf", "--lines", "--no-plugins"]
    checked = CliRunner().invoke(cli.main, ["check", str(path), "--format", "json", *options])
    rules = {finding["rule"] for finding in json.loads(checked.stdout)["findings"]}
    assert "IMT-ALD" in rules
    explained = CliRunner().invoke(cli.main, ["explain", str(path), "F1", *options])
    assert explained.exit_code == 0, explained.stderr
    assert "\nIMT-ALD (erreur) : " in explained.stdout
    unmapped = CliRunner().invoke(cli.main, ["explain", str(path), "F1", "--no-plugins"])
    assert unmapped.exit_code == 2
    assert "invoice_id" in unmapped.stderr


def test_code_unknown_suggests_g_for_a_doubled_g_on_both_engines(tmp_path: Path, engine: str) -> None:
    """GG is G pressed twice: the corrected coding is G, never GS (UNCERTAIN from 2024-12-22)."""
    path = write_csv(
        tmp_path / "gg.csv",
        [
            {"invoice_id": "F-1", "date": "2025-03-03", "codes": "GG", "amount": "30"},
            {"invoice_id": "F-2", "date": "2025-03-04", "codes": "GX+MEG", "amount": "35"},
            {"invoice_id": "F-3", "date": "2024-03-04", "codes": "GX", "amount": "26.50"},
            {"invoice_id": "F-4", "date": "2025-03-05", "codes": "CC", "amount": "30"},
        ],
        {"practitioner_id": "101", "patient_id": "P-1", "birth_date": "2022-01-01", "mt_status": "self"},
    )
    result = CliRunner().invoke(
        cli.main,
        ["check", path, "--engine", engine, "--format", "json", "--fail-on", "never", "--isolated"],
    )
    assert result.exit_code == 0, result.output
    found = [
        (finding["invoice_id"], finding["message"].rpartition(" : ")[2], finding["action"])
        for finding in json.loads(result.stdout)["findings"]
        if finding["rule"] == "CODE-UNKNOWN"
    ]
    assert found == [
        ("F-3", "GX (vouliez-vous dire GS ?)", "corriger le code : facturer GS au lieu de GX"),
        ("F-1", "GG (vouliez-vous dire G ?)", "corriger le code : facturer G au lieu de GG"),
        ("F-2", "GX (vouliez-vous dire G ?)", "corriger le code : facturer G+MEG au lieu de GX+MEG"),
        ("F-4", "CC (vouliez-vous dire C ?)", "corriger le code : facturer C au lieu de CC"),
    ]
