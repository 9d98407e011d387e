"""What a plugin registers is checked when the validator is built, and a bad item names the plugin.

A malformed tariff, rule, function, reader, reporter or rule set used to fail later and anonymously
(an ``AttributeError`` of the build, a ``TypeError`` comparing dates, an INTERNAL-ERROR blamed on a
built-in rule on every invoice). It is now a :class:`PluginLoadError` naming the plugin and its
version, the item and the field, in French, exactly as a hook that raises is reported; and so is a
rule file a plugin registers that cannot be read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from test_plugins import billing_file, run, site  # noqa: F401 - fixtures

import billing_rules
from billing_rules import cli
from billing_rules.api.validator import Validator
from billing_rules.domain.tariffs import Tariff
from billing_rules.dsl.vocabulary import Function, Kind
from billing_rules.errors import PluginLoadError
from billing_rules.model import Severity

DAY = dt.date(2024, 1, 1)


def _plugin(hook: str, *items: Any) -> object:
    """A plugin object whose ``hook`` registers ``items``, one call each."""

    def implementation(self: object, register: Callable[..., None]) -> None:
        for item in items:
            register(item)

    return type("Plugin", (), {hook: billing_rules.hookimpl(implementation)})()


def _build(hook: str, *items: Any) -> Validator:
    return Validator.build(entry_points=False, plugins=[("vendor", _plugin(hook, *items))])


class _Rule:
    code = "VENDOR-1"
    severity = Severity.ERROR
    source = "vendor"
    triggers: frozenset[str] | None = frozenset({"G"})

    def check(self, event: object, history: object) -> tuple[()]:
        return ()


class _Reader:
    name = "vendor-format"
    extensions: Any = (".vnd",)

    def rows(self, stream: object, file: str) -> Iterator[object]:
        return iter(())


class _Reporter:
    name = "vendor-report"

    def render(self, report: object, stream: object, *, color: bool = False) -> None:
        return None


def _with(cls: type, **attributes: Any) -> object:
    return type(cls.__name__, (cls,), attributes)()


# -- tariffs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            "G",
            r"register_tariffs : le tarif n° 1 n'est pas un billing_rules\.Tariff avec un code : 'G' \(str\)",
        ),
        (
            Tariff("ZZZ", Decimal(10), "2024-01-01"),
            r"tarif de ZZZ : la date de début \(start\).*'2024-01-01'",
        ),  # type: ignore[arg-type]
        (Tariff("ZZZ", "abc", DAY), r"tarif de ZZZ : le montant \(amount\) doit être un Decimal.*'abc'"),  # type: ignore[arg-type]
        (Tariff("ZZZ", 10.5, DAY), r"tarif de ZZZ : le montant \(amount\).*10\.5 \(float\)"),  # type: ignore[arg-type]
        (Tariff("ZZZ", Decimal("NaN"), DAY), r"tarif de ZZZ : montant \(amount\) invalide"),
        (Tariff("ZZZ", Decimal("-1"), DAY), r"tarif de ZZZ : montant \(amount\) invalide"),
        (Tariff("ZZZ", Decimal(1), dt.datetime(2024, 1, 1)), r"tarif de ZZZ : la date de début"),  # noqa: DTZ001
        (Tariff("ZZZ", Decimal(1), DAY, "2025"), r"tarif de ZZZ : la date de fin \(end\)"),  # type: ignore[arg-type]
        (
            Tariff("ZZZ", Decimal(1), DAY, dt.date(2023, 1, 1)),
            r"tarif de ZZZ : la fin du tarif précède son début",
        ),
        (Tariff("ZZZ", Decimal(1), DAY, unit="euro"), r"tarif de ZZZ : l'unité \(unit\)"),
        (Tariff("ZZZ", Decimal(1), DAY, sector="3"), r"tarif de ZZZ : le secteur \(sector\)"),
        (
            Tariff("", Decimal(1), DAY),
            r"le tarif n° 1 n'est pas un billing_rules\.Tariff avec un code : '' \(str\)",
        ),
    ],
)
def test_a_malformed_tariff_is_refused_naming_the_plugin_and_the_field(item: object, expected: str) -> None:
    with pytest.raises(
        PluginLoadError, match=r"l'extension « vendor » n'a pas pu être chargée : .*" + expected
    ):
        _build("register_tariffs", item)


def test_the_tariff_at_fault_is_named_by_its_rank_among_the_plugins_items() -> None:
    good = Tariff("ZZZ", Decimal(10), DAY)
    with pytest.raises(PluginLoadError, match="le tarif n° 2 n'est pas"):
        _build("register_tariffs", good, "G")


def test_a_whole_euro_tariff_is_accepted_as_a_decimal() -> None:
    validator = _build("register_tariffs", Tariff("ZZZ", 10, DAY))  # type: ignore[arg-type]
    (row,) = validator.ruleset.tariffs.rows("ZZZ")
    assert row.amount == Decimal(10) and type(row.amount) is Decimal and row.origin == "vendor"


def test_a_bad_tariff_amount_no_longer_blames_a_builtin_rule_on_every_invoice(
    site: Callable[..., str],  # noqa: F811
    billing_file: Path,  # noqa: F811
) -> None:
    site(
        "badtariff",
        """
        import datetime as dt
        from billing_rules import Tariff, hookimpl

        @hookimpl
        def register_tariffs(register):
            register(Tariff("G", "abc", dt.date(2030, 1, 1)))
        """,
        version="0.3",
    )
    result = run("check", str(billing_file))
    assert result.exit_code == cli.EXIT_ERROR
    assert "« badtariff 0.3 »" in result.stderr and "tarif de G : le montant (amount)" in result.stderr
    assert "INTERNAL-ERROR" not in result.output and "erreur interne" not in result.stderr


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('register("G")', "le tarif n° 1 n'est pas un billing_rules.Tariff avec un code : 'G' (str)"),
        ('register(Tariff("ZZZ", 10, "2024-01-01"))', "tarif de ZZZ : la date de début (start)"),
    ],
)
def test_the_command_line_names_the_plugin_of_a_malformed_tariff(
    site: Callable[..., str],  # noqa: F811
    billing_file: Path,  # noqa: F811
    source: str,
    expected: str,
) -> None:
    site(
        "badtariff",
        f"""
        from billing_rules import Tariff, hookimpl

        @hookimpl
        def register_tariffs(register):
            {source}
        """,
        version="0.3",
    )
    result = run("check", str(billing_file))
    assert result.exit_code == cli.EXIT_ERROR
    assert "« badtariff 0.3 »" in result.stderr and expected in result.stderr
    assert "erreur interne" not in result.stderr and "Error" not in result.stderr


# -- rules, functions, readers, reporters, rule sets -------------------------------------------------


@pytest.mark.parametrize(
    ("hook", "item", "expected"),
    [
        ("register_rules", "G", r"la règle n° 1 \('G' \(str\)\) n'a pas de code"),
        (
            "register_rules",
            _with(_Rule, code=5),
            r"n'a pas de code : un texte non vide est attendu, pas 5 \(int\)",
        ),
        ("register_rules", _with(_Rule, severity="error"), r"règle VENDOR-1 : la gravité \(severity\)"),
        (
            "register_rules",
            _with(_Rule, triggers="G"),
            r"règle VENDOR-1 : triggers doit être None .* pas 'G' \(str\)",
        ),
        ("register_rules", _with(_Rule, check=None), r"règle VENDOR-1 : la méthode check"),
        ("register_rules", _with(_Rule, bind=3), r"règle VENDOR-1 : bind doit être"),
        ("register_functions", "f", r"la fonction n° 1 n'est pas une billing_rules\.Function nommée"),
        (
            "register_functions",
            Function("bad name", (), Kind.BOOL, lambda env, event: True),
            r"la fonction n° 1 n'est pas une billing_rules\.Function nommée par un identifiant",
        ),
        (
            "register_functions",
            Function("f", ("code",), Kind.BOOL, lambda env, event, code: True),  # type: ignore[arg-type]
            r"fonction f : les paramètres \(params\)",
        ),
        (
            "register_functions",
            Function("f", (), "bool", lambda env, event: True),  # type: ignore[arg-type]
            r"fonction f : returns n'est pas un Kind",
        ),
        (
            "register_functions",
            Function("f", (), Kind.BOOL, None),
            r"fonction f : impl n'est pas une fonction",
        ),  # type: ignore[arg-type]
        ("register_readers", "csv", r"le format d'entrée n° 1 \('csv' \(str\)\) n'a pas de nom"),
        ("register_readers", _with(_Reader, extensions=".vnd"), r"« vendor-format » : extensions doit être"),
        ("register_readers", _with(_Reader, rows=None), r"« vendor-format » : la méthode rows"),
        ("register_reporters", "html", r"le format de rapport n° 1 \('html' \(str\)\) n'a pas de nom"),
        ("register_reporters", _with(_Reporter, render=None), r"« vendor-report » : la méthode render"),
        (
            "register_rule_sets",
            42,
            r"le jeu de règles n° 1 n'est pas un chemin de fichier \.rules : 42 \(int\)",
        ),
        (
            "register_rule_sets",
            {"name": "x.rules"},
            r"le jeu de règles n° 1 : register\(text=\.\.\., name=\.\.\.\)",
        ),
        (
            "register_rule_sets",
            'rule X error "m"\n  on G\nend\n',
            r"n'est pas un chemin de fichier \.rules : 'rule X",
        ),
    ],
)
def test_every_kind_of_malformed_item_is_refused_naming_the_plugin(
    hook: str, item: object, expected: str
) -> None:
    with pytest.raises(
        PluginLoadError, match=rf"« vendor » n'a pas pu être chargée : {hook} : .*{expected}"
    ) as caught:
        _build(hook, item)
    assert caught.value.name == "vendor"


def test_two_items_in_one_register_call_are_refused() -> None:
    with pytest.raises(PluginLoadError, match="tarif n° 1 n'est pas.*une fois par tarif"):
        _build_with_call("register_tariffs", Tariff("A", Decimal(1), DAY), Tariff("B", Decimal(1), DAY))


def _build_with_call(hook: str, *args: Any) -> Validator:
    def implementation(self: object, register: Callable[..., None]) -> None:
        register(*args)

    plugin = type("Plugin", (), {hook: billing_rules.hookimpl(implementation)})()
    return Validator.build(entry_points=False, plugins=[("vendor", plugin)])


def test_well_formed_items_of_every_kind_still_load() -> None:
    rule = _Rule()
    rule_as_list = _with(_Rule, code="VENDOR-2", triggers=["G"])
    validator = Validator.build(
        entry_points=False,
        plugins=[
            ("vendor", _plugin("register_rules", rule, rule_as_list)),
            (
                "vendor-tariffs",
                _plugin("register_tariffs", Tariff("ZZZ", Decimal("1.50"), DAY, sector="optam")),
            ),
            ("vendor-functions", _plugin("register_functions", Function("f", [Kind.CODE], Kind.BOOL, print))),  # type: ignore[arg-type]
            ("vendor-readers", _plugin("register_readers", _Reader())),
            ("vendor-reporters", _plugin("register_reporters", _Reporter())),
            ("vendor-texts", _plugin("register_rule_sets", {"text": 'code ZZY "x"\n', "name": "z.rules"})),
        ],
    )
    assert {"VENDOR-1", "VENDOR-2"} <= {info.code for info in validator.rules}
    assert "vendor-format" in validator.readers and "vendor-report" in validator.reporters
    assert validator.ruleset.functions["f"].params == (Kind.CODE,)
    assert "ZZY" in validator.ruleset.codes


def test_the_plugins_command_lists_a_plugin_with_a_malformed_item(site: Callable[..., str]) -> None:  # noqa: F811
    site(
        "badreader",
        """
        from billing_rules import hookimpl

        @hookimpl
        def register_readers(register):
            register("xml")
        """,
    )
    result = run("plugins")
    assert result.exit_code == cli.EXIT_ERROR
    assert "badreader" in result.output and "format d'entrée n° 1" in result.output


# -- rule files a plugin cannot read -----------------------------------------------------------------


def test_a_missing_rule_file_of_a_plugin_names_the_plugin(
    site: Callable[..., str],  # noqa: F811
    billing_file: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    missing = tmp_path / "nonexistent.rules"
    site(
        "lostfile",
        f"""
        from pathlib import Path
        from billing_rules import hookimpl

        @hookimpl
        def register_rule_sets(register):
            register(Path({str(missing)!r}))
        """,
        version="0.1",
    )
    with pytest.raises(PluginLoadError, match="lostfile.*nonexistent.rules.*fichier introuvable"):
        Validator.build()
    result = run("check", str(billing_file))
    assert result.exit_code == cli.EXIT_ERROR
    assert "l'extension « lostfile 0.1 » n'a pas pu être chargée" in result.stderr
    assert "nonexistent.rules" in result.stderr and "fichier introuvable" in result.stderr


def test_a_rule_file_of_a_plugin_that_is_a_folder_or_not_utf8_names_the_plugin(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.rules"
    latin1.write_bytes('code ZZZ "Acte spécial"\n'.encode("cp1252"))
    for path, reason in (
        (tmp_path, "c'est un dossier"),
        (latin1, "enregistrez le fichier de règles en UTF-8"),
    ):
        with pytest.raises(PluginLoadError, match=f"« vendor ».*{reason}"):
            _build("register_rule_sets", path)
