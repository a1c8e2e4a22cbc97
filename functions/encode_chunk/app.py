"""Map iteration "Encode chunk": one chunk of every rendition, from only its part of the source."""

from __future__ import annotations

from typing import Any

from reelstack.observability import MetricUnit, lambda_handler, metrics
from reelstack.pipeline.chunked import encode_chunk
from reelstack.pipeline.job import Job


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    job = Job.from_state(event)
    made = encode_chunk(job, int(event["chunk"]["index"]), context.get_remaining_time_in_millis)
    chunk = job.planned().chunks[made["chunk"]]
    # Processing time per minute of video, as the one-piece transcode reports it.
    metrics.add_metric(
        name="ChunkSecondsPerMinute",
        unit=MetricUnit.Seconds,
        value=made["ffmpegSeconds"] / max(chunk.seconds / 60, 1 / 60),
    )
    return made
