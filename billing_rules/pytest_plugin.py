"""Pytest fixtures for plugin authors (entry point ``pytest11``), imported lazily.

Only pytest's own modules are imported at module level: this file is loaded by every pytest run of
an environment where billing-rules is installed, and must cost nothing when its fixtures are unused.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def billing_validator() -> Any:
    """A validator with the built-in rules and no installed plugin (deterministic tests)."""
    from billing_rules.validator import Validator

    return Validator.build(entry_points=False)
