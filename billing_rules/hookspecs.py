"""The plugin hooks of billing-rules (hook API version 1).

Every contribution hook is a ``register_*`` hook: the plugin calls the ``register`` callback it is
given, once per thing it contributes, and returns nothing. The host calls each plugin's
implementation separately, so everything a plugin registers is stamped with the plugin's name (the
``source`` of its findings, ``builtin`` for the NGAP catalogue). Contributions from all plugins are
pooled; none overrides another: two plugins claiming the same rule code, tariff row, function,
input format or report format is a load error naming both. Hooks are called when a
:class:`billing_rules.Validator` is built, never once per invoice (``adjust_findings`` excepted).
What a plugin registers is checked then, field by field (a tariff's code, amount and dates, a
rule's code, severity, triggers and ``check``, a reader's or reporter's name and method, a rule file
that cannot be read): a malformed item is a load error naming the plugin, the item and the field,
never an anonymous crash later.

Versioning: :data:`HOOK_API_VERSION` is bumped when a hook changes incompatibly. A plugin module
may set ``BILLING_RULES_HOOK_API = N`` (the version it was written for); a plugin asking for a newer
version than the installed billing-rules provides is refused at load time, by name. Hooks grow
compatibly through pluggy's opt-in arguments: an implementation may accept fewer arguments than
the spec. The built-in NGAP catalogue (``billing_rules.builtin``) uses exactly these hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

#: Bumped when a hook changes incompatibly; plugins may check ``billing_rules.HOOK_API_VERSION``.
HOOK_API_VERSION = 1

hookspec = pluggy.HookspecMarker("billing_rules")


@hookspec
def register_rule_sets(register: Callable[..., None]) -> None:
    """Contribute rule files written in the DSL.

    Call ``register(path)`` with the path of a ``.rules`` file (a ``pathlib.Path`` or an
    ``importlib.resources`` traversable), or ``register(text=..., name=...)`` with the text itself.
    Declarations (codes, families, tariffs, ``define``) are pooled across all rule sets; a rule code
    defined by two sources is a load error naming both.
    """


@hookspec
def register_rules(register: Callable[[Any], None]) -> None:
    """Contribute rules written in Python, for what the DSL cannot say.

    Call ``register(rule)`` with an object following :class:`billing_rules.Rule`: ``code``,
    ``severity``, ``triggers`` (codes that wake it, or ``None`` for every invoice) and
    ``check(event, history)`` returning hits. ``history`` is read-only (window counts, tariffs).
    An optional ``bind(ruleset)`` method receives the compiled rule set. A rule that raises yields an
    INTERNAL-ERROR finding for that invoice, naming the plugin and rule; checking goes on.
    """


@hookspec
def register_tariffs(register: Callable[[Any], None]) -> None:
    """Contribute dated tariff rows: ``register(Tariff(code, amount, start, end=None, source=None))``.

    Two rows for the same code and start date are a load error naming both sources. ``amount`` is a
    ``Decimal`` (a whole ``int`` is accepted), ``start`` and ``end`` are ``datetime.date`` values.
    """


@hookspec
def register_functions(register: Callable[[Any], None]) -> None:
    """Contribute functions the DSL may call: ``register(Function(name, params, returns, impl))``.

    ``impl(env, event, *args)`` is plain Python run by the engine; rule files only name it.
    """


@hookspec
def register_readers(register: Callable[[Any], None]) -> None:
    """Contribute input formats: ``register(reader)`` with ``name``, ``extensions`` and ``rows()``.

    A reader turns a byte stream into raw rows (:class:`billing_rules.readers.RawRow`: line number
    and SPEC §1 column values); the core converts the values, so every format gets the same
    validation and located input errors. It is chosen by ``--input-format NAME`` or, for a file
    whose extension is in ``extensions``, automatically; two readers with one name is a load error.
    """


@hookspec
def register_reporters(register: Callable[[Any], None]) -> None:
    """Contribute output formats: ``register(reporter)`` with ``name`` and ``render(report, stream, color=)``.

    Selected by ``billing-rules check --format NAME`` and :meth:`billing_rules.Validator.render`.
    Two reporters with one name is a load error naming both.
    """


@hookspec
def adjust_findings(findings: list[Any], event: Any) -> list[Any] | None:
    """Adjust the findings of one invoice after the rules ran (called only when findings exist).

    Called once per checked invoice that has findings, with the list of
    :class:`billing_rules.Finding` and the :class:`billing_rules.Event`. Return a new list (e.g. a
    practice's documented exemption turning an error into a warning, with the reason appended to
    the message), or ``None`` to leave them unchanged. Implementations run in registration order
    (built-ins, then installed plugins by name, then objects passed to ``Validator.build``); each
    sees the previous result. One that raises leaves the findings unchanged and adds an
    INTERNAL-ERROR finding naming the plugin. The practice config does not use this hook: it
    selects rules and severities when the validator is built.
    """
