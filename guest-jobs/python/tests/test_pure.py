"""Unit tests of the Python SDK's and the Python job's pure parts, on CPython (no component):
the frame format, program arguments, state encodings and the playground's records, checked
against the bytes the Rust crates produce (the same cases as their tests).

Run: python3 -m unittest discover -s guest-jobs/python/tests
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "weir_sdk"))
sys.path.insert(0, os.path.join(HERE, "..", "click_event_count"))

import args  # noqa: E402  (weir_sdk/args.py, importable without the component's bindings)
import click_event  # noqa: E402
import encoding  # noqa: E402
import frame  # noqa: E402
import keygroup  # noqa: E402


class FrameTest(unittest.TestCase):
    def test_layout_is_the_rust_crates(self):
        batch = bytearray()
        frame.push(batch, 1, b"k", b"value")
        frame.push(batch, frame.NO_TIMESTAMP, b"", b"")
        self.assertEqual(
            bytes(batch[:22]),
            (1).to_bytes(8, "little") + (1).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"kvalue",
        )
        self.assertEqual(
            list(frame.records(bytes(batch))),
            [frame.Record(1, b"k", b"value"), frame.Record(frame.NO_TIMESTAMP, b"", b"")],
        )

    def test_truncated_batches_are_refused(self):
        batch = bytearray()
        frame.push(batch, 7, b"key", b"value")
        for cut in (5, 16, len(batch) - 1):
            with self.assertRaises(frame.FrameError):
                list(frame.records(bytes(batch[:cut])))


class ArgsTest(unittest.TestCase):
    def test_values_and_flags(self):
        a = args.Args("--bootstrap.servers kafka:9092 --checkpointing --rate -5 --x false".split())
        self.assertEqual(a.value("bootstrap.servers"), "kafka:9092")
        self.assertTrue(a.flag("checkpointing"))
        self.assertFalse(a.flag("event-time"))
        self.assertEqual(a.parsed("rate", int), -5)
        self.assertFalse(a.flag("x"))
        a.finish()

    def test_errors_name_the_argument(self):
        a = args.Args("--bootstrap.servers --event-time --count abc --typo 1".split())
        with self.assertRaisesRegex(args.ArgumentError, "argument --bootstrap.servers needs a value"):
            a.value("bootstrap.servers")
        with self.assertRaisesRegex(args.ArgumentError, "invalid value 'abc' for --count"):
            a.unsigned("count")
        self.assertTrue(a.flag("event-time"))
        with self.assertRaisesRegex(args.ArgumentError, "unknown argument --typo"):
            a.finish()
        with self.assertRaisesRegex(args.ArgumentError, "stray"):
            args.Args(["stray"])
        with self.assertRaisesRegex(args.ArgumentError, "twice"):
            args.Args("--a 1 --a 2".split())
        with self.assertRaisesRegex(args.ArgumentError, "kafka, datagen"):
            args.Args("--source nowhere".split()).choice("source", ["kafka", "datagen"], "kafka")
        for bad in (" 5", "+5", "1_000", "-1", str(2**64)):
            with self.assertRaises(args.ArgumentError):
                args.Args(["--n", bad]).unsigned("n")


class EncodingTest(unittest.TestCase):
    def test_encodings_are_the_rust_codecs(self):
        self.assertEqual(encoding.I64.encode(1000), (1000).to_bytes(8, "little", signed=True))
        self.assertEqual(encoding.I64.decode(encoding.I64.encode(-3)), -3)
        self.assertEqual(encoding.Big64.encode(15_000), (15_000).to_bytes(8, "big", signed=True))
        self.assertEqual(encoding.STR.decode(encoding.STR.encode("/späť")), "/späť")
        with self.assertRaisesRegex(ValueError, "expected 8 bytes for i64, found 3"):
            encoding.I64.decode(b"abc")


class ClickEventTest(unittest.TestCase):
    def test_formats_like_the_rust_crate(self):
        self.assertEqual(click_event.format_timestamp(0), "01-01-1970 12:00:00:000")
        self.assertEqual(click_event.format_timestamp(13 * 3_600_000 + 5), "01-01-1970 01:00:00:005")
        self.assertEqual(click_event.format_timestamp(1_700_000_000_123), "14-11-2023 10:13:20:123")
        self.assertEqual(click_event.format_timestamp(951_782_400_000), "29-02-2000 12:00:00:000")
        self.assertEqual(
            click_event.write_statistics(0, 15_000, "/help", 1000),
            '{"windowStart":"01-01-1970 12:00:00:000","windowEnd":"01-01-1970 12:00:15:000",'
            '"page":"/help","count":1000}',
        )
        self.assertEqual(click_event.json_str('a"b\\c\n\x01'), '"a\\"b\\\\c\\n\\u0001"')

    def test_parses_events_and_refuses_malformed_ones(self):
        self.assertEqual(
            click_event.parse_event(b'{"timestamp":"01-01-1970 12:00:15:000","page":"/help"}'),
            click_event.ClickEvent(15_000, "/help"),
        )
        self.assertEqual(
            click_event.parse_event(b' {"page":"/a","extra":[1],"timestamp":"01-01-1970 01:00:00:005"} '),
            click_event.ClickEvent(3_600_005, "/a"),
        )
        self.assertEqual(
            click_event.parse_event(b'{"timestamp":"01-01-1970 12:00:00:000","page":"/a\\"b"}').page, '/a"b'
        )
        for bad in (
            b"nope",
            b'{"page":"/a"}',
            b'{"timestamp":"01-01-1970 12:00:00:000"}',
            b'{"timestamp":5,"page":"/a"}',
            b'{"timestamp":"31-02-1970 12:00:00:000","page":"/a"}',
            b'{"timestamp":"01-01-1970 13:00:00:000","page":"/a"}',
            b'{"timestamp":"01/01/1970 12:00:00:000","page":"/a"}',
        ):
            with self.assertRaises(click_event.EventError, msg=bad):
                click_event.parse_event(bad)

    def test_every_instant_round_trips_near_its_watermark(self):
        ms = 0
        while ms < 36 * 3_600_000:
            am = click_event.parse_timestamp(click_event.format_timestamp(ms))
            self.assertEqual(click_event.resolve(am, ms - 201), ms)
            ms += 3_599_985
        self.assertEqual(click_event.resolve(0, None), 0)


if __name__ == "__main__":
    unittest.main()


class KeyGroupTest(unittest.TestCase):
    def test_pages_land_in_flinks_key_groups_as_the_rust_crate_computes_them(self):
        self.assertEqual(keygroup.java_hash(b"/help"), 46604272)
        self.assertEqual(keygroup.key_group(b"/help", 128), 111)
        self.assertEqual(keygroup.key_group(b"/index", 128), 16)
        self.assertEqual(keygroup.key_group(b"flink", 128), 98)
        self.assertEqual(keygroup.java_hash(b"/index"), 1445916163)
        # Beyond the BMP: two UTF-16 code units, as Java's String.hashCode sees them.
        self.assertEqual(keygroup.java_hash("a😀".encode()), ((97 * 31 + 0xD83D) * 31 + 0xDE00))
        # Not UTF-8: Java's Arrays.hashCode(byte[]) of signed bytes.
        self.assertEqual(keygroup.java_hash(bytes([0xFF])), 31 * 1 - 1)
