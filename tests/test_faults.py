"""Faults around the ledger (issue 7): kills, full disks, read-only files, locks, hostile ids.

The long campaigns are ``fuzz/kill_record.py`` and ``fuzz/concurrent_writers.py``; the two tests
here run them with a small budget. The others put a real ``billing-rules`` process in front of a
fault and check three things: one clear French line on stderr, exit 2, and a ledger left exactly as
it was (same rows, same checksum, code index consistent).

Simulating faults needs root for two of them: a full disk is a tiny ``tmpfs`` (falling back to
``RLIMIT_FSIZE`` where mounting is not allowed), and a read-only file only stops a process that
lacks ``CAP_DAC_OVERRIDE`` (root's processes run here with that capability dropped from their
bounding set; ``nobody`` could not run the interpreter installed under ``/root``).
"""

from __future__ import annotations

import ast
import contextlib
import csv
import importlib.util
import io
import json
import logging
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

import billing_rules
import billing_rules.ledger.sqlite as sqlite_ledger
from billing_rules.cli import main

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="signals, /proc/locks and mounts are Linux's")


def _load(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    fuzz = str(ROOT / "fuzz")
    if fuzz not in sys.path:
        sys.path.insert(0, fuzz)  # concurrent_writers imports kill_record
    spec = importlib.util.spec_from_file_location(name, ROOT / "fuzz" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


kill_record = _load("kill_record")
concurrent_writers = _load("concurrent_writers")


def _cli(*args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    """``billing-rules ARGS`` in a new interpreter, which first runs the Python of ``prelude``.

    Not a ``preexec_fn``: Python run in the forked copy of this process (which holds gRPC's
    threads once the Spark Connect tests have run) wrote gRPC log lines into the child's stderr.
    """
    launch = f"{prelude}\nimport runpy, sys\nsys.argv = ['billing-rules', *sys.argv[1:]]\n"
    launch += "runpy.run_module('billing_rules', run_name='__main__')\n"
    return subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", launch, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _record(billing_file: Path, ledger: Path | str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    return _cli(
        "check",
        str(billing_file),
        "--ledger",
        str(ledger),
        "--record",
        "--fail-on",
        "never",
        "--format",
        "json",
        prelude=prelude,
    )


def _assert_clear_failure(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 2, no report, one French line naming the problem, no traceback."""
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("billing-rules : erreur : ")
    assert "Traceback" not in result.stderr
    assert any(word in lines[0] for word in words), lines[0]


def _files(tmp_path: Path, base: int = 60, rows: int = 4000) -> tuple[Path, Path, dict, dict]:
    """A small "before" file and a big file to record over it, and the rows each state holds."""
    import random

    history = kill_record.base_invoices(base)
    day = kill_record.recorded_invoices(history, rows, random.Random(7))
    before = kill_record.rows_of(history)
    after = kill_record.rows_of(day, before)
    return (
        kill_record.write_csv(tmp_path / "historique.csv", history),
        kill_record.write_csv(tmp_path / "jour.csv", day),
        before,
        after,
    )


def _assert_state(ledger: Path | str, rows: dict) -> None:
    audit = kill_record.audit(str(ledger))
    assert audit.problems == ()
    assert audit.digest == kill_record.digest(rows)


# --------------------------------------------------------------------------------------------------
# SIGKILL at random points, concurrent writers (the campaigns, small budgets)


@pytest.mark.slow
def test_sigkill_at_random_points_leaves_before_or_after(ledger_target: str, tmp_path: Path) -> None:
    """``fuzz/kill_record.py`` with 3 runs (the campaign runs 200): one kill at a uniform random
    delay, two counted from the moment the write lock is seen (mid-transaction or in the commit)."""
    postgres = kill_record.is_postgres(ledger_target)
    figures = kill_record.campaign(
        tmp_path,
        runs=3,
        rows=1000,
        base=150,
        seed=11,
        focus=0.67,
        target=ledger_target if postgres else None,
        reuse_every=3,
    )
    print("\n".join(figures.lines("PostgreSQL" if postgres else "SQLite", 1000, 150)))
    assert [outcome.anchored for outcome in figures.outcomes].count(True) == 2  # fixed by the seed
    assert [outcome.state for outcome in figures.inconsistent] == []
    assert figures.reuse_failures == 0
    assert sum(outcome.reused is not None for outcome in figures.outcomes) == 1


@pytest.mark.slow
def test_four_writers_lose_nothing_and_double_nothing(ledger_target: str, tmp_path: Path) -> None:
    figures = concurrent_writers.campaign(
        tmp_path, writers=4, seconds=4, batch=100, overlap=10, pool=30, seed=5, target=ledger_target
    )
    print("\n".join(figures.lines("PostgreSQL" if kill_record.is_postgres(ledger_target) else "SQLite")))
    assert figures.failures == ()
    assert figures.transactions >= 4  # every writer recorded at least one file
    assert (figures.lost, figures.duplicated, figures.torn, figures.unexpected) == (0, 0, 0, 0)
    assert figures.problems == ()


# --------------------------------------------------------------------------------------------------
# Full disk


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[bool]:
    """A tiny tmpfs at ``path``; yields False when this machine does not let us mount one."""
    path.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        yield False
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        yield False
        return
    try:
        yield True
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(folder: Path) -> Path:
    """Fill the filesystem of ``folder`` to the last byte."""
    filler = folder / "remplissage"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def _file_size_limit(limit: int) -> str:
    """A prelude: files may not grow past ``limit`` bytes (a write past it fails with EFBIG)."""
    return (
        "import resource, signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
    )


@pytest.mark.slow
@pytest.mark.parametrize("how", ["tmpfs", "rlimit"])
def test_full_disk_is_a_clear_error_and_changes_nothing(tmp_path: Path, how: str) -> None:
    history, day, before, _ = _files(tmp_path)
    with _tmpfs(tmp_path / "petit-disque", "320k") as mounted:
        if how == "tmpfs" and not mounted:
            pytest.skip("cannot mount a tmpfs here (needs root); the rlimit variant covers a full disk")
        folder = tmp_path / "petit-disque"
        ledger = folder / "registre.db"
        assert _record(history, ledger).returncode == 0
        if how == "tmpfs":
            filler = _fill(folder)
            result = _record(day, ledger)
            # And a new ledger on the full disk: the same error, and no empty file left behind.
            fresh = _record(history, folder / "nouveau.db")
            _assert_clear_failure(fresh, "disque plein", "entrée-sortie")
            assert not (folder / "nouveau.db").exists()
            filler.unlink()
        else:
            result = _record(day, ledger, prelude=_file_size_limit(ledger.stat().st_size + 8192))
        _assert_clear_failure(result, "disque plein", "entrée-sortie")
        _assert_state(ledger, before)
        # Still a working ledger: re-recording its own invoices succeeds and changes nothing.
        assert _record(history, ledger).returncode == 0
        _assert_state(ledger, before)


# --------------------------------------------------------------------------------------------------
# Read-only ledger

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER = 1, 2, 3


def _without_root_powers() -> str | None:
    """A prelude after which file permissions apply to the command, or None if impossible.

    Root keeps its uid (the interpreter lives under ``/root``) but drops, from the bounding set, the
    capabilities that bypass permissions, then executes the command afresh: it never has them.
    """
    if os.geteuid() != 0:
        return ""
    capabilities = (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER)
    prelude = (
        "import ctypes, os, sys\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"for capability in {capabilities}:\n"
        f"    if libc.prctl({_PR_CAPBSET_DROP}, capability, 0, 0, 0) != 0:\n"
        "        sys.exit('prctl(PR_CAPBSET_DROP): ' + os.strerror(ctypes.get_errno()))\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'billing_rules', *sys.argv[1:]])\n"
    )
    probe = _cli("--version", prelude=prelude)
    return prelude if probe.returncode == 0 else None


@pytest.fixture
def unprivileged() -> str:
    prelude = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        prelude = _without_root_powers()
    if prelude is None:
        pytest.skip("root without CAP_SETPCAP: cannot run a child that obeys file permissions")
    return prelude


def _checkpointed(ledger: Path) -> None:
    """Fold the WAL into the file, as a cleanly closed ledger is: no -wal or -shm left."""
    connection = sqlite3.connect(ledger)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{ledger}{suffix}").unlink()


@pytest.mark.slow
def test_read_only_ledger_file(tmp_path: Path, unprivileged: str) -> None:
    history, day, before, _ = _files(tmp_path, rows=300)
    ledger = tmp_path / "registre.db"
    assert _record(history, ledger).returncode == 0
    _checkpointed(ledger)
    ledger.chmod(0o400)
    try:
        result = _record(day, ledger, prelude=unprivileged)
        _assert_clear_failure(result, "lecture seule")
        # Checking against a read-only ledger, without recording, still works.
        checked = _cli("check", str(day), "--ledger", str(ledger), "--format", "json", prelude=unprivileged)
        assert checked.returncode == 1, checked.stderr
        assert json.loads(checked.stdout)["summary"]["events"] == len(day.read_text().splitlines()) - 1
    finally:
        ledger.chmod(0o600)
    _assert_state(ledger, before)


@pytest.mark.slow
def test_ledger_in_a_read_only_folder(tmp_path: Path, unprivileged: str) -> None:
    history, day, before, _ = _files(tmp_path, rows=300)
    folder = tmp_path / "lecture-seule"
    folder.mkdir()
    ledger = folder / "registre.db"
    assert _record(history, ledger).returncode == 0
    _checkpointed(ledger)
    folder.chmod(0o555)
    try:
        result = _record(day, ledger, prelude=unprivileged)
        _assert_clear_failure(result, "lecture seule", "impossible d'ouvrir", "droits")
        created = _record(history, folder / "nouveau.db", prelude=unprivileged)
        _assert_clear_failure(created, "accès refusé")
    finally:
        folder.chmod(0o755)
    assert not (folder / "nouveau.db").exists()
    _assert_state(ledger, before)


@pytest.mark.slow
def test_ledger_on_a_read_only_filesystem(tmp_path: Path) -> None:
    history, day, before, _ = _files(tmp_path, rows=300)
    folder = tmp_path / "disque"
    with _tmpfs(folder, "4m") as mounted:
        if not mounted:
            pytest.skip("cannot mount a tmpfs here (needs root)")
        ledger = folder / "registre.db"
        assert _record(history, ledger).returncode == 0
        _checkpointed(ledger)
        remount = subprocess.run(["mount", "-o", "remount,ro", str(folder)], capture_output=True)
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only: {remount.stderr.decode().strip()}")
        result = _record(day, ledger)
        _assert_clear_failure(result, "lecture seule", "impossible d'ouvrir", "droits")
        subprocess.run(["mount", "-o", "remount,rw", str(folder)], check=True, capture_output=True)
        _assert_state(ledger, before)


# --------------------------------------------------------------------------------------------------
# Stale locks

_HOLDER = r"""
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
connection.execute("PRAGMA cache_size = 1")  # uncommitted pages go to the WAL at once
connection.execute("BEGIN IMMEDIATE")
for number in range(int(sys.argv[2])):
    connection.execute(
        "INSERT INTO invoices (practitioner_id, invoice_id, date, specialty, sector, patient_id, birth_date,"
        " ald, palliative, neurodegenerative, mt_status, declares_mt, place, homebound, codes, regulated,"
        " status, recorded_at) VALUES ('77777', ?, '2024-03-01', 'MG', '1', 'PX', '1950-01-01', 0, 0, 0,"
        " 'self', 0, 'cabinet', 0, 'G', 0, 'billed', 'x')",
        (f"X-{number:05d}",),
    )
    connection.execute(
        "INSERT INTO invoice_codes (practitioner_id, invoice_id, code, patient_id, date)"
        " VALUES ('77777', ?, 'G', 'PX', '2024-03-01')",
        (f"X-{number:05d}",),
    )
print("prêt", flush=True)
command = sys.stdin.readline().strip()
connection.execute(command)
print("fini", flush=True)
sys.stdin.readline()
"""


@contextlib.contextmanager
def _holder(ledger: Path, rows: int) -> Iterator[subprocess.Popen[str]]:
    """Another process inside a write transaction on ``ledger`` (its uncommitted rows in the WAL)."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(ledger), str(rows)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "prêt"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.mark.slow
def test_leftover_wal_of_a_killed_writer_is_recovered(tmp_path: Path) -> None:
    history, day, before, after = _files(tmp_path, rows=300)
    ledger = tmp_path / "registre.db"
    assert _record(history, ledger).returncode == 0
    with _holder(ledger, 2000) as holder:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    wal = Path(f"{ledger}-wal")
    assert wal.exists() and wal.stat().st_size > 0, "the killed writer left uncommitted frames behind"
    assert Path(f"{ledger}-shm").exists()
    result = _record(day, ledger)
    assert result.returncode == 0, result.stderr
    _assert_state(ledger, after)  # the killed writer's rows are gone, the new file is there


@pytest.mark.slow
def test_a_writer_holding_the_lock_makes_the_other_wait_then_fail_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history, day, before, _ = _files(tmp_path, rows=50)
    ledger = tmp_path / "registre.db"
    assert _record(history, ledger).returncode == 0
    monkeypatch.setattr(sqlite_ledger, "BUSY_TIMEOUT_SECONDS", 1.0)
    with _holder(ledger, 5) as holder:
        result = CliRunner().invoke(
            main, ["check", str(day), "--ledger", str(ledger), "--record", "--format", "json"]
        )
        assert result.exit_code == 2, result.output
        assert "occupé par un autre poste" in result.stderr
        assert result.stdout == ""
        assert holder.stdin is not None
        holder.stdin.write("ROLLBACK\n")
        holder.stdin.flush()
    _assert_state(ledger, before)


@pytest.mark.slow
def test_a_writer_waits_for_the_lock_and_records_once_released(tmp_path: Path) -> None:
    history, day, _, after = _files(tmp_path, rows=50)
    ledger = tmp_path / "registre.db"
    assert _record(history, ledger).returncode == 0
    with _holder(ledger, 3) as holder:
        waiting = subprocess.Popen(
            [sys.executable, "-m", "billing_rules", "check", str(day), "--ledger", str(ledger), "--record"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Let it reach its recording (it blocks on the lock) before the holder commits.
        for _ in range(600):
            if waiting.poll() is not None or _holds_a_lock(waiting.pid, ledger):
                break
            time.sleep(0.05)
        time.sleep(1.0)
        assert waiting.poll() is None, "the recording did not wait for the lock"
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.write("COMMIT\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "fini"
        _, err = waiting.communicate(timeout=120)
        assert waiting.returncode == 1, err  # findings (warnings, opportunities...), nothing failed
        assert "enregistrées" in err
    committed = {("77777", f"X-{number:05d}"): ("billed", "G") for number in range(3)}
    _assert_state(ledger, {**after, **committed})


def _holds_a_lock(pid: int, ledger: Path) -> bool:
    """Whether ``pid`` has the ledger open (any POSIX lock on its ``-shm``)."""
    try:
        inode = str(os.stat(f"{ledger}-shm").st_ino)
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return False
    return any(
        line.split()[4] == str(pid) and line.split()[5].endswith(f":{inode}")
        for line in lines
        if len(line.split()) > 5
    )


# --------------------------------------------------------------------------------------------------
# Creation: owner-only, and a clear error for a missing folder (through the command line)


def test_cli_creates_the_ledger_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    history, _, before, _ = _files(tmp_path, base=5, rows=1)
    ledger = tmp_path / "registre.db"
    old = os.umask(0)
    try:
        result = CliRunner().invoke(main, ["check", str(history), "--ledger", str(ledger), "--record"])
    finally:
        os.umask(old)
    assert result.exit_code in (0, 1), result.output
    assert stat.S_IMODE(ledger.stat().st_mode) == 0o600
    _assert_state(ledger, before)
    missing = tmp_path / "absent" / "registre.db"
    result = CliRunner().invoke(main, ["check", str(history), "--ledger", str(missing), "--record"])
    assert result.exit_code == 2
    assert "dossier introuvable" in result.stderr
    assert "Traceback" not in result.output
    assert not missing.parent.exists()


# --------------------------------------------------------------------------------------------------
# Security: no code execution in the package; hostile patient ids never logged, always escaped

HOSTILE_IDS = (
    "<script>alert('x')</script>",
    "=cmd|' /C calc'!A0",
    "P" * 10240 + "-fin",
)


def test_no_eval_or_exec_anywhere_in_the_package() -> None:
    """Rule files are data: nothing in the package evaluates text as code."""
    forbidden = {"eval", "exec", "compile", "__import__", "execfile"}
    found = []
    for path in Path(billing_rules.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in forbidden:
                found.append(f"{path.name}:{node.lineno} {node.func.id}")
    assert found == []


def _hostile_file(path: Path) -> Path:
    header = "invoice_id;date;time;practitioner_id;patient_id;birth_date;codes;mt_status;ald;amount\n"
    rows = []
    for number, patient in enumerate(HOSTILE_IDS):
        rows += [
            f"H{number}-1;2026-01-05;09:00;10001;{patient};1950-01-01;IMT;none;1;60\n",
            f"H{number}-2;2026-01-06;09:00;10001;{patient};1950-01-01;IMT;self;1;60\n",  # IMT-ONCE, IMT-MT
            f"H{number}-3;2026-01-07;09:00;10001;{patient};1950-13-01;G;self;0;30\n",  # bad birth date
            f"H{number}-3;2026-01-07;09:00;10001;{patient};1950-01-01;G;self;0;30\n",  # duplicate invoice
        ]
    path.write_text(header + "".join(rows), encoding="utf-8")
    return path


def _assert_no_patient(text: str) -> None:
    for patient in HOSTILE_IDS:
        assert patient[:40] not in text


@pytest.mark.slow
def test_hostile_patient_ids_stay_out_of_stderr_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    day = _hostile_file(tmp_path / "jour.csv")
    ledger = tmp_path / "registre.db"
    # A real process first: stderr is everything a user or a log collector sees.
    result = _record(day, ledger)
    assert result.returncode == 0, result.stderr
    _assert_no_patient(result.stderr)
    report = json.loads(result.stdout)
    assert {f["patient_id"] for f in report["findings"]} == set(HOSTILE_IDS)  # the report does name them
    assert {f["rule"] for f in report["findings"]} >= {"IMT-ONCE"}
    _assert_no_patient(json.dumps(report["input_errors"], ensure_ascii=False))
    # Then in-process, every logger at DEBUG, each report format, the ledger holding the patients.
    with caplog.at_level(logging.DEBUG):
        outputs = {}
        for fmt in ("text", "json", "csv", "html"):
            run = CliRunner().invoke(main, ["check", str(day), "--ledger", str(ledger), "--format", fmt])
            assert run.exit_code == 1, run.output
            _assert_no_patient(run.stderr)
            outputs[fmt] = run.stdout
    assert all(not any(p[:40] in record.getMessage() for p in HOSTILE_IDS) for record in caplog.records)
    html = outputs["html"]
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(" in html
    cells = [
        cell
        for row in csv.reader(io.StringIO(outputs["csv"].lstrip("\ufeff")), delimiter=";")
        for cell in row
    ]
    assert "'=cmd|' /C calc'!A0" in cells
    assert all(
        not cell.startswith(("=", "+", "@", "-"))
        for cell in cells
        if not cell.lstrip("-").replace(",", "").isdigit()
    )


# --------------------------------------------------------------------------------------------------
# PostgreSQL races found by fuzz/concurrent_writers.py (regression tests, deterministic)


def _wait_for_lock_wait(dsn: str) -> None:
    """Until a billing-rules backend of this database waits on a lock held by the test."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as probe:
        for _ in range(600):
            row = probe.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = 'billing-rules' AND wait_event_type = 'Lock'"
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.05)
    raise AssertionError("the recording never waited for the other transaction")


def _shared_invoice(codes: str) -> object:
    from billing_rules.api.validator import Validator

    return Validator.invoice(
        {
            "invoice_id": "S-1",
            "date": "2024-06-03",
            "practitioner_id": "99999",
            "patient_id": "PS",
            "birth_date": "1950-01-01",
            "codes": codes,
        }
    )


@pytest.mark.postgres
def test_postgres_rerecording_during_another_one_keeps_only_the_last_codes(postgres_schema: str) -> None:
    """Two workstations re-record one invoice at once: the code index must be the last version's.

    Deleting the code rows before the upsert missed the rows the other transaction inserted
    meanwhile (READ COMMITTED): the invoice then counted for codes it no longer had.
    """
    import threading

    import psycopg

    from billing_rules.ledger import open_ledger

    ledger = open_ledger(postgres_schema)
    ledger.record([_shared_invoice("G")])  # type: ignore[list-item]
    other = psycopg.connect(postgres_schema)  # its own transaction, left open below
    other.execute("DELETE FROM invoice_codes WHERE invoice_id = 'S-1'")
    other.execute("UPDATE invoices SET codes = 'VG+MD' WHERE invoice_id = 'S-1'")
    other.execute(
        "INSERT INTO invoice_codes (practitioner_id, invoice_id, code, patient_id, date) VALUES "
        "('99999', 'S-1', 'VG', 'PS', '2024-06-03'), ('99999', 'S-1', 'MD', 'PS', '2024-06-03')"
    )
    failures: list[BaseException] = []

    def record() -> None:
        try:
            ledger.record([_shared_invoice("VL")])  # type: ignore[list-item]
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    thread = threading.Thread(target=record)
    thread.start()
    try:
        _wait_for_lock_wait(postgres_schema)
    finally:
        other.commit()
        other.close()
        thread.join(60)
    assert failures == []
    with psycopg.connect(postgres_schema) as connection:
        codes = connection.execute("SELECT code FROM invoice_codes WHERE invoice_id = 'S-1'").fetchall()
        stored = connection.execute("SELECT codes FROM invoices WHERE invoice_id = 'S-1'").fetchone()
    assert stored == ("VL",)
    assert codes == [("VL",)]
    ledger.close()


@pytest.mark.postgres
def test_postgres_ledger_opened_while_another_workstation_creates_it(postgres_schema: str) -> None:
    """A workstation waiting for the migration lock sees the tables the other one just created.

    ``to_regclass`` answered from a stale catalog cache after the wait, so the second workstation
    created the tables again and failed with "relation ... already exists".
    """
    import threading

    import psycopg

    from billing_rules.ledger import open_ledger
    from billing_rules.ledger import postgres as postgres_ledger
    from billing_rules.ledger.schema import LATEST, POSTGRES, SCHEMA_TABLE

    first = psycopg.connect(postgres_schema)  # its own transaction, like the other workstation's
    first.execute("SELECT pg_advisory_xact_lock(%s)", (postgres_ledger._LOCK_KEY,))
    for number in range(1, LATEST + 1):
        for statement in POSTGRES[number]:
            first.execute(statement)
        first.execute(f"INSERT INTO {SCHEMA_TABLE} (version, applied_at) VALUES (%s, now())", (number,))
    opened: list[object] = []

    def open_it() -> None:
        try:
            opened.append(open_ledger(postgres_schema))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            opened.append(exc)

    thread = threading.Thread(target=open_it)
    thread.start()
    try:
        _wait_for_lock_wait(postgres_schema)
    finally:
        first.commit()
        first.close()
        thread.join(60)
    (ledger,) = opened
    assert not isinstance(ledger, BaseException), ledger
    assert ledger.schema_version == LATEST  # type: ignore[attr-defined]
    ledger.close()  # type: ignore[attr-defined]
