"""Imports every command module so that each adds its commands to the ``main`` group."""

from billing_rules.cli import changes as _changes  # noqa: F401  (rules changes)
from billing_rules.cli import check as _check  # noqa: F401  (check)
from billing_rules.cli import columns as _columns  # noqa: F401  (billing-rules columns)
from billing_rules.cli import explain as _explain  # noqa: F401  (billing-rules explain)
from billing_rules.cli import forfait as _forfait  # noqa: F401  (billing-rules forfait)
from billing_rules.cli import ledger as _ledger  # noqa: F401  (billing-rules ledger, check --ledger)
from billing_rules.cli import plugins as _plugins  # noqa: F401  (plugins, rules test)
from billing_rules.cli import prepare as _prepare  # noqa: F401  (prepare)
from billing_rules.cli import rules as _rules  # noqa: F401  (rules list|show|check)
from billing_rules.cli import simulate as _simulate  # noqa: F401  (simulate)
