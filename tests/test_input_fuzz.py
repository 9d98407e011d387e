"""Hostile billing files (issue 7): property tests over mutated files, and one test per crash found.

The mutators are those of the on-demand campaign (``fuzz/fuzz_inputs.py``), driven here by
hypothesis with a modest budget. Every outcome must be a report whose input errors are located, or
a clean :class:`~billing_rules.errors.ReadError` (exit 2 and one French line from the CLI); rows
around a bad one are still checked; a file and its JSON Lines twin give the same findings.
"""

from __future__ import annotations

import codecs
import importlib.util
import io
import json
import random
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing_rules.api.validator import Validator
from billing_rules.errors import ReadError
from billing_rules.model import Event, InputError, Report
from billing_rules.readers import InputStream, json_reader

ROOT = Path(__file__).resolve().parent.parent


def _load_fuzz_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_inputs", ROOT / "fuzz" / "fuzz_inputs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fuzz_inputs", module)
    spec.loader.exec_module(module)
    return module


fuzz = _load_fuzz_module()
HEADER, ROWS = fuzz.load_example()

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator.build(entry_points=False)


@pytest.fixture
def cli_validator(validator: Validator, monkeypatch: pytest.MonkeyPatch) -> Validator:
    """The CLI with a ready validator: building one per example would test the rule compiler."""
    import billing_rules.cli.group as cli

    monkeypatch.setattr(cli, "_build_validator", lambda *args, **kwargs: validator)
    return validator


def check(validator: Validator, data: bytes, fmt: str) -> Report:
    return validator.check_paths(["-"], input_format=fmt, stdin=io.BytesIO(data))


def assert_not_crash(outcome: Any, case: Any) -> None:
    assert outcome.kind != "crash", f"{case.recipe}: {outcome.detail}"


# ==================================================================================================
# Properties


@FUZZ
@given(rnd=st.randoms(use_true_random=False))
def test_mutated_files_end_in_a_report_or_a_read_error(validator: Validator, rnd: random.Random) -> None:
    case = fuzz.make_case(rnd, HEADER, ROWS)
    assert_not_crash(fuzz.run_case(validator, case), case)


@FUZZ
@given(rnd=st.randoms(use_true_random=False))
def test_rows_around_bad_ones_are_still_checked(validator: Validator, rnd: random.Random) -> None:
    case = fuzz.make_case(rnd, HEADER, ROWS, damage="rows")
    outcome = fuzz.run_case(validator, case)  # checks that every untouched row became an event
    assert_not_crash(outcome, case)


@settings(FUZZ, max_examples=60)
@given(rnd=st.randoms(use_true_random=False), report_format=st.sampled_from(["json", "text"]))
def test_cli_exits_0_1_or_2_with_one_french_line(
    cli_validator: Validator, rnd: random.Random, report_format: str
) -> None:
    case = fuzz.make_case(rnd, HEADER, ROWS)
    outcome = fuzz.run_cli(case, report_format)
    assert_not_crash(outcome, case)


def _twin_rows(rnd: random.Random) -> tuple[list[str], list[list[str]]]:
    start = rnd.randrange(len(ROWS))
    table = ROWS[start : start + rnd.randint(1, 30)]
    header, table, _, _ = fuzz.mutate_rows(rnd, HEADER, table, ragged=False, huge=False)
    if rnd.random() < 0.3:
        table = fuzz.french_style(header, table)
    return header, table


def _comparable(report: Report, located: bool) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    def message(text: str) -> str:
        return text if located else re.sub(r"ligne \d+", "ligne N", text)

    findings = [
        (
            f.rule,
            f.severity,
            f.invoice_id,
            f.practitioner_id,
            f.date,
            f.amount,
            message(f.message),
            f.suggestion,
        )
        + ((f.line,) if located else ())
        for f in report.findings
    ]
    errors = [
        (e.field, message(e.message), e.invoice_id) + ((e.line,) if located else ())
        for e in report.input_errors
    ]
    return findings, errors


@FUZZ
@given(rnd=st.randoms(use_true_random=False))
def test_a_file_and_its_json_lines_twin_give_the_same_findings(
    validator: Validator, rnd: random.Random
) -> None:
    header, table = _twin_rows(rnd)
    text = "".join(cell for row in table for cell in row)
    encoding = "utf-8"
    if rnd.random() < 0.3:
        try:
            text.encode("cp1252")
            encoding = "cp1252"
        except UnicodeEncodeError:
            pass
    delimiter = rnd.choice((";", ","))
    csv_data = fuzz.to_csv(
        header,
        table,
        delimiter=delimiter,
        encoding=encoding,
        bom=encoding == "utf-8" and rnd.random() < 0.3,
        line_end=rnd.choice(("\n", "\r\n")),
    )
    # A blank first line gives each object the line number of its CSV row (the header is line 1).
    jsonl_data = fuzz.to_jsonl(header, table, blank_first=True)
    try:
        from_csv = check(validator, csv_data, "csv")
    except ReadError:
        # A required column was dropped: no CSV row can be read; JSON has no header, so each
        # object is an input error of its own instead.
        report = check(validator, jsonl_data, "jsonl")
        assert report.events == 0
        missing = {"invoice_id", "date", "practitioner_id", "patient_id", "birth_date", "codes"} - set(header)
        if table:
            assert missing <= {error.field for error in report.input_errors}
        return
    from_jsonl = check(validator, jsonl_data, "jsonl")
    # A quoted value with a line break spans several physical lines of the CSV file only.
    located = not any("\n" in cell or "\r" in cell for row in table for cell in row)
    assert from_csv.events == from_jsonl.events
    assert _comparable(from_csv, located) == _comparable(from_jsonl, located)


# ==================================================================================================
# Regressions: one test per crash the fuzzing found (each used to raise or to make a rule crash)

BASE = dict(zip(HEADER, ROWS[0], strict=True))  # F-2026-0031, a plain G by the patient's own MT


def obj(number: int, **changes: Any) -> dict[str, Any]:
    return {**BASE, "invoice_id": f"F-{number}", **changes}


def jsonl(*items: dict[str, Any] | str) -> bytes:
    lines = [item if isinstance(item, str) else json.dumps(item) for item in items]
    return ("\n".join(lines) + "\n").encode()


def no_internal_error(validator: Validator, report: Report) -> None:
    assert all(finding.rule != "INTERNAL-ERROR" for finding in report.findings)
    for fmt in ("json", "text"):
        rendered = validator.render(report, fmt)
        assert rendered is not None
        rendered.encode("utf-8")  # writable: no lone surrogate reached a message


def test_deeply_nested_json_line_is_a_row_error(validator: Validator) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    report = check(validator, jsonl(obj(1), deep, obj(3, extra="[" * 5000)), "jsonl")
    assert report.events == 2
    (error,) = report.input_errors
    assert (error.line, error.field) == (2, "_row") and "imbrication trop profonde" in error.message


def test_deeply_nested_json_array_element_is_skipped(validator: Validator) -> None:
    deep = '{"a": ' + "[" * 50_000 + '"]}"' + "]" * 50_000 + "}"
    data = "[" + json.dumps(obj(1)) + "," + deep + "," + json.dumps(obj(3)) + "]"
    report = check(validator, data.encode(), "json")
    assert report.events == 2
    (error,) = report.input_errors
    assert error.field == "_row" and "élément n° 2" in error.message


def test_deeply_nested_json_array_never_closed_is_a_read_error(validator: Validator) -> None:
    with pytest.raises(ReadError, match="« ] » manquant"):
        check(validator, b"[" + b"[" * 100_000, "json")


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_integer_beyond_the_conversion_limit(validator: Validator, fmt: str) -> None:
    huge = "9" * 5000
    items = [obj(1), obj(2), obj(3)]
    text = (
        json.dumps(items) if fmt == "json" else "".join(json.dumps(item) + "\n" for item in items)
    ).replace('"F-2"', huge)
    report = check(validator, text.encode(), fmt)
    assert report.events == 2
    (error,) = report.input_errors
    assert error.field == "invoice_id" and "texte attendu" in error.message and len(error.message) < 200


def test_integer_beyond_the_limit_on_a_broken_json_line(validator: Validator) -> None:
    report = check(validator, jsonl(obj(1), '{"amount": ' + "9" * 5000 + ", oops}"), "jsonl")
    assert report.events == 1
    (error,) = report.input_errors
    assert (error.line, error.field) == (2, "_row")


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
@pytest.mark.parametrize(
    ("escaped", "field"),
    [
        ('"patient_id": "P\\ud800"', "patient_id"),
        ('"invoice_id": "F\\udc00x"', "invoice_id"),
        ('"codes": ["G", "\\ud83d"]', "codes"),
        ('"note": "\\u0000"', "note"),
        ('"\\ud800": "x"', "_row"),
    ],
)
def test_lone_surrogate_and_nul_escapes(validator: Validator, fmt: str, escaped: str, field: str) -> None:
    # The escaped key replaces the object's own (a key given twice is an input error of its own).
    base = {key: value for key, value in obj(2).items() if key != field}
    bad = json.dumps(base)[:-1] + ", " + escaped + "}"
    items = [json.dumps(obj(1)), bad, json.dumps(obj(3))]
    text = "[" + ",".join(items) + "]" if fmt == "json" else "\n".join(items) + "\n"
    report = check(validator, text.encode(), fmt)
    assert report.events == 2
    (error,) = report.input_errors
    assert error.field == field
    assert error.invoice_id in ("F-2", None)
    no_internal_error(validator, report)


def test_a_valid_surrogate_pair_is_one_character(validator: Validator) -> None:
    data = jsonl(obj(1, note="\U0001f600"))
    assert b"\\ud83d\\ude00" in data  # json.dumps escapes it as a pair
    report = check(validator, data, "jsonl")
    assert report.events == 1 and not report.input_errors


@pytest.mark.parametrize(
    ("fmt", "amount"),
    [("csv", "9" * 40), ("csv", "1" + "0" * 28), ("csv", "1000000"), ("json", 1e308), ("json", 10**30)],
)
def test_absurd_amount_is_an_input_error_not_a_rule_crash(
    validator: Validator, fmt: str, amount: Any
) -> None:
    # AMOUNT-ABOVE used to fail (decimal.InvalidOperation) rounding such an excess to the cent.
    if fmt == "csv":
        data = fuzz.to_csv(
            HEADER, [[str(amount) if name == "amount" else value for name, value in BASE.items()]]
        )
    else:
        data = json.dumps([obj(1, amount=amount)]).encode()
    report = check(validator, data, fmt)
    (error,) = report.input_errors
    assert error.field == "amount" and "montant invraisemblable" in error.message
    no_internal_error(validator, report)


def test_largest_plausible_amount_is_checked(validator: Validator) -> None:
    report = check(validator, json.dumps([obj(1, amount="999999,99")]).encode(), "json")
    assert report.events == 1
    assert any(finding.rule == "AMOUNT-ABOVE" for finding in report.findings)
    no_internal_error(validator, report)


@pytest.mark.parametrize(
    "value", ["NaN", "nan", "inf", "-inf", "Infinity", "1e308", "-1", "1,2,3", "٣٠", "0x1E"]
)
def test_non_numbers_in_amount(validator: Validator, value: str) -> None:
    (error,) = check(validator, jsonl(obj(1, amount=value)), "jsonl").input_errors
    assert error.field == "amount"


@pytest.mark.parametrize("native", ["NaN", "Infinity", "-Infinity", "-1.5"])
def test_json_native_non_finite_or_negative_amounts(validator: Validator, native: str) -> None:
    line = json.dumps(obj(1))[:-1] + f', "amount": {native}}}'
    (error,) = check(validator, (line + "\n").encode(), "jsonl").input_errors
    assert error.field == "amount"


@pytest.mark.parametrize("day", ["0001-01-01", "01/01/0001", "1899-12-31", "2200-01-01", "9999-12-31"])
def test_act_date_out_of_range_is_an_input_error(validator: Validator, day: str) -> None:
    # Year 1 used to crash OPP-MT-DECLARE (OverflowError going 12 months back).
    item = obj(1, date=day, birth_date="0001-01-01", ald="oui", mt_status="none", codes="G")
    report = check(validator, jsonl(item, obj(2)), "jsonl")
    (error,) = report.input_errors
    assert (error.line, error.field) == (1, "date") and "hors limites" in error.message
    assert report.events == 1


@pytest.mark.parametrize(("day", "birth"), [("1900-01-01", "0001-01-01"), ("2199-12-31", "2199-12-31")])
def test_act_dates_at_the_limits_reach_every_rule(validator: Validator, day: str, birth: str) -> None:
    codes = ["G", "IMT", "VL", "VSP", "G+SNP", "G+MOP", "GL1", "VG+MD", "G+MEG", "TCG"]
    items = [
        obj(
            number,
            date=day,
            birth_date=birth,
            ald="oui",
            palliative="oui",
            mt_status=("self", "none", "other", "unknown")[number % 4],
            place="domicile",
            codes=code,
            regulated="oui",
            referral_at=f"{day}T00:00",
            time="",
        )
        for number, code in enumerate(codes * 4)
    ]
    report = check(validator, jsonl(*items), "jsonl")
    assert report.events == len(items) and not report.input_errors
    no_internal_error(validator, report)


@pytest.mark.parametrize("day", ["31/02/2024", "2023-02-29", "00/01/2024", "2024-00-10", "1/13/2024"])
def test_impossible_calendar_dates(validator: Validator, day: str) -> None:
    (error,) = check(validator, jsonl(obj(1, date=day)), "jsonl").input_errors
    assert error.field == "date" and "date invalide" in error.message


def test_overlong_json_line_is_skipped(validator: Validator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_reader, "ELEMENT_LIMIT", 2000)
    report = check(validator, jsonl(obj(1), obj(2, note="x" * 10_000), obj(3)), "jsonl")
    assert report.events == 2
    (error,) = report.input_errors
    assert (error.line, error.field) == (2, "_row") and "ligne trop longue" in error.message


def test_unterminated_string_in_a_json_array_stops_at_the_limit(
    validator: Validator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(json_reader, "ELEMENT_LIMIT", 200_000)
    data = b'[{"invoice_id": "F-1' + b"x" * 1_000_000 + b"]"
    with pytest.raises(ReadError, match="trop long"):
        check(validator, data, "json")


def test_header_line_without_end_is_a_read_error(
    validator: Validator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # /dev/zero, or a binary file: reading "the header line" used to read everything.
    from billing_rules.readers import csv_reader

    monkeypatch.setattr(csv_reader, "HEADER_LIMIT", 1000)
    with pytest.raises(ReadError, match="en-tête interminable"):
        check(validator, b"\x00" * 5000, "csv")
    assert check(validator, fuzz.to_csv(HEADER, ROWS[:2]), "csv").events == 2


def test_one_megabyte_values(validator: Validator) -> None:
    big = "é" * (1024 * 1024)
    csv_data = fuzz.to_csv([*HEADER, "note"], [[*ROWS[0], big], [*ROWS[1], ""]])
    json_data = json.dumps([obj(1, note=big), obj(2)]).encode()
    for data, fmt in ((csv_data, "csv"), (json_data, "json"), (jsonl(obj(1, note=big), obj(2)), "jsonl")):
        items = list(InputStream(["-"], input_format=fmt, stdin=io.BytesIO(data)))
        assert all(isinstance(item, Event) for item in items) and len(items) == 2
        assert items[0].extra["note"] == big  # type: ignore[union-attr]
    report = check(validator, fuzz.to_csv(HEADER, [[*ROWS[0][:6], "P" * 1024 * 1024, *ROWS[0][7:]]]), "csv")
    assert report.events == 1  # a 1 MB patient id is odd, not unreadable


def test_ten_thousand_columns(validator: Validator) -> None:
    header = [*HEADER, *(f"c{index}" for index in range(10_000))]
    data = fuzz.to_csv(header, [[*row, *("v" * 10_000)] for row in ROWS[:5]])
    report = check(validator, data, "csv")
    assert report.events == 5 and not report.input_errors
    (event,) = [item for item in InputStream(["-"], input_format="csv", stdin=io.BytesIO(data))][:1]
    assert isinstance(event, Event) and len(event.extra) == 10_000


def test_damaged_invoice_number_is_not_a_label_nor_a_duplicate(validator: Validator) -> None:
    # Undecodable bytes in invoice_id: the garbled text must not name the invoice or match others.
    data = codecs.BOM_UTF8 + fuzz.to_csv(HEADER, [ROWS[0], ROWS[0]])
    first_id = ROWS[0][0].encode()
    data = data.replace(first_id, first_id[:-1] + b"\xff", 1)
    report = check(validator, data, "csv")
    (error,) = report.input_errors
    assert (error.line, error.field, error.invoice_id) == (2, "invoice_id", None)
    assert report.events == 1  # the intact copy is not a duplicate of the garbled one


def test_files_joined_with_cat_bom_in_the_middle(validator: Validator) -> None:
    part = codecs.BOM_UTF8 + fuzz.to_csv(HEADER, ROWS[:3])
    second = codecs.BOM_UTF8 + fuzz.to_csv(HEADER, ROWS[3:6])
    report = check(validator, part + second, "csv")
    # The second header is a row of the first file: an input error on line 5, nothing lost.
    assert report.events == 6
    assert {error.line for error in report.input_errors} == {5}
    lines_a = b"".join(json.dumps(obj(n)).encode() + b"\n" for n in (1, 2))
    lines_b = b"".join(json.dumps(obj(n)).encode() + b"\n" for n in (3, 4))
    report = check(validator, codecs.BOM_UTF8 + lines_a + codecs.BOM_UTF8 + lines_b, "jsonl")
    assert report.events == 4 and not report.input_errors


def test_unbalanced_quote_mid_file_is_located(validator: Validator) -> None:
    data = fuzz.to_csv(HEADER, ROWS[:6]).replace(b"\nF-2026-0034;", b'\n"F-2026-0034;', 1)
    report = check(validator, data, "csv")
    (error,) = report.input_errors
    assert (error.line, error.field) == (5, "_row")
    assert "guillemet" in error.message and "reprise à la ligne 6" in error.message
    assert report.events == 5  # the rows after it are read again (issue 16: resynchronisation)


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"", "csv"),
        (b"", "json"),
        (b"\n", "csv"),
        (codecs.BOM_UTF8, "json"),
        (b"{}", "json"),
        (b"\x00" * 10, "json"),
    ],
)
def test_empty_and_non_array_files_exit_2_in_one_line(
    cli_validator: Validator, data: bytes, fmt: str
) -> None:
    case = fuzz.Case(data=data, fmt=fmt, rows=0, untouched=None, recipe="")
    outcome = fuzz.run_cli(case)
    assert outcome.kind == "read_error", outcome.detail


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_header_only_or_empty_array_is_an_empty_report(validator: Validator, fmt: str) -> None:
    data = {"csv": fuzz.to_csv(HEADER, []), "jsonl": b"\n", "json": b"[ ]"}[fmt]
    report = check(validator, data, fmt)
    assert (report.events, report.findings, report.input_errors) == (0, (), ())


def test_empty_jsonl_is_an_empty_report(validator: Validator) -> None:
    assert check(validator, b"", "jsonl").events == 0


def test_duplicate_ids_among_mutated_rows(validator: Validator) -> None:
    data = fuzz.to_csv(HEADER, [ROWS[0], ROWS[1], ROWS[0], ROWS[0]])
    report = check(validator, data, "csv")
    assert [(e.line, e.field) for e in report.input_errors] == [(4, "invoice_id"), (5, "invoice_id")]
    assert report.events == 2


def test_utf16_odd_length_and_garbage_encodings_never_crash(validator: Validator) -> None:
    text = fuzz.to_csv(HEADER, ROWS[:3]).decode()
    for data in (text.encode("utf-16") + b"\x00", text.encode("utf-32"), text.encode("utf-16-le")):
        try:
            report = check(validator, data, "csv")
        except ReadError as exc:
            assert "\n" not in str(exc)
        else:
            assert all(isinstance(error, InputError) for error in report.input_errors)
            no_internal_error(validator, report)
