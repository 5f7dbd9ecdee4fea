"""Tumbling windows on keyed state and timers, as Flink's ``TumblingEventTimeWindows`` /
``TumblingProcessingTimeWindows`` with an ``AggregateFunction``.

The state layout is the Rust SDK's (``weir_sdk::window``), so window state moves between Rust
and Python jobs through a savepoint: one value state per helper, keyed by the record's key, the
namespace the window's start as a big-endian ``i64``, the accumulator in the aggregate's
encoding; a timer at the window's last millisecond fires it. Records of a batch are aggregated
locally first, then merged into the host's state once per (key, window). In event time a record
whose window has already fired is late: dropped and counted in ``numLateRecordsDropped``.
"""

from __future__ import annotations

from typing import Callable, Generic, Iterable, NamedTuple, TypeVar

from . import time
from .encoding import I64, Big64, Encoder
from .frame import Record
from .metrics import Counter
from .state import ValueState

__all__ = ["Window", "Aggregate", "Count", "TumblingWindows"]

A = TypeVar("A")


class Window(NamedTuple):
    """A window, ``[start, end)`` in ms."""

    start: int
    end: int

    @property
    def max_timestamp(self) -> int:
        """The last millisecond in the window: its timer's time and its results' timestamp."""
        return self.end - 1


class Aggregate(Generic[A]):
    """An incremental aggregation (Flink's ``AggregateFunction``); ``encoder`` stores the
    accumulator."""

    encoder: Encoder[A]

    def create(self) -> A:
        raise NotImplementedError

    def add(self, acc: A, record: Record) -> A:
        raise NotImplementedError

    def merge(self, into: A, other: A) -> A:
        raise NotImplementedError


class Count(Aggregate[int]):
    """Counts records (an ``i64``, as the Rust SDK's ``Count``)."""

    encoder = I64

    def create(self) -> int:
        return 0

    def add(self, acc: int, record: Record) -> int:
        return acc + 1

    def merge(self, into: int, other: int) -> int:
        return into + other


_MAX_I64 = 2**63 - 1


class TumblingWindows(Generic[A]):
    """Keyed tumbling windows of ``size_ms`` in ``domain`` with an incremental aggregate."""

    def __init__(self, state_name: str, size_ms: int, domain: time.TimeDomain, aggregate: Aggregate[A]) -> None:
        if size_ms <= 0:
            raise ValueError("window size must be positive")
        self._size = size_ms
        self._domain = domain
        self._aggregate = aggregate
        self._state: ValueState[A] = ValueState(state_name, aggregate.encoder)
        self._late = Counter("numLateRecordsDropped")

    def window_of(self, timestamp: int) -> Window:
        """The window holding ``timestamp``."""
        start = timestamp - timestamp % self._size  # Python's % is Euclidean for a positive size
        return Window(start, min(start + self._size, _MAX_I64))

    def add(self, records: Iterable[Record]) -> None:
        """Adds a batch of keyed records to their windows."""
        aggregate = self._aggregate
        size = self._size
        local: dict[tuple[bytes, int], A] = {}
        late = 0
        if self._domain == time.EVENT_TIME:
            watermark = time.current_watermark()
            for record in records:
                ts = record.timestamp
                start = ts - ts % size
                if start + size - 1 <= watermark:
                    late += 1
                    continue
                slot = (record.key, start)
                acc = local.get(slot)
                local[slot] = aggregate.add(aggregate.create() if acc is None else acc, record)
        else:
            start = self.window_of(time.current_processing_time()).start
            for record in records:
                slot = (record.key, start)
                acc = local.get(slot)
                local[slot] = aggregate.add(aggregate.create() if acc is None else acc, record)
        self._late.inc(late)
        for (key, start), acc in local.items():
            namespace = Big64.encode(start)
            stored = self._state.get(key, namespace)
            if stored is None:
                time.register_timer(self._domain, key, namespace, Window(start, min(start + size, _MAX_I64)).max_timestamp)
                merged = acc
            else:
                merged = aggregate.merge(stored, acc)
            self._state.set(key, namespace, merged)

    def fire(self, timers: Iterable[time.Timer], emit: Callable[[bytes, Window, A], None]) -> None:
        """Fires the windows whose timers are in ``timers``, handing each result to ``emit``."""
        for timer in timers:
            if len(timer.namespace) != 8:
                continue  # not one of this helper's timers
            start = Big64.decode(timer.namespace)
            acc = self._state.get(timer.key, timer.namespace)
            if acc is not None:
                self._state.clear(timer.key, timer.namespace)
                emit(timer.key, Window(start, min(start + self._size, _MAX_I64)), acc)
