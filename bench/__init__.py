"""Benchmarks: `make bench` (not part of `make test`). Each prints medians and writes bench/results/."""
