"""The typed job API in Python: the Rust SDK's ``weir_sdk::stream`` (docs/JOBS.md), in the
spirit of Flink's DataStream API.

A job describes its pipeline once, in :meth:`StreamJob.build`; the SDK turns it into the job
graph (``plan``) and, in every subtask, into the operator the subtask runs (``open``)::

    class WordCount(StreamJob):
        def build(self, env, args):
            env.set_job_name("WordCount")
            (env.from_source(KafkaSource("localhost:9092", "lines").bounded(), Text())
                .flat_map(lambda line: line.lower().split())
                .map(lambda word: (word, 1))
                .key_by(lambda pair: pair[0])
                .reduce(lambda a, b: (a[0], a[1] + b[1]))
                .uid("counter")
                .map(lambda pair: f"({pair[0]},{pair[1]})")
                .print())

    Plan, Operator = export_stream(WordCount())

What matches the Rust API, so that savepoints move between the two: operator uids (generated as
``source-0``, ``process-1``… in build order, or set with ``.uid``), keys (a ``str`` is its
UTF-8 bytes, an ``int`` eight little-endian bytes as Rust's ``i64``, ``bytes`` as they are) and
keyed state, stored as JSON (``ValueState("count")`` holding ``3`` is the bytes ``3``; a
dataclass is stored as its fields' JSON object, as serde stores a struct). Records between
operators are pickled (a job is written in one language), so any picklable value flows.
Stateless stages (``map``, ``filter``, ``flat_map``, ``assign_timestamps``) run in the operator
before them; ``key_by``, ``union`` and ``rebalance`` start a new one.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import struct
from typing import Any, Callable, Iterable, List, Optional, Tuple

from wit_world.exports import plan as wit
from wit_world.imports import state as host_state

from . import Job, Operator, Output, Records
from . import graph as g
from . import time
from .metrics import Counter, Level, RateLimitedLog
from .keygroup import key_group
from .time import EVENT_TIME, MIN_TIMESTAMP, PROCESSING_TIME, Timer

__all__ = [
    "StreamJob",
    "export_stream",
    "Env",
    "DataStream",
    "KeyedStream",
    "KafkaSource",
    "KafkaSink",
    "Datagen",
    "Json",
    "Text",
    "Raw",
    "KeyedProcessFunction",
    "KeyedCoProcessFunction",
    "AggregateFunction",
    "Context",
    "Collector",
    "ValueState",
    "ListState",
    "Ttl",
    "MapState",
    "ReducingState",
    "AggregatingState",
    "TumblingWindows",
    "SlidingWindows",
    "SessionWindows",
    "Window",
    "OutputTag",
    "BroadcastState",
    "KeyedBroadcastProcessFunction",
    "key_group",
]

_I64 = struct.Struct("<q")


# ---------------------------------------------------------------------------------------------
# Encodings


def encode_key(key: Any) -> bytes:
    """A key's bytes, as the Rust SDK's ``Codec`` writes them (``String``, ``i64``, bytes)."""
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, bool):
        raise TypeError("a bool is not a key: use an int or a str")
    if isinstance(key, int):
        return _I64.pack(key)
    if isinstance(key, (bytes, bytearray)):
        return bytes(key)
    raise TypeError(f"a key must be a str, an int or bytes, not {type(key).__name__}")


def _plain(value: Any) -> Any:
    """A value as JSON sees it: dataclasses become their fields' dicts, tuples lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_json(value: Any) -> bytes:
    """JSON as the Rust SDK's serde writes it: compact, fields in declaration order."""
    return json.dumps(_plain(value), separators=(",", ":"), ensure_ascii=False).encode()


def from_json(data: bytes, kind: Optional[type] = None) -> Any:
    """Decodes JSON; into a dataclass ``kind`` when given."""
    value = json.loads(data)
    if kind is not None and dataclasses.is_dataclass(kind) and isinstance(value, dict):
        return kind(**value)
    return value


# ---------------------------------------------------------------------------------------------
# Schemas, sources and sinks


class Json:
    """JSON records (Flink's ``format = 'json'``), as dicts or as the dataclass ``kind``. A
    malformed record is skipped and counted unless ``fail_on_parse_errors``."""

    def __init__(self, kind: Optional[type] = None, fail_on_parse_errors: bool = False) -> None:
        self.kind = kind
        self.fails_on_malformed = fail_on_parse_errors

    def decode(self, key: bytes, value: bytes) -> Any:
        return from_json(value, self.kind)

    def encode(self, record: Any) -> Tuple[bytes, bytes]:
        return b"", to_json(record)


class Text:
    """UTF-8 text, one record per value."""

    fails_on_malformed = False

    def decode(self, key: bytes, value: bytes) -> str:
        return value.decode()

    def encode(self, record: str) -> Tuple[bytes, bytes]:
        return b"", str(record).encode()


class Raw:
    """The value bytes as they are."""

    fails_on_malformed = False

    def decode(self, key: bytes, value: bytes) -> bytes:
        return value

    def encode(self, record: bytes) -> Tuple[bytes, bytes]:
        return b"", bytes(record)


class KafkaSource:
    """A Kafka topic to read (earliest offsets, unbounded, unless told otherwise)."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.servers, self.topic = bootstrap_servers, topic
        self.properties: List[Tuple[str, str]] = []
        self.offsets = g.StartingOffsets.EARLIEST
        self.is_bounded = False

    def group_id(self, group: str) -> "KafkaSource":
        return self.property("group.id", group)

    def property(self, key: str, value: str) -> "KafkaSource":
        self.properties.append((key, value))
        return self

    def starting_offsets(self, offsets: Any) -> "KafkaSource":
        self.offsets = offsets
        return self

    def bounded(self) -> "KafkaSource":
        self.is_bounded = True
        return self

    def connector(self) -> Tuple[Any, str]:
        topic = g.kafka_topic(self.topic, self.servers, self.properties)
        return g.kafka_source(topic, self.offsets, self.is_bounded), f"Kafka {self.topic}"


class Datagen:
    """The built-in click-event generator as a source."""

    def __init__(self, count: Optional[int] = None, rate: Optional[int] = None) -> None:
        self.count, self.rate = count, rate

    def connector(self) -> Tuple[Any, str]:
        return g.datagen_source(self.count, self.rate), "Datagen"


class KafkaSink:
    """A Kafka topic to write, at least once unless told otherwise."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.servers, self.topic = bootstrap_servers, topic
        self.properties: List[Tuple[str, str]] = []
        self.guarantee = g.DeliveryGuarantee.AT_LEAST_ONCE

    def property(self, key: str, value: str) -> "KafkaSink":
        self.properties.append((key, value))
        return self

    def delivery_guarantee(self, guarantee: Any) -> "KafkaSink":
        self.guarantee = guarantee
        return self

    def connector(self) -> Tuple[Any, str]:
        topic = g.kafka_topic(self.topic, self.servers, self.properties)
        return g.kafka_sink(topic, self.guarantee), f"Kafka {self.topic}"


# ---------------------------------------------------------------------------------------------
# Keyed state, scoped to the current key

_current_key: List[Optional[bytes]] = [None]
_NAMESPACE = b""


def _key() -> bytes:
    key = _current_key[0]
    if key is None:
        raise RuntimeError("keyed state used outside of a keyed function (process_element or on_timer)")
    return key


class Ttl:
    """A time to live for state values (Flink's ``StateTtlConfig.newBuilder(ttl)`` with
    ``OnCreateAndWrite`` and ``NeverReturnExpired``): a value not written for this long, in
    processing time, reads as absent and is cleared. Such a value is stored as the Rust SDK's
    ``Ttl`` stores it: the processing time it was written (8 bytes, little-endian), then its JSON."""

    def __init__(self, millis: int) -> None:
        self.millis_ = max(1, int(millis))

    @staticmethod
    def millis(ms: int) -> "Ttl":
        return Ttl(ms)


def _encode_state(value: Any, ttl: Optional[Ttl]) -> bytes:
    data = to_json(value)
    return data if ttl is None else _I64.pack(time.current_processing_time()) + data


def _decode_state(data: bytes, ttl: Optional[Ttl], kind: Optional[type]) -> Tuple[bool, Any]:
    """(expired, value)."""
    if ttl is not None:
        if len(data) < 8:
            raise ValueError("a state value with a TTL is shorter than its stamp")
        written = _I64.unpack(data[:8])[0]
        if time.current_processing_time() - written >= ttl.millis_:
            return True, None
        data = data[8:]
    return False, from_json(data, kind)


class ValueState:
    """One value per key (Flink's ``ValueState``), stored as JSON; ``kind`` decodes a dataclass."""

    def __init__(self, name: str, kind: Optional[type] = None) -> None:
        self.name, self.kind = name, kind
        self._handle: Any = None
        self._ttl: Optional[Ttl] = None

    def with_ttl(self, ttl: Ttl) -> "ValueState":
        """Lets values expire ``ttl`` after they were written."""
        self._ttl = ttl
        return self

    def _h(self) -> Any:
        if self._handle is None:
            self._handle = host_state.ValueState(self.name)
        return self._handle

    def value(self) -> Any:
        data = self._h().get(_key(), _NAMESPACE)
        if data is None:
            return None
        expired, value = _decode_state(data, self._ttl, self.kind)
        if expired:
            self.clear()
        return value

    def update(self, value: Any) -> None:
        self._h().set(_key(), _NAMESPACE, _encode_state(value, self._ttl))

    def clear(self) -> None:
        self._h().clear(_key(), _NAMESPACE)


class ListState:
    """A list per key (Flink's ``ListState``), one JSON array."""

    def __init__(self, name: str, kind: Optional[type] = None) -> None:
        self._inner = ValueState(name)
        self.kind = kind

    def with_ttl(self, ttl: Ttl) -> "ListState":
        """Lets the list expire ``ttl`` after it was last changed."""
        self._inner.with_ttl(ttl)
        return self

    def get(self) -> List[Any]:
        items = self._inner.value() or []
        return [from_json(to_json(i), self.kind) for i in items] if self.kind else items

    def add(self, value: Any) -> None:
        self._inner.update(self.get() + [value])

    def update(self, values: Iterable[Any]) -> None:
        values = list(values)
        if values:
            self._inner.update(values)
        else:
            self._inner.clear()

    def clear(self) -> None:
        self._inner.clear()


class MapState:
    """A map per key (Flink's ``MapState``); map keys and values stored as JSON."""

    def __init__(self, name: str, kind: Optional[type] = None) -> None:
        self.name, self.kind = name, kind
        self._handle: Any = None
        self._ttl: Optional[Ttl] = None

    def with_ttl(self, ttl: Ttl) -> "MapState":
        """Lets entries expire ``ttl`` after they were written."""
        self._ttl = ttl
        return self

    def _h(self) -> Any:
        if self._handle is None:
            self._handle = host_state.MapState(self.name)
        return self._handle

    def get(self, map_key: Any) -> Any:
        k = to_json(map_key)
        data = self._h().get(_key(), _NAMESPACE, k)
        if data is None:
            return None
        expired, value = _decode_state(data, self._ttl, self.kind)
        if expired:
            self._h().remove(_key(), _NAMESPACE, k)
        return value

    def put(self, map_key: Any, value: Any) -> None:
        self._h().put(_key(), _NAMESPACE, to_json(map_key), _encode_state(value, self._ttl))

    def remove(self, map_key: Any) -> None:
        self._h().remove(_key(), _NAMESPACE, to_json(map_key))

    def contains(self, map_key: Any) -> bool:
        return self.get(map_key) is not None

    def entries(self) -> List[Tuple[Any, Any]]:
        """The entries that have not expired, ordered by encoded map key."""
        out = []
        for k, v in self._h().entries(_key(), _NAMESPACE):
            expired, value = _decode_state(v, self._ttl, self.kind)
            if not expired:
                out.append((json.loads(k), value))
        return out

    def is_empty(self) -> bool:
        return not self.entries()

    def clear(self) -> None:
        self._h().clear(_key(), _NAMESPACE)


class ReducingState:
    """One value per key that added values are folded into with ``reduce``."""

    def __init__(self, name: str, reduce: Callable[[Any, Any], Any]) -> None:
        self._inner = ValueState(name)
        self._reduce = reduce

    def get(self) -> Any:
        return self._inner.value()

    def add(self, value: Any) -> None:
        current = self._inner.value()
        self._inner.update(value if current is None else self._reduce(current, value))

    def clear(self) -> None:
        self._inner.clear()


class AggregateFunction:
    """An incremental aggregation (Flink's ``AggregateFunction``)."""

    def create_accumulator(self) -> Any:
        raise NotImplementedError

    def add(self, value: Any, acc: Any) -> Any:
        raise NotImplementedError

    def get_result(self, acc: Any) -> Any:
        return acc

    def merge(self, a: Any, b: Any) -> Any:
        raise NotImplementedError


class AggregatingState:
    """One accumulator per key; read as the aggregate's result."""

    def __init__(self, name: str, aggregate: AggregateFunction) -> None:
        self._inner = ValueState(name)
        self._aggregate = aggregate

    def get(self) -> Any:
        acc = self._inner.value()
        return None if acc is None else self._aggregate.get_result(acc)

    def add(self, value: Any) -> None:
        acc = self._inner.value()
        if acc is None:
            acc = self._aggregate.create_accumulator()
        self._inner.update(self._aggregate.add(value, acc))

    def clear(self) -> None:
        self._inner.clear()


# ---------------------------------------------------------------------------------------------
# Keyed functions


class OutputTag:
    """Names a side output (Flink's ``OutputTag``)."""

    def __init__(self, id: str) -> None:
        self.id = id


class _SideOutputs:
    """The side outputs an operator's downstream reads: the n-th goes out with tag byte n + 1
    (main records with 0), once any is read (the Rust SDK's layout)."""

    def __init__(self) -> None:
        self.tags: List[str] = []

    def register(self, id: str) -> int:
        if id not in self.tags:
            self.tags.append(id)
        index = self.tags.index(id) + 1
        if index > 254:
            raise ValueError("an operator has more than 254 side outputs")
        return index

    def write(self, id: str, value: Any, timestamp: int, out: Output) -> None:
        if id in self.tags:
            out.emit(timestamp, b"", bytes([self.tags.index(id) + 1]) + pickle.dumps(value))


class Collector:
    """Emits a function's records downstream, with the input's (or the timer's) timestamp."""

    __slots__ = ("_push", "_out", "timestamp", "_sides")

    def __init__(self, push: Callable[[Any, int, Output], None], out: Output, timestamp: int,
                 sides: Optional[_SideOutputs] = None) -> None:
        self._push, self._out, self.timestamp, self._sides = push, out, timestamp, sides

    def output(self, tag: OutputTag, value: Any) -> None:
        """Emits to the side output ``tag`` (dropped when nothing reads it)."""
        if self._sides is not None:
            self._sides.write(tag.id, value, self.timestamp, self._out)

    def collect(self, value: Any) -> None:
        self._push(value, self.timestamp, self._out)

    def collect_with_timestamp(self, value: Any, timestamp: int) -> None:
        self._push(value, timestamp, self._out)


class Context:
    """The current key, the record's timestamp, the clocks and the key's timers."""

    __slots__ = ("_key", "_key_bytes", "_timestamp", "_domain")

    def __init__(self, key: Any, key_bytes: bytes, timestamp: int, domain: Any = None) -> None:
        self._key, self._key_bytes, self._timestamp, self._domain = key, key_bytes, timestamp, domain

    def current_key(self) -> Any:
        return self._key

    def timestamp(self) -> Optional[int]:
        return None if self._timestamp == MIN_TIMESTAMP else self._timestamp

    def time_domain(self) -> Any:
        return self._domain

    def current_watermark(self) -> int:
        return time.current_watermark()

    def current_processing_time(self) -> int:
        return time.current_processing_time()

    def register_event_time_timer(self, at: int) -> None:
        time.register_timer(EVENT_TIME, self._key_bytes, b"", at)

    def register_processing_time_timer(self, at: int) -> None:
        time.register_timer(PROCESSING_TIME, self._key_bytes, b"", at)

    def delete_event_time_timer(self, at: int) -> None:
        time.delete_timer(EVENT_TIME, self._key_bytes, b"", at)

    def delete_processing_time_timer(self, at: int) -> None:
        time.delete_timer(PROCESSING_TIME, self._key_bytes, b"", at)


class KeyedProcessFunction:
    """A function over a keyed stream with per-key state and timers."""

    def process_element(self, value: Any, ctx: Context, out: Collector) -> None:
        raise NotImplementedError

    def on_timer(self, timestamp: int, ctx: Context, out: Collector) -> None:
        pass


class KeyedCoProcessFunction:
    """A function over two connected keyed streams."""

    def process_element1(self, value: Any, ctx: Context, out: Collector) -> None:
        raise NotImplementedError

    def process_element2(self, value: Any, ctx: Context, out: Collector) -> None:
        raise NotImplementedError

    def on_timer(self, timestamp: int, ctx: Context, out: Collector) -> None:
        pass


# ---------------------------------------------------------------------------------------------
# The physical operators

Push = Callable[[Any, int, Output], None]


def _timer_output_timestamp(timer: Timer) -> int:
    return timer.time if timer.domain == EVENT_TIME else MIN_TIMESTAMP


def _keyed(key_bytes: bytes, key: Any, call: Callable[[], None]) -> None:
    _current_key[0] = key_bytes
    try:
        call()
    finally:
        _current_key[0] = None


class _SourceHead(Operator):
    def __init__(self, schema: Any, push: Push) -> None:
        self._schema, self._push = schema, push
        self._malformed = Counter("numRecordsMalformed")
        self._log = RateLimitedLog(10_000)

    def process(self, input: int, records: Records, out: Output) -> None:
        schema, push = self._schema, self._push
        for r in records:
            try:
                value = schema.decode(r.key, r.value)
            except Exception as error:  # noqa: BLE001 - a malformed record, per the schema's rule
                if schema.fails_on_malformed:
                    raise
                self._malformed.inc(1)
                self._log.log(Level.WARN, lambda: f"skipping a malformed record (numRecordsMalformed): {error}")
                continue
            push(value, r.timestamp, out)


class _WireHead(Operator):
    def __init__(self, push: Push) -> None:
        self._push = push

    def process(self, input: int, records: Records, out: Output) -> None:
        for r in records:
            self._push(pickle.loads(r.value), r.timestamp, out)


class _KeyedHead(Operator):
    """Runs a keyed function: each record carries its key and value, pickled. With
    ``broadcast``, input 1 is a broadcast stream (one copy per key group; the first owned
    group's is this subtask's)."""

    def __init__(self, function: Any, push: Push, key_type: Optional[type], two_inputs: bool = False,
                 sides: Optional[_SideOutputs] = None, broadcast: bool = False) -> None:
        self._f, self._push, self._two, self._key_type = function, push, two_inputs, key_type
        self._sides, self._broadcast = sides, broadcast

    def process(self, input: int, records: Records, out: Output) -> None:
        f = self._f
        if self._broadcast and input == 1:
            first = _owned_groups()[0]
            for r in records:
                if key_group(r.key, _SUBTASK[2]) != first:
                    continue
                collector = Collector(self._push, out, r.timestamp, self._sides)
                _WRITABLE[0] = True
                try:
                    f.process_broadcast_element(pickle.loads(r.value), collector)
                finally:
                    _WRITABLE[0] = False
            return
        call = (f.process_element2 if input == 1 else f.process_element1) if self._two else f.process_element
        for r in records:
            key, value = pickle.loads(r.value)
            if self._key_type is None:
                self._key_type = type(key)
            ctx = Context(key, r.key, r.timestamp)
            collector = Collector(self._push, out, r.timestamp, self._sides)
            _keyed(r.key, key, lambda: call(value, ctx, collector))

    def on_timers(self, timers: List[Timer], out: Output) -> None:
        for t in timers:
            key = decode_key(t.key, self._key_type)
            ctx = Context(key, t.key, t.time, t.domain)
            collector = Collector(self._push, out, _timer_output_timestamp(t), self._sides)
            _keyed(t.key, key, lambda: self._f.on_timer(t.time, ctx, collector))


class _TaggedHead(Operator):
    """The records of one output of an operator with side outputs (tag byte ``accept``)."""

    def __init__(self, accept: int, push: Push) -> None:
        self._accept, self._push = accept, push

    def process(self, input: int, records: Records, out: Output) -> None:
        for r in records:
            if r.value[:1] == bytes([self._accept]):
                self._push(pickle.loads(r.value[1:]), r.timestamp, out)


# ---------------------------------------------------------------------------------------------
# Broadcast: the keys of each key group

_SUBTASK = [0, 1, 128]  # index, parallelism, max parallelism; set when the subtask opens
_WRITABLE = [False]
_GROUP_KEYS: dict = {}


def _group_keys(max_parallelism: int) -> List[bytes]:
    """A key per key group (``b0``, ``b1``, … as the Rust SDK finds them)."""
    keys = _GROUP_KEYS.get(max_parallelism)
    if keys is None:
        found: List[Optional[bytes]] = [None] * max_parallelism
        missing, n = max_parallelism, 0
        while missing:
            k = f"b{n}".encode()
            g = key_group(k, max_parallelism)
            if found[g] is None:
                found[g] = k
                missing -= 1
            n += 1
        keys = [k for k in found if k is not None]
        _GROUP_KEYS[max_parallelism] = keys
    return keys


def _owned_groups() -> List[int]:
    index, parallelism, m = _SUBTASK
    start = -(-index * m // parallelism)
    end = ((index + 1) * m - 1) // parallelism
    return list(range(start, end + 1))


class BroadcastState:
    """A map every subtask of a broadcast-connected operator holds the same copy of (Flink's
    ``BroadcastState``; the Rust SDK's layout): written only in ``process_broadcast_element``."""

    def __init__(self, name: str, kind: Optional[type] = None) -> None:
        self.name, self.kind = f"broadcast/{name}", kind
        self._handle: Any = None

    def _h(self) -> Any:
        if self._handle is None:
            self._handle = host_state.MapState(self.name)
        return self._handle

    def _keys(self) -> List[bytes]:
        keys = _group_keys(_SUBTASK[2])
        return [keys[g] for g in _owned_groups()]

    @staticmethod
    def _writable() -> None:
        if not _WRITABLE[0]:
            raise RuntimeError("broadcast state is written only in process_broadcast_element (elsewhere it is read-only)")

    def get(self, key: Any) -> Any:
        data = self._h().get(self._keys()[0], b"", to_json(key))
        return None if data is None else from_json(data, self.kind)

    def entries(self) -> List[Tuple[Any, Any]]:
        return [(json.loads(k), from_json(v, self.kind)) for k, v in self._h().entries(self._keys()[0], b"")]

    def put(self, key: Any, value: Any) -> None:
        self._writable()
        k, v = to_json(key), to_json(value)
        for group in self._keys():
            self._h().put(group, b"", k, v)

    def remove(self, key: Any) -> None:
        self._writable()
        k = to_json(key)
        for group in self._keys():
            self._h().remove(group, b"", k)


class KeyedBroadcastProcessFunction:
    """A function over a keyed stream connected to a broadcast stream."""

    def process_element(self, value: Any, ctx: Context, out: Collector) -> None:
        raise NotImplementedError

    def process_broadcast_element(self, value: Any, out: Collector) -> None:
        raise NotImplementedError

    def on_timer(self, timestamp: int, ctx: Context, out: Collector) -> None:
        pass


def decode_key(key_bytes: bytes, key_type: Optional[type]) -> Any:
    """A timer's key as the key selector returned it: by the declared ``key_type``, else as
    UTF-8 text when it is, else the bytes."""
    if key_type is int:
        return _I64.unpack(key_bytes)[0]
    if key_type is bytes:
        return key_bytes
    try:
        return key_bytes.decode()
    except UnicodeDecodeError:
        return key_bytes


class _Reduce(KeyedProcessFunction):
    def __init__(self, f: Callable[[Any, Any], Any]) -> None:
        self._state = ValueState("reduce")
        self._f = f

    def process_element(self, value: Any, ctx: Context, out: Collector) -> None:
        current = self._state.value()
        if current is not None:
            current = tuple(current) if isinstance(value, tuple) else current
            value = self._f(current, value)
        self._state.update(value)
        out.collect(value)


# ---------------------------------------------------------------------------------------------
# Windows


@dataclasses.dataclass(frozen=True)
class Window:
    """A window, ``[start, end)`` in ms."""

    start: int
    end: int

    def max_timestamp(self) -> int:
        return self.end - 1


class TumblingWindows:
    """Fixed-size, non-overlapping windows in event or processing time."""

    def __init__(self, size_ms: int, domain: Any, offset_ms: int = 0) -> None:
        self.size, self.domain, self.offset = max(1, size_ms), domain, offset_ms % max(1, size_ms)

    @staticmethod
    def of_event_time(size_ms: int) -> "TumblingWindows":
        return TumblingWindows(size_ms, EVENT_TIME)

    @staticmethod
    def of_processing_time(size_ms: int) -> "TumblingWindows":
        return TumblingWindows(size_ms, PROCESSING_TIME)

    def assign(self, ts: int) -> List[Window]:
        start = ts - (ts - self.offset) % self.size
        return [Window(start, start + self.size)]

    def window_ending(self, end: int) -> Window:
        return Window(end - self.size, end)


class SlidingWindows:
    """Windows of ``size`` every ``slide``, in event or processing time."""

    def __init__(self, size_ms: int, slide_ms: int, domain: Any) -> None:
        self.size, self.slide, self.domain = max(1, size_ms), max(1, slide_ms), domain

    @staticmethod
    def of_event_time(size_ms: int, slide_ms: int) -> "SlidingWindows":
        return SlidingWindows(size_ms, slide_ms, EVENT_TIME)

    @staticmethod
    def of_processing_time(size_ms: int, slide_ms: int) -> "SlidingWindows":
        return SlidingWindows(size_ms, slide_ms, PROCESSING_TIME)

    def assign(self, ts: int) -> List[Window]:
        start = ts - ts % self.slide
        windows = []
        while start > ts - self.size:
            windows.append(Window(start, start + self.size))
            start -= self.slide
        return windows

    def window_ending(self, end: int) -> Window:
        return Window(end - self.size, end)


class SessionWindows:
    """Session windows (Flink's ``EventTimeSessionWindows.withGap`` and
    ``ProcessingTimeSessionWindows.withGap``): each record opens ``[ts, ts + gap)``, and a key's
    windows that overlap or touch merge into one session."""

    merging = True

    def __init__(self, gap_ms: int, domain: Any) -> None:
        self.gap, self.domain = max(1, gap_ms), domain

    @staticmethod
    def with_gap(gap_ms: int) -> "SessionWindows":
        return SessionWindows(gap_ms, EVENT_TIME)

    @staticmethod
    def processing_time_with_gap(gap_ms: int) -> "SessionWindows":
        return SessionWindows(gap_ms, PROCESSING_TIME)

    def assign(self, ts: int) -> List[Window]:
        return [Window(ts, ts + self.gap)]

    def window_ending(self, end: int) -> Window:
        return Window(end - self.gap, end)


class _WindowFunction(KeyedProcessFunction):
    """Each key's open windows in the map state ``window-contents`` (window end → accumulator,
    as JSON: the Rust SDK's layout; for sessions window end → ``[start, accumulator]``); a timer
    at a window's last millisecond fires it."""

    def __init__(self, assigner: Any, lateness: int, create: Callable[[], Any], add: Callable[[Any, Any], Any],
                 emit: Callable[[Any, Window, Any, Collector], None], late_tag: Optional[OutputTag] = None,
                 merge: Optional[Callable[[Any, Any], Any]] = None) -> None:
        self._assigner, self._lateness, self._late_tag = assigner, lateness, late_tag
        self._create, self._add, self._emit, self._merge = create, add, emit, merge
        self._merging = getattr(assigner, "merging", False)
        self._contents = MapState("window-contents")
        self._late: Optional[Counter] = None

    def _register(self, ctx: Context, at: int) -> None:
        if self._assigner.domain == EVENT_TIME:
            ctx.register_event_time_timer(at)
        else:
            ctx.register_processing_time_timer(at)

    def process_element(self, value: Any, ctx: Context, out: Collector) -> None:
        event_time = self._assigner.domain == EVENT_TIME
        if event_time:
            ts = ctx.timestamp()
            if ts is None:
                raise ValueError("an event-time window got a record without a timestamp: assign timestamps after the source")
        else:
            ts = ctx.current_processing_time()
        watermark = ctx.current_watermark()
        if self._merging:
            self._add_to_session(value, ts, ctx, out, event_time, watermark)
            return
        windows = self._assigner.assign(ts)
        # Late for every window it belongs to, and behind the watermark by more than the allowed
        # lateness: to the late-data side output when there is one (the Rust SDK's rule, Flink's
        # isSkippedElement && isElementLate).
        if (self._late_tag is not None and event_time and ts + self._lateness <= watermark
                and all(w.max_timestamp() + self._lateness <= watermark for w in windows)):
            out.output(self._late_tag, value)
            return
        for w in windows:
            cleanup = w.max_timestamp() + self._lateness
            if event_time and cleanup <= watermark:
                if self._late is None:
                    self._late = Counter("numLateRecordsDropped")
                self._late.inc(1)
                continue
            acc = self._contents.get(w.end)
            acc = self._add(self._create() if acc is None else acc, value)
            self._contents.put(w.end, acc)
            if event_time and w.max_timestamp() <= watermark:
                self._emit(ctx.current_key(), w, acc, out)
            else:
                self._register(ctx, w.max_timestamp())
            if self._lateness > 0 and event_time:
                self._register(ctx, cleanup)

    def _drop_late(self) -> None:
        if self._late is None:
            self._late = Counter("numLateRecordsDropped")
        self._late.inc(1)

    def _add_to_session(self, value: Any, ts: int, ctx: Context, out: Collector, event_time: bool,
                        watermark: int) -> None:
        """The record's window merged with every session of the key it overlaps or touches
        (Flink's ``MergingWindowSet.addWindow``); late only if the session it makes is."""
        lateness = self._lateness if event_time else 0
        stored = {end: (entry[0], entry[1]) for end, entry in self._contents.entries()}
        merged = self._assigner.assign(ts)[0]
        absorbed: List[int] = []
        grew = True
        while grew:
            grew = False
            for end, (start, _) in stored.items():
                if end not in absorbed and merged.start <= end and start <= merged.end:
                    merged = Window(min(merged.start, start), max(merged.end, end))
                    absorbed.append(end)
                    grew = True
        if event_time and merged.max_timestamp() + lateness <= watermark:
            self._drop_late()
            return
        accs = [stored[end][1] for end in sorted(absorbed, key=lambda e: (stored[e][0], e))]
        acc = self._create()
        if accs:
            acc = accs[0]
            for other in accs[1:]:
                acc = self._merge(acc, other) if self._merge is not None else acc
        acc = self._add(acc, value)

        def timers_of(end: int) -> List[int]:
            return [end - 1] + ([end - 1 + lateness] if lateness > 0 else [])

        def delete(at: int) -> None:
            if event_time:
                ctx.delete_event_time_timer(at)
            else:
                ctx.delete_processing_time_timer(at)

        remaining = [end for end in stored if end not in absorbed] + [merged.end]
        needed = [t for end in remaining for t in timers_of(end)]
        for end in absorbed:
            if end != merged.end:
                self._contents.remove(end)
                for at in timers_of(end):
                    if at not in needed:
                        delete(at)
        self._contents.put(merged.end, [merged.start, acc])
        if event_time and merged.max_timestamp() <= watermark:
            self._emit(ctx.current_key(), merged, _plain(acc), out)
        else:
            self._register(ctx, merged.max_timestamp())
        if lateness > 0:
            self._register(ctx, merged.max_timestamp() + lateness)

    def on_timer(self, timestamp: int, ctx: Context, out: Collector) -> None:
        event_time = self._assigner.domain == EVENT_TIME
        if self._merging:
            end = timestamp + 1
            entry = self._contents.get(end)
            if entry is not None:
                self._emit(ctx.current_key(), Window(entry[0], end), entry[1], out)
                if self._lateness == 0 or not event_time:
                    self._contents.remove(end)
            if self._lateness > 0 and event_time:
                self._contents.remove(end - self._lateness)
            return
        fire = self._assigner.window_ending(timestamp + 1)
        acc = self._contents.get(fire.end)
        if acc is not None:
            self._emit(ctx.current_key(), fire, acc, out)
            if self._lateness == 0 or not event_time:
                self._contents.remove(fire.end)
        if self._lateness > 0 and event_time:
            self._contents.remove(timestamp - self._lateness + 1)


class WindowedStream:
    """A keyed stream grouped into windows."""

    def __init__(self, keyed: "KeyedStream", assigner: Any) -> None:
        self._keyed, self._assigner, self._lateness = keyed, assigner, 0
        self._late_tag: Optional[OutputTag] = None

    def allowed_lateness(self, millis: int) -> "WindowedStream":
        self._lateness = max(0, millis)
        return self

    def side_output_late_data(self, tag: OutputTag) -> "WindowedStream":
        """Sends records too late for their windows (behind the watermark by more than the
        allowed lateness) to the side output ``tag`` instead of dropping them (Flink's
        ``sideOutputLateData``); read it with ``get_side_output(tag)`` on the window's result.
        Event-time tumbling and sliding windows."""
        self._late_tag = tag
        return self

    def _run(self, name: str, create: Callable[[], Any], add: Callable[[Any, Any], Any],
             emit: Callable[[Any, Window, Any, Collector], None],
             merge: Optional[Callable[[Any, Any], Any]] = None) -> "DataStream":
        assigner, lateness, late_tag = self._assigner, self._lateness, self._late_tag
        if late_tag is not None and getattr(assigner, "merging", False):
            raise ValueError("side_output_late_data is for tumbling and sliding windows, not sessions")
        return self._keyed._keyed_op(("window", name),
                                     lambda: _WindowFunction(assigner, lateness, create, add, emit, late_tag, merge))

    def reduce(self, f: Callable[[Any, Any], Any]) -> "DataStream":
        # The accumulator is the reduced value itself (the Rust SDK's `Option<T>`, never null).
        def add(acc: Any, v: Any) -> Any:
            return _plain(v) if acc is None else _plain(f(acc, v))

        def emit(key: Any, w: Window, acc: Any, out: Collector) -> None:
            out.collect_with_timestamp(acc, w.max_timestamp())

        def merge(a: Any, b: Any) -> Any:
            return b if a is None else a if b is None else _plain(f(a, b))

        return self._run("Window(Reduce)", lambda: None, add, emit, merge)

    def aggregate(self, aggregate: AggregateFunction, result: Callable[[Any, Window, Any], Any]) -> "DataStream":
        def emit(key: Any, w: Window, acc: Any, out: Collector) -> None:
            out.collect_with_timestamp(result(key, w, aggregate.get_result(acc)), w.max_timestamp())

        return self._run("Window(Aggregate)", aggregate.create_accumulator, lambda acc, v: aggregate.add(v, acc), emit,
                         aggregate.merge)

    def process(self, f: Callable[[Any, Window, List[Any], Collector], None]) -> "DataStream":
        return self._run("Window(Process)", list, lambda acc, v: acc + [_plain(v)],
                         lambda key, w, acc, out: f(key, w, acc, out), lambda a, b: a + b)


# ---------------------------------------------------------------------------------------------
# The pipeline


class _Pending:
    """The operator a stream's records come from, not yet in the graph."""

    def __init__(self, names: List[str], base: str, kind: Tuple[str, Any], build: Callable[[Push], Operator]) -> None:
        self.uid: Optional[str] = None
        self.names, self.base, self.kind, self.build = names, base, kind, build
        self.parallelism: Optional[int] = None
        self.sides: Optional[_SideOutputs] = None
        # How a value enters each input as the upstream sends it: (key, value) bytes
        # (weir_sdk.testing feeds values through them).
        self.encoders: List[Callable[[Any], Tuple[bytes, bytes]]] = []


def _wire_encoder(value: Any) -> Tuple[bytes, bytes]:
    return b"", pickle.dumps(value)


def _keyed_encoder(key_of: Callable[[Any], Any]) -> Callable[[Any], Tuple[bytes, bytes]]:
    def encode(value: Any) -> Tuple[bytes, bytes]:
        key = key_of(value)
        return encode_key(key), pickle.dumps((key, value))

    return encode


def _decoding(push: Push, decode: Callable[[bytes], Any]) -> Push:
    """``push`` marked with how the next operator reads what it emits (for weir_sdk.testing)."""
    push.decode = decode  # type: ignore[attr-defined]
    return push


def _sink_value(value: bytes) -> Any:
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value


class _Inner:
    def __init__(self, config: str, selected: Optional[str]) -> None:
        self.graph = g.GraphBuilder("Weir Job")
        self.config, self.selected = config, selected
        self.operator: Optional[Operator] = None
        self.pending: Optional[_Pending] = None
        self.output_decode: Optional[Callable[[bytes], Any]] = None
        self.uids: List[str] = []
        self.next_index = 0
        self.sinks: List[dict] = []
        self.errors: List[str] = []
        self.max_parallelism = g.DEFAULT_MAX_PARALLELISM

    def register(self, uid: str) -> None:
        if uid in self.uids:
            self.errors.append(f"two operators have the uid '{uid}'; uids must be unique")
        self.uids.append(uid)

    def materialize(self, p: _Pending, end: Callable[[], Push]) -> g.OperatorRef:
        index = self.next_index
        self.next_index += 1
        uid = p.uid or f"{p.base}-{index}"
        self.register(uid)
        name = " -> ".join(p.names)
        kind, what = p.kind
        if kind == "source":
            op = self.graph.source(uid, name, what, function=uid)
        else:
            op = self.graph.transform(uid, name, uid, what)
        self.graph.set_config(op, self.config)
        if p.parallelism is not None:
            self.graph.set_parallelism(op, p.parallelism)
        if self.selected == uid:
            push = end()
            self.operator = p.build(push)
            self.pending, self.output_decode = p, getattr(push, "decode", None)
        return op


def _wire_end() -> Push:
    def push(value: Any, ts: int, out: Output) -> None:
        out.emit(ts, b"", pickle.dumps(value))

    return _decoding(push, pickle.loads)


class DataStream:
    """A stream of records."""

    def __init__(self, inner: _Inner, pending: _Pending) -> None:
        self._inner, self._p = inner, pending
        self._split: Optional[Tuple[g.OperatorRef, _SideOutputs, Optional[int]]] = None

    def get_side_output(self, tag: OutputTag) -> "DataStream":
        """The records the keyed function emitted to ``tag`` (call it on what ``process``
        returned, before chaining stages after it)."""
        if self._split is None:
            sides = self._p.sides
            if sides is None:
                raise ValueError(f"side output '{tag.id}' is read from a stream that is not a keyed function's output")
            parallelism = self._p.parallelism

            def main_end() -> Push:
                return _decoding(lambda v, ts, out: out.emit(ts, b"", b"\x00" + pickle.dumps(v)),
                                 lambda b: pickle.loads(b[1:]))

            op = self._inner.materialize(self._p, main_end)
            self._split = (op, sides, parallelism)
            self._p = self._tagged(0, "Main Output")
        op, sides, parallelism = self._split
        return DataStream(self._inner, self._tagged(sides.register(tag.id), tag.id))

    def _tagged(self, tag: int, name: str) -> _Pending:
        assert self._split is not None
        op, _, parallelism = self._split
        p = _Pending([name], "main-output" if tag == 0 else "side-output", ("transform", [(op, g.FORWARD)]),
                     lambda nxt: _TaggedHead(tag, nxt))
        p.encoders = [lambda v: (b"", bytes([tag]) + pickle.dumps(v))]
        p.parallelism = parallelism
        return p

    def broadcast(self) -> "BroadcastStream":
        """Sends every record to every subtask of the operator it is connected to."""
        return BroadcastStream(self)

    def _chain(self, name: str, stage: Callable[[Push], Push]) -> "DataStream":
        build = self._p.build
        self._p.names.append(name)
        self._p.sides = None  # side outputs come from the function itself
        self._p.build = lambda nxt: build(stage(nxt))
        return self

    def uid(self, uid: str) -> "DataStream":
        self._p.uid = uid
        return self

    def name(self, name: str) -> "DataStream":
        self._p.names[-1] = name
        return self

    def set_parallelism(self, parallelism: int) -> "DataStream":
        self._p.parallelism = parallelism
        return self

    def map(self, f: Callable[[Any], Any]) -> "DataStream":
        return self._chain("Map", lambda nxt: lambda v, ts, out: nxt(f(v), ts, out))

    def filter(self, f: Callable[[Any], bool]) -> "DataStream":
        return self._chain("Filter", lambda nxt: lambda v, ts, out: nxt(v, ts, out) if f(v) else None)

    def flat_map(self, f: Callable[[Any], Iterable[Any]]) -> "DataStream":
        def stage(nxt: Push) -> Push:
            def push(v: Any, ts: int, out: Output) -> None:
                for u in f(v):
                    nxt(u, ts, out)

            return push

        return self._chain("Flat Map", stage)

    def assign_timestamps(self, f: Callable[[Any], int]) -> "DataStream":
        """Sets each record's event time; directly after the source, so its watermarks follow."""
        return self._chain("Timestamps", lambda nxt: lambda v, ts, out: nxt(v, f(v), out))

    def key_by(self, f: Callable[[Any], Any], key_type: Optional[type] = None) -> "KeyedStream":
        """Partitions by the key ``f`` selects (a str, an int or bytes). Timers that fire before
        the subtask has seen a record (after a restore) get the key back as ``key_type``
        (default: text when it decodes, else bytes): give ``int`` for int keys."""
        return KeyedStream(self, f, key_type)

    def _boundary(self, others: List["DataStream"], strategy: Any, names: Tuple[str, str]) -> "DataStream":
        inputs = [(self._inner.materialize(s._p, _wire_end), strategy) for s in [self] + others]
        p = _Pending([names[1]], names[0], ("transform", inputs), _WireHead)
        p.encoders = [_wire_encoder] * len(inputs)
        return DataStream(self._inner, p)

    def union(self, *others: "DataStream") -> "DataStream":
        return self._boundary(list(others), g.REBALANCE, ("union", "Union"))

    def rebalance(self) -> "DataStream":
        return self._boundary([], g.REBALANCE, ("rebalance", "Rebalance"))

    def _sink(self, connector: Any, name: str, end: Callable[[], Push]) -> "StreamSink":
        inner = self._inner
        parallelism = self._p.parallelism
        op = inner.materialize(self._p, end)
        index = inner.next_index
        inner.next_index += 1
        sink = {"uid": None, "name": name, "connector": connector, "input": op, "index": index,
                "parallelism": parallelism}
        inner.sinks.append(sink)
        return StreamSink(sink)

    def sink_to(self, sink: Any, schema: Any) -> "StreamSink":
        connector, name = sink.connector()

        def end() -> Push:
            def push(v: Any, ts: int, out: Output) -> None:
                key, value = schema.encode(v)
                out.emit(ts, key, value)

            return _decoding(push, _sink_value)

        return self._sink(connector, name, end)

    def print(self) -> "StreamSink":
        return self._sink(g.PRINT, "Print to Std. Out", lambda: _decoding(lambda v, ts, out: out.emit(ts, b"", str(v).encode()), _sink_value))

    def discard(self) -> "StreamSink":
        return self._sink(g.DISCARD, "Discard", lambda: _decoding(lambda v, ts, out: out.emit(ts, b"", b""), _sink_value))


class StreamSink:
    """A sink, to set its uid and name."""

    def __init__(self, sink: dict) -> None:
        self._sink = sink

    def uid(self, uid: str) -> "StreamSink":
        self._sink["uid"] = uid
        return self

    def name(self, name: str) -> "StreamSink":
        self._sink["name"] = name
        return self


class KeyedStream:
    """A stream partitioned by key."""

    def __init__(self, stream: DataStream, key: Callable[[Any], Any], key_type: Optional[type]) -> None:
        self._stream, self._key, self.key_type = stream, key, key_type

    def _input(self) -> Tuple[g.OperatorRef, Any]:
        key_of = self._key

        def end() -> Push:
            def push(v: Any, ts: int, out: Output) -> None:
                key = key_of(v)
                out.emit(ts, encode_key(key), pickle.dumps((key, v)))

            return _decoding(push, lambda b: pickle.loads(b)[1])

        return self._stream._inner.materialize(self._stream._p, end), g.HASH

    def _keyed_op(self, names: Tuple[str, str], function: Callable[[], Any]) -> DataStream:
        inner = self._stream._inner
        edge = self._input()
        sides = _SideOutputs()
        p = _Pending([names[1]], names[0], ("transform", [edge]),
                     lambda nxt: _KeyedHead(function(), nxt, self.key_type, sides=sides))
        p.sides = sides
        p.encoders = [_keyed_encoder(self._key)]
        return DataStream(inner, p)

    def connect_broadcast(self, broadcast: "BroadcastStream") -> "BroadcastConnectedStream":
        return BroadcastConnectedStream(self, broadcast)

    def process(self, function: KeyedProcessFunction) -> DataStream:
        return self._keyed_op(("process", "KeyedProcess"), lambda: function)

    def reduce(self, f: Callable[[Any, Any], Any]) -> DataStream:
        return self._keyed_op(("reduce", "Keyed Reduce"), lambda: _Reduce(f))

    def connect(self, other: "KeyedStream") -> "ConnectedStreams":
        return ConnectedStreams(self, other)

    def window(self, assigner: Any) -> WindowedStream:
        return WindowedStream(self, assigner)


class ConnectedStreams:
    """Two keyed streams processed together."""

    def __init__(self, first: KeyedStream, second: KeyedStream) -> None:
        self._first, self._second = first, second

    def process(self, function: KeyedCoProcessFunction) -> DataStream:
        inner = self._first._stream._inner
        edges = [self._first._input(), self._second._input()]
        sides = _SideOutputs()
        p = _Pending(["KeyedCoProcess"], "co-process", ("transform", edges),
                     lambda nxt: _KeyedHead(function, nxt, self._first.key_type, two_inputs=True, sides=sides))
        p.sides = sides
        p.encoders = [_keyed_encoder(self._first._key), _keyed_encoder(self._second._key)]
        return DataStream(inner, p)


class BroadcastStream:
    """A stream whose records every subtask of the next operator receives."""

    def __init__(self, stream: DataStream) -> None:
        self.stream = stream


class BroadcastConnectedStream:
    """A keyed stream connected to a broadcast stream."""

    def __init__(self, keyed: KeyedStream, broadcast: BroadcastStream) -> None:
        self._keyed, self._broadcast = keyed, broadcast

    def process(self, function: KeyedBroadcastProcessFunction) -> DataStream:
        inner = self._keyed._stream._inner
        keyed = self._keyed._input()
        m = inner.max_parallelism

        def end() -> Push:
            def push(v: Any, ts: int, out: Output) -> None:
                data = pickle.dumps(v)
                for key in _group_keys(m):
                    out.emit(ts, key, data)

            return _decoding(push, pickle.loads)

        broadcast = (inner.materialize(self._broadcast.stream._p, end), g.HASH)
        sides = _SideOutputs()
        key_type = self._keyed.key_type
        p = _Pending(["KeyedBroadcastProcess"], "broadcast-process", ("transform", [keyed, broadcast]),
                     lambda nxt: _KeyedHead(function, nxt, key_type, sides=sides, broadcast=True))
        p.sides = sides
        p.encoders = [_keyed_encoder(self._keyed._key),
                      lambda v: (_group_keys(m)[_owned_groups()[0]], pickle.dumps(v))]
        return DataStream(inner, p)


class Env:
    """The environment a pipeline is built on (Flink's ``StreamExecutionEnvironment``)."""

    def __init__(self, inner: _Inner) -> None:
        self._inner = inner

    def set_job_name(self, name: str) -> None:
        self._inner.graph._graph.name = name

    def enable_checkpointing(self, interval_ms: int) -> None:
        self._inner.graph.checkpointing(interval_ms)

    def set_event_time(self, max_out_of_orderness_ms: int, idleness_ms: Optional[int] = None) -> None:
        self._inner.graph.event_time(max_out_of_orderness_ms, idleness_ms)

    def set_max_parallelism(self, max_parallelism: int) -> None:
        self._inner.graph.max_parallelism(max_parallelism)
        self._inner.max_parallelism = max_parallelism

    def from_source(self, source: Any, schema: Any) -> DataStream:
        connector, name = source.connector()
        p = _Pending([name], "source", ("source", connector), lambda nxt: _SourceHead(schema, nxt))
        p.encoders = [schema.encode]
        return DataStream(self._inner, p)


class StreamJob:
    """A job written with the typed API; :func:`export_stream` exports it."""

    def build(self, env: Env, args: List[str]) -> None:
        """Builds the pipeline from the program arguments (again in every subtask: the same
        pipeline from the same arguments)."""
        raise NotImplementedError


class _Streamed(Job):
    def __init__(self, job: StreamJob) -> None:
        self._job = job

    def plan(self, args: List[str]) -> Any:
        inner = _Inner(json.dumps(list(args)), None)
        self._job.build(Env(inner), list(args))
        for sink in inner.sinks:
            uid = sink["uid"] or f"sink-{sink['index']}"
            inner.register(uid)
            op = inner.graph.sink(uid, sink["name"], sink["connector"], sink["input"])
            if sink["parallelism"] is not None:
                inner.graph.set_parallelism(op, sink["parallelism"])
        if inner.errors:
            raise ValueError("; ".join(inner.errors))
        return inner.graph.build()

    def open(self, context: Any) -> Operator:
        operator = self.open_inner(context).operator
        assert operator is not None
        return operator

    def open_inner(self, context: Any) -> _Inner:
        """The pipeline built for ``context``'s operator (its operator, input encodings and
        output decoding: what weir_sdk.testing reads)."""
        _SUBTASK[:] = [context.subtask_index, context.parallelism, context.max_parallelism]
        args = json.loads(context.config)
        inner = _Inner(context.config, context.function)
        self._job.build(Env(inner), list(args))
        if inner.operator is None:
            raise ValueError(f"this job has no operator with uid '{context.function}'")
        return inner


def export_stream(job: StreamJob) -> Tuple[type, type]:
    """The ``Plan`` and ``Operator`` classes componentize-py exports for a typed job."""
    from ._runtime import exports

    return exports(_Streamed(job))


# The plan types, for jobs that want them (delivery guarantees, starting offsets).
DeliveryGuarantee = wit.DeliveryGuarantee
StartingOffsets = wit.StartingOffsets
