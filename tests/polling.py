"""Waiting for something that happens eventually, with a deadline instead of a sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["stays", "wait_for"]

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T], timeout: float, message: str, *, interval: float = 0.1
) -> T:
    """Call ``predicate`` until it returns something truthy and return that.

    Fails the test with ``message`` and the last result once ``timeout`` seconds
    have passed. Exceptions from ``predicate`` are not swallowed: a predicate that
    expects one (e.g. a 404) catches it itself.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} (not within {timeout:g}s; last result: {result!r})")
        time.sleep(interval)


def stays(
    predicate: Callable[[], object], duration: float, message: str, *, interval: float = 0.2
) -> None:
    """Check ``predicate`` again and again for ``duration`` seconds: it must hold every
    time (for "this must not happen" within a window the system acts in)."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        result = predicate()
        if not result:
            raise AssertionError(f"{message} (broke: {result!r})")
        time.sleep(interval)
