"""The ledger at scale (issue 14): ``simulate`` and ``check --ledger`` on a large ledger, row vs DuckDB.

    python benchmarks/ledger_bench.py                          # 1 M-row SQLite ledger, 20 k-row file
    python benchmarks/ledger_bench.py --ledger-rows 200000     # smaller
    python benchmarks/ledger_bench.py --ledger postgresql://... # the same on PostgreSQL (emptied first)
    python benchmarks/run.py --only ledger                     # the same figures in the runner's table

The ledger holds the first ``--ledger-rows`` invoices of one generated activity (benchmarks/generate.py,
100 practitioners) and the checked file the ``--check-rows`` that follow (the next days: every
window reaches into the ledger). ``simulate`` re-reads the ledger's last full year under the texts of
the next 1 January. Each figure is the wall time of a whole CLI process; the reports of both engines
are compared (they must be identical, apart from the engine's name).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate  # noqa: E402

ENGINES = ("duckdb", "row")


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "billing-rules"
    return [str(script)] if script.exists() else [sys.executable, "-m", "billing_rules"]


def _files(
    workdir: Path, ledger_rows: int, check_rows: int, practitioners: int, seed: int
) -> tuple[Path, Path]:
    """The ledger's CSV and the checked file (cached in ``workdir``)."""
    stem = f"ledger-{ledger_rows}-{check_rows}-{practitioners}-{seed}"
    history, checked = workdir / f"{stem}-history.csv", workdir / f"{stem}-check.csv"
    if history.exists() and checked.exists():
        return history, checked
    start = generate.default_start(ledger_rows + check_rows, practitioners)
    generator = generate.Generator(practitioners=practitioners, seed=seed, start=start)
    rows = generator.rows(ledger_rows + check_rows)
    for path, count in ((history, ledger_rows), (checked, check_rows)):
        with open(path, "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, delimiter=";", lineterminator="\n")
            writer.writerow(generate.COLUMNS)
            for _ in range(count):
                writer.writerow(next(rows))
    return history, checked


def _run(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command[:3])}... failed ({result.returncode}): {result.stderr[-2000:]}")
    return time.perf_counter() - started, result.stdout


def _last_year(history: Path) -> int:
    with open(history, encoding="utf-8") as stream:
        *_, last = stream
    day = last.split(";")[generate.COLUMNS.index("date")]
    return int(day[-4:]) if "/" in day else int(day[:4])


def measure(
    workdir: Path,
    *,
    ledger_rows: int = 1_000_000,
    check_rows: int = 20_000,
    practitioners: int = 100,
    seed: int = 1,
    ledger: str | None = None,
) -> list[tuple[str, str]]:
    """The table rows: (measure, value)."""
    workdir.mkdir(parents=True, exist_ok=True)
    history, checked = _files(workdir, ledger_rows, check_rows, practitioners, seed)
    cli = _cli()
    target = ledger or str(workdir / f"{history.stem}.sqlite")
    label = f"{ledger_rows:,}".replace(",", " ")
    table: list[tuple[str, str]] = []
    if ledger is not None or not Path(target).exists():
        if ledger is not None:
            _empty(ledger)
        took, _ = _run([*cli, "ledger", "import", str(history), "--ledger", target])
        table.append((f"ledger import, {label} rows", f"{took:.1f} s"))
    year = _last_year(history) - 1
    reports: dict[str, dict[str, object]] = {}
    for engine in ENGINES:
        command = [*cli, "simulate", "--ledger", target, "--from", f"{year}-01-01", "--to", f"{year}-12-31"]
        command += ["--as-of", f"{year + 1}-01-01", "--format", "json", "--no-plugins", "--engine", engine]
        took, out = _run(command)
        reports[f"simulate-{engine}"] = json.loads(out)
        table.append((f"simulate --engine {engine}, {year} of a {label}-row ledger", f"{took:.1f} s"))
    for engine in ENGINES:
        command = [*cli, "check", str(checked), "--ledger", target, "--engine", engine, "--format", "json"]
        took, out = _run([*command, "--fail-on", "never"])
        reports[f"check-{engine}"] = json.loads(out)
        what = f"check --ledger --engine {engine}, {check_rows} rows, {label}-row ledger"
        table.append((what, f"{took:.1f} s"))
    for what in ("simulate", "check"):
        row, relational = reports[f"{what}-row"], reports[f"{what}-duckdb"]
        for report in (row, relational):
            report.pop("engine", None)
            if isinstance(report.get("summary"), dict):
                report["summary"].pop("engine", None)
                report["summary"].pop("row_rules", None)
        table.append((f"{what}: reports identical", "yes" if row == relational else "NO (a bug)"))
    return table


def _empty(url: str) -> None:
    """Drop the ledger's tables in a benchmark database (never point this at a real ledger)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS invoice_codes, invoices, billing_rules_schema")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ledger-rows", type=int, default=1_000_000)
    parser.add_argument("--check-rows", type=int, default=20_000)
    parser.add_argument("--practitioners", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ledger", default=None, help="a PostgreSQL URL (its ledger tables are dropped)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "billing-rules-bench")
    args = parser.parse_args(argv)
    table = measure(
        args.workdir,
        ledger_rows=args.ledger_rows,
        check_rows=args.check_rows,
        practitioners=args.practitioners,
        seed=args.seed,
        ledger=args.ledger,
    )
    width = max(len(label) for label, _ in table)
    for label, value in table:
        print(f"| {label.ljust(width)} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
