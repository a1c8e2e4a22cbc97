"""Pictures on demand (issue 27) on the local cloud, against extracting the frame with FFmpeg.

``GET /assets/{id}/thumbnail.jpg?time=&width=640`` is timed twice per round: **cold**, a moment never
asked for before (the API has the Derive function render it from the nearest segment of the smallest
rendition that is large enough, stores it, and answers 302 to it), and **cached**, the same request
again (a 302 to the stored picture at once). The baseline is what one would do without the feature:
``ffmpeg -ss T -i source -frames:v 1 -vf scale=640:-2`` on the whole source file (here on local
disk, so it pays no download), run in the same round. Each time runs from the request to the
picture's bytes in hand (the 302, then the signed GET); the time to the 302 alone is kept as well.

The animated route's worst case: ``animated.webp`` and ``animated.gif`` at the bounds (10 s, 640 px,
24 fps), each render a window never asked for before, timed to the 302 (what the API's 29 s limit
bounds) and to the picture's bytes.

One asset: the bench's 60 s 1080p30 H.264/AAC clip (bench.common.cached_clip; 1080p is the largest
picture the bench makes, and a longer clip only adds segments the renderer never reads), uploaded and
made ready untimed (its pipeline has run the Derive function already), then one untimed thumbnail,
so that every measured render meets a warm function, as pictures asked for in a burst do.
BENCH_PICTURE_ROUNDS thumbnail rounds (default 10) and BENCH_ANIMATED_RENDERS windows per format
(default 5); p95 by nearest rank (of 10 or 5 values: the slowest).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import urllib3

from bench.common import cached_clip, deployed_cloud, median, percentile, write_results
from reelstack.api.auth import issue_dev_token
from reelstack.media.toolchain import ffmpeg_build
from reelstack_cli import media
from reelstack_cli.api_client import ApiClient
from reelstack_cli.deploy import dev_secret
from reelstack_cli.uploader import StateStore, Uploader, wait_for_asset

ROUNDS = int(os.environ.get("BENCH_PICTURE_ROUNDS", "10"))
ANIMATED_RENDERS = int(os.environ.get("BENCH_ANIMATED_RENDERS", "5"))
SOURCE_SECONDS = 60
WIDTH = 640  # a thumbnail's width: a comment's moment, a card
ANIMATED = {"seconds": 10.0, "width": 640, "fps": 24}  # the route's bounds (reelstack.derivatives.pictures)
API_LIMIT_SECONDS = 29  # API Gateway's integration timeout: a render must answer within it
TIMEOUT = urllib3.Timeout(connect=10, read=120)  # longer than the limit, so that a slow render is measured
COLD, CACHED, BASELINE = "thumbnail, first render (cold)", "thumbnail, repeated (cached)", "FFmpeg on the source"


def moments(duration: float, count: int) -> list[float]:
    """``count`` distinct moments spread over the video from 1.3 s (after the warm-up's 0.7 s)."""
    step = (duration - 2) / count
    return [round(1.3 + index * step, 3) for index in range(count)]


def windows(duration: float, count: int, seconds: float) -> list[tuple[float, float]]:
    """``count`` distinct windows of ``seconds``, spread from 0.5 s to about 0.5 s before the end. Starts
    on half seconds, so that start + seconds is exact in floating point and the API sees exactly its
    bound (``end - start`` of 10.000, not 10.001)."""
    last = duration - seconds - 0.5
    starts = [0.5 + round(index * (last - 0.5) / max(1, count - 1) * 2) / 2 for index in range(count)]
    return [(start, start + seconds) for start in starts]


def _fetched(http: urllib3.PoolManager, url: str, token: str) -> dict[str, Any]:
    """One picture as an app gets it: the API's 302, then the signed GET; seconds to each, and bytes."""
    began = time.perf_counter()
    answer = http.request("GET", url, headers={"Authorization": f"Bearer {token}"}, redirect=False, timeout=TIMEOUT)
    answered = time.perf_counter() - began
    if answer.status != 302:
        raise RuntimeError(f"GET {url}: {answer.status} {answer.data[:300]!r}")
    picture = http.request("GET", answer.headers["Location"], timeout=TIMEOUT)
    if picture.status != 200 or not picture.data:
        raise RuntimeError(f"the picture behind {url}: {picture.status}")
    return {"answer": round(answered, 4), "seconds": round(time.perf_counter() - began, 4), "bytes": len(picture.data)}


def _extracted(source: Path, moment: float, out: Path) -> dict[str, Any]:
    command = [media.ffmpeg(), "-v", "error", "-y", "-ss", f"{moment:.3f}", "-i", str(source), "-frames:v", "1",
               "-vf", f"scale={WIDTH}:-2", str(out)]  # fmt: skip
    began = time.perf_counter()
    subprocess.run(command, check=True, stdin=subprocess.DEVNULL)
    return {"seconds": round(time.perf_counter() - began, 4), "bytes": out.stat().st_size}


def _ready_asset(api: ApiClient, source: Path, scratch: Path) -> dict[str, Any]:
    print(f"pictures: uploading the {SOURCE_SECONDS} s 1080p30 clip (untimed)", file=sys.stderr, flush=True)
    uploaded = Uploader(api, "bench", state=StateStore(scratch / "state")).upload(source, resume="never")
    asset = wait_for_asset(api, uploaded["assetId"], timeout=900)
    if asset["status"] != "ready":
        raise RuntimeError(f"the bench's asset is {asset['status']}: {asset.get('error')}")
    return asset


def run() -> dict[str, Any]:
    os.environ.setdefault("FFMPEG_PATH", media.ffmpeg())  # the baseline's FFmpeg, the one the layer ships
    source = cached_clip(SOURCE_SECONDS)
    http = urllib3.PoolManager(maxsize=4, retries=False)
    raw: dict[str, list[dict[str, Any]]] = {COLD: [], CACHED: [], BASELINE: []}
    with tempfile.TemporaryDirectory() as folder, deployed_cloud() as cloud:
        scratch = Path(folder)
        token = issue_dev_token(dev_secret(cloud.settings), "bench")
        api = ApiClient(cloud.outputs["apiUrl"], token)
        asset = _ready_asset(api, source, scratch)
        duration = float(asset["media"]["durationSeconds"])
        base = f"{cloud.outputs['apiUrl'].rstrip('/')}/assets/{asset['assetId']}"
        first = _fetched(http, f"{base}/thumbnail.jpg?time=0.7&width={WIDTH}", token)  # untimed: the first picture
        for round_number, moment in enumerate(moments(duration, ROUNDS), start=1):
            print(f"pictures: thumbnail round {round_number}/{ROUNDS} (t={moment} s)", file=sys.stderr, flush=True)
            url = f"{base}/thumbnail.jpg?time={moment}&width={WIDTH}"
            raw[COLD].append({"time": moment, **_fetched(http, url, token)})
            raw[CACHED].append({"time": moment, **_fetched(http, url, token)})
            raw[BASELINE].append({"time": moment, **_extracted(source, moment, scratch / "frame.jpg")})
        for kind in ("webp", "gif"):
            renders = raw.setdefault(f"animated.{kind} at the bounds", [])
            for start, end in windows(duration, ANIMATED_RENDERS, ANIMATED["seconds"]):
                print(f"pictures: animated.{kind} {start}-{end} s", file=sys.stderr, flush=True)
                query = f"start={start}&end={end}&width={ANIMATED['width']}&fps={ANIMATED['fps']}"
                renders.append({"start": start, "end": end, **_fetched(http, f"{base}/animated.{kind}?{query}", token)})
    summary = {name: _summary(runs) for name, runs in raw.items()}
    return write_results(
        "pictures",
        summary,
        raw,
        rounds=ROUNDS,
        animatedRenders=ANIMATED_RENDERS,
        ffmpeg=ffmpeg_build().version,
        source={"seconds": duration, "width": 1920, "height": 1080, "fps": 30, "bytes": source.stat().st_size},
        thumbnailWidth=WIDTH,
        animated=ANIMATED,
        apiLimitSeconds=API_LIMIT_SECONDS,
        firstPicture=first,
    )


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [run["seconds"] for run in runs]
    row = {
        "count": len(runs),
        "p50": round(median(seconds), 3),
        "p95": round(percentile(seconds, 0.95), 3),
        "max": round(max(seconds), 3),
        "bytesP50": int(median([run["bytes"] for run in runs])),
    }
    if "answer" in runs[0]:
        answers = [run["answer"] for run in runs]
        row |= {"answerP50": round(median(answers), 3), "answerP95": round(percentile(answers, 0.95), 3),
                "answerMax": round(max(answers), 3)}  # fmt: skip
    return row


def report(record: dict[str, Any]) -> None:
    rows = record["median"]
    print(
        f"pictures on demand, {record['source']['seconds']:.0f} s 1080p30 source: {record['rounds']} thumbnails"
        f" ({record['thumbnailWidth']} px JPEG), {record['animatedRenders']} animations per format"
    )
    print(f"  {'':<40} {'picture in hand, s':>27} {'302, s':>22}")
    print(f"  {'arm':<40} {'p50':>8} {'p95':>8} {'max':>8} {'p50':>7} {'p95':>7} {'max':>6} {'bytes':>9}")
    for name, row in rows.items():
        answer = (
            f" {row['answerP50']:>7} {row['answerP95']:>7} {row['answerMax']:>6}"
            if "answerP50" in row
            else f" {'':>7} {'':>7} {'':>6}"
        )
        print(f"  {name:<40} {row['p50']:>8} {row['p95']:>8} {row['max']:>8}{answer} {row['bytesP50']:>9}")
    first = record["firstPicture"]
    print(f"  (the untimed first picture after the asset became ready: {first['seconds']} s)")


def ratios(record: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = record["median"]
    baseline = rows[BASELINE]
    against = f"FFmpeg on the whole source: {baseline['p50']} s / {baseline['p95']} s"
    moment = f"{record['thumbnailWidth']} px JPEG from {record['source']['seconds']:.0f} s 1080p30"
    result = [
        (
            f"Thumbnail on demand, {label}, {moment} (p50 / p95)",
            f"{rows[name]['p50']} s / {rows[name]['p95']} s",
            against,
            _ratio(baseline["p50"], rows[name]["p50"]),
        )
        for name, label in ((COLD, "first render (cold)"), (CACHED, "repeated (cached redirect)"))
    ]
    bounds = record["animated"]
    for kind in ("webp", "gif"):
        row = rows[f"animated.{kind} at the bounds"]
        result.append(
            (
                f"animated.{kind} at the bounds ({bounds['seconds']:g} s, {bounds['width']} px, {bounds['fps']} fps),"
                " time to the 302 (p50 / p95 / max)",
                f"{row['answerP50']} s / {row['answerP95']} s / {row['answerMax']} s",
                f"the API's limit: {record['apiLimitSeconds']} s",
                f"max {row['answerMax'] / record['apiLimitSeconds']:.0%} of it",
            )
        )
    return result


def _ratio(baseline: float, project: float) -> str:
    return f"{baseline / project:.2f}x faster" if project <= baseline else f"{project / baseline:.2f}x slower"
