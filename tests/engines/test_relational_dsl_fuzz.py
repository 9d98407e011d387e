"""Rule files a third party could write, drawn at random: the row engine and DuckDB report the same.

The differential corpora check the catalogue, the example plugin and one file of constructs; here
hypothesis combines the language's pieces (conditions over every field and function, each kind of
window, suggestions, actions, amounts, placeholders) into rule files added to the catalogue, and
both back ends check one file of random invoices with them: every finding equal, the catalogue's
included (a generated error rule blocks its opportunities the same way on both). A difference is
a bug, never a tolerance. Spark runs the fixed corpora (``test_relational_differential``): its
cost is per statement, and each example here is a new plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("duckdb")
pytest.importorskip("polars")

from test_relational_differential import _both, _random_rows, _write_csv  # noqa: E402

from billing_rules.api.validator import Validator  # noqa: E402

#: Conditions of every kind the language has: flags, enumerations, ages, dates and durations,
#: times, functions, codes billed, tariffs, texts, extra columns.
ATOMS = (
    "ald",
    "not palliative",
    "age >= 80",
    "age < 6",
    "age = 79",
    "mt_status is self",
    "mt_status in (none, other)",
    "place in (domicile, ehpad)",
    "place is tele",
    "billed MD",
    "billed SNP",
    "date >= 2024-01-01",
    "date < 2024-12-22",
    "referral_at is given",
    "time is missing",
    "act_time > referral_at + 48 hours",
    "pdsa_time",
    "public_holiday()",
    "weekday() = 7",
    "weekday() >= 6",
    "tariff(G) > 26",
    "amount is given and amount > tariff(G)",
    "amount is missing",
    "birth_date + 6 years > date",
    'specialty in (PSY, "MG")',
    "sector is not optam",
    "declares_mt",
    "homebound",
    "regulated",
    "neurodegenerative",
    "discharge_date is given",
    "discharge_date + 45 days >= date",
    "hour(referral_at) in (19, 20)",
    "exists(SHE)",
    "invoice_id != practitioner_id",
    "km is given",
)
CONDITIONS = st.recursive(
    st.sampled_from(ATOMS),
    lambda inner: st.one_of(
        st.builds("not ({})".format, inner),
        st.builds("({} and {})".format, inner, inner),
        st.builds("({} or {})".format, inner, inner),
    ),
    max_leaves=5,
)
TRIGGERS = ("", "G", "G, GS", "VL, VG", "visit", "consultation, SNP", "IMT", "VG, V", "SNP")
WINDOWS = (
    "",
    "at most 1 per patient per quarter",
    "at most 2 per practitioner per week",
    "the 3rd per patient and practitioner within 12 months",
    "at most 1 per patient ever counting declares_mt",
    "at most 1 per patient and code per year",
    "at most 0 per patient per day",
    "at most 1 per patient within 30 days",
    "the 1st per patient per quarter counting ald",
    "at most 3 per practitioner per day",
    "the 2nd per patient ever",
    "at most 1 per patient within 2 weeks",
)
PLACEHOLDERS = ("{date}", "{codes}", "{age}")
#: What a message may say only of a rule with a window.
WINDOW_PLACEHOLDERS = ("{count}", "{first_date}", "{last_date}", "{limit}")
SUGGESTIONS = (
    "suggest add MEG",
    "suggest VL instead of VG, V",
    "suggest IMT instead of G, GS",
    'suggest "proposer la déclaration"',
    "suggest add SNP, SHE if exists(SHE) and hour(referral_at) in (19, 20)\n  suggest add SNP",
)
ERROR_CLAUSES = (
    "",
    'action "corriger {codes}"',
    'action G instead of IMT "facturer {recoded} au lieu de {codes}"',
    'action G instead of VL, MD if not at_home "facturer {recoded}"\n'
    '  action TCG instead of VL, MD "sinon {recoded}"',
    "amount 12.5",
    "amount tariff(G)",
)


@st.composite
def rule_text(draw: Any, number: int) -> str:
    """One rule: severity, codes, condition, window, its clauses, a message with what it may say."""
    severity = draw(st.sampled_from(["error", "warning", "opportunity"]))
    lines = []
    triggers = draw(st.sampled_from(TRIGGERS))
    if triggers:
        lines.append(f"  on {triggers}")
    if draw(st.booleans()):
        lines.append(f"  when {draw(CONDITIONS)}")
    window = draw(st.sampled_from(WINDOWS))
    if "code" in window.split() and not triggers:
        window = ""  # « per code » counts the rule's own codes
    if window:
        lines.append(f"  {window}")
    sayable = list(PLACEHOLDERS) + (list(WINDOW_PLACEHOLDERS) if window else [])
    if severity == "opportunity":
        lines.append(f"  {draw(st.sampled_from(SUGGESTIONS))}")
        sayable.append("{suggestion}")
    elif severity == "error":
        clause = draw(st.sampled_from(ERROR_CLAUSES))
        if clause:
            lines.append(f"  {clause}")
        if triggers or clause.startswith("amount"):  # the euros at stake: its codes', or the clause's
            sayable.append("{amount}")
    if triggers:
        sayable.append("{code}")
    words = " ".join(draw(st.lists(st.sampled_from(sayable), max_size=3)))
    return "\n".join([f'rule FZ-{number} {severity} "constat {number} {words}"', *lines, "end", ""])


@pytest.fixture(scope="module")
def invoices(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One file of 400 random invoices over a small population (windows fill up)."""
    folder = tmp_path_factory.mktemp("fuzz-rules")
    return str(_write_csv(folder / "factures.csv", _random_rows(17, 400)))


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_generated_rule_files_identical(
    invoices: str, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    count = data.draw(st.integers(min_value=1, max_value=3), label="rules")
    text = "".join(data.draw(rule_text(number), label=f"FZ-{number}") for number in range(1, count + 1))
    path = tmp_path_factory.mktemp("rules") / "tiers.rules"
    path.write_text(text, encoding="utf-8")
    validator = Validator.build(entry_points=False, rule_files=[path])  # every piece is valid
    expected, found = _both(validator, [invoices])
    assert found == expected


def test_the_pieces_make_rules_that_fire(tmp_path: Path, invoices: str) -> None:
    """The property is not vacuous: rules of each severity built from the pieces fire on the file."""
    text = (
        'rule FZ-1 error "{count}e G du trimestre depuis le {first_date}"\n  on G\n'
        "  at most 1 per patient per quarter\n"
        '  action G instead of IMT "facturer {recoded} au lieu de {codes}"\nend\n'
        'rule FZ-2 warning "visite {date} à {age} ans"\n  on visit\n  when (ald or homebound)\nend\n'
        'rule FZ-3 opportunity "MEG {suggestion} {amount}"\n  on G\n  when age < 6\n  suggest add MEG\nend\n'
    )
    path = tmp_path / "tiers.rules"
    path.write_text(text, encoding="utf-8")
    validator = Validator.build(entry_points=False, rule_files=[path])
    expected, found = _both(validator, [invoices])
    assert found == expected
    assert {item[0] for item in expected} >= {"FZ-1", "FZ-2", "FZ-3"}
