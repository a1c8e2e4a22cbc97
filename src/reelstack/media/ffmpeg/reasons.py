"""What a failed tool's stderr means to a person: one sentence about the file, as a named error."""

from __future__ import annotations

import re

from reelstack.errors import MediaLimitExceeded, UnsupportedMedia
from reelstack.media import identify

# The whitelists' refusals, which name what stopped them: the demuxer that the probe found for the
# file ("[png_pipe @ 0x55b0] Format not on whitelist 'mov,mp4,...'"), which says what the file is,
# or the protocol of an address the file names ("Protocol 'http' not on whitelist 'file'!").
_FORMAT_REFUSED = re.compile(r"\[([\w,]+) @ 0x[0-9a-f]+\] Format not on whitelist")
_PROTOCOL_REFUSED = re.compile(r"Protocol '([^']*)' not on whitelist")
# FFmpeg's complaints that say what is wrong with the file, as one sentence each, in order of precedence.
_FILE_PROBLEMS: tuple[tuple[re.Pattern[str], type[UnsupportedMedia] | type[MediaLimitExceeded], str, str], ...] = (
    (re.compile(r"moov atom not found", re.I), UnsupportedMedia, "Truncated",
     "the file is incomplete: its index is missing, which happens when a recording or an upload is cut short"),
    # FFmpeg's words for -max_pixels ("Picture size WxH exceeds specified max pixel count N"); a size
    # that "is invalid" (0x0) is a damaged header, not a big picture, and falls through to the rest.
    (re.compile(r"exceeds specified max pixel count", re.I), MediaLimitExceeded,
     "ResolutionTooHigh", "a frame of the video is larger than the pixel limit"),
    (re.compile(r"Decoder \(codec [^)]*\) not found|Unsupported codec|no decoder", re.I), UnsupportedMedia,
     "UnsupportedCodec", "the file uses a codec this pipeline cannot decode"),
    (re.compile(r"Decode error rate .* exceeds", re.I), UnsupportedMedia, "UnreadableMedia",
     "most of the file's frames are damaged and cannot be decoded"),
    # No demuxer recognised the file at all (render.inspect asks the file's bytes first).
    (re.compile(r"(Error opening input|^[^\[\n]*): Invalid data found when processing input", re.I | re.M),
     UnsupportedMedia, "NotMedia", identify.UNKNOWN.sentence),
)  # fmt: skip
# Lines a decoder writes for damaged data that it conceals and goes on from.
_DECODE_ERROR = re.compile(
    r"error while decoding|concealing|corrupt|Invalid NAL|Error submitting packet to decoder|decode_slice", re.I
)


def damaged_frames(stderr: str) -> int:
    """How many complaints about damaged data a decoder made while it carried on (0 for a clean file)."""
    return sum(1 for line in stderr.splitlines() if _DECODE_ERROR.search(line))


def explain(stderr: str, doing: str) -> UnsupportedMedia | MediaLimitExceeded:
    """A failed tool's stderr -> a named error whose message is one human sentence about the file."""
    if format_refused := _FORMAT_REFUSED.search(stderr):
        return identify.by_demuxer(format_refused.group(1)).refusal()
    if protocol_refused := _PROTOCOL_REFUSED.search(stderr):
        return identify.references(protocol_refused.group(1)).refusal()
    for pattern, error, code, sentence in _FILE_PROBLEMS:
        if pattern.search(stderr):
            return error(sentence, code=code)
    if damaged_frames(stderr):
        return UnsupportedMedia(f"the file is damaged: FFmpeg could not {doing}", code="UnreadableMedia")
    return UnsupportedMedia(
        f"FFmpeg could not {doing}: the file may be damaged or use a feature this pipeline does not support",
        code="UnreadableMedia",
    )
