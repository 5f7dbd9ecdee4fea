"""Clocks and timers."""

from __future__ import annotations

from wit_world.imports import time as host_time
from wit_world.imports import timers as host_timers
from wit_world.imports.types import TimeDomain, Timer

from .frame import NO_TIMESTAMP

__all__ = [
    "TimeDomain",
    "Timer",
    "EVENT_TIME",
    "PROCESSING_TIME",
    "MIN_TIMESTAMP",
    "current_watermark",
    "current_processing_time",
    "now",
    "sleep",
    "register_timer",
    "delete_timer",
]

EVENT_TIME = TimeDomain.EVENT_TIME
PROCESSING_TIME = TimeDomain.PROCESSING_TIME
MIN_TIMESTAMP = NO_TIMESTAMP
"""The minimum timestamp: no watermark yet, or no timestamp."""


def current_watermark() -> int:
    """The subtask's current event-time watermark (:data:`MIN_TIMESTAMP` before the first)."""
    return host_time.current_watermark()


def current_processing_time() -> int:
    """Wall-clock milliseconds since the epoch."""
    return host_time.current_processing_time()


def now(domain: TimeDomain) -> int:
    """The current time in ``domain``: the watermark or the wall clock."""
    return current_watermark() if domain == EVENT_TIME else current_processing_time()


def sleep(millis: int) -> None:
    """Blocks this subtask without counting against the host's per-call time limit."""
    host_time.sleep(millis)


def register_timer(domain: TimeDomain, key: bytes, namespace: bytes, time: int) -> None:
    """Registers a timer for (key, namespace) at ``time`` in ``domain``."""
    if domain == EVENT_TIME:
        host_timers.register_event_time_timer(key, namespace, time)
    else:
        host_timers.register_processing_time_timer(key, namespace, time)


def delete_timer(domain: TimeDomain, key: bytes, namespace: bytes, time: int) -> None:
    """Deletes a timer registered with :func:`register_timer`."""
    if domain == EVENT_TIME:
        host_timers.delete_event_time_timer(key, namespace, time)
    else:
        host_timers.delete_processing_time_timer(key, namespace, time)
