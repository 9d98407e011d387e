"""Ctrl-C while DuckDB runs a statement: the command stops as for any Ctrl-C (exit 130, nothing recorded).

DuckDB catches the signal itself and raises its own error instead of the ``KeyboardInterrupt``
(``RuntimeError: Query interrupted``; ``InterruptException`` when the connection is interrupted;
``InvalidInputException ... failed: KeyboardInterrupt`` when Python code it called back was).
Each test makes sure the interruption lands inside DuckDB: the statements below run for minutes,
and the signal is only sent once the main thread is seen inside the backend's call.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")

from billing_rules import interrupt  # noqa: E402
from billing_rules.cli import main  # noqa: E402
from billing_rules.engines.relational.duckdb import DuckDbBackend, is_interrupt  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

#: Ten billion rows on one thread: far longer than any test waits.
ENDLESS = "SELECT sum(a.range % 7) FROM range(100000) a, range(100000) b"


def _inside(names: tuple[str, ...]) -> bool:
    """Whether the main thread's innermost Python frame is one of the backend's ``names``."""
    frame = sys._current_frames().get(threading.main_thread().ident or 0)
    code = frame.f_code if frame is not None else None
    return code is not None and code.co_name in names and code.co_filename.endswith("duckdb.py")


@contextlib.contextmanager
def _once_inside(names: tuple[str, ...], act: Any) -> Iterator[None]:
    """Run ``act`` once, from a thread, when the main thread is inside DuckDB through ``names``.

    The main thread is then blocked in DuckDB's C code (the frame stays on the call's line for the
    whole statement); the short pause only makes sure the call has been entered.
    """
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if _inside(names):
                time.sleep(0.1)
                act()
                return
            time.sleep(0.002)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@pytest.fixture
def backend() -> Iterator[DuckDbBackend]:
    opened = DuckDbBackend(threads=1)
    yield opened
    opened.close()


def test_an_interrupted_connection_is_a_keyboard_interrupt_and_nothing_else(backend: DuckDbBackend) -> None:
    import duckdb

    with _once_inside(("fetch",), backend.con.interrupt), pytest.raises(KeyboardInterrupt):
        backend.fetch(ENDLESS)
    # Any other error keeps its type: never mistaken for a Ctrl-C.
    with pytest.raises(duckdb.Error) as raised:
        backend.fetch("SELECT * FROM no_such_table")
    assert not is_interrupt(raised.value)
    assert not is_interrupt(RuntimeError("Query interrupted by a plugin"))
    assert not is_interrupt(ValueError("Query interrupted"))


def test_sigint_during_a_statement_is_a_keyboard_interrupt(backend: DuckDbBackend) -> None:
    previous = interrupt.install()
    if previous is None:
        pytest.skip("no signal handler can be installed here")
    try:
        sigint = lambda: os.kill(os.getpid(), signal.SIGINT)  # noqa: E731
        with _once_inside(("run",), sigint), pytest.raises(KeyboardInterrupt) as raised:
            backend.run(f"CREATE TABLE t AS {ENDLESS}")
        assert interrupt.is_real(raised.value)  # the user's Ctrl-C: the CLI exits 130
    finally:
        interrupt.restore(previous)


def test_a_python_callback_interrupted_is_a_keyboard_interrupt(backend: DuckDbBackend) -> None:
    """A Ctrl-C while DuckDB reads a registered Arrow stream's schema (the columnar input)."""

    class Interrupted:
        def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
            raise KeyboardInterrupt

    class Source:
        def create(self, con: Any) -> None:
            con.register("frame_stream", Interrupted())

    with pytest.raises(KeyboardInterrupt):
        backend.load_invoices(Source())


def test_check_interrupted_inside_duckdb_exits_130_and_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole command: Ctrl-C while DuckDB loads the invoices (made endless here)."""
    day = tmp_path / "jour.csv"
    day.write_text(
        "invoice_id;date;practitioner_id;patient_id;birth_date;codes\nF1;2024-02-05;1;P1;1950-01-01;G\n",
        encoding="utf-8",
    )
    ledger = tmp_path / "registre.db"
    real_load = DuckDbBackend.load_invoices
    finished: list[str] = []

    def endless_load(self: DuckDbBackend, source: Any) -> None:
        self.run(f"CREATE TABLE endless AS {ENDLESS}")
        finished.append("endless")  # the Ctrl-C waited for the statement's end (minutes)
        real_load(self, source)

    monkeypatch.setattr(DuckDbBackend, "load_invoices", endless_load)
    sigint = lambda: os.kill(os.getpid(), signal.SIGINT)  # noqa: E731
    args = ["check", str(day), "--engine", "duckdb", "--ledger", str(ledger), "--record", "--format", "json"]
    with _once_inside(("run",), sigint):
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 130, result.output
    assert "interrompu (Ctrl-C) : rien n'a été enregistré" in result.stderr
    assert "erreur interne" not in result.stderr
    assert result.stdout == ""
    # Stopped inside the statement: DuckDB alone looks for signals only now and then, and the
    # command's watch interrupts the connection as the signal arrives (interrupt.add_interrupter).
    assert finished == []
    if ledger.exists():
        with contextlib.closing(sqlite3.connect(ledger)) as db:
            assert db.execute("SELECT count(*) FROM invoices").fetchone() == (0,)


def test_an_interrupt_while_simulate_reads_its_facts_is_a_keyboard_interrupt(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``simulate``'s own queries on the period (absent codes, counts) go through the same translation."""
    import duckdb

    from billing_rules.api import batch_simulation

    def interrupted(self: Any, con: Any) -> None:
        raise duckdb.InterruptException("Interrupted!")

    monkeypatch.setattr(batch_simulation.PeriodTable, "create", interrupted)
    with pytest.raises(KeyboardInterrupt):
        batch_simulation._Facts(str(tmp_path / "period.csv"), dt.date(2026, 1, 1), lambda code: True)


def test_the_watch_ends_with_the_handler() -> None:
    """``restore`` ends the SIGINT watch of ``install``: its thread, and the wakeup fd it took."""
    previous = interrupt.install()
    if previous is None:
        pytest.skip("no signal handler can be installed here")
    try:
        watching = [thread for thread in threading.enumerate() if thread.name == "billing-rules-sigint"]
        assert len(watching) == 1
    finally:
        interrupt.restore(previous)
    watching[0].join(timeout=5)
    assert not watching[0].is_alive()
    assert signal.set_wakeup_fd(-1) == -1  # nothing left writing to a closed socket


def test_interrupters_are_called_on_sigint_only_while_registered() -> None:
    """The watch calls what is registered, from its thread, for each Ctrl-C; nothing once removed."""
    stopped, seen = threading.Event(), threading.Event()
    previous = interrupt.install()
    if previous is None:
        pytest.skip("no signal handler can be installed here")
    try:
        token = interrupt.add_interrupter(stopped.set)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(30)  # the handler raises here
        assert stopped.wait(timeout=60)
        interrupt.remove_interrupter(token)
        stopped.clear()
        probe = interrupt.add_interrupter(seen.set)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(30)
        assert seen.wait(timeout=60)  # the watch has handled the second Ctrl-C...
        interrupt.remove_interrupter(probe)
    finally:
        interrupt.restore(previous)
    assert not stopped.is_set()  # ...without calling what was removed


def test_the_watch_leaves_no_closed_fd_when_the_one_it_replaced_is_gone() -> None:
    """A wakeup fd closed while the command ran is not put back: signals then write nowhere."""
    before, other_end = socket.socketpair()
    before.setblocking(False)
    earlier = signal.set_wakeup_fd(before.fileno(), warn_on_full_buffer=False)
    try:
        previous = interrupt.install()
        if previous is None:
            pytest.skip("no signal handler can be installed here")
        before.close()  # its owner closed it meanwhile
        interrupt.restore(previous)
        assert signal.set_wakeup_fd(-1) == -1
    finally:
        before.close()
        other_end.close()
        signal.set_wakeup_fd(earlier)
