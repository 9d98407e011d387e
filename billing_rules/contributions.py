"""What a plugin hands over through a ``register_*`` hook, checked at load time against its hook's shape.

A malformed item (a tariff whose amount is a text, a rule without a code, a reader without
``rows``) is refused there with a :class:`~billing_rules.errors.PluginLoadError` naming the
plugin: later it would be an anonymous crash, or an INTERNAL-ERROR on every invoice billing the
code. Messages are French: they reach the practice staff who installed the plugin, and its author.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import reprlib
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from typing import Any

import attrs

from billing_rules.errors import PluginLoadError


class _BadContribution(Exception):
    """An item a plugin registered lacks the shape its hook documents; the message says what, in French."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise _BadContribution(message)


def _shown(value: Any) -> str:
    """A wrong value as a message shows it: its repr (cut) and its type."""
    return f"{reprlib.repr(value)} ({type(value).__name__})"


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _texts(value: Any) -> bool:  # a collection of non-empty texts, not a text ("G" is not {"G"})
    return isinstance(value, Collection) and not isinstance(value, (str, bytes)) and all(map(_is_text, value))


def _check_rule_set(value: Any, number: int) -> Any:
    # What ``api.plugin_items.rule_text`` reads (a RuleText known by its text: no import of the API).
    what = f"le jeu de règles n° {number}"
    if isinstance(value, Mapping):
        text, name = value.get("text"), value.get("name", "rules")
        _require(
            isinstance(text, str) and _is_text(name),
            f"{what} : register(text=..., name=...) attend le texte des règles et un nom non vide, "
            f"pas text={_shown(text)}, name={_shown(name)}",
        )
        return value
    _require(
        (isinstance(value, (str, os.PathLike)) and "\n" not in str(value))
        or isinstance(getattr(value, "text", None), str)
        or callable(getattr(value, "read_text", None)),
        f"{what} n'est pas un chemin de fichier .rules : {_shown(value)} (attendu : register(chemin) "
        "ou register(text=..., name=...), une fois par fichier)",
    )
    return value


def _check_rule(value: Any, number: int) -> Any:
    from billing_rules.model import Severity

    _require(
        _is_text(getattr(value, "code", None)),
        f"la règle n° {number} ({_shown(value)}) n'a pas de code : un texte non vide est attendu, "
        f"pas {_shown(getattr(value, 'code', None))} (une règle suit billing_rules.Rule)",
    )
    what = f"règle {value.code}"
    severity = getattr(value, "severity", None)
    _require(
        isinstance(severity, Severity),
        f"{what} : la gravité (severity) doit être Severity.ERROR, Severity.WARNING ou "
        f"Severity.OPPORTUNITY, pas {_shown(severity)}",
    )
    _require(
        hasattr(value, "triggers") and (value.triggers is None or _texts(value.triggers)),
        f"{what} : triggers doit être None (toutes les factures) ou un ensemble de codes "
        f"(ex. frozenset({{'G'}})), pas {_shown(getattr(value, 'triggers', '(absent)'))}",
    )
    _require(callable(getattr(value, "check", None)), f"{what} : la méthode check(event, history) manque")
    bind = getattr(value, "bind", None)
    _require(bind is None or callable(bind), f"{what} : bind doit être une méthode, pas {_shown(bind)}")
    return value


def _check_tariff(value: Any, number: int) -> Any:
    """A whole-euro amount (``10``) becomes a ``Decimal``."""
    from billing_rules.domain.tariffs import Tariff

    shown = _shown(value.code if isinstance(value, Tariff) else value)  # an empty code shows as ''
    _require(
        isinstance(value, Tariff) and _is_text(value.code),
        f"le tarif n° {number} n'est pas un billing_rules.Tariff avec un code : {shown} "
        "(attendu : register(Tariff(code, montant, début)), une fois par tarif)",
    )
    what, amount = f"tarif de {value.code}", value.amount
    _require(
        isinstance(amount, (Decimal, int)) and not isinstance(amount, bool),
        f'{what} : le montant (amount) doit être un Decimal (ex. Decimal("26.50")), pas {_shown(amount)}',
    )
    _require(Decimal(amount).is_finite() and amount >= 0, f"{what} : montant (amount) invalide : {amount}")
    for field, words in (("start", "de début (start)"), ("end", "de fin (end)")):
        day = getattr(value, field)
        # A datetime is a date too, but cannot be compared with one: refused as well.
        _require(
            (day is None and field == "end")
            or (isinstance(day, dt.date) and not isinstance(day, dt.datetime)),
            f"{what} : la date {words} doit être une date (datetime.date), pas {_shown(day)}",
        )
    _require(value.end is None or value.start <= value.end, f"{what} : la fin du tarif précède son début")
    source, unit = value.source, value.unit
    _require(
        source is None or isinstance(source, str), f"{what} : la source n'est pas un texte : {_shown(source)}"
    )
    _require(unit in (None, "km"), f'{what} : l\'unité (unit) doit être None ou "km", pas {_shown(unit)}')
    _require(
        value.sector in (None, "1", "2", "optam"),
        f'{what} : le secteur (sector) doit être None, "1", "2" ou "optam", pas {_shown(value.sector)}',
    )
    return value if type(amount) is Decimal else attrs.evolve(value, amount=Decimal(amount))


def _check_function(value: Any, number: int) -> Any:
    """A list of parameters becomes a tuple."""
    from billing_rules.dsl.vocabulary import Function, Kind

    _require(
        isinstance(value, Function) and isinstance(value.name, str) and value.name.isidentifier(),
        f"la fonction n° {number} n'est pas une billing_rules.Function nommée par un identifiant : "
        f"{_shown(value)} (attendu : register(Function(nom, paramètres, résultat, impl)))",
    )
    what, params = f"fonction {value.name}", value.params
    _require(
        isinstance(params, (tuple, list)) and all(isinstance(kind, Kind) for kind in params),
        f"{what} : les paramètres (params) doivent être des Kind (ex. (Kind.CODE,)), pas {_shown(params)}",
    )
    _require(isinstance(value.returns, Kind), f"{what} : returns n'est pas un Kind : {_shown(value.returns)}")
    _require(callable(value.impl), f"{what} : impl n'est pas une fonction : {_shown(value.impl)}")
    return value if isinstance(params, tuple) else attrs.evolve(value, params=tuple(params))


def _format(value: Any, number: int, kind: str, method: str) -> Any:
    """A reader (``kind`` "format d'entrée") or a reporter: a name, ``method``, and extensions."""
    _require(
        _is_text(getattr(value, "name", None)),
        f"le {kind} n° {number} ({_shown(value)}) n'a pas de nom : name doit être un texte non vide",
    )
    what, extensions = f"{kind} « {value.name} »", getattr(value, "extensions", ())
    _require(
        _texts(extensions),
        f'{what} : extensions doit être un tuple de suffixes (ex. (".xml",)), pas {_shown(extensions)}',
    )
    _require(callable(getattr(value, method.partition("(")[0], None)), f"{what} : la méthode {method} manque")
    return value


# Each check takes an item and its rank among the plugin's items for the hook (for an item without
# a name yet) and returns the item, or raises _BadContribution saying which field is wrong.
CHECKS: dict[str, Callable[[Any, int], Any]] = {
    "register_rule_sets": _check_rule_set,
    "register_rules": _check_rule,
    "register_tariffs": _check_tariff,
    "register_functions": _check_function,
    "register_readers": functools.partial(_format, kind="format d'entrée", method="rows(stream, file)"),
    "register_reporters": functools.partial(_format, kind="format de rapport", method="render(report, …)"),
}


def checked(hook_name: str, value: Any, number: int, plugin: str, version: str | None) -> Any:
    """``value``, the ``number``-th item ``plugin`` registered through ``hook_name``, checked and normalised.

    Raises:
        PluginLoadError: the item lacks the shape its hook documents (the message says which field).
    """
    check = CHECKS.get(hook_name)
    if check is None:
        return value
    try:
        return check(value, number)
    except _BadContribution as exc:
        raise PluginLoadError(plugin, version, f"{hook_name} : {exc}") from None
