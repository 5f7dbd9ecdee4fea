"""Metrics and logging, reported under the operator's metric group and tagged with the
operator and subtask by the host."""

from __future__ import annotations

from typing import Callable, Optional

from wit_world.imports import logging as host_logging
from wit_world.imports import metrics as host

from . import time

__all__ = ["Counter", "Gauge", "Level", "log", "RateLimitedLog"]

Level = host_logging.Level


class Counter:
    """A monotonically increasing count."""

    def __init__(self, name: str) -> None:
        self._handle = host.Counter(name)

    def inc(self, n: int = 1) -> None:
        if n > 0:
            self._handle.inc(n)


class Gauge:
    """A value that goes up and down."""

    def __init__(self, name: str) -> None:
        self._handle = host.Gauge(name)

    def set(self, value: float) -> None:
        self._handle.set(float(value))


def log(level: Level, message: str) -> None:
    """Writes to the host's log."""
    host_logging.log(level, message)


class RateLimitedLog:
    """Logs at most one message per interval (plus how many were suppressed), so that a flood
    of bad input cannot flood the log."""

    def __init__(self, interval_ms: int) -> None:
        self._interval_ms = interval_ms
        self._last: Optional[int] = None
        self._suppressed = 0

    def log(self, level: Level, message: Callable[[], str]) -> None:
        """Logs ``message()`` unless a message was logged less than the interval ago."""
        now = time.current_processing_time()
        if self._last is not None and now - self._last < self._interval_ms:
            self._suppressed += 1
            return
        text = message()
        if self._suppressed:
            text += f" ({self._suppressed} similar messages suppressed)"
        log(level, text)
        self._last = now
        self._suppressed = 0
