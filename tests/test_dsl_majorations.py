"""``code SHE ... majoration of SNP, MRT``: the code is billed only on top of one of those codes.

A corrected coding (an action's ``without`` / ``instead of``, an opportunity's ``suggest ... instead
of``) that takes off every one of them takes the majoration off too, transitively; an error's
default amount adds the tariffs of the majorations that fall with its codes at risk. Both engines
give the same findings: the relational one renders texts and amounts with the rule's own code.
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
from billing_rules.dsl.parser import parse
from billing_rules.dsl.program import SuggestionSpec, without_fallen_majorations
from billing_rules.errors import RuleCompileError, RuleSyntaxError

RULES = """\
family consultation = G, GS
code G "Consultation"
code GS "Consultation"
code IMT "Consultation initiale"
code VL "Visite longue"
code SNP "Majoration SNP"
code MRT "Majoration MRT"
code DE "Dépassement"
code SHE "Majoration du soir" valid from 2024-12-22 majoration of SNP, MRT
code XTR "Majoration d'essai de la SHE" majoration of SHE
code MEG "Majoration enfant"
  majoration of consultation
tariff G 30.00 from 2017-05-01
tariff GS 30.00 from 2017-05-01
tariff IMT 60.00 from 2017-05-01
tariff VL 60.00 from 2017-05-01
tariff SNP 15.00 from 2017-05-01
tariff MRT 15.00 from 2017-05-01
tariff SHE 5.00 from 2024-12-22
tariff XTR 1.00 from 2017-05-01
tariff MEG 5.00 from 2017-05-01

rule X-WITHOUT error "SNP refusée"
  action without SNP "facturer {recoded} au lieu de {codes}"
  on SNP
  when not regulated
end

rule X-INSTEAD error "MRT pour votre patient"
  action MRT instead of SNP "facturer {recoded} au lieu de {codes}"
  on SNP
  when regulated and mt_status is self
end

rule X-WEEK error "{count}e SNP de la semaine"
  action without SNP "facturer {recoded} au lieu de {codes}"
  on SNP
  at most 1 per practitioner per week
  counting regulated and mt_status is other
end

rule X-PER-CODE error "{code} répétée dans la journée"
  action without SNP, MRT "facturer {recoded} au lieu de {codes}"
  on SNP, MRT
  at most 1 per patient and code per day
  counting regulated and mt_status is none
end

rule X-IMT error "IMT avec une SNP"
  action without SNP "facturer {recoded} au lieu de {codes}"
  on IMT
  when billed SNP
end

rule X-DE error "dépassement refusé"
  action without DE "facturer {recoded} au lieu de {codes}"
  on DE
end

rule X-OPP opportunity "VL due ({amount})"
  action "facturer {suggestion} au lieu de {codes}"
  on G
  when homebound
  suggest VL instead of G
end
"""


def _row(invoice: str, codes: str, date: str = "2025-03-04", **fields: str) -> dict[str, str]:
    row = {"invoice_id": invoice, "date": date, "practitioner_id": "10001", "patient_id": invoice}
    row |= {"birth_date": "1980-01-01", "codes": codes, "regulated": "non", "mt_status": "other"}
    return row | {"homebound": "non"} | fields


ROWS = [
    _row("F1", "G+SNP+SHE"),  # the SHE stood on the SNP alone: it falls, 15 + 5
    _row("F2", "G+SNP+MRT+SHE"),  # the MRT left carries it: 15
    _row("F3", "G+SNP+SHE+XTR"),  # XTR stood on the SHE: both fall, 15 + 5 + 1
    _row("F4", "G+SNP+SHE", date="2024-12-21"),  # no SHE tariff yet: 15, the SHE still falls
    _row("F5", "G+SNP+SHE", regulated="oui", mt_status="self"),  # MRT put instead carries it
    _row("F6", "G+SHE+DE"),  # an SHE billed on nothing stays: another rule's business
    _row("F7", "IMT+SNP+SHE", regulated="oui", mt_status="none"),  # falls with the SNP, not counted: IMT's 60
    _row("F8", "G+MEG", homebound="oui"),  # the suggestion takes G off, MEG on it: VL - G - MEG
    _row("W1", "G+SNP+SHE", date="2025-03-03", regulated="oui", patient_id="W"),
    _row("W2", "G+SNP+SHE", date="2025-03-05", regulated="oui", patient_id="W"),  # the 2nd: 20
    _row("D1", "G+SNP+SHE", regulated="oui", mt_status="none", patient_id="D"),
    _row("D2", "G+SNP+SHE", regulated="oui", mt_status="none", patient_id="D"),  # window code SNP: 20
]

EXPECTED = {
    ("X-WITHOUT", "F1"): ("20.00", "facturer G au lieu de G+SNP+SHE"),
    ("X-WITHOUT", "F2"): ("15.00", "facturer G+MRT+SHE au lieu de G+SNP+MRT+SHE"),
    ("X-WITHOUT", "F3"): ("21.00", "facturer G au lieu de G+SNP+SHE+XTR"),
    ("X-WITHOUT", "F4"): ("15.00", "facturer G au lieu de G+SNP+SHE"),
    ("X-INSTEAD", "F5"): ("15.00", "facturer G+MRT+SHE au lieu de G+SNP+SHE"),
    ("X-DE", "F6"): ("None", "facturer G+SHE au lieu de G+SHE+DE"),  # DE has no tariff here
    ("X-IMT", "F7"): ("60.00", "facturer IMT au lieu de IMT+SNP+SHE"),
    ("X-OPP", "F8"): ("25.00", "facturer VL au lieu de G+MEG"),
    ("X-WEEK", "W2"): ("20.00", "facturer G au lieu de G+SNP+SHE"),
    ("X-PER-CODE", "D2"): ("20.00", "facturer G au lieu de G+SNP+SHE"),
}


@pytest.fixture(scope="module")
def rules_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("majorations") / "majorations.rules"
    path.write_text(RULES, encoding="utf-8")
    return path


def _validator(rules_path: Path) -> Validator:
    # The file declares its own G, SNP, SHE...: without the built-in catalogue, which declares them too.
    return Validator(build_ruleset([RuleText(rules_path.read_text(encoding="utf-8"), str(rules_path))]))


def _events() -> list[Any]:
    return [Validator.invoice(row, seq=index) for index, row in enumerate(ROWS)]


def _key(finding: Any) -> tuple[Any, ...]:
    return (finding.rule, finding.invoice_id, finding.message, finding.amount, finding.suggestion) + (
        finding.action,
    )


def test_recodings_and_amounts_follow_the_majorations(rules_path: Path) -> None:
    report = _validator(rules_path).check_events(_events())
    found = {(f.rule, f.invoice_id): (str(f.amount), f.action) for f in report.findings}
    assert found == EXPECTED


def test_both_engines_agree_on_the_majorations(rules_path: Path) -> None:
    pytest.importorskip("duckdb")
    pytest.importorskip("sqlglot")
    from billing_rules.engines.relational import api

    validator = _validator(rules_path)
    row = [_key(f) for f in validator.check_events(_events()).findings]
    relational = [_key(f) for f in api.check_events(validator, _events(), engine="duckdb").findings]
    assert relational == row
    assert {(rule, invoice) for rule, invoice, *_ in row} == set(EXPECTED)


def test_without_fallen_majorations_is_transitive_and_spares_what_stood_on_nothing() -> None:
    majorations = {"SHE": frozenset({"SNP", "MRT"}), "XTR": frozenset({"SHE"})}
    billed = ("G", "SNP", "SHE", "XTR")
    assert without_fallen_majorations(billed, ("G", "SHE", "XTR"), majorations) == ("G",)
    kept = ("G", "MRT", "SHE", "XTR")
    assert without_fallen_majorations(billed, kept, majorations) == kept
    assert without_fallen_majorations(("G", "SHE"), ("G", "SHE"), majorations) == ("G", "SHE")
    assert without_fallen_majorations(billed, ("G", "SHE", "XTR"), {}) == ("G", "SHE", "XTR")
    replace = SuggestionSpec(kind="replace", code="MRT", replaced=frozenset({"SNP"}), text=None)
    assert replace.apply(("G", "SNP", "SHE"), majorations) == ("G", "MRT", "SHE")
    remove = SuggestionSpec(kind="remove", code=None, replaced=frozenset({"SNP"}), text=None)
    assert remove.apply(("G", "SNP", "SHE"), majorations) == ("G",)
    assert remove.apply(("G", "SNP", "SHE")) == ("G", "SHE")  # no majorations given: as before


# --- the declaration -----------------------------------------------------------------------------


def test_the_declaration_parses_with_or_without_label_and_dates() -> None:
    rule_file = parse(
        'code SHE "Soir" valid from 2024-12-22 majoration of SNP, MRT\n'
        "code MEG majoration of consultation\n"
        'code G "Consultation"\n',
        "t.rules",
    )
    she, meg, plain = rule_file.declarations
    assert isinstance(she, ast.CodeDecl) and she.label == "Soir" and len(she.periods) == 1
    assert [item.code for item in she.majorates] == ["SNP", "MRT"]
    assert isinstance(meg.majorates[0], ast.FamilyRef) and meg.majorates[0].name == "consultation"
    assert plain.majorates == ()


@pytest.mark.parametrize(
    "text",
    [
        "code SHE majoration SNP\n",  # "of" is part of the phrase
        "code SHE majoration of\n",  # a code or family is expected
        "code SHE majoration of SNP valid from 2024-12-22\n",  # the dates come first
    ],
)
def test_a_malformed_declaration_is_a_syntax_error(text: str) -> None:
    with pytest.raises(RuleSyntaxError):
        parse(text, "t.rules")


@pytest.mark.parametrize(
    ("text", "message", "where"),
    [
        ('code SHE "Soir" majoration of SNP, MRTT\n', "code inconnu « MRTT »", (1, 36)),
        ('code SHE "Soir" majoration of SNP, soirs\n', "famille de codes inconnue « soirs »", (1, 36)),
        ("code SHE majoration of SNP, SHE\n", "« SHE » ne peut pas être une majoration de lui-même", (1, 29)),
        ("family snp_like = SNP, SHE\ncode SHE majoration of snp_like\n", "majoration de lui-même", (2, 24)),
    ],
)
def test_the_checker_refuses_a_bad_list_where_it_is(text: str, message: str, where: tuple[int, int]) -> None:
    base = RuleText('code SNP "SNP"\ncode MRT "MRT"\n', "base.rules", source="t")
    with pytest.raises(RuleCompileError, match=message) as caught:
        build_ruleset([base, RuleText(text, "t.rules", source="t")])
    assert (caught.value.path, caught.value.line, caught.value.column) == ("t.rules", *where)


def test_a_majoration_may_name_codes_and_families_of_other_files() -> None:
    first = 'code XYZ "Majoration d\'essai" majoration of ABC, later\n'
    second = 'code ABC "Acte"\ncode DEF "Acte"\nfamily later = DEF\n'
    ruleset = build_ruleset([RuleText(first, "a.rules", source="t"), RuleText(second, "b.rules", source="t")])
    assert ruleset.environment.majorations == {"XYZ": frozenset({"ABC", "DEF"})}


SHOWN = """\
code ZSHE "Majoration d'essai" majoration of SNP, MRT
code ZXT "Majoration d'essai de ZSHE" majoration of ZSHE
rule T-SNP error "SNP refusée"
  source "Texte d'essai"
  action without SNP "facturer {recoded} au lieu de {codes}"
  on SNP
  when not regulated
  example fires { codes = "G+SNP", date = 2025-03-04 }
end
rule T-MRT error "MRT pour votre patient"
  source "Texte d'essai"
  action MRT instead of SNP "facturer {recoded} au lieu de {codes}"
  on SNP
  when mt_status is self
  example fires { codes = "G+SNP", mt_status = self, date = 2025-03-04 }
end
"""


def test_rules_check_refuses_an_unknown_code_and_rules_show_names_the_falling_majorations(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.rules"
    bad.write_text('code ZZQ "Majoration" majoration of SNPX\n', encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli.main, ["rules", "check", str(bad)])
    assert result.exit_code == cli.EXIT_ERROR and "bad.rules:1:37: code inconnu « SNPX »" in result.stderr
    good = tmp_path / "good.rules"
    good.write_text(SHOWN, encoding="utf-8")
    result = runner.invoke(cli.main, ["rules", "check", str(good)])
    assert result.exit_code == cli.EXIT_OK, result.output
    shown = runner.invoke(cli.main, ["rules", "show", "T-SNP", "--rules", str(good)])
    assert shown.exit_code == 0, shown.output
    assert (
        "Majorations : le codage corrigé retire aussi SHE (majoration de MRT ou SNP) ; ZSHE (majoration "
        "de MRT ou SNP) ; ZXT (majoration de ZSHE) quand il ne garde aucun de ces codes" in shown.output
    )
    # MRT instead of SNP puts back a code the majorations stand on: none falls.
    shown = runner.invoke(cli.main, ["rules", "show", "T-MRT", "--rules", str(good)])
    assert shown.exit_code == 0 and "Majorations :" not in shown.output
