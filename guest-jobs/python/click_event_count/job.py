"""The Operations Playground's Click Event Count job, in Python.

Clicks are read from Kafka (or the built-in generator), keyed by page and counted in 15 s
tumbling windows; each window's count goes to ``output`` as
``{"windowStart":…,"windowEnd":…,"page":…,"count":1000}``. The program arguments, the operator
uids and names, the operators' configuration, the output and the state layout are those of the
Rust job (``guest-jobs/click-event-job``), so a savepoint moves between the two.
"""

from __future__ import annotations

from typing import List, Optional

from weir_sdk import Args, ArgumentError, Job, Operator, OperatorContext, Output, Records
from weir_sdk import graph as g
from weir_sdk.metrics import Counter, Level, RateLimitedLog
from weir_sdk.time import EVENT_TIME, MIN_TIMESTAMP, PROCESSING_TIME, Timer, current_processing_time, current_watermark, sleep
from weir_sdk.window import Count, TumblingWindows, Window

from .click_event import WINDOW_SIZE_MS, EventError, json_str, parse_event, resolve, write_statistics


class Uid:
    """The operators' stable uids: state is matched by them across savepoints and upgrades."""

    SOURCE = "click-event-source"
    BACKPRESSURE = "backpressure"
    COUNTER = "click-event-counter"
    SINK = "click-event-statistics-sink"


class Function:
    """The guest functions the graph names."""

    DESERIALIZE = "deserialize-click-event"
    BACKPRESSURE = "backpressure-map"
    COUNT = "count-clicks"


class JobArgs:
    """The program arguments, as the Rust job reads them (same names, defaults and checks)."""

    def __init__(self, raw: List[str]) -> None:
        a = Args(raw)
        self.bootstrap_servers = a.value("bootstrap.servers", "localhost:9092")
        self.input_topic = a.value("input-topic", "input")
        self.output_topic = a.value("output-topic", "output")
        self.checkpointing = a.flag("checkpointing")
        self.checkpoint_interval_ms = a.unsigned("checkpointing.interval-ms")
        self.event_time = a.flag("event-time")
        self.backpressure = a.flag("backpressure")
        self.source = a.choice("source", ["kafka", "datagen"], "kafka")
        self.sink = a.choice("sink", ["kafka", "print", "discard"], "kafka")
        self.datagen_count = a.unsigned("datagen.count")
        self.datagen_rate = a.unsigned("datagen.rate")
        self.bounded = a.flag("bounded")
        self.starting_offsets = {
            "earliest": g.StartingOffsets.EARLIEST,
            "latest": g.StartingOffsets.LATEST,
            "committed": g.StartingOffsets.COMMITTED,
        }[a.choice("starting-offsets", ["earliest", "latest", "committed"], "earliest")]
        self.delivery_guarantee = {
            "exactly-once": g.DeliveryGuarantee.EXACTLY_ONCE,
            "at-least-once": g.DeliveryGuarantee.AT_LEAST_ONCE,
            "none": g.DeliveryGuarantee.NONE,
        }[a.choice("delivery-guarantee", ["at-least-once", "exactly-once", "none"], "exactly-once")]
        sleep_ms = a.unsigned("backpressure.sleep-ms")
        schedule = a.choice("backpressure.schedule", ["even-minutes", "always"], "even-minutes")
        self.backpressure_config = f"{schedule} {100 if sleep_ms is None else sleep_ms}"
        self.transactions = a.flag("sink.transactions")
        # Accepted for compatibility: Weir never chains operators.
        a.flag("chaining")
        a.finish()
        if not self.bootstrap_servers.strip():
            raise ArgumentError("argument --bootstrap.servers must not be empty")
        if self.checkpoint_interval_ms is not None and not self.checkpointing:
            raise ArgumentError("argument --checkpointing.interval-ms needs --checkpointing")
        if self.checkpoint_interval_ms == 0:
            raise ArgumentError("argument --checkpointing.interval-ms must be at least 1")
        if self.transactions and self.delivery_guarantee != g.DeliveryGuarantee.EXACTLY_ONCE:
            raise ArgumentError("argument --sink.transactions needs --delivery-guarantee exactly-once")
        if self.source == "kafka" and (self.datagen_count is not None or self.datagen_rate is not None):
            raise ArgumentError("arguments --datagen.count and --datagen.rate need --source datagen")


class ClickEventCount(Job):
    """The job: its graph, and an operator per guest function."""

    def plan(self, args: List[str]):
        a = JobArgs(args)
        b = g.GraphBuilder("Click Event Count")
        properties = [("group.id", "click-event-count")]
        if a.source == "datagen":
            connector = g.datagen_source(a.datagen_count, a.datagen_rate)
        else:
            topic = g.kafka_topic(a.input_topic, a.bootstrap_servers, properties)
            connector = g.kafka_source(topic, a.starting_offsets, a.bounded)
        upstream = b.source(Uid.SOURCE, "ClickEvent Source", connector, Function.DESERIALIZE)
        if a.backpressure:
            upstream = b.transform(Uid.BACKPRESSURE, "Backpressure", Function.BACKPRESSURE, [(upstream, g.HASH)])
            b.set_config(upstream, a.backpressure_config)
        counter = b.transform(Uid.COUNTER, "ClickEvent Counter", Function.COUNT, [(upstream, g.HASH)])
        b.set_config(counter, "event-time" if a.event_time else "processing-time")
        if a.sink == "print":
            sink = g.PRINT
        elif a.sink == "discard":
            sink = g.DISCARD
        else:
            topic = g.kafka_topic(a.output_topic, a.bootstrap_servers, properties)
            if a.transactions:
                topic.properties.append(("weir.exactly-once", "transactions"))
            sink = g.kafka_sink(topic, a.delivery_guarantee)
        b.sink(Uid.SINK, "ClickEventStatistics Sink", sink, counter)
        if a.event_time:
            # The playground's WatermarkStrategy: 200 ms out of orderness, 5 s idleness.
            b.event_time(200, 5_000)
        if a.checkpointing:
            b.checkpointing(a.checkpoint_interval_ms or 1_000)
        return b.build()

    def open(self, context: OperatorContext) -> Operator:
        if context.function == Function.DESERIALIZE:
            return Deserializer()
        if context.function == Function.BACKPRESSURE:
            return BackpressureMap(context.config)
        if context.function == Function.COUNT:
            domain, _, version = context.config.partition(" ")
            if domain not in ("event-time", "processing-time"):
                raise ValueError(f"unknown time characteristic '{domain}'")
            return ClickEventCounter(EVENT_TIME if domain == "event-time" else PROCESSING_TIME, version or None)
        raise ValueError(f"this job has no function '{context.function}'")


class Deserializer(Operator):
    """Reads click events (Flink's ``ClickEventDeserializationSchema`` and timestamp assigner):
    the page becomes the record's key and the event time its timestamp. Malformed records are
    skipped, counted and logged at a bounded rate."""

    def __init__(self) -> None:
        self._malformed = Counter("numMalformedRecordsSkipped")
        self._log = RateLimitedLog(10_000)
        # The last event time read: the reference for the 12-hour clock.
        self._last_timestamp: Optional[int] = None

    def process(self, input: int, records: Records, out: Output) -> None:
        reference = self._last_timestamp
        if reference is None:
            watermark = current_watermark()
            reference = None if watermark == MIN_TIMESTAMP else watermark
        malformed = 0
        emit = out.emit
        for record in records:
            try:
                event = parse_event(record.value)
            except EventError as error:
                malformed += 1
                shown = record.value[:200].decode(errors="replace")
                self._log.log(Level.WARN, lambda: f"skipping a malformed click event ({error}): {shown}")
                continue
            reference = resolve(event.timestamp_am, reference)
            emit(reference, event.page.encode(), b"")
        self._last_timestamp = reference
        self._malformed.inc(malformed)


class BackpressureMap(Operator):
    """The playground's ``BackpressureMap``: passes records through, sleeping per record during
    even minutes of the wall clock (or always, with ``--backpressure.schedule always``)."""

    def __init__(self, config: str) -> None:
        schedule, _, sleep_ms = config.partition(" ")
        if not sleep_ms.isdigit():
            raise ValueError(f"bad backpressure configuration '{config}'")
        self._always = schedule == "always"
        self._sleep_ms = int(sleep_ms)

    def _cause_backpressure(self) -> bool:
        return self._always or (current_processing_time() // 60_000) % 2 == 0

    def process(self, input: int, records: Records, out: Output) -> None:
        if not self._cause_backpressure():
            out.emit_batch(records.batch)
            return
        for record in records:
            if self._cause_backpressure():
                sleep(self._sleep_ms)
            out.emit_record(record)
            # Hand each record on at once, as Flink's map does, rather than holding the batch.
            out.flush()


class ClickEventCounter(Operator):
    """The window operator: counts clicks per page and window (Flink's ``CountingAggregator``
    and ``ClickEventStatisticsCollector``), in the Rust job's state: value state
    ``window-contents``, an ``i64`` count per (page, window start)."""

    def __init__(self, domain, version: Optional[str]) -> None:
        self._windows = TumblingWindows("window-contents", WINDOW_SIZE_MS, domain, Count())
        self._version = version

    def process(self, input: int, records: Records, out: Output) -> None:
        self._windows.add(records)

    def on_timers(self, timers: List[Timer], out: Output) -> None:
        def emit(page: bytes, window: Window, count: int) -> None:
            json = write_statistics(window.start, window.end, page.decode(errors="replace"), count)
            if self._version is not None:
                json = json[:-1] + ',"version":' + json_str(self._version) + "}"
            out.emit(window.max_timestamp, b"", json.encode())

        self._windows.fire(timers, emit)

