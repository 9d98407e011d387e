"""One run, every figure of issue 5: throughput, latency, memory and startup, printed as a table.

    python benchmarks/run.py            # 1 M rows, RSS at 500 k and 5 M (several minutes)
    python benchmarks/run.py --quick    # 100 k rows, RSS at 50 k and 500 k (under 2 minutes)

Generated files are cached in ``--workdir`` (same size, practitioners and seed: same file). The
machine is noisy: the targets are ratios measured in the same run, each throughput the best of
``--repeat`` runs. Nothing here is part of the test suite; the script prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import baseline  # noqa: E402
import exports  # noqa: E402
import generate  # noqa: E402
import relational_targets  # noqa: E402

#: Steps of minutes, run only when named.
ON_DEMAND = ("ledger", "scale", "spark", "exports", "exports-scale")
SEED_RULES = ("IMT-ALD", "IMT-ONCE", "VL-QUARTER", "SNP-WEEK")  # VSP-NO-CAP: no rule may fire


def data_file(workdir: Path, rows: int, practitioners: int, seed: int, suffix: str = ".csv") -> Path:
    """The cached generated file of that size (generated on first use)."""
    path = workdir / f"billing-{rows}-{practitioners}p-s{seed}{suffix}"
    if not path.exists():
        started = time.perf_counter()
        tmp = path.with_suffix(path.suffix + ".part")
        generate.generate(str(tmp), rows=rows, practitioners=practitioners, seed=seed)
        tmp.rename(path)
        print(f"  (généré {path.name} en {time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return path


def best_rate(rows: int, run: Callable[[], Any], repeat: int) -> float:
    """Rows per second of the fastest of ``repeat`` runs (the least disturbed by the machine)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return rows / best


def seed_validator(full: Any) -> Any:
    """The engine restricted to the five seed rules (same readers, same code path)."""
    import attrs

    from billing_rules.api.validator import Validator

    rules = tuple(rule for rule in full.ruleset.rules if rule.code in SEED_RULES)
    return Validator(attrs.evolve(full.ruleset, rules=rules), readers=full.readers, reporters=full.reporters)


def parse_floor(path: Path) -> int:
    with open(path, encoding="utf-8", newline="") as handle:
        return sum(1 for _ in csv.reader(handle, delimiter=";")) - 1


def read_only(path: Path) -> None:
    """Every row read and validated as ``check`` does, none built into an event: the reading cost."""
    from billing_rules.readers import InputStream

    for _ in InputStream([str(path)], wanted=lambda codes: False):
        pass


def throughput(args: argparse.Namespace, table: list[tuple[str, str]]) -> None:
    from billing_rules.api.validator import Validator

    path = data_file(args.workdir, args.rows, args.practitioners, args.seed)
    rows = args.rows
    full = Validator.build(entry_points=False)
    seed = seed_validator(full)
    floor = best_rate(rows, lambda: parse_floor(path), args.repeat)
    base = best_rate(rows, lambda: sum(1 for _ in baseline.findings(str(path))), args.repeat)
    validated = best_rate(rows, lambda: read_only(path), args.repeat)
    engine5 = best_rate(rows, lambda: seed.check_paths([str(path)]), args.repeat)
    engine_all = best_rate(rows, lambda: full.check_paths([str(path)]), args.repeat)
    label = f"{rows:,} factures".replace(",", " ")
    table += [
        (f"parse floor (csv module), {label}", f"{floor:,.0f} rows/s"),
        ("baseline, 5 seed rules (hand-written)", f"{base:,.0f} rows/s"),
        ("reader alone: every value validated (SPEC §1), no rule", f"{validated:,.0f} rows/s"),
        ("engine, 5 seed rules (Validator.check_paths)", f"{engine5:,.0f} rows/s"),
        ("engine, full catalogue (Validator.check_paths)", f"{engine_all:,.0f} rows/s"),
        ("ratio engine 5 rules / baseline (target >= 1.0)", f"{engine5 / base:.2f}"),
        ("ratio full catalogue / baseline (target >= 0.5)", f"{engine_all / base:.2f}"),
        ("ratio engine 5 rules / reader alone (what the rules cost)", f"{engine5 / validated:.2f}"),
    ]


def read_columnar(path: Path) -> None:
    """The columnar reader: the same validation as ``read_only``, into one typed table."""
    from billing_rules.readers.columnar import read_invoice_table

    read_invoice_table([str(path)])


def columnar(args: argparse.Namespace, table: list[tuple[str, str]]) -> None:
    """Rows/s of the columnar reader next to the row reader and the csv module, then its peak RSS.

    Needs the ``batch`` extra (polars); skipped with a line saying so otherwise.
    """
    try:
        import polars  # noqa: F401
    except ImportError:
        table.append(("columnar reader", "skipped: pip install '.[batch]'"))
        return
    path = data_file(args.workdir, args.rows, args.practitioners, args.seed)
    rows = args.rows
    floor = best_rate(rows, lambda: parse_floor(path), args.repeat)
    validated = best_rate(rows, lambda: read_only(path), args.repeat)
    columns = best_rate(rows, lambda: read_columnar(path), args.repeat)
    label = f"{rows:,} factures".replace(",", " ")
    table += [
        (f"csv module alone (no validation), {label}", f"{floor:,.0f} rows/s"),
        ("row reader: every value validated, no rule", f"{validated:,.0f} rows/s"),
        ("columnar reader: the same validation, one typed table", f"{columns:,.0f} rows/s"),
        ("ratio columnar reader / row reader", f"{columns / validated:.2f}"),
        ("ratio columnar reader / csv module alone", f"{columns / floor:.2f}"),
    ]
    figures = []
    for size in args.columnar_sizes:
        size_path = data_file(args.workdir, size, args.practitioners, args.seed)
        started = time.perf_counter()
        command = [sys.executable, str(Path(__file__).resolve()), "--rss-child", "columnar", str(size_path)]
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - started
        kib = int(result.stdout.strip().splitlines()[-1])
        figures.append((size, wall, kib))
        label = f"{size:,} factures".replace(",", " ")
        figure = f"{kib / 1024:.0f} MiB ({size / wall:,.0f} rows/s)"
        table.append((f"peak RSS, columnar reader, {label}", figure))
    if len(figures) == 2:
        (small, small_wall, _), (large, large_wall, _) = figures
        sizes = f"{large:,} / {small:,}".replace(",", " ")
        ratio = f"{large_wall / small_wall:.1f}"
        table.append((f"columnar reader, time ratio {sizes} (linear: about 10)", ratio))


def _events(path: Path) -> list[Any]:
    from billing_rules.model import Event
    from billing_rules.readers import InputStream

    return [item for item in InputStream([str(path)]) if isinstance(item, Event)]


def _percentiles(samples: list[float]) -> tuple[float, float]:
    samples.sort()
    return (statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))])


def latency(args: argparse.Namespace, table: list[tuple[str, str]]) -> None:
    """``check_one`` of fresh invoices against a history held in memory, then in an SQLite ledger."""
    from billing_rules.api.validator import Validator

    probes = args.probes
    histories = [
        ("1 an, cabinet de 3 médecins", 3 * generate.ACTS_PER_YEAR, 3),
        (None, args.history_rows, 100),
    ]
    for name, size, practitioners in histories:
        name = name or f"{size:,} factures".replace(",", " ")
        path = data_file(args.workdir, size + probes, practitioners, args.seed)
        events = _events(path)
        history, fresh = events[:-probes], events[-probes:]
        validator = Validator.build(entry_points=False)
        for event in history:
            validator.record(event)
        for event in fresh[:100]:
            validator.check_one(event)  # warm-up: lazy imports, plans, memos
        wall, cpu = _timed(validator.check_one, fresh)
        table.append(
            (f"check_one in memory, history {name}", f"{_quantiles(wall)} wall; {_quantiles(cpu)} CPU")
        )
        table.append((f"check_one on SQLite ledger, history {name}", _ledger_latency(history, fresh)))
        del validator, history, fresh, events
        gc.collect()


def _timed(check: Callable[[Any], Any], events: list[Any]) -> tuple[list[float], list[float]]:
    """Wall and CPU time (µs) of ``check`` per event: on a shared machine the wall time's tail is
    the scheduler's (a 4 ms time slice), the CPU time's is the code's."""
    wall_clock, cpu_clock = time.perf_counter_ns, time.process_time_ns
    wall, cpu = [], []
    for event in events:
        started, started_cpu = wall_clock(), cpu_clock()
        check(event)
        cpu.append((cpu_clock() - started_cpu) / 1000)
        wall.append((wall_clock() - started) / 1000)
    return wall, cpu


def _quantiles(samples: list[float]) -> str:
    p50, p99 = _percentiles(samples)
    return f"p50 {p50:.0f} µs, p99 {p99:.0f} µs"


def _ledger_latency(history: list[Any], fresh: list[Any]) -> str:
    """Optional: needs ``billing_rules.ledger`` (SQLite). The history is stored, then each invoice
    goes through the real-time API practice software calls, ``Session.check_one``: one
    history query for its patient and practitioner, then the rules. Each probe is discarded from
    the session afterwards, as an abandoned entry is, so that probes do not pile up as pending."""
    try:
        from billing_rules.api.validator import Validator
        from billing_rules.ledger import open_ledger
    except ImportError:
        return "n/a (billing_rules.ledger absent)"
    validator = Validator.build(entry_points=False)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            ledger = open_ledger(Path(tmp) / "ledger.sqlite")
            for start in range(0, len(history), 50_000):
                ledger.record(history[start : start + 50_000])
            session = validator.session(ledger=ledger)

            def check(event: Any) -> None:
                session.check_one(event)
                session.discard(event)

            for event in fresh[:100]:
                check(event)  # warm-up
            wall, cpu = _timed(check, fresh)
            ledger.close()
        except Exception as exc:  # noqa: BLE001 - optional part: say why, keep the other figures
            return f"n/a ({type(exc).__name__}: {exc})"
    return f"{_quantiles(wall)} wall; {_quantiles(cpu)} CPU"


def peak_rss(args: argparse.Namespace, table: list[tuple[str, str]]) -> None:
    """Peak RSS of a fresh process per size, for two things.

    ``check``: ``billing-rules check FILE --format json`` as users run it. ``engine``: the same
    rows streamed through the engine with findings discarded, without the input's duplicate
    detection: the state the windows keep, which must be bounded by patients and windows.
    """
    for mode in ("check-row", "engine"):
        figures = []
        for size in args.rss_sizes:
            path = data_file(args.workdir, size, args.practitioners, args.seed)
            started = time.perf_counter()
            command = [sys.executable, str(Path(__file__).resolve()), "--rss-child", mode, str(path)]
            result = subprocess.run(command, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - started
            kib = int(result.stdout.strip().splitlines()[-1])
            figures.append(kib)
            label = f"{size:,} factures".replace(",", " ")
            what = "check --format json" if mode == "check-row" else "engine state only"
            table.append((f"peak RSS, {what}, {label}", f"{kib / 1024:.0f} MiB ({size / wall:,.0f} rows/s)"))
        if len(figures) == 2:
            sizes = " / ".join(f"{size:,}".replace(",", " ") for size in reversed(args.rss_sizes))
            table.append((f"RSS ratio {mode}, {sizes} (target <= 1.2)", f"{figures[1] / figures[0]:.2f}"))


def relational(args: argparse.Namespace, table: list[tuple[str, str]]) -> None:
    """The relational engine (issue 14): whole ``check`` processes, row and DuckDB, same file, same run.

    Each figure is a fresh process (``--rss-child check-ENGINE``): the wall time of the whole check
    (start-up, reading and validating, rules, JSON report) and its peak RSS; the hand-written loop
    of the 5 seed rules is measured in the same run for the ratio.
    """
    path = data_file(args.workdir, args.rows, args.practitioners, args.seed)
    rows = args.rows
    base = best_rate(rows, lambda: sum(1 for _ in baseline.findings(str(path))), args.repeat)
    label = f"{rows:,} factures".replace(",", " ")
    rates = {}
    for engine in ("duckdb", "row"):
        best, kib = float("inf"), 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            command = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--rss-child",
                f"check-{engine}",
                str(path),
            ]
            result = subprocess.run(command, capture_output=True, text=True, check=True)
            best = min(best, time.perf_counter() - started)
            kib = max(kib, int(result.stdout.strip().splitlines()[-1]))
        rates[engine] = rows / best
        table.append(
            (
                f"check --engine {engine} --format json, full catalogue, {label}",
                f"{best:.1f} s, {rows / best:,.0f} rows/s, peak RSS {kib / 1024:.0f} MiB",
            )
        )
    table += [
        ("baseline, 5 seed rules (hand-written), same run", f"{base:,.0f} rows/s"),
        ("ratio check duckdb / baseline (target >= 0.5)", f"{rates['duckdb'] / base:.2f}"),
        ("ratio check duckdb / check row", f"{rates['duckdb'] / rates['row']:.2f}"),
    ]


def ledger(args: argparse.Namespace, table: list[tuple[str, str]]) -> None:
    """The ledger at scale: ``simulate`` and ``check --ledger`` on a large ledger (``ledger_bench``)."""
    import ledger_bench

    table += ledger_bench.measure(
        args.workdir, ledger_rows=args.history_rows, practitioners=args.practitioners, seed=args.seed
    )


def rss_child(mode: str, path: str) -> None:
    if mode == "columnar":
        read_columnar(Path(path))
    elif mode.startswith("check"):
        from billing_rules.cli import main

        engine = mode.partition("-")[2] or "row"
        with open(os.devnull, "w") as sink:
            stdout, sys.stdout = sys.stdout, sink
            try:
                main(
                    ["check", path, "--format", "json", "--fail-on", "never", "--engine", engine],
                    standalone_mode=False,
                )
            finally:
                sys.stdout = stdout
    else:
        from billing_rules.api.validator import Validator
        from billing_rules.engines.row.ordering import by_day
        from billing_rules.readers.csv_reader import CsvReader
        from billing_rules.readers.positional import PositionalDecoder

        class Forgetful:
            """Stands for the duplicate check: its keys are the input's memory, not the engine's."""

            def claim_all(self, *keys_and_lines: Any) -> bool:
                return True

        session = Validator.build(entry_points=False).engine.session()
        forgetful = Forgetful()
        with open(path, "rb") as stream:
            table = CsvReader().table(stream, path)
            decode_block = PositionalDecoder(table.names, path).decode_block

            def events() -> Any:
                seq = 0
                for lines, rows, _ in table.blocks:  # generated files are clean: every block reads
                    yield from decode_block(lines, rows, seq, forgetful) or ()  # type: ignore[arg-type]
                    seq += len(rows)

            for event in by_day(events()):
                session.process(event)
    print(_peak_kib())


def _peak_kib() -> int:
    """Peak resident memory of this process, in KiB.

    Linux's ``ru_maxrss`` survives ``exec``: a child forked from a large parent would report at
    least the parent's size. ``VmHWM`` belongs to the process's own memory map, so it is read first.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _wall(command: list[str], repeat: int) -> float:
    """Median wall time in ms, after one warm-up run.

    The warm-up writes what an installed copy has after its first run (bytecode, the parsed rule
    files' cache); ``PYTHONDONTWRITEBYTECODE`` is dropped for the same reason: pip compiles an
    installed package's bytecode, and a figure without it would measure Python's compiler.
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    times = []
    for run in range(repeat + 1):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)
        if run:
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def startup(args: argparse.Namespace, table: list[tuple[str, str]]) -> None:
    """Wall time of the CLI (median of ``--startup-runs``) next to a bare interpreter."""
    # The script installed beside this interpreter (a venv's bin/): a version manager's shim found
    # on PATH would add its own start-up to the figure.
    script = Path(sys.executable).parent / "billing-rules"
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "billing_rules"]
    ten = data_file(args.workdir, 10, 3, args.seed)
    bare = _wall([sys.executable, "-c", "pass"], args.startup_runs)
    check = _wall([*cli, "check", str(ten), "--fail-on", "never"], args.startup_runs)
    helping = _wall([*cli, "--help"], args.startup_runs)
    table += [
        ("python -c pass", f"{bare:.0f} ms"),
        ("billing-rules check (10 lines)", f"{check:.0f} ms (+{check - bare:.0f} ms, target < 300)"),
        ("billing-rules --help", f"{helping:.0f} ms (+{helping - bare:.0f} ms)"),
    ]


def spark(args: argparse.Namespace, table: list[tuple[str, str]]) -> None:
    """Spark local mode (issue 14): ``spark_bench.py`` in a child process, its figures added here."""
    command = [sys.executable, str(HERE / "spark_bench.py"), "--rows", str(args.rows)]
    command += ["--practitioners", str(args.practitioners), "--seed", str(args.seed)]
    command += ["--workdir", str(args.workdir)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    for line in output.splitlines():
        if line.startswith("| "):
            label, value = (part.strip() for part in line.strip("| ").split(" | ", 1))
            table.append((f"spark bench: {label}", value))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="billing-rules benchmarks (issue 5)")
    parser.add_argument("--quick", action="store_true", help="small sizes: the whole run in under 2 minutes")
    parser.add_argument("--rows", type=int, help="rows of the throughput file (default 1 000 000)")
    parser.add_argument("--rss-sizes", type=lambda text: [int(part) for part in text.split(",")],
                        help="two sizes for peak RSS (default 500000,5000000)")  # fmt: skip
    parser.add_argument("--columnar-sizes", type=lambda text: [int(part) for part in text.split(",")],
                        help="two sizes for the columnar reader (default 1000000,10000000)")  # fmt: skip
    parser.add_argument("--history-rows", type=int, help="large history of check_one (default 1 000 000)")
    parser.add_argument("--probes", type=int, default=2000, help="invoices timed by check_one")
    parser.add_argument("--practitioners", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2, help="runs per throughput figure (best kept)")
    parser.add_argument("--startup-runs", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "billing-rules-bench")
    steps = (
        "throughput",
        "columnar",
        "latency",
        "rss",
        "startup",
        "relational",
        "targets",
        "why",
        "ledger",
        "scale",
        "spark",
        "exports",
        "exports-scale",
    )
    parser.add_argument("--only", choices=steps, action="append",
                        help="ledger, scale, spark, exports, exports-scale: minutes, when named")  # fmt: skip
    parser.add_argument("--rss-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        rss_child(*args.rss_child)
        return 0
    args.rows = args.rows or (100_000 if args.quick else 1_000_000)
    args.rss_sizes = args.rss_sizes or ([50_000, 500_000] if args.quick else [500_000, 5_000_000])
    columnar_sizes = [100_000, 1_000_000] if args.quick else [1_000_000, 10_000_000]
    args.columnar_sizes = args.columnar_sizes or columnar_sizes
    args.history_rows = args.history_rows or (100_000 if args.quick else 1_000_000)
    if args.quick:
        args.repeat = 1
    args.workdir.mkdir(parents=True, exist_ok=True)
    table: list[tuple[str, str]] = []
    started = time.perf_counter()
    steps = {
        "throughput": throughput,
        "columnar": columnar,
        "latency": latency,
        "rss": peak_rss,
        "startup": startup,
        "relational": relational,
        "targets": lambda args, table: relational_targets.targets(args, table, data_file),
        "why": lambda args, table: relational_targets.why(args, table, data_file),
        "scale": lambda args, table: relational_targets.scale(args, table, data_file),
        "ledger": ledger,
        "spark": spark,
        "exports": lambda args, table: exports.exports(
            args, table, data_file(args.workdir, args.rows, args.practitioners, args.seed)
        ),
        "exports-scale": lambda args, table: exports.per_act_scale(
            args, table, data_file(args.workdir, args.rows * 10, args.practitioners, args.seed)
        ),
    }
    for name, step in steps.items():
        if (args.only and name not in args.only) or (not args.only and name in ON_DEMAND):
            continue
        print(f"[{name}] ...", file=sys.stderr, flush=True)
        step(args, table)
    width = max(len(label) for label, _ in table)
    print(f"billing-rules benchmarks, {dt.datetime.now():%Y-%m-%d %H:%M}, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPU, {args.practitioners} practitioners, seed {args.seed}")  # fmt: skip
    print(f"| {'measure'.ljust(width)} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for label, value in table:
        print(f"| {label.ljust(width)} | {value} |")
    print(f"(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
