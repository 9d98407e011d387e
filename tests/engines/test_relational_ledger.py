"""``check --ledger`` on the relational engine: history loaded in bulk, the row engine's findings.

Days are checked and recorded one after another (the relational engine records, the row engine
checks the same ledger just before), so that windows cross days: VL of the quarter, SNP of the week,
IMT once per patient. Both input paths are covered (the columnar reader for SPEC CSV, the row
readers for JSON Lines), on SQLite and, when ``BILLING_RULES_TEST_POSTGRES`` is set, PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

from billing_rules.api.validator import Validator  # noqa: E402
from billing_rules.engines.relational import api, history  # noqa: E402
from billing_rules.errors import LedgerError  # noqa: E402
from billing_rules.ledger import open_ledger  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import generate  # noqa: E402


def key(finding: Any) -> tuple[Any, ...]:
    """Everything a report shows of a finding (its window and first invoice included)."""
    return tuple(getattr(finding, name) for name in _SHOWN)


_SHOWN = (
    "rule", "severity", "invoice_id", "line", "file", "practitioner_id", "patient_id", "date",
    "message", "amount", "suggestion", "source", "citation", "action", "window", "yearly",
)  # fmt: skip
_DATE = generate.COLUMNS.index("date")


def _rows(seed: int, count: int, start: dt.date) -> list[list[str]]:
    generator = generate.Generator(practitioners=2, seed=seed, start=start, violations=30)
    return list(generator.rows(count))


def _day(row: list[str]) -> dt.date:
    text = row[_DATE]
    if "/" in text:
        day, month, year = text.split("/")
        return dt.date(int(year), int(month), int(day))
    return dt.date.fromisoformat(text)


def _imt_again(first: list[list[str]], last: list[list[str]]) -> None:
    """A patient's IMT of the first file billed again in the last one (IMT-ONCE over the ledger)."""
    codes = generate.COLUMNS.index("codes")
    invoice = generate.COLUMNS.index("invoice_id")
    imt = next(row for row in first if "IMT" in row[codes].split("+"))
    again = list(imt)
    again[invoice] = "AGAIN-" + imt[invoice]
    again[_DATE] = last[len(last) // 2][_DATE]
    last.append(again)


def _batches(rows: list[list[str]], parts: int) -> list[list[list[str]]]:
    """Consecutive periods of the generated activity (each one a day's, or a week's, file)."""
    days = sorted({_day(row) for row in rows})
    cuts = [days[len(days) * index // parts] for index in range(1, parts)]
    batches: list[list[list[str]]] = [[] for _ in range(parts)]
    for row in rows:
        batches[sum(_day(row) >= cut for cut in cuts)].append(row)
    return batches


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_days_one_after_another_identical(
    tmp_path: Path, builtin_validator: Validator, ledger_target: str, fmt: str, monkeypatch: Any
) -> None:
    loaded: list[int] = []
    real = history.load_history

    def counting(con: Any, ledger: Any, counters: Any) -> int:
        added = real(con, ledger, counters)
        loaded.append(added)
        return added

    monkeypatch.setattr(history, "load_history", counting)
    rows = _rows(31, 3000, dt.date(2024, 12, 2))
    batches = _batches(rows, 6)
    _imt_again(batches[0], batches[-1])
    fired: set[str] = set()
    ledger = open_ledger(ledger_target)
    try:
        for index, batch in enumerate(batches):
            path = str(tmp_path / f"day-{index}.{fmt}")
            generate.write(path, iter(batch), fmt)
            row = builtin_validator.check_paths([path], ledger=ledger)
            relational = api.check_paths(builtin_validator, [path], ledger=ledger, record=True)
            assert relational.engine == "duckdb"
            assert [key(f) for f in relational.findings] == [key(f) for f in row.findings], index
            if index:
                fired |= {finding.rule for finding in relational.findings if finding.window is not None}
    finally:
        ledger.close()
    # The windows crossed the files: the history was loaded and counted.
    assert {"VL-QUARTER", "SNP-WEEK", "IMT-ONCE"} <= fired, fired
    assert loaded[0] == 0 and all(count > 0 for count in loaded[1:])


def test_history_of_many_practitioners_and_patients(tmp_path: Path, builtin_validator: Validator) -> None:
    """Above SQLite's inline limits (hundreds of practitioners and patients): the same findings."""
    generator = generate.Generator(practitioners=450, seed=5, start=dt.date(2025, 3, 3), violations=30)
    rows = list(generator.rows(9000))
    old, new = _batches(rows, 2)
    old_path, new_path = str(tmp_path / "old.csv"), str(tmp_path / "new.csv")
    generate.write(old_path, iter(old), "csv")
    generate.write(new_path, iter(new), "csv")
    ledger = open_ledger(str(tmp_path / "ledger.sqlite"))
    try:
        ledger.record(event for event in _events(builtin_validator, old_path))
        row = builtin_validator.check_paths([new_path], ledger=ledger)
        relational = api.check_paths(builtin_validator, [new_path], ledger=ledger)
    finally:
        ledger.close()
    practitioner = generate.COLUMNS.index("practitioner_id")
    assert len({item[practitioner] for item in new}) > 400
    assert row.findings
    assert [key(f) for f in relational.findings] == [key(f) for f in row.findings]


def _events(validator: Validator, path: str) -> list[Any]:
    from billing_rules.model import Event
    from billing_rules.readers import InputStream

    return [item for item in InputStream([path], readers=validator.readers) if isinstance(item, Event)]


def test_record_is_all_or_nothing(
    tmp_path: Path, builtin_validator: Validator, ledger_target: str, monkeypatch: Any
) -> None:
    """A recording that fails half-way leaves the ledger as it was; so does a check that fails."""
    rows = _rows(32, 1200, dt.date(2025, 1, 6))
    first, second = _batches(rows, 2)
    paths = []
    for index, batch in enumerate((first, second)):
        paths.append(str(tmp_path / f"part-{index}.csv"))
        generate.write(paths[-1], iter(batch), "csv")
    ledger = open_ledger(ledger_target)
    try:
        api.check_paths(builtin_validator, [paths[0]], ledger=ledger, record=True)
        before = ledger.stats().invoices
        assert before == len(first)
        module = sys.modules[type(ledger).__module__]
        monkeypatch.setattr(module, "CHUNK", 50)
        real = module.unique_last
        calls = []

        def failing(chunk: Any) -> Any:
            calls.append(1)
            if len(calls) == 3:
                raise OSError("disque plein")
            return real(chunk)

        monkeypatch.setattr(module, "unique_last", failing)
        with pytest.raises(OSError):
            api.check_paths(builtin_validator, [paths[1]], ledger=ledger, record=True)
        assert ledger.stats().invoices == before
        monkeypatch.setattr(module, "unique_last", real)

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise LedgerError("registre illisible")

        monkeypatch.setattr(history, "load_history", broken)
        with pytest.raises(LedgerError):
            api.check_paths(builtin_validator, [paths[1]], ledger=ledger, record=True)
        assert ledger.stats().invoices == before
    finally:
        ledger.close()
