"""An unclosed quote no longer swallows every later row: reading resumes at the next line that
parses as a row of the header's width, and the skipped lines are input errors (issue 16 point 12)."""

from __future__ import annotations

from pathlib import Path

from billing_rules.model import Event, InputError
from billing_rules.readers import InputStream

HEADER = "invoice_id;date;practitioner_id;patient_id;birth_date;codes"


def _row(number: int) -> str:
    return f"F{number};2024-02-05;1;P{number};1950-01-01;G"


def _read(tmp_path: Path, lines: list[str]) -> tuple[list[Event], list[InputError]]:
    path = tmp_path / "jour.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    items = list(InputStream([str(path)]))
    return [i for i in items if isinstance(i, Event)], [i for i in items if isinstance(i, InputError)]


def test_unclosed_quote_mid_file_resynchronises_at_the_next_row(tmp_path: Path) -> None:
    lines = [_row(n) for n in range(1, 9)]
    lines[3] = lines[3].replace(";P4;", ';"P4;')  # line 5 opens a quote never closed
    events, errors = _read(tmp_path, lines)
    assert [event.invoice_id for event in events] == ["F1", "F2", "F3", "F5", "F6", "F7", "F8"]
    (error,) = errors
    assert (error.line, error.field) == (5, "_row")
    assert "guillemet" in error.message and "ligne 6" in error.message
    assert "P4" not in error.message


def test_lines_that_do_not_parse_are_skipped_and_named(tmp_path: Path) -> None:
    lines = [_row(n) for n in range(1, 9)]
    lines[1] = lines[1].replace(";P2;", ';"P2;')  # line 3: unclosed quote
    lines[2] = "suite de la note;sans assez de champs"  # line 4: not a row of the header's width
    lines[3] = 'et "encore;une'  # line 5: not one either
    events, errors = _read(tmp_path, lines)
    assert [event.invoice_id for event in events] == ["F1", "F5", "F6", "F7", "F8"]
    assert [(error.line, error.field) for error in errors] == [(3, "_row"), (4, "_row"), (5, "_row")]
    assert "lignes 4 à 5 ignorées" in errors[0].message
    assert all("ligne 3" in error.message for error in errors[1:])


def test_unclosed_quote_at_the_end(tmp_path: Path) -> None:
    lines = [_row(1), _row(2), 'F3;"2024-02-05;1;P3;1950-01-01;G']
    events, errors = _read(tmp_path, lines)
    assert [event.invoice_id for event in events] == ["F1", "F2"]
    assert [(error.line, error.field) for error in errors] == [(4, "_row")]


def test_a_real_multiline_value_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "jour.csv"
    path.write_text(HEADER + ";note\n" + _row(1) + ';"deux\nlignes"\n' + _row(2) + ";\n", encoding="utf-8")
    items = list(InputStream([str(path)]))
    assert [item.invoice_id for item in items if isinstance(item, Event)] == ["F1", "F2"]
    assert items[0].extra["note"] == "deux\nlignes"
    assert items[1].line == 4


def test_reports_name_no_pseudo_column_for_a_whole_line(tmp_path: Path) -> None:
    """A whole unreadable line has no column: the reports say what is wrong, not « colonne _row »."""
    from click.testing import CliRunner

    from billing_rules import cli

    path = tmp_path / "jour.csv"
    path.write_text("\n".join([HEADER, _row(1), _row(2) + ";en trop", _row(3)]) + "\n", encoding="utf-8")
    for report_format in ("text", "csv"):
        result = CliRunner().invoke(cli.main, ["check", str(path), "--format", report_format, "--no-plugins"])
        assert result.exit_code == 1, result.output
        assert "_row" not in result.stdout
        assert "champs au lieu des" in result.stdout
    bad_field = tmp_path / "date.csv"
    bad_field.write_text(
        "\n".join([HEADER, _row(1).replace("2024-02-05", "2024-02-30")]) + "\n", encoding="utf-8"
    )
    text = CliRunner().invoke(cli.main, ["check", str(bad_field), "--no-plugins"]).stdout
    assert "colonne date : " in text
