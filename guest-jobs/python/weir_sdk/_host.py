"""An in-memory host for plain CPython: the ``wit_world`` bindings componentize-py generates
for a component, written by hand, so that the SDK's modules (``stream``, ``state``, ``time``,
``window``…) import and run unchanged outside a component. :mod:`weir_sdk.testing` drives it.

``weir_sdk`` installs it when ``wit_world`` cannot be imported (never inside a component, where
componentize-py provides the real one). Each operator subtask the harness opens has its own
:class:`Services` (keyed state, timers, output, metrics, log, watermark); the harness makes a
subtask's services current around every call into it, as the runtime gives each instance its
own host. Handles (state, metrics) bind to the services current when they are created.
"""

from __future__ import annotations

import enum
import sys
import types as pytypes
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

MIN_TIMESTAMP = -(2**63)
MAX_TIMESTAMP = 2**63 - 1


class TimeDomain(enum.Enum):
    EVENT_TIME = 0
    PROCESSING_TIME = 1


@dataclass
class Timer:
    key: bytes
    namespace: bytes
    time: int
    domain: TimeDomain


class Level(enum.Enum):
    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4


class Clock:
    """The processing time every subtask of a harness reads: moved only by the test."""

    def __init__(self, now: int = 0) -> None:
        self.now = now


class Services:
    """What the host gives one operator subtask."""

    def __init__(self, name: str, keyed: bool, clock: Clock) -> None:
        self.name, self.keyed, self.clock = name, keyed, clock
        self.watermark = MIN_TIMESTAMP
        self.values: Dict[Tuple[str, bytes, bytes], bytes] = {}
        self.maps: Dict[Tuple[str, bytes, bytes], Dict[bytes, bytes]] = {}
        self.timers: Set[Tuple[TimeDomain, bytes, bytes, int]] = set()
        self.output: List[bytes] = []
        self.metrics: Dict[str, float] = {}
        self.logs: List[Tuple[Level, str]] = []

    def keyed_only(self, what: str) -> None:
        if not self.keyed:
            raise RuntimeError(
                f"{what} used in operator '{self.name}', whose input is not keyed: keyed state and timers "
                "are available only after key_by"
            )

    def pop_due(self, domain: TimeDomain, upto: int) -> List[Timer]:
        """The timers of ``domain`` at or before ``upto``, removed, in (time, key, namespace) order."""
        due = sorted((t for t in self.timers if t[0] == domain and t[3] <= upto), key=lambda t: (t[3], t[1], t[2]))
        for t in due:
            self.timers.discard(t)
        return [Timer(key, namespace, time, d) for d, key, namespace, time in due]


_current: List[Optional[Services]] = [None]


def current() -> Services:
    services = _current[0]
    if services is None:
        raise RuntimeError(
            "a host service was used outside of an operator call: in plain CPython, run the job's operators "
            "with weir_sdk.testing (OperatorHarness, JobHarness)"
        )
    return services


def make_current(services: Optional[Services]) -> Optional[Services]:
    """Makes ``services`` current; returns the ones that were."""
    before = _current[0]
    _current[0] = services
    return before


# ---------------------------------------------------------------------------------------------
# wit_world.imports


class ValueState:
    def __init__(self, name: str) -> None:
        self._s, self._name = current(), name

    def get(self, key: bytes, namespace: bytes) -> Optional[bytes]:
        self._s.keyed_only("keyed state")
        return self._s.values.get((self._name, bytes(key), bytes(namespace)))

    def set(self, key: bytes, namespace: bytes, value: bytes) -> None:
        self._s.keyed_only("keyed state")
        self._s.values[(self._name, bytes(key), bytes(namespace))] = bytes(value)

    def clear(self, key: bytes, namespace: bytes) -> None:
        self._s.keyed_only("keyed state")
        self._s.values.pop((self._name, bytes(key), bytes(namespace)), None)


class MapState:
    def __init__(self, name: str) -> None:
        self._s, self._name = current(), name

    def _map(self, key: bytes, namespace: bytes, create: bool) -> Optional[Dict[bytes, bytes]]:
        self._s.keyed_only("keyed state")
        k = (self._name, bytes(key), bytes(namespace))
        if create:
            return self._s.maps.setdefault(k, {})
        return self._s.maps.get(k)

    def get(self, key: bytes, namespace: bytes, map_key: bytes) -> Optional[bytes]:
        m = self._map(key, namespace, False)
        return None if m is None else m.get(bytes(map_key))

    def put(self, key: bytes, namespace: bytes, map_key: bytes, value: bytes) -> None:
        m = self._map(key, namespace, True)
        assert m is not None
        m[bytes(map_key)] = bytes(value)

    def remove(self, key: bytes, namespace: bytes, map_key: bytes) -> None:
        m = self._map(key, namespace, False)
        if m is not None:
            m.pop(bytes(map_key), None)
            if not m:
                self._s.maps.pop((self._name, bytes(key), bytes(namespace)), None)

    def entries(self, key: bytes, namespace: bytes) -> List[Tuple[bytes, bytes]]:
        m = self._map(key, namespace, False)
        return sorted(m.items()) if m else []

    def clear(self, key: bytes, namespace: bytes) -> None:
        self._s.keyed_only("keyed state")
        self._s.maps.pop((self._name, bytes(key), bytes(namespace)), None)


def current_watermark() -> int:
    return current().watermark


def current_processing_time() -> int:
    return current().clock.now


def sleep(millis: int) -> None:
    """Returns at once: time moves only when the test moves it."""


def _timer(domain: TimeDomain, key: bytes, namespace: bytes, time: int, register: bool) -> None:
    s = current()
    s.keyed_only("timers")
    t = (domain, bytes(key), bytes(namespace), int(time))
    if register:
        s.timers.add(t)
    else:
        s.timers.discard(t)


def register_event_time_timer(key: bytes, namespace: bytes, time: int) -> None:
    _timer(TimeDomain.EVENT_TIME, key, namespace, time, True)


def delete_event_time_timer(key: bytes, namespace: bytes, time: int) -> None:
    _timer(TimeDomain.EVENT_TIME, key, namespace, time, False)


def register_processing_time_timer(key: bytes, namespace: bytes, time: int) -> None:
    _timer(TimeDomain.PROCESSING_TIME, key, namespace, time, True)


def delete_processing_time_timer(key: bytes, namespace: bytes, time: int) -> None:
    _timer(TimeDomain.PROCESSING_TIME, key, namespace, time, False)


def emit(records: bytes) -> None:
    current().output.append(bytes(records))


class Counter:
    def __init__(self, name: str) -> None:
        self._s, self._name = current(), name
        self._s.metrics.setdefault(name, 0)

    def inc(self, n: int) -> None:
        self._s.metrics[self._name] = self._s.metrics.get(self._name, 0) + n


class Gauge:
    def __init__(self, name: str) -> None:
        self._s, self._name = current(), name
        self._s.metrics.setdefault(name, 0.0)

    def set(self, value: float) -> None:
        self._s.metrics[self._name] = value


def log(level: Level, message: str) -> None:
    current().logs.append((level, message))


# ---------------------------------------------------------------------------------------------
# wit_world.exports: the plan's types (as componentize-py names them) and the operator context


class ShipStrategy(enum.Enum):
    FORWARD = 0
    HASH = 1
    REBALANCE = 2


class StartingOffsets(enum.Enum):
    EARLIEST = 0
    LATEST = 1
    COMMITTED = 2


class DeliveryGuarantee(enum.Enum):
    NONE = 0
    AT_LEAST_ONCE = 1
    EXACTLY_ONCE = 2


@dataclass
class KafkaTopic:
    topic: str
    bootstrap_servers: str
    properties: List[Tuple[str, str]]


@dataclass
class KafkaSource:
    topic: KafkaTopic
    starting_offsets: StartingOffsets
    bounded: bool


@dataclass
class DatagenSource:
    count: Optional[int]
    rate: Optional[int]


@dataclass
class SourceConnector_Kafka:
    value: KafkaSource


@dataclass
class SourceConnector_Datagen:
    value: DatagenSource


@dataclass
class KafkaSink:
    topic: KafkaTopic
    delivery_guarantee: DeliveryGuarantee


@dataclass
class SinkConnector_Kafka:
    value: KafkaSink


@dataclass
class SinkConnector_Print:
    pass


@dataclass
class SinkConnector_Discard:
    pass


@dataclass
class Input:
    from_: str
    strategy: ShipStrategy


@dataclass
class SourceSpec:
    connector: Any
    function: Optional[str]


@dataclass
class TransformSpec:
    function: str


@dataclass
class OperatorKind_Source:
    value: SourceSpec


@dataclass
class OperatorKind_Transform:
    value: TransformSpec


@dataclass
class OperatorKind_Sink:
    value: Any


@dataclass
class Operator:
    uid: str
    name: str
    kind: Any
    inputs: List[Input]
    config: str
    parallelism: Optional[int]


@dataclass
class EventTime:
    max_out_of_orderness_ms: int
    idleness_ms: Optional[int]


@dataclass
class TimeCharacteristic_EventTime:
    value: EventTime


@dataclass
class TimeCharacteristic_ProcessingTime:
    pass


@dataclass
class JobGraph:
    name: str
    operators: List[Operator] = field(default_factory=list)
    time: Any = None
    checkpoint_interval_ms: Optional[int] = None
    max_parallelism: int = 128


SourceConnector = Any
SinkConnector = Any
OperatorKind = Any
TimeCharacteristic = Any


@dataclass
class OperatorContext:
    job_name: str
    uid: str
    name: str
    function: str
    config: str
    subtask_index: int
    parallelism: int
    max_parallelism: int
    keyed: bool


class Err(Exception):
    """componentize-py's error result."""

    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self.value = value


class _Export:
    """The base classes of componentize-py's exports (``Plan``, ``Operator``)."""


def install() -> None:
    """Registers this module's parts as ``wit_world`` and ``componentize_py_types``."""
    me = sys.modules[__name__]

    def module(name: str, **parts: Any) -> pytypes.ModuleType:
        m = pytypes.ModuleType(name)
        m.__dict__.update(parts)
        sys.modules[name] = m
        return m

    plan_names = [
        "ShipStrategy", "StartingOffsets", "DeliveryGuarantee", "KafkaTopic", "KafkaSource", "DatagenSource",
        "SourceConnector_Kafka", "SourceConnector_Datagen", "KafkaSink", "SinkConnector_Kafka",
        "SinkConnector_Print", "SinkConnector_Discard", "Input", "SourceSpec", "TransformSpec",
        "OperatorKind_Source", "OperatorKind_Transform", "OperatorKind_Sink", "Operator", "EventTime",
        "TimeCharacteristic_EventTime", "TimeCharacteristic_ProcessingTime", "JobGraph", "SourceConnector",
        "SinkConnector", "OperatorKind", "TimeCharacteristic",
    ]
    plan = module("wit_world.exports.plan", **{n: getattr(me, n) for n in plan_names})
    operator = module("wit_world.exports.operator", OperatorContext=OperatorContext)
    exports = module("wit_world.exports", plan=plan, operator=operator,
                     Plan=type("Plan", (_Export,), {}), Operator=type("Operator", (_Export,), {}))
    imports = module(
        "wit_world.imports",
        state=module("wit_world.imports.state", ValueState=ValueState, MapState=MapState),
        time=module("wit_world.imports.time", current_watermark=current_watermark,
                    current_processing_time=current_processing_time, sleep=sleep),
        timers=module("wit_world.imports.timers", register_event_time_timer=register_event_time_timer,
                      delete_event_time_timer=delete_event_time_timer,
                      register_processing_time_timer=register_processing_time_timer,
                      delete_processing_time_timer=delete_processing_time_timer),
        types=module("wit_world.imports.types", TimeDomain=TimeDomain, Timer=Timer),
        collector=module("wit_world.imports.collector", emit=emit),
        metrics=module("wit_world.imports.metrics", Counter=Counter, Gauge=Gauge),
        logging=module("wit_world.imports.logging", Level=Level, log=log),
    )
    module("wit_world", exports=exports, imports=imports, IN_MEMORY_HOST=True)
    module("componentize_py_types", Err=Err)
