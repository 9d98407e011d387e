"""The report's JSON writer gives ``json.dumps(..., ensure_ascii=False, indent=2)``'s text exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_rules.reporters import indented_json

_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


#: Few distinct texts, as keys and as values: the writer escapes each distinct string once.
_POOL = st.sampled_from(["a", "a: ", '"a"', "rule", "é « G »", ""])
_REPEATED = st.recursive(
    _POOL | st.none() | st.integers(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_POOL, inner, max_size=4),
    max_leaves=30,
)


def _standard(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)


@given(_VALUES)
def test_same_text_as_the_standard_library(value: Any) -> None:
    assert indented_json.dumps(value) == _standard(value)


@given(_REPEATED)
def test_repeated_texts_as_keys_and_values(value: Any) -> None:
    assert indented_json.dumps(value) == _standard(value)


@pytest.mark.parametrize(
    "value",
    [
        {"rule": "rule", "list": ["rule", {"rule": "rule: "}], "rule: ": "rule"},
        {},
        [],
        {"a": {}, "b": [], "c": [{}], "d": [[]]},
        {"message": "Acte « G » facturé deux fois : 30,00 €\n\t\u2028\x00"},
        {"amount": 0.0, "big": 1e300, "small": -1.5e-7, "cents": 26.5},
        {"n": -(10**30)},
    ],
)
def test_edge_values(value: Any) -> None:
    assert indented_json.dumps(value) == _standard(value)


@pytest.mark.parametrize(
    "value",
    [
        {1: "non-text key"},
        {"nan": float("nan")},
        {"inf": [float("inf")]},
        {"tuple": (1, 2)},
        {"bool subclass": True, "int subclass": type("Count", (int,), {})(3)},
    ],
)
def test_other_values_are_written_by_the_standard_library(value: Any) -> None:
    assert indented_json.dumps(value) == _standard(value)


def test_what_json_refuses_is_still_refused() -> None:
    with pytest.raises(TypeError):
        indented_json.dumps({"a": object()})
