"""The front end's check (``dsl/check.py``): one pass, engine-neutral, before either back end builds.

The wording of each error is covered by ``test_dsl_compiler.py`` and the fuzz tests, through
``build_ruleset``; these tests pin where the check sits: it alone refuses a rule, the row compiler
is never reached with a bad tree, and it needs no engine to run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from billing_rules.api.ruleset import RuleText, build_ruleset
from billing_rules.dsl import ast
from billing_rules.dsl.check import Checker
from billing_rules.dsl.parser import parse
from billing_rules.dsl.vocabulary import BUILTIN_FUNCTIONS
from billing_rules.engines.row.compiler import Compiler
from billing_rules.errors import RuleCompileError

TEXT = """\
code G "Consultation"
family consultation = G
define old = age >= 80
rule X error "m"
  on consultation
  when old and place is cabinet
  at most 1 per patient per year
end
"""


def _checker(rule_file: ast.RuleFile) -> Checker:
    checker = Checker(
        known_codes=frozenset({"G"}),
        families={},
        functions={function.name: function for function in BUILTIN_FUNCTIONS},
    )
    checker.use_file(rule_file)
    for decl in rule_file.declarations:
        if isinstance(decl, ast.FamilyDecl):
            checker.families[decl.name] = checker.expand_codes(decl.codes)
        elif isinstance(decl, ast.DefineDecl):
            checker.add_define(decl)
    return checker


def _rule(rule_file: ast.RuleFile) -> ast.RuleDecl:
    return next(decl for decl in rule_file.declarations if isinstance(decl, ast.RuleDecl))


def test_the_check_accepts_a_good_rule_without_building_anything() -> None:
    rule_file = parse(TEXT, "t.rules")
    checker = _checker(rule_file)
    assert checker.check_rule(_rule(rule_file)) is None
    assert checker.families == {"consultation": frozenset({"G"})}
    assert set(checker.defines) == {"old"}


@pytest.mark.parametrize(
    ("line", "message", "where"),
    [
        ("  when plac is cabinet", "champ inconnu « plac » ; vouliez-vous dire : place ?", (6, 8)),
        ("  when place is jardin", "valeur « jardin » inconnue ; possibles :", (6, 17)),
        ("  when age >= 2024-01-01", "comparaison impossible entre un nombre (« age ») et une date", (6, 8)),
        ("  when old and patient_id", "l'identifiant patient ne peut pas être lu par une règle", (6, 16)),
    ],
)
def test_the_check_locates_its_errors(line: str, message: str, where: tuple[int, int]) -> None:
    text = TEXT.replace("  when old and place is cabinet", line)
    rule_file = parse(text, "t.rules")
    with pytest.raises(RuleCompileError) as caught:
        _checker(rule_file).check_rule(_rule(rule_file))
    assert message in str(caught.value)
    assert (caught.value.path, caught.value.line, caught.value.column) == ("t.rules", *where)
    assert caught.value.source_line == line


def test_a_bad_rule_never_reaches_the_row_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the row compiler was handed a tree the check refused")

    monkeypatch.setattr(Compiler, "compile_rule", never)
    bad = TEXT.replace("place is cabinet", "place is jardin")
    with pytest.raises(RuleCompileError, match="valeur « jardin » inconnue"):
        build_ruleset([RuleText(bad, "t.rules", source="t")])


def test_a_recursive_define_is_refused_where_it_closes_the_circle() -> None:
    text = TEXT.replace("define old = age >= 80", "define old = age >= 80 and older\ndefine older = old")
    with pytest.raises(RuleCompileError, match="définition récursive de « old »") as caught:
        build_ruleset([RuleText(text, "t.rules", source="t")])
    assert (caught.value.line, caught.value.column) == (4, 16)  # ``old`` in ``define older = old``


def test_the_check_loads_no_engine() -> None:
    code = (
        "import sys\n"
        "import billing_rules.dsl.check\n"
        "assert not [name for name in sys.modules if name.startswith('billing_rules.engines')], sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- every code a file names is checked, in families and defines too -------------------------------


@pytest.mark.parametrize(
    ("text", "message", "where"),
    [
        # A family member is checked like a code a rule names, used or not.
        ('family home_visit2 = V, VG, VLL\nrule F error "m"\n  on home_visit2\nend\n', "« VLL »", (1, 29)),
        ("family unused = G, QQQ\n", "« QQQ »", (1, 20)),
        # A define's codes are checked where it is declared, used or not.
        ("define unused = billed QQQ\n", "« QQQ »", (1, 24)),
        ("define unused = age > 3 and not (billed G or billed QQQ)\n", "« QQQ »", (1, 53)),
        ("define unused = tariff(QQQ) > 10\n", "« QQQ »", (1, 24)),
        ("define unused = billed nofamily\n", "famille de codes inconnue « nofamily »", (1, 24)),
    ],
)
def test_unknown_codes_in_families_and_defines_are_errors(
    text: str, message: str, where: tuple[int, int]
) -> None:
    with pytest.raises(RuleCompileError, match=message) as caught:
        build_ruleset(
            [
                RuleText(
                    'code G "Consultation"\ncode V "Visite"\ncode VG "Visite"\n' + text, "t.rules", source="t"
                )
            ]
        )
    assert (caught.value.path, caught.value.line, caught.value.column) == ("t.rules", where[0] + 3, where[1])


def test_a_file_may_declare_the_codes_its_families_and_defines_name() -> None:
    first = """\
define d = billed ABC or tariff(XYZ) > 0 or billed later_family or billed AAAA001
family f = ABC, XYZ, CODE2, AAAA001
code ABC "Un acte déclaré plus bas que son usage"
tariff XYZ 1.00 from 2024-01-01
rule R error "m"
  on f
  when d
end
"""
    second = 'code CODE2 "Déclaré par un autre fichier"\nfamily later_family = CODE2\n'
    ruleset = build_ruleset([RuleText(first, "a.rules", source="t"), RuleText(second, "b.rules", source="t")])
    assert ruleset.families["f"] == frozenset({"ABC", "XYZ", "CODE2", "AAAA001"})


def test_a_code_priced_only_on_other_days_stays_known_in_a_simulation() -> None:
    import datetime as dt

    text = "tariff OLD 1.00 from 2010-01-01 until 2011-12-31\nfamily f = OLD\ndefine d = billed OLD\n"
    ruleset = build_ruleset([RuleText(text, "t.rules", source="t")], as_of=dt.date(2024, 1, 1))
    assert ruleset.families["f"] == frozenset({"OLD"})


def test_rules_check_refuses_unknown_codes_in_families_and_defines_and_accepts_the_shipped_files(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from billing_rules import cli

    family = tmp_path / "fam.rules"
    family.write_text('family home_visit2 = V, VG, VLL\nrule FAM-1 warning "x"\n  on home_visit2\nend\n')
    define = tmp_path / "def.rules"
    define.write_text("define unused = billed QQQ\n")
    runner = CliRunner()
    for path, line in (
        (family, "fam.rules:1:29: code inconnu « VLL »"),
        (define, "def.rules:1:24: code inconnu"),
    ):
        result = runner.invoke(cli.main, ["rules", "check", str(path)])
        assert result.exit_code == cli.EXIT_ERROR and line in result.stderr, result.output
    shipped = Path(__file__).resolve().parents[1] / "examples" / "custom.rules"
    result = runner.invoke(cli.main, ["rules", "check", str(shipped)])
    assert result.exit_code == cli.EXIT_OK, result.output
