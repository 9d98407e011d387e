"""Ledger benchmark: real-time ``check_one`` latency, ``ledger import`` speed, ``check`` throughput.

    python benchmarks/ledger_latency.py                      # 15 k ledger (3 practitioners, 1 year)
    python benchmarks/ledger_latency.py --size 1000000       # 1 M ledger (40 practitioners, 5 years)
    python benchmarks/ledger_latency.py --size 1000000 --throughput   # + check of a 1 M file
    python benchmarks/ledger_latency.py --ledger postgresql://...     # the same on PostgreSQL

The synthetic practice: ~5,000 invoices per practitioner and year (G, VG+MD, G+SNP, VL+MD, IMT,
G+MOP...), ~1,500 patients per practitioner with ages, ALD and MT status spread like a French
general practice. ``check_one`` is timed on invoices of the same population (so every window query
finds history), in sessions of 30 invoices (a practitioner's day), as practice software calls it.
Figures depend on the machine and its load: report them with ``uptime``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from billing_rules.api.validator import Validator
from billing_rules.ledger import open_ledger
from billing_rules.model import Event, MtStatus, Place

PER_PRACTITIONER_YEAR = 5000
PATIENTS_PER_PRACTITIONER = 1500
CODES = [
    (("G",), Place.CABINET, 70),
    (("VG", "MD"), Place.DOMICILE, 8),
    (("G", "SNP"), Place.CABINET, 4),
    (("VL", "MD"), Place.DOMICILE, 2),
    (("IMT",), Place.CABINET, 1),
    (("G", "MOP"), Place.CABINET, 5),
    (("G", "MEG"), Place.CABINET, 6),
    (("APC",), Place.CABINET, 2),
    (("VSP",), Place.DOMICILE, 1),
    (("TCG",), Place.TELE, 1),
]
COLUMNS = [
    "invoice_id",
    "date",
    "time",
    "practitioner_id",
    "patient_id",
    "birth_date",
    "ald",
    "palliative",
    "mt_status",
    "place",
    "codes",
    "regulated",
]


class Practice:
    """A reproducible synthetic population of practitioners and patients."""

    def __init__(self, practitioners: int, years: int, seed: int = 7) -> None:
        self.random = random.Random(seed)
        self.practitioners = [f"1000{n:07d}" for n in range(practitioners)]
        self.first_year = 2025 - years + 1
        self.years = years
        self.patients: dict[str, list[tuple[str, dt.date, bool, bool, MtStatus]]] = {}
        for practitioner in self.practitioners:
            people = []
            for n in range(PATIENTS_PER_PRACTITIONER):
                age = self.random.choice([3, 25, 40, 55, 68, 75, 82, 88])
                birth = dt.date(self.first_year - age, self.random.randint(1, 12), self.random.randint(1, 28))
                status = self.random.choices(
                    [MtStatus.SELF, MtStatus.OTHER, MtStatus.NONE, MtStatus.UNKNOWN], [60, 20, 15, 5]
                )[0]
                people.append((f"{practitioner}-P{n:05d}", birth, self.random.random() < 0.2, False, status))
            self.patients[practitioner] = people
        self._codes = [item[:2] for item in CODES]
        self._weights = [item[2] for item in CODES]
        self.counter = 0

    def invoice(self, practitioner: str, day: dt.date) -> Event:
        rnd = self.random
        patient_id, birth, ald, palliative, status = rnd.choice(self.patients[practitioner])
        codes, place = rnd.choices(self._codes, self._weights)[0]
        self.counter += 1
        return Event(
            invoice_id=f"F{self.counter:08d}",
            date=day,
            time=dt.time(8 + rnd.randint(0, 10), rnd.choice((0, 15, 30, 45))),
            practitioner_id=practitioner,
            patient_id=patient_id,
            birth_date=birth,
            ald=ald,
            palliative=palliative,
            mt_status=status,
            place=place,
            codes=codes,
            regulated="SNP" in codes,
        )

    def history(self) -> Iterator[Event]:
        """Every invoice of every practitioner and year, by date."""
        for year in range(self.first_year, self.first_year + self.years):
            days = [dt.date(year, 1, 1) + dt.timedelta(days=n) for n in range(365)]
            workdays = [day for day in days if day.weekday() < 5]
            per_day = PER_PRACTITIONER_YEAR / len(workdays)
            for day in workdays:
                for practitioner in self.practitioners:
                    count = int(per_day) + (1 if self.random.random() < per_day % 1 else 0)
                    for _ in range(count):
                        yield self.invoice(practitioner, day)


def write_csv(path: Path, events: Iterator[Event]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(COLUMNS)
        for event in events:
            writer.writerow(
                [
                    event.invoice_id,
                    event.date.isoformat(),
                    event.time.strftime("%H:%M") if event.time else "",
                    event.practitioner_id,
                    event.patient_id,
                    event.birth_date.isoformat(),
                    "1" if event.ald else "0",
                    "1" if event.palliative else "0",
                    event.mt_status.value,
                    event.place.value,
                    "+".join(event.codes),
                    "1" if event.regulated else "0",
                ]
            )
            count += 1
    return count


IMPORT_SAMPLE = 100_000


def timed(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of a child process (CPU shows the cost on a loaded machine)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def rate(rows: int, seconds: float, cpu: float) -> str:
    wall = f"{seconds:.1f} s wall = {rows / seconds:,.0f} rows/s"
    return f"{wall}; {cpu:.1f} s CPU = {rows / max(cpu, 1e-9):,.0f} rows/s per CPU"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=15000, help="about how many invoices in the ledger")
    parser.add_argument(
        "--ledger", default=None, help="ledger path or postgresql:// URL (default: a temp file)"
    )
    parser.add_argument("--checks", type=int, default=3000, help="check_one calls to time")
    parser.add_argument(
        "--throughput", action="store_true", help="also time `check` of a file as big as the ledger"
    )
    args = parser.parse_args()

    if args.size <= 50_000:
        practitioners, years = 3, max(1, round(args.size / (3 * PER_PRACTITIONER_YEAR)))
    else:
        years = 5
        practitioners = max(1, round(args.size / (years * PER_PRACTITIONER_YEAR)))
    practice = Practice(practitioners, years)
    workdir = Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    target = args.ledger or str(workdir / "registre.db")
    print(f"machine: {os.cpu_count()} cpu, load {os.getloadavg()[0]:.1f}; ledger {target.split('@')[-1]}")
    print(f"practice: {practitioners} practitioners x {years} year(s)")

    source = workdir / "history.csv"
    rows = write_csv(source, practice.history())
    if rows <= IMPORT_SAMPLE:
        seconds, cpu = timed(
            [sys.executable, "-m", "billing_rules", "ledger", "import", str(source), "--ledger", target]
        )
        print(f"ledger import: {rows} invoices, {rate(rows, seconds, cpu)} (process, CSV parsing included)")
    else:
        # The CLI import of a sample (its speed per row does not depend on the ledger's size), and
        # the whole history stored through the API (no CSV parsing: the storage alone).
        sample = workdir / "sample.csv"
        with source.open(encoding="utf-8") as whole, sample.open("w", encoding="utf-8") as part:
            for number, line in enumerate(whole):
                if number > IMPORT_SAMPLE:
                    break
                part.write(line)
        sample_target = str(workdir / "sample.db") if args.ledger is None else target
        seconds, cpu = timed(
            [
                sys.executable,
                "-m",
                "billing_rules",
                "ledger",
                "import",
                str(sample),
                "--ledger",
                sample_target,
            ]
        )
        print(
            f"ledger import: {IMPORT_SAMPLE} invoices, {rate(IMPORT_SAMPLE, seconds, cpu)} (CLI, CSV parsing)"
        )
        ledger = open_ledger(target)
        started, cpu_started = time.perf_counter(), time.process_time()
        batch: list[Event] = []
        stored = 0
        for event in Practice(practitioners, years).history():
            batch.append(event)
            if len(batch) == 100_000:
                stored += ledger.record(batch)
                batch = []
        stored += ledger.record(batch)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        print(f"Ledger.record (API, 100k per transaction): {stored} invoices, {rate(stored, seconds, cpu)}")
        ledger.close()

    validator = Validator.build(entry_points=False)
    ledger = open_ledger(target)
    # Invoices of the last year of the ledger (new numbers), so that every window finds history.
    year = practice.first_year + years - 1
    days = [dt.date(year, 1, 1) + dt.timedelta(days=n) for n in range(0, 365)]
    probes = [
        practice.invoice(practice.random.choice(practice.practitioners), practice.random.choice(days))
        for _ in range(args.checks)
    ]
    timings: list[float] = []
    cpu_timings: list[float] = []
    session = validator.session(ledger=ledger)
    for index, event in enumerate(probes):
        if index % 30 == 0:
            session = validator.session(ledger=ledger)  # a new day
        started, cpu_started = time.perf_counter(), time.thread_time()
        session.check_one(event)
        timings.append(time.perf_counter() - started)
        cpu_timings.append(time.thread_time() - cpu_started)
    for label, values in (("wall", timings[50:]), ("cpu", cpu_timings[50:])):  # after warm-up
        print(
            f"check_one ({label}): n={len(values)} p50={percentile(values, 0.5) * 1e3:.3f} ms "
            f"p90={percentile(values, 0.9) * 1e3:.3f} ms p99={percentile(values, 0.99) * 1e3:.3f} ms "
            f"mean={statistics.fmean(values) * 1e3:.3f} ms"
        )
    started = time.perf_counter()
    for event in probes[:500]:
        session.record(event)
    print(f"record (one transaction each): {(time.perf_counter() - started) / 500 * 1e3:.2f} ms per invoice")
    ledger.close()

    if args.throughput:
        day_file = workdir / "input.csv"
        fresh = Practice(practitioners, years, seed=11)
        fresh.counter = 10**8  # other invoice numbers than the ledger's
        count = write_csv(day_file, fresh.history())
        for label, extra in (("without ledger", []), ("with the ledger", ["--ledger", target])):
            command = [sys.executable, "-m", "billing_rules", "check", str(day_file), "--format", "json"]
            seconds, cpu = timed([*command, "--fail-on", "never", *extra])
            print(f"check {count} invoices {label}: {rate(count, seconds, cpu)}")


if __name__ == "__main__":
    main()
