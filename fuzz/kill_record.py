"""SIGKILL during ``check --ledger --record``: the ledger is left as before or as after, never between.

Run on demand (about 1.5 s per run on a busy 2-core machine; ``tests/test_faults.py`` runs a few)::

    python fuzz/kill_record.py --runs 200 [--seed N] [--rows 3000] [--focus 0.5]
    python fuzz/kill_record.py --runs 50 --ledger-url postgresql://user@host/db   # PostgreSQL

Each run starts from the same "before" ledger (``--base`` invoices), starts the real command
``billing-rules check FILE --ledger L --record`` as a subprocess and kills it with SIGKILL after a
random delay. The recorded file holds ``--rows`` new invoices and re-records a tenth of the ledger's
invoices with another status and other codes, so "after" differs from "before" by inserts *and*
updates. After each kill the ledger must open cleanly (``open_ledger``, which runs SQLite's WAL
recovery on the ``-wal``/``-shm`` files the killed process left behind) and hold exactly the rows of
"before" or exactly those of "after": compared by count and by a SHA-256 of the sorted
(practitioner_id, invoice_id, status, codes), plus the code index (``invoice_codes``) matching the
invoices and, for SQLite, ``PRAGMA integrity_check``. Every tenth run then records the file again
to completion: the ledger must still work after a kill.

Delays: a calibration run measures the duration ``D`` of a full record and when its write
transaction holds the lock. ``1 - focus`` of the runs draw the delay uniformly in ``[0, D]``
(as the issue asks); a uniform delay mostly kills the process while it starts or checks, so
``focus`` of the runs wait until the write lock is seen, then draw the delay over the measured
length of the transaction (plus a fifth): most of those kills land mid-transaction, some in the
commit or just after it.

Whether a kill landed mid-transaction is observed, not guessed: the process is stopped
(SIGSTOP) at the chosen instant, then the script looks whether it holds the write lock (SQLite: a
POSIX write lock on byte 120 of the ``-shm`` file in ``/proc/locks``; PostgreSQL: its backend has
a transaction id in ``pg_stat_activity``), then sends SIGKILL. Exit status 1 if any run ends
inconsistent.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

HEADER = "invoice_id;date;time;practitioner_id;patient_id;birth_date;codes;mt_status;status\n"
PRACTITIONERS = ("10001", "10002", "10003")

#: (practitioner_id, invoice_id) -> (status, codes): what a ledger holds, as compared here.
Rows = dict[tuple[str, str], tuple[str, str]]


# --------------------------------------------------------------------------------------------------
# Billing files and the states they lead to


@attrs.frozen
class Invoice:
    """One row of a generated billing file."""

    practitioner_id: str
    invoice_id: str
    date: str
    time: str
    patient_id: str
    codes: str
    status: str = "billed"

    def line(self) -> str:
        return (
            f"{self.invoice_id};{self.date};{self.time};{self.practitioner_id};{self.patient_id};"
            f"1950-06-15;{self.codes};self;{self.status}\n"
        )


def base_invoices(count: int) -> list[Invoice]:
    """The "before" ledger: January 2024, three practitioners."""
    return [
        Invoice(
            practitioner_id=PRACTITIONERS[number % 3],
            invoice_id=f"B-{number:06d}",
            date=f"2024-01-{1 + number * 30 // count:02d}",
            time=f"{8 + number % 11:02d}:{number % 60:02d}",
            patient_id=f"P{number % 997:04d}",
            codes="G",
        )
        for number in range(count)
    ]


def recorded_invoices(base: Sequence[Invoice], count: int, rng: random.Random) -> list[Invoice]:
    """The file being recorded: ``count`` new invoices, then a tenth of ``base`` changed."""
    rows = [
        Invoice(
            practitioner_id=PRACTITIONERS[number % 3],
            invoice_id=f"N-{number:06d}",
            date=f"2024-02-{1 + number * 28 // count:02d}",
            time=f"{8 + number % 11:02d}:{number % 60:02d}",
            patient_id=f"P{number % 997:04d}",
            codes=rng.choice(("G", "G+MEG", "VG+MD", "G+MOP")),
        )
        for number in range(count)
    ]
    for invoice in rng.sample(list(base), max(1, len(base) // 10)):
        cancelled = rng.random() < 0.5
        rows.append(
            attrs.evolve(
                invoice,
                codes="VG+MD" if not cancelled else invoice.codes,
                status="cancelled" if cancelled else "billed",
            )
        )
    return rows


def write_csv(path: Path, invoices: Iterable[Invoice]) -> Path:
    path.write_text(HEADER + "".join(invoice.line() for invoice in invoices), encoding="utf-8")
    return path


def rows_of(invoices: Iterable[Invoice], start: Rows | None = None) -> Rows:
    """The ledger's rows after recording ``invoices`` over ``start`` (re-recording replaces)."""
    rows = dict(start or {})
    for invoice in invoices:
        rows[(invoice.practitioner_id, invoice.invoice_id)] = (invoice.status, invoice.codes)
    return rows


def digest(rows: Rows) -> str:
    """SHA-256 of the sorted (practitioner_id, invoice_id, status, codes) lines."""
    text = "\n".join(f"{p}\t{i}\t{s}\t{c}" for (p, i), (s, c) in sorted(rows.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------------
# Reading a ledger back


def is_postgres(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def _sql(target: str, statements: Sequence[str]) -> list[list[tuple[Any, ...]]]:
    """Plain SELECTs on the ledger, without the library (an independent look at the tables)."""
    if is_postgres(target):
        import psycopg

        with psycopg.connect(target, autocommit=True) as connection:
            return [connection.execute(statement).fetchall() for statement in statements]
    connection = sqlite3.connect(target, timeout=60)
    try:
        return [connection.execute(statement).fetchall() for statement in statements]
    finally:
        connection.close()


@attrs.frozen
class Audit:
    """What a ledger holds, and what is wrong in it (empty ``problems``: consistent)."""

    rows: Rows
    problems: tuple[str, ...]

    @property
    def digest(self) -> str:
        return digest(self.rows)


def audit(target: str) -> Audit:
    """Open the ledger with the library (recovery included), then check its tables independently."""
    from billing_rules.ledger import open_ledger

    problems: list[str] = []
    ledger = open_ledger(target, create=False)  # raises LedgerError if it cannot be opened
    try:
        exported = [(event.key, (event.status.value, "+".join(event.codes))) for event in ledger.events()]
    finally:
        ledger.close()
    rows: Rows = dict(exported)
    if len(rows) != len(exported):
        problems.append(f"{len(exported) - len(rows)} facture(s) en double")
    invoices, codes, counted = _sql(
        target,
        [
            "SELECT practitioner_id, invoice_id, status, codes FROM invoices",
            "SELECT practitioner_id, invoice_id, code FROM invoice_codes",
            "SELECT count(*), count(DISTINCT practitioner_id || '|' || invoice_id) FROM invoices",
        ],
    )
    total, distinct = counted[0]
    if total != distinct:
        problems.append(f"{total - distinct} clé(s) (praticien, facture) en double")
    expected_codes = {
        (p, i, code)
        for p, i, status, text in invoices
        if status == "billed"
        for code in text.split("+")
        if code
    }
    found_codes = set(codes)
    if len(found_codes) != len(codes):
        problems.append("lignes d'index de codes en double")
    if found_codes != expected_codes:
        problems.append(
            f"index des codes incohérent : {len(found_codes - expected_codes)} en trop, "
            f"{len(expected_codes - found_codes)} manquantes"
        )
    if not is_postgres(target):
        (check,) = _sql(target, ["PRAGMA integrity_check"])
        if check[0][0] != "ok":
            problems.append(f"integrity_check : {check[0][0]}")
    return Audit(rows=rows, problems=tuple(problems))


# --------------------------------------------------------------------------------------------------
# Is the process inside its write transaction right now?

_WAL_WRITE_LOCK_BYTE = 120
"""SQLite's WAL write lock: byte 120 of the ``-shm`` file (WALINDEX_LOCK_OFFSET + WAL_WRITE_LOCK)."""


def _sqlite_writer(target: str, pid: int) -> bool | None:
    """Whether ``pid`` holds the WAL write lock of ``target`` (``None``: cannot tell here)."""
    try:
        inode = os.stat(f"{target}-shm").st_ino
    except FileNotFoundError:
        return False
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        # "1: POSIX  ADVISORY  WRITE 15281 fe:00:2154819 120 120"
        if len(fields) >= 8 and fields[1] == "POSIX" and fields[3] == "WRITE" and fields[4] == str(pid):
            if fields[5].rsplit(":", 1)[-1] == str(inode) and int(fields[6]) <= _WAL_WRITE_LOCK_BYTE <= (
                int(fields[7]) if fields[7] != "EOF" else 1 << 62
            ):
                return True
    return False


def _socket_ports(pid: int) -> set[int]:
    """Local TCP ports of ``pid``'s sockets (to find its PostgreSQL backend)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _postgres_writer(target: str, pid: int | None) -> bool:
    """Whether a billing-rules backend (``pid``'s, when its port can be found) has a write transaction."""
    ports = _socket_ports(pid) if pid is not None else set()
    condition = "client_port = ANY(%s)" if ports else "application_name = 'billing-rules'"
    import psycopg

    with psycopg.connect(target, autocommit=True, application_name="kill-record-probe") as connection:
        row = connection.execute(
            f"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND {condition} "
            "AND backend_xid IS NOT NULL",
            (list(ports),) if ports else None,
        ).fetchone()
    return bool(row and row[0])


def writer_active(target: str, pid: int | None) -> bool | None:
    """Whether process ``pid`` is inside a write transaction on the ledger (``None``: unknown)."""
    if is_postgres(target):
        return _postgres_writer(target, pid)
    return _sqlite_writer(target, pid) if pid is not None else None


def wait_for_server_rollback(target: str) -> None:
    """PostgreSQL notices a killed client's dropped connection a moment later; wait for it."""
    if not is_postgres(target):
        return
    for _ in range(200):
        if not _postgres_writer(target, None):
            return
        time.sleep(0.05)


# --------------------------------------------------------------------------------------------------
# The campaign


def record_command(csv_path: Path, target: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "billing_rules",
        "check",
        str(csv_path),
        "--ledger",
        target,
        "--record",
        "--fail-on",
        "never",
        "--format",
        "json",
    ]


@attrs.frozen
class Calibration:
    duration: float
    write_start: float | None
    write_end: float | None


@attrs.frozen
class Outcome:
    delay: float
    anchored: bool
    killed: bool
    in_transaction: bool | None
    state: str  # "before", "after", or "incohérent : ..."
    stale_wal: bool  # the killed process left its -wal/-shm files (and their locks died with it)
    reused: bool | None  # a full record after the kill worked (None: not tried)


@attrs.define
class Campaign:
    """One target (a fresh SQLite file per run, or a PostgreSQL database reset per run)."""

    workdir: Path
    target: str
    base: int
    rows: int
    rng: random.Random
    base_rows: Rows = attrs.field(factory=dict)
    after_rows: Rows = attrs.field(factory=dict)
    file: Path = attrs.field(default=Path())
    _template: Path = attrs.field(default=Path())
    #: SIGKILL (kill -9), or SIGINT (Ctrl-C: then the exit code and message must tell the truth).
    signal_number: int = signal.SIGKILL

    def prepare(self) -> None:
        base = base_invoices(self.base)
        changes = recorded_invoices(base, self.rows, self.rng)
        self.base_rows = rows_of(base)
        self.after_rows = rows_of(changes, self.base_rows)
        self.file = write_csv(self.workdir / "jour.csv", changes)
        base_file = write_csv(self.workdir / "historique.csv", base)
        if is_postgres(self.target):
            self._reset_postgres()
            subprocess.run(record_command(base_file, self.target), check=True, capture_output=True)
            self._snapshot_postgres()
        else:
            self._template = self.workdir / "modele.db"
            subprocess.run(record_command(base_file, str(self._template)), check=True, capture_output=True)
            connection = sqlite3.connect(self._template)
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.close()

    def _reset_postgres(self) -> None:
        import psycopg

        with psycopg.connect(self.target, autocommit=True) as connection:
            for table in ("invoice_codes", "invoices", "kill_record_base", "kill_record_base_codes"):
                connection.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
            connection.execute("DROP TABLE IF EXISTS billing_rules_schema")

    def _snapshot_postgres(self) -> None:
        import psycopg

        with psycopg.connect(self.target, autocommit=True) as connection:
            connection.execute("CREATE TABLE kill_record_base AS SELECT * FROM invoices")
            connection.execute("CREATE TABLE kill_record_base_codes AS SELECT * FROM invoice_codes")

    def fresh_ledger(self) -> str:
        """The "before" ledger for one run."""
        if is_postgres(self.target):
            import psycopg

            with psycopg.connect(self.target, autocommit=True) as connection, connection.transaction():
                connection.execute("DELETE FROM invoice_codes")
                connection.execute("DELETE FROM invoices")
                connection.execute("INSERT INTO invoices SELECT * FROM kill_record_base")
                connection.execute("INSERT INTO invoice_codes SELECT * FROM kill_record_base_codes")
            return self.target
        ledger = self.workdir / "registre.db"
        for leftover in (ledger, Path(f"{ledger}-wal"), Path(f"{ledger}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        shutil.copyfile(self._template, ledger)
        os.chmod(ledger, 0o600)
        return str(ledger)

    def calibrate(self, attempts: int = 5) -> Calibration:
        """Full records, polled for their write lock: how long one lasts and when it writes.

        A short write transaction can fall between two polls on a loaded machine: the record is
        then run again (up to ``attempts`` times), so that the kills counted from the write lock
        still happen; the last calibration is kept if the lock was never seen.
        """
        calibration = self._calibrate_once()
        for _ in range(attempts - 1):
            if calibration.write_start is not None:
                break
            calibration = self._calibrate_once()
        return calibration

    def _calibrate_once(self) -> Calibration:
        target = self.fresh_ledger()
        start = time.monotonic()
        process = subprocess.Popen(
            record_command(self.file, target), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        first = last = None
        while process.poll() is None:
            if writer_active(target, process.pid):
                now = time.monotonic() - start
                first = now if first is None else first
                last = now
            time.sleep(0.003)
        duration = time.monotonic() - start
        _, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"calibration: the record failed: {err.decode(errors='replace')}")
        result = audit(target)
        if result.problems or result.digest != digest(self.after_rows):
            raise SystemExit(
                f"calibration: the completed record is not the expected state: {result.problems}"
            )
        return Calibration(duration=duration, write_start=first, write_end=last)

    def run_once(self, delay: float, *, reuse: bool, anchored: bool = False) -> Outcome:
        """One run; ``anchored``: ``delay`` counts from the moment the write lock is first seen."""
        target = self.fresh_ledger()
        process = subprocess.Popen(
            record_command(self.file, target), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        if anchored:
            while process.poll() is None and not writer_active(target, process.pid):
                time.sleep(0.001)
        time.sleep(delay)
        killed = False
        in_transaction: bool | None = None
        if process.poll() is None:
            os.kill(process.pid, signal.SIGSTOP)  # freeze it where it is, look, then kill it there
            in_transaction = writer_active(target, process.pid)
            os.kill(process.pid, self.signal_number)
            if self.signal_number != signal.SIGKILL:
                os.kill(process.pid, signal.SIGCONT)  # the pending SIGINT is delivered now
            killed = True
        _, err = process.communicate()
        if killed and self.signal_number == signal.SIGINT:
            untruthful = self._interrupt_problem(process.returncode, err.decode(errors="replace"), target)
            if untruthful is not None:
                return Outcome(delay, anchored, killed, in_transaction, untruthful, False, None)
        if not killed and process.returncode != 0:
            return Outcome(
                delay,
                anchored,
                False,
                None,
                f"incohérent : échec sans kill : {err.decode()[-300:]}",
                False,
                None,
            )
        stale_wal = killed and not is_postgres(target) and Path(f"{target}-shm").exists()
        wait_for_server_rollback(target)
        state = self._state(target)
        reused = None
        if reuse and not state.startswith("incohérent"):
            done = subprocess.run(record_command(self.file, target), capture_output=True)
            result = audit(target)
            reused = done.returncode == 0 and not result.problems and result.digest == digest(self.after_rows)
        return Outcome(delay, anchored, killed, in_transaction, state, stale_wal, reused)

    def _interrupt_problem(self, code: int, err: str, target: str) -> str | None:
        """What is wrong with how a Ctrl-C'd command ended (exit code, message), or None."""
        state = self._state(target)
        if code == 130:
            if "rien n'a été enregistré" in err and state != "before":
                return f"incohérent : « rien n'a été enregistré » mais état {state}"
            if "déjà enregistré" in err and state != "after":
                return f"incohérent : « déjà enregistré » mais état {state}"
            if "interrompu" not in err:
                return f"incohérent : code 130 sans message : {err[-200:]}"
            return None
        if code in (0, 1):  # it had finished when the signal came: recorded
            return None if state == "after" else f"incohérent : code {code} mais état {state}"
        if code == -signal.SIGINT and state in ("before", "after"):
            # Python's own handler: the signal came while Python started (before the command
            # installed its handler) or after the command had finished and restored it; no message
            # claimed anything, and the shell reports 130 as for any Ctrl-C.
            return None
        return f"incohérent : code {code} après Ctrl-C : {err[-300:]}"

    def _state(self, target: str) -> str:
        try:
            result = audit(target)
        except Exception as exc:  # noqa: BLE001 - any failure to reopen is the finding
            return f"incohérent : ouverture impossible : {exc}"
        if result.problems:
            return "incohérent : " + "; ".join(result.problems)
        if result.digest == digest(self.base_rows):
            return "before"
        if result.digest == digest(self.after_rows):
            return "after"
        return f"incohérent : {len(result.rows)} factures, ni l'état avant ({len(self.base_rows)}) ni après"


@attrs.frozen
class Figures:
    runs: int
    calibration: Calibration
    outcomes: tuple[Outcome, ...]

    @property
    def killed(self) -> int:
        return sum(outcome.killed for outcome in self.outcomes)

    @property
    def mid_transaction(self) -> int:
        return sum(bool(outcome.in_transaction) for outcome in self.outcomes)

    @property
    def inconsistent(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.state not in ("before", "after")]

    @property
    def reuse_failures(self) -> int:
        return sum(outcome.reused is False for outcome in self.outcomes)

    def lines(self, target_kind: str, rows: int, base: int) -> list[str]:
        states = Counter(
            outcome.state if outcome.state in ("before", "after") else "incohérent"
            for outcome in self.outcomes
        )
        mid = [outcome for outcome in self.outcomes if outcome.in_transaction]
        mid_states = Counter(outcome.state for outcome in mid)
        cal = self.calibration
        window = (
            f"{cal.write_start:.2f}–{cal.write_end:.2f} s"
            if cal.write_start is not None and cal.write_end is not None
            else "not observed"
        )
        reused = [outcome for outcome in self.outcomes if outcome.reused is not None]
        before_write = self.killed - self.mid_transaction
        leftovers = sum(outcome.stale_wal for outcome in self.outcomes)
        reused_ok = len(reused) - self.reuse_failures
        uniform = [outcome for outcome in self.outcomes if not outcome.anchored]
        anchored = [outcome for outcome in self.outcomes if outcome.anchored]

        def share(group: list[Outcome]) -> str:
            killed = sum(outcome.killed for outcome in group)
            mid = sum(bool(outcome.in_transaction) for outcome in group)
            return f"{len(group)} runs, {killed} killed, {mid} mid-transaction"

        return [
            f"ledger: {target_kind}; file: {rows} new invoices + {base // 10} re-recorded over {base}",
            f"full record: {cal.duration:.2f} s, write transaction held {window}",
            f"runs: {self.runs}; killed: {self.killed} "
            f"(mid-transaction: {self.mid_transaction}, before the write: {before_write}); "
            f"finished before the kill: {self.runs - self.killed}",
            f"  uniform delay in [0, {cal.duration:.2f} s]: {share(uniform)}",
            f"  delay counted from the write lock: {share(anchored)}",
            f"outcomes: before {states['before']}, after {states['after']}, "
            f"inconsistent {states['incohérent']}",
            f"mid-transaction kills: before {mid_states['before']}, after {mid_states['after']}",
            f"kills leaving -wal/-shm behind, reopened cleanly: {leftovers}",
            f"record again after the kill: {reused_ok}/{len(reused)} complete and exact",
            f"consistent outcomes: {self.runs - len(self.inconsistent)}/{self.runs}",
        ]


def campaign(
    workdir: Path,
    *,
    runs: int,
    rows: int = 3000,
    base: int = 600,
    seed: int = 0,
    focus: float = 0.5,
    target: str | None = None,
    reuse_every: int = 10,
    progress: bool = False,
    signal_number: int = signal.SIGKILL,
) -> Figures:
    """Run the campaign in ``workdir`` (SQLite there, or the PostgreSQL database ``target``)."""
    rng = random.Random(seed)
    job = Campaign(
        workdir=workdir,
        target=target or str(workdir / "registre.db"),
        base=base,
        rows=rows,
        rng=rng,
        signal_number=signal_number,
    )
    job.prepare()
    calibration = job.calibrate()
    outcomes = []
    for number in range(runs):
        anchored = (
            calibration.write_start is not None and calibration.write_end is not None and rng.random() < focus
        )
        if anchored:
            # Timing drifts with the machine's load: count from the observed start of the write
            # instead, over the measured length of the transaction (and a little after it).
            delay = rng.uniform(0.0, 1.2 * (calibration.write_end - calibration.write_start) + 0.01)
        else:
            delay = rng.uniform(0.0, calibration.duration)
        reuse = reuse_every > 0 and (number % reuse_every == reuse_every - 1 or number == runs - 1)
        outcome = job.run_once(delay, reuse=reuse, anchored=anchored)
        outcomes.append(outcome)
        if progress:
            mark = "M" if outcome.in_transaction else ("k" if outcome.killed else ".")
            print(mark if outcome.state in ("before", "after") else "X", end="", flush=True)
            if outcome.state not in ("before", "after"):
                print(f"\nrun {number}: delay {delay:.3f} s: {outcome.state}", flush=True)
    if progress:
        print()
    return Figures(runs=runs, calibration=calibration, outcomes=tuple(outcomes))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rows", type=int, default=3000, help="new invoices in the recorded file")
    parser.add_argument("--base", type=int, default=600, help="invoices in the ledger before the record")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--focus", type=float, default=0.5, help="share of delays drawn in the write window")
    parser.add_argument(
        "--ledger-url", default=None, help="a PostgreSQL database (its ledger tables are reset)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument(
        "--signal",
        choices=("kill", "int"),
        default="kill",
        help="kill: SIGKILL (kill -9); int: SIGINT (Ctrl-C), then exit 130 and its message are checked too",
    )
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    workdir = Path(tempfile.mkdtemp(prefix="kill-record-"))
    started = time.monotonic()
    try:
        figures = campaign(
            workdir,
            runs=args.runs,
            rows=args.rows,
            base=args.base,
            seed=seed,
            focus=args.focus,
            target=args.ledger_url,
            progress=True,
            signal_number=signal.SIGINT if args.signal == "int" else signal.SIGKILL,
        )
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    kind = "PostgreSQL" if args.ledger_url else "SQLite (WAL)"
    print(
        f"seed {seed}; {time.monotonic() - started:.0f} s; delays: median "
        f"{statistics.median(o.delay for o in figures.outcomes):.2f} s"
    )
    for line in figures.lines(kind, args.rows, args.base):
        print(line)
    return 1 if figures.inconsistent or figures.reuse_failures else 0


if __name__ == "__main__":
    sys.exit(main())
