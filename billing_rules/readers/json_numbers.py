"""JSON numbers by their exact digits: what the ``json`` module's floats would round.

The readers parse a JSON number with a point or an exponent here (``parse_float``), so that a
SPEC §1 field reads the number the file wrote, as it reads the same text in a CSV file.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any


class ExactNumber(Decimal):
    """A JSON number that a float would change (``30.00000000000000001``), kept as the file wrote it.

    The ``json`` module reads every number with a point as a float, which keeps about 17 digits:
    that amount would be read as 30 € and accepted, where the same text in a CSV file is refused
    as finer than the cent (``values.beyond_the_cent``). The JSON readers keep such a number exactly
    (:func:`json_number`), and each field reads it as it reads a float, by its exact value.
    """


def json_number(text: str) -> float | ExactNumber:
    """A JSON number with a point or an exponent: its float when that is what the text says."""
    value = float(text)
    if len(text) <= 16 and "e" not in text and "E" not in text:
        return value  # at most 15 significant digits: a float holds them exactly (DBL_DIG)
    if value in (float("inf"), float("-inf")) or Decimal(repr(value)) != Decimal(text):
        return ExactNumber(text)
    return value


def as_json_value(value: Any) -> Any:
    """``value`` with each :class:`ExactNumber` as the float ``json`` reads: what plugins are given.

    Only SPEC §1 fields are read exactly; a column the project does not know is handed to plugins
    in ``Event.extra`` as the ``json`` module reads it, on every engine.
    """
    if isinstance(value, ExactNumber):
        return float(value)
    if isinstance(value, list):
        return [as_json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: as_json_value(item) for key, item in value.items()}
    return value
