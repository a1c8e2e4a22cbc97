"""The picture filter every output that shows pictures goes through (renditions, poster, storyboard,
previews): whatever the source is (HDR or SDR, BT.601 or BT.709, full or TV range, 10-bit, 4:2:2 or
4:4:4, interlaced), what the output needs: BT.709 SDR 8-bit 4:2:0 in TV range for H.264, JFIF's
full-range BT.601 for JPEG, RGB for WebP.
"""

from __future__ import annotations

from enum import Enum

from reelstack.media.ladder import even_size
from reelstack.media.probe import MediaInfo

# HDR -> SDR: BT.2408's reference white (203 nits, where HDR phones put paper white and faces)
# becomes SDR white; highlights above it, up to a 1,000-nit master, roll off smoothly (mobius keeps
# everything below 80 % of white as it is), so a scene keeps its brightness instead of the dim,
# grey look of a curve that compresses the whole range (hable).
REFERENCE_WHITE_NITS = 203
HDR_PEAK_NITS = 1000
TONEMAP = f"tonemap=mobius:param=0.8:desat=0:peak={HDR_PEAK_NITS / REFERENCE_WHITE_NITS:.3f}"
BT709_TAGS = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]


class Target(Enum):
    """What a picture is for: each output format has its own colour rules."""

    VIDEO = "video"  # H.264: BT.709, TV range, 8-bit 4:2:0, tagged so
    JPEG = "jpeg"  # JFIF: BT.601 matrix, full range, 4:2:0 (what every image decoder assumes)
    RGB = "rgb"  # WebP: libwebp converts RGB itself, with its own (BT.601) rules


_ZSCALE_MATRIX = {"bt601": "170m", "bt709": "709", "bt2020": "2020_ncl"}


def picture_filter(
    media: MediaInfo, width: int, height: int, target: Target, fps: str | None = None, keep_last_frame: bool = True
) -> str:
    """The filter chain from the source's chosen video stream to ``width`` x ``height`` for ``target``.

    Deinterlacing comes first (it needs the fields as they are), then the frame rate (fewer frames to
    convert), then one conversion that scales and fixes colour: zscale tone-maps HDR after scaling
    down (so a 4K phone video is tone-mapped at 1080p), swscale converts SDR matrices and ranges.
    ``keep_last_frame`` keeps a clip shorter than one output frame from coming out empty (pictures);
    the ladder keeps the exact frame count instead."""
    steps = []
    if media.interlaced:
        steps.append("bwdif=mode=send_frame:deint=interlaced")
    if fps:
        steps.append(f"fps={fps}:eof_action=pass" if keep_last_frame else f"fps={fps}")
    out_matrix = "bt601" if target is Target.JPEG else "bt709"
    out_range = "pc" if target is Target.JPEG else "tv"
    if media.is_hdr:
        transfer = "arib-std-b67" if media.dynamic_range == "hlg" else "smpte2084"
        steps += [
            f"zscale=w={width}:h={height}:f=bicubic:tin={transfer}:min={_ZSCALE_MATRIX[media.color_matrix]}"
            f":pin=2020:rin={'full' if media.color_range == 'pc' else 'limited'}:t=linear:npl={REFERENCE_WHITE_NITS}",
            "format=gbrpf32le",
            "zscale=p=709",
            TONEMAP,
            f"zscale=t=709:m={_ZSCALE_MATRIX[out_matrix]}:r={'full' if out_range == 'pc' else 'limited'}",
        ]
        steps.append(
            {Target.RGB: "format=gbrp,format=bgra", Target.JPEG: "format=yuvj420p"}.get(target, "format=yuv420p")
        )
    else:
        steps.append(
            f"scale={width}:{height}:flags=bicubic:in_range={media.color_range}:in_color_matrix={media.color_matrix}"
            + ("" if target is Target.RGB else f":out_range={out_range}:out_color_matrix={out_matrix}")
        )
        # yuvj420p, not yuv420p: some filters (tile) drop the frame's range, and FFmpeg's JPEG encoder
        # refuses a picture that does not say it is full range.
        steps.append({Target.RGB: "format=bgra", Target.JPEG: "format=yuvj420p"}.get(target, "format=yuv420p"))
    if target is Target.VIDEO:
        # The frames say what they now are; encoders take the tags from the frames, not from options.
        steps.append("setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv")
    return ",".join(steps)


def fit(width: int, height: int, long_side: int) -> tuple[int, int]:
    """At most ``long_side`` on the long side, never upscaled, even sizes (4:2:0 needs them)."""
    scale = min(1.0, long_side / max(width, height, 1))
    return even_size(width * scale), even_size(height * scale)
