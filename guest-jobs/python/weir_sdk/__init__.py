"""Write Weir jobs in Python.

A job implements :class:`Job`: ``plan`` turns the program arguments into a job graph (see
:mod:`weir_sdk.graph`), ``open`` creates the :class:`Operator` for each parallel subtask of a
guest function the graph names. :func:`export` makes the two classes componentize-py looks for
in the app module::

    class MyJob(weir_sdk.Job):
        def plan(self, args): ...
        def open(self, context): ...

    Plan, Operator = weir_sdk.export(MyJob())

Around that the SDK gives typed keyed state (:mod:`weir_sdk.state`, with the encodings of
:mod:`weir_sdk.encoding`), timers and clocks (:mod:`weir_sdk.time`), metrics and logging
(:mod:`weir_sdk.metrics`), program arguments (:mod:`weir_sdk.args`) and tumbling windows
(:mod:`weir_sdk.window`), on the host services of the ``weir:job`` world. Records arrive and
leave in batches in the frame format (:mod:`weir_sdk.frame`); :class:`Output` does the framing.
The concepts, names and state layouts are the Rust SDK's (``guest-jobs/sdk``).
"""

from __future__ import annotations

import sys
from typing import Iterator, List, Tuple

try:
    import wit_world  # noqa: F401  (componentize-py's bindings of the host, inside a component)
except ModuleNotFoundError as _error:
    # Plain CPython (a unit test): the in-memory host that weir_sdk.testing drives.
    if _error.name != "wit_world" or sys.platform == "wasi":
        raise
    from . import _host

    _host.install()

from wit_world.exports.operator import OperatorContext
from wit_world.imports import collector

from .args import ArgumentError, Args
from .frame import HEADER, Record, records
from .time import Timer

__all__ = [
    "Job",
    "Operator",
    "OperatorContext",
    "Output",
    "Records",
    "Record",
    "Args",
    "ArgumentError",
    "export",
]

#: Hand the buffer over once it holds this much, so a call that emits a lot does not hold it
#: all in guest memory (the Rust SDK's figure).
FLUSH_BYTES = 256 * 1024


class Records:
    """The records of an input batch: iterate for :class:`Record` tuples; :attr:`batch` is the
    whole batch in frame format, for passing it on unchanged."""

    __slots__ = ("batch",)

    def __init__(self, batch: bytes) -> None:
        self.batch = batch

    def __iter__(self) -> Iterator[Record]:
        return records(self.batch)


class Output:
    """Where an operator's records go: a framed buffer handed to the host in large pieces (at
    the end of every call, or sooner when it grows big)."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def emit(self, timestamp: int, key: bytes, value: bytes) -> None:
        """Emits a record. An empty key is no key."""
        buffer = self._buffer
        buffer += HEADER.pack(timestamp, len(key), len(value))
        buffer += key
        buffer += value
        if len(buffer) >= FLUSH_BYTES:
            self.flush()

    def emit_record(self, record: Record) -> None:
        """Emits a record unchanged."""
        self.emit(record.timestamp, record.key, record.value)

    def emit_batch(self, batch: bytes) -> None:
        """Emits a whole batch in frame format unchanged (an input batch, for example)."""
        self.flush()
        collector.emit(bytes(batch))

    def flush(self) -> None:
        """Hands what is buffered to the host."""
        if self._buffer:
            collector.emit(bytes(self._buffer))
            self._buffer.clear()


class Operator:
    """The user function of one operator subtask. Errors are exceptions: any exception fails
    the subtask, and the host reports its type, message and traceback."""

    def process(self, input: int, records: Records, out: Output) -> None:
        """Processes a batch of records from input ``input``, emitting into ``out``."""
        raise NotImplementedError

    def on_timers(self, timers: List[Timer], out: Output) -> None:
        """Handles timers that fired, in time order."""

    def finish(self, out: Output) -> None:
        """All input has been processed; emit anything still held."""


class Job:
    """A job: what a Flink jar's ``main`` and its user functions are."""

    def plan(self, args: List[str]):  # -> wit_world.exports.plan.JobGraph
        """Builds the job graph from the program arguments. Raise :class:`ArgumentError` (or
        any exception) with a message that names the argument at fault."""
        raise NotImplementedError

    def open(self, context: OperatorContext) -> Operator:
        """Creates the operator for one parallel subtask of the function ``context.function``."""
        raise NotImplementedError


def export(job: Job) -> Tuple[type, type]:
    """The ``Plan`` and ``Operator`` classes componentize-py exports for ``job``: assign them
    to module-level names ``Plan`` and ``Operator`` in the app module."""
    from ._runtime import exports

    return exports(job)
