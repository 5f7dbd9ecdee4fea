#!/usr/bin/env python3
"""The witness: an independent Kafka client (kafka-python) that reads a topic from the
beginning and prints each record's value on its own line, so tests can check what Weir wrote
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
    # Anything already there beyond the minimum is part of the picture too (duplicates).
    for message in consumer:
        values.append(message.value.decode("utf-8", errors="replace"))
    for v in values:
        print(v)
    consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
