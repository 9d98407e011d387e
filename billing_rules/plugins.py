"""Finding and loading plugins, and collecting what each one registers, stamped with its name.

Built-in plugins are module paths registered first, so they work from a checkout. Installed plugins
(entry point group ``billing_rules``) are then loaded one by one, each inside its own error handling:
a broken plugin is reported by name (:class:`PluginLoadError`) instead of taking the tool down
anonymously, and never half-registered. ``BILLING_RULES_LOAD_PLUGINS=a,b`` restricts which installed
plugins load (empty: none), on top of ``--plugin`` / ``--no-plugins`` and the practice config.

A plugin module may declare ``BILLING_RULES_HOOK_API = N``, the hook API version it was written
for (:data:`billing_rules.hookspecs.HOOK_API_VERSION`): a plugin asking for a newer API than this
billing-rules provides is refused at load time, by name, rather than failing on some invoice later.
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
from billing_rules.contributions import checked
from billing_rules.errors import PluginLoadError
from billing_rules.interrupt import reraise_if_real

GROUP = "billing_rules"
BUILTIN_SOURCE = "builtin"
DEFAULT_PLUGINS = ("billing_rules.builtin.ngap", "billing_rules.builtin.formats")
LOAD_PLUGINS_ENV = "BILLING_RULES_LOAD_PLUGINS"
#: Module attribute a plugin sets to the hook API version it needs.
API_ATTRIBUTE = "BILLING_RULES_HOOK_API"

hookimpl = pluggy.HookimplMarker(GROUP)

RegisterCallback = Callable[..., None]


@attrs.frozen
class PluginInfo:
    """What ``billing-rules plugins`` says about one plugin (``error`` set when it failed to load)."""

    name: str
    version: str | None
    hooks: tuple[str, ...]
    builtin: bool
    distribution: str | None = None
    error: str | None = None


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus what we know of each plugin's distribution and load failures.

    Kept per instance (never a module global): tests and embedding software build their own
    managers side by side.
    """

    def __init__(self) -> None:
        super().__init__(GROUP)
        self.add_hookspecs(hookspecs)
        self.versions: dict[str, str | None] = {}
        self.distributions: dict[str, str | None] = {}
        self.failures: list[PluginLoadError] = []

    def version_of(self, name: str) -> str | None:
        """The installed version of a plugin's distribution, when known."""
        return self.versions.get(name)


def make_plugin_manager(
    *,
    entry_points: bool | Sequence[str] = True,
    extra: Iterable[Any] = (),
    builtin: bool = True,
    blocked: Iterable[str] = (),
    keep_going: bool = False,
) -> PluginManager:
    """A fresh manager: built-ins, then installed plugins, then ``extra`` plugin objects (tests).

    ``entry_points`` is True (every installed plugin, subject to the environment variable), False
    (none) or the names to load (a name that is not installed is an error). ``blocked`` names
    plugins never to load. ``extra`` items are modules or objects, or ``(name, plugin)`` pairs when
    the plugin's name (the ``source`` of its findings) matters.

    A failure raises :class:`PluginLoadError` naming the plugin, unless ``keep_going`` (used by
    ``billing-rules plugins``, which lists broken plugins): then it is kept in ``failures``.
    """
    manager = PluginManager()
    for module_name in DEFAULT_PLUGINS if builtin else ():
        module = importlib.import_module(module_name)
        _register(manager, module, module_name, None)
        manager.versions[module_name] = _own_version()
    for entry_point in _selected_entry_points(entry_points, set(blocked)):
        version = _dist_version(entry_point)
        try:
            plugin = entry_point.load()
        except BaseException as exc:  # noqa: BLE001 - any failure of third-party code is reported by name
            reraise_if_real(exc)
            _fail(
                manager,
                PluginLoadError(entry_point.name, version, f"{type(exc).__name__}: {exc}"),
                keep_going,
            )
            continue
        try:
            _register(manager, plugin, entry_point.name, version)
        except PluginLoadError as exc:
            _fail(manager, exc, keep_going)
            continue
        manager.versions[entry_point.name] = version
        manager.distributions[entry_point.name] = entry_point.dist.name if entry_point.dist else None
    for item in extra:
        name, plugin = item if isinstance(item, tuple) else (_object_name(item), item)
        try:
            _register(manager, plugin, name, None)
        except PluginLoadError as exc:
            _fail(manager, exc, keep_going)
    return manager


def _fail(manager: PluginManager, error: PluginLoadError, keep_going: bool) -> None:
    if not keep_going:
        raise error
    manager.failures.append(error)


def _register(manager: PluginManager, plugin: Any, name: str, version: str | None) -> None:
    """Register one plugin, or refuse it whole: wrong API version, bad signature, unknown hook."""
    wanted = getattr(plugin, API_ATTRIBUTE, None)
    if wanted is not None and (not isinstance(wanted, int) or wanted > hookspecs.HOOK_API_VERSION):
        raise PluginLoadError(
            name,
            version,
            f"demande la version {wanted!r} de l'API des crochets ; billing-rules fournit la version "
            f"{hookspecs.HOOK_API_VERSION} (mettez billing-rules à jour)",
        )
    try:
        manager.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginLoadError(name, version, f"crochet invalide ({exc})") from None
    # A misspelled hook (``register_rule`` for ``register_rules``) is silently ignored by pluggy
    # unless checked: refuse the plugin instead, naming it.
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        manager.unregister(name=name)
        raise PluginLoadError(name, version, f"crochet inconnu ({exc})") from None


def _object_name(plugin: Any) -> str:
    return getattr(plugin, "__name__", None) or type(plugin).__name__


def _own_version() -> str | None:
    from billing_rules.version import __version__

    return __version__


def _dist_version(entry_point: metadata.EntryPoint) -> str | None:
    return entry_point.dist.version if entry_point.dist is not None else None


def installed_entry_points() -> list[metadata.EntryPoint]:
    """Every entry point of group ``billing_rules``, sorted by name (load order never matters)."""
    found = {entry_point.name: entry_point for entry_point in metadata.entry_points(group=GROUP)}
    return [found[name] for name in sorted(found)]


def _selected_entry_points(selection: bool | Sequence[str], blocked: set[str]) -> list[metadata.EntryPoint]:
    if selection is False:
        return []
    found = installed_entry_points()
    wanted: set[str] | None = None
    if selection is not True:
        wanted = set(selection)  # type: ignore[arg-type]
        _check_installed(wanted, found, "")
    env = os.environ.get(LOAD_PLUGINS_ENV)
    if env is not None:
        # "builtin" is always loaded, and "0" has long meant "none" in scripts: neither is a typo.
        names = {name.strip() for name in env.split(",") if name.strip()} - {BUILTIN_SOURCE, "0"}
        _check_installed(names, found, f", nommée dans {LOAD_PLUGINS_ENV}")
        wanted = names if wanted is None else wanted & names
    return [
        entry_point
        for entry_point in found
        if (wanted is None or entry_point.name in wanted) and entry_point.name not in blocked
    ]


def _check_installed(names: set[str], found: Sequence[metadata.EntryPoint], where: str) -> None:
    """Refuse a plugin name that is not installed: a typo must not silently drop a plugin's rules."""
    missing = sorted(names - {entry_point.name for entry_point in found})
    if missing:
        installed = ", ".join(entry_point.name for entry_point in found) or "aucune"
        raise PluginLoadError(missing[0], None, f"extension non installée{where} (installées : {installed})")


def source_name(plugin_name: str) -> str:
    """The ``source`` of a plugin's contributions: ``builtin`` for the default plugins."""
    return BUILTIN_SOURCE if plugin_name in DEFAULT_PLUGINS else plugin_name


def collect(manager: pluggy.PluginManager, hook_name: str) -> list[tuple[str, Any]]:
    """Call every implementation of a ``register_*`` hook separately: (source, item) pairs.

    Calling each implementation alone is what lets us stamp the plugin's name on each item. A
    failure inside a plugin's hook is a :class:`PluginLoadError` naming it. Items come in plugin
    registration order (built-ins first), then in the order each plugin registered them.
    """
    caller = getattr(manager.hook, hook_name)
    items: list[tuple[str, str, Any]] = []
    versions = getattr(manager, "versions", {})
    # get_hookimpls() is in registration order (pluggy calls them in reverse; we call them ourselves).
    for impl in caller.get_hookimpls():
        source = source_name(impl.plugin_name)

        def register(
            *args: Any, _source: str = source, _plugin: str = impl.plugin_name, **kwargs: Any
        ) -> None:
            items.append((_plugin, _source, _RegisterCall(args, kwargs)))

        try:
            # Opt-in arguments: an implementation names only the arguments it uses.
            impl.function(**{name: register for name in impl.argnames if name == "register"})
        except PluginLoadError:
            raise
        except BaseException as exc:  # noqa: BLE001 - third-party code: name it, whatever it raised
            reraise_if_real(exc)
            cause = f"{type(exc).__name__} dans {hook_name} : {exc}"
            raise PluginLoadError(impl.plugin_name, versions.get(impl.plugin_name), cause) from exc
    collected: list[tuple[str, Any]] = []
    numbers: dict[str, int] = {}
    for plugin_name, source, call in items:
        numbers[plugin_name] = number = numbers.get(plugin_name, 0) + 1  # the plugin's n-th item
        # Now and by name: later, it would be an anonymous crash or an INTERNAL-ERROR per invoice.
        value = checked(hook_name, call.value(), number, plugin_name, versions.get(plugin_name))
        collected.append((source, value))
    return collected


@attrs.frozen
class _RegisterCall:
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def value(self) -> Any:
        if self.kwargs and not self.args:
            return self.kwargs
        return self.args[0] if len(self.args) == 1 and not self.kwargs else (self.args, self.kwargs)


def plugin_infos(manager: PluginManager) -> list[PluginInfo]:
    """Every registered plugin with its version and the hooks it implements, then the failures."""
    infos = []
    for name, plugin in manager.list_name_plugin():
        hooks = tuple(sorted(caller.name for caller in manager.get_hookcallers(plugin) or ()))
        infos.append(
            PluginInfo(
                name=source_name(name),
                version=manager.version_of(name),
                hooks=hooks,
                builtin=name in DEFAULT_PLUGINS,
                distribution="billing-rules" if name in DEFAULT_PLUGINS else manager.distributions.get(name),
            )
        )
    for failure in getattr(manager, "failures", ()):
        infos.append(
            PluginInfo(
                name=failure.name, version=failure.version, hooks=(), builtin=False, error=str(failure.cause)
            )
        )
    return infos


def rule_file_paths(package: str) -> list[Path]:
    """The ``*.rules`` files shipped inside a package, sorted: what a plugin usually registers."""
    from importlib import resources

    folder = resources.files(package)
    return sorted(Path(str(item)) for item in folder.iterdir() if item.name.endswith(".rules"))


class GuardedReader:
    """A plugin's reader whose failures name the plugin (a bug, not a bad file, of someone else's code).

    ``ReadError`` and the other library errors pass unchanged: they already say what is wrong with
    the file. Anything else becomes a ``ReadError`` naming the plugin and the format, never quoting
    the exception's text (it may hold a row, hence a patient identifier). So does a row that is not
    a :class:`~billing_rules.readers.RawRow` of the documented field types (:func:`raw_row_problem`):
    the core would fail on it later, in its own code, as an anonymous internal error.
    """

    def __init__(self, source: str, reader: Any) -> None:
        self.source = source
        self.reader = reader
        self.name = reader.name
        self.extensions = tuple(getattr(reader, "extensions", ()))

    def rows(self, stream: Any, file: str) -> Any:
        """The wrapped reader's rows."""
        from billing_rules.errors import BillingRulesError, ReadError

        try:
            for raw in self.reader.rows(stream, file):
                problem = raw_row_problem(raw)
                if problem is not None:
                    raise ReadError(
                        f"le format « {self.name} » de l'extension « {self.source} » a produit une ligne "
                        f"mal formée ({problem})"
                    )
                yield raw
        except GeneratorExit:
            raise  # the consumer stopped early: not the plugin's failure
        except BaseException as exc:
            reraise_if_real(exc)

            if isinstance(exc, (BillingRulesError, OSError)):
                raise
            raise ReadError(
                f"le format « {self.name} » de l'extension « {self.source} » a échoué ({type(exc).__name__})"
            ) from exc


def raw_row_problem(raw: Any) -> str | None:
    """What is wrong with a row a plugin's reader yielded, by type names only; ``None``: nothing.

    The core reads ``line``, ``values`` (a ``dict`` of column names), ``file`` and ``problems`` (``(field,
    message)`` pairs of ``str``) without checking them: the built-in readers make them so. The
    values themselves may be anything: reading them is the core's, with located input errors.
    """
    from billing_rules.readers.base import RawRow

    if not isinstance(raw, RawRow):
        return f"RawRow attendu, reçu {type(raw).__name__}"
    if raw.line is not None and (not isinstance(raw.line, int) or isinstance(raw.line, bool)):
        return f"RawRow.line attendu int ou None, reçu {type(raw.line).__name__}"
    if not isinstance(raw.values, dict):
        return f"RawRow.values attendu dict, reçu {type(raw.values).__name__}"
    for key in raw.values:
        if not isinstance(key, str):
            return f"RawRow.values : nom de colonne attendu str, reçu {type(key).__name__}"
    if raw.file is not None and not isinstance(raw.file, str):
        return f"RawRow.file attendu str ou None, reçu {type(raw.file).__name__}"
    problems = raw.problems
    if not isinstance(problems, tuple) or not all(
        isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(part, str) for part in pair)
        for pair in problems
    ):
        expected = "tuple de paires (champ, message) de str"
        return f"RawRow.problems attendu {expected}, reçu {type(problems).__name__}"
    return None


class GuardedReporter:
    """A plugin's reporter whose failures name the plugin (see :class:`GuardedReader`)."""

    def __init__(self, source: str, reporter: Any) -> None:
        self.source = source
        self.reporter = reporter
        self.name = reporter.name

    def render(self, report: Any, stream: Any, *, color: bool = False) -> None:
        """The wrapped reporter's output."""
        try:
            self.reporter.render(report, stream, color=color)
        except BaseException as exc:
            from billing_rules.errors import BillingRulesError

            reraise_if_real(exc)

            if isinstance(exc, (BillingRulesError, OSError)):
                raise
            raise BillingRulesError(
                f"le format de rapport « {self.name} » de l'extension « {self.source} » a échoué "
                f"({type(exc).__name__})"
            ) from exc


def guarded(source: str, item: Any, kind: str) -> Any:
    """A third-party reader or reporter wrapped so that its failures name it; built-ins unchanged."""
    if source == BUILTIN_SOURCE:
        return item
    return GuardedReader(source, item) if kind == "reader" else GuardedReporter(source, item)
