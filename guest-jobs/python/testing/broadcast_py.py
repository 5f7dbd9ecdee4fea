"""The Rust ``broadcast-job`` in Python, for the tests: numbers from topic ``numbers`` keyed by
their last digit, multiplied by the factor last broadcast on ``factors`` (broadcast state), written
as ``n*factor=product`` to ``out``; each subtask acknowledges a factor with ``factor F``.
Arguments: ``--bootstrap.servers``."""

import weir_sdk
from weir_sdk import Args
from weir_sdk.stream import BroadcastState, KafkaSink, KafkaSource, KeyedBroadcastProcessFunction, StreamJob, Text


def number(line):
    line = line.strip()
    return [int(line)] if line.isdigit() else []


class Multiply(KeyedBroadcastProcessFunction):
    def __init__(self):
        self.factor = BroadcastState("factor")

    def process_element(self, n, ctx, out):
        factor = self.factor.get("factor") or 1
        out.collect(f"{n}*{factor}={n * factor}")

    def process_broadcast_element(self, factor, out):
        self.factor.put("factor", factor)
        out.collect(f"factor {factor}")


class BroadcastJob(StreamJob):
    def build(self, env, args):
        a = Args(args)
        servers = a.value("bootstrap.servers", "localhost:9092")
        a.finish()
        env.set_job_name("Broadcast Job")
        factors = env.from_source(KafkaSource(servers, "factors").group_id("factors"), Text()).flat_map(number).broadcast()
        (
            env.from_source(KafkaSource(servers, "numbers").group_id("numbers"), Text())
            .flat_map(number)
            .key_by(lambda n: str(n % 10))
            .connect_broadcast(factors)
            .process(Multiply())
            .uid("multiply")
            .sink_to(KafkaSink(servers, "out"), Text())
        )


Plan, Operator = weir_sdk.stream.export_stream(BroadcastJob())
