"""``python -m bench [suite ...]`` (``make bench``): run the benchmarks, print their tables, keep raw timings."""

from __future__ import annotations

import sys

from bench import api_latency, chunking, foundation, pipeline, transcode, uploads

SUITES = {
    "foundation": foundation,
    "transcode": transcode,
    "uploads": uploads,
    "pipeline": pipeline,
    "api_latency": api_latency,
    "chunking": chunking,
}


def main(names: list[str]) -> None:
    unknown = [name for name in names if name not in SUITES]
    if unknown:
        sys.exit(f"unknown suite {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    for name in names or list(SUITES):
        record = SUITES[name].run()
        print(f"\n{name} ({record['date']}, {record['cores']} cores, {record['machine']})")
        SUITES[name].report(record)
    print("\nraw timings: bench/results/*.json")


main(sys.argv[1:])
