"""JSON Lines decoded by polars read exactly as the row reader reads them.

``readers.columnar.json_decode`` hands a batch of lines to polars only when every line is written
like the batch's first ones; any other batch is decoded line by line by the row reader, and so is
one ``json_lines`` cannot take as polars decoded it. Each test
compares both readers on the whole file (input errors, values, counts: ``_compare``) and says
which batches polars decoded, so that a file meant for polars cannot pass by falling back.
"""

from __future__ import annotations

import json
import random
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest

pl = pytest.importorskip("polars", reason="the columnar reader needs polars (pip install '.[batch]')")

sys.path.insert(0, str(Path(__file__).resolve().parent))

import test_columnar_reader as _cases  # noqa: E402  (its file builders and comparison)

from billing_rules.readers.columnar import json_decode, json_lines  # noqa: E402

#: Characters a batch is cut from in these tests: a few lines each, many batches a file.
BLOCK = 2000


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """For each batch offered to polars, in order, whether its lines were read as polars decoded them."""
    seen: list[bool] = []
    decode, columns = json_decode._decoded, json_lines._columns

    def decoding(*args: Any) -> Any:
        result = decode(*args)
        seen.append(result is not None)
        return result

    def reading(*args: Any) -> Any:
        batch = columns(*args)
        if batch is None:
            seen[-1] = False
        return batch

    monkeypatch.setattr(json_decode, "_decoded", decoding)
    monkeypatch.setattr(json_lines, "_columns", reading)
    monkeypatch.setattr(json_decode, "BLOCK_CHARS", BLOCK)
    return seen


def _text_objects(seed: int, rate: float, rows: int = 300) -> list[dict[str, Any]]:
    """Generated invoices as objects of texts, their values damaged at ``rate`` (never their keys)."""
    lines = _cases._damaged_lines(seed, rate, rows=rows)
    names = lines[0].split(";")
    return [
        dict(zip(names, cells, strict=True))
        for cells in (line.split(";") for line in lines[1:])
        if len(cells) == len(names)
    ]


def _write(path: Path, objects: list[Any], rng: random.Random | None = None, end: str = "\n") -> Path:
    """One object a line; with ``rng``, each line escaped or not and compact or not, at random."""
    lines = []
    for value in objects:
        if rng is None:
            lines.append(json.dumps(value, ensure_ascii=False))
        else:
            separators = rng.choice([(", ", ": "), (",", ":"), (" , ", " : ")])
            lines.append(json.dumps(value, ensure_ascii=rng.random() < 0.5, separators=separators))
    path.write_text(end.join(lines) + end, encoding="utf-8", newline="")
    return path


def _number(text: str) -> Any:
    """An amount as an export writes it: an integer when whole (as JavaScript does), else a float."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return text
    if value == value.to_integral_value() and "." not in text:
        return int(value)
    return float(value) if -value.as_tuple().exponent <= 2 else text


def _typed(objects: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The same invoices with native values: booleans, numbers, lists of codes, nulls, an extra flag."""
    rng = random.Random(seed)
    typed = []
    for values in objects:
        values = dict(values)
        values["ald"] = values["ald"] == "1"
        values["regulated"] = rng.choice([True, False, None])
        values["codes"] = values["codes"].split("+")
        values["amount"] = (
            rng.choice([f"{Decimal(values['amount']):.0f}", values["amount"]]) if values["amount"] else "0"
        )
        values["amount"] = _number(values["amount"])
        values["km"] = rng.choice([None, 3, 12.5, 7.25, 0])
        values["flag"] = rng.choice([True, False, None])
        values["note"] = rng.choice(["x", "é « ok »", 'dit "oui"', "a\\b", None])
        typed.append(values)
    return typed


@pytest.mark.parametrize("seed", [1, 2])
def test_exports_of_texts_are_decoded_by_polars(tmp_path: Path, decoded: list[bool], seed: int) -> None:
    objects = _text_objects(seed, 0.0)
    path = _write(tmp_path / "export.jsonl", objects, random.Random(seed))
    events, errors = _cases._compare([str(path)])
    assert events == len(objects) and errors >= 0
    assert len(decoded) > 20 and all(decoded)


def test_damaged_values_are_decoded_by_polars(tmp_path: Path, decoded: list[bool]) -> None:
    """Values of every wrong kind, in texts (dates, times, amounts, flags, codes, duplicates)."""
    objects = _text_objects(3, 0.3)
    path = _write(tmp_path / "export.jsonl", objects, random.Random(3))
    events, errors = _cases._compare([str(path)])
    assert errors > 30 and events > 0
    assert all(decoded)


@pytest.mark.parametrize("end", ["\n", "\r\n"])
def test_native_values_are_decoded_by_polars(tmp_path: Path, decoded: list[bool], end: str) -> None:
    """Booleans, integers beside floats (30 and 26.5), lists of codes, nulls, escapes, extras."""
    objects = _typed(_text_objects(4, 0.0), 4)
    path = _write(tmp_path / "export.jsonl", objects, random.Random(4), end=end)
    events, _ = _cases._compare([str(path)])
    assert events == len(objects)
    assert len(decoded) > 20 and all(decoded)


def test_french_keys_and_values_are_mapped_on_polars_path(tmp_path: Path, decoded: list[bool]) -> None:
    """SPEC §1b keys and values (``Oui``, ``Moi``, ``Visite``), mapped once per spelling."""
    lines = _cases.french_export_lines()
    names = lines[0].split(";")
    objects = [dict(zip(names, line.split(";"), strict=True)) for line in lines[1:]]
    for values in objects:
        values["Heure de régulation"] = ""  # a time alone is combined by the row reader
    path = _write(tmp_path / "export.jsonl", objects)
    events, errors = _cases._compare([str(path)])
    assert events > 0 and errors > 0
    assert all(decoded)


def _odd_lines() -> list[tuple[str, Any]]:
    """Lines that polars must not decode, each as a function of the object it replaces."""

    def dumped(change: Any) -> Any:
        def line(values: dict[str, Any]) -> str:
            values = dict(values)
            change(values)
            return json.dumps(values, ensure_ascii=False)

        return line

    return [
        ("blank", lambda values: ""),
        ("spaces", lambda values: "   "),
        ("broken", lambda values: json.dumps(values)[:-5]),
        ("key twice", lambda values: json.dumps(values)[:-1] + ', "date": "2024-01-01"}'),
        ("key missing", dumped(lambda values: values.pop("time"))),
        ("key more", dumped(lambda values: values.update(autre="x"))),
        ("keys reordered", lambda values: json.dumps(dict(reversed(values.items())))),
        ("number for a text", dumped(lambda values: values.update(patient_id=12345))),
        ("boolean for a text", dumped(lambda values: values.update(ald=True))),
        ("list for a text", dumped(lambda values: values.update(codes=["G", "MD"]))),
        ("object for a text", dumped(lambda values: values.update(codes={"G": 1}))),
        ("17 digits", dumped(lambda values: values.update(amount=12345678901234567))),
        ("exponent", lambda values: json.dumps(values).replace('"amount": "', '"amount": 3e1, "x": "')),
        (
            "finer than a float",
            lambda values: json.dumps({**values, "amount": 0}).replace(
                '"amount": 0', '"amount": 30.000000000000001'
            ),
        ),  # fmt: skip
        (
            "lone surrogate",
            lambda values: json.dumps(values).replace('"patient_id": "', '"patient_id": "\\ud800'),
        ),
        (
            "escaped NUL",
            lambda values: json.dumps(values).replace('"patient_id": "', '"patient_id": "\\u0000'),
        ),
        (
            "escaped FFFD",
            lambda values: json.dumps(values).replace('"patient_id": "', '"patient_id": "\\ufffd'),
        ),
        (
            "FFFD beside an escape",
            lambda values: json.dumps(values, ensure_ascii=False).replace(
                '"patient_id": "', '"patient_id": "\ufffd\\u00e9'
            ),
        ),  # fmt: skip
        ("BOM", lambda values: "\ufeff" + json.dumps(values)),
        ("no-break space", lambda values: "\u00a0" + json.dumps(values)),
        ("array", lambda values: "[1, 2]"),
        ("text", lambda values: '"texte"'),
        ("two objects", lambda values: json.dumps(values) + "\r" + json.dumps(values)),
        (
            "control character",
            lambda values: json.dumps(values).replace('"patient_id": "', '"patient_id": "\t'),
        ),
        ("NaN", lambda values: json.dumps(values).replace('"amount": "', '"amount": NaN, "x": "')),
    ]


@pytest.mark.parametrize("whole", [False, True], ids=["small batches", "one batch, its first line sampled"])
@pytest.mark.parametrize(("name", "odd"), _odd_lines(), ids=[name for name, _ in _odd_lines()])
def test_a_batch_with_an_odd_line_goes_to_the_row_reader(
    tmp_path: Path, decoded: list[bool], monkeypatch: pytest.MonkeyPatch, name: str, odd: Any, whole: bool
) -> None:
    """Found by the sample of the batch's first lines, or else by the batch's regular expression."""
    if whole:
        monkeypatch.setattr(json_decode, "BLOCK_CHARS", 10**6)
        monkeypatch.setattr(json_decode, "_SAMPLE", 1)
    objects = _text_objects(5, 0.0, rows=80)
    lines = [json.dumps(values, ensure_ascii=False) for values in objects]
    lines[40] = odd(objects[40])
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")
    _cases._compare([str(path)])
    if whole:
        assert decoded == [False], name
    else:
        assert decoded.count(False) == 1 and decoded.count(True) > 5, name


@pytest.mark.parametrize(
    "change",
    [
        {"patient_id": "\\u00e9t\\u00e9"},  # an escape of a character
        {"patient_id": "\\ud83d\\ude00"},  # a pair of UTF-16 halves
        {"invoice_id": None},
        {"amount": "-0"},
        {"amount": "-0.0"},
        {"amount": "0.1"},
        {"amount": "123456789.12345"},
        {"amount": "999999999999999"},
        {"note": 'tab\\t, quote \\" and slash \\/'},
    ],
    ids=str,
)
def test_lines_polars_decodes_as_the_json_module(
    tmp_path: Path, decoded: list[bool], change: dict[str, Any]
) -> None:
    """Values at the edges of what polars decodes: the same as json, and decoded by polars."""
    objects = _text_objects(6, 0.0, rows=60)
    for values in objects:
        values["amount"] = 30
    lines = [json.dumps(values, ensure_ascii=False) for values in objects]
    for key, value in change.items():
        written = "null" if value is None else value if key == "amount" else f'"{value}"'
        lines[30] = json.dumps({**objects[30], key: 0}, ensure_ascii=False).replace(
            f'"{key}": 0', f'"{key}": {written}'
        )
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")
    _cases._compare([str(path)])
    assert all(decoded)


def test_a_referral_time_alone_goes_to_the_row_reader(tmp_path: Path, decoded: list[bool]) -> None:
    """The row reader combines ``Heure de régulation`` with a date: that batch is read line by line."""
    objects = _text_objects(7, 0.0, rows=80)
    for number, values in enumerate(objects):
        values["referral_at"] = ""
        values["Heure de régulation"] = "21:15" if number == 40 else ""
    path = _write(tmp_path / "export.jsonl", objects)
    _cases._compare([str(path)])
    assert decoded.count(False) == 1 and decoded.count(True) > 5


@pytest.mark.parametrize(
    "damage",
    [b"\x00", b"\xff\xfe", b"\xe9"],
    ids=["NUL", "not UTF-8 after an accent", "Windows-1252 after ASCII"],
)
def test_damaged_bytes(tmp_path: Path, decoded: list[bool], damage: bytes) -> None:
    """Bytes the file's decoding replaced or a NUL: the batches after them are the row reader's."""
    objects = _text_objects(8, 0.0, rows=80)
    if damage != b"\xe9":
        objects[0]["note"] = "é"  # the file's head then says UTF-8
    data = bytearray(_write(tmp_path / "export.jsonl", objects).read_bytes())
    at = data.index(b'"patient_id": "', len(data) // 2) + len(b'"patient_id": "')
    data[at:at] = damage
    (tmp_path / "export.jsonl").write_bytes(bytes(data))
    _cases._compare([str(tmp_path / "export.jsonl")])


@pytest.mark.parametrize("ending", ["", "\n"])
def test_a_line_too_long_leaves_the_rest_to_the_row_reader(
    tmp_path: Path, decoded: list[bool], monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    monkeypatch.setattr(json_decode, "LONG_LINE", 3000)
    objects = _text_objects(9, 0.0, rows=60)
    objects[30]["note"] = "x" * 10_000
    lines = [json.dumps(values, ensure_ascii=False) for values in objects]
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(lines) + ending, encoding="utf-8", newline="")
    events, _ = _cases._compare([str(path)])
    assert events == len(objects)
    assert decoded and all(decoded)  # before the long line; after it, the row reader's


def test_last_line_without_its_end(tmp_path: Path, decoded: list[bool]) -> None:
    """A broken last line is located as the row reader locates it (its column, with no line end)."""
    objects = _text_objects(10, 0.0, rows=30)
    lines = [json.dumps(values, ensure_ascii=False) for values in objects]
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(lines) + '\n{"invoice_id": ', encoding="utf-8", newline="")
    _cases._compare([str(path)])
    assert decoded.count(False) == 1


def _uniform(objects: list[dict[str, Any]], writing: str, rng: random.Random) -> list[dict[str, Any]]:
    """The invoices with columns of one JSON type each, as ``writing`` says."""
    flags = ("ald", "palliative", "neurodegenerative", "declares_mt", "homebound", "regulated")
    out = []
    for values in objects:
        values = dict(values)
        amount = Decimal(values["amount"] or "0")
        if writing == "integers":
            values["amount"], values["km"] = int(amount), rng.choice([0, 3, 12, None])
        elif writing == "floats":
            values["amount"], values["km"] = float(amount), rng.choice([0.0, 3.5, 12.25, None])
        elif writing == "flags as integers":
            values.update({flag: int(values[flag] == "1") for flag in flags})
        else:  # values of the right type that do not read
            values["ald"] = rng.choice([0, 1, 2, -1, 1])
            values["amount"] = rng.choice([float(amount), -3.0, 26.555, 0.001, 99999.99, 30.5])
            values["codes"] = rng.choice([values["codes"].split("+"), ["G", ""], ["XYZ"], [], ["G+MD"]])
            values["sector"] = rng.choice(["1", "2", "9", ""])
        out.append(values)
    return out


@pytest.mark.parametrize("writing", ["integers", "floats", "flags as integers", "invalid values"])
def test_columns_of_one_type(tmp_path: Path, decoded: list[bool], writing: str) -> None:
    """A column of one JSON type is read as Parquet's typed columns are: the row reader's values."""
    objects = _uniform(_text_objects(11, 0.0), writing, random.Random(11))
    path = _write(tmp_path / "export.jsonl", objects, random.Random(11))
    events, errors = _cases._compare([str(path)])
    assert events + errors > 0
    assert (errors > 20) == (writing == "invalid values")
    assert len(decoded) > 20 and all(decoded)
