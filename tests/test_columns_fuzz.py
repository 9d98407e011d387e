"""``[columns]`` and ``[values]`` (SPEC §1b) under random names and under damaged mappings.

Two properties, driven by hypothesis with a modest budget:

* **renamed, same findings**: the example week with any of its columns renamed and any of its
  closed-vocabulary values relabelled, read with the ``billing-rules.toml`` that says so (written
  as a practice would, parsed as the CLI parses it), gives exactly the week's findings, line for
  line. Names and labels are arbitrary text: accents, spaces, quotes, ``;``, ``=``, ``#``, TOML's
  own escapes;
* **damaged, refused in French**: a random mapping (unknown fields, empty or shared headers,
  targets outside a field's vocabulary, headers absent from the file) is refused with a
  :class:`ColumnError` or :class:`ConfigError` that names what is wrong, or the file is read: never
  another exception, and through the CLI exit 0, 1 or 2 with one French line.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import tomllib
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from billing_rules.api.validator import Validator
from billing_rules.cli import main
from billing_rules.config import ConfigError, parse_config
from billing_rules.errors import ReadError
from billing_rules.model import Report
from billing_rules.readers.columns import ALIASES, MAPPABLE, ColumnError, normalize

WEEK = Path(__file__).resolve().parent.parent / "examples" / "week-2026-01.csv"
#: The week's fields whose values come from a closed vocabulary: the ones ``[values]`` relabels.
CLOSED = (
    "sector", "ald", "palliative", "neurodegenerative", "mt_status", "declares_mt", "place",
    "homebound", "regulated", "status",
)  # fmt: skip

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

#: Any text a practice's software might write in a header or a cell, on one physical line.
any_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=10)


def _week() -> tuple[list[str], list[list[str]]]:
    with WEEK.open(encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle, delimiter=";"))
    return header, rows


HEADER, ROWS = _week()


def _file(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\n").writerows([header, *rows])
    return out.getvalue().encode("utf-8")


def _toml(columns: dict[str, str], values: dict[str, dict[str, str]]) -> str:
    """A ``billing-rules.toml`` as a practice writes it: basic strings (JSON's escapes are TOML's)."""
    lines = ["[columns]"] + [f"{_s(field)} = {_s(header)}" for field, header in columns.items()]
    for field, table in values.items():
        lines.append(f"[values.{_s(field)}]")
        lines += [f"{_s(label)} = {_s(target)}" for label, target in table.items()]
    return "\n".join(lines) + "\n"


def _s(text: str) -> str:
    """A TOML basic string: JSON's escapes, characters beyond ASCII as they are (no surrogates)."""
    return json.dumps(text, ensure_ascii=False)


def _findings(report: Report) -> list[tuple[Any, ...]]:
    return [(f.rule, f.invoice_id, f.line, f.amount, f.message) for f in report.findings]


@pytest.fixture(scope="module")
def expected() -> list[tuple[Any, ...]]:
    report = Validator.build(entry_points=False).check_paths([str(WEEK)])
    assert not report.input_errors and len(report.findings) > 40
    return _findings(report)


@st.composite
def relabelled_weeks(draw: st.DrawFn) -> tuple[list[str], list[list[str]], dict[str, str], dict[str, Any]]:
    """The week with some columns renamed and some closed values relabelled, and the mapping."""
    header, rows = list(HEADER), [list(row) for row in ROWS]
    renamed = draw(st.lists(st.sampled_from(HEADER), unique=True, max_size=8))
    columns: dict[str, str] = {}
    for number, field in enumerate(renamed):
        # A prefix no alias has keeps the new names apart from every built-in one; the rest is free.
        name = f"h{number}" + draw(any_text)
        assume(normalize(name) not in ALIASES)
        header[HEADER.index(field)] = name
        columns[field] = name
    values: dict[str, dict[str, str]] = {}
    for field in draw(st.lists(st.sampled_from(CLOSED), unique=True, max_size=5)):
        index = HEADER.index(field)
        present = sorted({row[index] for row in rows if row[index]})
        labels = {value: f"v{number}" + draw(any_text) for number, value in enumerate(present)}
        values[field] = {label: value for value, label in labels.items()}
        for row in rows:
            row[index] = labels.get(row[index], row[index])
    return header, rows, columns, values


@FUZZ
@given(week=relabelled_weeks())
def test_renamed_columns_and_relabelled_values_give_the_weeks_findings(
    tmp_path: Path, expected: list[tuple[Any, ...]], week: Any
) -> None:
    header, rows, columns, values = week
    config = parse_config(tomllib.loads(_toml(columns, values)), tmp_path / "billing-rules.toml")
    path = tmp_path / "export.csv"
    path.write_bytes(_file(header, rows))
    report = Validator.build(entry_points=False, config=config).check_paths([str(path)])
    assert [(error.line, error.field, error.message) for error in report.input_errors] == []
    assert _findings(report) == expected


#: Field names as a practice writes them: mostly real ones, now and then a misspelt one.
field_names = st.sampled_from((*MAPPABLE, "patient", "Date", "code_acte", ""))
#: What a value is mapped to: mostly a SPEC value of some field, now and then anything.
targets = st.one_of(
    st.sampled_from(["oui", "non", "self", "other", "none", "cabinet", "domicile", "1", "2", "billed"]),
    st.sampled_from(["true", "cancelled", "tele", "unknown"]),
    any_text,
)


@st.composite
def damaged_mappings(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """A ``[columns]`` / ``[values]`` pair with anything in it: real headers, others, empty ones."""
    headers = st.one_of(st.sampled_from(HEADER), any_text, st.sampled_from(["", "  ", "N° facture"]))
    columns = draw(st.dictionaries(field_names, headers, max_size=3))
    values = draw(st.dictionaries(field_names, st.dictionaries(any_text, targets, max_size=2), max_size=2))
    return columns, values


@FUZZ
@given(mapping=damaged_mappings())
def test_a_damaged_mapping_is_refused_in_french_or_reads_the_file(tmp_path: Path, mapping: Any) -> None:
    columns, values = mapping
    try:
        config = parse_config(tomllib.loads(_toml(columns, values)), tmp_path / "billing-rules.toml")
    except (ConfigError, ColumnError) as refused:
        event("refused in the configuration")
        text = str(refused)
        assert "\n" not in text and "Traceback" not in text
        assert any(
            word in text for word in ("champ", "colonne", "valeur", "correspondance", "columns", "values")
        )
        return
    try:
        report = Validator.build(entry_points=False, config=config).check_paths([str(WEEK)])
    except ReadError as refused:  # a header given to two fields, say: named, in French
        event("refused at the header")
        assert "\n" not in str(refused) and "colonne" in str(refused)
        return
    event("read" if not report.input_errors else "read, with input errors")
    # Read: every input error is located, and nothing is lost: each line is checked or in error.
    assert all(error.line >= 2 and error.field and error.message for error in report.input_errors)
    assert report.events + len({error.line for error in report.input_errors}) == len(ROWS)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mapping=damaged_mappings())
@example(mapping=({"date": "time"}, {}))  # every line's date unreadable: exit 1, 221 input errors
def test_the_cli_exits_0_1_or_2_with_one_french_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mapping: Any
) -> None:
    columns, values = mapping
    (tmp_path / "billing-rules.toml").write_text(_toml(columns, values), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", str(WEEK), "--format", "json", "-q"])
    assert result.exit_code in (0, 1, 2), result.output
    event(f"exit {result.exit_code}")
    if result.exit_code == 2:
        message = result.stderr.strip()
        assert message and "Traceback" not in message
        assert "billing-rules" in message or "colonne" in message or "champ" in message
    else:  # nothing lost: each line is checked or carries its located input errors
        report = json.loads(result.stdout)
        lines = {error["line"] for error in report["input_errors"]}
        assert report["summary"]["events"] + len(lines) == len(ROWS)
