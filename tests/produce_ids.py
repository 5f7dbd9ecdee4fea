#!/usr/bin/env python3
"""Produces the ids 1..--count with kafka-python, an independent client: odd ids to --topic-odd,
even ids to --topic-even, each record's value the id in decimal text (`17`), at --rate ids per
second to each topic (the two interleaved, paced against the clock from the start). Exits 0
once the broker has acknowledged every id, after printing `produced <count> ids`; any failed send
fails the script (no retries: a retried send could write an id twice and blame the job for it)."""

import argparse
import sys
import time

from kafka import KafkaProducer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True, help="ids per second to each topic")
    parser.add_argument("--topic-odd", default="a")
    parser.add_argument("--topic-even", default="b")
    args = parser.parse_args()

    producer = KafkaProducer(bootstrap_servers=args.bootstrap, acks=1, retries=0, linger_ms=5)
    failures = []
    per_second = 2 * args.rate
    start = time.monotonic()
    sent = 0
    while sent < args.count:
        due = min(args.count, int((time.monotonic() - start) * per_second) + 1)
        while sent < due:
            sent += 1
            topic = args.topic_odd if sent % 2 else args.topic_even
            future = producer.send(topic, str(sent).encode("ascii"))
            future.add_errback(lambda error, id=sent: failures.append((id, error)))
        time.sleep(0.005)
    producer.flush(timeout=60)
    producer.close(timeout=10)
    if failures:
        print(f"{len(failures)} ids failed, first: {failures[:5]}", file=sys.stderr)
        return 1
    print(f"produced {args.count} ids in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
