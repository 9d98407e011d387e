"""Spark in local mode on one generated file: the same findings as the row engine, and the times.

    python benchmarks/spark_bench.py --rows 1000000            # local[2], about 5-10 minutes
    python benchmarks/run.py --only spark --rows 1000000       # the same, from the benchmark runner

Checks the file (benchmarks/generate.py, cached in ``--workdir``) with the row engine, DuckDB and
Spark, in this process, asserts that the three reports are identical (every field of every finding,
in order), prints the times, and saves the physical plan Spark runs for one windowed rule
(``SNP-WEEK``: its counter, a window function over the explicit sort key, and the hits) to a file.
Local Spark is not expected to be fast on 2 cores: the figure is there to show what a cluster
changes (the plan's exchanges are what spreads over executors). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import data_file  # noqa: E402

WINDOWED_RULE = "SNP-WEEK"


def key(finding: Any) -> tuple[Any, ...]:
    """Everything a report shows of a finding."""
    return (
        finding.rule, finding.severity.value, finding.invoice_id, finding.line, finding.file,
        finding.practitioner_id, finding.patient_id, finding.date, finding.message, finding.amount,
        finding.suggestion, finding.source, finding.citation, finding.action, finding.window,
    )  # fmt: skip


def timed(label: str, run: Any, figures: list[tuple[str, str]], rows: int) -> Any:
    started = time.perf_counter()
    result = run()
    wall = time.perf_counter() - started
    figures.append((label, f"{wall:.1f} s, {rows / wall:,.0f} rows/s"))
    print(f"  {label}: {wall:.1f} s", file=sys.stderr, flush=True)
    return result


def windowed_plan(validator: Any, path: Path, master: str | None) -> str:
    """Spark's physical plans of ``SNP-WEEK``: its window's counter, then the rule's hits on it."""
    from billing_rules.engines.relational import api, sql, windows
    from billing_rules.engines.relational.plan import DslPlan
    from billing_rules.engines.relational.run import _Run
    from billing_rules.engines.relational.spark import SparkBackend
    from billing_rules.engines.relational.table import FrameTable
    from billing_rules.readers.columnar import read_invoices

    checker = api.checker_for(validator, "spark", master)
    plan = next(item for item in checker.plan.rules if item.code == WINDOWED_RULE)
    assert isinstance(plan, DslPlan) and plan.counter is not None
    backend = SparkBackend(master=master)
    try:
        read = read_invoices([str(path)], None)
        backend.load_invoices(FrameTable(read.table))
        _Run(checker, backend, tuple(read.files))._setup()
        backend.execute(sql.create_view(sql.SUBJECTS, sql.input_subjects()))
        counter = windows.counter_query(plan.counter, suggested=False)
        name = f"counter_{plan.counter.id}"
        parts = [f"-- {WINDOWED_RULE}: window counter ({name})", backend.explain(counter)]
        backend.execute(sql.create(name, counter))
        parts += [f"-- {WINDOWED_RULE}: hits", backend.explain(windows.window_hits([(plan, name, None)]))]
        return "\n".join(parts)
    finally:
        backend.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="billing-rules on Spark local mode: findings and times")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--practitioners", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--master", default=None, help="Spark master (default local[2] or SPARK_REMOTE)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "billing-rules-bench")
    parser.add_argument("--plan-out", type=Path, help=f"file for the plan of {WINDOWED_RULE}")
    parser.add_argument("--skip-row", action="store_true", help="compare with DuckDB only (faster)")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = data_file(args.workdir, args.rows, args.practitioners, args.seed)
    plan_out = args.plan_out or args.workdir / f"spark-plan-{WINDOWED_RULE}-{args.rows}.txt"

    from billing_rules.api.validator import Validator
    from billing_rules.engines.relational import api
    from billing_rules.engines.relational.spark import session

    figures: list[tuple[str, str]] = []
    rows = args.rows
    validator = Validator.build(entry_points=False)
    started = time.perf_counter()
    session(args.master)
    figures.append(("Spark session start", f"{time.perf_counter() - started:.1f} s"))
    reports = {}
    if not args.skip_row:
        reports["row"] = timed(
            "row engine, check_paths", lambda: validator.check_paths([str(path)]), figures, rows
        )
    reports["duckdb"] = timed(
        "duckdb, check_paths", lambda: api.check_paths(validator, [str(path)]), figures, rows
    )
    reports["spark"] = timed(
        f"spark {args.master or 'local[2]'}, check_paths (session already started)",
        lambda: api.check_paths(validator, [str(path)], engine="spark", master=args.master),
        figures,
        rows,
    )
    reference = reports.get("row", reports["duckdb"])
    expected = [key(finding) for finding in reference.findings]
    for engine, report in reports.items():
        assert report.engine == engine, (engine, report.engine)
        found = [key(finding) for finding in report.findings]
        assert found == expected, f"{engine}: {len(found)} findings against {len(expected)}"
        assert report.input_errors == reference.input_errors
    figures.append(("findings, identical on every engine", f"{len(expected):,}"))
    plan_out.write_text(windowed_plan(validator, path, args.master), encoding="utf-8")
    figures.append((f"physical plan of {WINDOWED_RULE}", str(plan_out)))
    width = max(len(label) for label, _ in figures)
    print(f"billing-rules on Spark, {rows:,} rows, {args.practitioners} practitioners, {os.cpu_count()} CPU")
    for label, value in figures:
        print(f"| {label.ljust(width)} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
