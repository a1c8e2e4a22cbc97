"""Step "Join chunks": the media playlists from the chunks' segments, and the master playlist."""

from __future__ import annotations

from typing import Any

from reelstack.observability import lambda_handler, logger
from reelstack.pipeline.chunked import join_chunks
from reelstack.pipeline.job import Job


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = join_chunks(Job.from_state(event), (event.get("chunked") or {}).get("audio"))
    logger.info("chunks joined", extra={"objects": result["objects"], "ffmpegSeconds": result["ffmpegSeconds"]})
    return result
