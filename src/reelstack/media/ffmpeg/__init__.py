"""FFmpeg: the one place its commands are built (hardened, bounded in time) and run. One module per
concept; this package's namespace is what the rest of the pipeline uses.

- ``hardened``: opening untrusted input (whitelists, pixel limit), the ffprobe commands.
- ``picture``: the one picture filter (colour, range, HDR tone mapping, deinterlacing) and sizes.
- ``encode``: the HLS ladder in one process, a chunk of it, the audio of chunked video.
- ``thumbnails``: the poster and the storyboard with its WebVTT; ``previews``: the MP4 and WebP.
- ``pictures``: a frame or a short animation from a rendition's segments (on demand, the cover).
- ``subtitles``: the source's text subtitle tracks as WebVTT files.
- ``remux``: downloads, a rendition's segments into one MP4 by stream copy; its sound as PCM for speech.
- ``runner``: running a tool (timeouts, a watcher, priority); ``reasons``: stderr -> a named error.
"""

from reelstack.media.ffmpeg.encode import (
    AUDIO_SAMPLE_RATE,
    SHORT_SEGMENT_SECONDS,
    SHORT_SEGMENTS_WINDOW,
    X264_PRESET,
    X264_PRESET_BELOW_COPY,
    audio_command,
    measure_command,
    segment_stem,
    transcode_command,
)
from reelstack.media.ffmpeg.hardened import (
    DECODE_LIMITS,
    REMOTE_PROTOCOLS,
    SAFE_INPUT,
    Source,
    ffmpeg_command,
    input_arguments,
    packet_scan_command,
    probe_command,
)
from reelstack.media.ffmpeg.picture import BT709_TAGS, Target, fit, picture_filter
from reelstack.media.ffmpeg.pictures import FITS, animated_clip_command, still_command
from reelstack.media.ffmpeg.previews import (
    ANIMATED_SECONDS,
    PREVIEW_MAX_BYTES,
    PREVIEW_SECONDS,
    animated_command,
    preview_command,
    preview_window,
    previews_command,
)
from reelstack.media.ffmpeg.reasons import damaged_frames, explain
from reelstack.media.ffmpeg.remux import SPEECH_SAMPLE_RATE, remux_command, speech_command
from reelstack.media.ffmpeg.runner import Completed, read_header, run
from reelstack.media.ffmpeg.subtitles import subtitles_command
from reelstack.media.ffmpeg.thumbnails import (
    POSTER_LONG_SIDE,
    Storyboard,
    plan_storyboard,
    poster_command,
    storyboard_command,
)
from reelstack.media.toolchain import find_binary

__all__ = [
    "ANIMATED_SECONDS",
    "AUDIO_SAMPLE_RATE",
    "BT709_TAGS",
    "DECODE_LIMITS",
    "FITS",
    "POSTER_LONG_SIDE",
    "PREVIEW_MAX_BYTES",
    "PREVIEW_SECONDS",
    "REMOTE_PROTOCOLS",
    "SAFE_INPUT",
    "SHORT_SEGMENTS_WINDOW",
    "SHORT_SEGMENT_SECONDS",
    "SPEECH_SAMPLE_RATE",
    "X264_PRESET",
    "X264_PRESET_BELOW_COPY",
    "Completed",
    "Source",
    "Storyboard",
    "Target",
    "animated_clip_command",
    "animated_command",
    "audio_command",
    "damaged_frames",
    "explain",
    "ffmpeg_command",
    "find_binary",
    "fit",
    "input_arguments",
    "measure_command",
    "packet_scan_command",
    "picture_filter",
    "plan_storyboard",
    "poster_command",
    "preview_command",
    "preview_window",
    "previews_command",
    "probe_command",
    "read_header",
    "remux_command",
    "run",
    "segment_stem",
    "speech_command",
    "still_command",
    "storyboard_command",
    "subtitles_command",
    "transcode_command",
]  # fmt: skip
