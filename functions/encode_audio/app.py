"""Step "Encode audio": the audio of chunked video, once, as its own HLS rendition."""

from __future__ import annotations

from typing import Any

from reelstack.observability import lambda_handler
from reelstack.pipeline.chunked import encode_audio
from reelstack.pipeline.job import Job


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return encode_audio(Job.from_state(event), context.get_remaining_time_in_millis)
