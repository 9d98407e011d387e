"""Several ``action`` / ``suggest`` clauses, each but the last under ``if <condition>``.

The first alternative whose condition holds on the invoice is used, the last (unguarded) otherwise:
its text, its corrected coding, the error's amount (majorations falling with the recoding), the
opportunity's gain and the coding checked again before an opportunity is reported all follow it.
The check refuses a guarded last alternative and an unguarded one before the last, in French, at
the file, line and rule. Both engines (row, duckdb) report the same findings: the relational one
words them with the rule's own code, which chooses the alternative.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from billing_rules import cli
from billing_rules.api.ruleset import RuleText, build_ruleset
from billing_rules.api.validator import Validator
from billing_rules.dsl import ast
from billing_rules.dsl.alternatives import coding_words, order_error, written_condition
from billing_rules.dsl.parser import parse
from billing_rules.dsl.program import DslRule
from billing_rules.dsl.semantics import fingerprint
from billing_rules.errors import RuleCompileError, RuleSyntaxError

HEADER = """\
family consultation = G, GS
code G "Consultation"
code GS "Consultation"
code VG "Visite"
code VL "Visite longue"
code MD "Majoration de déplacement"
code SNP "Majoration SNP" valid from 2022-07-11
code MRT "Majoration MRT"
# SHE without a validity period here: T-SHE-DATE below is the rule that refuses an early one (a
# code's rules never judge it where it does not exist, CODE-DATE does, and it is not loaded here).
code SHE "Majoration du soir" majoration of SNP, MRT
tariff G 30.00 from 2017-05-01
tariff GS 30.00 from 2017-05-01
tariff VG 30.00 from 2017-05-01
tariff VL 60.00 from 2017-05-01
tariff MD 10.00 from 2017-05-01
tariff SNP 15.00 from 2017-05-01
tariff MRT 15.00 from 2017-05-01
tariff SHE 5.00 from 2024-12-22
define at_home = place in (domicile, ehpad)
"""

RULES = (
    HEADER
    + """
rule T-VL error "VL refusée"
  action G instead of VL, MD if not at_home "facturer {recoded} au lieu de {codes} (au cabinet)"
  action VG instead of VL "facturer {recoded} au lieu de {codes} (au domicile)"
  on VL
  when not ald
end

rule T-SNP error "SNP refusée"
  action MRT instead of SNP if mt_status is self "facturer {recoded} au lieu de {codes} (votre patient)"
  action without SNP "facturer {recoded} au lieu de {codes}"
  on SNP
  when referral_at is missing
end

rule T-SHE-DATE error "SHE avant le 22/12/2024"
  action without SHE "facturer {recoded} au lieu de {codes}"
  on SHE
  when date < 2024-12-22
end

rule T-TEXT warning "à vérifier"
  action if place is tele "vérifier la téléconsultation"
  action "vérifier l'acte"
  on G
  when ald
end

rule T-OPP opportunity "{suggestion} était facturable, soit {amount} de plus"
  action "facturer {suggestion} au lieu de {codes}"
  on consultation
  when referral_at is given and not billed SNP
  suggest add SNP, SHE if hour(referral_at) in (19, 20)
  suggest "déclarer la régulation" if mt_status is self
  suggest add SNP
end
"""
)


def _row(invoice: str, codes: str, date: str = "2025-03-04", **fields: str) -> dict[str, str]:
    row = {"invoice_id": invoice, "date": date, "practitioner_id": "10001", "patient_id": invoice}
    return row | {"birth_date": "1980-01-01", "codes": codes, "mt_status": "other"} | fields


ROWS = [
    _row("V1", "VL+MD", place="cabinet"),
    _row("V2", "VL+MD", place="domicile"),
    _row("V3", "VL+MD", place="ehpad"),
    _row("V4", "VL", place="tele"),
    _row("S1", "G+SNP+SHE", mt_status="self"),  # MRT instead: the SHE stays on it, 15
    _row("S2", "G+SNP+SHE"),  # without SNP: the SHE falls with it, 15 + 5
    _row("T1", "G", ald="oui", place="tele"),
    _row("T2", "G", ald="oui"),
    _row("O1", "G", referral_at="2025-03-04T19:00", time="19:30"),  # SNP and SHE: +20
    _row("O2", "G", referral_at="2025-03-04T18:59", time="19:30"),  # SNP alone: +15
    _row("O3", "G", referral_at="2025-03-05T20:59", date="2025-03-06", time="10:00"),  # +20
    _row("O4", "G", referral_at="2025-03-05T21:00", date="2025-03-06", time="10:00"),  # +15
    _row("O5", "G", referral_at="2025-03-04T10:00", mt_status="self"),  # a text: no amount
    # The chosen suggestion is the coding checked again: SNP+SHE before the SHE exists is a
    # T-SHE-DATE error, so no opportunity at all (the default SNP is not tried in its place).
    _row("O6", "G", referral_at="2024-12-20T19:30", date="2024-12-21", time="11:00"),
    _row("O7", "G", referral_at="2024-12-20T10:30", date="2024-12-21", time="11:00"),  # +15
]

EXPECTED = {
    ("T-VL", "V1"): ("60.00", None, "facturer G au lieu de VL+MD (au cabinet)"),
    ("T-VL", "V2"): ("60.00", None, "facturer VG+MD au lieu de VL+MD (au domicile)"),
    ("T-VL", "V3"): ("60.00", None, "facturer VG+MD au lieu de VL+MD (au domicile)"),
    ("T-VL", "V4"): ("60.00", None, "facturer G au lieu de VL (au cabinet)"),
    ("T-SNP", "S1"): ("15.00", None, "facturer G+MRT+SHE au lieu de G+SNP+SHE (votre patient)"),
    ("T-SNP", "S2"): ("20.00", None, "facturer G au lieu de G+SNP+SHE"),
    ("T-TEXT", "T1"): ("None", None, "vérifier la téléconsultation"),
    ("T-TEXT", "T2"): ("None", None, "vérifier l'acte"),
    ("T-OPP", "O1"): ("20.00", "G+SNP+SHE", "facturer G+SNP+SHE au lieu de G"),
    ("T-OPP", "O2"): ("15.00", "G+SNP", "facturer G+SNP au lieu de G"),
    ("T-OPP", "O3"): ("20.00", "G+SNP+SHE", "facturer G+SNP+SHE au lieu de G"),
    ("T-OPP", "O4"): ("15.00", "G+SNP", "facturer G+SNP au lieu de G"),
    ("T-OPP", "O5"): ("None", "déclarer la régulation", "facturer déclarer la régulation au lieu de G"),
    ("T-OPP", "O7"): ("15.00", "G+SNP", "facturer G+SNP au lieu de G"),
}


@pytest.fixture(scope="module")
def validator(tmp_path_factory: pytest.TempPathFactory) -> Validator:
    path = tmp_path_factory.mktemp("alternatives") / "alternatives.rules"
    path.write_text(RULES, encoding="utf-8")
    # Its own codes and tariffs, without the built-in catalogue (which declares them too).
    return Validator(build_ruleset([RuleText(RULES, str(path))]))


def _check(validator: Validator, engine: str) -> list[Any]:
    events = [Validator.invoice(row, seq=index) for index, row in enumerate(ROWS)]
    if engine == "row":
        return list(validator.check_events(events).findings)
    pytest.importorskip("sqlglot")
    from billing_rules.engines.relational import api

    return list(api.check_events(validator, events, engine=engine).findings)


def _key(finding: Any) -> tuple[Any, ...]:
    return (
        finding.rule,
        finding.invoice_id,
        finding.message,
        finding.amount,
        finding.suggestion,
        finding.action,
    )


def test_the_first_alternative_whose_condition_holds_is_used(validator: Validator, engine: str) -> None:
    found = {
        (f.rule, f.invoice_id): (str(f.amount), f.suggestion, f.action)
        for f in _check(validator, engine)
        if f.rule.startswith("T-")
    }
    assert found == EXPECTED


def test_the_opportunity_message_names_the_chosen_coding(validator: Validator, engine: str) -> None:
    messages = {f.invoice_id: f.message for f in _check(validator, engine) if f.rule == "T-OPP"}
    assert messages["O1"] == "G+SNP+SHE était facturable, soit 20,00\u00a0€ de plus"
    assert messages["O2"] == "G+SNP était facturable, soit 15,00\u00a0€ de plus"


def test_both_engines_report_the_same_findings(validator: Validator) -> None:
    pytest.importorskip("duckdb")
    assert [_key(f) for f in _check(validator, "duckdb")] == [_key(f) for f in _check(validator, "row")]


def test_the_rule_keeps_its_alternatives_in_order(validator: Validator) -> None:
    rules = {rule.code: rule for rule in validator.ruleset.rules if isinstance(rule, DslRule)}
    vl = rules["T-VL"]
    assert [(action.condition, action.recode and action.recode.words) for action in vl.actions] == [
        ("not at_home", "G au lieu de VL, MD"),
        ("", "VG au lieu de VL"),
    ]
    # The single-action view of former versions: the default alternative.
    assert vl.action == "facturer {recoded} au lieu de {codes} (au domicile)"
    assert vl.recode is vl.actions[-1].recode
    opp = rules["T-OPP"]
    assert [(item.condition, item.words) for item in opp.suggestions] == [
        ("hour(referral_at) in (19, 20)", "ajouter SNP, SHE"),
        ("mt_status is self", "déclarer la régulation"),
        ("", "ajouter SNP"),
    ]
    assert opp.suggestion is opp.suggestions[-1]
    # What explain shows: the fields the conditions that chose the advice read, too.
    assert "place" in vl.explains and "mt_status" in rules["T-SNP"].explains


def test_falling_majorations_per_alternative(validator: Validator) -> None:
    rule = next(rule for rule in validator.ruleset.rules if rule.code == "T-SNP")
    assert isinstance(rule, DslRule)
    majorations = validator.ruleset.environment.majorations
    # MRT instead of SNP puts back a code the SHE stands on; without SNP, the SHE may fall.
    assert [action.falling_majorations(majorations) for action in rule.actions] == [
        (),
        (("SHE", ("MRT", "SNP")),),
    ]
    assert rule.falling_majorations == (("SHE", ("MRT", "SNP")),)


# --- rules show / rules list ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shown") / "shown.rules"
    # Codes of the built-in catalogue (loaded too by the commands), so the file declares none.
    path.write_text(RULES.split("define at_home = place in (domicile, ehpad)\n", 1)[1], encoding="utf-8")
    return path


def test_rules_show_lists_the_alternatives_under_their_conditions(rules_file: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(cli.main, ["rules", "show", "T-SNP", "--rules", str(rules_file), "--no-plugins"])
    assert shown.exit_code == 0, shown.output
    assert (
        "  À faire  : selon la facture, la première dont la condition tient :\n"
        "    - si mt_status is self : facturer {recoded} au lieu de {codes} (votre patient)\n"
        "      codage corrigé : MRT au lieu de SNP\n"
        "    - sinon : facturer {recoded} au lieu de {codes}\n"
        "      codage corrigé : sans SNP\n"
        "      Majorations : le codage corrigé retire aussi SHE (majoration de MRT ou SNP) quand il ne garde "
        "aucun de ces codes\n"
    ) in shown.output
    shown = runner.invoke(cli.main, ["rules", "show", "T-OPP", "--rules", str(rules_file), "--no-plugins"])
    assert shown.exit_code == 0, shown.output
    assert (
        "  Suggère  : selon la facture, la première dont la condition tient :\n"
        "    - si hour(referral_at) in (19, 20) : ajouter SNP, SHE\n"
        "    - si mt_status is self : déclarer la régulation\n"
        "    - sinon : ajouter SNP\n"
    ) in shown.output


def test_rules_list_json_gives_every_alternative(rules_file: Path) -> None:
    import json

    result = CliRunner().invoke(
        cli.main, ["rules", "list", "--format", "json", "--rules", str(rules_file), "--no-plugins"]
    )
    assert result.exit_code == 0, result.output
    entries = {entry["code"]: entry for entry in json.loads(result.stdout)}
    assert entries["T-VL"]["action"] == "facturer {recoded} au lieu de {codes} (au domicile)"
    assert entries["T-VL"]["actions"] == [
        {
            "condition": "not at_home",
            "coding": "G au lieu de VL, MD",
            "text": "facturer {recoded} au lieu de {codes} (au cabinet)",
        },
        {
            "condition": None,
            "coding": "VG au lieu de VL",
            "text": "facturer {recoded} au lieu de {codes} (au domicile)",
        },
    ]
    assert entries["T-OPP"]["suggestions"][0] == {
        "condition": "hour(referral_at) in (19, 20)",
        "coding": "ajouter SNP, SHE",
    }
    assert entries["IMT-ONCE"]["actions"][0]["condition"] is None and entries["IMT-ONCE"]["suggestions"] == []


# --- the check's refusals -------------------------------------------------------------------------

REFUSED = {
    "last action guarded": (
        '  action without SNP if ald "facturer {recoded}"\n',
        3,
        "règle X : la dernière clause « action » a un « if »",
    ),
    "default action before the last": (
        '  action without SNP "facturer {recoded}"\n  action G instead of SNP if ald "facturer {recoded}"\n',
        3,
        "règle X : clause « action » sans « if » avant la dernière",
    ),
    "last suggestion guarded": (
        "  suggest add SNP if ald\n",
        3,
        "règle X : la dernière clause « suggest » a un « if »",
    ),
    "default suggestion before the last": (
        "  suggest add SNP\n  suggest add SNP, SHE if ald\n",
        3,
        "règle X : clause « suggest » sans « if » avant la dernière",
    ),
    "unknown field in a guard": (
        '  action without SNP if agee >= 80 "facturer {recoded}"\n  action "conserver le justificatif"\n',
        3,
        "champ inconnu « agee »",
    ),
    "{recoded} without a recoding in an alternative": (
        '  action without SNP if ald "facturer {recoded}"\n  action "facturer {recoded}"\n',
        4,
        "« {recoded} » demande un codage corrigé",
    ),
    "a code added twice": ("  suggest add SNP, SNP\n", 3, "code « SNP » répété dans la suggestion"),
    "an unknown code added": ("  suggest add SNP, SHX\n", 3, "code inconnu « SHX »"),
}


@pytest.mark.parametrize(("clauses", "line", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_the_check_refuses_alternatives_out_of_order(
    tmp_path: Path, clauses: str, line: int, message: str
) -> None:
    path = tmp_path / "ours.rules"
    path.write_text(f'rule X opportunity "m"\n  on G\n{clauses}end\n', encoding="utf-8")
    with pytest.raises(RuleCompileError) as caught:
        build_ruleset([RuleText(HEADER + path.read_text(encoding="utf-8"), str(path))])
    # The header shifts the lines: the refusal names the file, the line and the rule.
    assert f"{path}:{line + HEADER.count(chr(10))}:" in str(caught.value)
    assert message in str(caught.value)


def test_rules_check_refuses_a_guarded_last_action_naming_file_line_and_rule(tmp_path: Path) -> None:
    path = tmp_path / "ours.rules"
    path.write_text(
        'rule OURS-VL error "VL refusée"\n  on VL\n'
        '  action G instead of VL if not at_home "facturer {recoded}"\n'
        '  action VG instead of VL if at_home "facturer {recoded}"\nend\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli.main, ["rules", "check", str(path)])
    assert result.exit_code == cli.EXIT_ERROR
    assert f"{path}:4:3: règle OURS-VL : la dernière clause « action » a un « if »" in result.stderr


def test_a_suggestion_of_an_error_rule_is_refused_even_guarded(tmp_path: Path) -> None:
    text = HEADER + 'rule X error "m"\n  on G\n  suggest add SNP if ald\n  suggest add SNP\nend\n'
    with pytest.raises(RuleCompileError, match="seule une règle « opportunity » peut suggérer"):
        build_ruleset([RuleText(text, str(tmp_path / "x.rules"))])


def test_a_single_unguarded_action_and_suggestion_stay_valid() -> None:
    text = HEADER + (
        'rule X opportunity "m"\n  action "facturer {suggestion}"\n  on G\n  suggest add SNP\nend\n'
        'rule Y error "m"\n  action without SNP "facturer {recoded}"\n  on SNP\nend\n'
    )
    ruleset = build_ruleset([RuleText(text, "x.rules")])
    rules = {rule.code: rule for rule in ruleset.rules if isinstance(rule, DslRule)}
    assert len(rules["X"].suggestions) == 1 and rules["X"].suggestions[0].guard is None
    assert len(rules["Y"].actions) == 1 and rules["Y"].actions[0].condition == ""


# --- the grammar ----------------------------------------------------------------------------------


def _clauses(text: str) -> tuple[tuple[str, Any, Any], ...]:
    rule = next(decl for decl in parse(text, "t.rules").declarations if isinstance(decl, ast.RuleDecl))
    return rule.clauses


def test_a_when_after_a_suggestion_is_still_the_rule_condition() -> None:
    """``if`` guards an alternative; ``when`` after ``suggest`` keeps meaning the rule's condition."""
    clauses = _clauses('rule X opportunity "m"\n  suggest add SNP\n  when regulated\nend\n')
    assert [kind for kind, _, _ in clauses] == ["suggest", "when"]
    assert clauses[0][1].guard is None


def test_the_guard_sits_after_the_coding_and_before_the_text() -> None:
    clauses = _clauses(
        'rule X error "m"\n'
        '  action G instead of VL, MD if not at_home and ald "au cabinet"\n'
        '  action if place is tele "en téléconsultation"\n'
        '  action "sinon"\n'
        "  suggest add SNP, SHE if hour(referral_at) in (19, 20)\n"
        "  suggest VL instead of VG, V if ald\n"
        '  suggest "un texte" if ald\n'
        "  suggest add SNP\n"
        "end\n"
    )
    actions = [value for kind, value, _ in clauses if kind == "action"]
    assert [action.text for action in actions] == ["au cabinet", "en téléconsultation", "sinon"]
    assert actions[0].recode is not None and actions[0].recode.code == "G"
    assert [written_condition(a.guard) if a.guard else "" for a in actions] == [
        "not at_home and ald",
        "place is tele",
        "",
    ]
    suggestions = [value for kind, value, _ in clauses if kind == "suggest"]
    assert [coding_words(item) for item in suggestions] == [
        "ajouter SNP, SHE",
        "VL au lieu de VG, V",
        "un texte",
        "ajouter SNP",
    ]
    assert suggestions[0].added == ("SNP", "SHE") and suggestions[0].code == "SNP"
    assert [item.guard is not None for item in suggestions] == [True, True, True, False]


def test_a_guard_without_its_condition_is_a_syntax_error() -> None:
    with pytest.raises(RuleSyntaxError):
        parse('rule X error "m"\n  action without SNP if "texte"\nend\n', "t.rules")


CONDITIONS = [
    "not at_home",
    "not (ald or palliative) and age >= 80",
    "(ald or palliative) and not billed SNP, consultation",
    "mt_status in (none, other) or declares_mt",
    'specialty is not "PSY" and referral_at is given and time is missing',
    "act_time > referral_at + 48 hours and date >= 2024-12-22",
    'hour(referral_at) not in (19, 20) or extra("centre") = "a\\"b"',
    "not not ald",
]


@pytest.mark.parametrize("condition", CONDITIONS)
def test_a_written_condition_reads_back_as_the_same_condition(condition: str) -> None:
    def tree(text: str) -> Any:
        (_, cond, _), *_ = _clauses(f'rule X error "m"\n  when {text}\nend\n')
        return cond

    original = tree(condition)
    written = written_condition(original)
    assert fingerprint(tree(written)) == fingerprint(original), written


def test_order_error_accepts_the_right_order() -> None:
    span = ast.Span(1, 1)
    guard = ast.Truthy(ast.Name("ald", span), span)
    assert order_error("X", "action", []) is None
    assert order_error("X", "action", [(None, span)]) is None
    assert order_error("X", "suggest", [(guard, span), (guard, span), (None, span)]) is None
