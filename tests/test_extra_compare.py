"""``extra("x") > 5`` compares as numbers when the column's text reads as a number (French decimal
comma too); text that does not read is a located rule error, never silently false (issue 16
point 13)."""

from __future__ import annotations

from test_dsl_compiler import invoices, validator

RULES = (
    'rule X error "plus de 5"\n  on G\n  when extra("x") > 5\nend\n'
    'rule Y error "avant mars"\n  on G\n  when extra("jour") < 2024-03-01\nend\n'
    'rule Z error "égal à 12"\n  on G\n  when extra("x") = 12\nend\n'
)


def _findings(rows: list[dict[str, str]]) -> list[tuple[str, str]]:
    report = validator(RULES).check_events(invoices(*rows))
    return [(finding.invoice_id, finding.rule) for finding in report.findings]


def test_numbers_written_as_text_compare_as_numbers() -> None:
    rows = [{"x": "12"}, {"x": "4"}, {"x": " 5,5 "}, {"x": "5.0"}, {"x": "-7"}, {"x": "12,0"}]
    assert _findings(rows) == [
        ("F-1", "X"),
        ("F-1", "Z"),
        ("F-3", "X"),
        ("F-6", "X"),
        ("F-6", "Z"),
    ]


def test_dates_written_as_text_compare_as_dates() -> None:
    rows = [{"jour": "2024-02-01"}, {"jour": "15/02/2024"}, {"jour": "2024-04-01"}]
    assert _findings(rows) == [("F-1", "Y"), ("F-2", "Y")]


def test_text_that_does_not_read_is_a_located_rule_error() -> None:
    report = validator(RULES).check_events(invoices({"x": "douze"}, {"x": ""}, {"jour": "bientôt"}))
    crashes = [finding for finding in report.findings if finding.rule == "INTERNAL-ERROR"]
    assert [finding.invoice_id for finding in crashes] == ["F-1", "F-3"]
    first, third = (finding.message for finding in crashes)
    assert "t.rules:3:" in first and 'extra("x")' in first and "nombre" in first
    assert "douze" not in first  # the value may be patient data: never quoted
    assert "t.rules:7:" in third and "date" in third
    assert not [f for f in report.findings if f.invoice_id == "F-2"]  # empty: missing, not an error
