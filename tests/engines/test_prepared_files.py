"""Prepared files (``billing-rules prepare``): checked on any engine, they give the files' own report.

The report of a prepared file must be, byte for byte, the report of the files it was prepared
from, on the same engine: findings with their original lines and files, input errors word for
word, ``summary.events``, the files named. The corpora take both ways a file is prepared (the
columnar reader; the row readers, for a software export of one line per act) and damaged files
(bad values, duplicates within and across files). A file edited after its preparation, or from
another format, is refused whole, in French, by every reader.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from executors import ALL, load_module, run_args

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")
pytest.importorskip("polars")

import duckdb  # noqa: E402
import polars as pl  # noqa: E402

import billing_rules.readers.columnar as columnar  # noqa: E402
from billing_rules import cli  # noqa: E402
from billing_rules.api.prepare import prepare_files  # noqa: E402
from billing_rules.api.validator import Validator  # noqa: E402
from billing_rules.engines.relational import api  # noqa: E402
from billing_rules.engines.relational.table import SCHEMA  # noqa: E402
from billing_rules.errors import ReadError  # noqa: E402
from billing_rules.model import Report  # noqa: E402
from billing_rules.readers import prepared  # noqa: E402
from billing_rules.reporters import get_reporter  # noqa: E402

TESTS = Path(__file__).resolve().parents[1]
EXAMPLES = TESTS.parent / "examples"
sys.path.insert(0, str(TESTS.parent / "benchmarks"))

import generate  # noqa: E402

_reader_tests = load_module("_prepared_reader_cases", TESTS / "test_columnar_reader.py")


def _json(report: Report) -> str:
    stream = io.StringIO()
    get_reporter("json").render(report, stream, color=False)
    return stream.getvalue()


def _damaged(tmp_path: Path) -> list[str]:
    return [str(_reader_tests._write(tmp_path / "damaged.csv", _reader_tests._damaged_lines(31, 0.05)))]


def _two_files(tmp_path: Path) -> list[str]:
    """A damaged CSV file, then a Parquet file of the same invoices: duplicates across the two."""
    first = _reader_tests._write(tmp_path / "a.csv", _reader_tests._damaged_lines(9, 0.05, rows=600))
    return [str(first), str(_reader_tests._parquet(tmp_path / "b.parquet"))]


def _generated(tmp_path: Path) -> list[str]:
    path = tmp_path / "generated.csv"
    generate.generate(
        str(path), rows=1500, practitioners=2, seed=34, start=dt.date(2025, 12, 22), violations=40
    )
    return [str(path)]


def _software_export(tmp_path: Path) -> list[str]:
    """One line per act under French headers: read by the row readers, staged row by row."""
    return [str(EXAMPLES / "export-logiciel.csv"), str(EXAMPLES / "history-2023-2025.csv")]


def _json_array(tmp_path: Path) -> list[str]:
    """A JSON array: its rows have no line (``line`` is null)."""
    rows = _reader_tests._damaged_lines(12, 0.0, rows=200)
    header = rows[0].rstrip("\n").split(";") if ";" in rows[0] else rows[0].rstrip("\n").split(",")
    separator = ";" if ";" in rows[0] else ","
    objects = [dict(zip(header, line.rstrip("\n").split(separator), strict=False)) for line in rows[1:]]
    path = tmp_path / "day.json"
    path.write_text(json.dumps(objects), encoding="utf-8")
    return [str(path)]


CORPORA = {
    "damaged": _damaged,
    "two-files": _two_files,
    "generated": _generated,
    "software-export": _software_export,
    "json-array": _json_array,
}


@pytest.mark.parametrize("corpus", sorted(CORPORA))
def test_prepared_report_is_the_files_report(
    tmp_path: Path, builtin_validator: Validator, corpus: str
) -> None:
    paths = CORPORA[corpus](tmp_path)
    out = str(tmp_path / "prepared.parquet")
    info = prepare_files(builtin_validator, paths, out)
    row = builtin_validator.check_paths(paths)
    assert (info.events, info.input_errors, info.files) == (row.events, row.input_errors, row.files)
    assert _json(builtin_validator.check_paths([out])) == _json(row)
    assert _json(api.check_paths(builtin_validator, [out])) == _json(
        api.check_paths(builtin_validator, paths)
    )
    if corpus in ("damaged", "two-files"):
        assert row.input_errors and row.findings  # the corpus exercises both
    if corpus == "two-files":
        assert any(error.file == paths[1] and "a.csv" in error.message for error in row.input_errors)
        assert row.files == tuple(paths) and {finding.file for finding in row.findings} == {paths[0]}
    if corpus == "json-array":
        assert row.findings and all(finding.line is None for finding in row.findings)


def test_prepared_again_gives_the_same_reports(tmp_path: Path, builtin_validator: Validator) -> None:
    """A prepared file prepared again (through the row readers' path): the same footer and reports."""
    paths = _two_files(tmp_path)
    first, second = str(tmp_path / "one.parquet"), str(tmp_path / "two.parquet")
    info = prepare_files(builtin_validator, paths, first)
    assert prepare_files(builtin_validator, [first], second) == info
    assert _json(builtin_validator.check_paths([second])) == _json(builtin_validator.check_paths(paths))
    assert _json(api.check_paths(builtin_validator, [second])) == _json(
        api.check_paths(builtin_validator, paths)
    )


def test_the_relational_check_does_not_read_the_files_again(
    tmp_path: Path, builtin_validator: Validator, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _damaged(tmp_path)
    out = str(tmp_path / "prepared.parquet")
    prepare_files(builtin_validator, paths, out)
    expected = _json(api.check_paths(builtin_validator, paths))

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the prepared file was read again")

    monkeypatch.setattr(columnar, "read_invoices", refused)
    monkeypatch.setattr(api, "TableWriter", refused)
    assert _json(api.check_paths(builtin_validator, [out])) == expected


@pytest.mark.parametrize("engine", ALL, indirect=True)
def test_each_engine_gives_the_files_report(
    tmp_path: Path,
    builtin_validator: Validator,
    engine: str,
    week_excerpt: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On Spark the prepared file is read where it lies (no copy staged through DuckDB): on a local
    master's disk, or for a Connect server in the folder shared for staging."""
    out = str(tmp_path / "excerpt.parquet")
    prepare_files(builtin_validator, [str(week_excerpt)], out)
    files = api.check_paths(builtin_validator, [str(week_excerpt)], **run_args(engine))
    if engine != "duckdb":
        from billing_rules.engines.relational.duckdb import DuckDbBackend

        def staged(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("the prepared file was staged again")

        monkeypatch.setattr(DuckDbBackend, "load_invoices", staged)
        monkeypatch.setenv("BILLING_RULES_SPARK_STAGING", str(tmp_path))
    again = api.check_paths(builtin_validator, [out], **run_args(engine))
    assert again.findings and _json(again) == _json(files)


def test_spark_reads_in_place_only_what_it_sees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from billing_rules.engines.relational.spark import read_in_place

    inside, outside = tmp_path / "shared" / "year.parquet", tmp_path / "year.parquet"
    monkeypatch.delenv("BILLING_RULES_SPARK_STAGING", raising=False)
    assert read_in_place(str(outside), "local[2]") and read_in_place(str(outside), "local[*]")
    assert not read_in_place(str(outside), "spark://head:7077")
    assert not read_in_place(str(outside), "sc://head:15002")
    monkeypatch.setenv("BILLING_RULES_SPARK_STAGING", str(tmp_path / "shared"))
    assert read_in_place(str(inside), "spark://head:7077") and read_in_place(str(inside), "sc://head:15002")
    assert not read_in_place(str(outside), "sc://head:15002")
    assert not read_in_place(str(tmp_path / "shared-not" / "year.parquet"), "sc://head:15002")


def test_the_footer_and_the_columns(tmp_path: Path, builtin_validator: Validator) -> None:
    """The columns are the engines' table; the footer says the reading; ordinary files have none."""
    assert [name for name, _ in prepared.COLUMNS] == list(SCHEMA)
    paths = _damaged(tmp_path)
    out = str(tmp_path / "prepared.parquet")
    info = prepare_files(builtin_validator, paths, out)
    assert prepared.prepared_info(out) == info
    assert info.files == tuple(paths) and info.input_errors
    assert prepared.prepared_info(paths[0]) is None  # a CSV file
    assert prepared.prepared_info(str(_reader_tests._parquet(tmp_path / "spec.parquet"))) is None
    assert prepared.prepared_info(str(tmp_path / "missing.parquet")) is None
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600  # it names patients


def test_a_prepared_file_is_checked_alone(tmp_path: Path, builtin_validator: Validator) -> None:
    out = str(tmp_path / "prepared.parquet")
    prepare_files(builtin_validator, _generated(tmp_path), out)
    other = str(EXAMPLES / "week-2026-01.csv")
    for paths in ([out, other], [other, out]):
        with pytest.raises(ReadError, match="un fichier préparé se contrôle seul"):
            builtin_validator.check_paths(paths)
        with pytest.raises(ReadError, match="un fichier préparé se contrôle seul"):
            api.check_paths(builtin_validator, paths)


def test_a_prepared_file_on_standard_input_is_refused(tmp_path: Path) -> None:
    """Read as an ordinary Parquet file, its invoices would lose amounts and codes without a word:
    on standard input (or through a pipe) it is refused, on every engine; an ordinary Parquet file
    there is still checked as by its path."""
    out = str(tmp_path / "prepared.parquet")
    assert _run("prepare", "--no-plugins", str(EXAMPLES / "week-2026-01.csv"), "-o", out).exit_code == 0
    data = Path(out).read_bytes()
    for engine in ("row", "duckdb"):
        args = ("check", "--no-plugins", "-", "--input-format", "parquet", "--engine", engine)
        result = CliRunner().invoke(cli.main, [*args], input=data)
        assert result.exit_code == 2
        assert "fichier préparé par billing-rules prepare : donnez son chemin" in result.output
        assert "Factures" not in result.output  # nothing checked
    plain = tmp_path / "week.parquet"
    pl.read_csv(EXAMPLES / "week-2026-01.csv", separator=";", infer_schema=False).write_parquet(plain)
    by_path = _run("check", "--no-plugins", str(plain), "--format", "json")
    args = ("check", "--no-plugins", "-", "--input-format", "parquet", "--format", "json")
    piped = _run(*args, stdin=plain.read_bytes())
    assert piped.exit_code == by_path.exit_code == 1
    assert json.loads(piped.stdout)["summary"] == json.loads(by_path.stdout)["summary"]


def _rewrite(path: str, target: str, query: str, footer: str | None = None) -> None:
    """``target``: the prepared rows through ``query`` (over ``t``), with their footer (or ``footer``)."""
    con = duckdb.connect()
    value = footer if footer is not None else prepared.metadata_text(*_footer_parts(path))
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_parquet('{path}')")
    escaped = value.replace("'", "''")
    con.execute(
        f"COPY ({query}) TO '{target}' (FORMAT PARQUET, KV_METADATA {{'{prepared.KEY}': '{escaped}'}})"
    )
    con.close()


def _footer_parts(path: str) -> tuple[Any, ...]:
    info = prepared.prepared_info(path)
    assert info is not None
    return info.files, info.events, info.input_errors


#: An edit of a prepared file: the rows through a query, the footer replaced (or kept), and the
#: reason the refusal gives.
EDITS = {
    "sector": (
        "SELECT * REPLACE (CASE WHEN seq = 5 THEN 'x' ELSE sector END AS sector) FROM t ORDER BY seq",
        None,
        "des valeurs ont été modifiées",
    ),
    "null-date": (
        "SELECT * REPLACE (CASE WHEN seq = 5 THEN NULL ELSE date END AS date) FROM t ORDER BY seq",
        None,
        "des valeurs ont été modifiées",
    ),
    "row-removed": ("SELECT * FROM t WHERE seq <> 5 ORDER BY seq", None, "1499 factures au lieu des 1500"),
    "order": ("SELECT * FROM t ORDER BY seq DESC", None, "des valeurs ont été modifiées"),
    "file-index": (
        "SELECT * REPLACE (CAST(file + 7 AS INTEGER) AS file) FROM t ORDER BY seq",
        None,
        "des valeurs ont été modifiées",
    ),
    "column-removed": ("SELECT * EXCLUDE (extras) FROM t ORDER BY seq", None, "ses colonnes ne sont pas"),
    "other-format": ("SELECT * FROM t ORDER BY seq", '{"format": 2}', "préparé dans un autre format"),
    "broken-footer": ("SELECT * FROM t ORDER BY seq", "{not json", "son pied de fichier est illisible"),
    "incomplete-footer": (
        "SELECT * FROM t ORDER BY seq",
        '{"format": 1, "files": []}',
        "son pied de fichier est illisible",
    ),
    "error-of-another-type": (
        "SELECT * FROM t ORDER BY seq",
        '{"format": 1, "files": ["a.csv"], "events": 1500, "input_errors": [{"line": "8", "field": "date", '
        '"message": "m", "file": null, "invoice_id": null}]}',
        "son pied de fichier est illisible",
    ),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_prepared_file_is_refused(tmp_path: Path, builtin_validator: Validator, edit: str) -> None:
    out = str(tmp_path / "prepared.parquet")
    prepare_files(builtin_validator, _generated(tmp_path), out)
    edited = str(tmp_path / "edited.parquet")
    query, footer, reason = EDITS[edit]
    _rewrite(out, edited, query, footer)
    for check in (builtin_validator.check_paths, lambda paths: api.check_paths(builtin_validator, paths)):
        with pytest.raises(ReadError, match="« .*edited.parquet » : fichier préparé refusé") as refused:
            check([edited])
        assert reason in str(refused.value)
    result = CliRunner().invoke(cli.main, ["check", "--no-plugins", edited, "--engine", "duckdb"])
    assert result.exit_code == 2 and "relancez billing-rules prepare" in result.stderr


def _run(*args: str, stdin: bytes | None = None) -> Any:
    return CliRunner().invoke(cli.main, [*args], input=stdin, catch_exceptions=False)


def test_the_command(tmp_path: Path) -> None:
    """``prepare``: exit 1 and the unreadable rows listed; then ``check`` of it is ``check`` of the file."""
    (damaged,) = _damaged(tmp_path)
    out = str(tmp_path / "prepared.parquet")
    result = _run("prepare", "--no-plugins", damaged, "-o", out)
    assert result.exit_code == 1
    assert "préparées dans" in result.stdout and "Lignes illisibles, non contrôlées" in result.stdout
    for engine in ("row", "duckdb"):
        files = _run("check", "--no-plugins", damaged, "--format", "json", "--engine", engine)
        again = _run("check", "--no-plugins", out, "--format", "json", "--engine", engine)
        assert again.exit_code == files.exit_code == 1
        assert again.stdout == files.stdout
    clean = str(EXAMPLES / "week-2026-01.csv")
    result = _run("prepare", "--no-plugins", clean, "-o", out)
    assert result.exit_code == 0
    assert result.stdout == f"221 factures lisibles de 1 fichier, préparées dans « {out} ».\n"


def test_the_command_from_standard_input(tmp_path: Path) -> None:
    clean = EXAMPLES / "week-2026-01.csv"
    out = str(tmp_path / "prepared.parquet")
    assert _run("prepare", "--no-plugins", "-", "-o", out, stdin=clean.read_bytes()).exit_code == 0
    files = _run("check", "--no-plugins", "-", "--format", "json", stdin=clean.read_bytes())
    assert _run("check", "--no-plugins", out, "--format", "json").stdout == files.stdout


def test_the_command_refuses_without_writing(tmp_path: Path) -> None:
    clean = str(EXAMPLES / "week-2026-01.csv")
    same = CliRunner().invoke(cli.main, ["prepare", "--no-plugins", clean, "-o", clean])
    assert same.exit_code == 2 and "un des fichiers que la commande lit" in same.stderr
    folder = CliRunner().invoke(cli.main, ["prepare", "--no-plugins", clean, "-o", str(tmp_path)])
    assert folder.exit_code == 2 and "est un dossier" in folder.stderr
    named = CliRunner().invoke(cli.main, ["prepare", "--no-plugins", clean, "-o", str(tmp_path / "year.csv")])
    assert named.exit_code == 2 and "doit finir par .parquet" in named.stderr
    assert not (tmp_path / "year.csv").exists()
    nowhere = str(tmp_path / "nope.csv")
    missing = CliRunner().invoke(cli.main, ["prepare", "--no-plugins", nowhere, "-o", "x.parquet"])
    assert missing.exit_code == 2 and "fichier introuvable" in missing.stderr
    out = tmp_path / "prepared.parquet"
    unreadable = tmp_path / "empty.csv"
    unreadable.write_bytes(b"")
    result = CliRunner().invoke(cli.main, ["prepare", "--no-plugins", str(unreadable), "-o", str(out)])
    assert result.exit_code == 2 and not out.exists()
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_ledger_record_from_a_prepared_file(tmp_path: Path) -> None:
    """``check --ledger --record`` of a prepared file records what the files would record."""
    clean = str(EXAMPLES / "week-2026-01.csv")
    out = str(tmp_path / "prepared.parquet")
    assert _run("prepare", "--no-plugins", clean, "-o", out).exit_code == 0
    from_files, from_prepared = tmp_path / "files.sqlite", tmp_path / "prepared.sqlite"
    for engine in ("row", "duckdb"):
        first = _run(
            "check", "--no-plugins", clean, "--ledger", str(from_files), "--record", "--engine", engine
        )
        second = _run(
            "check", "--no-plugins", out, "--ledger", str(from_prepared), "--record", "--engine", engine
        )
        assert first.stdout == second.stdout
        assert "221 factures enregistrées" in second.stderr
    exports = [
        _run("ledger", "export", "--ledger", str(ledger), "--format", "jsonl").stdout
        for ledger in (from_files, from_prepared)
    ]
    assert exports[0] == exports[1] and exports[0].count("\n") == 221
    later = str(EXAMPLES / "week-2026-01.csv")
    reports = [
        _run("check", "--no-plugins", later, "--ledger", str(ledger), "--format", "json").stdout
        for ledger in (from_files, from_prepared)
    ]
    assert reports[0] == reports[1]


def test_columns_says_a_prepared_file_needs_no_mapping(tmp_path: Path) -> None:
    clean = str(EXAMPLES / "week-2026-01.csv")
    out = str(tmp_path / "prepared.parquet")
    assert _run("prepare", "--no-plugins", clean, "-o", out).exit_code == 0
    text = _run("columns", out)
    assert text.exit_code == 0 and "fichier préparé (billing-rules prepare) depuis" in text.stdout
    data = json.loads(_run("columns", out, "--format", "json").stdout)
    assert data == {"file": out, "prepared": True, "files": [clean]}


def test_the_command_reads_as_check_reads(tmp_path: Path) -> None:
    """``--column`` (and a configuration's mapping) shape the reading once: the prepared file keeps it."""
    week = (EXAMPLES / "week-2026-01.csv").read_text(encoding="utf-8")
    header, rest = week.split("\n", 1)
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(header.replace("invoice_id", "Pièce") + "\n" + rest, encoding="utf-8")
    out = str(tmp_path / "prepared.parquet")
    mapping = ("--column", "invoice_id=Pièce")
    assert _run("prepare", "--no-plugins", str(renamed), *mapping, "-o", out).exit_code == 0
    files = _run("check", "--no-plugins", str(renamed), *mapping, "--format", "json")
    assert files.exit_code == 1 and json.loads(files.stdout)["summary"]["events"] == 221
    assert _run("check", "--no-plugins", out, "--format", "json").stdout == files.stdout
