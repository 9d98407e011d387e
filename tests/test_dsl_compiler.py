"""Every construct of the rule DSL, compiled from a small text and run over invoices.

Each test writes the few lines of DSL it needs on top of ``BASE`` (codes, families, tariffs), builds
a validator from them alone, and checks which invoices the rule flags: the construct is shown to
behave, not only to parse.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import billing_rules.api.ruleset
import billing_rules.dsl
import billing_rules.engines.row.compiler
from billing_rules.api.ruleset import RuleSet, RuleText, build_ruleset
from billing_rules.api.validator import Validator
from billing_rules.dsl.vocabulary import Function, Kind
from billing_rules.engines.row.compiler import _shift, _shift_months
from billing_rules.errors import RuleCompileError, RuleFileError
from billing_rules.model import Event, Report, Severity

BASE = """\
family consultation = G, GS
family visit = VG, VL, VSP
code G "Consultation"
code GS "Consultation"
code VG "Visite"
code VL "Visite longue" valid from 2019-02-10
code VSP "Visite soins palliatifs" valid from 2023-11-01
code MD "Majoration de déplacement"
code MEG "Majoration enfant"
code SNP "Majoration SNP"
code DE "Dépassement exceptionnel"
tariff G 25.00 from 2017-05-01
tariff G 26.50 from 2023-11-01
tariff G 30.00 from 2024-12-22
tariff GS 25.00 from 2017-05-01
tariff VG 25.00 from 2017-05-01
tariff VL 60.00 from 2019-02-10
tariff VSP 60.00 from 2023-11-01
tariff MD 10.00 from 2017-05-01
tariff MEG 5.00 from 2017-05-01
tariff SNP 15.00 from 2022-07-11 until 2022-09-30
tariff SNP 15.00 from 2022-12-09
"""

DEFAULTS: Mapping[str, Any] = {
    "date": "2024-03-04",  # a Monday
    "practitioner_id": "10001",
    "patient_id": "P-1",
    "birth_date": "1970-06-15",
    "codes": "G",
}


def validator(text: str, base: str = BASE) -> Validator:
    return Validator(build_ruleset([RuleText(base, "base.rules"), RuleText(text, "t.rules", source="t")]))


def invoices(*rows: Mapping[str, Any], **common: Any) -> list[Event]:
    """Events in input order, numbered F-1, F-2...; ``common`` applies to every row."""
    return [
        Validator.invoice({**DEFAULTS, "invoice_id": f"F-{index + 1}", **common, **row}, seq=index)
        for index, row in enumerate(rows)
    ]


def check(checker: Validator, rows: Iterable[Mapping[str, Any]], **common: Any) -> Report:
    report = checker.check_events(invoices(*rows, **common))
    assert not [finding for finding in report.findings if finding.rule == "INTERNAL-ERROR"]
    return report


def flagged(
    checker: Validator, rows: Iterable[Mapping[str, Any]], rule: str = "X", **common: Any
) -> list[str]:
    """The invoice ids ``rule`` flags, in order."""
    return [finding.invoice_id for finding in check(checker, rows, **common).findings if finding.rule == rule]


def fires(checker: Validator, rule: str = "X", **fields: Any) -> bool:
    return bool(flagged(checker, [fields], rule))


# --- conditions ------------------------------------------------------------------------------


def test_and_or_not_and_parentheses() -> None:
    checker = validator('rule X error "m"\n  on G\n  when (ald or palliative) and not homebound\nend\n')
    assert fires(checker, ald="oui")
    assert fires(checker, palliative="oui")
    assert not fires(checker, ald="oui", homebound="oui")
    assert not fires(checker)
    # Without parentheses "and" binds tighter than "or".
    loose = validator('rule X error "m"\n  on G\n  when ald or palliative and not homebound\nend\n')
    assert fires(loose, ald="oui", homebound="oui")
    assert not fires(checker, ald="oui", homebound="oui")


def test_not_not_and_chains() -> None:
    checker = validator(
        'rule X error "m"\n  on G\n  when not not ald and declares_mt and not (regulated or homebound)\nend\n'
    )
    assert fires(checker, ald="oui", declares_mt="oui")
    assert not fires(checker, ald="oui", declares_mt="oui", regulated="oui")
    assert not fires(checker, ald="oui")


@pytest.mark.parametrize(
    "field", ["ald", "palliative", "neurodegenerative", "declares_mt", "homebound", "regulated"]
)
def test_boolean_fields(field: str) -> None:
    bare = validator(f'rule X error "m"\n  on G\n  when {field}\nend\n')
    assert fires(bare, **{field: "oui"})
    assert not fires(bare, **{field: "non"})
    assert not fires(bare)  # the default is false
    compared = validator(f'rule X error "m"\n  on G\n  when {field} is non\nend\n')
    assert fires(compared) and not fires(compared, **{field: "1"})


def test_mt_status_values() -> None:
    self_only = validator('rule X error "m"\n  on G\n  when mt_status is self\nend\n')
    assert [fires(self_only, mt_status=value) for value in ("self", "other", "none", "unknown")] == [
        True,
        False,
        False,
        False,
    ]
    without = validator('rule X error "m"\n  on G\n  when mt_status in (none, other)\nend\n')
    assert [fires(without, mt_status=value) for value in ("self", "other", "none", "unknown")] == [
        False,
        True,
        True,
        False,
    ]
    not_self = validator(
        'rule X error "m"\n  on G\n  when mt_status is not self and mt_status not in (unknown)\nend\n'
    )
    assert [fires(not_self, mt_status=value) for value in ("self", "other", "none", "unknown")] == [
        False,
        True,
        True,
        False,
    ]


def test_place_and_a_define() -> None:
    checker = validator(
        'define at_home = place in (domicile, ehpad)\nrule X error "m"\n  on visit\n  when not at_home\nend\n'
    )
    assert [
        fires(checker, codes="VL", place=place) for place in ("cabinet", "domicile", "ehpad", "tele")
    ] == [
        True,
        False,
        False,
        True,
    ]
    tele = validator('rule X error "m"\n  on G\n  when place is tele\nend\n')
    assert fires(tele, place="tele") and not fires(tele, place="cabinet")


def test_define_uses_a_define() -> None:
    checker = validator(
        "define old = age >= 80\n"
        "define case_a = old and ald or neurodegenerative\n"
        'rule X error "m"\n  on G\n  when case_a\nend\n'
    )
    assert fires(checker, birth_date="1940-01-01", ald="oui")
    assert fires(checker, neurodegenerative="oui")
    assert not fires(checker, birth_date="1940-01-01")


def test_age_comparisons_on_the_birthday() -> None:
    checker = validator('rule X error "{age} ans"\n  on G\n  when age >= 80\nend\n')
    # 80 on the 80th birthday, not the day before.
    assert not fires(checker, birth_date="1944-03-05", date="2024-03-04")
    assert fires(checker, birth_date="1944-03-04", date="2024-03-04")
    (finding,) = check(checker, [{"birth_date": "1944-03-04"}]).findings
    assert finding.message == "80 ans"
    young = validator('rule X opportunity "m"\n  on G\n  when age < 6 and age != 0\nend\n')
    assert fires(young, birth_date="2019-03-05") and not fires(young, birth_date="2018-03-04")
    assert not fires(young, birth_date="2024-01-01")
    exact = validator('rule X error "m"\n  on G\n  when age = 54 or age <= 1 or age > 120\nend\n')
    assert fires(exact, birth_date="1970-01-01") and not fires(exact, birth_date="1969-01-01")


def test_dates_and_validity_clauses() -> None:
    checker = validator('rule X error "m"\n  from 2024-01-01\n  until 2024-06-30\n  on G\nend\n')
    assert [fires(checker, date=day) for day in ("2023-12-31", "2024-01-01", "2024-06-30", "2024-07-01")] == [
        False,
        True,
        True,
        False,
    ]
    compared = validator(
        'rule X error "m"\n  on G\n  when date >= 2024-03-01 and birth_date < 1950-01-01\nend\n'
    )
    assert fires(compared, date="2024-03-01", birth_date="1949-12-31")
    assert not fires(compared, date="2024-02-29", birth_date="1949-12-31")
    assert not fires(compared, date="2024-03-01", birth_date="1950-01-01")


def test_durations_given_and_missing() -> None:
    checker = validator(
        'rule X error "m"\n  on SNP\n  when referral_at is given and act_time > referral_at + 48 hours\nend\n'
        'rule Y error "m"\n  on SNP\n  when referral_at is missing\nend\n'
    )
    base = {"codes": "G+SNP", "date": "2024-03-06", "referral_at": "2024-03-04T09:30"}
    assert not fires(checker, **base, time="09:30")  # exactly 48 hours
    assert fires(checker, **base, time="09:31")
    assert fires(checker, **base)  # without time: the end of the day
    assert not fires(checker, codes="G+SNP", rule="X")
    assert fires(checker, codes="G+SNP", rule="Y") and not fires(checker, **base, rule="Y")
    months = validator('rule X error "m"\n  on G\n  when date < birth_date + 6 years - 1 months\nend\n')
    assert fires(months, birth_date="2018-03-05", date="2024-02-04")
    assert not fires(months, birth_date="2018-03-05", date="2024-02-05")


def test_codes_present_and_absent_and_on_any() -> None:
    checker = validator('rule X error "m"\n  on VG, VL\n  when billed MD and not billed VSP, DE\nend\n')
    assert fires(checker, codes="VG+MD")
    assert fires(checker, codes="VL+MD")
    assert not fires(checker, codes="VG")
    assert not fires(checker, codes="VG+MD+DE")
    assert not fires(checker, codes="G+MD")  # not triggered by G
    anything = validator('rule X warning "m"\n  on any\n  when billed DE\nend\n')
    assert fires(anything, codes="G+DE") and fires(anything, codes="VG+DE") and not fires(anything, codes="G")
    no_on = validator('rule X warning "m"\n  when specialty is PSY\nend\n')
    assert fires(no_on, codes="VG", specialty="PSY") and not fires(no_on, codes="VG")


def test_families() -> None:
    checker = validator('rule X error "{codes}"\n  on visit\n  when billed consultation\nend\n')
    assert fires(checker, codes="VG+G") and fires(checker, codes="GS+VSP", date="2024-03-04")
    assert not fires(checker, codes="VG+MD") and not fires(checker, codes="G")
    (finding,) = check(checker, [{"codes": "VL+GS"}]).findings
    assert finding.message == "VL+GS"


def test_text_enum_and_in_values() -> None:
    checker = validator('rule X error "m"\n  on G\n  when specialty in (PSY, PED) or sector is optam\nend\n')
    assert (
        fires(checker, specialty="PSY") and fires(checker, specialty="PED") and fires(checker, sector="optam")
    )
    assert not fires(checker, specialty="MG", sector="1")


# --- frequency limits ------------------------------------------------------------------------


def test_at_most_per_patient_per_quarter() -> None:
    checker = validator(
        'rule X error "VL déjà le {first_date} ({count}/{limit})"\n'
        "  on VL\n  at most 1 per patient per quarter\nend\n"
    )
    rows = [
        {"codes": "VL", "date": "2024-01-10"},
        {"codes": "VL", "date": "2024-03-31"},
        {"codes": "VL", "date": "2024-04-01"},
        {"codes": "VL", "date": "2024-04-02", "patient_id": "P-2"},
    ]
    report = check(checker, rows)
    (finding,) = report.findings
    assert (finding.invoice_id, finding.message) == ("F-2", "VL déjà le 10/01/2024 (2/1)")
    assert finding.amount == Decimal("60.00")  # the error's amount at risk: the VL's tariff


@pytest.mark.parametrize(
    "window, dates, expected",
    [
        ("per day", ["2024-03-04", "2024-03-04", "2024-03-05"], ["F-2"]),
        # Civil week: Monday to Sunday.
        ("per week", ["2024-03-04", "2024-03-10", "2024-03-11"], ["F-2"]),
        ("per year", ["2024-01-01", "2024-12-31", "2025-01-01"], ["F-2"]),
        ("ever", ["2020-01-01", "2024-12-31", "2030-01-01"], ["F-2", "F-3"]),
        # Within 12 months ending on the act's date: after the same date one year earlier.
        ("within 12 months", ["2023-03-04", "2024-03-04", "2024-03-05"], ["F-3"]),
        ("within 12 months", ["2023-03-05", "2024-03-04", "2024-03-05"], ["F-2", "F-3"]),
        ("within 10 days", ["2024-03-01", "2024-03-10", "2024-03-20"], ["F-2"]),
        ("within 2 weeks", ["2024-03-01", "2024-03-14", "2024-03-29"], ["F-2"]),
        ("within 1 years", ["2023-03-05", "2024-03-04"], ["F-2"]),
    ],
)
def test_windows(window: str, dates: list[str], expected: list[str]) -> None:
    checker = validator(f'rule X error "m"\n  on G\n  at most 1 per patient {window}\nend\n')
    assert flagged(checker, [{"date": day} for day in dates]) == expected


def test_scopes() -> None:
    rows = [
        {"practitioner_id": "A", "patient_id": "P-1"},
        {"practitioner_id": "A", "patient_id": "P-2"},
        {"practitioner_id": "B", "patient_id": "P-1"},
        {"practitioner_id": "A", "patient_id": "P-1"},
    ]
    per_patient = validator('rule X error "m"\n  on G\n  at most 1 per patient per day\nend\n')
    per_practitioner = validator('rule X error "m"\n  on G\n  at most 2 per practitioner per day\nend\n')
    both = validator('rule X error "m"\n  on G\n  at most 1 per patient and practitioner per day\nend\n')
    assert flagged(per_patient, rows) == ["F-3", "F-4"]
    assert flagged(per_practitioner, rows) == ["F-4"]
    assert flagged(both, rows) == ["F-4"]


def test_per_code() -> None:
    checker = validator(
        'rule X error "{code} deux fois"\n  on G, VG\n  at most 1 per patient and code per year\nend\n'
    )
    report = check(checker, [{"codes": "G"}, {"codes": "VG"}, {"codes": "VG"}])
    assert [(finding.invoice_id, finding.message) for finding in report.findings] == [("F-3", "VG deux fois")]


def test_counting_only_matching_invoices() -> None:
    checker = validator(
        'rule X error "m"\n  on VL\n  when declares_mt\n'
        "  at most 1 per patient ever counting declares_mt and mt_status in (none, other)\nend\n"
    )
    rows = [
        {"codes": "VL", "mt_status": "self"},  # not counted
        {"codes": "VL", "mt_status": "none", "declares_mt": "oui"},
        {"codes": "VL", "mt_status": "other", "declares_mt": "oui", "date": "2024-05-02"},
    ]
    assert flagged(checker, rows) == ["F-3"]


def test_limit_of_twenty_per_week() -> None:
    checker = validator(
        'rule X error "{count}e SNP"\n  on SNP\n  at most 20 per practitioner per week\nend\n'
    )
    rows = [{"codes": "G+SNP", "patient_id": f"P-{index}", "date": "2024-03-04"} for index in range(22)]
    report = check(checker, rows)
    assert [(finding.invoice_id, finding.message) for finding in report.findings] == [
        ("F-21", "21e SNP"),
        ("F-22", "22e SNP"),
    ]


def test_the_nth() -> None:
    checker = validator(
        'rule X opportunity "3e facture"\n'
        "  on consultation\n  the 3rd per patient and practitioner within 12 months\nend\n"
    )
    rows = [{"date": day} for day in ("2023-06-01", "2024-01-10", "2024-03-04", "2024-03-05")]
    assert flagged(checker, rows) == ["F-3"]
    first = validator('rule X warning "m"\n  on G\n  the 1st per patient ever\nend\n')
    assert flagged(first, [{}, {}]) == ["F-1"]


def test_history_counts_before_the_input() -> None:
    checker = validator('rule X error "déjà le {first_date}"\n  on G\n  at most 1 per patient ever\nend\n')
    history = invoices({"date": "2020-01-01", "practitioner_id": "OTHER", "invoice_id": "H-1"})
    report = checker.check_events(invoices({"date": "2024-03-04"}), history=history)
    assert [(finding.invoice_id, finding.message) for finding in report.findings] == [
        ("F-1", "déjà le 01/01/2020")
    ]


# --- opportunities, amounts, tariffs ---------------------------------------------------------


def test_suggest_add() -> None:
    checker = validator(
        'rule X opportunity "{suggestion} : {amount} de plus"\n'
        "  on consultation\n  when age < 6 and not billed MEG\n"
        "  suggest add MEG\nend\n"
    )
    (finding,) = check(checker, [{"birth_date": "2021-01-01"}]).findings
    assert (finding.severity, finding.suggestion, finding.amount) == (
        Severity.OPPORTUNITY,
        "G+MEG",
        Decimal("5.00"),
    )
    assert finding.message == "G+MEG : 5,00\u00a0€ de plus"
    assert not fires(checker, birth_date="2021-01-01", codes="G+MEG")
    assert not fires(checker, birth_date="2018-03-04")


def test_suggest_instead_of() -> None:
    checker = validator(
        'rule X opportunity "{suggestion} plutôt : {amount}"\n'
        "  on VG\n  when palliative\n  suggest VSP instead of VG\nend\n"
    )
    (finding,) = check(checker, [{"codes": "VG+MD", "palliative": "oui", "date": "2024-03-04"}]).findings
    assert finding.suggestion == "VSP+MD"
    assert finding.amount == Decimal("35.00")  # VSP 60 - VG 25
    assert finding.message == "VSP+MD plutôt : 35,00\u00a0€"


def test_suggest_text() -> None:
    checker = validator(
        'rule X opportunity "m"\n  on G\n  when ald\n  suggest "proposer la déclaration MT"\nend\n'
    )
    (finding,) = check(checker, [{"ald": "oui"}]).findings
    assert finding.suggestion == "proposer la déclaration MT"


def test_opportunity_is_not_offered_when_the_suggestion_would_be_an_error() -> None:
    checker = validator(
        'rule X opportunity "m"\n  on G\n  suggest add MEG\nend\n'
        'rule Y error "MEG après 6 ans"\n  on MEG\n  when age >= 6\nend\n'
    )
    assert fires(checker, birth_date="2021-01-01")
    assert not fires(checker, birth_date="2000-01-01")


def test_amount_clause_and_effective_dated_tariffs() -> None:
    checker = validator(
        'rule X opportunity "{amount}"\n'
        "  on G\n  when tariff(G) < tariff(VL)\n  amount tariff(VL) - tariff(G) + 1\nend\n"
    )
    amounts = [
        check(checker, [{"date": day}]).findings[0].amount
        for day in ("2023-10-31", "2023-11-01", "2024-12-21", "2024-12-22")
    ]
    assert amounts == [Decimal("36.00"), Decimal("34.50"), Decimal("34.50"), Decimal("31.00")]


def test_tariff_until_leaves_a_gap() -> None:
    ruleset = build_ruleset([RuleText(BASE, "base.rules")])
    on = ruleset.tariffs.on
    assert on("SNP", dt.date(2022, 9, 30)) == Decimal("15.00")
    assert on("SNP", dt.date(2022, 10, 1)) is None
    assert on("SNP", dt.date(2022, 12, 9)) == Decimal("15.00")
    assert on("G", dt.date(2017, 4, 30)) is None
    assert [on("G", dt.date(2023, 10, 31)), on("G", dt.date(2023, 11, 1))] == [
        Decimal("25.00"),
        Decimal("26.50"),
    ]
    checker = validator('rule X warning "m"\n  on SNP\n  when tariff(SNP) is missing\nend\n')
    assert [
        fires(checker, codes="G+SNP", date=day) for day in ("2022-09-30", "2022-10-01", "2022-12-09")
    ] == [
        False,
        True,
        False,
    ]


def test_code_validity_periods(tmp_path: Path) -> None:
    path = tmp_path / "codes.rules"
    path.write_text(
        'code ZZX "Acte d\'essai" valid from 2024-01-01 until 2024-06-30, from 2025-01-01\n'
        "tariff ZZX 12.00 from 2024-01-01\n"
        'rule ZZX-ALD warning "ZZX hors ALD"\n  on ZZX\n  when not ald\nend\n',
        encoding="utf-8",
    )
    checker = Validator.build(rule_files=[path], entry_points=False, builtin=True)
    info = checker.ruleset.codes["ZZX"]
    assert info.label == "Acte d'essai"
    assert [
        info.exists_on(dt.date.fromisoformat(day))
        for day in ("2023-12-31", "2024-06-30", "2024-07-01", "2025-01-01")
    ] == [
        False,
        True,
        False,
        True,
    ]
    # The built-in CODE-DATE rule reads the periods declared in any rule file.
    report = checker.check_events(invoices({"codes": "G+ZZX", "date": "2024-07-01", "ald": "oui"}))
    assert [finding.rule for finding in report.findings] == ["CODE-DATE"]
    report = checker.check_events(invoices({"codes": "G+ZZX", "date": "2024-06-30"}))
    assert [finding.rule for finding in report.findings] == ["ZZX-ALD"]


def test_functions_of_the_vocabulary() -> None:
    checker = validator(
        'rule X warning "férié"\n  on G\n  when public_holiday\nend\n'
        'rule Y warning "PDSA"\n  on G\n  when pdsa_time()\nend\n'
        'rule Z warning "dimanche"\n  on G\n  when weekday() = 7\nend\n'
        'rule W warning "extra"\n  on G\n  when extra("centre") = "nord"\nend\n'
    )
    report = check(
        checker,
        [
            {"date": "2024-07-14"},  # Sunday and Bastille Day
            {"date": "2024-03-04", "time": "21:00", "centre": "nord"},
            {"date": "2024-03-04", "time": "10:00"},
        ],
    )
    # Findings in date order (F-2 is in March), then by rule code.
    assert [(finding.invoice_id, finding.rule) for finding in report.findings] == [
        ("F-2", "W"),
        ("F-2", "Y"),
        ("F-1", "X"),
        ("F-1", "Y"),
        ("F-1", "Z"),
    ]


def test_function_arguments_are_checked() -> None:
    days_since = Function(
        "days_since",
        (Kind.DATE,),
        Kind.NUMBER,
        lambda env, event, day: Decimal((event.date - day).days),
        "jours écoulés depuis une date",
        origin="essai",
    )

    def build(condition: str) -> RuleSet:
        return build_ruleset(
            [
                RuleText(BASE, "base.rules"),
                RuleText(f'rule X error "m"\n  on G\n  when {condition}\nend\n', "t.rules"),
            ],
            functions=[days_since],
        )

    checker = Validator(build("days_since(birth_date) < 366"))
    assert fires(checker, birth_date="2023-03-05") and not fires(checker, birth_date="2023-03-03")
    with pytest.raises(RuleCompileError) as caught:
        build("days_since(age) > 3")
    assert str(caught.value) == (
        "t.rules:3:19: la fonction « days_since » attend une date, pas un nombre\n"
        "      when days_since(age) > 3\n"
        "                      ^"
    )
    with pytest.raises(RuleCompileError) as caught:
        build('extra(extra("centre")) is given')
    assert caught.value.message == "la fonction « extra » attend un nom ou un texte entre guillemets"
    assert (caught.value.line, caught.value.column) == (3, 14)


def test_extra_column_holding_a_list() -> None:
    # JSON input may put an array in an extra column: not hashable, never equal to a word.
    checker = validator(
        'rule X error "m"\n  on G\n  when extra("tags") in ("a", "b") or extra("tags") not in ("c")\nend\n'
    )
    assert fires(checker, tags=["a"])
    assert fires(checker, tags="a")
    assert not fires(checker)


def test_amount_from_an_extra_column() -> None:
    checker = validator(
        'rule X error "{amount}"\n  on G\n  when extra("reste") is given\n  amount extra("reste")\nend\n'
    )
    report = check(checker, [{"reste": "12,50"}, {"reste": "douze"}, {}])
    assert [(finding.invoice_id, finding.amount, finding.message) for finding in report.findings] == [
        ("F-1", Decimal("12.50"), "12,50\u00a0€"),
        ("F-2", None, ""),
    ]


def test_source_doc_and_text_are_kept() -> None:
    checker = validator(
        '# a comment before\nrule X error "m"\n  source "NGAP art. 1"\n  doc "Pourquoi"\n  on G\nend\n'
    )
    (info,) = checker.rules
    assert (info.citation, info.doc, info.source) == ("NGAP art. 1", "Pourquoi", "t")
    assert info.text == 'rule X error "m"\n  source "NGAP art. 1"\n  doc "Pourquoi"\n  on G\nend'
    assert info.origin == "t.rules:2"


def test_examples_run_and_show_the_rule_behaves() -> None:
    from billing_rules.testing import examples_of, run_example

    checker = validator(
        'rule X error "VL déjà le {first_date}"\n'
        "  on VL\n"
        "  at most 1 per patient per quarter\n"
        '  example fires { codes = "VL", place = domicile, date = 2024-03-20 }\n'
        '    after { codes = "VL", place = domicile, date = 2024-02-05 }\n'
        '  example passes { codes = "VL", place = domicile, date = 2024-04-01 }\n'
        '    after { codes = "VL", place = domicile, date = 2024-03-31 }\n'
        '  example fires { codes = "VL", date = 2024-04-01 }\n'
        "end\n"
    )
    examples = examples_of(checker)
    assert [(example.fires, len(example.history)) for example in examples] == [
        (True, 1),
        (False, 1),
        (True, 0),
    ]
    results = [run_example(checker, example) for example in examples]
    assert [result.ok for result in results] == [True, True, False]
    assert results[2].message.startswith("X ne se déclenche pas")


# --- compilation happens once; compiled rules are plain closures -----------------------------


def test_counters_are_shared_between_rules_that_count_the_same() -> None:
    ruleset = build_ruleset(
        [
            RuleText(BASE, "base.rules"),
            RuleText(
                'rule X error "m"\n  on VL\n  at most 1 per patient per quarter\nend\n'
                'rule Y warning "m"\n  on VL\n  when ald\n  at most 1 per patient per quarter\nend\n'
                'rule Z warning "m"\n  on VL\n  at most 1 per patient per year\nend\n',
                "t.rules",
            ),
        ]
    )
    counters = {rule.code: rule.frequency.counter for rule in ruleset.rules}
    assert counters["X"] is counters["Y"]
    assert counters["X"] is not counters["Z"]


def test_runtime_date_arithmetic_never_raises() -> None:
    # The readers keep dates between 1900 and 2199; the compiler keeps durations under a century.
    checker = validator(
        'rule X error "m"\n'
        "  on G\n  when date > birth_date + 100 years or date < birth_date - 99 years\nend\n"
        'rule Y error "m"\n  on G\n  when act_time > referral_at + 36000 days\nend\n'
        'rule Z error "m"\n  on G\n  when extra("n") > 3 or extra("n") + 1 > 3\n  amount extra("n")\nend\n'
    )
    rows = [
        {"birth_date": "1900-01-01", "date": "2199-12-31", "referral_at": "2199-12-31T10:00", "n": "x"},
        {"birth_date": "1900-01-01", "date": "1900-01-02", "n": "4"},
    ]
    # "4" reads as a number (issue 16): Z fires on F-2; "x" does not: a located rule error on F-1.
    found = checker.check_events(invoices(*rows)).findings
    assert [(finding.invoice_id, finding.rule) for finding in found] == [
        ("F-2", "Z"),
        ("F-1", "INTERNAL-ERROR"),
        ("F-1", "X"),
    ]
    assert 't.rules:11:8: « extra("n") » ne se lit pas comme un nombre' in found[1].message
    # Beyond the readers' bounds, the compiled arithmetic gives no date rather than an error.
    assert _shift_months(dt.date(9999, 12, 31), 1) is None
    assert _shift_months(dt.date(1, 1, 31), -1) is None
    assert _shift_months(dt.date(2024, 3, 31), -1) == dt.date(2024, 2, 29)
    assert _shift_months(dt.date(9999, 11, 30), 1) == dt.date(9999, 12, 30)  # December of year 9999
    assert _shift(dt.date(9999, 12, 31), dt.timedelta(days=1)) is None
    assert _shift(None, dt.timedelta(days=1)) is None


# --- safety ----------------------------------------------------------------------------------

# The front end, and the row back end's compiler that turns its tree into closures.
DSL_SOURCES = sorted(
    [*Path(billing_rules.dsl.__file__).parent.glob("*.py"), Path(billing_rules.engines.row.compiler.__file__)]
)


def test_no_code_execution_is_reachable_from_the_dsl() -> None:
    assert {path.name for path in DSL_SOURCES} >= {
        "parser.py",
        "compiler.py",
        "vocabulary.py",
        "program.py",
        "grammar.py",
        "ast.py",
    }
    forbidden = re.compile(
        r"\b(eval|exec|compile|open|__import__|getattr|setattr|importlib\.import_module)\s*\("
    )
    for path in (*DSL_SOURCES, Path(billing_rules.api.ruleset.__file__)):
        code = "\n".join(line.split("#", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())
        found = [match.group(0) for match in forbidden.finditer(code)]
        # getattr is allowed only with a literal name (positions off Lark's tokens, a rule's
        # optional ``bind``) or the attrs fields of the syntax tree's own classes: never with a
        # name that comes from a rule file.
        assert [call for call in found if not call.startswith("getattr")] == [], path.name
        names = re.findall(r"getattr\(\s*(\w+)\s*,\s*([^,)]+)", code)
        assert all(name.startswith('"') or name == "field.name" for _, name in names), (path.name, names)


@pytest.mark.parametrize(
    "condition, message",
    [
        ("__class__", "champ inconnu « __class__ »"),
        ("__import__", "champ inconnu « __import__ »"),
        ('__import__("os")', "fonction inconnue « __import__ »"),
        ('eval("1")', "fonction inconnue « eval »"),
        ('exec("1")', "fonction inconnue « exec »"),
        ('open("/etc/passwd") is given', "fonction inconnue « open »"),
        ('compile("1", "f", "eval")', "fonction inconnue « compile »"),
        ("__builtins__ is given", "champ inconnu « __builtins__ »"),
        ("_sa_instance is given", "champ inconnu « _sa_instance »"),
        ("code_set is given", "champ inconnu « code_set »"),
        ("sort_key is given", "champ inconnu « sort_key »"),
        ("extra is given", "la fonction « extra » attend 1 argument(s), 0 donné(s)"),
    ],
)
def test_python_names_are_unknown_fields_or_functions(condition: str, message: str) -> None:
    with pytest.raises(RuleCompileError) as caught:
        validator(f'rule X error "m"\n  on G\n  when {condition}\nend\n')
    assert caught.value.message.startswith(message)
    assert (caught.value.line, caught.value.column) == (3, 8)


@pytest.mark.parametrize(
    "text", ["date.__class__", "age.real > 1", "ald[0]", "extra('x')", "`ls`", "x; import os"]
)
def test_python_syntax_is_a_syntax_error(text: str) -> None:
    with pytest.raises(RuleFileError) as caught:
        validator(f'rule X error "m"\n  on G\n  when {text}\nend\n')
    assert caught.value.line == 3 and caught.value.column is not None


def test_extra_reads_only_the_extra_columns() -> None:
    checker = validator(
        'rule X error "m"\n  on G\n  when extra(__class__) is given or extra("patient_id") is given\nend\n'
    )
    assert not fires(checker, patient_id="P-SECRET")


def test_message_placeholders_cannot_reach_attributes() -> None:
    for message in ("{date.__class__}", "{age.__class__.__mro__}", "{codes[0]}", "{date!r}"):
        with pytest.raises(RuleCompileError):
            validator(f'rule X error "{message}"\n  on G\nend\n')


def test_import_billing_rules_does_not_import_lark() -> None:
    code = (
        "import sys\n"
        "import billing_rules\n"
        "print(sorted(name for name in sys.modules if name.startswith(('lark', 'billing_rules.dsl'))))\n"
        "from billing_rules import Validator\n"
        "import billing_rules.model, billing_rules.errors, billing_rules.api.ruleset\n"
        "print(sorted(name for name in sys.modules if name == 'lark' or name.startswith('lark.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split("\n")[:2] == ["[]", "[]"]


def test_parsing_imports_lark_only_then() -> None:
    code = (
        "import sys\n"
        "from billing_rules.dsl.parser import parse\n"
        "before = 'lark' in sys.modules\n"
        "parse('family f = G\\n', 'f.rules')\n"
        "print(before, 'lark' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False True"


# --- tariff clashes are located ----------------------------------------------------------------


def test_per_km_beside_flat_tariff_names_the_file_and_line_of_the_second() -> None:
    # The built-in catalogue once met this through a mutated file: the error had no file or line.
    from billing_rules.errors import RuleClashError, RuleFileClashError

    text = "\n# the second way to price G\ntariff G 0.61 per km from 2026-01-01\n"
    with pytest.raises(RuleFileClashError) as caught:
        build_ruleset([RuleText(BASE, "base.rules"), RuleText(text, "t.rules", source="t")])
    error = caught.value
    assert isinstance(error, RuleClashError)  # what callers catch for clashes, as before
    assert (error.path, error.line) == ("t.rules", 3)
    assert "tariff G 0.61 per km" in (error.source_line or "")
    assert "par km et des tarifs forfaitaires" in str(error)
    assert "base.rules:" in str(error)  # and where the first way to price it was declared


def test_tariff_clash_with_a_python_tariff_is_located_in_the_rule_file() -> None:
    import datetime as dt
    from decimal import Decimal

    from billing_rules.domain.tariffs import Tariff
    from billing_rules.errors import RuleFileClashError

    python_row = Tariff("MD", Decimal("10.00"), dt.date(2017, 5, 1), origin="plugin-x")
    with pytest.raises(RuleFileClashError) as caught:
        build_ruleset([RuleText(BASE, "base.rules")], tariffs=[python_row])
    assert caught.value.path == "base.rules"
    assert "plugin-x" in str(caught.value)


def test_tariff_clash_between_python_tariffs_names_the_plugins() -> None:
    import datetime as dt
    from decimal import Decimal

    from billing_rules.domain.tariffs import Tariff
    from billing_rules.errors import RuleClashError, RuleFileError

    rows = [
        Tariff("XX", Decimal("1"), dt.date(2020, 1, 1), origin="plugin-a"),
        Tariff("XX", Decimal("2"), dt.date(2020, 1, 1), origin="plugin-b"),
    ]
    with pytest.raises(RuleClashError) as caught:
        build_ruleset([RuleText(BASE, "base.rules")], tariffs=rows)
    assert not isinstance(caught.value, RuleFileError)
    assert "plugin-a" in str(caught.value) and "plugin-b" in str(caught.value)
