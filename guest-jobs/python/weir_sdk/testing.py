"""Testing a typed job in plain CPython (unittest or pytest), with no component and no cluster:
the counterpart of the Rust ``weir-test-harness`` and of Flink's operator test harnesses.

:class:`OperatorHarness` opens one operator of a :class:`~weir_sdk.stream.StreamJob` (by its
uid) as subtask 0 of parallelism 1; :class:`JobHarness` opens all of them and passes records
from each to the next, as a small in-process cluster would. Both run the same ``weir_sdk.stream``
code the component runs, on an in-memory host (``weir_sdk._host``): keyed state and timers per
operator, a watermark and a processing-time clock that move only when the test moves them. No
sleeps, no threads: every call returns once the job has handled it::

    from weir_sdk.testing import OperatorHarness

    h = OperatorHarness.open(WordCount(), [], "counter")
    h.process_element("to", timestamp=10)        # through the job's own key selector
    h.advance_watermark(20)                      # fires event-time timers <= 20
    h.set_processing_time(5_000)                 # fires processing-time timers <= 5000
    assert h.take_values() == ["to,1"]
    assert h.value_state_json("tally", "to") == {"count": 1}

Values go in as the operator's input receives them from upstream (``process_element``: a
keyed operator's records are keyed by the job's key selector; a source's are encoded with its
schema), or as bytes (``process_raw``). What the operator emitted comes out decoded as the next
operator reads it (``take_values``; before a sink, the text the sink writes), per side output
(``take_side_output``), or as raw records (``take_output``).
"""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from . import Output, Records
from . import _host
from . import frame
from .stream import OutputTag, StreamJob, _Streamed, encode_key, from_json

__all__ = ["OperatorHarness", "JobHarness", "OutputRecord", "RegisteredTimer", "HarnessError",
           "EVENT_TIME", "PROCESSING_TIME", "MIN_TIMESTAMP", "MAX_TIMESTAMP"]

EVENT_TIME = _host.TimeDomain.EVENT_TIME
PROCESSING_TIME = _host.TimeDomain.PROCESSING_TIME
MIN_TIMESTAMP = _host.MIN_TIMESTAMP
"""No timestamp (a record's), no watermark yet."""
MAX_TIMESTAMP = _host.MAX_TIMESTAMP
"""The end of time: the watermark at the end of a bounded input."""

#: How many fired timers go to the operator in one ``on_timers`` call, as the runtime hands them.
TIMERS_PER_CALL = 1024


class HarnessError(Exception):
    """The harness cannot do what the test asked (an unknown uid, a watermark moved back…)."""


class OutputRecord(NamedTuple):
    """A record an operator emitted."""

    timestamp: Optional[int]
    key: bytes
    value: bytes


class RegisteredTimer(NamedTuple):
    """A timer registered and not yet fired."""

    domain: Any
    key: bytes
    namespace: bytes
    time: int


def _key_bytes(key: Any) -> bytes:
    return bytes(key) if isinstance(key, (bytes, bytearray)) else encode_key(key)


class OperatorHarness:
    """One operator of a typed job, opened alone, fed and read back by the test."""

    def __init__(self, job: StreamJob, args: Sequence[str], uid: str, clock: Optional[_host.Clock] = None) -> None:
        """Use :meth:`open`."""
        streamed = _Streamed(job)
        args = [str(a) for a in args]
        self.graph = streamed.plan(args)
        ops = self.graph.operators
        found = [o for o in ops if o.uid == uid]
        if not found:
            raise HarnessError(f"job '{self.graph.name}' has no operator with uid '{uid}' (its uids: "
                               f"{', '.join(o.uid for o in ops)})")
        op = found[0]
        kind = op.kind
        if isinstance(kind, _host.OperatorKind_Sink):
            raise HarnessError(f"'{uid}' is a sink: it runs no function of the job (open the operator before it)")
        function = kind.value.function
        if function is None:
            raise HarnessError(f"'{uid}' runs no function of the job")
        self.uid, self.name = uid, op.name
        self.keyed = any(i.strategy == _host.ShipStrategy.HASH for i in op.inputs)
        self._n_inputs = 1 if isinstance(kind, _host.OperatorKind_Source) else len(op.inputs)
        self._clock = clock or _host.Clock()
        self._services = _host.Services(op.name, self.keyed, self._clock)
        context = _host.OperatorContext(self.graph.name, uid, op.name, function, op.config, 0, 1,
                                        self.graph.max_parallelism, self.keyed)
        self._records: List[OutputRecord] = []
        self._inner: Any = None

        def opened(_: Any, __: Any) -> None:
            self._inner = streamed.open_inner(context)

        self._call(opened, started=False)
        self._operator = self._inner.operator
        pending = self._inner.pending
        self._encoders = pending.encoders
        self._sides: List[str] = list(pending.sides.tags) if pending.sides is not None else []
        self._decode = self._inner.output_decode

    @classmethod
    def open(cls, job: StreamJob, args: Sequence[str] = (), uid: str = "") -> "OperatorHarness":
        """Plans ``job`` with the program arguments ``args`` and opens the operator ``uid`` as
        subtask 0 of 1: keyed (state and timers) when its input is keyed. The watermark is
        :data:`MIN_TIMESTAMP` and the processing time 0 until the test moves them."""
        return cls(job, args, uid)

    # -- calls into the operator

    def _call(self, body: Any, started: bool = True) -> None:
        before = _host.make_current(self._services)
        out = Output()
        try:
            body(self._operator if started else None, out)
        finally:
            try:
                out.flush()
            finally:
                _host.make_current(before)

    @property
    def inputs(self) -> int:
        """How many inputs the operator reads (a source's function reads its connector: one)."""
        return self._n_inputs

    @property
    def watermark(self) -> int:
        """The watermark the operator sees."""
        return self._services.watermark

    @property
    def processing_time(self) -> int:
        """The processing time the operator sees."""
        return self._clock.now

    def _check_input(self, input: int) -> None:
        if not 0 <= input < self._n_inputs:
            raise HarnessError(f"operator '{self.uid}' has {self._n_inputs} input(s): there is no input {input}")

    def process_element(self, value: Any, timestamp: Optional[int] = None, input: int = 0) -> None:
        """Hands ``value`` to input ``input`` as the upstream operator sends it (keyed by the
        job's key selector for a keyed input; encoded with the schema for a source), with event
        time ``timestamp`` (none when ``None``)."""
        self.process_elements([(value, timestamp)], input)

    def process_elements(self, values: Iterable[Tuple[Any, Optional[int]]], input: int = 0) -> None:
        """Hands ``(value, timestamp)`` pairs to input ``input`` as one batch (one call)."""
        self._check_input(input)
        encode = self._encoders[input]
        self.process_raw_elements([(*encode(v), ts) for v, ts in values], input)

    def process_raw(self, key: bytes, value: bytes, timestamp: Optional[int] = None, input: int = 0) -> None:
        """Hands one record, as bytes, to input ``input``."""
        self.process_raw_elements([(key, value, timestamp)], input)

    def process_raw_elements(self, records: Iterable[Tuple[bytes, bytes, Optional[int]]], input: int = 0) -> None:
        """Hands ``(key, value, timestamp)`` records, as bytes, to input ``input`` in one batch."""
        self._check_input(input)
        batch = bytearray()
        for key, value, ts in records:
            frame.push(batch, MIN_TIMESTAMP if ts is None else ts, bytes(key), bytes(value))
        if batch:
            self._call(lambda op, out: op.process(input, Records(bytes(batch)), out))

    def advance_watermark(self, watermark: int) -> None:
        """Sets the watermark the operator sees and fires, in time order, every event-time timer
        at or before it (those due when it is called: a timer registered while they fire, at or
        before the watermark, fires at the next advance, as in the runtime)."""
        if watermark < self._services.watermark:
            raise HarnessError(f"the watermark is {self._services.watermark}: it cannot go back to {watermark}")
        self._services.watermark = watermark
        self._fire(EVENT_TIME, watermark)

    def set_processing_time(self, time: int) -> None:
        """Sets the processing time the operator sees and fires, in time order, every
        processing-time timer at or before it. Nothing else moves the clock."""
        self._clock.now = time
        self._fire(PROCESSING_TIME, time)

    def fire_processing_timers(self) -> None:
        """Fires the processing-time timers due at the current processing time (after another
        operator's harness moved a shared clock)."""
        self._fire(PROCESSING_TIME, self._clock.now)

    def finish(self) -> None:
        """Ends the input as the runtime does at the end of a bounded input: the watermark goes
        to :data:`MAX_TIMESTAMP` (every event-time timer fires), then every processing-time
        timer fires, then the operator's ``finish``."""
        if self._services.watermark < MAX_TIMESTAMP:
            self.advance_watermark(MAX_TIMESTAMP)
        self._fire(PROCESSING_TIME, MAX_TIMESTAMP)
        self._call(lambda op, out: op.finish(out))

    def _fire(self, domain: Any, upto: int) -> None:
        due = self._services.pop_due(domain, upto)
        for i in range(0, len(due), TIMERS_PER_CALL):
            chunk = due[i:i + TIMERS_PER_CALL]
            self._call(lambda op, out: op.on_timers(chunk, out))

    # -- what it emitted

    def _collect(self) -> None:
        for batch in self._services.output:
            for r in frame.records(batch):
                ts = None if r.timestamp == MIN_TIMESTAMP else r.timestamp
                self._records.append(OutputRecord(ts, bytes(r.key), bytes(r.value)))
        self._services.output.clear()

    def take_output(self) -> List[OutputRecord]:
        """Every record emitted since the last take, as bytes, in order (side outputs' too)."""
        self._collect()
        records, self._records = self._records, []
        return records

    def _take(self, tag: int) -> List[OutputRecord]:
        """The records of output ``tag`` (0: the main output), removed from those kept."""
        self._collect()
        if not self._sides:
            if tag:
                return []
            records, self._records = self._records, []
            return records
        taken = [r for r in self._records if r.value[:1] == bytes([tag])]
        self._records = [r for r in self._records if r.value[:1] != bytes([tag])]
        return taken

    def _decode_value(self, value: bytes) -> Any:
        return value if self._decode is None else self._decode(value)

    def take_values(self) -> List[Any]:
        """The main output's values since the last take, as the next operator reads them (the
        text a sink after it writes)."""
        return [self._decode_value(r.value) for r in self._take(0)]

    def take_timestamped_values(self) -> List[Tuple[Any, Optional[int]]]:
        """:meth:`take_values` with each value's timestamp."""
        return [(self._decode_value(r.value), r.timestamp) for r in self._take(0)]

    def take_side_output(self, tag: OutputTag) -> List[Any]:
        """The values emitted to the side output ``tag`` since the last take (only side outputs
        the job reads with ``get_side_output`` are emitted, as in Flink)."""
        if tag.id not in self._sides:
            return []
        import pickle

        return [pickle.loads(r.value[1:]) for r in self._take(self._sides.index(tag.id) + 1)]

    # -- state, timers, metrics

    def _keyed_services(self) -> _host.Services:
        if not self.keyed:
            raise HarnessError(f"operator '{self.uid}' is not keyed: it has no keyed state")
        return self._services

    def value_state(self, name: str, key: Any, namespace: bytes = b"") -> Optional[bytes]:
        """Value state ``name`` of ``key`` (a key as the key selector returns it, or bytes), as
        stored; ``None`` if unset."""
        return self._keyed_services().values.get((name, _key_bytes(key), bytes(namespace)))

    def value_state_json(self, name: str, key: Any, kind: Optional[type] = None) -> Any:
        """Value state ``name`` of ``key`` decoded from JSON, as the typed API stores it (into
        the dataclass ``kind`` when given)."""
        data = self.value_state(name, key)
        return None if data is None else from_json(data, kind)

    def map_state(self, name: str, key: Any, namespace: bytes = b"") -> List[Tuple[bytes, bytes]]:
        """Map state ``name`` of ``key``: its entries as stored, in map key order."""
        entries = self._keyed_services().maps.get((name, _key_bytes(key), bytes(namespace)), {})
        return sorted(entries.items())

    def map_state_json(self, name: str, key: Any) -> Dict[Any, Any]:
        """Map state ``name`` of ``key`` with its keys and values decoded from JSON (a window's
        ``window-contents``: window end → accumulator)."""
        return {json.loads(k): json.loads(v) for k, v in self.map_state(name, key)}

    def timers(self) -> List[RegisteredTimer]:
        """Every timer registered and not yet fired: event-time ones, then processing-time
        ones, each in time order."""
        order = {EVENT_TIME: 0, PROCESSING_TIME: 1}
        ts = sorted(self._services.timers, key=lambda t: (order[t[0]], t[3], t[1], t[2]))
        return [RegisteredTimer(d, k, n, t) for d, k, n, t in ts]

    def metrics(self) -> Dict[str, float]:
        """The operator's metrics (its counters and gauges, and the SDK's such as
        ``numLateRecordsDropped``), by name."""
        return dict(self._services.metrics)

    def logs(self) -> List[Tuple[Any, str]]:
        """What the operator logged: (level, message)."""
        return list(self._services.logs)


class JobHarness:
    """A whole typed job at parallelism 1: records sent to its sources go through every
    operator, and what reaches each sink is kept for the test. Watermarks and processing time
    move for all operators at once, in the pipeline's order."""

    def __init__(self, job: StreamJob, args: Sequence[str] = ()) -> None:
        """Use :meth:`open`."""
        args = [str(a) for a in args]
        self.graph = _Streamed(job).plan(args)
        self._clock = _host.Clock()
        self._operators: Dict[str, OperatorHarness] = {}
        self._sinks: Dict[str, List[OutputRecord]] = {}
        self._downstream: Dict[str, List[Tuple[str, int]]] = {}
        self._sources: List[str] = []
        for op in self.graph.operators:
            for index, edge in enumerate(op.inputs):
                self._downstream.setdefault(edge.from_, []).append((op.uid, index))
            if isinstance(op.kind, _host.OperatorKind_Sink):
                self._sinks[op.uid] = []
                continue
            self._operators[op.uid] = OperatorHarness(job, args, op.uid, self._clock)
            if isinstance(op.kind, _host.OperatorKind_Source):
                self._sources.append(op.uid)

    @classmethod
    def open(cls, job: StreamJob, args: Sequence[str] = ()) -> "JobHarness":
        """Plans ``job`` with ``args`` and opens every operator as subtask 0 of 1."""
        return cls(job, args)

    def operator(self, uid: str) -> OperatorHarness:
        """The harness of operator ``uid``: its state, timers and metrics."""
        if uid not in self._operators:
            raise HarnessError(f"job '{self.graph.name}' runs no function with uid '{uid}' (those that do: "
                               f"{', '.join(self._operators)})")
        return self._operators[uid]

    def _one(self, uid: Optional[str], among: Sequence[str], what: str) -> str:
        if uid is not None:
            if uid not in among:
                raise HarnessError(f"job '{self.graph.name}' has no {what} '{uid}' (its {what}s: {', '.join(among)})")
            return uid
        if len(among) != 1:
            raise HarnessError(f"job '{self.graph.name}' has {len(among)} {what}s ({', '.join(among)}): name one")
        return among[0]

    def _route(self, uid: str) -> None:
        """Hands what ``uid`` emitted to every operator and sink after it, depth first."""
        records = self._operators[uid].take_output()
        if not records:
            return
        for target, index in self._downstream.get(uid, []):
            if target in self._sinks:
                self._sinks[target].extend(records)
            else:
                self._operators[target].process_raw_elements(
                    [(r.key, r.value, r.timestamp) for r in records], index)
                self._route(target)

    def send(self, value: Any, timestamp: Optional[int] = None, source: Optional[str] = None) -> None:
        """Hands a record to the source ``source`` (the only one when ``None``), as its schema
        would have read it from the connector (a ``str`` for ``Text``, a dict or dataclass for
        ``Json``), with the connector's timestamp ``timestamp``."""
        uid = self._one(source, self._sources, "source")
        self._operators[uid].process_element(value, timestamp)
        self._route(uid)

    def send_raw(self, key: bytes, value: bytes, timestamp: Optional[int] = None, source: Optional[str] = None) -> None:
        """Hands a record, as the connector's bytes, to the source ``source``."""
        uid = self._one(source, self._sources, "source")
        self._operators[uid].process_raw(key, value, timestamp)
        self._route(uid)

    def advance_watermark(self, watermark: int) -> None:
        """Moves every operator's watermark to ``watermark`` in the pipeline's order, firing its
        event-time timers and passing on what they emit."""
        for uid, op in self._operators.items():
            op.advance_watermark(watermark)
            self._route(uid)

    def set_processing_time(self, time: int) -> None:
        """Sets the processing time every operator sees and fires their processing-time timers."""
        self._clock.now = time
        for uid, op in self._operators.items():
            op.fire_processing_timers()
            self._route(uid)

    def finish(self) -> None:
        """Ends the input: every operator, in order, sees the end of time, fires all its timers
        and finishes."""
        for uid, op in self._operators.items():
            op.finish()
            self._route(uid)

    def take_output(self, sink: Optional[str] = None) -> List[OutputRecord]:
        """The records that reached the sink ``sink`` (the only one when ``None``) since the
        last take, as the sink writes them."""
        uid = self._one(sink, list(self._sinks), "sink")
        records, self._sinks[uid] = self._sinks[uid], []
        return records

    def take_values(self, sink: Optional[str] = None) -> List[Any]:
        """:meth:`take_output`'s values, as text when they are UTF-8."""
        out: List[Any] = []
        for r in self.take_output(sink):
            try:
                out.append(r.value.decode())
            except UnicodeDecodeError:
                out.append(r.value)
        return out
