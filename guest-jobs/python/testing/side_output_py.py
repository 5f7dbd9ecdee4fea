"""The Rust ``side-output-job`` in Python, for the tests: numbers from topic ``numbers`` keyed by
their last digit; even numbers add to a running sum per key written as ``key:sum`` to ``even``,
odd numbers go to the side output ``odd`` (topic ``odd``), lines that are not numbers to the side
output ``malformed`` (topic ``malformed``). Arguments: ``--bootstrap.servers``, ``--bounded``."""

import weir_sdk
from weir_sdk import Args
from weir_sdk.stream import KafkaSink, KafkaSource, KeyedProcessFunction, OutputTag, StreamJob, Text, ValueState

ODD = OutputTag("odd")
MALFORMED = OutputTag("malformed")


class Split(KeyedProcessFunction):
    def __init__(self):
        self.sum = ValueState("sum")

    def process_element(self, line, ctx, out):
        text = line.strip()
        if not text.isdigit():
            out.output(MALFORMED, line)
            return
        n = int(text)
        if n % 2 == 1:
            out.output(ODD, n)
            return
        total = (self.sum.value() or 0) + n
        self.sum.update(total)
        out.collect(f"{ctx.current_key()}:{total}")


class SideOutputJob(StreamJob):
    def build(self, env, args):
        a = Args(args)
        servers = a.value("bootstrap.servers", "localhost:9092")
        source = KafkaSource(servers, "numbers")
        if a.flag("bounded"):
            source = source.bounded()
        a.finish()
        evens = (
            env.from_source(source, Text())
            .key_by(lambda line: line.strip()[-1:] if line.strip() else "")
            .process(Split())
            .uid("split")
        )
        odds = evens.get_side_output(ODD)
        bad = evens.get_side_output(MALFORMED)
        evens.sink_to(KafkaSink(servers, "even"), Text())
        odds.map(str).sink_to(KafkaSink(servers, "odd"), Text())
        bad.sink_to(KafkaSink(servers, "malformed"), Text())


Plan, Operator = weir_sdk.stream.export_stream(SideOutputJob())
