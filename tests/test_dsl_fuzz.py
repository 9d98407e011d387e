"""Property tests of the rule DSL against random and mutated rule files (issue 7).

Whatever a rule file holds, building a rule set from it ends in exactly one of two ways: a compiled
rule set that checks invoices without crashing, or a :class:`RuleFileError` located at a line and a
column. Never a RecursionError, a TypeError or any other exception. The budget here is modest;
``fuzz/fuzz_rules.py`` runs the same properties for longer.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from billing_rules.api.ruleset import RuleSet, RuleText, build_ruleset
from billing_rules.api.validator import Validator
from billing_rules.dsl.parser import MAX_NESTING, MAX_NUMBER_DIGITS
from billing_rules.errors import RuleFileError

ROOT = Path(__file__).resolve().parent.parent


def _load_fuzz_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_rules", ROOT / "fuzz" / "fuzz_rules.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fuzz_rules", module)
    spec.loader.exec_module(module)
    return module


FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FEW = settings(FUZZ, max_examples=40)

fuzz = _load_fuzz_module()
# The campaign's fixtures: the built-in files, the tokenizer, and invoices waking most of the catalogue.
BUILTIN = fuzz.BUILTIN
TOKEN = fuzz.TOKEN
EVENTS = fuzz.EVENTS

WORD = re.compile(r"[A-Z][A-Z0-9-]*|[a-z_][a-z0-9_]*")
KEYWORDS = set(
    "rule end family code tariff define on when from until valid source doc at most the per and or not "
    "billed is in given missing suggest add instead of amount example fires passes after counting any error "
    "warning "
    "opportunity patient practitioner day week quarter year ever within".split()
)
NAMES = [
    *"age ald palliative neurodegenerative mt_status declares_mt place homebound regulated".split(),
    "referral_at",
    *"status sector specialty date time act_time birth_date amount self other none unknown domicile".split(),
    *"tariff public_holiday pdsa_time weekday extra forfait_mt in_ald consultation visit agee".split(),
    *"patient_id code_set __class__ __import__ eval open".split(),
]
CODES = "G GS VG VL VSP IMT SNP MOP MEG MD GL1 TCG ZZZZ ABCD123 IMT-ONCE VL-QUARTER".split()

# Words a mutation may put anywhere: the grammar's own, names that do not exist, Python's names,
# absurd values and characters a rule file should never hold.
VOCABULARY = [
    *"rule end family code tariff define on when from until valid source doc".split(),
    *"at most the per and or not".split(),
    *"billed is in given missing suggest add instead of amount example fires passes after counting".split(),
    *"patient practitioner day week quarter year ever within months hours 3rd 1st".split(),
    *"age ald mt_status place self none domicile tariff public_holiday pdsa_time weekday extra".split(),
    *"G VL IMT SNP VSP MOP GL1 consultation visit ZZZZ VL-QUARTER".split(),
    "__import__",
    "__class__",
    "eval",
    "open",
    "exec",
    "agee",
    "patient_id",
    "(",
    ")",
    ",",
    "=",
    "<=",
    ">=",
    "!=",
    "+",
    "-",
    "{",
    "}",
    '"texte"',
    '"{date:>99999}"',
    '"{inconnu}"',
    "2024-02-30",
    "0000-00-00",
    "9999-12-31",
    "99999999999999999999999",
    "0",
    "1.5",
    "\x00",
    "\ufeff",
    "é",
    "\u202e",
    "\n",
    "not " * 200,
    "(" * 100,
    ")" * 100,
]


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def build(texts: Sequence[RuleText]) -> RuleSet | RuleFileError:
    """The property itself: a rule set, or a located error; anything else fails the test."""
    try:
        return build_ruleset(texts)
    except RuleFileError as error:
        assert error.line is not None and error.column is not None, str(error)
        assert error.line >= 1 and error.column >= 1
        assert str(error).startswith(f"{error.path}:{error.line}:{error.column}: ")
        return error


def run(ruleset: RuleSet) -> None:
    """A compiled rule set must also check invoices: no rule may crash on them."""
    report = Validator(ruleset).check_events(EVENTS[6:], history=EVENTS[:6])
    crashed = [finding.message for finding in report.findings if finding.rule == "INTERNAL-ERROR"]
    assert crashed == []


def check_texts(texts: Sequence[RuleText]) -> RuleSet | RuleFileError:
    outcome = build(texts)
    if isinstance(outcome, RuleSet):
        run(outcome)
    if currently_in_test_context():  # outcome statistics: pytest --hypothesis-show-statistics
        event("compiled" if isinstance(outcome, RuleSet) else type(outcome).__name__)
    return outcome


def with_builtin(name: str, text: str) -> list[RuleText]:
    """The catalogue with one of its files replaced by ``text``: references to the others resolve."""
    return [RuleText(text if other == name else content, other) for other, content in BUILTIN.items()]


CATALOGUE = [RuleText(content, name) for name, content in BUILTIN.items()]


def test_the_catalogue_itself_compiles_and_runs() -> None:
    outcome = check_texts(CATALOGUE)
    assert isinstance(outcome, RuleSet)
    assert len(outcome.rules) > 25


# --- mutations of the built-in files ---------------------------------------------------------

MUTATION = st.tuples(
    st.sampled_from(
        ["delete", "duplicate", "swap", "replace", "insert", "truncate", "nest", "alike", "alike"]
    ),
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=10**6),
    st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=8)),
)


def mutate(text: str, mutations: Sequence[tuple[str, int, int, str]]) -> str:
    parts = tokens(text)
    for operation, first, second, payload in mutations:
        if not parts:
            parts = [payload]
            continue
        i, j = first % len(parts), second % len(parts)
        if operation == "alike":  # another name or code where there was one: often still parses
            named = [
                index for index, part in enumerate(parts) if WORD.fullmatch(part) and part not in KEYWORDS
            ]
            if named:
                k = named[first % len(named)]
                pool = NAMES if parts[k][0].islower() or parts[k][0] == "_" else CODES
                parts[k] = pool[second % len(pool)]
        elif operation == "delete":
            del parts[i : i + 1 + second % 3]
        elif operation == "duplicate":
            parts.insert(i, parts[i])
        elif operation == "swap":
            parts[i], parts[j] = parts[j], parts[i]
        elif operation == "replace":
            parts[i] = payload
        elif operation == "insert":
            parts[i:i] = [" ", payload, " "]
        elif operation == "truncate":
            del parts[i:]
        else:  # nest a condition deeply
            depth = second % 3000
            parts[i:i] = [" ", "not (" * depth, "ald", ")" * depth, " "]
    return "".join(parts)


@FUZZ
@given(name=st.sampled_from(sorted(BUILTIN)), mutations=st.lists(MUTATION, min_size=1, max_size=4))
def test_mutated_builtin_file(name: str, mutations: list[tuple[str, int, int, str]]) -> None:
    check_texts(with_builtin(name, mutate(BUILTIN[name], mutations)))


def test_mutated_tariff_unit_clash_is_located() -> None:
    # Found by the test above: a G row turned per-km beside the flat G rows was an unlocated clash.
    check_texts(with_builtin("tariffs.rules", mutate(BUILTIN["tariffs.rules"], [("alike", 502, 0, "rule")])))


# --- random texts ----------------------------------------------------------------------------


@FUZZ
@given(text=st.text(max_size=400))
def test_random_unicode_text(text: str) -> None:
    check_texts([RuleText(text, "random.rules")])


@FUZZ
@given(
    words=st.lists(st.sampled_from(VOCABULARY), max_size=60), separators=st.sampled_from([" ", "\n", "\t"])
)
def test_random_token_soup(words: list[str], separators: str) -> None:
    text = separators.join(words)
    check_texts([*CATALOGUE, RuleText(text, "soup.rules")])


# A rule with holes: each hole takes a random value, so the texts get past the parser often.
TEMPLATE = (
    'rule FUZZ-{n} {severity} "message {placeholder}"\n  on {codes}\n  when {condition}\n  {frequency}\nend\n'
)
CONDITIONS = st.recursive(
    st.sampled_from(
        [
            "ald",
            "age >= 80",
            "age < 6",
            "mt_status is self",
            "mt_status in (none, other)",
            "place in (domicile, ehpad)",
            "billed MD",
            "date >= 2024-01-01",
            "referral_at is given",
            "act_time > referral_at + 48 hours",
            "pdsa_time",
            "public_holiday()",
            'extra("centre") = "nord"',
            'extra("tags") in ("a", "b")',
            'extra("centre") > 3',
            "tariff(G) > 20",
            "weekday() = 7",
            "in_ald",
            "agee > 3",
            "__class__",
            'age >= "x"',
            "date + 3 months < 2025-01-01",
        ]
    ),
    lambda inner: st.one_of(
        st.builds("not {}".format, inner),
        st.builds("({})".format, inner),
        st.builds("{} and {}".format, inner, inner),
        st.builds("{} or {}".format, inner, inner),
    ),
    max_leaves=30,
)


@FUZZ
@given(
    severity=st.sampled_from(["error", "warning", "opportunity"]),
    placeholder=st.sampled_from(["", "{date}", "{first_date}", "{count}", "{amount}", "{x}", "{date:>9}"]),
    codes=st.sampled_from(["G", "VL, VG", "visit", "consultation, SNP", "any", "ZZZ"]),
    condition=CONDITIONS,
    frequency=st.sampled_from(
        [
            "",
            "at most 1 per patient per quarter",
            "at most 20 per practitioner per week",
            "the 3rd per patient and practitioner within 12 months",
            "at most 1 per patient ever counting declares_mt",
            "at most 1 per patient and code per year",
            "at most 0 per patient per day",
            "at most 1 per patient within 36600 days",
            "at most 1 per patient within 99999 days",
            "at most 1 per patient per month",
        ]
    ),
)
def test_generated_rules(severity: str, placeholder: str, codes: str, condition: str, frequency: str) -> None:
    text = TEMPLATE.format(
        n=1, severity=severity, placeholder=placeholder, codes=codes, condition=condition, frequency=frequency
    )
    check_texts([*CATALOGUE, RuleText(text, "generated.rules")])


# --- limits ----------------------------------------------------------------------------------


@FEW
@given(
    depth=st.integers(min_value=0, max_value=3000),
    opening=st.sampled_from(["not ", "not (", "(", "(not ", "ald and ("]),
)
def test_deep_nesting(depth: int, opening: str) -> None:
    closing = ")" * opening.count("(")
    condition = opening * depth + "ald" + closing * depth
    outcome = check_texts([*CATALOGUE, RuleText(f'rule X error "m"\n  on G\n  when {condition}\nend\n', "d")])
    if depth > 2 * MAX_NESTING:
        assert isinstance(outcome, RuleFileError)
        assert "trop imbriqué" in outcome.message
        assert outcome.line == 3


@FEW
@given(
    digits=st.integers(min_value=1, max_value=40),
    place=st.sampled_from(
        [
            "at most {n} per patient ever",
            "the {n}th per patient ever",
            "at most 1 per patient within {n} days",
            "when age >= {n}",
            "when act_time > referral_at + {n} minutes",
            "amount {n}.5",
        ]
    ),
)
def test_huge_numbers(digits: int, place: str) -> None:
    number = "9" * digits
    clause = place.format(n=number)
    outcome = check_texts([*CATALOGUE, RuleText(f'rule X warning "m"\n  on G\n  {clause}\nend\n', "n.rules")])
    if digits > MAX_NUMBER_DIGITS:
        assert isinstance(outcome, RuleFileError)
        assert outcome.message.startswith("nombre trop grand")


@FEW
@given(name=st.from_regex(r"[a-z_][a-z0-9_]{0,30}", fullmatch=True))
def test_any_lowercase_name(name: str) -> None:
    outcome = check_texts(
        [*CATALOGUE, RuleText(f'rule X warning "m"\n  on G\n  when {name}\nend\n', "name.rules")]
    )
    if isinstance(outcome, RuleFileError):
        assert outcome.line in (3, 1)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_file_cut_at_every_line_is_handled(name: str) -> None:
    lines = BUILTIN[name].split("\n")
    for cut in range(0, len(lines), 3):
        build(with_builtin(name, "\n".join(lines[:cut])))


def test_regression_rolling_window_of_a_huge_span_is_refused() -> None:
    # Found while hardening the DSL: "within 99999 days" compiled, then the window's start date
    # left the calendar when an invoice was checked (rolling_start stepped down to date.min).
    outcome = build(
        [
            *CATALOGUE,
            RuleText('rule X error "m"\n  on G\n  at most 1 per patient within 99999 days\nend\n', "r"),
        ]
    )
    assert isinstance(outcome, RuleFileError)
    assert outcome.message.startswith("fenêtre trop longue")


def test_regression_comparison_with_an_extra_column() -> None:
    # Found while writing the compiler tests: ``extra("x") = "y"`` was refused as a comparison of a
    # value with a text, and ``extra("x") > 3`` raised a TypeError when the column held a text.
    outcome = check_texts(
        [
            *CATALOGUE,
            RuleText(
                'rule X warning "m"\n  on G\n  when extra("centre") = "nord" or extra("centre") > 3\nend\n',
                "e",
            ),
        ]
    )
    assert isinstance(outcome, RuleSet)


def test_paths_in_errors_are_the_files() -> None:
    outcome = build([*CATALOGUE, RuleText("rule", str(Path("dir") / "x.rules"))])
    assert isinstance(outcome, RuleFileError)
    assert outcome.path == str(Path("dir") / "x.rules")
