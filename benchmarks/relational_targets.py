"""Issue 14's targets, measured in one run, and where the relational engine's time goes.

Three steps of ``run.py`` (``--only targets``, ``--only scale``, ``--only why``):

* ``targets``: the whole ``check --engine duckdb`` process (full catalogue, SPEC §1 validation, JSON
  report) against the hand-written 5-rule loop (target ≥ 0.5×, aim 1.0×), and the same check of
  the file prepared once (``billing-rules prepare``: no reading again); the engine's API with
  the 5 seed rules against the hand-written polars plan (``polars_plan.py``, target ≥ 0.8×); and
  ``check`` on a 10-line file, which must import nothing columnar;
* ``scale``: the same ``check`` process on ``--rows`` and on 10 × ``--rows`` (peak RSS ≤ 4 GiB,
  time ratio ≤ 11); several minutes at 10 M rows, run it once;
* ``why``: one check in this process with every stage timed (CPU and wall): reading, the feed into
  DuckDB, each statement, the Python rebuild of the invoices with findings, the report.

Wall times are noisy on a shared machine; CPU time (user + system) is printed beside them.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
GIB = 1024 * 1024


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_process(command: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (KiB) of one child process.

    The child prints its own peak RSS as the last line of its output (``run.py --rss-child``). As in
    ``run.py``'s startup figures, ``PYTHONDONTWRITEBYTECODE`` is dropped: an installed copy runs
    from the bytecode pip compiled, and the figure should not include Python's compiler.
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    cpu = _child_cpu()
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    wall = time.perf_counter() - started
    return wall, _child_cpu() - cpu, int(result.stdout.strip().splitlines()[-1])


def check_process(path: Path, engine: str = "duckdb") -> tuple[float, float, int]:
    """The whole ``check --format json`` process on ``path`` (full catalogue)."""
    return timed_process([sys.executable, str(HERE / "run.py"), "--rss-child", f"check-{engine}", str(path)])


def best(run: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """(wall, CPU) of the fastest of ``repeat`` runs in this process."""
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        run()
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - started_cpu)
    return wall, cpu


def targets(args: argparse.Namespace, table: list[tuple[str, str]], data_file: Callable[..., Path]) -> None:
    """Issue 14's ratio targets, each pair measured in the same run."""
    import baseline
    import polars_plan

    from billing_rules.api.validator import Validator
    from billing_rules.engines.relational import api

    path = data_file(args.workdir, args.rows, args.practitioners, args.seed)
    label = f"{args.rows:,} factures".replace(",", " ")
    loop, loop_cpu = best(lambda: sum(1 for _ in baseline.findings(str(path))), args.repeat)
    check_process(data_file(args.workdir, 10, 3, args.seed))  # warm-up: bytecode, rule cache
    runs = [check_process(path) for _ in range(args.repeat)]
    wall, cpu, kib = min(runs)
    table += [
        (f"hand-written loop, 5 seed rules, {label}", f"{loop:.2f} s (CPU {loop_cpu:.2f} s)"),
        (
            "check --engine duckdb --format json, full catalogue (whole process)",
            f"{wall:.2f} s (CPU {cpu:.2f} s), peak RSS {kib / 1024:.0f} MiB",
        ),
        (
            "ratio check duckdb / hand loop (target >= 0.5, aim 1.0)",
            f"{loop / wall:.2f} (CPU {loop_cpu / cpu:.2f})",
        ),
    ]
    parquet = typed_parquet(path)
    wall, cpu, kib = min(check_process(parquet) for _ in range(args.repeat))
    table.append(
        (
            "check --engine duckdb, the same invoices as typed Parquet (whole process)",
            f"{wall:.2f} s (CPU {cpu:.2f} s), peak RSS {kib / 1024:.0f} MiB",
        )
    )
    full = Validator.build(entry_points=False)
    prepared, prepare_wall = prepared_file(full, path)
    wall, cpu, kib = min(check_process(prepared) for _ in range(args.repeat))
    table += [
        ("prepare the same invoices once (this process)", f"{prepare_wall:.2f} s"),
        (
            "check --engine duckdb of the prepared file (whole process)",
            f"{wall:.2f} s (CPU {cpu:.2f} s), peak RSS {kib / 1024:.0f} MiB",
        ),
        ("ratio check of the prepared file / hand loop", f"{loop / wall:.2f} (CPU {loop_cpu / cpu:.2f})"),
    ]
    import run as bench

    seed = bench.seed_validator(full)
    plan, plan_cpu = best(lambda: polars_plan.findings(str(path)), args.repeat)
    engine5, engine5_cpu = best(lambda: api.check_paths(seed, [str(path)]), args.repeat)
    # The same rules on the invoices already validated (the prepared file): what the plan, which
    # validates nothing, is compared with when the reading is left out. Not the target's measure.
    rules5, rules5_cpu = best(lambda: api.check_paths(seed, [str(prepared)]), args.repeat)
    table += [
        ("hand-written polars plan, 5 seed rules (no validation)", f"{plan:.2f} s (CPU {plan_cpu:.2f} s)"),
        (
            "engine's API, 5 seed rules, duckdb (with validation)",
            f"{engine5:.2f} s (CPU {engine5_cpu:.2f} s)",
        ),
        (
            "ratio engine 5 rules / polars plan (target >= 0.8)",
            f"{plan / engine5:.2f} (CPU {plan_cpu / engine5_cpu:.2f})",
        ),
        (
            "engine's API, 5 seed rules, duckdb, on the prepared file (validated once)",
            f"{rules5:.2f} s (CPU {rules5_cpu:.2f} s), ratio to the plan {plan / rules5:.2f}",
        ),
    ]
    ten = data_file(args.workdir, 10, 3, args.seed)
    probe = (
        "import sys; from billing_rules.cli import main\n"
        "try: main(['check', sys.argv[1], '--fail-on', 'never'], standalone_mode=False)\n"
        "except SystemExit: pass\n"
        "heavy = sorted(m for m in ('polars', 'duckdb', 'sqlglot', 'pyspark') if m in sys.modules)\n"
        "print('imported: ' + (', '.join(heavy) or 'none'), file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(ten)], capture_output=True, text=True, check=False
    )
    imported = (result.stderr.strip().splitlines() or ["?"])[-1]
    table.append(("check on a 10-line file: columnar modules imported (target: none)", imported))


def typed_parquet(path: Path) -> Path:
    """The generated CSV file as Parquet with typed columns (dates, booleans, lists of codes...).

    What a vendor's export at scale looks like: written once beside the CSV file, then reused.
    """
    import polars as pl

    target = path.with_suffix(".typed.parquet")
    if target.exists():
        return target
    flags = ("ald", "palliative", "neurodegenerative", "declares_mt", "homebound", "regulated")
    frame = pl.read_csv(path, separator=";", infer_schema=False).with_columns(
        pl.col("date").str.to_date("%Y-%m-%d"),
        pl.col("birth_date").str.to_date("%Y-%m-%d"),
        pl.col("referral_at").str.to_datetime("%Y-%m-%dT%H:%M", strict=False),
        *((pl.col(name) == "1").alias(name) for name in flags),
        pl.col("amount").cast(pl.Decimal(10, 2)),
        pl.col("codes").str.split("+"),
    )
    part = target.with_suffix(".part")
    frame.write_parquet(part)
    part.rename(target)
    return target


def prepared_file(validator: Any, path: Path) -> tuple[Path, float]:
    """The generated CSV file prepared (``billing-rules prepare``) beside it, and the seconds it took."""
    from billing_rules.api.prepare import prepare_files

    target = path.with_suffix(".prepared.parquet")
    started = time.perf_counter()
    prepare_files(validator, [str(path)], str(target))
    return target, time.perf_counter() - started


def _fetched(text: str) -> str:
    """What a query of the relational engine fetches, for the stages' labels."""
    if text.startswith("SELECT sid, rule"):
        return "hits of the windowed rules"
    if re.search(r" AS m0\b", text):
        return "hits of the other rules (bit masks)"
    if text.startswith("SELECT sid, seq"):
        return "invoices with findings"
    return " ".join(text.split()[:3])[:40]


def scale(args: argparse.Namespace, table: list[tuple[str, str]], data_file: Callable[..., Path]) -> None:
    """``check`` on ``--rows`` and 10 × ``--rows``: peak RSS and the time ratio (linear: 10).

    Each size runs ``--repeat`` times: the fastest wall time of each makes the ratio (one slow
    spell of a shared machine in either run would move it by more than the target's margin), the
    largest peak RSS of each is reported.
    """
    small = data_file(args.workdir, args.rows, args.practitioners, args.seed)
    large = data_file(args.workdir, args.rows * 10, args.practitioners, args.seed)
    check_process(data_file(args.workdir, 10, 3, args.seed))  # warm-up: bytecode, rule cache
    figures = []
    for path, rows in ((small, args.rows), (large, args.rows * 10)):
        runs = [check_process(path) for _ in range(args.repeat)]
        wall, cpu, _ = min(runs)
        kib = max(run[2] for run in runs)
        figures.append((wall, cpu))
        label = f"{rows:,} factures".replace(",", " ")
        table.append(
            (
                f"check --engine duckdb, {label}",
                f"{wall:.1f} s (CPU {cpu:.1f} s), peak RSS {kib / 1024:.0f} MiB",
            )
        )
        if rows == args.rows * 10:
            table.append(("peak RSS at 10x (target <= 4096 MiB)", f"{kib / 1024:.0f} MiB"))
    (wall_1, cpu_1), (wall_10, cpu_10) = figures
    table.append(("time 10x / 1x (target <= 11)", f"{wall_10 / wall_1:.1f} (CPU {cpu_10 / cpu_1:.1f})"))


def why(args: argparse.Namespace, table: list[tuple[str, str]], data_file: Callable[..., Path]) -> None:
    """One ``check`` in this process, each stage of the relational engine timed (CPU and wall)."""
    path = data_file(args.workdir, args.rows, args.practitioners, args.seed)
    stages: list[tuple[str, float, float]] = []
    started, started_cpu = time.perf_counter(), time.process_time()
    import duckdb as duckdb_module  # noqa: F401
    import polars  # noqa: F401

    from billing_rules.cli import main
    from billing_rules.engines.relational import duckdb, run
    from billing_rules.engines.relational import table as table_module
    from billing_rules.readers import columnar

    stages.append(
        (
            "imports (CLI, engine, polars, duckdb)",
            time.process_time() - started_cpu,
            time.perf_counter() - started,
        )
    )
    restore: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, name: str, label: Callable[..., str]) -> None:
        original = getattr(owner, name)
        restore.append((owner, name, original))

        def timed(*call_args: Any, **kwargs: Any) -> Any:
            before, before_cpu = time.perf_counter(), time.process_time()
            try:
                return original(*call_args, **kwargs)
            finally:
                stages.append(
                    (
                        label(*call_args, **kwargs),
                        time.process_time() - before_cpu,
                        time.perf_counter() - before,
                    )
                )

        setattr(owner, name, timed)

    def statement(_: Any, text: Any, *rest: Any) -> str:
        words = str(text).split()
        if words[:4] == ["CREATE", "OR", "REPLACE", "TEMPORARY"]:
            return f"  statement: table {words[5]}"
        return "  statement: " + " ".join(words[:3])[:40]

    feed = {"cpu": 0.0, "wall": 0.0}
    real_read = columnar.read_invoices

    def read_invoices(*call_args: Any, sink: Any = None, **kwargs: Any) -> Any:
        class TimedSink:
            """The engine's sink, its time counted as the feed's (its keys asked back included)."""

            def _timed(self, call: Callable[[], Any]) -> Any:
                before, before_cpu = time.perf_counter(), time.process_time()
                try:
                    return call()
                finally:
                    feed["cpu"] += time.process_time() - before_cpu
                    feed["wall"] += time.perf_counter() - before

            def __call__(self, frame: Any) -> None:
                self._timed(lambda: sink(frame))

            def keys(self, seqs: Any) -> Any:
                return self._timed(lambda: sink.keys(seqs))

        timed_sink = TimedSink()

        before, before_cpu = time.perf_counter(), time.process_time()
        result = real_read(*call_args, sink=None if sink is None else timed_sink, **kwargs)
        cpu = time.process_time() - before_cpu - feed["cpu"]
        stages.append(
            ("reader (SPEC §1 validation, polars)", cpu, time.perf_counter() - before - feed["wall"])
        )
        feed["read_cpu"], feed["read_wall"] = cpu, time.perf_counter() - before - feed["wall"]
        return result

    restore.append((columnar, "read_invoices", real_read))
    columnar.read_invoices = read_invoices
    real_create = table_module.StreamedTable.create

    def create(self: Any, con: Any) -> None:
        before, before_cpu = time.perf_counter(), time.process_time()
        real_create(self, con)
        # What the table's creation cost beyond the reader: the Arrow stream into DuckDB, deletions.
        cpu = time.process_time() - before_cpu - feed["read_cpu"]
        wall = time.perf_counter() - before - feed["read_wall"]
        stages.append(("feed into DuckDB (Arrow stream, up to 2 M rows a statement)", cpu, wall))

    restore.append((table_module.StreamedTable, "create", real_create))
    table_module.StreamedTable.create = create  # type: ignore[method-assign]
    wrap(duckdb.DuckDbBackend, "run", statement)
    wrap(
        duckdb.DuckDbBackend,
        "fetch",
        lambda _, text: "  fetch: " + _fetched(text),
    )
    wrap(
        duckdb.DuckDbBackend,
        "execute",
        lambda _, tree, **__: f"  statement: {tree.key} {getattr(tree.this, 'name', '')}",
    )
    wrap(run._Run, "_setup", lambda *_, **__: "setup: tariffs, holidays, base table")
    wrap(
        run._Run,
        "_pass",
        lambda _, __, suggested, **___: f"pass over {'suggested codings' if suggested else 'input rows'}",
    )
    wrap(run._Run, "_events", lambda *_, **__: "Python: invoices with findings rebuilt as events")
    wrap(run._Run, "_check_suggestions", lambda *_, **__: "opportunities: suggested codings checked")
    wrap(run._Run, "run", lambda *_, **__: "engine run (all of the above + rendering findings)")
    from billing_rules.reporters import json_report

    wrap(json_report.JsonReporter, "render", lambda *_, **__: "JSON report written")
    out = args.workdir / "why-report.json"
    before, before_cpu = time.perf_counter(), time.process_time()
    try:
        command = ["check", str(path), "--format", "json", "--engine", "duckdb", "--fail-on", "never"]
        code = main([*command, "-o", str(out)], standalone_mode=False)
    except SystemExit as done:
        code = done.code
    finally:
        for owner, name, original in restore:
            setattr(owner, name, original)
    # A stage's wrapper out of step with the engine fails the check: say so, not half a table.
    if code not in (0, None):
        raise RuntimeError(f"the check under measure failed (exit {code})")
    stages.append(
        ("whole check (after imports)", time.process_time() - before_cpu, time.perf_counter() - before)
    )
    label = f"{args.rows:,} factures".replace(",", " ")
    table.append((f"why: stages of check --engine duckdb, {label}", "CPU s / wall s"))
    for name, cpu, wall in stages:
        if wall >= 0.005:
            table.append((f"  {name}", f"{cpu:.2f} / {wall:.2f}"))
    out.unlink(missing_ok=True)
