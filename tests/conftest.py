"""Shared fixtures: a validator with the built-in rules only (no installed plugin)."""

from __future__ import annotations

import pytest

from billing_rules.validator import Validator


@pytest.fixture(scope="session")
def builtin_validator() -> Validator:
    """Built once per test session: compiling the catalogue is the expensive part."""
    return Validator.build(entry_points=False)
