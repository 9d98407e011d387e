"""JSON, JSON Lines and Parquet files of one row per act, read by the columnar reader.

Their rows are grouped by the row readers' own grouping, then read column-wise
(``readers.columnar.grouped_rows``): the invoices, their values, their order and the input errors
must be exactly the row readers', with native values (flags as booleans or numbers, amounts as
numbers, codes as lists), every way an invoice's lines can differ (the CSV generator's, SPEC §1b),
rows that are not objects, broken JSON lines, typed Parquet columns, batches cut anywhere, and a
large file read twice.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

pl = pytest.importorskip("polars", reason="the columnar reader needs polars (pip install '.[batch]')")

import test_columnar_per_act as _acts  # noqa: E402  (the per-act lines generator)
import test_columnar_reader as _cases  # noqa: E402  (the readers' comparison)

from billing_rules.errors import ReadError  # noqa: E402
from billing_rules.readers import stream as stream_module  # noqa: E402
from billing_rules.readers.columnar import grouped_rows, json_per_act, per_act, read_invoices  # noqa: E402
from billing_rules.readers.columnar import table as table_module  # noqa: E402
from billing_rules.readers.json_reader import JsonLinesReader, JsonReader  # noqa: E402
from billing_rules.readers.values import REFERRAL_TIME  # noqa: E402

_NAMES = _acts._HEADER.split(";")


def _act_objects(seed: int, invoices: int = 500, natives: bool = True) -> list[Any]:
    """The per-act lines of the CSV generator as objects, some values as JSON natives.

    ``natives``: flags as booleans or numbers, most amounts as numbers, codes as lists, identifiers
    as numbers (an invoice's lines then written alike or not, as a program would write them). The
    amounts left as texts (``30.00``, ``26,50``) read to exact digits no number of a column of
    numbers has: a quarter of the lines or so cannot sit in columns, and such a file is grouped by
    the row readers (``grouped_rows``).
    """
    rng = random.Random(seed)
    lines = [line for number in range(invoices) for line in _acts._invoice_lines(rng, number)]
    for _ in range(len(lines) // 20):  # some invoices' lines far apart
        first, second = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[first], lines[second] = lines[second], lines[first]
    objects: list[Any] = []
    for line in lines:
        values: dict[str, Any] = dict(zip(_NAMES, line, strict=True))
        if natives:
            if values["ald"] in ("0", "1") and rng.random() < 0.4:
                values["ald"] = rng.choice([values["ald"] == "1", int(values["ald"])])
            if values["regulated"] in ("0", "1") and rng.random() < 0.3:
                values["regulated"] = values["regulated"] == "1"
            amount = values["amount"].replace(",", ".")
            if amount and rng.random() < 0.6:
                try:
                    values["amount"] = rng.choice([float(amount), int(Decimal(amount))])
                except (ArithmeticError, ValueError):
                    pass  # not a number: kept as text, an error all the same
            if rng.random() < 0.1:
                values["code"] = [values["code"]]
            if rng.random() < 0.05 and values["practitioner_id"].isdigit():
                values["practitioner_id"] = int(values["practitioner_id"])
        if rng.random() < 0.2:
            del values["time"]  # a key absent from some lines
        if rng.random() < 0.05:
            values["note"] = rng.choice([{"nested": [1]}, "à voir", 3])
        objects.append(values)
    for _ in range(3):
        objects.insert(rng.randrange(len(objects)), rng.choice([[1, 2], "texte", 3, None]))  # not objects
    return objects


def _jsonl(path: Path, objects: list[Any], broken: bool = True) -> Path:
    texts = [json.dumps(value, ensure_ascii=False) for value in objects]
    if broken:
        texts[7] = "{cassé"
        texts.insert(15, "")
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path


def _json(path: Path, objects: list[Any]) -> Path:
    texts = [json.dumps(value, ensure_ascii=False) for value in objects]
    path.write_text("[" + ",\n".join(texts) + "]", encoding="utf-8")
    return path


def _parquet(path: Path, seed: int, typed: bool, lists: bool = False) -> Path:
    """The generated lines as a Parquet file: text columns, or typed ones where they read so.

    The referral's time alone is under its SPEC name (a Parquet column is taken by its name as
    written); an empty cell is NULL. ``lists``: codes as lists of texts (the row readers' grouping).
    """
    rows = [value for value in _act_objects(seed, natives=False) if isinstance(value, dict)]
    names = [REFERRAL_TIME if name == "Heure de régulation" else name for name in _NAMES]
    frame = pl.DataFrame(
        {name: [row.get(name) or None for row in rows] for name in _NAMES},
        schema=dict.fromkeys(_NAMES, pl.String),
    ).rename(dict(zip(_NAMES, names, strict=True)))
    if lists:
        frame = frame.with_columns(pl.col("code").str.split("+"))
    if typed:
        frame = frame.with_columns(
            pl.col("birth_date").str.to_date("%Y-%m-%d", strict=False),
            pl.col("ald").replace_strict({"0": False, "1": True}, default=None, return_dtype=pl.Boolean),
            pl.col("amount").str.replace(",", ".").cast(pl.Float64, strict=False),
            pl.col("time").str.to_time("%H:%M", strict=False),
        )
    frame.write_parquet(path)
    return path


@pytest.fixture(params=[None, 37], ids=["whole", "batches-of-37"])
def batches(request: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of the default size, or of 37 invoices (an invoice's errors across batch edges)."""
    if request.param:
        monkeypatch.setattr(grouped_rows, "BATCH_INVOICES", request.param)
        monkeypatch.setattr(per_act, "BATCH_INVOICES", request.param)


@pytest.fixture(params=[None, 150], ids=["in-memory", "spilled"])
def rounds(request: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parquet rows grouped column-wise whole, or in rounds of 150 rows on disk (``act_spill``)."""
    _acts._spill_at(monkeypatch, request.param)


@pytest.fixture
def column_wise(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails a reading that goes through the row readers' grouping."""

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("grouped by the row readers")

    monkeypatch.setattr(table_module, "grouped_batches", refused)
    monkeypatch.setattr(json_per_act, "grouped_batches", refused)


@pytest.fixture(params=[False, True], ids=["read-once", "read-twice"])
def passes(request: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Held whole, or read twice as a large file is (each invoice going once complete)."""
    if request.param:
        monkeypatch.setattr(stream_module, "TWICE_BYTES", 0)
        monkeypatch.setattr(stream_module, "TWICE_ROWS", 0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_json_lines_per_act_same_as_row_reader(
    tmp_path: Path, batches: None, passes: None, seed: int
) -> None:
    events, errors = _cases._compare([str(_jsonl(tmp_path / "actes.jsonl", _act_objects(seed)))])
    assert events > 300 and errors > 10  # invoices read, and lines that disagree


def _typed_objects(seed: int) -> list[Any]:
    """The generated lines as a program writing JSON natives writes them: each field in one type.

    Flags as booleans, amounts as numbers, sectors as integers, where the text reads so; a few
    lines then write a field in another type: a flag as 0 or 1 (which reads as the boolean does,
    and is held as it), an amount as text (held back when its text is not its float's), an
    integer beyond 64 bits, or carry a nested extra value: those held back go to the row readers'
    grouping, with their invoices.
    """
    rng = random.Random(seed)
    objects: list[Any] = []
    for value in _act_objects(seed, natives=False):
        if isinstance(value, dict):
            value = dict(value)
            for flag in ("ald", "regulated", "homebound"):
                if value.get(flag) in ("0", "1"):
                    value[flag] = value[flag] == "1" if rng.random() > 0.02 else int(value[flag])
            amount = value.get("amount", "").replace(",", ".")
            try:
                number = float(amount)
            except ValueError:
                pass  # not a number: kept as text, an error all the same (and a line held back)
            else:
                if rng.random() > 0.02:  # else an integer, or kept as text: another type
                    value["amount"] = number
                elif number.is_integer() and rng.random() < 0.5:
                    value["amount"] = int(number)
            if value.get("sector") in ("1", "2"):
                value["sector"] = int(value["sector"]) if rng.random() > 0.01 else 10**20  # beyond Int64
            if rng.random() < 0.02:
                value["libellé"] = {"nested": [1, 2.5]}
        objects.append(value)
    return objects


@pytest.fixture
def chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    """JSON Lines put in columns 40 rows at a time: an invoice's lines across chunks and rounds."""
    monkeypatch.setattr(json_per_act, "CHUNK_ROWS", 40)


@pytest.mark.parametrize("array", [False, True], ids=["jsonl", "array"])
@pytest.mark.parametrize("typed", [False, True], ids=["text", "typed"])
@pytest.mark.parametrize("seed", [1, 2])
def test_json_per_act_grouped_column_wise(
    tmp_path: Path,
    batches: None,
    rounds: None,
    chunked: None,
    column_wise: None,
    typed: bool,
    seed: int,
    array: bool,
) -> None:
    """Texts, or each field in one JSON type: grouped column-wise (``json_per_act``), the rows that do
    not fit their columns (another type, damaged, a referral's time alone) held back with their
    invoices for the row readers; the same invoices, extras and errors as the row readers'. A JSON
    array's objects, which have no line, are ordered by their ranks, and reported without one."""
    objects = _typed_objects(seed) if typed else _act_objects(seed, natives=False)
    path = _json(tmp_path / "actes.json", objects) if array else _jsonl(tmp_path / "actes.jsonl", objects)
    reader = JsonReader() if array else JsonLinesReader()
    with path.open("rb") as stream:
        rows = list(json_per_act.ranked_rows(reader, stream, str(path)))
    kinds = json_per_act.column_kinds(rows)
    assert kinds is not None
    expected = (bool, float, int) if typed else (str, str, str)
    assert (kinds["ald"], kinds["amount"], kinds["sector"]) == expected
    held = [raw for raw in rows if not json_per_act._fits(raw, kinds)]
    assert 10 < len(held) < len(rows) // 5  # some lines held back, most grouped column-wise
    events, errors = _cases._compare([str(path)])
    assert events > 300 and errors > 10
    if array:
        result = read_invoices([str(path)])
        assert result.table["line"].null_count() == result.table.height
        assert {error.line for error in result.input_errors} == {None}


@pytest.mark.parametrize("array", [False, True], ids=["jsonl", "array"])
def test_json_flags_written_in_two_types_grouped_column_wise(
    tmp_path: Path, column_wise: None, chunked: None, array: bool
) -> None:
    """Flags ``true`` on some rows and ``1`` or ``"1"`` on others, half and half: grouped column-wise,
    each as the boolean it reads as. An invoice whose lines write one flag ``true`` and ``1`` is
    one invoice, as for the row readers; ``true`` and ``0`` disagree, and their errors are theirs."""
    rng = random.Random(5)
    objects: list[Any] = []
    for value in _act_objects(5, natives=False):
        if isinstance(value, dict):
            value = dict(value)
            for flag in ("ald", "regulated", "homebound"):
                if value.get(flag) in ("0", "1"):
                    value[flag] = rng.choice([value[flag] == "1", int(value[flag]), value[flag]])
        objects.append(value)
    base = {"date": "2026-01-05", "practitioner_id": "D1", "patient_id": "P1", "birth_date": "1950-01-01"}
    objects += [
        {**base, "invoice_id": "T1", "code": "G", "amount": 30.0, "ald": True},
        {**base, "invoice_id": "T1", "code": "MD", "amount": 10.0, "ald": 1},
        {**base, "invoice_id": "T2", "code": "G", "amount": 30.0, "ald": True},
        {**base, "invoice_id": "T2", "code": "MD", "amount": 10.0, "ald": 0},
    ]
    path = _json(tmp_path / "actes.json", objects) if array else _jsonl(tmp_path / "actes.jsonl", objects)
    events, errors = _cases._compare([str(path)])
    assert events > 300 and errors > 10
    result = read_invoices([str(path)])
    assert "T1" in result.table["invoice_id"].to_list()
    assert [error.field for error in result.input_errors if error.invoice_id == "T2"] == ["ald"]


def test_json_array_invoices_in_the_order_of_their_first_objects(tmp_path: Path, column_wise: None) -> None:
    """An array's invoices, grouped column-wise, come and are numbered in the order of their first
    objects, as the row readers give them, with no line; an invoice whose objects disagree too."""
    base = {"date": "2026-01-05", "practitioner_id": "D1", "patient_id": "P1", "birth_date": "1950-01-01"}
    acts = [
        {**base, "invoice_id": "F2", "code": "G", "amount": 30.0},
        {**base, "invoice_id": "F1", "code": "VG", "amount": 30.0},
        {**base, "invoice_id": "F3", "code": "G", "amount": 30.0},
        {**base, "invoice_id": "F1", "code": "MD", "amount": 10.0},
        {**base, "invoice_id": "F3", "patient_id": "P2", "code": "MD", "amount": 10.0},  # disagrees
        {**base, "invoice_id": "F2", "code": "MD", "amount": 10.0},
    ]
    path = _json(tmp_path / "actes.json", acts)
    _cases._compare([str(path)])
    result = read_invoices([str(path)])
    rows = list(result.table.sort("seq").iter_rows(named=True))
    assert [(row["invoice_id"], row["codes"], row["amount_cents"], row["line"]) for row in rows] == [
        ("F2", ["G", "MD"], 4000, None),
        ("F1", ["VG", "MD"], 4000, None),
    ]
    assert [(error.line, error.field, error.invoice_id) for error in result.input_errors] == [
        (None, "patient_id", "F3")
    ]
    assert "d'une ligne précédente" in result.input_errors[0].message


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Says when a JSON file goes to the row readers' grouping (``grouped_rows``)."""
    routes: list[str] = []
    real = json_per_act.grouped_batches

    def spied(*args: Any, **kwargs: Any) -> Any:
        routes.append("row readers")
        return real(*args, **kwargs)

    monkeypatch.setattr(json_per_act, "grouped_batches", spied)
    return routes


def test_json_lines_of_mixed_types_grouped_by_the_row_readers(tmp_path: Path, taken: list[str]) -> None:
    """Most lines writing some field in another type than the first lines': the row readers group it."""
    path = _jsonl(tmp_path / "actes.jsonl", _act_objects(3))
    _cases._compare([str(path)])
    assert taken == ["row readers"]


@pytest.mark.parametrize("limit", ["share", "count"])
def test_json_lines_whose_writing_changes_grouped_by_the_row_readers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunked: None, taken: list[str], limit: str
) -> None:
    """Lines that fit at first, then lines written otherwise (two exports joined): once more than a
    tenth of the lines read (or too many) are held back, the file is read again by the row readers,
    before any invoice went; the same invoices and errors, each row counted once."""
    monkeypatch.setattr(json_per_act, "SAMPLE_ROWS", 60)
    if limit == "count":
        monkeypatch.setattr(json_per_act, "HELD_AT_MOST", 1.0)
        monkeypatch.setattr(json_per_act, "HELD_LIMIT", 50)
    typed = [value for value in _typed_objects(9) if isinstance(value, dict)]
    # Written otherwise from the 121st line: amounts as French texts, which read (to their exact
    # digits) as no number of the column does.
    french = [
        {**value, "amount": str(value["amount"]).replace(".", ",")}
        if type(value.get("amount")) is float
        else value
        for value in typed
    ]
    objects = [*typed[:120], *french[120:]]
    path = _jsonl(tmp_path / "actes.jsonl", objects, broken=False)
    assert json_per_act.sampled_kinds(JsonLinesReader(), lambda: path.open("rb"), str(path)) is not None
    events, errors = _cases._compare([str(path)])
    assert taken == ["row readers"] and events > 300 and errors > 10
    rows = []

    class Counting:
        def counted(self, stream: Any) -> Any:
            return stream

        def advance(self, rows_read: int = 0, size: int = 0, **kwargs: Any) -> None:
            rows.append(kwargs.get("rows", rows_read))

    read_invoices([str(path)], counting=Counting())
    assert sum(rows) == len(objects)


@pytest.mark.parametrize("room", [0, -1], ids=["at-the-limit", "one-beyond"])
def test_held_rows_up_to_the_limit_stay_column_wise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunked: None, taken: list[str], room: int
) -> None:
    """Exactly :data:`HELD_LIMIT` rows held back: grouped column-wise; one more: by the row readers."""
    objects = _typed_objects(2)
    path = _jsonl(tmp_path / "actes.jsonl", objects)
    with path.open("rb") as stream:
        rows = list(JsonLinesReader().rows(stream, str(path)))
    kinds = json_per_act.column_kinds(rows)
    assert kinds is not None
    held = sum(not json_per_act._fits(raw, kinds) for raw in rows)
    monkeypatch.setattr(json_per_act, "HELD_AT_MOST", 1.0)
    monkeypatch.setattr(json_per_act, "HELD_LIMIT", held + room)
    _cases._compare([str(path)])
    assert taken == ([] if room == 0 else ["row readers"])


def test_column_types_decided_by_the_first_rows_up_to_a_tenth_held() -> None:
    """Each column's type is its most frequent one; a tenth of the rows held back, and no more."""
    from billing_rules.readers.base import RawRow

    def row(line: int, amount: Any, ald: Any = True) -> RawRow:
        values = {
            "invoice_id": f"F{line}",
            "practitioner_id": "101",
            "code": "G",
            "amount": amount,
            "ald": ald,
        }
        return RawRow(line, values, "a.jsonl")

    floats = [row(line, 26.5) for line in range(1, 10)]
    kinds = json_per_act.column_kinds([*floats, row(10, 26.5, 2)])  # one flag in ten unread: held back
    assert kinds is not None and (kinds["amount"], kinds["ald"], kinds["date"]) == (float, bool, str)
    assert json_per_act.column_kinds([*floats[:8], row(9, 26.5, 2), row(10, 26.5, [1])]) is None  # two
    # A flag written 1, 0, "1" or "oui" reads as a boolean does: it fits, as that boolean.
    written = [row(9, 26.5, 1), row(10, 26.5, 0), row(11, 26.5, "1"), row(12, 26.5, "oui")]
    kinds = json_per_act.column_kinds([*floats, *written])
    assert kinds is not None and kinds["ald"] is bool
    assert all(json_per_act._fits(raw, kinds) for raw in written)
    assert [json_per_act._as_kind(raw.values["ald"], bool, "ald") for raw in written] == [
        True,
        False,
        True,
        True,
    ]
    # Whole amounts beside decimals (30 and 26.5) are numbers, but for those a message would quote.
    mixed = [*(row(line, 30) for line in range(1, 7)), *floats[6:], row(10, 9_999)]
    kinds = json_per_act.column_kinds(mixed)
    assert kinds is not None and kinds["amount"] is float
    assert all(json_per_act._fits(raw, kinds) for raw in mixed)
    assert not any(json_per_act._fits(row(1, amount), kinds) for amount in (-5, 10_000, 10**7))
    whole = json_per_act.column_kinds([row(line, 30) for line in range(1, 11)])  # 26.5 may come later
    assert whole is not None and whole["amount"] is float
    # An empty text is a null in any column; a text that reads as no boolean is held back, and so is
    # an amount whose text is not that of a float (its exact digits would be lost).
    assert json_per_act.column_kinds([*floats[:8], row(9, ""), row(10, 30.0, ald="")]) is not None
    later_lines = json_per_act.column_kinds([row(1, 26.5), *(row(line, "") for line in range(2, 11))])
    assert later_lines is not None and later_lines["amount"] is float  # empty texts do not vote
    assert json_per_act.column_kinds([*floats[:8], row(9, 30.0, "?"), row(10, 30.0, "peut-être")]) is None
    assert json_per_act._as_kind("26.5", float, "amount") == 26.5
    assert json_per_act._as_kind("26.50", float, "amount") is json_per_act._UNFIT
    # An invoice key written as a number is its text; codes written as a list, the text the row
    # readers make of them, unless that does not read.
    assert json_per_act._as_kind(101, str, "practitioner_id") == "101"
    assert json_per_act._as_kind(["G", " MD "], str, "code") == "G+MD"
    assert json_per_act._as_kind(["G", " "], str, "code") == "G"
    for unread in ([], ["G", 1], [" "], 5, {"code": "G"}):
        assert json_per_act._as_kind(unread, str, "code") is json_per_act._UNFIT
    # A tie goes to text (the boolean then fits as the text that reads as it does).
    absent = [row(line, 30.0, None) for line in range(3, 21)]
    tie = json_per_act.column_kinds([row(1, 30.0, "1"), row(2, 30.0, True), *absent])
    assert tie is not None and tie["ald"] is str
    assert json_per_act._as_kind(True, str, "ald") == "1"


def test_json_lines_of_whole_and_decimal_amounts_grouped_column_wise(
    tmp_path: Path, batches: None, rounds: None, chunked: None, column_wise: None
) -> None:
    """Amounts as a JavaScript program writes them, 30 beside 26.5: grouped column-wise, whole amounts
    read as their floats; an integer a message would quote (negative, too large) is held back, and
    worded by the row readers as written."""
    rng = random.Random(11)
    objects: list[Any] = []
    for value in _act_objects(11, natives=False):
        if isinstance(value, dict):
            value = dict(value)
            try:
                number = float(value.get("amount", "").replace(",", "."))
            except ValueError:
                pass  # not a number: kept as text
            else:
                value["amount"] = int(number) if number.is_integer() else number
                if rng.random() < 0.02:
                    value["amount"] = rng.choice([-5, 10_000, 10**7])
        objects.append(value)
    path = _jsonl(tmp_path / "actes.jsonl", objects)
    with path.open("rb") as stream:
        rows = list(JsonLinesReader().rows(stream, str(path)))
    kinds = json_per_act.column_kinds(rows)
    assert kinds is not None and kinds["amount"] is float
    assert sum(type(raw.values.get("amount")) is int for raw in rows) > 100
    held = [raw.values.get("amount") for raw in rows if not json_per_act._fits(raw, kinds)]
    assert {-5, 10_000, 10**7} & set(held)
    events, errors = _cases._compare([str(path)])
    assert events > 300 and errors > 10


def test_json_array_per_act_same_as_row_reader(
    tmp_path: Path, batches: None, passes: None, taken: list[str]
) -> None:
    """Natives of mixed types: grouped by the row readers, as they read it."""
    events, errors = _cases._compare([str(_json(tmp_path / "actes.json", _act_objects(4)))])
    assert events > 300 and errors > 10
    assert set(taken) == {"row readers"}


@pytest.mark.parametrize("typed", [False, True], ids=["text", "typed"])
def test_parquet_per_act_grouped_column_wise(
    tmp_path: Path, batches: None, rounds: None, column_wise: None, typed: bool
) -> None:
    """Texts as key and code: grouped column-wise (``per_act``), with the rows read alone held back."""
    path = _parquet(tmp_path / "actes.parquet", 5, typed)
    assert pl.read_parquet(path).filter(pl.col(REFERRAL_TIME).is_not_null()).height > 3
    events, errors = _cases._compare([str(path)])
    assert events > 300 and errors > 10


@pytest.mark.parametrize("seed", [5, 6])
def test_parquet_per_act_of_lists_same_as_row_reader(
    tmp_path: Path, batches: None, passes: None, seed: int
) -> None:
    """Codes as lists: grouped by the row readers' grouping, then read column-wise."""
    events, errors = _cases._compare([str(_parquet(tmp_path / "actes.parquet", seed, True, lists=True))])
    assert events > 300 and errors > 10


@pytest.mark.parametrize("seed", [8, 9])
def test_parquet_per_act_of_integer_keys_grouped_column_wise(
    tmp_path: Path, batches: None, rounds: None, column_wise: None, seed: int
) -> None:
    """Invoice and practitioner numbers written as integers (as pandas writes them): grouped
    column-wise, each key as its text, which is how the row readers read it; the same invoices,
    values and errors as theirs."""
    path = _parquet(tmp_path / "actes.parquet", seed, typed=True)
    frame = pl.read_parquet(path)
    written = [value for value in frame["invoice_id"].unique(maintain_order=True).to_list() if value]
    numbers = {value: 1000 + rank for rank, value in enumerate(written)}
    frame = frame.with_columns(
        pl.col("invoice_id").replace_strict(numbers, default=None, return_dtype=pl.Int64),
        pl.col("practitioner_id").str.strip_chars().cast(pl.UInt32, strict=False),
    )
    frame.write_parquet(path)
    schema = pl.read_parquet_schema(path)
    assert (schema["invoice_id"], schema["practitioner_id"]) == (pl.Int64, pl.UInt32)
    assert per_act.native_per_act(schema)
    events, errors = _cases._compare([str(path)])
    assert events > 300 and errors > 10


def test_parquet_column_named_as_grouping_columns(tmp_path: Path, column_wise: None) -> None:
    """Extra columns named ``line`` or ``_pid`` are the file's own: extras, as the row readers keep them."""
    path = _parquet(tmp_path / "actes.parquet", 7, typed=True)
    frame = pl.read_parquet(path)
    frame.with_columns(
        pl.lit("x").alias("line"), pl.col("patient_id").alias("_pid"), pl.lit(3).alias("_code")
    ).write_parquet(path)
    _cases._compare([str(path)])


def test_per_act_files_of_every_format_and_duplicates_across_them(tmp_path: Path, passes: None) -> None:
    """Per-act files beside per-invoice ones; the same invoices again in a second file are duplicates."""
    objects = _act_objects(6, invoices=200)
    paths = [
        _jsonl(tmp_path / "a.jsonl", objects),
        _json(tmp_path / "b.json", objects[:150]),
        _parquet(tmp_path / "c.parquet", 6, typed=True),
        _cases._write(tmp_path / "d.csv", _cases._damaged_lines(2, 0.05, rows=100)),
    ]
    _, errors = _cases._compare([str(path) for path in paths])
    result = read_invoices([str(path) for path in paths])
    doubles = [error for error in result.input_errors if "en double" in error.message]
    assert len(doubles) > 100 and errors > len(doubles)


def test_grouped_invoices_come_as_the_row_readers_make_them(tmp_path: Path) -> None:
    """Two acts of one invoice make one row: codes in line order, the exact sum, the first line's place."""
    base = {"invoice_id": "F1", "date": "2026-01-05", "practitioner_id": "D1", "patient_id": "P1"}
    acts = [
        {**base, "birth_date": "1950-01-01", "code": "G", "amount": 30},
        {**base, "invoice_id": "F2", "birth_date": "1950-01-01", "code": "VG", "amount": 30.0},
        {**base, "code": ["MD"], "amount": "10,10"},
    ]
    result = read_invoices([str(_jsonl(tmp_path / "two.jsonl", acts, broken=False))])
    assert result.input_errors == []
    rows = list(result.table.iter_rows(named=True))
    assert [(row["invoice_id"], row["codes"], row["amount_cents"], row["line"]) for row in rows] == [
        ("F1", ["G", "MD"], 4010, 1),
        ("F2", ["VG"], 3000, 2),
    ]


def test_file_changed_between_the_two_readings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that grows between the first reading and the second is refused, as the row readers do."""
    monkeypatch.setattr(stream_module, "TWICE_BYTES", 0)
    path = _jsonl(tmp_path / "actes.jsonl", _act_objects(7, invoices=50), broken=False)
    first_reading = grouped_rows.last_rows

    def then_appended(rows: Iterator[Any]) -> Any:
        last = first_reading(rows)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"invoice_id": "F9999", "practitioner_id": "101", "code": "G"}) + "\n")
        return last

    monkeypatch.setattr(grouped_rows, "last_rows", then_appended)
    with pytest.raises(ReadError, match="le fichier a changé pendant sa lecture"):
        read_invoices([str(path)])


@pytest.mark.parametrize("natives", [True, False], ids=["row-readers", "column-wise"])
def test_progress_counts_a_file_read_twice_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, natives: bool
) -> None:
    """The first of two readings, or the first rows' sample, is not counted: the progress line ends
    at the file's size and rows."""
    monkeypatch.setattr(stream_module, "TWICE_BYTES", 0)
    objects = [value for value in _act_objects(8, invoices=100, natives=natives) if isinstance(value, dict)]
    path = _jsonl(tmp_path / "actes.jsonl", objects, broken=False)

    class Counting:
        def __init__(self) -> None:
            self.rows = self.bytes = 0

        def counted(self, stream: Any) -> Any:
            counting = self

            class Stream:
                def __getattr__(self, name: str) -> Any:
                    return getattr(stream, name)

                def __enter__(self) -> Any:
                    return self

                def __exit__(self, *exc: object) -> None:
                    stream.close()

                def read(self, size: int = -1) -> bytes:
                    data = stream.read(size)
                    counting.bytes += len(data)
                    return data

                def readinto(self, buffer: Any) -> int:
                    count = stream.readinto(buffer)
                    counting.bytes += count or 0
                    return count

            return Stream()

        def advance(self, rows: int = 0, size: int = 0) -> None:
            self.rows += rows
            self.bytes += size

    counting = Counting()
    read_invoices([str(path)], counting=counting)
    assert counting.rows == len(objects)
    assert counting.bytes == path.stat().st_size


# --- any rows: property-based ---------------------------------------------------------------------

#: Values of each column, as Parquet types them (NULL for an empty cell) and as JSON may write them.
_NATIVE_VALUES: dict[str, tuple[Any, list[Any]]] = {
    "invoice_id": (pl.String, ["F1", "F2", " F1", "F1\u00a0", "", None, "F3"]),
    "date": (pl.String, ["2025-03-04", "04/03/2025", None, "2025-02-30"]),
    "time": (pl.String, [None, "10:00", "10:00:00", "25:00"]),
    "practitioner_id": (pl.String, ["101", "102", None, " 101"]),
    "patient_id": (pl.String, ["P1", None, "P2", " "]),
    "birth_date": (pl.String, ["1950-02-01", None, "2030-01-01"]),
    "ald": (pl.Boolean, [True, False, None]),
    "sector": (pl.Int64, [1, 2, None, 3]),
    "code": (pl.String, ["G", "MD", None, "", " VL ", "XYZ", "G+MD"]),
    "amount": (pl.Float64, [30.0, None, 0.0, 26.5, -5.0, 0.005, 12.345, float("nan"), 30, -5, 10_000]),
    REFERRAL_TIME: (pl.String, [None, None, None, "09:30", "25:00"]),
    "note": (pl.String, [None, "a", "b"]),
}


@st.composite
def _any_act_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=1, max_value=14))
    return [
        {name: draw(st.sampled_from(values)) for name, (_, values) in _NATIVE_VALUES.items()}
        for _ in range(count)
    ]


@_cases.reproducible(120)
@given(rows=_any_act_rows(), spill=st.sampled_from([None, 1, 4]), batch=st.sampled_from([None, 1, 3]))
def test_any_act_rows_read_as_the_row_reader(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    rows: list[dict[str, Any]],
    spill: int | None,
    batch: int | None,
) -> None:
    """Random rows of a few invoices, as Parquet (grouped column-wise, in memory or in rounds on disk)
    and as JSON Lines (grouped column-wise, or by the row readers when most of its rows write a field
    in another type than the others): the same invoices, values and errors, in order."""
    _acts._spill_at(monkeypatch, spill)
    if batch:
        monkeypatch.setattr(per_act, "BATCH_INVOICES", batch)
        monkeypatch.setattr(grouped_rows, "BATCH_INVOICES", batch)
    parquet = tmp_path / "any.parquet"
    schema = {name: kind for name, (kind, _) in _NATIVE_VALUES.items()}
    pl.DataFrame({name: [row[name] for row in rows] for name in schema}, schema=schema).write_parquet(parquet)
    _cases._compare([str(parquet)])
    jsonl = tmp_path / "any.jsonl"
    jsonl.write_text(
        "".join(json.dumps({k: v for k, v in row.items() if v is not None}) + "\n" for row in rows)
    )
    _cases._compare([str(jsonl)])
    array = _json(tmp_path / "any.json", [{k: v for k, v in row.items() if v is not None} for row in rows])
    _cases._compare([str(array)])
    # And grouped column-wise (``json_per_act``) however many of its rows are held back.
    monkeypatch.setattr(json_per_act, "HELD_AT_MOST", 1.0)
    _cases._compare([str(jsonl)])
    _cases._compare([str(array)])


#: JSON values of each field in several JSON types (texts, numbers, booleans) that read alike or
#: not, valid or not: what columns hold as the value of their type that reads the same
#: (``json_per_act._as_kind``), or hold back.
_MIXED_VALUES: dict[str, list[Any]] = {
    "invoice_id": ["F1", "F2", "F3", 1],
    "date": ["2025-03-04", "04/03/2025", 20250304],
    "time": ["10:00", None, 1000, "10:00:00"],
    "practitioner_id": ["101", 101, "102"],
    "patient_id": ["P1", "P2", 7, None],
    "birth_date": ["1950-02-01", None, "2030-01-01"],
    "ald": [True, False, 1, 0, "1", "0", "oui", "Non", 2, "x", "", None, 1.0],
    "sector": [1, 2, "1", "2", 3, "3", 1.0, True, None, "optam", ""],
    "place": ["cabinet", "domicile", "Domicile", 1, None],
    "code": ["G", "MD", ["G"], [" G ", "MD"], ["G", ""], [], ["G+MD"], [1], " VL "],
    "amount": [30.0, 30, "30", "30.00", 26.5, "26.5", "26,50", True, -5, 0.005, None, ""],
    "km": [None, 4, 4.0, "4", "4,5", -1],
}


@st.composite
def _mixed_act_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=1, max_value=14))
    return [
        {name: draw(st.sampled_from(values)) for name, values in _MIXED_VALUES.items()} for _ in range(count)
    ]


@_cases.reproducible(120)
@given(rows=_mixed_act_rows(), spill=st.sampled_from([None, 1, 4]), share=st.sampled_from([None, 1.0]))
def test_mixed_json_types_read_as_the_row_reader(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    rows: list[dict[str, Any]],
    spill: int | None,
    share: float | None,
) -> None:
    """Random per-act JSON rows writing fields in several types, as JSON Lines and as an array,
    grouped column-wise however many rows are held back (``share``), or as the file's first rows
    decide: the same invoices, values and errors as the row readers', in order."""
    _acts._spill_at(monkeypatch, spill)
    if share is not None:
        monkeypatch.setattr(json_per_act, "HELD_AT_MOST", share)
    objects = [{key: value for key, value in row.items() if value is not None} for row in rows]
    jsonl = tmp_path / "mixed.jsonl"
    jsonl.write_text("".join(json.dumps(value) + "\n" for value in objects))
    _cases._compare([str(jsonl)])
    _cases._compare([str(_json(tmp_path / "mixed.json", objects))])
