"""The relational engine fed by the columnar reader: the row engine's report, input errors included.

``api.check_paths`` reads plain files with the built-in readers column-wise (polars) and hands the
table to the plan, without building events. Everything a report shows must stay identical to the
row engine's: findings (rule, line, file, message, amount...), input errors word for word with
their line numbers, ``summary.events`` and the files. The files are generated and damaged with the
columnar reader's own damages (bad values, duplicates, blank and quoted lines), and carry acts
timed to the second and amounts finer than the cent, which only the exact columns keep.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import pytest
from executors import columnar_only, load_module

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")
pytest.importorskip("polars")

from billing_rules.api.validator import Validator  # noqa: E402
from billing_rules.engines.relational import api  # noqa: E402
from billing_rules.engines.relational.table import TableWriter  # noqa: E402

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS.parent / "benchmarks"))

import generate  # noqa: E402

_reader_tests = load_module("_columnar_reader_cases", TESTS / "test_columnar_reader.py")
_per_act_cases = load_module("_columnar_per_act_cases", TESTS / "test_columnar_per_act.py")
_differential = load_module(
    "_relational_differential_cases", Path(__file__).with_name("test_relational_differential.py")
)


@pytest.fixture
def fed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the columnar reads, and forbids the row-fed staging, for ``api.check_paths``."""
    return columnar_only(monkeypatch)


def _assert_same(validator: Validator, paths: list[str], fed: list[int]) -> None:
    row = validator.check_paths(paths)
    relational = api.check_paths(validator, paths)
    assert fed, "the columnar reader was not used"
    assert relational.engine == "duckdb" and row.engine == "row"
    assert relational.files == row.files
    assert relational.events == row.events
    assert [(e.line, e.file, e.field, e.message) for e in relational.input_errors] == [
        (e.line, e.file, e.field, e.message) for e in row.input_errors
    ]
    assert relational.input_errors == row.input_errors
    assert [_differential.key(f) for f in relational.findings] == [_differential.key(f) for f in row.findings]


@pytest.mark.parametrize(("seed", "rate"), [(31, 0.03), (32, 0.12)])
def test_damaged_generated_file_identical(
    tmp_path: Path, builtin_validator: Validator, fed: list[int], seed: int, rate: float
) -> None:
    path = _reader_tests._write(tmp_path / "damaged.csv", _reader_tests._damaged_lines(seed, rate))
    row = builtin_validator.check_paths([str(path)])
    assert row.input_errors and row.findings  # the file exercises both
    _assert_same(builtin_validator, [str(path)], fed)


def test_several_files_identical(tmp_path: Path, builtin_validator: Validator, fed: list[int]) -> None:
    damaged = _reader_tests._write(tmp_path / "a.csv", _reader_tests._damaged_lines(33, 0.05, rows=600))
    clean = tmp_path / "b.csv"
    generate.generate(
        str(clean), rows=1500, practitioners=2, seed=34, start=dt.date(2025, 12, 22), violations=40
    )
    _assert_same(builtin_validator, [str(damaged), str(clean)], fed)
    assert fed == [builtin_validator.check_paths([str(damaged), str(clean)]).events]


def test_seconds_and_sub_cent_amounts_identical(
    tmp_path: Path, builtin_validator: Validator, fed: list[int]
) -> None:
    """Acts one second apart keep the row engine's order; ``26.505`` stays exact."""
    rows = _differential._random_rows(5, 400)
    for index, row in enumerate(rows):
        if row.get("time") and index % 3 == 0:
            row["time"] = row["time"][:5] + f":{index % 60:02d}"
        if index % 7 == 0 and row.get("amount"):
            row["amount"] = row["amount"].replace(",", ".") + "5" if "." in row["amount"] else row["amount"]
    path = _differential._write_csv(tmp_path / "seconds.csv", rows)
    _assert_same(builtin_validator, [str(path)], fed)


def test_lines_input_keeps_the_row_readers(builtin_validator: Validator) -> None:
    """``--lines`` (one line per act) is not the columnar reader's: the row-fed path stays."""
    assert api.columnar_input(builtin_validator)
    assert not api.columnar_input(Validator.build(entry_points=False, lines=True))
    assert TableWriter is api.TableWriter


def test_software_export_per_act_identical(
    tmp_path: Path, builtin_validator: Validator, fed: list[int]
) -> None:
    """A SPEC §1b export (French headers, ``Moi``, one line per act) is grouped column-wise."""
    examples = TESTS.parent / "examples"
    export = str(examples / "export-logiciel.csv")
    assert api.columnar_files([export], None)
    assert not api.columnar_files(["-"], None)
    paths = [export, str(examples / "history-2023-2025.csv")]
    row = builtin_validator.check_paths(paths)
    assert not row.input_errors and row.findings
    _assert_same(builtin_validator, paths, fed)
    # Damaged per-act files, their invoices plain or judged line by line, duplicates across files.
    first = _per_act_cases._per_act_file(tmp_path / "a.csv", 11, invoices=400)
    second = _per_act_cases._per_act_file(tmp_path / "b.csv", 12, invoices=300, start=350)
    row = builtin_validator.check_paths([str(first), str(second)])
    assert row.input_errors and row.findings
    _assert_same(builtin_validator, [str(first), str(second)], fed)


def test_french_headers_and_values_identical(
    tmp_path: Path, builtin_validator: Validator, fed: list[int]
) -> None:
    """A software export of one row per invoice (French headers, ``Moi``, ``Oui``, Windows-1252)."""
    lines = _reader_tests.french_export_lines()
    path = str(_reader_tests._write(tmp_path / "export.csv", lines, encoding="cp1252"))
    assert api.columnar_files([path], None)
    row = builtin_validator.check_paths([path])
    assert row.input_errors and row.findings  # the file exercises both
    _assert_same(builtin_validator, [path], fed)


@pytest.mark.parametrize("typed", [True, False])
def test_parquet_identical(tmp_path: Path, builtin_validator: Validator, fed: list[int], typed: bool) -> None:
    """Parquet, typed or all text, damaged: read column-wise, the row engine's report."""
    path = str(_reader_tests._parquet(tmp_path / "day.parquet", typed=typed))
    assert api.columnar_files([path], None)
    row = builtin_validator.check_paths([path])
    assert row.input_errors and row.findings  # the file exercises both
    _assert_same(builtin_validator, [path], fed)


def test_duplicates_asked_back_from_duckdb_in_and_out_of_the_table(
    tmp_path: Path, builtin_validator: Validator, fed: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The invoices seen twice, found by their hashes, then their keys asked back from DuckDB.

    Statements of 97 rows: when the keys are asked, some rows are in the table and the last ones
    still waiting to go in; both kinds are found, and the repeats deleted, as the row engine reads.
    """
    from billing_rules.engines.relational import table as table_module

    monkeypatch.setattr(table_module.StreamedTable, "FLUSH_ROWS", 97)
    asked: list[int] = []
    real_keys = table_module._DuckDbSink.keys

    def keys(self: Any, seqs: Any) -> Any:
        asked.append(len(seqs))
        return real_keys(self, seqs)

    monkeypatch.setattr(table_module._DuckDbSink, "keys", keys)
    first = _reader_tests._damaged_lines(35, 0.05, rows=500)
    # The same invoices again, early and late ones (the late ones still pending when asked).
    second = [first[0], *first[1:40:3], *first[-30:]]
    paths = [
        str(_reader_tests._write(tmp_path / "a.csv", first)),
        str(_reader_tests._write(tmp_path / "b.csv", second)),
    ]
    row = builtin_validator.check_paths(paths)
    repeats = [error for error in row.input_errors if error.file == paths[1] and error.field == "invoice_id"]
    assert len(repeats) > 30
    _assert_same(builtin_validator, paths, fed)
    assert asked and asked[0] >= 2 * len(repeats)


def test_parquet_with_csv_identical(tmp_path: Path, builtin_validator: Validator, fed: list[int]) -> None:
    """A CSV file then a Parquet file: one input, duplicates across them included."""
    csv_path = _reader_tests._write(tmp_path / "a.csv", _reader_tests._damaged_lines(9, 0.05, rows=600))
    parquet = str(_reader_tests._parquet(tmp_path / "b.parquet"))  # the same invoices: duplicates
    row = builtin_validator.check_paths([str(csv_path), parquet])
    assert any("a.csv" in error.message and error.file == parquet for error in row.input_errors)
    _assert_same(builtin_validator, [str(csv_path), parquet], fed)


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_json_identical(tmp_path: Path, builtin_validator: Validator, fed: list[int], suffix: str) -> None:
    """JSON Lines and JSON arrays, damaged (native values, broken lines, non-objects): column-wise."""
    objects = _reader_tests._objects(5, 0.2)
    path = tmp_path / f"day{suffix}"
    texts = [_reader_tests._dumps(value) for value in objects]
    if suffix == ".jsonl":
        texts[10] = "{broken"
        path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    else:
        path.write_text("[" + ",\n".join(texts) + "]", encoding="utf-8")
    assert api.columnar_files([str(path)], None)
    row = builtin_validator.check_paths([str(path)])
    assert row.input_errors and row.findings  # the file exercises both
    _assert_same(builtin_validator, [str(path)], fed)


def test_json_per_act_read_column_wise(tmp_path: Path, builtin_validator: Validator) -> None:
    """JSON whose first readable object has a ``code`` key (one per act) is grouped, then read column-wise.

    As the row readers decide: a broken first line does not decide, the first readable one does.
    """
    base = {"invoice_id": "F1", "date": "2026-01-05", "practitioner_id": "D1", "patient_id": "P1"}
    acts = [{**base, "birth_date": "1950-01-01", "code": code} for code in ("G", "MEG")]
    path = tmp_path / "acts.jsonl"
    lines = ["{broken", *(_reader_tests._dumps(act) for act in acts)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert api.columnar_files([str(path)], None)
    broken = tmp_path / "broken.json"
    broken.write_text('{"not": "an array"', encoding="utf-8")
    assert not api.columnar_files([str(broken)], None)  # the row reader words the error
    row = builtin_validator.check_paths([str(path)])
    relational = api.check_paths(builtin_validator, [str(path)])
    assert relational.events == row.events == 1
    assert relational.input_errors == row.input_errors and row.input_errors  # the broken line
    assert [_differential.key(f) for f in relational.findings] == [_differential.key(f) for f in row.findings]


def test_parquet_per_act_read_column_wise(tmp_path: Path, builtin_validator: Validator) -> None:
    """A Parquet file with a ``code`` column (one row per act, SPEC §1b) is grouped, then read column-wise."""
    import polars as pl

    path = tmp_path / "acts.parquet"
    pl.DataFrame(
        {
            "invoice_id": ["F1", "F1"],
            "date": ["2026-01-05", "2026-01-05"],
            "practitioner_id": ["D1", "D1"],
            "patient_id": ["P1", "P1"],
            "birth_date": ["1950-01-01", "1950-01-01"],
            "code": ["G", "MEG"],
        }
    ).write_parquet(path)
    assert api.columnar_files([str(path)], None)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    assert not api.columnar_files([str(broken)], None)  # the row reader words the error
    row = builtin_validator.check_paths([str(path)])
    relational = api.check_paths(builtin_validator, [str(path)])
    assert relational.events == row.events == 1
    assert relational.input_errors == row.input_errors
    assert [_differential.key(f) for f in relational.findings] == [_differential.key(f) for f in row.findings]


class _VendorReader:
    """A plugin's format (``.vnd``): the SPEC §1 columns, ``|``-separated, header first."""

    name = "vendor-format"
    extensions = (".vnd",)

    def rows(self, stream: Any, file: str) -> Any:
        from billing_rules.readers.base import RawRow

        header, *lines = stream.read().decode("utf-8").splitlines()
        names = header.split("|")
        for number, line in enumerate(lines, start=2):
            yield RawRow(number, dict(zip(names, line.split("|"), strict=True)), file)


def test_a_plugin_format_for_other_files_keeps_the_columnar_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plugin's reader of ``.vnd`` files changes how ``.vnd`` files are read, not CSV files."""
    import billing_rules

    def register_readers(self: object, register: Any) -> None:
        register(_VendorReader())

    plugin = type("Plugin", (), {"register_readers": billing_rules.hookimpl(register_readers)})()
    validator = Validator.build(entry_points=False, plugins=[("vendor", plugin)])
    week = TESTS.parent / "examples" / "week-2026-01.csv"
    vendor = tmp_path / "week.vnd"
    vendor.write_text(week.read_text(encoding="utf-8").replace(";", "|"), encoding="utf-8")
    assert api.columnar_input(validator, [str(week)])
    assert not api.columnar_input(validator, [str(vendor)])
    assert not api.columnar_input(validator, [str(week), str(vendor)])
    assert not api.columnar_input(validator, [str(week)], "vendor-format")
    row = validator.check_paths([str(vendor)])
    assert row.events == 221 and api.check_paths(validator, [str(vendor)]).findings == row.findings
    read = columnar_only(monkeypatch)
    relational = api.check_paths(validator, [str(week)])
    assert read == [221]
    assert relational.findings == validator.check_paths([str(week)]).findings


# --- the practice's own mapping ([columns], [values], --column: SPEC §1b) -------------------------

#: SPEC name -> the practice's header; ``place`` is also kept under its SPEC name, with values the
#: mapping must ignore (the explicit column wins, the SPEC-named one is dropped).
_PRACTICE_HEADERS = {
    "invoice_id": "Réf pièce",
    "patient_id": "Dossier",
    "mt_status": "Situation MT",
    "place": "Lieu d'exercice",
}
#: The practice's spellings of ``mt_status`` (one SPEC value left as it is: read as written).
_PRACTICE_VALUES = {"self": "Déclaré", "other": "Autre MT", "none": "Sans MT"}


def _practice_mapping() -> Any:
    from billing_rules.readers.columns import ColumnMapping

    return ColumnMapping(
        explicit=_PRACTICE_HEADERS,
        values={"mt_status": {spelling: value for value, spelling in _PRACTICE_VALUES.items()}},
    )


def _practice_rows(seed: int, rate: float) -> tuple[list[str], list[list[str]]]:
    """A damaged generated file under the practice's headers and values: header and records.

    Two columns more: an alias of ``invoice_id`` (``N° facture``, kept as an extra, never read as
    the invoice) and ``place`` under its SPEC name, with a value no place has.
    """
    lines = _reader_tests._damaged_lines(seed, rate, rows=900)
    names = lines[0].split(";")
    status = names.index("mt_status")
    records = []
    for number, line in enumerate(lines[1:]):
        cells = line.split(";")
        if len(cells) != len(names):
            continue  # the ragged lines are the reader's own tests
        cells[status] = _PRACTICE_VALUES.get(cells[status], cells[status])
        records.append([*cells, f"X-{number}", "nulle-part"])
    header = [_PRACTICE_HEADERS.get(name, name) for name in names] + ["N° facture", "place"]
    return header, records


def test_practice_mapping_csv_identical(tmp_path: Path, fed: list[int]) -> None:
    """A CSV export read through ``[columns]`` / ``[values]``: column-wise, the row engine's report.

    Explicit headers, a value table, an alias column displaced by an explicit one (an extra), a
    SPEC-named column displaced (dropped), and damaged values the mapping does not know.
    """
    header, records = _practice_rows(41, 0.05)
    lines = [";".join(header)] + [";".join(record) for record in records]
    path = str(_reader_tests._write(tmp_path / "export.csv", lines))
    validator = Validator.build(entry_points=False, columns=_practice_mapping())
    assert api.columnar_input(validator, [path])
    assert api.columnar_files([path], None, api.input_readers(validator))
    row = validator.check_paths([path])
    assert row.input_errors and row.findings  # the file exercises both
    assert any(event.mt_status.value == "self" for event in _events_of(validator, path))  # mapped
    _assert_same(validator, [path], fed)
    # The displaced alias column is an extra: the invoices keep the practice's own numbers.
    assert not any(event.invoice_id.startswith("X-") for event in _events_of(validator, path))


def _events_of(validator: Validator, path: str) -> list[Any]:
    from billing_rules.model import Event
    from billing_rules.readers import InputStream

    stream = InputStream([path], readers=validator.readers)
    return [item for item in stream if isinstance(item, Event)]


def test_practice_mapping_json_lines_identical(tmp_path: Path, fed: list[int]) -> None:
    """JSON Lines under the practice's keys and values: column-wise, the row engine's report."""
    import json

    header, records = _practice_rows(42, 0.05)
    path = tmp_path / "export.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            pairs = {key: value for key, value in zip(header, record, strict=True) if value != ""}
            handle.write(json.dumps(pairs, ensure_ascii=False) + "\n")
    validator = Validator.build(entry_points=False, columns=_practice_mapping())
    row = validator.check_paths([str(path)])
    assert row.input_errors and row.findings
    _assert_same(validator, [str(path)], fed)


def test_practice_mapping_errors_identical(tmp_path: Path) -> None:
    """A ``--column`` header absent from the file fails both ways, in the same words; a mapping
    naming a per-act ``code`` column is grouped column-wise, the row readers' invoices."""
    from billing_rules.errors import ReadError
    from billing_rules.readers.columns import ColumnMapping

    week = str(TESTS.parent / "examples" / "week-2026-01.csv")
    strict = ColumnMapping(explicit={"invoice_id": "Réf pièce"}, strict=frozenset({"invoice_id"}))
    validator = Validator.build(entry_points=False, columns=strict)
    with pytest.raises(ReadError) as row:
        validator.check_paths([week])
    with pytest.raises(ReadError) as relational:
        api.check_paths(validator, [week])
    assert str(relational.value) == str(row.value) and "--column" in str(row.value)
    per_act = tmp_path / "actes.csv"
    per_act.write_text(
        "invoice_id;date;practitioner_id;patient_id;birth_date;Acte;amount\n"
        "F1;2026-01-05;101;P1;1950-01-01;G;30\nF1;2026-01-05;101;P1;1950-01-01;MD;\n",
        encoding="utf-8",
    )
    mapped = Validator.build(entry_points=False, columns=ColumnMapping(explicit={"code": "Acte"}))
    assert api.columnar_files([str(per_act)], None, api.input_readers(mapped))
    row_report = mapped.check_paths([str(per_act)])
    relational = api.check_paths(mapped, [str(per_act)])
    assert row_report.events == relational.events == 1
    assert [_differential.key(f) for f in relational.findings] == [
        _differential.key(f) for f in row_report.findings
    ]
