"""Several processes checking and recording into one ledger at once: nothing lost, nothing doubled.

Run on demand::

    python fuzz/concurrent_writers.py --writers 4 --seconds 30 [--batch 200] [--seed N]
    python fuzz/concurrent_writers.py --ledger-url postgresql://user@host/db   # PostgreSQL (emptied first)

Each writer is its own process (like a workstation of the practice) that builds the validator once,
then, until the time is up, writes a billing file and runs what ``check FILE --ledger L --record``
runs (open the ledger, check against its history, record in one transaction, close). A file holds
``--batch`` invoices of the writer's own, plus ``--overlap`` invoices drawn from a small pool shared
by every writer (same practitioner, same invoice ids), each stamped with a version (writer, batch)
in its amount and given random codes and status: the shared ones are re-recorded over and over by
different processes at the same moment. Nobody creates the ledger beforehand: the writers also
race on its creation and schema migration.

Afterwards, with the writers stopped, the ledger is read back and:

- lost: invoices a writer saw committed that the ledger does not hold (must be 0);
- duplicated: keys held twice, counted with SQL (must be 0);
- torn: a shared invoice whose stored status and codes are not those of the version its amount
  names, or code-index rows that do not match the invoices (must be 0);
- failures: recordings that raised, among them "database is locked" (must be 0).

Exit status 1 if any of these is not 0. ``tests/test_faults.py`` runs a short version.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import attrs

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from kill_record import audit, is_postgres  # noqa: E402

SHARED_PRACTITIONER = "99999"
HEADER = "invoice_id;date;time;practitioner_id;patient_id;birth_date;codes;mt_status;status;amount\n"
CODES = ("G", "G+MEG", "VG+MD", "G+MOP", "VL")


def _version_amount(writer: int, batch: int) -> str:
    """The amount that names one version of a shared invoice: writer and batch, exactly."""
    return f"{(writer + 1) * 100_000 + batch}.00"  # below the reader's 1 M€ plausibility bound


def worker(
    writer: int, target: str, start: float, until: float, sizes: tuple[int, int, int], out: Path, seed: int
) -> int:
    """One writer: from ``start``, record files until ``until``; log each committed file as one JSON line."""
    from billing_rules.api.validator import Validator
    from billing_rules.ledger import LedgerError, open_ledger

    rng = random.Random(seed * 1000 + writer)
    validator = Validator.build(entry_points=False)
    workdir = out.parent
    batch, overlap, pool = sizes
    number = 0
    time.sleep(max(0.0, start - time.time()))  # every writer starts recording at the same moment
    with out.open("w", encoding="utf-8") as log:
        while time.time() < until:
            own = [
                (
                    f"W{writer}-{number:05d}-{index:04d}",
                    f"2024-{1 + number % 12:02d}-{1 + index % 28:02d}",
                    f"1000{writer}",
                    f"P{writer}{index % 300:04d}",
                    rng.choice(CODES),
                    "billed",
                    "",
                )
                for index in range(batch)
            ]
            shared = [
                (
                    f"S-{item:04d}",
                    f"2024-06-{1 + item % 28:02d}",
                    SHARED_PRACTITIONER,
                    f"PS{item:04d}",
                    rng.choice(CODES),
                    rng.choice(("billed", "billed", "cancelled")),
                    _version_amount(writer, number),
                )
                for item in sorted(rng.sample(range(pool), overlap))
            ]
            path = workdir / f"poste{writer}-{number:05d}.csv"
            rows = own + shared
            path.write_text(
                HEADER
                + "".join(
                    f"{inv};{date};09:{i % 60:02d};{pract};{patient};1950-01-01;{codes};self;"
                    f"{status};{amount}\n"
                    for i, (inv, date, pract, patient, codes, status, amount) in enumerate(rows)
                ),
                encoding="utf-8",
            )
            started = time.time()
            try:
                ledger = open_ledger(target)
                try:
                    report = validator.check_paths([str(path)], ledger=ledger, record=True)
                finally:
                    ledger.close()
            except LedgerError as exc:
                log.write(json.dumps({"batch": number, "error": str(exc)}) + "\n")
            else:
                if report.input_errors:
                    log.write(
                        json.dumps({"batch": number, "error": f"input errors: {report.input_errors[:1]}"})
                        + "\n"
                    )
                else:
                    log.write(
                        json.dumps(
                            {
                                "batch": number,
                                "own": [[pract, inv] for inv, _, pract, *_ in own],
                                "shared": [
                                    [inv, amount, status, codes]
                                    for inv, _, _, _, codes, status, amount in shared
                                ],
                                "start": started,
                                "end": time.time(),
                            }
                        )
                        + "\n"
                    )
            log.flush()
            path.unlink()
            number += 1
    return 0


@attrs.frozen
class Figures:
    writers: int
    seconds: float
    transactions: int
    own_invoices: int
    shared_rerecords: int
    ledger_rows: int
    lost: int
    duplicated: int
    torn: int
    unexpected: int
    failures: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def locked(self) -> int:
        return sum("locked" in failure or "occupé" in failure for failure in self.failures)

    @property
    def ok(self) -> bool:
        return not (
            self.lost or self.duplicated or self.torn or self.unexpected or self.failures or self.problems
        )

    def lines(self, kind: str) -> list[str]:
        return [
            f"ledger: {kind}; {self.writers} writer processes for {self.seconds:.0f} s",
            f"{self.writers} writers × {self.own_invoices // max(1, self.writers)} own invoices "
            f"= {self.own_invoices} invoices in {self.transactions} recorded files "
            f"(+ {self.shared_rerecords} re-recordings of shared invoices); ledger rows: {self.ledger_rows}",
            f"lost: {self.lost}; duplicated: {self.duplicated}; torn: {self.torn}; "
            f"unexpected: {self.unexpected}",
            f"failed recordings: {len(self.failures)} (database is locked / occupé: {self.locked})",
        ]


def campaign(
    workdir: Path,
    *,
    writers: int = 4,
    seconds: float = 30.0,
    batch: int = 200,
    overlap: int = 20,
    pool: int = 60,
    seed: int = 0,
    target: str | None = None,
) -> Figures:
    """Start the writers, wait for them, audit the ledger (a PostgreSQL ``target`` is emptied first)."""
    target = target or str(workdir / "registre.db")
    if is_postgres(target):
        _drop_ledger_tables(target)
    elif Path(target).exists():
        raise SystemExit(f"{target} exists: the audit needs a ledger that only the writers filled")
    # Processes take a few seconds to start (building the rules); they all begin at the same moment.
    start_at = time.time() + 5.0
    until = start_at + seconds
    logs = []
    processes = []
    for writer in range(writers):
        folder = workdir / f"poste{writer}"
        folder.mkdir()
        log = folder / "journal.jsonl"
        logs.append(log)
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--worker",
                    str(writer),
                    "--ledger-url",
                    target,
                    "--start",
                    repr(start_at),
                    "--until",
                    repr(until),
                    "--batch",
                    str(batch),
                    "--overlap",
                    str(overlap),
                    "--pool",
                    str(pool),
                    "--seed",
                    str(seed),
                    "--log",
                    str(log),
                ],
                stderr=subprocess.PIPE,
            )
        )
    failures: list[str] = []
    for process in processes:
        _, err = process.communicate(timeout=seconds + 600)
        if process.returncode != 0:
            failures.append(f"writer exited {process.returncode}: {err.decode(errors='replace')[-500:]}")
    committed_own: set[tuple[str, str]] = set()
    versions: dict[str, dict[str, tuple[str, str]]] = {}
    transactions = shared_rerecords = 0
    for log in logs:
        for line in log.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if "error" in entry:
                failures.append(entry["error"])
                continue
            transactions += 1
            committed_own.update((pract, inv) for pract, inv in entry["own"])
            for inv, amount, status, codes in entry["shared"]:
                versions.setdefault(inv, {})[amount] = (status, codes)
                shared_rerecords += 1
    result = audit(target)
    held = set(result.rows)
    lost = len(committed_own - held)
    shared_keys = {(SHARED_PRACTITIONER, inv) for inv in versions}
    unexpected = len(held - committed_own - shared_keys)
    torn = 0
    amounts = _shared_amounts(target)
    for (pract, inv), (status, codes) in result.rows.items():
        if pract != SHARED_PRACTITIONER:
            continue
        amount = amounts.get(inv)
        if versions.get(inv, {}).get(amount) != (status, codes):
            torn += 1
    from kill_record import _sql

    ((total, distinct),) = _sql(
        target, ["SELECT count(*), count(DISTINCT practitioner_id || '|' || invoice_id) FROM invoices"]
    )[0]
    duplicated = total - distinct
    return Figures(
        writers=writers,
        seconds=seconds,
        transactions=transactions,
        own_invoices=len(committed_own),
        shared_rerecords=shared_rerecords,
        ledger_rows=len(result.rows),
        lost=lost,
        duplicated=duplicated,
        torn=torn,
        unexpected=unexpected,
        failures=tuple(failures),
        problems=result.problems,
    )


def _drop_ledger_tables(target: str) -> None:
    """Start from nothing: the writers race on creating the schema too."""
    import psycopg

    with psycopg.connect(target, autocommit=True) as connection:
        for table in ("invoice_codes", "invoices", "billing_rules_schema"):
            connection.execute(f"DROP TABLE IF EXISTS {table} CASCADE")


def _shared_amounts(target: str) -> dict[str, str]:
    """The stored amount of each shared invoice, as the version text the writers wrote."""
    from kill_record import _sql

    (rows,) = _sql(
        target, [f"SELECT invoice_id, amount FROM invoices WHERE practitioner_id = '{SHARED_PRACTITIONER}'"]
    )
    return {inv: f"{Decimal(str(amount)):.2f}" for inv, amount in rows if amount is not None}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--batch", type=int, default=200, help="own invoices per recorded file")
    parser.add_argument("--overlap", type=int, default=20, help="shared invoices re-recorded per file")
    parser.add_argument("--pool", type=int, default=60, help="size of the shared pool")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--ledger-url", default=None, help="PostgreSQL database (or SQLite path); default: a temp file"
    )
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--start", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--until", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--log", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    if args.worker is not None:
        sizes = (args.batch, args.overlap, args.pool)
        return worker(args.worker, args.ledger_url, args.start, args.until, sizes, Path(args.log), seed)
    workdir = Path(tempfile.mkdtemp(prefix="concurrent-writers-"))
    try:
        figures = campaign(
            workdir,
            writers=args.writers,
            seconds=args.seconds,
            batch=args.batch,
            overlap=args.overlap,
            pool=args.pool,
            seed=seed,
            target=args.ledger_url,
        )
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    kind = "PostgreSQL" if args.ledger_url and is_postgres(args.ledger_url) else "SQLite (WAL)"
    print(f"seed {seed}")
    for line in figures.lines(kind):
        print(line)
    for failure in figures.failures[:10]:
        print(f"  failure: {failure[:300]}")
    for problem in figures.problems:
        print(f"  problem: {problem}")
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
