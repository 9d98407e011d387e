"""billing-rules-specialist: an example plugin for specialists (MCU, APC) and a vendor's export.

Everything billing-rules needs from a plugin is here, one hook implementation per kind of
contribution. The module imports nothing heavy at import time: billing-rules loads every installed
plugin at start-up, so the work is done inside the hooks, when a validator is built.
"""

from __future__ import annotations

from typing import Any

from billing_rules import hookimpl

#: The hook API this plugin was written for; billing-rules refuses to load it if it provides an
#: older one (the plugin would otherwise fail later, on some invoice).
BILLING_RULES_HOOK_API = 1


@hookimpl
def register_rule_sets(register: Any) -> None:
    """The DSL rules (MCU, APC), shipped as ``.rules`` files inside the package."""
    from billing_rules.plugins import rule_file_paths

    for path in rule_file_paths(__name__):
        register(path)


@hookimpl
def register_functions(register: Any) -> None:
    """``mt_referral_at()``: the rules need a date from an extra column of the export."""
    from billing_rules_specialist.functions import FUNCTIONS

    for function in FUNCTIONS:
        register(function)


@hookimpl
def register_rules(register: Any) -> None:
    """The check the DSL cannot say: the referring doctor's RPPS number and its check digit."""
    from billing_rules_specialist.rpps import ReferrerRppsRule

    register(ReferrerRppsRule())


@hookimpl
def register_tariffs(register: Any) -> None:
    """A tariff the built-in (general practice) tables do not carry."""
    from billing_rules_specialist.tariffs import TARIFFS

    for tariff in TARIFFS:
        register(tariff)


@hookimpl
def register_readers(register: Any) -> None:
    """The ``medilogic`` input format: a vendor's CSV export with its own column names."""
    from billing_rules_specialist.medilogic import MedilogicReader

    register(MedilogicReader())
