"""``billing-rules plugins`` and ``billing-rules rules test``: what is installed, and does it work.

Both commands are for the people who write or install rules, not for billing staff: ``plugins``
says which extensions are loaded (version, hooks, rule codes) and which fail to load and why;
``rules test`` runs the ``example fires`` / ``example passes`` lines written beside the rules.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from billing_rules.cli.group import (
    EXIT_ERROR,
    EXIT_FINDINGS,
    _debug_option,
    _require_files,
    _say,
    _stop_on_error,
    main,
)
from billing_rules.cli.options import PluginSelection, plugin_options, text_or_json_option
from billing_rules.cli.output import check_output, detail, output_option, report_output, verbosity_options
from billing_rules.cli.rules import missing_references, rules


@main.command("plugins")
@text_or_json_option()
@output_option
@verbosity_options
@plugin_options
@_debug_option
def plugins_command(output_format: str, output: str | None, debug: bool, selection: PluginSelection) -> None:
    """Liste les extensions : version, crochets, codes de règles apportés.

    Les règles intégrées (NGAP) sont une extension comme les autres, nommée « builtin ». Une extension
    qui ne se charge pas est listée avec son erreur, et le code de sortie est alors 2.
    """
    with _stop_on_error(debug):
        check_output(output)
        entries, failed = _plugin_entries(selection)
        with report_output(output) as stream:
            if output_format == "json":
                json.dump(entries, stream, ensure_ascii=False, indent=2)
                stream.write("\n")
            else:
                for entry in entries:
                    stream.write(_entry_text(entry))
    if failed:
        raise click.exceptions.Exit(EXIT_ERROR)


def _plugin_entries(selection: PluginSelection) -> tuple[list[dict[str, Any]], bool]:
    """One JSON-ready entry per plugin (the two built-in modules merged as ``builtin``)."""
    from billing_rules.api.validator import Validator
    from billing_rules.errors import BillingRulesError
    from billing_rules.plugins import make_plugin_manager, plugin_infos

    config = selection.config()
    selection.announce(config)
    entry_points = selection.entry_points(config)
    blocked = config.plugins_disable if config is not None else ()
    if isinstance(entry_points, bool):
        asked = "toutes les installées" if entry_points else "aucune"
    else:
        asked = ", ".join(entry_points)
    detail(f"extensions demandées : {asked}")
    if blocked:
        detail(f"extensions désactivées : {', '.join(blocked)}")
    manager = make_plugin_manager(entry_points=entry_points, blocked=blocked, keep_going=True)
    entries: dict[str, dict[str, Any]] = {}
    for info in plugin_infos(manager):
        entry = entries.setdefault(
            info.name,
            {
                "name": info.name,
                "version": info.version,
                "distribution": info.distribution,
                "builtin": info.builtin,
                "hooks": [],
                "rules": [],
                "error": info.error,
            },
        )
        entry["hooks"] = sorted(set(entry["hooks"]) | set(info.hooks))
    loaded = [name for name, entry in entries.items() if entry["error"] is None and not entry["builtin"]]
    failed = any(entry["error"] is not None for entry in entries.values())
    # The rule codes need the rule files compiled: build with the plugins that did load. A clash
    # between two of them is exactly what the user needs to see here, so it is reported.
    try:
        validator = Validator.build(entry_points=loaded)
    except BillingRulesError as exc:  # listed anyway, then exit 2
        _say(f"erreur : {exc}")
        failed = True
    else:
        for rule in validator.ruleset.rules:
            if rule.source in entries:
                entries[rule.source]["rules"].append(rule.code)
        # The plugin's author learns here what its findings will lack (SPEC §2: citation, action).
        third_party = (info for info in validator.rules if info.source in loaded)
        for warning in missing_references(third_party):
            _say(warning)
    for entry in entries.values():
        entry["rules"].sort()
    return list(entries.values()), failed


def _entry_text(entry: dict[str, Any]) -> str:
    version = f" {entry['version']}" if entry["version"] else ""
    lines = [f"{entry['name']}{version}" + (" (intégrée)" if entry["builtin"] else "")]
    if entry["error"] is not None:
        lines.append(f"  ERREUR : ne se charge pas : {entry['error']}")
    else:
        lines.append(f"  crochets : {', '.join(entry['hooks']) or 'aucun'}")
        lines.append(f"  règles   : {', '.join(entry['rules']) or 'aucune'}")
    return "\n".join(lines) + "\n"


@rules.command("test")
@click.argument("files", nargs=-1, metavar="[FICHIER]...")
@output_option
@plugin_options
@_debug_option
def rules_test(files: tuple[str, ...], output: str | None, debug: bool, selection: PluginSelection) -> None:
    """Exécute les exemples (example fires / example passes) écrits à côté des règles.

    Sans FICHIER : les exemples de toutes les règles chargées (intégrées et extensions). Code de
    sortie : 0 si tous passent, 1 si un exemple échoue, 2 si les règles ne se chargent pas.
    """
    from billing_rules.testing import run_examples

    with _stop_on_error(debug):
        _require_files(files)
        check_output(output)
        validator, paths = _validator_with(files, selection)
        results = run_examples(validator, paths=paths or None)
    failures = [result for result in results if not result.ok]
    with _stop_on_error(debug), report_output(output) as stream:
        for result in results:
            example = result.example
            kind = "fires " if example.fires else "passes"
            where = f"{example.path}:{example.line}"
            if result.ok:
                stream.write(f"ok     {example.code} {kind} {where}\n")
            else:
                stream.write(f"ÉCHEC  {example.code} {kind} {where} : {result.message}\n")
        noun = "exemple" if len(results) < 2 else "exemples"
        stream.write(
            f"{len(results)} {noun} : {len(results) - len(failures)} réussi(s), {len(failures)} en échec\n"
        )
    if not results:
        _say("aucun exemple trouvé (ajoutez des lignes « example fires { ... } » aux règles)")
    if failures:
        raise click.exceptions.Exit(EXIT_FINDINGS)


def _validator_with(files: Sequence[str], selection: PluginSelection) -> tuple[Any, list[str]]:
    """The selected validator plus the ``files`` no loaded plugin registers, and where each is loaded.

    A plugin author runs ``rules test src/.../specialist.rules`` with the plugin installed: adding
    the file a second time would be a clash with itself, so such a file is tested as loaded, and
    an edited copy of it (other text) is loaded in place of the installed copy, under the plugin's
    name: what is tested is the file given, never the installed one beside it.
    """
    from billing_rules.testing import loaded_copy

    validator = selection.build(())
    if not files:
        return validator, []
    copies = {name: loaded_copy(validator, name) for name in files}
    edited = {name: _edited_copy_of(validator, name) for name, copy in copies.items() if copy is None}
    replacing = {origin: name for name, origin in edited.items() if origin is not None}
    extra = [name for name, origin in edited.items() if origin is None]
    for origin, name in replacing.items():
        _say(f"{name} : testé à la place du fichier chargé {origin}")
    if replacing:
        from billing_rules.api.validator import Validator

        config = selection.effective_config()
        validator = Validator.build(
            rule_files=extra, entry_points=selection.entry_points(config), config=config, replacing=replacing
        )
    elif extra:
        validator = selection.build(extra, announce=False)
    return validator, [copy or name for name, copy in copies.items()]


def _edited_copy_of(validator: Any, path: str) -> str | None:
    """The rule file of an installed plugin that ``path`` is an edited copy of, or None.

    A copy has the loaded file's name, or defines one of its rule codes (a copy renamed while it is
    edited); of several, the one it shares the most rule codes with. The built-in catalogue's files
    are never replaced: a practice's file that reuses a built-in code is the clash it looks like.
    """
    from pathlib import Path

    from billing_rules.dsl import ast
    from billing_rules.dsl.parser import parse
    from billing_rules.errors import BillingRulesError
    from billing_rules.plugins import BUILTIN_SOURCE, plugin_infos

    try:
        text = Path(path).read_text(encoding="utf-8-sig")
        declared = parse(text, path).declarations
    except (OSError, UnicodeDecodeError, BillingRulesError):
        return None  # loaded as an extra file, whose error says what is wrong with it
    codes = {item.code for item in declared if isinstance(item, ast.RuleDecl)}
    # Only an installed plugin's files: a practice's rule file loaded by its configuration (or by
    # --rules) is not replaced, and a copy of it is the clash it looks like.
    manager = getattr(validator, "manager", None)
    plugins = {info.name for info in plugin_infos(manager)} if manager is not None else set()
    plugins.discard(BUILTIN_SOURCE)
    by_file: dict[str, set[str]] = {}
    for rule in validator.ruleset.rules:
        origin = (getattr(rule, "origin", None) or "").rsplit(":", 1)[0]
        if rule.source in plugins and Path(origin).is_absolute() and Path(origin).is_file():
            by_file.setdefault(origin, set()).add(rule.code)
    name = Path(path).name
    ranked = sorted(
        (len(shared & codes), Path(origin).name == name, origin)
        for origin, shared in by_file.items()
        if shared & codes or Path(origin).name == name
    )
    return ranked[-1][2] if ranked else None
