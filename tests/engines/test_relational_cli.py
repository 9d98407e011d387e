"""``check --engine``: which engine runs, that the report says so, and the declared limitations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

from billing_rules import cli  # noqa: E402
from billing_rules.api.validator import Validator  # noqa: E402
from billing_rules.engines import choice  # noqa: E402
from billing_rules.engines.relational import api  # noqa: E402
from billing_rules.engines.relational.plan import Unsupported  # noqa: E402
from billing_rules.testing import make_event  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "week-2026-01.csv"


def run(*args: str) -> object:
    return CliRunner().invoke(cli.main, ["check", "--no-plugins", *args], catch_exceptions=False)


def test_duckdb_engine_is_named_in_json_and_text() -> None:
    row = run(str(EXAMPLE), "--format", "json", "--engine", "row")
    relational = run(str(EXAMPLE), "--format", "json", "--engine", "duckdb")
    assert json.loads(row.output)["summary"]["engine"] == "row"
    data = json.loads(relational.output)
    assert data["summary"]["engine"] == "duckdb"
    assert relational.exit_code == row.exit_code
    expected = json.loads(row.output)
    expected["summary"]["engine"] = "duckdb"
    assert data == expected
    text = run(str(EXAMPLE), "--engine", "duckdb")
    assert "Moteur : duckdb" in text.output
    assert "Moteur" not in run(str(EXAMPLE), "--engine", "row").output


def test_auto_keeps_the_row_engine_for_a_small_file() -> None:
    assert choice.choose("auto", [str(EXAMPLE)]) == "row"
    assert json.loads(run(str(EXAMPLE), "--format", "json").output)["summary"]["engine"] == "row"


def test_auto_picks_duckdb_from_75_000_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    assert choice.AUTO_ROWS == 75_000
    monkeypatch.setattr(choice, "estimated_rows", lambda paths, input_format=None: 74_999)
    assert choice.choose("auto", [str(EXAMPLE)]) == "row"
    monkeypatch.setattr(choice, "estimated_rows", lambda paths, input_format=None: 75_000)
    assert choice.choose("auto", [str(EXAMPLE)]) == "duckdb"
    monkeypatch.setattr(choice, "relational_installed", lambda: False)
    assert choice.choose("auto", [str(EXAMPLE)]) == "row"  # without the batch extra
    assert choice.choose("row", [str(EXAMPLE)]) == "row"


def test_auto_picks_duckdb_from_its_threshold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(choice, "AUTO_ROWS", 1)
    assert choice.choose("auto", [str(EXAMPLE)]) == "duckdb"
    assert json.loads(run(str(EXAMPLE), "--format", "json").output)["summary"]["engine"] == "duckdb"
    assert choice.choose("auto", ["-"]) == "row"  # standard input cannot be sized


def test_rows_estimated_by_format(tmp_path: Path) -> None:
    """CSV and JSON sized by their bytes per row; Parquet, compressed, counted in its footer."""
    import polars as pl

    parquet = tmp_path / "big.parquet"
    pl.DataFrame({"invoice_id": [f"F{n}" for n in range(80_000)], "codes": ["G"] * 80_000}).write_parquet(
        parquet
    )
    assert parquet.stat().st_size // choice.BYTES_PER_ROW["csv"] < choice.AUTO_ROWS  # its bytes say small
    assert choice.estimated_rows([str(parquet)]) == 80_000
    assert choice.choose("auto", [str(parquet)]) == "duckdb"
    copy = tmp_path / "big.data"
    copy.write_bytes(parquet.read_bytes())
    assert choice.estimated_rows([str(copy)], "parquet") == 80_000  # --input-format parquet
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    assert choice.estimated_rows([str(broken)]) == 0  # its reader says what is wrong
    lines = tmp_path / "day.jsonl"
    lines.write_bytes(b"x" * 4200)
    assert choice.estimated_rows([str(lines)]) == 10
    assert choice.estimated_rows([str(lines)], "csv") == 4200 // 130
    text = tmp_path / "day.txt"  # no reader claims it: sized as CSV
    text.write_bytes(b"x" * 1300)
    assert choice.estimated_rows([str(text), str(lines), "-"]) == 20


def test_small_check_imports_nothing_columnar() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from billing_rules import cli\n"
        f"CliRunner().invoke(cli.main, ['check', '--no-plugins', {str(EXAMPLE)!r}])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('duckdb', 'sqlglot')))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


COUNTING_WITH_PYTHON = """
rule TEST-COUNT-PY error "trop de G avec une colonne supplémentaire"
  on G
  at most 1 per patient ever counting extra(flag) is "x"
end
"""


def test_a_construct_it_cannot_compile_is_a_declared_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "count.rules"
    rules.write_text(COUNTING_WITH_PYTHON, encoding="utf-8")
    validator = Validator.build(entry_points=False, rule_files=[rules])
    with pytest.raises(Unsupported, match="TEST-COUNT-PY.*counting"):
        api.check_events(validator, [make_event()])
    result = run(str(EXAMPLE), "--rules", str(rules), "--engine", "duckdb")
    assert result.exit_code == 2
    assert "TEST-COUNT-PY" in result.output
    # auto keeps the row engine for such a rule set, and the report says which engine ran.
    monkeypatch.setattr(choice, "AUTO_ROWS", 1)
    auto = run(str(EXAMPLE), "--rules", str(rules), "--format", "json")
    assert json.loads(auto.output)["summary"]["engine"] == "row"


def test_a_python_function_in_a_condition_runs_row_by_row(tmp_path: Path) -> None:
    rules = tmp_path / "extra.rules"
    rules.write_text(
        'rule TEST-EXTRA warning "colonne flag à x"\n  on G\n  when extra(flag) is "x"\nend\n',
        encoding="utf-8",
    )
    validator = Validator.build(entry_points=False, rule_files=[rules])
    events = [make_event(seq=i, invoice_id=f"F{i}", flag=flag) for i, flag in enumerate(["x", "y", ""])]
    expected = validator.check_events(events)
    found = api.check_events(validator, events)
    assert [(f.rule, f.invoice_id, f.message) for f in found.findings] == [
        (f.rule, f.invoice_id, f.message) for f in expected.findings
    ]
    assert "TEST-EXTRA" in found.row_rules
    assert any(f.rule == "TEST-EXTRA" for f in found.findings)


def test_spark_sql_is_generated_from_the_same_trees(builtin_validator: Validator) -> None:
    """One intermediate form: the statements generate in Spark SQL too (run by tests/engines on Spark)."""
    from billing_rules.engines.relational import sql, windows

    checker = api.checker_for(builtin_validator)
    statements = [sql.base_table(), sql.input_subjects(), sql.with_expected(sql.suggested_subjects())]
    statements += [windows.counter_query(counter, suggested=True) for counter in checker.plan.counters]
    for tree in statements:
        text = tree.sql(dialect="spark")
        assert "EXCLUDE" not in text and "QUALIFY" not in text


def test_ledger_and_record_with_duckdb(tmp_path: Path) -> None:
    """``check --ledger --record --engine duckdb``: same report as the row engine, invoices recorded."""
    ledger = tmp_path / "ledger.sqlite"
    first = run(str(EXAMPLE), "--ledger", str(ledger), "--record", "--engine", "duckdb", "--format", "json")
    assert json.loads(first.stdout)["summary"]["engine"] == "duckdb"
    again_row = run(str(EXAMPLE), "--ledger", str(ledger), "--engine", "row", "--format", "json")
    again = run(str(EXAMPLE), "--ledger", str(ledger), "--engine", "duckdb", "--format", "json")
    row_data, duck_data = json.loads(again_row.stdout), json.loads(again.stdout)
    duck_data["summary"]["engine"] = "row"
    assert duck_data == row_data
    assert row_data["summary"]["events"] > 0


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_ledger_and_record_of_parquet_and_json_lines(tmp_path: Path, suffix: str) -> None:
    """The example week as Parquet or JSON Lines, read column-wise: the row engine's report, the
    invoices recorded, then the same report again on both engines with that history."""
    import polars as pl

    frame = pl.read_csv(EXAMPLE, separator=";", infer_schema=False)
    path = tmp_path / f"week{suffix}"
    if suffix == ".parquet":
        frame.write_parquet(path)
    else:
        frame.write_ndjson(path)
    ledger = tmp_path / "ledger.sqlite"
    first = run(str(path), "--ledger", str(ledger), "--record", "--engine", "duckdb", "--format", "json")
    first_row = run(str(path), "--engine", "row", "--format", "json")
    first_data, first_row_data = json.loads(first.stdout), json.loads(first_row.stdout)
    assert first_data["summary"]["engine"] == "duckdb"
    first_data["summary"]["engine"] = "row"
    assert first_data == first_row_data
    assert first_data["summary"]["events"] == frame.height and first_data["findings"]
    assert f"{frame.height} factures enregistrées" in first.stderr
    again_row = run(str(path), "--ledger", str(ledger), "--engine", "row", "--format", "json")
    again = run(str(path), "--ledger", str(ledger), "--engine", "duckdb", "--format", "json")
    row_data, duck_data = json.loads(again_row.stdout), json.loads(again.stdout)
    duck_data["summary"]["engine"] = "row"
    assert duck_data == row_data
