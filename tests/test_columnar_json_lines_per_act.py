"""Per-act JSON Lines decoded by polars, grouped into invoices exactly as the row readers group them.

A batch of lines polars decoded (``readers.columnar.json_decode``) whose every field is of its
column's type goes into the per-act grouping as it is (``json_per_act._decoded_columns``); any
other batch is decoded line by line and put in columns as before. Files of one act a line, every
line written alike (texts, or each field in its JSON type), some with odd lines, are read both
ways and compared (input errors, invoices, counts), in batches of a few lines.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import pytest

pl = pytest.importorskip("polars", reason="the columnar reader needs polars (pip install '.[batch]')")

sys.path.insert(0, str(Path(__file__).resolve().parent))

import test_columnar_per_act_rows as _acts  # noqa: E402  (its per-act objects and fixtures)
import test_columnar_reader as _cases  # noqa: E402  (the readers' comparison)
from test_columnar_per_act_rows import batches, rounds  # noqa: E402, F401 - fixtures

#: The key of a referral's time given alone in the generated acts (SPEC §1b).
_TIME_ALONE = "Heure de régulation"

from billing_rules.readers.columnar import json_decode, json_per_act  # noqa: E402


@pytest.fixture
def native(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each batch polars decoded, whether it went into the grouping as decoded."""
    seen: list[bool] = []
    real = json_per_act._decoded_columns

    def recording(*args: Any) -> Any:
        frame = real(*args)
        seen.append(frame is not None)
        return frame

    monkeypatch.setattr(json_per_act, "_decoded_columns", recording)
    monkeypatch.setattr(json_decode, "BLOCK_CHARS", 3000)
    return seen


def _regular(seed: int, typed: bool) -> list[dict[str, Any]]:
    """The generated acts, every line with the same keys, as texts or each field in its JSON type."""
    rng = random.Random(seed)
    objects = []
    for value in _acts._act_objects(seed, natives=False):
        if not isinstance(value, dict):
            continue
        line: dict[str, Any] = {name: value.get(name, "") for name in _acts._NAMES}
        line[_TIME_ALONE] = ""  # a referral's time alone is combined with a date by the row reader
        line["note"] = rng.choice(["à voir", "", 'dit "non"'])  # for plugins
        if typed:
            for flag in ("ald", "regulated"):
                line[flag] = {"1": True, "0": False}.get(line[flag])
            try:
                line["amount"] = float(line["amount"].replace(",", "."))
            except ValueError:
                line["amount"] = None
        objects.append(line)
    return objects


@pytest.mark.parametrize("typed", [False, True], ids=["texts", "JSON types"])
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.usefixtures("batches", "rounds")
def test_per_act_lines_written_alike(tmp_path: Path, native: list[bool], typed: bool, seed: int) -> None:
    objects = _regular(seed, typed)
    path = _acts._jsonl(tmp_path / "actes.jsonl", objects, broken=False)
    events, errors = _cases._compare([str(path)])
    assert events > 300 and errors > 10
    assert len(native) > 20 and all(native)


@pytest.mark.parametrize(
    "odd",
    [
        lambda line: line.pop("time"),
        lambda line: line.update(amount="30.00"),
        lambda line: line.update(code=["G"]),
        lambda line: line.update({_TIME_ALONE: "21:15"}),
        lambda line: line.update(note=3),
        lambda line: line.update(ald=1),
        lambda line: line.update(amount=-30),
    ],
    ids=[
        "key missing",
        "amount as text",
        "code as a list",
        "referral time alone",
        "number for plugins",
        "flag as a number",
        "negative whole amount",
    ],  # fmt: skip
)
def test_per_act_odd_lines(
    tmp_path: Path, native: list[bool], monkeypatch: pytest.MonkeyPatch, odd: Any
) -> None:
    """Lines that columns cannot hold as decoded: their batches are put in columns as before."""
    monkeypatch.setattr(json_decode, "_SAMPLE", 1)  # the batch's expression, not its sample, decides
    objects = _regular(3, typed=True)
    for index in range(5, len(objects), 97):
        odd(objects[index])
    path = _acts._jsonl(tmp_path / "actes.jsonl", objects, broken=False)
    _cases._compare([str(path)])
    assert True in native  # the batches without an odd line
