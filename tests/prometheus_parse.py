"""Parses Prometheus' text exposition format from stdin with the Prometheus project's own
Python client (an independent parser), and prints the samples as JSON:
{"<sample name>": [{"labels": {...}, "value": <float>}, ...], ...}. Exits non-zero, saying
why, if the text does not parse or a family is declared twice."""

import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = sys.stdin.read()
    samples = {}
    families = set()
    for family in text_string_to_metric_families(text):
        if family.name in families:
            sys.exit(f"family {family.name} appears twice")
        families.add(family.name)
        for sample in family.samples:
            value = None if math.isnan(sample.value) else sample.value
            samples.setdefault(sample.name, []).append({"labels": sample.labels, "value": value})
    if not samples:
        sys.exit("no samples")
    json.dump(samples, sys.stdout)


if __name__ == "__main__":
    main()
