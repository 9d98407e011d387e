"""Split the next batch of a file while the current one is validated: the reader's two stages overlap.

Cutting a file into batches (decoding, counting lines, ``polars.read_csv``) and validating a batch
(mostly polars expressions) each take about half of the columnar reader's time, and much of both
runs in native code that releases the GIL. One thread cuts, the caller validates: on two cores the
two stages overlap. The batches keep their order (one producer, a bounded queue), at most
``depth`` batches wait in memory, and an error of the producer is raised by the caller at the
place it happened, after the batches before it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_DONE = object()


class Prefetched(Generic[T]):
    """An iterator run ahead by one thread; use it as a context manager so the thread always ends.

    Leaving the ``with`` block early (the caller failed, or stopped reading) tells the producer to
    stop at its next batch and waits for it: no thread outlives the reading, and a file the
    producer holds open is closed before the caller goes on (a spooled standard input, say).
    """

    def __init__(self, source: Iterator[T], depth: int = 1) -> None:
        self._source = source
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="billing-rules-reader", daemon=True)

    def __enter__(self) -> Prefetched[T]:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:  # unblock a producer waiting for room in the queue
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]

    def _produce(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the caller, raised there
            self._put(_Failure(error))
            return
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()  # a generator's ``with`` blocks (open files) end in this thread
        self._put(_DONE)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False


class _Failure:
    """An exception raised by the producer, carried to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
