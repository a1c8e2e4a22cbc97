"""What one Lambda can encode before its timeout, so that the probe refuses early what could not be
done (MediaLimitExceeded), instead of a transcode timing out after minutes.

The cost model is measured, not hoped: bench/results/transcode.json has the project's 4-rung ladder
of 10 s of 1080p30 at 23.9 CPU-seconds, about 0.04 CPU-s per megapixel of output frame. A chunk also
decodes forward from the source keyframe before its start (a source with one keyframe decodes
everything before the chunk), at about a tenth of the encode's cost per frame.
"""

from __future__ import annotations

from reelstack.errors import MediaLimitExceeded
from reelstack.media.chunks import MAX_CHUNKS, plan_chunks
from reelstack.media.ladder import LADDER, SEGMENT_SECONDS, output_frame_rate
from reelstack.media.probe import MediaInfo

LADDER_CPU_SECONDS_PER_MEGAPIXEL_FRAME = 0.04
DECODE_SHARE = 0.1
FUNCTION_VCPUS = 2  # a 3,008 MB Lambda (the transcode and chunk functions)
MARGIN = 2  # a piece may need half its timeout: slower content, cold starts and uploads take the rest


def encode_seconds(media: MediaInfo, seconds: float, decode_before_seconds: float = 0.0) -> float:
    """About how long the ladder of ``seconds`` of ``media`` takes on one function, decoding
    ``decode_before_seconds`` more to reach its start."""
    top_long, top_short = 1920, LADDER[0].short_side
    megapixels = min(media.width * media.height, top_long * top_short) / 1e6
    fps = float(output_frame_rate(media))
    per_second = LADDER_CPU_SECONDS_PER_MEGAPIXEL_FRAME * megapixels * fps / FUNCTION_VCPUS
    return per_second * (seconds + DECODE_SHARE * decode_before_seconds)


def check_fits(
    media: MediaInfo, chunk_seconds: float, chunk_timeout_seconds: float, transcode_timeout_seconds: float
) -> None:
    """MediaLimitExceeded if the video needs more chunks than the plan may hold, or a piece of it
    (the whole, or its longest chunk with the decoding before it) more time than its function has
    (the deployment's TranscodeTimeoutSeconds and ChunkTimeoutSeconds)."""
    if not media.has_video:
        return
    chunks = plan_chunks(media.duration_seconds, chunk_seconds, SEGMENT_SECONDS)
    if len(chunks) > MAX_CHUNKS:
        raise MediaLimitExceeded(
            f"the video is {media.duration_seconds / 60:.0f} minutes long; this deployment encodes at most "
            f"{MAX_CHUNKS * chunks[0].seconds / 60:.0f} minutes",
            code="TooLong",
        )
    one_piece = len(chunks) == 1
    timeout = transcode_timeout_seconds if one_piece else chunk_timeout_seconds
    worst = max(chunks, key=lambda chunk: chunk.seconds)
    before = 0.0 if one_piece else min(media.max_keyframe_gap_seconds, chunks[-1].start_seconds)
    needed = MARGIN * encode_seconds(media, worst.seconds, before)
    if needed > timeout:
        raise MediaLimitExceeded(
            f"a {worst.seconds:.0f} s piece of this video would take about {needed:.0f} s to encode here "
            f"(with its keyframes {media.max_keyframe_gap_seconds:.0f} s apart), more than the "
            f"{timeout:.0f} s one encode may take; a shorter chunk length (ChunkSeconds) would fit",
            code="TooLong",
        )
