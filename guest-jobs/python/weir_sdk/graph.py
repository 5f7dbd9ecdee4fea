"""Building the job graph that ``plan`` returns (what Flink's ``main()`` builds before
``execute()``).

    g = GraphBuilder("Click Event Count")
    source = g.source("source", "ClickEvent Source", datagen(count=6000), function="deserialize")
    counter = g.transform("counter", "ClickEvent Counter", "count", [(source, HASH)])
    g.sink("sink", "ClickEventStatistics Sink", DISCARD, counter)
    return g.build()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Tuple

from wit_world.exports import plan as wit

__all__ = [
    "GraphBuilder",
    "OperatorRef",
    "ShipStrategy",
    "FORWARD",
    "HASH",
    "REBALANCE",
    "StartingOffsets",
    "DeliveryGuarantee",
    "kafka_topic",
    "kafka_source",
    "datagen_source",
    "kafka_sink",
    "PRINT",
    "DISCARD",
    "DEFAULT_MAX_PARALLELISM",
]

ShipStrategy = wit.ShipStrategy
FORWARD = wit.ShipStrategy.FORWARD
HASH = wit.ShipStrategy.HASH
REBALANCE = wit.ShipStrategy.REBALANCE
StartingOffsets = wit.StartingOffsets
DeliveryGuarantee = wit.DeliveryGuarantee

PRINT = wit.SinkConnector_Print()
"""A sink that prints each record's value to the host's standard output (Flink's ``print()``)."""
DISCARD = wit.SinkConnector_Discard()
"""A sink that drops every record."""

DEFAULT_MAX_PARALLELISM = 128
"""Flink's default number of key groups."""


def kafka_topic(topic: str, bootstrap_servers: str, properties: Iterable[Tuple[str, str]] = ()) -> wit.KafkaTopic:
    """A Kafka topic on the given servers with the given client properties."""
    return wit.KafkaTopic(topic, bootstrap_servers, list(properties))


def kafka_source(
    topic: wit.KafkaTopic, starting_offsets: wit.StartingOffsets = StartingOffsets.EARLIEST, bounded: bool = False
) -> wit.SourceConnector:
    """A Kafka source connector (implemented by the host)."""
    return wit.SourceConnector_Kafka(wit.KafkaSource(topic, starting_offsets, bounded))


def datagen_source(count: Optional[int] = None, rate: Optional[int] = None) -> wit.SourceConnector:
    """The built-in click-event generator as a source: ``count`` events at ``rate`` per second."""
    return wit.SourceConnector_Datagen(wit.DatagenSource(count, rate))


def kafka_sink(
    topic: wit.KafkaTopic, delivery_guarantee: wit.DeliveryGuarantee = DeliveryGuarantee.EXACTLY_ONCE
) -> wit.SinkConnector:
    """A Kafka sink connector (implemented by the host)."""
    return wit.SinkConnector_Kafka(wit.KafkaSink(topic, delivery_guarantee))


@dataclass(frozen=True)
class OperatorRef:
    """An operator added to a :class:`GraphBuilder`, to connect others to."""

    uid: str
    index: int


class GraphBuilder:
    """Builds a job graph operator by operator, in topological order."""

    def __init__(self, name: str) -> None:
        """A processing-time job without checkpointing and with 128 key groups."""
        self._graph = wit.JobGraph(name, [], wit.TimeCharacteristic_ProcessingTime(), None, DEFAULT_MAX_PARALLELISM)

    def _add(self, uid: str, name: str, kind: wit.OperatorKind, inputs: list[wit.Input]) -> OperatorRef:
        self._graph.operators.append(wit.Operator(uid, name, kind, inputs, "", None))
        return OperatorRef(uid, len(self._graph.operators) - 1)

    def source(
        self, uid: str, name: str, connector: wit.SourceConnector, function: Optional[str] = None
    ) -> OperatorRef:
        """Adds a source reading from ``connector``, its batches handed to the guest ``function``."""
        return self._add(uid, name, wit.OperatorKind_Source(wit.SourceSpec(connector, function)), [])

    def transform(
        self, uid: str, name: str, function: str, inputs: Sequence[Tuple[OperatorRef, wit.ShipStrategy]]
    ) -> OperatorRef:
        """Adds an operator running the guest ``function`` on its inputs."""
        edges = [wit.Input(op.uid, strategy) for op, strategy in inputs]
        return self._add(uid, name, wit.OperatorKind_Transform(wit.TransformSpec(function)), edges)

    def sink(self, uid: str, name: str, connector: wit.SinkConnector, input: OperatorRef) -> OperatorRef:
        """Adds a sink fed through a forward edge from ``input``."""
        return self._add(uid, name, wit.OperatorKind_Sink(connector), [wit.Input(input.uid, FORWARD)])

    def set_config(self, op: OperatorRef, config: str) -> None:
        """Sets the configuration handed back to the operator's subtasks when they open."""
        self._graph.operators[op.index].config = config

    def set_parallelism(self, op: OperatorRef, parallelism: int) -> None:
        """Sets the operator's own parallelism."""
        self._graph.operators[op.index].parallelism = parallelism

    def event_time(self, max_out_of_orderness_ms: int, idleness_ms: Optional[int] = None) -> None:
        """Uses event time with bounded out-of-orderness watermarks (and source idleness)."""
        self._graph.time = wit.TimeCharacteristic_EventTime(wit.EventTime(max_out_of_orderness_ms, idleness_ms))

    def checkpointing(self, interval_ms: int) -> None:
        """Checkpoints every ``interval_ms``."""
        self._graph.checkpoint_interval_ms = interval_ms

    def max_parallelism(self, max_parallelism: int) -> None:
        """Sets the number of key groups."""
        self._graph.max_parallelism = max_parallelism

    def build(self) -> wit.JobGraph:
        """The finished graph, to return from :meth:`weir_sdk.Job.plan`."""
        return self._graph
