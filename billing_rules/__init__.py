"""billing-rules: checks French general-practice billing (NGAP) before the Assurance Maladie does.

The public API is re-exported here lazily, so that ``import billing_rules`` (and ``billing-rules
--help``) stays cheap: the rule engine, lark and pluggy load only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Validator": "billing_rules.validator",
    "RuleInfo": "billing_rules.validator",
    "InvalidInvoice": "billing_rules.validator",
    "Event": "billing_rules.model",
    "Finding": "billing_rules.model",
    "InputError": "billing_rules.model",
    "Report": "billing_rules.model",
    "Severity": "billing_rules.model",
    "MtStatus": "billing_rules.model",
    "Place": "billing_rules.model",
    "Sector": "billing_rules.model",
    "Status": "billing_rules.model",
    "Hit": "billing_rules.rule",
    "Rule": "billing_rules.rule",
    "WindowCount": "billing_rules.rule",
    "Tariff": "billing_rules.tariffs",
    "Function": "billing_rules.dsl.vocabulary",
    "Kind": "billing_rules.dsl.vocabulary",
    "hookimpl": "billing_rules.plugins",
    "HOOK_API_VERSION": "billing_rules.hookspecs",
    "BillingRulesError": "billing_rules.errors",
    "RuleFileError": "billing_rules.errors",
    "PluginLoadError": "billing_rules.errors",
}

__all__ = [
    "BillingRulesError",
    "Event",
    "Finding",
    "Function",
    "HOOK_API_VERSION",
    "Hit",
    "InputError",
    "InvalidInvoice",
    "Kind",
    "MtStatus",
    "Place",
    "PluginLoadError",
    "Report",
    "Rule",
    "RuleFileError",
    "RuleInfo",
    "Sector",
    "Severity",
    "Status",
    "Tariff",
    "Validator",
    "WindowCount",
    "__version__",
    "hookimpl",
]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'billing_rules' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # pragma: no cover
    from billing_rules.dsl.vocabulary import Function, Kind
    from billing_rules.errors import BillingRulesError, PluginLoadError, RuleFileError
    from billing_rules.hookspecs import HOOK_API_VERSION
    from billing_rules.model import (
        Event,
        Finding,
        InputError,
        MtStatus,
        Place,
        Report,
        Sector,
        Severity,
        Status,
    )
    from billing_rules.plugins import hookimpl
    from billing_rules.rule import Hit, Rule, WindowCount
    from billing_rules.tariffs import Tariff
    from billing_rules.validator import InvalidInvoice, RuleInfo, Validator
