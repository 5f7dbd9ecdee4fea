#!/usr/bin/env python3
"""The witness: an independent Kafka client (kafka-python) that reads a topic from the
beginning until it holds at least --min-records records, then on to the topic's end as it is at
that moment, and prints each record's value on its own line, so tests can check what Weir wrote
without trusting Weir's own Kafka code."""

import argparse
import sys
import time

from kafka import KafkaConsumer, TopicPartition


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--min-records", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()

    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap,
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=500,
    )
    deadline = time.time() + args.timeout
    partitions = None
    while not partitions and time.time() < deadline:
        partitions = consumer.partitions_for_topic(args.topic)
        if not partitions:
            time.sleep(0.2)
    if not partitions:
        print(f"topic {args.topic} does not exist", file=sys.stderr)
        return 1
    assigned = [TopicPartition(args.topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    consumer.seek_to_beginning(*assigned)
    values = []
    while len(values) < args.min_records and time.time() < deadline:
        for message in consumer:
            values.append(message.value.decode("utf-8", errors="replace"))
            if len(values) >= args.min_records:
                break
    # Then to the topic's end as it is now: everything already written is part of the picture
    # (duplicates included), not only the first records. Drain until the broker has had nothing
    # more for a moment, and at least to the end offsets it reports (tansu 0.6 reports the base
    # offset of a partition's last batch for its end, so the end offsets alone fall short).
    end = consumer.end_offsets(assigned)
    end_deadline = time.time() + 30
    while True:
        for message in consumer:
            values.append(message.value.decode("utf-8", errors="replace"))
        if all(consumer.position(tp) >= end[tp] for tp in assigned):
            break
        if time.time() > end_deadline:
            print(f"could not read {args.topic} to its end {end}", file=sys.stderr)
            return 1
    # Reaching those offsets does not prove the last batch was read (its base offset is what
    # tansu reports), and a loaded machine can take longer than the iterator's 500 ms to fetch
    # it: poll on for up to 2 s more, until the broker has nothing (a job still writing keeps
    # it busy, so the wait is bounded).
    settle_deadline = time.time() + 2
    while time.time() < settle_deadline:
        fetched = consumer.poll(timeout_ms=max(1, int((settle_deadline - time.time()) * 1000)))
        if not fetched:
            break
        for records in fetched.values():
            values.extend(m.value.decode("utf-8", errors="replace") for m in records)
    for v in values:
        print(v)
    consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
