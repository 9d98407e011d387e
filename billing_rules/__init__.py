"""billing-rules: checks French general-practice billing (NGAP) before the Assurance Maladie does.

The public API is re-exported here lazily, so that ``import billing_rules`` (and ``billing-rules
--help``) stays cheap: the rule engine, lark and pluggy load only when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from billing_rules.version import __version__

_EXPORTS = {
    "Validator": "billing_rules.api.validator",
    "RuleInfo": "billing_rules.api.rule_info",
    "Session": "billing_rules.api.session",
    "prepare_files": "billing_rules.api.prepare",
    "PreparedInfo": "billing_rules.readers.prepared",
    "InvoiceValues": "billing_rules.readers.native",
    "ColumnMapping": "billing_rules.readers.columns",
    "Ledger": "billing_rules.ledger",
    "Event": "billing_rules.model",
    "Finding": "billing_rules.model",
    "FindingWindow": "billing_rules.model",
    "Explanation": "billing_rules.explain",
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
    "Tariff": "billing_rules.domain.tariffs",
    "Function": "billing_rules.dsl.vocabulary",
    "Kind": "billing_rules.dsl.vocabulary",
    "hookimpl": "billing_rules.plugins",
    "HOOK_API_VERSION": "billing_rules.hookspecs",
    # Every error a user can catch (all but EstimateError are BillingRulesError).
    "BillingRulesError": "billing_rules.errors",
    "ColumnError": "billing_rules.readers.columns",
    "EngineLimitation": "billing_rules.errors",
    "ConfigError": "billing_rules.config",
    "EstimateError": "billing_rules.domain.forfait.estimate",
    "InvalidInvoice": "billing_rules.errors",
    "LedgerError": "billing_rules.errors",
    "MissingDependency": "billing_rules.reporters.html_report",
    "OutputError": "billing_rules.reporters.files",
    "PluginLoadError": "billing_rules.errors",
    "ReadError": "billing_rules.errors",
    "RuleClashError": "billing_rules.errors",
    "RuleCompileError": "billing_rules.errors",
    "RuleFileClashError": "billing_rules.errors",
    "RuleFileError": "billing_rules.errors",
    "RuleSyntaxError": "billing_rules.errors",
    "SelectionError": "billing_rules.selection",
}

__all__ = [
    "BillingRulesError",
    "ColumnError",
    "ColumnMapping",
    "ConfigError",
    "EngineLimitation",
    "EstimateError",
    "Event",
    "Explanation",
    "Finding",
    "FindingWindow",
    "Function",
    "HOOK_API_VERSION",
    "Hit",
    "InputError",
    "InvalidInvoice",
    "InvoiceValues",
    "Kind",
    "Ledger",
    "LedgerError",
    "MissingDependency",
    "MtStatus",
    "OutputError",
    "Place",
    "PluginLoadError",
    "PreparedInfo",
    "ReadError",
    "Report",
    "Rule",
    "RuleClashError",
    "RuleCompileError",
    "RuleFileClashError",
    "RuleFileError",
    "RuleInfo",
    "RuleSyntaxError",
    "Sector",
    "SelectionError",
    "Session",
    "Severity",
    "Status",
    "Tariff",
    "Validator",
    "WindowCount",
    "__version__",
    "hookimpl",
    "prepare_files",
]


def __getattr__(name: str) -> object:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'billing_rules' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:  # pragma: no cover
    from billing_rules.api.prepare import prepare_files
    from billing_rules.api.rule_info import RuleInfo
    from billing_rules.api.session import Session
    from billing_rules.api.validator import Validator
    from billing_rules.config import ConfigError
    from billing_rules.domain.forfait.estimate import EstimateError
    from billing_rules.domain.tariffs import Tariff
    from billing_rules.dsl.vocabulary import Function, Kind
    from billing_rules.errors import (
        BillingRulesError,
        EngineLimitation,
        InvalidInvoice,
        LedgerError,
        PluginLoadError,
        ReadError,
        RuleClashError,
        RuleCompileError,
        RuleFileClashError,
        RuleFileError,
        RuleSyntaxError,
    )
    from billing_rules.explain import Explanation
    from billing_rules.hookspecs import HOOK_API_VERSION
    from billing_rules.ledger import Ledger
    from billing_rules.model import (
        Event,
        Finding,
        FindingWindow,
        InputError,
        MtStatus,
        Place,
        Report,
        Sector,
        Severity,
        Status,
    )
    from billing_rules.plugins import hookimpl
    from billing_rules.readers.columns import ColumnError, ColumnMapping
    from billing_rules.readers.native import InvoiceValues
    from billing_rules.readers.prepared import PreparedInfo
    from billing_rules.reporters.files import OutputError
    from billing_rules.reporters.html_report import MissingDependency
    from billing_rules.rule import Hit, Rule, WindowCount
    from billing_rules.selection import SelectionError
