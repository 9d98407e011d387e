"""Fuzzing of billing files: random and mutated CSV / JSON / JSON Lines built from the example week.

Run on demand (a few minutes; the test suite runs the same mutators with a small budget through
hypothesis, see ``tests/test_input_fuzz.py``)::

    python fuzz/fuzz_inputs.py --seconds 180 [--seed N] [--save fuzz/crashes]

Every input must end in one of two ways (issue 7, SPEC §1 and §4):

* a report, whose input errors are located (file, line, field) and whose texts can be written as
  UTF-8, with no ``INTERNAL-ERROR`` finding (a rule that crashed on a value the reader let through);
* a :class:`billing_rules.errors.ReadError` (the CLI: exit 2 and one French line on stderr).

Anything else is a crash: it is printed with the seed that replays it, and saved with ``--save``.
Structural mutations that touch known rows also check that every other row is still checked.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import io
import json
import random
import re
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "week-2026-01.csv"

FORMATS = ("csv", "json", "jsonl")

#: Values a practice's export has been seen to contain, or that a hostile one could.
HOSTILE_VALUES: tuple[str, ...] = (
    "",
    " ",
    "0000-01-01",
    "0001-01-01",
    "9999-12-31",
    "31/02/2024",
    "29/02/2023",
    "2024-02-30",
    "2024-13-01",
    "00/00/0000",
    "1/1/1",
    "2024-3-4",
    "20240304",
    "2024-W10-1",
    "24:00",
    "23:60",
    "9:5",
    "-1",
    "-0",
    "-26,50",
    "1e308",
    "1E400",
    "-1e308",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "9" * 40,
    "0." + "0" * 40 + "1",
    "26,50 €",
    "1 234,56",
    "26.50.10",
    "1,2,3",
    "٣٠",
    "３０",
    "oui ",
    "OUI",
    "peut-être",
    "self ",
    "SELF",
    "autre",
    "optam",
    "3",
    "cancelled",
    "G+",
    "+",
    "++G++",
    "g + snp",
    "G+SNP+SNP",
    "\ufeff2026-01-05",
    "2026-01-05\ufeff",
    "\x00",
    "G\x00",
    "\r\n",
    "a\nb",
    '"',
    '""',
    "x;y,z",
    '=HYPERLINK("http://x")',
    "<script>alert(1)</script>",
    "é" * 10,
    "\U0001f600",
    "\u202e",
    "2026-01-05T25:00",
    "2026-01-06T07:00",
    "9999-12-31T23:59",
    "0001-01-01T00:00",
    "05/01/2026 09:30",
)

#: Act dates at and just beyond the limits the readers accept.
EXTREME_DATES = (
    "1900-01-01",
    "1900-12-31",
    "2199-12-31",
    "1899-12-31",
    "2200-01-01",
    "0001-01-01",
    "9999-12-31",
)

_REQUIRED = ("invoice_id", "date", "practitioner_id", "patient_id", "birth_date", "codes")


@attrs.frozen
class Case:
    """One generated billing file and what is known about it."""

    data: bytes
    fmt: str
    #: Number of data rows written (before byte mutations).
    rows: int
    #: Invoice keys of the rows left untouched, when the mutations are local to their rows.
    untouched: frozenset[tuple[str, str]] | None
    recipe: str


@attrs.frozen
class Outcome:
    """How one case ended: ``report``, ``read_error`` or ``crash`` (``detail`` says why)."""

    kind: str
    events: int = 0
    input_errors: int = 0
    findings: int = 0
    detail: str = ""


# --- the example, as rows ------------------------------------------------------------------------


def load_example(path: Path = EXAMPLE) -> tuple[list[str], list[list[str]]]:
    """Header and rows (lists of strings) of the example billing file."""
    with open(path, encoding="utf-8", newline="") as handle:
        table = list(csv.reader(handle, delimiter=";"))
    return table[0], table[1:]


def french_style(header: Sequence[str], rows: list[list[str]]) -> list[list[str]]:
    """The same rows as a French spreadsheet writes them: ``26,50`` and ``04/03/2024``."""
    date_columns = {header.index(name) for name in ("date", "birth_date") if name in header}
    amount = header.index("amount") if "amount" in header else None
    out = []
    for row in rows:
        row = list(row)
        for index in date_columns:
            if index < len(row) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", row[index]):
                year, month, day = row[index].split("-")
                row[index] = f"{day}/{month}/{year}"
        if amount is not None and amount < len(row):
            row[amount] = row[amount].replace(".", ",")
        out.append(row)
    return out


# --- serializers -----------------------------------------------------------------------------------


def to_csv(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    delimiter: str = ";",
    encoding: str = "utf-8",
    bom: bool = False,
    line_end: str = "\n",
) -> bytes:
    """A CSV file; values that need it are quoted, as a spreadsheet would.

    Not ``csv.writer``: with a ``\n`` terminator it leaves a lone ``\r`` unquoted, which every
    reader (ours included) takes for the end of the record.
    """
    special = (delimiter, '"', "\n", "\r")

    def cell(value: str) -> str:
        if any(char in value for char in special):
            return '"' + value.replace('"', '""') + '"'
        return value

    lines = [delimiter.join(cell(value) for value in values) + line_end for values in (header, *rows)]
    data = "".join(lines).encode(encoding, errors="replace")
    return codecs.BOM_UTF8 + data if bom else data


def _objects(
    header: Sequence[str], rows: Sequence[Sequence[str]], codes_as_list: bool
) -> list[dict[str, Any]]:
    objects = []
    for row in rows:
        item: dict[str, Any] = dict(zip(header, row, strict=False))
        if codes_as_list and isinstance(item.get("codes"), str) and item["codes"]:
            item["codes"] = item["codes"].split("+")
        objects.append(item)
    return objects


def to_jsonl(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    blank_first: bool = True,
    codes_as_list: bool = False,
) -> bytes:
    """JSON Lines; with ``blank_first`` a blank first line makes line numbers those of the CSV twin."""
    lines = [json.dumps(item, ensure_ascii=False) + "\n" for item in _objects(header, rows, codes_as_list)]
    if blank_first:
        lines.insert(0, "\n")
    return "".join(lines).encode("utf-8", errors="surrogatepass")


def to_json(header: Sequence[str], rows: Sequence[Sequence[str]], *, codes_as_list: bool = False) -> bytes:
    """A JSON array of objects."""
    return json.dumps(_objects(header, rows, codes_as_list), ensure_ascii=False, indent=1).encode(
        "utf-8", errors="surrogatepass"
    )


def serialize(fmt: str, header: Sequence[str], rows: Sequence[Sequence[str]], rnd: random.Random) -> bytes:
    """The rows in ``fmt``, with the variations SPEC §1 allows chosen at random."""
    if fmt == "json":
        return to_json(header, rows, codes_as_list=rnd.random() < 0.3)
    if fmt == "jsonl":
        return to_jsonl(header, rows, blank_first=rnd.random() < 0.5, codes_as_list=rnd.random() < 0.3)
    if rnd.random() < 0.3:
        rows = french_style(header, list(rows))
    delimiter = ";"
    if rnd.random() < 0.3 and not any("," in cell for row in rows for cell in row):
        delimiter = ","
    encoding = rnd.choice(("utf-8", "utf-8", "cp1252"))
    return to_csv(
        header,
        rows,
        delimiter=delimiter,
        encoding=encoding,
        bom=encoding == "utf-8" and rnd.random() < 0.3,  # a BOM says UTF-8: with cp1252 it lies
        line_end=rnd.choice(("\n", "\r\n")),
    )


# --- mutations -------------------------------------------------------------------------------------


def random_text(rnd: random.Random, size: int) -> str:
    """Text from a mix of ASCII, French letters, separators and odd code points."""
    alphabet = "abcXYZ0123456789 -+/:;,.\"'\t\r\néèàçœ€«»\u00a0\ufeff\u2028\x00\x1b"
    # U+FFFD is left out: it is how undecodable bytes read, and is only looked for once a file
    # shows damage (see billing_rules.readers.encoding), so a CSV file and its JSON twin could
    # rightly differ on it.
    return "".join(
        rnd.choice(alphabet)
        if rnd.random() < 0.9
        else chr(rnd.randrange(0x20, 0x2FFFF)).replace("\ufffd", "?")
        for _ in range(size)
    )


def hostile_value(rnd: random.Random, *, huge: bool = True) -> str:
    """One value to put in a cell."""
    roll = rnd.random()
    if huge and roll < 0.02:
        return rnd.choice("9x ") * (1024 * 1024)  # a 1 MB field
    if roll < 0.6:
        return rnd.choice(HOSTILE_VALUES)
    if roll < 0.8:
        value = random_text(rnd, rnd.randrange(0, 12))
        # No lone surrogates: a CSV file cannot hold them (JSON escapes can: see the byte mutations).
        return "".join(char for char in value if not 0xD800 <= ord(char) <= 0xDFFF)
    return str(rnd.choice((0, 1, -1, 2**31, 2**63, 10**20, 0.1, 1e-300)))


def _set(row: list[str], column: int, value: str) -> None:
    if column >= len(row):
        row.extend([""] * (column + 1 - len(row)))
    row[column] = value


def mutate_rows(
    rnd: random.Random, header: list[str], rows: list[list[str]], *, ragged: bool = True, huge: bool = True
) -> tuple[list[str], list[list[str]], set[int] | None, str]:
    """Structural mutations of the table: (header, rows, indices of the rows touched, recipe).

    Each mutation only changes the rows it touches, so the other rows must still be checked,
    except dropping a required column (then the touched rows are ``None``). ``ragged`` allows rows
    with too many or too few cells (CSV only: JSON has no cells).
    """
    header = list(header)
    rows = [list(row) for row in rows]
    touched: set[int] = set()
    local = True
    recipe = []
    for _ in range(rnd.randint(1, 3)):
        if not rows:
            break
        kind = rnd.choice(
            (
                "value",
                "value",
                "value",
                "blank",
                "duplicate_id",
                "copy_row",
                "columns",
                "cells",
                "shuffle",
                "extreme",
                "drop_column",
            )
        )
        target = rnd.randrange(len(rows))
        if kind == "value":
            column = rnd.randrange(len(header))
            _set(rows[target], column, hostile_value(rnd, huge=huge))
            touched.add(target)
            recipe.append(f"value[{header[column]}]")
        elif kind == "blank":
            column = rnd.randrange(len(header))
            _set(rows[target], column, "")
            touched.add(target)
            recipe.append(f"blank[{header[column]}]")
        elif kind == "duplicate_id" and target > 0:
            source = rnd.randrange(target)
            for name in ("practitioner_id", "invoice_id"):
                if name in header:
                    index = header.index(name)
                    _set(rows[target], index, rows[source][index] if index < len(rows[source]) else "")
            touched.add(target)
            recipe.append("duplicate_id")
        elif kind == "copy_row":
            rows.insert(target + 1, list(rows[target]))
            touched = {index + 1 if index > target else index for index in touched}
            touched.add(target + 1)
            recipe.append("copy_row")
        elif kind == "columns":
            count = rnd.choice((1, 3, 100, 10_000))
            header = header + [f"extra{len(recipe)}_{index}" for index in range(count)]  # unique names
            filler = rnd.choice(("", "x", "é;è"))
            rows = [row + [filler] * count for row in rows]
            recipe.append(f"columns+{count}")
        elif kind == "cells" and ragged:
            if rnd.random() < 0.5:
                rows[target] = rows[target] + ["surplus"] * rnd.randint(1, 3)
            else:
                rows[target] = rows[target][: rnd.randrange(len(rows[target]))]
            touched.add(target)
            recipe.append("cells")
        elif kind == "extreme" and {"date", "birth_date"} <= set(header):
            # A readable row at the edges of the calendar, so that it reaches the rules.
            day = rnd.choice(EXTREME_DATES)
            birth = rnd.choice(("0001-01-01", day, "1820-02-29", f"{int(day[:4]) - 80:04d}{day[4:]}"))
            _set(rows[target], header.index("date"), day)
            _set(rows[target], header.index("birth_date"), birth)
            if "referral_at" in header and rnd.random() < 0.5:
                _set(rows[target], header.index("referral_at"), rnd.choice(("0001-01-01", day)) + "T00:00")
            touched.add(target)
            recipe.append(f"extreme[{day}]")
        elif kind == "drop_column":
            column = rnd.randrange(len(header))
            if header[column] in _REQUIRED:
                local = False  # the whole file is unreadable now
            del header[column]
            rows = [row[:column] + row[column + 1 :] for row in rows]
            recipe.append(f"drop[{column}]")
        elif kind == "shuffle":
            order = list(range(len(header)))
            rnd.shuffle(order)
            header = [header[index] for index in order]
            rows = [[row[index] if index < len(row) else "" for index in order] for row in rows]
            recipe.append("shuffle_columns")
    return header, rows, touched if local else None, "+".join(recipe) or "none"


def mutate_bytes(rnd: random.Random, data: bytes, fmt: str) -> tuple[bytes, str]:
    """Byte-level damage: what a broken export, a bad transfer or an attacker produces."""
    kind = rnd.choice(
        (
            "flip",
            "nul",
            "quote",
            "bom",
            "truncate",
            "delete",
            "duplicate",
            "random",
            "reencode",
            "line_ends",
            "empty",
            "header_only",
            "deep",
            "bignum",
            "escape",
            "nobom",
            "dupkey",
            "open_cell",
        )
    )
    size = len(data)
    at = rnd.randrange(size + 1)
    if kind == "flip" and size:
        mutable = bytearray(data)
        for _ in range(rnd.randint(1, 8)):
            mutable[rnd.randrange(size)] = rnd.randrange(256)
        data = bytes(mutable)
    elif kind == "nul":
        data = data[:at] + b"\x00" * rnd.randint(1, 3) + data[at:]
    elif kind == "quote":
        data = data[:at] + b'"' + data[at:]
    elif kind == "bom":
        data = data[:at] + codecs.BOM_UTF8 + data[at:]
    elif kind == "truncate":
        data = data[:at]
    elif kind == "delete":
        data = data[:at] + data[at + rnd.randint(1, 200) :]
    elif kind == "duplicate":
        end = min(size, at + rnd.randint(1, 500))
        data = data[:end] + data[at:end] + data[end:]
    elif kind == "random":
        data = data[:at] + bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 64))) + data[at:]
    elif kind == "reencode":
        text = data.decode("utf-8", errors="replace")
        encoding = rnd.choice(("cp1252", "latin-1", "utf-16", "utf-16-le", "utf-32", "utf-8-sig", "cp850"))
        data = text.encode(encoding, errors="replace")
    elif kind == "line_ends":
        data = data.replace(b"\n", rnd.choice((b"\r\n", b"\r", b"\n\n", b"\r\r\n")))
    elif kind == "empty":
        data = rnd.choice((b"", b"\n", b"\r\n", codecs.BOM_UTF8, b"   \n\n", b"[]", b"{}"))
    elif kind == "header_only":
        data = data.split(b"\n", 1)[0] + rnd.choice((b"", b"\n"))
    elif kind == "deep":
        depth = rnd.choice((100, 5_000, 100_000))
        data = data[:at] + b"[" * depth + b"]" * rnd.choice((0, depth)) + data[at:]
    elif kind == "bignum":
        data = data[:at] + b"9" * rnd.choice((20, 5_000, 100_000)) + data[at:]
    elif kind == "nobom":  # issue 16: UTF-16/32 without a byte-order mark
        text = data.decode("utf-8", errors="replace")
        data = text.encode(rnd.choice(("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")), errors="replace")
    elif kind == "dupkey":  # issue 16: a key given twice in a JSON object
        start = data.find(b'{"', at)
        if start >= 0:
            key = rnd.choice((b"codes", b"patient_id", b"date", b"invoice_id", b"note"))
            data = data[: start + 1] + b'"' + key + b'": "X", ' + data[start + 1 :]
    elif kind == "open_cell":  # issue 16: a quote opened at the start of a cell, never closed
        start = data.find(b";", at)
        if start >= 0:
            data = data[: start + 1] + b'"' + data[start + 1 :]
    elif kind == "escape":
        escape = rnd.choice((b"\\ud800", b"\\u0000", b"\\udc00\\ud800", b"\\ufffd", b"\\"))
        data = data[:at] + escape + data[at:]
    return data, kind


def _untouched_keys(
    header: list[str], table: list[list[str]], touched: set[int]
) -> frozenset[tuple[str, str]]:
    """Keys of the untouched rows that are the first of their key (a later copy is the duplicate)."""
    columns = (header.index("practitioner_id"), header.index("invoice_id"))
    seen: set[tuple[str, ...]] = set()
    keys = set()
    for index, row in enumerate(table):
        key = tuple(row[column] if column < len(row) else "" for column in columns)
        if key not in seen and index not in touched and all(key):
            keys.add((key[0], key[1]))
        seen.add(key)
    return frozenset(keys)


def make_case(rnd: random.Random, header: list[str], rows: list[list[str]], *, damage: str = "any") -> Case:
    """A random case: a slice of the example in a random format, damaged by rows and/or bytes.

    ``damage`` is ``any``, or ``rows`` for row mutations only (then every untouched row must still
    be checked, and the case says which ones they are).
    """
    start = rnd.randrange(len(rows))
    table = rows[start : start + rnd.randint(0, 40)]
    fmt = rnd.choice(FORMATS)
    recipe = [fmt]
    untouched: frozenset[tuple[str, str]] | None = None
    if damage == "rows" or rnd.random() < 0.7:
        header, table, touched, what = mutate_rows(rnd, header, table, ragged=fmt == "csv")
        recipe.append(what)
        if touched is not None:
            untouched = _untouched_keys(header, table, touched)
    data = serialize(fmt, header, table, rnd)
    if damage == "any" and (untouched is None or rnd.random() < 0.5):
        for _ in range(rnd.randint(1, 3)):
            data, what = mutate_bytes(rnd, data, fmt)
            recipe.append(what)
        untouched = None
    return Case(data=data, fmt=fmt, rows=len(table), untouched=untouched, recipe=" ".join(recipe))


# --- running a case --------------------------------------------------------------------------------


def _utf8(text: str | None) -> bool:
    if text is None:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_report(report: Any, fmt: str, render: Callable[[Any, str], str]) -> str:
    """Why the report breaks the contract of issue 7, or ``""`` if it keeps it."""
    for error in report.input_errors:
        if not error.field or not error.message:
            return f"input error without field or message: {error!r}"
        if fmt == "json":
            if error.line is not None:
                return f"JSON array input error with a line: {error!r}"
        elif not isinstance(error.line, int) or error.line < 1:
            return f"input error without a line: {error!r}"
        if not (_utf8(error.message) and _utf8(error.invoice_id) and _utf8(error.field)):
            return f"input error not writable as UTF-8: field {error.field!r}"
    for finding in report.findings:
        if finding.rule == "INTERNAL-ERROR":
            return f"a rule crashed: {finding.message}"
    for name in ("json", "text"):
        try:
            render(report, name).encode("utf-8")
        except Exception as exc:  # noqa: BLE001 - any failure to render is the crash we look for
            return f"{name} report cannot be written: {type(exc).__name__}: {exc}"
    return ""


def checked_keys(case: Case) -> set[tuple[str, str]]:
    """The invoices of ``case`` that become events (read the way the validator reads them)."""
    from billing_rules.model import Event
    from billing_rules.readers import InputStream

    stream = InputStream(["-"], input_format=case.fmt, stdin=io.BytesIO(case.data))
    return {item.key for item in stream if isinstance(item, Event)}


def run_case(validator: Any, case: Case) -> Outcome:
    """Check ``case`` through the library as the CLI does (standard input, ``--input-format``)."""
    from billing_rules.errors import ReadError

    try:
        report = validator.check_paths(["-"], input_format=case.fmt, stdin=io.BytesIO(case.data))
    except ReadError as exc:
        message = str(exc)
        if "\n" in message or not message or not _utf8(message):
            return Outcome("crash", detail=f"ReadError message not one writable line: {message!r}")
        if case.untouched is not None:
            return Outcome("crash", detail=f"ReadError on a file mutated row by row: {message}")
        return Outcome("read_error", detail=message)
    except Exception as exc:  # noqa: BLE001 - the crash we look for
        return Outcome("crash", detail=f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    problem = check_report(report, case.fmt, validator.render)
    if not problem and case.untouched is not None:
        missing = case.untouched - checked_keys(case)
        if missing:
            problem = f"{len(missing)} untouched row(s) not checked"
    if problem:
        return Outcome("crash", detail=problem)
    return Outcome(
        "report", events=report.events, input_errors=len(report.input_errors), findings=len(report.findings)
    )


def run_cli(case: Case, report_format: str = "json") -> Outcome:
    """Check ``case`` with the ``check`` command; exit 2 must be one French line, no traceback.

    The caller makes ``billing_rules.cli._build_validator`` return a ready validator: building
    one per run would measure the rule compiler, not the readers.
    """
    from click.testing import CliRunner

    from billing_rules.cli import main

    result = CliRunner().invoke(
        main, ["check", "-", "--input-format", case.fmt, "--format", report_format], input=case.data
    )
    stderr = result.stderr
    if result.exit_code not in (0, 1, 2) or "Traceback" in stderr or "Traceback" in result.stdout:
        return Outcome("crash", detail=f"exit {result.exit_code}: {stderr[-2000:]}")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return Outcome("crash", detail=f"exception {result.exception!r}")
    if result.exit_code == 2:
        lines = stderr.strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("billing-rules : erreur : "):
            return Outcome("crash", detail=f"exit 2 with stderr {stderr[-2000:]!r}")
        return Outcome("read_error", detail=lines[0])
    if report_format != "json":
        return Outcome("report")
    try:
        data = json.loads(result.stdout)
    except ValueError as exc:
        return Outcome("crash", detail=f"stdout is not the JSON report: {exc}")
    if (result.exit_code == 1) != bool(data["input_errors"] or data["summary"]["errors"]):
        return Outcome("crash", detail=f"exit {result.exit_code} does not match the report")
    return Outcome(
        "report",
        events=data["summary"]["events"],
        input_errors=len(data["input_errors"]),
        findings=len(data["findings"]),
    )


def use_validator(validator: Any) -> None:
    """Make the CLI use ``validator`` instead of building one per run."""
    import billing_rules.cli as cli

    cli._build_validator = lambda *args, **kwargs: validator  # noqa: SLF001


# --- the campaign ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Fuzz for ``--seconds``; print the figures; exit 1 if anything crashed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=None, help="first seed (default: from the clock)")
    parser.add_argument("--cli-every", type=int, default=10, help="also run every Nth case through the CLI")
    parser.add_argument("--save", type=Path, default=None, help="folder where crashing inputs are written")
    parser.add_argument("--replay", type=int, default=None, help="run the one case of this seed, verbosely")
    args = parser.parse_args(argv)

    import logging

    from billing_rules.api.validator import Validator

    logging.disable(logging.CRITICAL)  # rule crashes show up as INTERNAL-ERROR findings
    validator = Validator.build(entry_points=False)
    use_validator(validator)
    header, rows = load_example()

    if args.replay is not None:
        case = make_case(random.Random(args.replay), header, rows)
        print(f"seed {args.replay}: {case.fmt}, {len(case.data)} bytes, {case.recipe}")
        print(run_case(validator, case))
        print(run_cli(case))
        return 0

    first_seed = args.seed if args.seed is not None else int(time.time())
    outcomes: Counter[str] = Counter()
    by_format: Counter[str] = Counter()
    crashes: dict[str, int] = {}
    rows_fuzzed = files = cli_runs = input_errors = events = 0
    largest = 0
    started = time.monotonic()
    seed = first_seed
    while time.monotonic() - started < args.seconds:
        case = make_case(random.Random(seed), header, rows)
        files += 1
        rows_fuzzed += case.rows
        largest = max(largest, len(case.data))
        by_format[case.fmt] += 1
        results = [run_case(validator, case)]
        if args.cli_every and files % args.cli_every == 0:
            cli_runs += 1
            results.append(run_cli(case, "json" if cli_runs % 2 else "text"))
        for result in results:
            outcomes[result.kind] += 1
            if result.kind == "crash":
                signature = result.detail.splitlines()[0][:120]
                if signature not in crashes:
                    crashes[signature] = seed
                    print(f"CRASH seed={seed} {case.fmt} {case.recipe}\n  {result.detail[:1500]}", flush=True)
                    if args.save is not None:
                        args.save.mkdir(parents=True, exist_ok=True)
                        (args.save / f"crash-{seed}.{case.fmt}").write_bytes(case.data)
        events += results[0].events
        input_errors += results[0].input_errors
        seed += 1
    elapsed = time.monotonic() - started
    print(f"seeds {first_seed}..{seed - 1} in {elapsed:.0f} s")
    print(
        f"files fuzzed: {files} ({', '.join(f'{k} {v}' for k, v in sorted(by_format.items()))}); "
        f"CLI runs: {cli_runs}; largest file: {largest / 1e6:.1f} MB"
    )
    print(f"rows fuzzed: {rows_fuzzed} (events checked {events}, input errors reported {input_errors})")
    print("outcomes: " + ", ".join(f"{kind} {count}" for kind, count in sorted(outcomes.items())))
    print(f"distinct crashes: {len(crashes)}")
    for signature, crash_seed in crashes.items():
        print(f"  seed {crash_seed}: {signature}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
