"""Tell a real Ctrl-C from a ``KeyboardInterrupt`` that third-party code raised itself.

A plugin's rule runs inside the check loop; if it raises ``KeyboardInterrupt`` (or ``SystemExit``),
the check must not stop as if the user had asked for it: only the user decides that. Python turns
SIGINT into ``KeyboardInterrupt`` from its own handler, so the two look the same once raised. The
CLI installs :func:`install`'s handler, which notes that SIGINT really arrived before raising;
:func:`is_real` then tells them apart. Without that handler (a program embedding the library that
keeps Python's default), every ``KeyboardInterrupt`` is taken as real: stopping is the safe side.

The handler also wakes a watch thread, so that native code which hears of signals late (a DuckDB
statement) is stopped at once: see :func:`add_interrupter`.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

_state: dict[str, Any] = {"installed": False, "received": False, "deferring": 0, "pending": False}
_commits: list[str] = []
#: What stops native code at once on a Ctrl-C (a DuckDB connection's ``interrupt``), by token.
_interrupters: dict[int, Callable[[], None]] = {}
_tokens = itertools.count(1)
#: The SIGINT watch of :func:`install`: the wakeup socket pair and the wakeup fd it replaced.
_watch: dict[str, Any] = {}


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _state["received"] = True
    if _state["deferring"]:
        _state["pending"] = True  # raised when the deferred block ends
        return
    raise KeyboardInterrupt


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold a Ctrl-C until the block ends: for a commit and the note that it happened.

    Between a COMMIT that returned and the note saying so, a Ctrl-C would make the program say
    "nothing was recorded" about a ledger that holds the invoices. Inside this block the handler
    only remembers the signal; it is raised as the block ends.
    """
    _state["deferring"] += 1
    try:
        yield
    finally:
        _state["deferring"] -= 1
        if not _state["deferring"] and _state["pending"]:
            _state["pending"] = False
            raise KeyboardInterrupt


def note_commit(what: str) -> None:
    """Record that a write transaction on ``what`` (a ledger's label) committed."""
    if what not in _commits:
        _commits.append(what)


def commits() -> list[str]:
    """What was committed since :func:`install` (for the message of an interrupted command)."""
    return list(_commits)


def install() -> Any:
    """Route SIGINT through the handler that remembers it; returns the handler it replaced.

    Main thread only (elsewhere a no-op returning ``None``). Give the result to :func:`restore`.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        previous = signal.signal(signal.SIGINT, _on_sigint)
    except (ValueError, OSError):  # no signals here (embedded interpreter)
        return None
    _state["installed"] = True
    _state["received"] = False
    _state["pending"] = False
    _commits.clear()
    _start_watch()
    return previous


def restore(previous: Any) -> None:
    """Put back the SIGINT handler :func:`install` replaced."""
    if previous is None:
        return
    try:
        signal.signal(signal.SIGINT, previous)
    except (ValueError, OSError):
        return
    _stop_watch()
    _state["installed"] = False
    _state["received"] = False


def add_interrupter(stop: Callable[[], None]) -> int:
    """Have ``stop`` called, from another thread, the moment a Ctrl-C arrives; a token to remove it.

    Python runs its SIGINT handler on the main thread between two bytecodes, so a long statement
    of native code (DuckDB) hears of a Ctrl-C only if it asks for pending signals. DuckDB asks
    only now and then: a statement of minutes could run to its end before the check stops. The
    watch of :func:`install` sees the signal itself (``signal.set_wakeup_fd``) and calls ``stop``
    (``connection.interrupt()``), so the statement ends at once; the handler then raises as usual.
    Without :func:`install` (a program embedding the library), nothing is watched.
    """
    token = next(_tokens)
    _interrupters[token] = stop
    return token


def remove_interrupter(token: int) -> None:
    """Forget what :func:`add_interrupter` registered under ``token``."""
    _interrupters.pop(token, None)


def _start_watch() -> None:
    """Watch SIGINT from a thread of its own, through the wakeup fd (main thread, CLI only)."""
    if _watch:
        return
    reader, writer = socket.socketpair()
    try:
        writer.setblocking(False)
        previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except (ValueError, OSError):
        reader.close()
        writer.close()
        return
    thread = threading.Thread(target=_watch_sigint, args=(reader,), name="billing-rules-sigint", daemon=True)
    _watch.update(reader=reader, writer=writer, previous=previous, thread=thread)
    thread.start()


def _stop_watch() -> None:
    if not _watch:
        return
    try:
        signal.set_wakeup_fd(_watch["previous"])
    except (ValueError, OSError):  # the fd it replaced is gone: none, rather than a closed socket's
        with contextlib.suppress(ValueError, OSError):
            signal.set_wakeup_fd(-1)
    _watch["writer"].close()  # the reader then reads the end of the stream: the thread returns
    _watch["thread"].join(timeout=5)
    _watch["reader"].close()
    _watch.clear()


def _watch_sigint(reader: socket.socket) -> None:
    """Call the interrupters on each SIGINT (not while a commit holds it back: :func:`deferred`)."""
    while True:
        try:
            data = reader.recv(64)
        except OSError:
            return
        if not data:
            return
        if signal.SIGINT in data and not _state["deferring"]:
            for stop in list(_interrupters.values()):
                with contextlib.suppress(Exception):
                    stop()


def received() -> bool:
    """Whether the user pressed Ctrl-C since :func:`install`."""
    return _state["received"]


def is_real(exc: BaseException) -> bool:
    """Whether ``exc`` must stop the program: a real Ctrl-C, or anything that is not a plugin's doing.

    ``KeyboardInterrupt`` is real when SIGINT was received (or when nobody installed the handler
    that would know). Every other ``BaseException`` that is not an ``Exception`` (``SystemExit``,
    ``GeneratorExit``, a plugin's own subclass) is the plugin's: not real.
    """
    if isinstance(exc, KeyboardInterrupt):
        return _state["received"] or not _state["installed"]
    return False


def reraise_if_real(exc: BaseException) -> None:
    """Re-raise ``exc`` when it is a real Ctrl-C (see :func:`is_real`); otherwise return."""
    if is_real(exc):
        raise exc
