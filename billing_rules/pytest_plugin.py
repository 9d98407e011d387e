"""Pytest fixtures and example collection for rule and plugin authors (entry point ``pytest11``).

Only pytest's own modules are imported at module level: this file is loaded by every pytest run of
an environment where billing-rules is installed, and must cost nothing when its fixtures are unused.

Fixtures (see :mod:`billing_rules.testing` for the functions they hand out):

* ``billing_validator``: the built-in rules and the plugins under test: those of the
  ``billing_rules_plugins`` setting, plus what the test's ``billing_rules`` marker names
  (``plugins=["name = module"]``, ``entry_points=["name"]`` or ``True``, ``rule_files=[...]``).
  Nothing else installed in the environment is loaded (deterministic);
* ``make_event``, ``make_events``: invoices from a few fields;
* ``check_invoices``: check events against a validator, with an optional history;
* ``assert_findings``: compare what fired with what was expected, with a readable message.

Rule examples: with ``billing_rules_examples = true`` in the pytest configuration (or
``--billing-rules-examples``), every ``*.rules`` file pytest collects becomes a test module with one
item per ``example fires`` / ``example passes`` line, run exactly as ``billing-rules rules test``
runs them. Installed plugins are loaded (a plugin's rule file needs its functions); a file a loaded
plugin already registers is tested as loaded rather than added twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

_OPTION = "billing_rules_examples"
_VALIDATORS = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The opt-in for collecting rule examples: off by default (``.rules`` may mean something else)."""
    parser.addini(
        _OPTION, "collecte les exemples des fichiers *.rules (billing-rules)", type="bool", default=False
    )
    parser.addini(
        "billing_rules_plugins",
        "extensions à enregistrer pour les exemples et billing_validator, « nom = module » "
        "(sans les installer)",
        type="linelist",
        default=[],
    )
    parser.addoption(
        "--billing-rules-examples",
        action="store_true",
        default=False,
        help="collecte les exemples des fichiers *.rules (billing-rules)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``billing_rules`` marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers",
        "billing_rules(plugins=[], entry_points=False, rule_files=[]): ce que billing_validator "
        "charge en plus des règles intégrées (« nom = module », extensions installées, fichiers)",
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A ``*.rules`` file becomes a collector of its examples, when collection is enabled."""
    if file_path.suffix != ".rules":
        return None
    config = parent.config
    if not (config.getoption("--billing-rules-examples") or config.getini(_OPTION)):
        return None
    return RuleFile.from_parent(parent, path=file_path)


class RuleFile(pytest.File):
    """The examples of one rule file."""

    def collect(self) -> Any:
        """One item per example, named ``CODE:fires:LINE``."""
        from billing_rules.testing import examples_of, loaded_copy

        validator = _validator_for(self.config, self.path)
        for example in examples_of(validator, paths=[loaded_copy(validator, self.path) or self.path]):
            kind = "fires" if example.fires else "passes"
            yield RuleExampleItem.from_parent(
                self, name=f"{example.code}:{kind}:{example.line}", example=example
            )


class RuleExampleItem(pytest.Item):
    """One example, run through :func:`billing_rules.testing.run_example`."""

    def __init__(self, *, example: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.example = example

    def runtest(self) -> None:
        """Fail with the French reason when the example does not behave as written."""
        from billing_rules.testing import run_example

        result = run_example(_validator_for(self.config, self.path), self.example)
        if not result.ok:
            raise RuleExampleFailure(result.message)

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        """The example's location and the reason, without a Python traceback."""
        if isinstance(excinfo.value, RuleExampleFailure):
            return f"{self.example.path}:{self.example.line}: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        """Where the example is written."""
        return (
            self.path,
            self.example.line - 1,
            f"{self.example.code} ({'fires' if self.example.fires else 'passes'})",
        )


class RuleExampleFailure(Exception):
    """An example that did not behave as written."""


def _validator_for(config: pytest.Config, path: Path) -> Any:
    """One validator per rule file per session (building compiles every rule file)."""
    from billing_rules.testing import build_validator, loaded_copy

    cache = config.stash.setdefault(_VALIDATORS, {})
    key = str(path.resolve())
    if key not in cache:
        plugins = _configured_plugins(config)
        base = cache.get("") or build_validator(plugins=plugins, entry_points=True)
        cache[""] = base
        loaded = loaded_copy(base, path) is not None
        cache[key] = base if loaded else build_validator([path], plugins=plugins, entry_points=True)
    return cache[key]


def _configured_plugins(config: pytest.Config) -> list[tuple[str, Any]]:
    """``billing_rules_plugins`` lines (``name = module``), imported: a checkout needs no install."""
    return _imported(config.getini("billing_rules_plugins"))


def _imported(lines: Any) -> list[tuple[str, Any]]:
    """``name = module`` strings as ``(name, module)`` pairs; other items (module objects) as given."""
    import importlib

    plugins = []
    for line in lines:
        if not isinstance(line, str):
            plugins.append(line)
            continue
        name, _, module = line.partition("=")
        module = module.strip() or name.strip()
        plugins.append((name.strip(), importlib.import_module(module)))
    return plugins


def _by_name(plugins: list[Any]) -> list[Any]:
    """One plugin per name: the marker may name again a plugin of the configuration."""
    named: dict[str, Any] = {}
    others = []
    for plugin in plugins:
        if isinstance(plugin, tuple):
            named[plugin[0]] = plugin
        else:
            others.append(plugin)
    return [*named.values(), *others]


_MARKER_ARGUMENTS = frozenset({"plugins", "entry_points", "rule_files"})


def _marker_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The keyword arguments of the test's ``billing_rules`` markers (the closest one wins per key).

    An unknown keyword is an error: a misspelt ``plugin=`` would otherwise test without the plugin.
    """
    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("billing_rules"))):
        unknown = set(marker.kwargs) - _MARKER_ARGUMENTS
        if marker.args or unknown:
            wrong = ", ".join(sorted(unknown)) or "arguments positionnels"
            expected = ", ".join(sorted(_MARKER_ARGUMENTS))
            pytest.fail(f"marqueur billing_rules : {wrong} inconnu(s) ; attendus : {expected}", pytrace=False)
        options.update(marker.kwargs)
    for key in ("plugins", "entry_points", "rule_files"):
        if isinstance(options.get(key), (str, Path)):
            options[key] = [options[key]]  # one name given alone, not a list of its characters
    return options


# --------------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def billing_validator(request: pytest.FixtureRequest) -> Any:
    """A validator with the built-in rules and the plugins under test (a fresh one per test).

    The plugins are those of the ``billing_rules_plugins`` setting (``name = module``, imported,
    so a checkout of the plugin needs no install) and those the test's ``billing_rules`` marker
    names::

        @pytest.mark.billing_rules(plugins=["specialist = billing_rules_specialist"])
        @pytest.mark.billing_rules(entry_points=["specialist"])     # installed, by entry point name
        @pytest.mark.billing_rules(entry_points=True)               # every installed plugin
        @pytest.mark.billing_rules(rule_files=["ours.rules"])       # relative to the test file

    Other installed plugins stay out: a test never depends on what else the environment holds.
    """
    from billing_rules.testing import build_validator

    options = _marker_options(request)
    plugins = _by_name(_configured_plugins(request.config) + _imported(options.get("plugins", ())))
    here = Path(str(request.path)).parent
    rule_files = [here / path for path in options.get("rule_files", ())]
    return build_validator(rule_files, plugins=plugins, entry_points=options.get("entry_points", False))


@pytest.fixture
def make_event() -> Any:
    """:func:`billing_rules.testing.make_event`: ``make_event(codes="G+MEG", birth_date="2022-05-01")``."""
    from billing_rules.testing import make_event as factory

    return factory


@pytest.fixture
def make_events() -> Any:
    """:func:`billing_rules.testing.make_events`: several invoices, numbered ``F-1``, ``F-2``..."""
    from billing_rules.testing import make_events as factory

    return factory


@pytest.fixture
def check_invoices() -> Any:
    """:func:`billing_rules.testing.check`: ``check_invoices(validator, [rows], history=[rows])``."""
    from billing_rules.testing import check

    return check


@pytest.fixture
def assert_findings() -> Any:
    """:func:`billing_rules.testing.assert_findings`: ``assert_findings(report, {"F-1": ["X"]})``."""
    from billing_rules.testing import assert_findings as function

    return function
