"""``python -m bench [suite ... | all | table]`` (``make bench``): run benchmarks, print each suite's
table and one table of ratios, keep raw timings in bench/results/<suite>.json.

Without arguments it runs what the ratio table of docs/figures.md is made of (transcode, chunking, uploads,
pipeline: issue 6's measures); ``all`` adds the local cloud's own costs and the API's latency;
``table`` prints the ratio table of the stored results without running anything.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from bench import (
    api_latency,
    chunked,
    chunking,
    foundation,
    pictures,
    pipeline,
    playable,
    soak,
    speech,
    transcode,
    upload_clients,
    uploads,
    webhooks,
)
from bench.common import RESULTS_DIR, one_cloud_for_all
from reelstack.media.toolchain import ffmpeg_build
from reelstack_cli.media import ffmpeg

# In running order: the FFmpeg suites need no cloud; the others share one (foundation starts its own).
SUITES: dict[str, ModuleType] = {
    "transcode": transcode,
    "chunking": chunking,  # after transcode: its model uses transcode's per-second cost
    "uploads": uploads,
    "pipeline": pipeline,
    "api_latency": api_latency,
    "foundation": foundation,
    "soak": soak,  # races and faults under load; `python -m bench soak`
    "chunked": chunked,  # chunked encoding end to end, on and off, and the Lambda model; `python -m bench chunked`
    "playable": playable,  # time to playable and to ready by input and length; `python -m bench playable`
    "webhooks": webhooks,  # from an asset's write to the webhook's 2xx; `python -m bench webhooks`
    "pictures": pictures,  # thumbnails on demand, cold and cached, against FFmpeg; animated at its bounds
    "upload_clients": upload_clients,  # 40 MiB through each client path (issue 31) over 4G, against PutObject
    "speech": speech,  # generated captions (issue 29): cold and warm cost per minute of sound, WER; no cloud
}
DEFAULT = ["transcode", "chunking", "uploads", "pipeline"]


def ratio_table(records: dict[str, dict[str, Any]]) -> str:
    lines = ["| measure | project | baseline | ratio |", "|---|---|---|---|"]
    for name, record in records.items():
        for row in SUITES[name].ratios(record):
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines)


def stored(names: list[str]) -> dict[str, dict[str, Any]]:
    return {
        name: json.loads((RESULTS_DIR / f"{name}.json").read_text())
        for name in names
        if (RESULTS_DIR / f"{name}.json").exists()
    }


def main(arguments: list[str]) -> None:
    if arguments == ["table"]:
        print(ratio_table(stored(list(SUITES))))
        return
    names = list(SUITES) if arguments == ["all"] else [name for name in SUITES if name in arguments] or DEFAULT
    unknown = [name for name in arguments if name not in SUITES and name != "all"]
    if unknown:
        sys.exit(f"unknown suite {', '.join(unknown)}; choose from {', '.join(SUITES)}, all or table")
    started = time.perf_counter()
    records, seconds = {}, {}
    with one_cloud_for_all():
        for name in names:
            began = time.perf_counter()
            records[name] = SUITES[name].run()
            seconds[name] = round(time.perf_counter() - began, 1)
            print(f"\n{name} ({records[name]['date']}, {records[name]['cores']} cores, {seconds[name]} s)")
            SUITES[name].report(records[name])
    total = round(time.perf_counter() - started, 1)
    summary = {
        "date": datetime.now(UTC).date().isoformat(),
        "cores": os.cpu_count(),
        "ffmpeg": next((record["ffmpeg"] for record in records.values() if record.get("ffmpeg")), None)
        or _ffmpeg_version(),
        "suites": seconds,
        "totalSeconds": total,
        "table": ratio_table(records),
    }
    if set(DEFAULT) <= set(names):
        (RESULTS_DIR / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nratios ({summary['date']}, {summary['cores']} cores, FFmpeg {summary['ffmpeg']}; {total:.0f} s in all)")
    print(summary["table"])
    print("\nraw timings: bench/results/*.json")


def _ffmpeg_version() -> str:
    """The pinned FFmpeg's version, for suites that do not record it (``python -m bench playable``)."""
    os.environ.setdefault("FFMPEG_PATH", ffmpeg())
    return ffmpeg_build().version


main(sys.argv[1:])
