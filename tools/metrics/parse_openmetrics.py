#!/usr/bin/env python3
"""Parse OpenMetrics text on stdin with the prometheus_client package's parser and print one
line per sample: name, labels (sorted k=v, comma-separated), value, tab-separated.

Used by tests/metrics.rs to check the runtime's /metrics text with a parser that is not ours.
Exits 3 when prometheus_client is not installed (the test then says so loudly)."""
import sys

try:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
except ImportError:
    sys.stderr.write("prometheus_client is not installed\n")
    sys.exit(3)

text = sys.stdin.read()
for family in text_string_to_metric_families(text):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print(f"{s.name}\t{labels}\t{s.value!r}")
