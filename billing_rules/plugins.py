"""Finding and loading plugins, and collecting what each one registers, stamped with its name.

Built-in plugins are module paths registered first, so they work from a checkout. Installed plugins
(entry point group ``billing_rules``) are then loaded one by one, each inside its own error handling:
a broken plugin is reported by name (:class:`PluginLoadError`) instead of taking the tool down
anonymously. ``BILLING_RULES_LOAD_PLUGINS=a,b`` restricts which installed plugins load (empty: none).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs
import pluggy

from billing_rules import hookspecs
from billing_rules.errors import PluginLoadError

GROUP = "billing_rules"
BUILTIN_SOURCE = "builtin"
DEFAULT_PLUGINS = ("billing_rules.builtin.ngap", "billing_rules.builtin.formats")
LOAD_PLUGINS_ENV = "BILLING_RULES_LOAD_PLUGINS"

hookimpl = pluggy.HookimplMarker(GROUP)


@attrs.frozen
class PluginInfo:
    """What ``billing-rules plugins`` says about one plugin."""

    name: str
    version: str | None
    hooks: tuple[str, ...]
    builtin: bool


def make_plugin_manager(
    *, entry_points: bool | Sequence[str] = True, extra: Iterable[Any] = (), builtin: bool = True
) -> pluggy.PluginManager:
    """A fresh manager: built-ins, then installed plugins, then ``extra`` plugin objects (tests).

    ``entry_points`` is True (every installed plugin, subject to the environment variable), False
    (none) or the names to load.
    """
    manager = pluggy.PluginManager(GROUP)
    manager.add_hookspecs(hookspecs)
    for module_name in DEFAULT_PLUGINS if builtin else ():
        manager.register(importlib.import_module(module_name), name=module_name)
    for entry_point in _selected_entry_points(entry_points):
        _load_entry_point(manager, entry_point)
    for plugin in extra:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        manager.register(plugin, name=name)
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginLoadError(exc.plugin_name or "?", None, f"crochet inconnu ({exc})") from None
    return manager


def _selected_entry_points(selection: bool | Sequence[str]) -> list[metadata.EntryPoint]:
    if selection is False:
        return []
    found = list(metadata.entry_points(group=GROUP))
    wanted: set[str] | None = None
    if selection is not True:
        wanted = set(selection)  # type: ignore[arg-type]
    env = os.environ.get(LOAD_PLUGINS_ENV)
    if env is not None:
        names = {name.strip() for name in env.split(",") if name.strip()}
        wanted = names if wanted is None else wanted & names
    if wanted is not None:
        found = [entry_point for entry_point in found if entry_point.name in wanted]
    return sorted(found, key=lambda entry_point: entry_point.name)


def _load_entry_point(manager: pluggy.PluginManager, entry_point: metadata.EntryPoint) -> None:
    version = entry_point.dist.version if entry_point.dist is not None else None
    try:
        plugin = entry_point.load()
        manager.register(plugin, name=entry_point.name)
    except Exception as exc:  # noqa: BLE001 - any failure of third-party code is reported by name
        raise PluginLoadError(entry_point.name, version, f"{type(exc).__name__}: {exc}") from exc
    _VERSIONS[entry_point.name] = version


_VERSIONS: dict[str, str | None] = {}


def source_name(plugin_name: str) -> str:
    """The ``source`` of a plugin's contributions: ``builtin`` for the default plugins."""
    return BUILTIN_SOURCE if plugin_name in DEFAULT_PLUGINS else plugin_name


def collect(manager: pluggy.PluginManager, hook_name: str) -> list[tuple[str, Any]]:
    """Call every implementation of ``register_*`` hook separately, returning (source, item) pairs.

    Calling each implementation alone is what lets us stamp the plugin's name on each item. A
    failure inside a plugin's hook is a :class:`PluginLoadError` naming it.
    """
    caller = getattr(manager.hook, hook_name)
    items: list[tuple[str, Any]] = []
    for impl in caller.get_hookimpls():
        source = source_name(impl.plugin_name)

        def register(*args: Any, _source: str = source, **kwargs: Any) -> None:
            items.append((_source, _RegisterCall(args, kwargs)))

        try:
            impl.function(register=register)
        except PluginLoadError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise PluginLoadError(impl.plugin_name, _VERSIONS.get(impl.plugin_name), exc) from exc
    return [(source, call.value()) for source, call in items]


@attrs.frozen
class _RegisterCall:
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def value(self) -> Any:
        if self.kwargs and not self.args:
            return self.kwargs
        return self.args[0] if len(self.args) == 1 and not self.kwargs else (self.args, self.kwargs)


def plugin_infos(manager: pluggy.PluginManager) -> list[PluginInfo]:
    """Every registered plugin with its version and the hooks it implements."""
    infos = []
    for name, plugin in manager.list_name_plugin():
        hooks = tuple(sorted(caller.name for caller in manager.get_hookcallers(plugin) or ()))
        infos.append(PluginInfo(name=source_name(name) if name in DEFAULT_PLUGINS else name,
                                version=_VERSIONS.get(name), hooks=hooks, builtin=name in DEFAULT_PLUGINS))
    return infos


def rule_file_paths(package: str) -> list[Path]:
    """The ``*.rules`` files shipped inside a package, sorted: what a plugin usually registers."""
    from importlib import resources

    folder = resources.files(package)
    return sorted(Path(str(item)) for item in folder.iterdir() if item.name.endswith(".rules"))


RegisterCallback = Callable[..., None]
