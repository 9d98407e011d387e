"""The columnar reader's prefetching thread: order, errors where they happened, no thread left behind."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from billing_rules.readers.columnar.prefetch import Prefetched


def _threads() -> set[str]:
    return {thread.name for thread in threading.enumerate()}


def test_items_come_in_order() -> None:
    with Prefetched(iter(range(1000)), depth=2) as items:
        assert list(items) == list(range(1000))
    assert "billing-rules-reader" not in _threads()


def test_error_is_raised_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("fichier illisible")

    seen: list[int] = []
    with pytest.raises(ValueError, match="fichier illisible"), Prefetched(source()) as items:
        for item in items:
            seen.append(item)
    assert seen == [1, 2]


def test_stopping_early_closes_the_source_and_ends_the_thread() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            yield from range(10_000)
        finally:
            closed.set()

    with Prefetched(source()) as items:
        for item in items:
            if item == 3:
                break
    assert closed.is_set()
    assert "billing-rules-reader" not in _threads()


def test_a_failure_of_the_consumer_ends_the_thread() -> None:
    def source() -> Iterator[int]:
        yield from range(100)

    with pytest.raises(RuntimeError), Prefetched(source()) as items:
        for _ in items:
            raise RuntimeError("échec de la validation")
    assert "billing-rules-reader" not in _threads()


def test_keyboard_interrupt_of_the_source_reaches_the_caller() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), Prefetched(source()) as items:
        list(items)
