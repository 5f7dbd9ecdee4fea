"""Tests of weir_sdk.testing, the Python job test harness: typed jobs' operators run in plain
CPython on the in-memory host, fed and read back by hand, time moved only by the test.

Run: python3 -B -m unittest discover -s guest-jobs/python/tests (pytest collects them too).
"""

import dataclasses
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from weir_sdk.stream import (  # noqa: E402
    AggregateFunction,
    KafkaSink,
    KafkaSource,
    KeyedProcessFunction,
    ListState,
    MapState,
    OutputTag,
    StreamJob,
    Text,
    Ttl,
    TumblingWindows,
    ValueState,
)
from weir_sdk.testing import (  # noqa: E402
    EVENT_TIME,
    PROCESSING_TIME,
    HarnessError,
    JobHarness,
    OperatorHarness,
    RegisteredTimer,
)
from weir_sdk.stream import SessionWindows  # noqa: E402

TOO_LATE = OutputTag("too-late")


@dataclasses.dataclass
class Reading:
    sensor: str
    value: int
    time: int


class Alarm(KeyedProcessFunction):
    """Per sensor: the readings' sum; an event-time timer 10 ms after the first reading emits
    it, and a processing-time timer 1 s after it emits a heartbeat. A reading below zero goes to
    a side output."""

    def __init__(self):
        self.sum = ValueState("sum")
        self.seen = ListState("seen")
        self.first = ValueState("first", Reading)

    def process_element(self, r, ctx, out):
        if r.value < 0:
            out.output(TOO_LATE, f"{r.sensor}:{r.value}")
            return
        if self.first.value() is None:
            self.first.update(r)
            ctx.register_event_time_timer(ctx.timestamp() + 10)
            ctx.register_processing_time_timer(ctx.current_processing_time() + 1_000)
        self.sum.update((self.sum.value() or 0) + r.value)
        self.seen.add(r.value)

    def on_timer(self, timestamp, ctx, out):
        if ctx.time_domain() == EVENT_TIME:
            out.collect(f"{ctx.current_key()} sum {self.sum.value()} at {timestamp}")
            self.sum.clear()
        else:
            out.collect(f"{ctx.current_key()} alive at {timestamp}")


class Sum(AggregateFunction):
    def create_accumulator(self):
        return 0

    def add(self, value, acc):
        return acc + value.value

    def merge(self, a, b):
        return a + b


def readings(env):
    env.set_event_time(0)
    return (env.from_source(KafkaSource("127.0.0.1:9092", "readings"), Text())
            .map(lambda line: Reading(*[int(x) if x.lstrip("-").isdigit() else x for x in line.split(",")]))
            .assign_timestamps(lambda r: r.time)
            .uid("source"))


class Sensors(StreamJob):
    def build(self, env, args):
        alarms = readings(env).key_by(lambda r: r.sensor).process(Alarm()).uid("alarm")
        # Side outputs are taken before the main output goes on.
        negative = alarms.get_side_output(TOO_LATE)
        alarms.sink_to(KafkaSink("127.0.0.1:9092", "alarms"), Text()).uid("alarms")
        negative.sink_to(KafkaSink("127.0.0.1:9092", "negative"), Text()).uid("negative")


class Totals(StreamJob):
    def build(self, env, args):
        (readings(env).key_by(lambda r: r.sensor)
            .window(TumblingWindows.of_event_time(100))
            .aggregate(Sum(), lambda key, w, total: f"{key} [{w.start},{w.end}) {total}")
            .uid("window")
            .sink_to(KafkaSink("127.0.0.1:9092", "totals"), Text()).uid("totals"))


class KeyedFunctionTest(unittest.TestCase):
    def test_timers_fire_in_both_domains_only_when_the_test_moves_time(self):
        h = OperatorHarness.open(Sensors(), [], "alarm")
        self.assertTrue(h.keyed)
        h.set_processing_time(500)
        h.process_element(Reading("a", 3, 5), timestamp=5)
        h.process_element(Reading("a", 4, 7), timestamp=7)
        h.process_element(Reading("b", 1, 8), timestamp=8)
        self.assertEqual(h.take_values(), [])
        self.assertEqual(h.timers(), [
            RegisteredTimer(EVENT_TIME, b"a", b"", 15),
            RegisteredTimer(EVENT_TIME, b"b", b"", 18),
            RegisteredTimer(PROCESSING_TIME, b"a", b"", 1_500),
            RegisteredTimer(PROCESSING_TIME, b"b", b"", 1_500),
        ])

        h.advance_watermark(15)
        self.assertEqual(h.take_timestamped_values(), [("a sum 7 at 15", 15)])
        h.advance_watermark(17)
        self.assertEqual(h.take_values(), [])
        h.set_processing_time(1_499)
        self.assertEqual(h.take_values(), [])
        h.set_processing_time(1_500)
        # A processing-time timer's output has no timestamp.
        self.assertEqual(h.take_timestamped_values(), [("a alive at 1500", None), ("b alive at 1500", None)])
        h.finish()
        self.assertEqual(h.take_values(), ["b sum 1 at 18"])
        self.assertEqual(h.timers(), [])
        with self.assertRaises(HarnessError):
            h.advance_watermark(0)

    def test_state_reads_back_as_the_typed_api_stores_it(self):
        h = OperatorHarness.open(Sensors(), [], "alarm")
        h.process_element(Reading("a", 3, 5), timestamp=5)
        h.process_element(Reading("a", 4, 7), timestamp=7)
        self.assertEqual(h.value_state("sum", "a"), b"7")
        self.assertEqual(h.value_state_json("seen", "a"), [3, 4])
        self.assertEqual(h.value_state_json("first", "a", Reading), Reading("a", 3, 5))
        self.assertEqual(h.value_state_json("first", "a"), {"sensor": "a", "value": 3, "time": 5})
        self.assertIsNone(h.value_state("sum", "b"))

    def test_side_outputs_come_apart_from_the_main_output(self):
        h = OperatorHarness.open(Sensors(), [], "alarm")
        h.process_element(Reading("a", -1, 5), timestamp=5)
        h.process_element(Reading("a", 2, 6), timestamp=6)
        h.advance_watermark(100)
        self.assertEqual(h.take_side_output(TOO_LATE), ["a:-1"])
        self.assertEqual(h.take_values(), ["a sum 2 at 16"])
        self.assertEqual(h.take_output(), [])

    def test_unknown_operators_and_inputs_are_named(self):
        with self.assertRaisesRegex(HarnessError, "no operator with uid 'nope'.*alarm"):
            OperatorHarness.open(Sensors(), [], "nope")
        with self.assertRaisesRegex(HarnessError, "is a sink"):
            OperatorHarness.open(Sensors(), [], "alarms")
        h = OperatorHarness.open(Sensors(), [], "alarm")
        with self.assertRaisesRegex(HarnessError, "no input 1"):
            h.process_element(Reading("a", 1, 1), input=1)


class WindowTest(unittest.TestCase):
    def test_a_window_fires_when_the_watermark_passes_its_end(self):
        h = OperatorHarness.open(Totals(), [], "window")
        h.process_element(Reading("a", 1, 10), timestamp=10)
        h.process_element(Reading("a", 2, 99), timestamp=99)
        h.process_element(Reading("a", 5, 100), timestamp=100)
        # Open windows, as the Rust SDK keeps them: window end -> accumulator.
        self.assertEqual(h.map_state_json("window-contents", "a"), {100: 3, 200: 5})
        h.advance_watermark(98)
        self.assertEqual(h.take_values(), [])
        h.advance_watermark(99)
        self.assertEqual(h.take_timestamped_values(), [("a [0,100) 3", 99)])
        self.assertEqual(h.map_state_json("window-contents", "a"), {200: 5})
        # Late: its window has fired and there is no allowed lateness.
        h.process_element(Reading("a", 7, 50), timestamp=50)
        self.assertEqual(h.metrics()["numLateRecordsDropped"], 1)
        h.finish()
        self.assertEqual(h.take_values(), ["a [100,200) 5"])


class JobTest(unittest.TestCase):
    def test_records_go_through_the_whole_job(self):
        h = JobHarness.open(Sensors())
        h.send("a,3,5")
        h.send("a,-2,6")
        h.send("b,4,120")
        self.assertEqual(h.take_values("negative"), ["a:-2"])
        h.advance_watermark(100)
        self.assertEqual(h.take_values("alarms"), ["a sum 3 at 15"])
        h.set_processing_time(1_000)
        self.assertEqual(h.take_values("alarms"), ["a alive at 1000", "b alive at 1000"])
        h.finish()
        self.assertEqual(h.take_values("alarms"), ["b sum 4 at 130"])
        self.assertEqual(h.operator("alarm").value_state_json("seen", "a"), [3])
        with self.assertRaisesRegex(HarnessError, "2 sinks"):
            h.take_values()

    def test_windows_fire_through_the_whole_job(self):
        h = JobHarness.open(Totals())
        for line in ["a,3,5", "a,4,99", "b,4,120"]:
            h.send(line)
        h.advance_watermark(150)
        self.assertEqual(h.take_values(), ["a [0,100) 7"])
        h.finish()
        self.assertEqual(h.take_values(), ["b [100,200) 4"])

    def test_map_state_and_processing_time_windows(self):
        class Last(KeyedProcessFunction):
            def __init__(self):
                self.last = MapState("last")

            def process_element(self, word, ctx, out):
                self.last.put(word, ctx.current_processing_time())
                out.collect(len(self.last.entries()))

        class Recent(StreamJob):
            def build(self, env, args):
                words = env.from_source(KafkaSource("k:9092", "in"), Text()).flat_map(str.split)
                words.key_by(lambda w: w[0]).process(Last()).uid("last").print()

        class Words(StreamJob):
            def build(self, env, args):
                words = env.from_source(KafkaSource("k:9092", "in"), Text()).flat_map(str.split)
                (words.key_by(lambda w: w).window(TumblingWindows.of_processing_time(1_000))
                    .reduce(lambda a, b: a + "+" + b).uid("window").print().uid("windows"))

        for job in (Recent(), Words()):
            h = JobHarness.open(job)
            h.set_processing_time(10)
            h.send("to be to")
            h.set_processing_time(999)
            if isinstance(job, Recent):
                self.assertEqual(h.take_values(), ["1", "1", "1"])
                self.assertEqual(h.operator("last").map_state("last", "t"), [(b'"to"', b"10")])
            else:
                self.assertEqual(h.take_values(), ["be", "to+to"])
                self.assertEqual(h.operator("window").map_state_json("window-contents", "be"), {})


class Remember(KeyedProcessFunction):
    """Per key: the last word (value state) and the words seen (map state), each for 1 s of
    processing time."""

    def __init__(self):
        self.last = ValueState("last").with_ttl(Ttl.millis(1_000))
        self.seen = MapState("seen").with_ttl(Ttl.millis(1_000))
        self.words = ListState("words").with_ttl(Ttl.millis(1_000))

    def process_element(self, word, ctx, out):
        out.collect(f"{word} after {self.last.value()} {sorted(w for w, _ in self.seen.entries())} {self.words.get()}")
        self.last.update(word)
        self.seen.put(word, True)
        self.words.add(word)


class RememberJob(StreamJob):
    def build(self, env, args):
        (env.from_source(KafkaSource("k:9092", "in"), Text())
            .key_by(lambda w: w[0]).process(Remember()).uid("remember").print())


LATE = OutputTag("late")


class LateTotals(StreamJob):
    def build(self, env, args):
        totals = (readings(env).key_by(lambda r: r.sensor)
                  .window(TumblingWindows.of_event_time(100))
                  .allowed_lateness(50)
                  .side_output_late_data(LATE)
                  .aggregate(Sum(), lambda key, w, total: f"{key} [{w.start},{w.end}) {total}")
                  .uid("window"))
        late = totals.get_side_output(LATE)
        totals.print().uid("totals")
        late.map(lambda r: f"late {r.sensor} {r.value} at {r.time}").print().uid("late")


class LateDataTest(unittest.TestCase):
    def test_records_within_the_lateness_fire_again_later_ones_go_to_the_side_output(self):
        h = OperatorHarness.open(LateTotals(), [], "window")
        h.process_element(Reading("a", 1, 10), timestamp=10)
        h.advance_watermark(120)
        self.assertEqual(h.take_values(), ["a [0,100) 1"])
        h.process_element(Reading("a", 2, 20), timestamp=20)  # within the lateness: fires again
        self.assertEqual(h.take_timestamped_values(), [("a [0,100) 3", 99)])
        h.advance_watermark(149)  # the window's cleanup time: 99 + 50
        self.assertEqual(h.map_state_json("window-contents", "a"), {})
        h.process_element(Reading("a", 4, 30), timestamp=30)  # too late
        self.assertEqual(h.take_values(), [])
        self.assertEqual(h.take_side_output(LATE), [Reading("a", 4, 30)])
        self.assertNotIn("numLateRecordsDropped", h.metrics())

    def test_the_late_records_reach_their_own_sink(self):
        h = JobHarness.open(LateTotals())
        h.send("a,1,10")
        h.advance_watermark(200)
        h.send("a,7,60")
        h.finish()
        self.assertEqual(h.take_values("totals"), ["a [0,100) 1"])
        self.assertEqual(h.take_values("late"), ["late a 7 at 60"])


class Sessions(StreamJob):
    def build(self, env, args):
        (readings(env).key_by(lambda r: r.sensor)
            .window(SessionWindows.with_gap(10))
            .aggregate(Sum(), lambda key, w, total: f"{key} [{w.start},{w.end}) {total}")
            .uid("sessions").print())


class ProcessingTimeSessions(StreamJob):
    def build(self, env, args):
        (env.from_source(KafkaSource("k:9092", "in"), Text())
            .key_by(lambda w: w)
            .window(SessionWindows.processing_time_with_gap(100))
            .process(lambda key, w, words, out: out.collect(f"{key} x{len(words)} [{w.start},{w.end})"))
            .uid("sessions").print())


class SessionWindowTest(unittest.TestCase):
    def test_windows_that_overlap_or_touch_merge_into_one_session(self):
        h = OperatorHarness.open(Sessions(), [], "sessions")
        for value, ts in [(1, 0), (2, 5), (4, 30), (8, 12)]:
            h.process_element(Reading("a", value, ts), timestamp=ts)
        # [0,10) and [5,15) merged, [12,22) touches them; [30,40) apart. The Rust SDK's layout.
        self.assertEqual(h.map_state("window-contents", "a"), [(b"22", b"[0,11]"), (b"40", b"[30,4]")])
        self.assertEqual([t.time for t in h.timers()], [21, 39])
        h.process_element(Reading("a", 16, 21), timestamp=21)  # [21,31) joins both
        self.assertEqual(h.map_state_json("window-contents", "a"), {40: [0, 31]})
        self.assertEqual([t.time for t in h.timers()], [39])
        h.advance_watermark(38)
        h.process_element(Reading("a", 32, 25), timestamp=25)  # behind the watermark, in an open session
        h.advance_watermark(39)
        self.assertEqual(h.take_timestamped_values(), [("a [0,40) 63", 39)])
        h.process_element(Reading("a", 64, 20), timestamp=20)  # its session would be closed: late
        self.assertEqual(h.metrics()["numLateRecordsDropped"], 1)
        self.assertEqual(h.map_state("window-contents", "a"), [])

    def test_processing_time_sessions_end_a_gap_after_their_last_record(self):
        h = JobHarness.open(ProcessingTimeSessions())
        for at, line in [(0, "to"), (50, "be"), (60, "to"), (260, "to")]:
            h.set_processing_time(at)
            h.send(line)
        self.assertEqual(h.take_values(), ["be x1 [50,150)", "to x2 [0,160)"])
        h.finish()
        self.assertEqual(h.take_values(), ["to x1 [260,360)"])


class TtlTest(unittest.TestCase):
    def test_state_expires_after_its_ttl_in_processing_time(self):
        h = OperatorHarness.open(RememberJob(), [], "remember")
        h.set_processing_time(10_000)
        h.process_element("apple")
        h.set_processing_time(10_999)
        h.process_element("avocado")
        # The Rust SDK's layout: the time written (i64, little-endian), then the JSON.
        self.assertEqual(h.value_state("last", "a"), (10_999).to_bytes(8, "little") + b'"avocado"')
        self.assertEqual(h.map_state("seen", "a"), [(b'"apple"', (10_000).to_bytes(8, "little") + b"true"),
                                                    (b'"avocado"', (10_999).to_bytes(8, "little") + b"true")])
        h.set_processing_time(11_000)  # apple's entry is 1 s old: gone; avocado's is not
        h.process_element("apricot")
        h.set_processing_time(13_000)  # everything is 2 s old
        h.process_element("almond")
        self.assertEqual(h.take_values(), [
            "apple after None [] []",
            "avocado after apple ['apple'] ['apple']",
            "apricot after avocado ['avocado'] ['apple', 'avocado']",
            "almond after None [] []",
        ])


class DocsExampleTest(unittest.TestCase):
    """docs/JOBS.md shows this test (its "Testing a job in Python"): the block there is checked
    against it below."""

    def test_a_keyed_function_and_a_job(self):
        h = OperatorHarness.open(Sensors(), [], "alarm")    # one operator, by uid
        h.set_processing_time(500)
        h.process_element(Reading("a", 3, 5), timestamp=5)  # keyed by the job's key selector
        h.advance_watermark(15)                             # fires event-time timers <= 15
        self.assertEqual(h.take_values(), ["a sum 3 at 15"])
        h.set_processing_time(1_500)                        # fires processing-time timers <= 1500
        self.assertEqual(h.take_values(), ["a alive at 1500"])
        self.assertEqual(h.value_state_json("seen", "a"), [3])

        job = JobHarness.open(Sensors())                    # the whole job, at parallelism 1
        job.send("a,-2,6")                                  # a line into its Kafka source
        self.assertEqual(job.take_values("negative"), ["a:-2"])  # what its sink "negative" writes

    def test_docs_jobs_shows_this_test_as_it_is(self):
        here = os.path.dirname(os.path.abspath(__file__))
        doc_path = os.path.join(here, "..", "..", "..", "docs", "JOBS.md")
        if not os.path.exists(doc_path):  # the SDK outside the repository (weir new)
            self.skipTest("no docs/JOBS.md here")
        with open(doc_path, encoding="utf-8") as f:
            doc = f.read()
        marker = "# guest-jobs/python/tests/test_harness.py\n"
        blocks = [b.split("```")[0] for b in doc.split("```python\n" + marker)[1:]]
        self.assertEqual(len(blocks), 1, "docs/JOBS.md shows one block from this file")
        with open(os.path.abspath(__file__), encoding="utf-8") as f:
            source = [line.strip() for line in f.read().splitlines()]
        shown = [line.strip() for line in blocks[0].splitlines()]
        starts = [i for i in range(len(source)) if source[i:i + len(shown)] == shown]
        self.assertTrue(starts, "docs/JOBS.md's block is not this file's code:\n" + blocks[0])


if __name__ == "__main__":
    unittest.main()
