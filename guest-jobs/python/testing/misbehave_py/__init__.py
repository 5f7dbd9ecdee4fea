"""A Python job that misbehaves on purpose, for the sandbox tests: the datagen source feeds an
operator named "Misbehave" that, with ``--fault raise|loop|allocate``, raises an exception,
never returns, or allocates without bound on its first batch; with ``--fault none`` it passes
records to a discarding sink and the job finishes."""

from typing import List

import weir_sdk
from weir_sdk import Args, Job, Operator, OperatorContext, Output, Records
from weir_sdk import graph as g


class PageNotWelcome(Exception):
    """The exception the ``raise`` fault raises."""


class Misbehave(Operator):
    def __init__(self, fault: str) -> None:
        self._fault = fault

    def process(self, input: int, records: Records, out: Output) -> None:
        if self._fault == "raise":
            raise PageNotWelcome("the Python test job refuses this batch")
        if self._fault == "loop":
            n = 0
            while True:
                n += 1
        if self._fault == "allocate":
            hoard = []
            while True:
                hoard.append(bytearray(1 << 20))
        out.emit_batch(records.batch)


class MisbehavingJob(Job):
    def plan(self, args: List[str]):
        a = Args(args)
        fault = a.choice("fault", ["none", "raise", "loop", "allocate"], "none")
        count = a.unsigned("count")
        a.finish()
        b = g.GraphBuilder("Misbehaving Python Job")
        source = b.source("source", "Source", g.datagen_source(6_000 if count is None else count, None))
        op = b.transform("misbehave", "Misbehave", "misbehave", [(source, g.REBALANCE)])
        b.set_config(op, fault)
        b.sink("sink", "Sink", g.DISCARD, op)
        return b.build()

    def open(self, context: OperatorContext) -> Operator:
        return Misbehave(context.config)


Plan, Operator = weir_sdk.export(MisbehavingJob())
