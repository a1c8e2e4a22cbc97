"""The chunked encoding's steps: a Map over the plan's chunks (Encode chunk), the audio once beside it
(Encode audio), then Join chunks.
Each chunk reads only its part of the source, by HTTP range requests."""

from __future__ import annotations

import json
import shutil
from typing import Any

from reelstack.config import deployment
from reelstack.errors import AssetGone
from reelstack.media import render
from reelstack.pipeline import progressive
from reelstack.pipeline.faults import inject_fault
from reelstack.pipeline.job import Job
from reelstack.pipeline.steps import (
    RemainingMs,
    ladder_outputs,
    set_step,
    source_url,
    time_left,
    upload_outputs,
    work_folder,
)
from reelstack.store.keys import MediaKeys
from reelstack.store.objects import delete_prefix, get_document


def encode_chunk(job: Job, index: int, remaining_ms: RemainingMs) -> dict[str, Any]:
    """One chunk of every rendition. FFmpeg reads only the chunk's part of the source (HTTP range
    requests on a presigned GET); the segments go to the media bucket under their global numbers and
    the chunk's report (each rendition's segments and durations) under ``work/`` for the join. A retry
    encodes the same chunk again and overwrites the same keys.

    The first chunk is what a player starts with: it is published as it encodes
    (:class:`progressive.StreamPublisher`); the others wait until the asset is playable, as the extras
    do (ExtrasYieldSeconds, and at most a share of their own time), where they would share its cores.
    (At the lowest CPU priority instead, a chunk starved by whatever else the machine ran and ran out
    of its time.)"""
    set_step(job.asset_id, "transcoding")
    if index:
        progressive.yield_for_first_segments(job.asset_id, remaining_ms)
    inject_fault("transcode", job.asset_id)  # once per asset: the chunk it strikes is retried alone
    the_plan = job.planned()
    chunk = the_plan.chunks[index]
    keys = MediaKeys(job.asset_id)
    with work_folder() as work:
        out = work / "asset"
        hls = out / keys.hls_prefix.removeprefix(keys.prefix)
        hls.mkdir(parents=True)
        first = index == 0
        publisher = progressive.StreamPublisher(job, the_plan, hls, "video") if first else None
        try:
            made, segments = render.chunk_renditions(
                source_url(job), job.described(), the_plan, chunk, hls, time_left(remaining_ms), publisher
            )
            if publisher:
                publisher.finish(made.progress, ended=False)  # the rest of its segments
                shutil.rmtree(hls)  # all sent
        except AssetGone:
            raise
        except Exception:
            progressive.fence(job.asset_id, keys.hls_prefix)  # segments went up while FFmpeg ran
            raise
        report = {
            "index": index,
            "segments": segments,
            "objects": len(made.files),
            "warnings": [warning.as_dict() for warning in made.warnings],
            "ffmpegSeconds": round(made.ffmpeg_seconds, 3),
        }
        report_path = out / keys.chunk_report(index).removeprefix(keys.prefix)
        report_path.parent.mkdir(parents=True)
        report_path.write_text(json.dumps(report))
        upload_outputs(job.asset_id, out, keys.prefix)
    progressive.chunk_done(job, index)
    return {"chunk": index, "objects": report["objects"], "ffmpegSeconds": report["ffmpegSeconds"]}


def encode_audio(job: Job, remaining_ms: RemainingMs) -> dict[str, Any]:
    """The audio of chunked video, once, as its own renditions (one per kept track), published as they
    encode (a player starts with their first segments), their loudness measured (and evened out first
    when asked); nothing for a silent video."""
    keys = MediaKeys(job.asset_id)
    with work_folder() as work:
        hls = work / "hls"
        hls.mkdir()
        publisher = progressive.StreamPublisher(job, job.planned(), hls, "audio")
        try:
            waiting = progressive.not_yet_playable(job.asset_id, deployment().extras_yield_seconds)
            made = render.audio_rendition(
                source_url(job), job.described(), job.planned(), hls, time_left(remaining_ms), publisher, waiting
            )
            uploaded = publisher.finish(made.progress) if made.progress else 0
        except AssetGone:
            raise
        except Exception:
            progressive.fence(job.asset_id, keys.hls_prefix)
            raise
    progressive.audio_done(job)
    return {
        "objects": uploaded,
        "ffmpegSeconds": round(made.ffmpeg_seconds, 3),
        **({"loudness": made.loudness} if made.loudness else {}),
    }


def join_chunks(job: Job, audio: dict[str, Any] | None) -> dict[str, Any]:
    """Each rendition's media playlist from its chunks' segments and the master playlist; the chunk
    reports go. Publish gets the same ``{master, renditions}`` as from the one-piece transcode."""
    the_plan = job.planned()
    keys = MediaKeys(job.asset_id)
    reports = [get_document(keys.chunk_report(chunk.index)) for chunk in the_plan.chunks]
    warnings = list({warning["code"]: warning for report in reports for warning in report["warnings"]}.values())
    with work_folder() as work:
        hls = work / "hls"
        render.write_joined_playlists(the_plan, [report["segments"] for report in reports], hls)
        uploaded = upload_outputs(job.asset_id, hls, keys.hls_prefix)
    delete_prefix(keys.work_prefix)
    objects = uploaded + sum(report["objects"] for report in reports) + int((audio or {}).get("objects") or 0)
    seconds = sum(report["ffmpegSeconds"] for report in reports) + float((audio or {}).get("ffmpegSeconds") or 0)
    return ladder_outputs(keys, the_plan, objects, warnings, seconds, (audio or {}).get("loudness"))
