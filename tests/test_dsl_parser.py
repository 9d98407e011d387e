"""The rule DSL's parser and its error messages, word for word.

An error in a rule file is read by a billing expert, not a programmer: it must say where
(``file:line:col``), show the line with a caret, and say what was expected in plain French.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing_rules.api.ruleset import RuleText, build_ruleset
from billing_rules.dsl import ast
from billing_rules.dsl.parser import MAX_NESTING, MAX_NUMBER_DIGITS, MAX_RULE_FILE_CHARS, parse
from billing_rules.errors import (
    RuleClashError,
    RuleCompileError,
    RuleFileClashError,
    RuleFileError,
    RuleSyntaxError,
)
from billing_rules.testing import make_event

# Declarations the texts under test may use; the text under test is always the file "t.rules".
BASE = """\
family consultation = G, GS
family visit = VG, VL
code G "Consultation" valid from 2017-05-01
code GS "Consultation"
code VG "Visite"
code VL "Visite longue"
code IMT "IMT" valid from 2023-05-15
tariff G 25.00 from 2017-05-01
tariff VL 60.00 from 2019-02-10
define at_home = place in (domicile, ehpad)
"""


def build(text: str, *others: str):  # type: ignore[no-untyped-def]
    texts = [RuleText(BASE, "base.rules")]
    texts += [
        RuleText(other, f"f{index}.rules", source=f"extension{index}") for index, other in enumerate(others)
    ]
    texts.append(RuleText(text, "t.rules", source="t"))
    return build_ruleset(texts)


def error_of(text: str, *others: str) -> RuleFileError:
    with pytest.raises(RuleFileError) as caught:
        build(text, *others)
    return caught.value


# --- syntax errors ---------------------------------------------------------------------------

SYNTAX_ERRORS = {
    "end of file inside a rule": (
        'rule X error "m"\n  on G\n',
        "t.rules:2:7: fin du fichier inattendue ; attendu : « , », « action », « amount », « at », « doc », "
        "« end », « example », « from », ... (il manque peut-être « end » à la règle)\n"
        "      on G\n"
        "          ^",
    ),
    "token out of place": (
        'rule X error "m"\n  when age >= 3 3\nend\n',
        't.rules:2:17: « 3 » inattendu ; attendu : un texte entre guillemets ("..."), une comparaison '
        "(<, <=, >, >=, =, !=), une période (day, week, quarter, year, months...), « ) », « + », « , », "
        "« - », « action », ...\n"
        "      when age >= 3 3\n"
        "                    ^",
    ),
    "character the language does not use": (
        'rule X error "m"\n  when age >= $\nend\n',
        "t.rules:2:15: caractère inattendu « $ » ; attendu : un code en majuscules (ex. IMT, VL-QUARTER), "
        'un nom en minuscules (champ, fonction ou famille), un nombre, un texte entre guillemets ("..."), '
        "une date AAAA-MM-JJ\n"
        "      when age >= $\n"
        "                  ^",
    ),
    "rule without end before the next one": (
        'rule A error "m"\n  on G\nrule B error "m"\nend\n',
        "t.rules:3:1: « rule » inattendu ; attendu : « , », « action », « amount », « at », « doc », "
        "« end », « example », « from », ... (il manque peut-être « end » à la règle)\n"
        '    rule B error "m"\n'
        "    ^",
    ),
    # The language's words are no names: a condition cut short before ``end`` is reported on its own
    # line, right after its last word, not at the next rule (« rule » inattendu) nor at the file's end.
    "a condition left incomplete before the rule's end": (
        'rule X error "m"\n  when age >=\nend\n\nrule Y error "n"\nend\n',
        "t.rules:2:14: il manque la suite après « >= » : « end » (ligne 3) est un mot réservé du langage, "
        "il ne peut pas servir de nom ; attendu : un code en majuscules (ex. IMT, VL-QUARTER), un nom en "
        'minuscules (champ, fonction ou famille), un nombre, un texte entre guillemets ("..."), une date '
        "AAAA-MM-JJ\n"
        "      when age >=\n"
        "                 ^",
    ),
    "a condition left incomplete at the end of the file": (
        'rule X error "m"\n  when age >= 3 and\nend\n',
        "t.rules:2:20: il manque la suite après « and » : « end » (ligne 3) est un mot réservé du langage, "
        "il ne peut pas servir de nom ; attendu : un code en majuscules (ex. IMT, VL-QUARTER), un nom en "
        'minuscules (champ, fonction ou famille), un nombre, un texte entre guillemets ("..."), une date '
        "AAAA-MM-JJ, « ( », « not »\n"
        "      when age >= 3 and\n"
        "                       ^",
    ),
    "a keyword where a value is expected": (
        'rule X error "m"\n  when age >= end\n',
        "t.rules:2:15: « end » est un mot réservé du langage, il ne peut pas servir de nom ; attendu : un "
        "code en majuscules (ex. IMT, VL-QUARTER), un nom en minuscules (champ, fonction ou famille), un "
        'nombre, un texte entre guillemets ("..."), une date AAAA-MM-JJ\n'
        "      when age >= end\n"
        "                  ^",
    ),
    "a keyword as a definition's name": (
        "define on = ald\n",
        "t.rules:1:8: « on » est un mot réservé du langage, il ne peut pas servir de nom ; attendu : un nom "
        "en minuscules (champ, fonction ou famille)\n"
        "    define on = ald\n"
        "           ^",
    ),
    "unknown severity": (
        'rule X fatal "m"\nend\n',
        "t.rules:1:8: « fatal » inattendu ; attendu : une gravité (error, warning, opportunity)\n"
        '    rule X fatal "m"\n'
        "           ^",
    ),
    "rule code in lowercase": (
        'rule imt-once error "m"\nend\n',
        "t.rules:1:6: « imt » inattendu ; attendu : un code en majuscules (ex. IMT, VL-QUARTER)\n"
        '    rule imt-once error "m"\n'
        "         ^",
    ),
    "rule without message": (
        "rule X error\n  on G\nend\n",
        't.rules:2:3: « on » inattendu ; attendu : un texte entre guillemets ("...")\n      on G\n      ^',
    ),
    "unterminated text": (
        'rule X error "m\nend\n',
        "t.rules:1:14: texte entre guillemets non fermé (le guillemet fermant doit être sur la même ligne)\n"
        '    rule X error "m\n'
        "                 ^",
    ),
    "attribute access": (
        'rule X error "m"\n  when date.year > 2020\nend\n',
        't.rules:2:12: caractère inattendu « . » ; attendu : un texte entre guillemets ("..."), une '
        "comparaison (<, <=, >, >=, =, !=), « ( », « ) », « + », « , », « - », « action », ...\n"
        "      when date.year > 2020\n"
        "               ^",
    ),
    "impossible date": (
        'rule X error "m"\n  from 2024-02-30\nend\n',
        "t.rules:2:8: date invalide « 2024-02-30 »\n      from 2024-02-30\n           ^",
    ),
    "NUL byte": (
        'rule X error "m"\n  when ald\x00\nend\n',
        't.rules:2:11: caractère inattendu U+0000 ; attendu : un texte entre guillemets ("..."), une '
        "comparaison (<, <=, >, >=, =, !=), « ( », « ) », « + », « , », « - », « action », ...\n"
        "      when ald\ufffd\n"
        "              ^",
    ),
}


@pytest.mark.parametrize("text, expected", SYNTAX_ERRORS.values(), ids=SYNTAX_ERRORS.keys())
def test_syntax_error_text(text: str, expected: str) -> None:
    error = error_of(text)
    assert isinstance(error, RuleSyntaxError)
    assert str(error) == expected


# --- semantic errors -------------------------------------------------------------------------

COMPILE_ERRORS = {
    # SPEC §2: a yearly amount is a forfait missed, summed apart; an error's or a warning's never is.
    "yearly amount on an error": (
        'rule X error "m"\n  amount 10.00 per year\nend\n',
        "t.rules:2:20: « amount ... per year » : seule une règle « opportunity » a un montant annuel (un "
        "forfait manqué, compté à part des montants de l'acte)\n"
        "      amount 10.00 per year\n"
        "                       ^",
    ),
    "yearly amount on a warning": (
        'rule X warning "m"\n  amount forfait_mt per year\nend\n',
        "t.rules:2:25: « amount ... per year » : seule une règle « opportunity » a un montant annuel (un "
        "forfait manqué, compté à part des montants de l'acte)\n"
        "      amount forfait_mt per year\n"
        "                            ^",
    ),
    # A variable that only a window (or a suggestion) fills would be empty in every finding.
    "window variable in a rule without window": (
        'rule X error "{count}e G"\n  on G\nend\n',
        "t.rules:1:1: variable « {count} » toujours vide dans le message : la règle n'a pas de fenêtre "
        "(« at most N ... » ou « the Nth ... »)\n"
        '    rule X error "{count}e G"\n'
        "    ^",
    ),
    "window variable in the action of a rule without window": (
        'rule X error "m"\n  action "revoir depuis le {first_date}"\n  on G\nend\n',
        "t.rules:2:3: variable « {first_date} » toujours vide dans l'action : la règle n'a pas de fenêtre "
        "(« at most N ... » ou « the Nth ... »)\n"
        '      action "revoir depuis le {first_date}"\n'
        "      ^",
    ),
    "limit in a rule without window": (
        'rule X warning "au plus {limit}"\n  on G\nend\n',
        "t.rules:1:1: variable « {limit} » toujours vide dans le message : la règle n'a pas de fenêtre "
        "(« at most N ... » ou « the Nth ... »)\n"
        '    rule X warning "au plus {limit}"\n'
        "    ^",
    ),
    "suggestion in a rule without suggest": (
        'rule X opportunity "m {suggestion}"\n  on G\nend\n',
        "t.rules:1:1: variable « {suggestion} » toujours vide dans le message : la règle ne suggère aucun "
        "codage (« suggest »)\n"
        '    rule X opportunity "m {suggestion}"\n'
        "    ^",
    ),
    # Without an ``amount`` clause a warning has no euros, nor an error on no code, nor an
    # opportunity that suggests no coding: « {amount} » would read « ( ) » in every finding.
    "amount in a warning without amount clause": (
        'rule X warning "m ({amount})"\n  on G\nend\n',
        "t.rules:1:1: variable « {amount} » toujours vide dans le message : un avertissement n'a pas de "
        "montant sans clause « amount »\n"
        '    rule X warning "m ({amount})"\n'
        "    ^",
    ),
    "amount in an error on no code": (
        'rule X error "m"\n  action "rembourser {amount}"\n  when age >= 80\nend\n',
        "t.rules:2:3: variable « {amount} » toujours vide dans l'action : la règle ne porte sur aucun code "
        "(« on any ») et n'a pas de clause « amount »\n"
        '      action "rembourser {amount}"\n'
        "      ^",
    ),
    "amount in an opportunity without suggest": (
        'rule X opportunity "m {amount}"\n  on G\nend\n',
        "t.rules:1:1: variable « {amount} » toujours vide dans le message : la règle ne suggère aucun "
        "codage et n'a pas de clause « amount »\n"
        '    rule X opportunity "m {amount}"\n'
        "    ^",
    ),
    "unknown field, with a hint": (
        'rule X error "m"\n  when agee >= 80\nend\n',
        "t.rules:2:8: champ inconnu « agee » ; vouliez-vous dire : age ?\n"
        "      when agee >= 80\n           ^",
    ),
    "unknown code, with a hint": (
        'rule X error "m"\n  on VLL\nend\n',
        "t.rules:2:6: code inconnu « VLL » ; vouliez-vous dire : VL ?\n      on VLL\n         ^",
    ),
    "unknown family": (
        'rule X error "m"\n  on visits\nend\n',
        "t.rules:2:6: famille de codes inconnue « visits » ; vouliez-vous dire : visit ?\n"
        "      on visits\n"
        "         ^",
    ),
    "number compared with a text": (
        'rule X error "m"\n  when age >= "x"\nend\n',
        "t.rules:2:8: comparaison impossible entre un nombre (« age ») et un texte (« x »)\n"
        '      when age >= "x"\n'
        "           ^",
    ),
    "date compared with a number": (
        'rule X error "m"\n  when date > 80\nend\n',
        "t.rules:2:8: comparaison impossible entre une date (« date ») et un nombre (« 80 »)\n"
        "      when date > 80\n"
        "           ^",
    ),
    "date plus a number": (
        'rule X error "m"\n  when date + 3 > date\nend\n',
        "t.rules:2:8: opération « + » impossible entre une date et un nombre\n      when date + 3 > date\n"
        "           ^",
    ),
    "is with a value of another kind": (
        'rule X error "m"\n  when referral_at is ald\nend\n',
        "t.rules:2:23: comparaison impossible entre une date et heure (« referral_at ») et une condition "
        "(oui/non) (« ald »)\n"
        "      when referral_at is ald\n"
        "                          ^",
    ),
    "in with a value of another kind": (
        'rule X error "m"\n  when date in (2024-01-01, 3)\nend\n',
        "t.rules:2:29: comparaison impossible entre une date (« date ») et un nombre (« 3 »)\n"
        "      when date in (2024-01-01, 3)\n"
        "                                ^",
    ),
    "number used as a condition": (
        'rule X error "m"\n  when age\nend\n',
        "t.rules:2:8: « age » n'est pas une condition (oui/non) ; comparez-le à une valeur\n      when age\n"
        "           ^",
    ),
    "unknown function, with a hint": (
        'rule X error "m"\n  when holiday()\nend\n',
        "t.rules:2:8: fonction inconnue « holiday » ; vouliez-vous dire : public_holiday ?\n"
        "      when holiday()\n"
        "           ^",
    ),
    "too many arguments": (
        'rule X error "m"\n  when tariff(G, VL) > 20\nend\n',
        "t.rules:2:8: la fonction « tariff » attend 1 argument(s), 2 donné(s)\n"
        "      when tariff(G, VL) > 20\n"
        "           ^",
    ),
    "too few arguments": (
        'rule X error "m"\n  when tariff() > 20\nend\n',
        "t.rules:2:8: la fonction « tariff » attend 1 argument(s), 0 donné(s)\n      when tariff() > 20\n"
        "           ^",
    ),
    "calendar window that does not exist": (
        'rule X error "m"\n  on VL\n  at most 1 per patient per month\nend\n',
        "t.rules:3:25: période « month » inconnue ; attendu : day, week, quarter ou year\n"
        "      at most 1 per patient per month\n"
        "                            ^",
    ),
    "rolling window in quarters": (
        'rule X error "m"\n  on VL\n  at most 1 per patient within 2 quarters\nend\n',
        "t.rules:3:25: durée « quarters » inconnue ; attendu : days, weeks, months ou years\n"
        "      at most 1 per patient within 2 quarters\n"
        "                            ^",
    ),
    "rolling window of a century and more": (
        'rule X error "m"\n  on VL\n  at most 1 per patient within 101 years\nend\n',
        "t.rules:3:25: fenêtre trop longue (100 ans au plus) ; pour tout l'historique, écrivez « ever »\n"
        "      at most 1 per patient within 101 years\n"
        "                            ^",
    ),
    "until before from": (
        'rule X error "m"\n  from 2024-01-01\n  until 2023-12-31\nend\n',
        "t.rules:3:3: la fin de validité précède son début\n      until 2023-12-31\n      ^",
    ),
    "code valid until before from": (
        "code ZZ valid from 2017-05-01 until 2016-01-01\n",
        "t.rules:1:1: la fin de validité précède son début\n"
        "    code ZZ valid from 2017-05-01 until 2016-01-01\n"
        "    ^",
    ),
    "tariff until before from": (
        "tariff ZZ 25.00 from 2017-05-01 until 2016-01-01\n",
        "t.rules:1:1: la fin du tarif précède son début\n"
        "    tariff ZZ 25.00 from 2017-05-01 until 2016-01-01\n"
        "    ^",
    ),
    "value outside a field's list": (
        'rule X error "m"\n  when mt_status is moi\nend\n',
        "t.rules:2:21: valeur « moi » inconnue ; possibles : self, other, none, unknown\n"
        "      when mt_status is moi\n"
        "                        ^",
    ),
    "patient identifier": (
        'rule X error "m"\n  when patient_id is given\nend\n',
        "t.rules:2:8: l'identifiant patient ne peut pas être lu par une règle\n"
        "      when patient_id is given\n"
        "           ^",
    ),
    "suggestion outside an opportunity": (
        'rule X error "m"\n  on G\n  suggest add VL\nend\n',
        "t.rules:3:3: seule une règle « opportunity » peut suggérer un codage\n      suggest add VL\n      ^",
    ),
    "clause twice": (
        'rule X error "m"\n  on G\n  on VL\nend\n',
        "t.rules:3:3: clause « on » répétée dans la règle X\n      on VL\n      ^",
    ),
    "unknown placeholder": (
        'rule X error "le {jour}"\nend\n',
        "t.rules:1:1: variable « {jour} » inconnue dans le message ; possibles : age, amount, code, codes, "
        "count, date, first_date, last_date, limit, suggestion\n"
        '    rule X error "le {jour}"\n'
        "    ^",
    ),
    "placeholder with a format": (
        'rule X error "le {date:>999999999}"\nend\n',
        "t.rules:1:1: variable « {date} » : ni format ni conversion dans un message\n"
        '    rule X error "le {date:>999999999}"\n'
        "    ^",
    ),
    "unbalanced brace": (
        'rule X error "le {date"\nend\n',
        "t.rules:1:1: message mal formé : accolade sans correspondance (écrivez {{ ou }} pour une accolade)\n"
        '    rule X error "le {date"\n'
        "    ^",
    ),
    "per code without on": (
        'rule X error "m"\n  at most 1 per code per day\nend\n',
        "t.rules:2:3: « per code » demande une clause « on » qui nomme les codes\n"
        "      at most 1 per code per day\n"
        "      ^",
    ),
    "scope twice": (
        'rule X error "m"\n  on G\n  at most 1 per patient and patient per day\nend\n',
        "t.rules:3:3: portée « patient » répétée\n      at most 1 per patient and patient per day\n      ^",
    ),
    "limit that is not a whole number": (
        'rule X error "m"\n  on G\n  at most 1.5 per patient per day\nend\n',
        "t.rules:3:3: nombre invalide « 1.5 » : un entier positif est attendu\n"
        "      at most 1.5 per patient per day\n"
        "      ^",
    ),
    "zeroth": (
        'rule X error "m"\n  on G\n  the 0th per patient per day\nend\n',
        "t.rules:3:3: nombre invalide « 0 » : un entier positif est attendu\n"
        "      the 0th per patient per day\n"
        "      ^",
    ),
    "duration unit": (
        'rule X error "m"\n  when act_time > referral_at + 48 quarters\nend\n',
        "t.rules:2:33: durée « quarters » inconnue ; attendu : minutes, hours, days, weeks, months ou years\n"
        "      when act_time > referral_at + 48 quarters\n"
        "                                    ^",
    ),
    "duration of more than a century": (
        'rule X error "m"\n  when act_time > referral_at + 9999999 hours\nend\n',
        "t.rules:2:33: durée trop longue (100 ans au plus)\n"
        "      when act_time > referral_at + 9999999 hours\n"
        "                                    ^",
    ),
    "function argument that is no word": (
        'rule X error "m"\n  when extra(5) is given\nend\n',
        "t.rules:2:14: la fonction « extra » attend un nom ou un texte entre guillemets\n"
        "      when extra(5) is given\n"
        "                 ^",
    ),
    "recursive definitions": (
        'define a = b\ndefine b = a\nrule X error "m"\n  when a\nend\n',
        "t.rules:2:12: définition récursive de « a »\n    define b = a\n               ^",
    ),
    "definition named like a field": (
        "define age = ald\n",
        "t.rules:1:1: « age » est déjà un champ ou une fonction\n    define age = ald\n    ^",
    ),
}


@pytest.mark.parametrize("text, expected", COMPILE_ERRORS.values(), ids=COMPILE_ERRORS.keys())
def test_compile_error_text(text: str, expected: str) -> None:
    error = error_of(text)
    assert isinstance(error, RuleCompileError)
    assert str(error) == expected


@pytest.mark.parametrize(
    "text",
    [
        'rule X warning "m ({amount})"\n  on G\n  amount 5.00\nend\n',
        'rule X error "m ({amount})"\n  on G\nend\n',
        'rule X error "m ({amount})"\n  when age >= 80\n  amount 5.00\nend\n',
        'rule X opportunity "m ({amount})"\n  on G\n  suggest VL instead of G\nend\n',
        'rule X opportunity "m ({amount})"\n  on G\n  amount 5.00\nend\n',
    ],
)
def test_amount_variable_where_a_finding_can_have_euros(text: str) -> None:
    assert "X" in {rule.code for rule in build(text).rules}


CLASHES = {
    "rule code twice in one file": (
        ('rule X error "m"\nend\n\nrule X warning "n"\nend\n',),
        't.rules:4:1: la règle X est déjà définie par t (t.rules:1)\n    rule X warning "n"\n    ^',
    ),
    "rule code in two files": (
        ('rule X error "m"\nend\n', 'rule X error "autre"\nend\n'),
        't.rules:1:1: la règle X est déjà définie par extension0 (f0.rules:1)\n    rule X error "m"\n    ^',
    ),
    "family in two files": (
        ("family visit = VG\n",),
        "t.rules:1:1: famille « visit » déclarée deux fois (déjà par base.rules:2)\n"
        "    family visit = VG\n    ^",
    ),
    "definition in two files": (
        ("define at_home = place is domicile\n",),
        "t.rules:1:1: « at_home » défini deux fois (déjà par base.rules:10)\n"
        "    define at_home = place is domicile\n"
        "    ^",
    ),
    "code in two files": (
        ('code G "encore"\n',),
        "t.rules:1:1: code « G » déclaré deux fois (déjà par builtin (base.rules:3))\n"
        '    code G "encore"\n    ^',
    ),
    "tariff row in two files": (
        ("tariff G 26.00 from 2017-05-01\n",),
        "t.rules:1:1: le tarif de G au 2017-05-01 est défini deux fois (déjà par builtin (base.rules:8))\n"
        "    tariff G 26.00 from 2017-05-01\n"
        "    ^",
    ),
}


@pytest.mark.parametrize("texts, expected", CLASHES.values(), ids=CLASHES.keys())
def test_clash_is_located(texts: tuple[str, ...], expected: str) -> None:
    text, *others = texts
    # The file under test comes last: the error points at the second declaration.
    error = error_of(text, *others)
    assert str(error) == expected
    # Callers that catch clashes as such still do.
    assert isinstance(error, RuleFileClashError)
    assert isinstance(error, RuleClashError)


def test_clash_with_the_builtin_catalogue_names_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from billing_rules.api.validator import Validator

    path = tmp_path / "mine.rules"
    path.write_text('rule IMT-ONCE error "copie"\nend\n', encoding="utf-8")
    with pytest.raises(RuleFileClashError) as caught:
        Validator.build(rule_files=[path], entry_points=False)
    assert str(caught.value).startswith(f"{path}:1:1: la règle IMT-ONCE est déjà définie par builtin (")
    assert "imt.rules:" in str(caught.value)


def test_every_error_is_located() -> None:
    for text, _ in (*SYNTAX_ERRORS.values(), *COMPILE_ERRORS.values()):
        error = error_of(text)
        assert error.path == "t.rules"
        assert error.line is not None and error.column is not None
        assert error.source_line is not None


# --- limits ----------------------------------------------------------------------------------


def test_parentheses_nesting_limit_is_located() -> None:
    depth = MAX_NESTING + 1
    text = 'rule X error "m"\n  when ' + "(" * depth + "ald" + ")" * depth + "\nend\n"
    error = error_of(text)
    assert error.message == f"parenthèses trop imbriquées (plus de {MAX_NESTING} niveaux)"
    assert (error.line, error.column) == (2, 8 + MAX_NESTING)


def test_parentheses_within_the_limit_are_fine() -> None:
    depth = 20
    ruleset = build('rule X error "m"\n  on G\n  when ' + "(" * depth + "ald" + ")" * depth + "\nend\n")
    # The parentheses change nothing: the condition is ``ald`` itself.
    rule = ruleset.rule("X")
    assert rule.condition is not None
    assert rule.condition(make_event(codes="G", ald="oui")) is True
    assert rule.condition(make_event(codes="G", ald="non")) is False


def test_parentheses_in_texts_and_comments_do_not_count() -> None:
    many = "(" * (MAX_NESTING + 10)
    ruleset = build(f'# {many}\nrule X error "{many}"\n  on G\n  doc "{many}\\" {many}"\nend\n')
    assert ruleset.rule("X").message == many


@pytest.mark.parametrize(
    "condition",
    [
        "not " * 10_000 + "ald",
        "not (" * 5_000 + "ald" + ")" * 5_000,
        "age > " + " + ".join(["1"] * 10_000),
        "(" * 10_000 + "ald" + ")" * 10_000,
    ],
    ids=["10 000 not", "10 000 not with parentheses", "10 000 additions", "10 000 parentheses"],
)
def test_deep_nesting_is_a_located_error_not_a_recursion_error(condition: str) -> None:
    error = error_of(f'rule X error "m"\n  on G\n  when {condition}\nend\n')
    assert isinstance(error, RuleSyntaxError)
    assert error.line == 3 and error.column is not None
    assert "trop imbriqué" in error.message
    # The excerpt of a huge line stays short, with the caret under the right character.
    shown = str(error).split("\n")
    assert len(shown[1]) < 120
    assert shown[2].index("^") - 4 <= 101


def test_definitions_chained_too_deep_are_located_at_the_definition() -> None:
    chain = "define d0 = ald\n" + "".join(f"define d{i} = not d{i - 1}\n" for i in range(1, 300))
    error = error_of(chain + 'rule X error "m"\n  on G\n  when d299\nend\n')
    assert error.message == "condition trop imbriquée (plus de 100 niveaux, définitions comprises)"
    assert error.line is not None and error.source_line is not None
    assert error.source_line.startswith("define d")


def test_file_size_limit() -> None:
    text = "#" + "x" * MAX_RULE_FILE_CHARS
    with pytest.raises(RuleSyntaxError) as caught:
        parse(text, "big.rules")
    assert caught.value.message == (
        f"fichier de règles trop grand ({len(text)} caractères, maximum {MAX_RULE_FILE_CHARS})"
    )
    assert (caught.value.line, caught.value.column) == (1, 1)


def test_number_size_limit() -> None:
    digits = "9" * (MAX_NUMBER_DIGITS + 1)
    error = error_of(f'rule X error "m"\n  on G\n  at most {digits} per patient ever\nend\n')
    assert str(error) == (
        f"t.rules:3:11: nombre trop grand « {digits} » ({MAX_NUMBER_DIGITS} chiffres au plus)\n"
        f"      at most {digits} per patient ever\n"
        "              ^"
    )
    error = error_of(f'rule X error "m"\n  on G\n  the {digits}th per patient ever\nend\n')
    assert error.message.startswith("nombre trop grand")
    assert (error.line, error.column) == (3, 7)


def test_unexpected_long_token_is_cut_in_the_message() -> None:
    long_text = '"' + "a" * 500 + '"'
    error = error_of(f'rule X error "m" {long_text}\nend\n')
    assert error.message.startswith('« "' + "a" * 38 + "… » inattendu")


# --- what the parser builds ------------------------------------------------------------------


def test_parse_tree_of_a_rule() -> None:
    text = (
        "# comment\n"
        'rule VL-X error "VL le {first_date}"  # trailing comment\n'
        '  source "NGAP art. 15.2.3"\n'
        '  doc "Une \\"VL\\" par trimestre"\n'
        "  from 2023-01-01\n"
        "  until 2026-12-31\n"
        "  on VL, visit\n"
        "  when age >= 80 and (ald or not palliative)\n"
        "  at most 1 per patient and practitioner per quarter counting place is domicile\n"
        '  example fires { codes = "VL", age_hint = 3, date = 2024-01-02 } after { codes = VL }\n'
        "end\n"
    )
    rule_file = parse(text, "x.rules")
    (rule,) = rule_file.declarations
    assert isinstance(rule, ast.RuleDecl)
    assert (rule.code, rule.severity, rule.message) == ("VL-X", "error", "VL le {first_date}")
    assert rule.span == ast.Span(2, 1)
    assert rule.text.startswith("rule VL-X error") and rule.text.endswith("end")
    clauses = {kind: value for kind, value, _ in rule.clauses}
    assert clauses["source"] == "NGAP art. 15.2.3"
    assert clauses["doc"] == 'Une "VL" par trimestre'
    assert clauses["from"] == dt.date(2023, 1, 1) and clauses["until"] == dt.date(2026, 12, 31)
    assert clauses["on"] == (ast.CodeRef("VL", ast.Span(7, 6)), ast.FamilyRef("visit", ast.Span(7, 10)))
    condition = clauses["when"]
    assert isinstance(condition, ast.And) and isinstance(condition.operands[1], ast.Or)
    assert isinstance(condition.operands[1].operands[1], ast.Not)
    frequency = clauses["frequency"]
    assert (frequency.kind, frequency.limit, frequency.scope) == (
        "at_most",
        Decimal(1),
        ("patient", "practitioner"),
    )
    assert (frequency.window.kind, frequency.window.period) == ("calendar", "quarter")
    assert isinstance(frequency.counting, ast.IsValue)
    example = clauses["example"]
    assert example.fires is True
    assert {name: value.value for name, value in example.row} == {
        "codes": "VL",
        "age_hint": Decimal(3),
        "date": dt.date(2024, 1, 2),
    }
    ((history_row),) = example.history
    assert list(history_row) == [("codes", "VL")]  # a bare word stays a word


def test_declarations_parse() -> None:
    rule_file = parse(
        "family f = G, GS\n"
        'code ZZ "Libellé" valid from 2020-01-01 until 2020-12-31, from 2022-01-01\n'
        'tariff ZZ 12.50 from 2020-01-01 until 2020-12-31 source "texte"\n'
        "define d = ald or palliative\n",
        "d.rules",
    )
    family, code, tariff, define = rule_file.declarations
    assert family == ast.FamilyDecl(
        "f", (ast.CodeRef("G", ast.Span(1, 12)), ast.CodeRef("GS", ast.Span(1, 15))), ast.Span(1, 1)
    )
    assert code.periods == (
        ast.Period(dt.date(2020, 1, 1), dt.date(2020, 12, 31)),
        ast.Period(dt.date(2022, 1, 1), None),
    )
    assert (tariff.amount, tariff.end, tariff.source) == (Decimal("12.50"), dt.date(2020, 12, 31), "texte")
    assert isinstance(define.cond, ast.Or)


def test_lines_are_counted_like_the_parser_counts_them() -> None:
    # A form feed or a vertical tab is not a line break for the grammar; the excerpt must show the
    # line the position refers to.
    error = error_of('rule X error "m"\x0c\n  when agee\nend\n')
    assert error.source_line == "  when agee"
    error = error_of('rule X error "m"\r\n  when agee\r\nend\r\n')
    assert str(error).endswith("      when agee\n           ^")


def test_long_line_excerpt_keeps_the_caret_under_the_fault() -> None:
    padding = " or ".join(["ald"] * 60)
    error = error_of(f'rule X error "m" on G when {padding} or agee or {padding} end\n')
    _, excerpt, caret = str(error).split("\n")
    column = caret.index("^")
    assert excerpt[column : column + 4] == "agee"
    assert excerpt.startswith("    …") and excerpt.endswith("…")


# --- reading rule files ----------------------------------------------------------------------


def test_rule_file_with_a_byte_order_mark_is_read(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bom.rules"
    path.write_bytes(b'\xef\xbb\xbfcode ZZ "Essai"\n')
    text = RuleText.from_path(path)
    assert text.text == 'code ZZ "Essai"\n'
    assert "ZZ" in build_ruleset([text]).codes
    # Texts handed over by plugins may carry one too.
    assert parse('\ufeffcode ZZ "Essai"\n', "p.rules").declarations[0].code == "ZZ"


def test_rule_file_not_in_utf8_is_located(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "latin1.rules"
    # Line 1 is UTF-8, line 2 was saved in Windows-1252.
    path.write_bytes('code ZZ "é"\n'.encode() + 'rule X error "Café"\n'.encode("cp1252"))
    with pytest.raises(RuleSyntaxError) as caught:
        RuleText.from_path(path)
    assert str(caught.value) == (
        f"{path}:2:18: octet 0xE9 illisible : enregistrez le fichier de règles en UTF-8\n"
        '    rule X error "Caf\ufffd"\n'
        "                     ^"
    )


def test_missing_rule_file_or_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuleFileError) as caught:
        RuleText.from_path(tmp_path / "absent.rules")
    assert (
        str(caught.value) == f"{tmp_path / 'absent.rules'}: fichier de règles illisible : fichier introuvable"
    )
    with pytest.raises(RuleFileError) as caught:
        RuleText.from_path(tmp_path)
    assert caught.value.message == "fichier de règles illisible : c'est un dossier, pas un fichier"


@pytest.mark.parametrize(
    ("word", "severity"),
    [
        ("erreur", "error"),
        ("alerte", "warning"),
        ("opportunité", "opportunity"),
        ("opportunite", "opportunity"),
    ],
)
def test_french_severity_words(word: str, severity: str) -> None:
    """SPEC §3: French severities wherever English ones are accepted, rule files included."""
    from billing_rules.model import Severity

    text = f'code G\nrule CAB-FR {word} "essai"\n  source "Règle interne"\n  action "rien"\n  on G\nend\n'
    declaration = parse(text).declarations[-1]
    assert isinstance(declaration, ast.RuleDecl) and declaration.severity == word
    (rule,) = build_ruleset([RuleText(text=text, path="cabinet.rules", source="cabinet.rules")]).rules
    assert rule.severity is Severity(severity)


def _reserved_words() -> list[str]:
    """The words the grammar keeps from names, read from its ``NAME`` terminal."""
    from billing_rules.dsl.grammar import grammar_text

    line = next(line for line in grammar_text().splitlines() if line.startswith("NAME:"))
    return line.split("(?!(", 1)[1].split(")", 1)[0].split("|")


def test_every_reserved_word_is_refused_as_a_name_with_its_reason() -> None:
    words = _reserved_words()
    assert {"end", "rule", "when", "and", "or", "not", "is", "in", "on", "source", "action"} <= set(words)
    for word in words:
        error = error_of(f"define {word} = ald\n")
        assert isinstance(error, RuleSyntaxError)
        assert f"« {word} » est un mot réservé du langage" in str(error), word


def test_words_that_are_also_fields_values_or_functions_stay_names() -> None:
    # ``amount`` and ``sector`` are fields, ``billed`` a status, ``tariff`` a function: not reserved.
    assert not {"amount", "sector", "billed", "tariff"} & set(_reserved_words())
    ruleset = build(
        'rule X warning "m"\n  on G\n'
        "  when amount > tariff(G) and sector is optam and status is billed\nend\n"
    )
    assert ruleset.rule("X") is not None
