"""Duplicate detection keeps working, exactly, once the seen keys spill to disk."""

from __future__ import annotations

from pathlib import Path

from billing_rules.api.validator import Validator
from billing_rules.readers.seen import SeenInvoices


def test_spilled_keys_are_found_exactly() -> None:
    seen = SeenInvoices(memory_keys=10)
    for number in range(100):
        key = ("10001", f"F{number}")
        assert seen.get(key) is None
        seen.add(key, (number + 2, "a.csv" if number < 50 else "b.csv"))
    assert seen.get(("10001", "F0")) == (2, "a.csv")
    assert seen.get(("10001", "F99")) == (101, "b.csv")
    assert seen.get(("10002", "F0")) is None  # another practitioner's invoice
    assert seen.get(("10001", "F100")) is None
    seen.add(("10001", "\udcff"), (1, "c.csv"))  # a lone surrogate is stored as it is
    assert seen.get(("10001", "\udcff")) == (1, "c.csv")
    seen.close()


def test_duplicates_found_across_files_after_a_spill(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(SeenInvoices.__init__, "__defaults__", (5,))  # spill after 5 keys
    header = "invoice_id;date;practitioner_id;patient_id;birth_date;codes\n"
    first = tmp_path / "a.csv"
    rows = "".join(f"F{n};2026-01-05;1;P{n};1970-01-01;G\n" for n in range(30))
    first.write_text(header + rows, encoding="utf-8")
    second = tmp_path / "b.csv"
    rows = "F3;2026-01-06;1;P3;1970-01-01;G\nF31;2026-01-06;1;P9;1970-01-01;G\n"
    second.write_text(header + rows, encoding="utf-8")
    report = Validator.build(entry_points=False).check_paths([str(first), str(second)])
    assert report.events == 31
    (error,) = report.input_errors
    assert (error.file, error.line, error.field) == (str(second), 2, "invoice_id")
    assert "ligne 5" in error.message
