"""What plugins register, made ready for a validator: rule texts, stamped items, readers, adjusters.

Every item a plugin registers is stamped with the plugin's name (errors and findings say whose it
is); a plugin whose rule file fails is named in the error; two plugins registering one reader or
reporter name is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from billing_rules.api.ruleset import RuleText
from billing_rules.errors import InvalidInvoice as InvalidInvoice  # re-exported: its former home
from billing_rules.errors import RuleClashError, RuleFileError
from billing_rules.model import Event, Finding, Severity


def rule_text(source: str, item: Any) -> RuleText:
    """A registered rule set (mapping, RuleText, path or file-like) as a RuleText of ``source``."""
    if isinstance(item, Mapping):
        # A virtual path under the plugin's name: errors say whose text it is, and two plugins
        # registering texts under one name stay apart.
        name = str(item.get("name", "rules"))
        return RuleText(text=str(item["text"]), path=f"{source}/{name}", source=source)
    if isinstance(item, RuleText):
        return attrs.evolve(item, source=source)
    if isinstance(item, (str, Path)):
        return RuleText.from_path(item, source=source)  # read bounded, like --rules files
    try:
        text = item.read_text(encoding="utf-8")
    except (OSError, AttributeError) as exc:
        raise RuleFileError(f"fichier de règles illisible ({source}) : {exc}", path=str(item)) from None
    return RuleText(text=text, path=str(item), source=source)


def stamped(source: str, item: Any, field: str = "source") -> Any:
    """The item with its plugin's name, whatever the plugin wrote there (attribution is the host's)."""
    if attrs.has(type(item)) and field in attrs.fields_dict(type(item)):
        return attrs.evolve(item, **{field: source})
    try:
        setattr(item, field, source)
    except AttributeError:
        pass
    return item


def builtin_readers() -> dict[str, Any]:
    """The input formats every validator reads, before any plugin adds its own."""
    from billing_rules.readers import BUILTIN_READERS

    return dict(BUILTIN_READERS)


def adjusters(manager: Any) -> list[tuple[str, Any]]:
    """``adjust_findings`` implementations in registration order (built-ins first)."""
    if manager is None:
        return []
    from billing_rules.plugins import source_name

    impls = manager.hook.adjust_findings.get_hookimpls()  # registration order, not pluggy's LIFO
    return [(source_name(impl.plugin_name), impl.function) for impl in impls]


def adjust_crash(plugin_name: str, exc: BaseException, event: Event) -> Finding:
    """The INTERNAL-ERROR finding of a plugin's adjuster that raised on ``event``."""
    from billing_rules.engines.findings import INTERNAL_ERROR

    return Finding.about(
        event,
        rule=INTERNAL_ERROR,
        severity=Severity.ERROR,
        message=f"erreur interne de l'extension {plugin_name} (adjust_findings) : {type(exc).__name__} ; "
        "les constats de cette facture n'ont pas été ajustés",
        source=plugin_name,
    )


def blame_plugin(manager: Any, plugin_texts: Sequence[RuleText], exc: RuleFileError) -> None:
    """A plugin's invalid rule file is the plugin's load failure: name the plugin, not only the path."""
    from billing_rules.errors import PluginLoadError

    for text in plugin_texts:
        if text.path == exc.path and text.source != "builtin":
            if isinstance(exc, RuleClashError):
                # A clash has two culprits: the message names the first, this names the second.
                raise RuleClashError(f"extension « {text.source} » : {exc}") from exc
            version = manager.version_of(text.source) if hasattr(manager, "version_of") else None
            raise PluginLoadError(text.source, version, str(exc)) from exc


def by_name(items: Iterable[tuple[str, Any]], what: str, kind: str) -> dict[str, Any]:
    """Readers or reporters by name; two sources claiming one name is a load error naming both.

    A plugin's reader or reporter is wrapped so that its crash names the plugin.
    """
    from billing_rules.plugins import guarded

    found: dict[str, tuple[str, Any]] = {}
    for source, item in items:
        if item.name in found and found[item.name][0] != source:
            first = found[item.name][0]
            raise RuleClashError(f"{what} « {item.name} » défini deux fois : par {first} et par {source}")
        found[item.name] = (source, item)
    return {name: guarded(source, item, kind) for name, (source, item) in found.items()}


def input_readers(manager: Any, config: Any = None, columns: Any = None) -> dict[str, Any]:
    """The input formats of the loaded plugins, reading as the practice's files must be read.

    The built-in formats and each plugin's, by name (:func:`by_name`), through the practice's
    columns (``[columns]``, then ``columns``, the command line's, over it: SPEC §1b), filling the
    configured facts (``sector``, ``specialty``) where an export says nothing. Every command that
    reads billing files reads them through this: ``check`` and ``ledger import`` see the same rows.
    """
    from billing_rules.plugins import collect
    from billing_rules.readers.stream import with_columns

    readers = by_name(collect(manager, "register_readers"), "format d'entrée", "reader")
    if config is not None:
        columns = config.columns.merged(columns)
    readers = with_columns(readers, columns)  # before the facts: they fill fields, not headers
    return config.wrap_readers(readers) if config is not None else readers
