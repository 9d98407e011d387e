"""Click's own words in French: ``Utilisation :``, ``Erreur : option inconnue``, ``[défaut : …]``.

Click writes its messages through ``gettext`` (each of its modules does ``from gettext import gettext
as _``), but ships no translations, and installing one for gettext's default domain would translate
every program of the process that uses it. So, while ``billing-rules`` runs (and only then), the
``_`` and ``ngettext`` of click's modules are swapped for look-ups in :data:`MESSAGES` and
:data:`PLURALS`, then put back: a program that embeds billing-rules, or another click command in the
same test session, keeps its own words.

A message click gains in a later version is shown in English until added here; a test lists the
messages of the installed click and checks those users meet in daily use are all translated.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator

MESSAGES: dict[str, str] = {
    # Help pages.
    "Usage:": "Utilisation :",
    "Options": "Options",
    "Commands": "Commandes",
    "Positional arguments": "Arguments",
    "default: {default}": "défaut : {default}",
    "env var: {var}": "variable d'environnement : {var}",
    "required": "obligatoire",
    "(dynamic)": "(calculé)",
    "deprecated": "obsolète",
    "Show this message and exit.": "Affiche cette aide et quitte.",
    "Show the version and exit.": "Affiche la version et quitte.",
    # Errors and the hint above them.
    "Error: {message}": "Erreur : {message}",
    "Try '{command} {option}' for help.": "Pour l'aide : « {command} {option} ».",
    "Aborted!": "Interrompu.",
    "Missing command.": "Commande manquante.",
    "No such command {name!r}.": "Commande inconnue : « {name} ».",
    "No such command '{name}'.": "Commande inconnue : « {name} ».",
    "No such option {name!r}.": "Option inconnue : « {name} ».",
    "No such option: {name}": "Option inconnue : « {name} ».",
    "Missing argument": "Argument manquant",
    "Missing option": "Option manquante",
    "Missing parameter": "Paramètre manquant",
    "Missing parameter: {param_name}": "Paramètre manquant : {param_name}",
    "Missing {param_type}": "{param_type} manquant",
    "Invalid value for {param_hint}: {message}": "Valeur invalide pour {param_hint} : {message}",
    "Invalid value: {message}": "Valeur invalide : {message}",
    "Option {name!r} does not take a value.": "L'option « {name} » ne prend pas de valeur.",
    "Argument {name!r} takes {nargs} values.": "L'argument « {name} » prend {nargs} valeurs.",
    "Choose from:\n\t{choices}": "Valeurs possibles :\n\t{choices}",
    "{value} is not in the range {range}.": "{value} n'est pas dans l'intervalle {range}.",
    "{value!r} is not a valid {number_type}.": "« {value} » n'est pas un nombre valide.",
    "{value!r} is not a valid boolean. Recognized values: {states}": (
        "« {value} » n'est pas un booléen. Valeurs reconnues : {states}"
    ),
    "{name} {filename!r} does not exist.": "{name} « {filename} » introuvable.",
    "{name} {filename!r} is a directory.": "{name} « {filename} » est un dossier.",
    "{name} {filename!r} is a file.": "{name} « {filename} » est un fichier.",
    "{name} {filename!r} is not readable.": "{name} « {filename} » illisible.",
    "{name} {filename!r} is not writable.": "{name} « {filename} » non modifiable.",
    "file": "fichier",
    "directory": "dossier",
    "path": "chemin",
    "Could not open file {filename!r}: {message}": "Impossible d'ouvrir « {filename} » : {message}",
    "unknown error": "erreur inconnue",
}
"""Click's messages (its exact English ids, several versions' spellings) and their French."""

PLURALS: dict[str, tuple[str, str]] = {
    "Got unexpected extra argument ({args})": (
        "Argument en trop : {args}",
        "Arguments en trop : {args}",
    ),
    "Option {name!r} requires an argument.": (
        "L'option « {name} » demande une valeur.",
        "L'option « {name} » demande {nargs} valeurs.",
    ),
    "{value!r} is not {choice}.": (
        "« {value} » n'est pas {choice}.",
        "« {value} » n'est pas parmi {choices}.",
    ),
    "Did you mean {possibility}?": (
        "Vouliez-vous dire {possibility} ?",
        "(Vouliez-vous dire l'une de : {possibilities} ?)",
    ),
    "Takes {nargs} values but 1 was given.": (
        "Prend {nargs} valeurs, 1 seule donnée.",
        "Prend {nargs} valeurs, {len} données.",
    ),
}
"""Click's ``ngettext`` messages, by their singular id: (French singular, French plural)."""

CLICK_MODULES = ("core", "decorators", "exceptions", "formatting", "parser", "types", "termui", "utils")
"""Click's modules whose ``_`` / ``ngettext`` are swapped."""


def gettext(message: str) -> str:
    """Click's ``_``: the French of ``message``, or ``message`` itself when it is not known."""
    return MESSAGES.get(message, message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """Click's ``ngettext``: the French singular or plural (French puts 0 and 1 in the singular)."""
    french = PLURALS.get(singular)
    if french is None:
        return singular if count == 1 else plural
    return french[0] if count < 2 else french[1]


@contextlib.contextmanager
def french_click() -> Iterator[None]:
    """Click speaks French inside the block; whatever its modules used before is restored after."""
    saved: list[tuple[object, str, Callable[..., str]]] = []
    try:
        for name in CLICK_MODULES:
            try:
                module = importlib.import_module(f"click.{name}")
            except ImportError:  # pragma: no cover - a click without that module
                continue
            for attribute, replacement in (("_", gettext), ("ngettext", ngettext)):
                current = getattr(module, attribute, None)
                if callable(current):
                    saved.append((module, attribute, current))
                    setattr(module, attribute, replacement)
        yield
    finally:
        for module, attribute, original in reversed(saved):
            setattr(module, attribute, original)
