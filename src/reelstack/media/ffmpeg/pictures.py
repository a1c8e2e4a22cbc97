"""Pictures on demand and the picked cover: one frame (JPEG, WebP, PNG) or a short animation (WebP,
GIF) from a rendition's own segments. A rendition is already upright BT.709 SDR in TV range, so the
only conversion is to each format's colour rules (JFIF's full-range BT.601, RGB for WebP, PNG, GIF)."""

from __future__ import annotations

from pathlib import Path

from reelstack.media.ffmpeg.hardened import ffmpeg_command, input_arguments

# How a picture of both sizes meets a frame of another shape.
FITS = {
    "preserve": "force_original_aspect_ratio=decrease",  # all of the frame, within the box (may be smaller)
    "crop": "force_original_aspect_ratio=increase",  # the box filled, the overflow cut from the middle
    "pad": "force_original_aspect_ratio=decrease",  # all of the frame, centred on black bars
    "stretch": "",  # the box, whatever the shape
}
_FROM_RENDITION = "flags=lanczos:in_range=tv:in_color_matrix=bt709"
_STILL = {
    "jpg": ("out_range=pc:out_color_matrix=bt601", "format=yuvj420p", ["-q:v", "3"]),
    "webp": ("", "format=bgra", ["-c:v", "libwebp", "-quality", "80"]),
    "png": ("", "format=rgb24", ["-c:v", "png"]),
}


def _scaled(width: int | None, height: int | None, fit: str, colour: str) -> str:
    """The scale (and crop or pad) to ``width`` x ``height``; one side alone keeps the shape (-2: even)."""
    options = ":".join(part for part in (_FROM_RENDITION, colour) if part)
    if width and height:
        steps = [f"scale={width}:{height}:{':'.join(p for p in (FITS[fit], options) if p)}"]
        if fit == "crop":
            steps.append(f"crop={width}:{height}")
        elif fit == "pad":
            steps.append(f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2")
        return ",".join(steps)
    return f"scale={width or -2}:{height or -2}:{options}" if width or height else f"scale=iw:ih:{options}"


def shown_at(seconds: float, frame_rate: float) -> float:
    """Where to seek for the frame *shown* at ``seconds``: FFmpeg stops at the first frame that starts
    at or after its seek, which is the next one whenever ``seconds`` falls inside a frame (or its
    timestamp rounds a hair below); seeking just past the start of the frame before finds the one on
    screen at that moment."""
    return max(0.0, seconds - 1 / frame_rate + 0.001) if frame_rate > 0 else seconds


def still_command(
    segment: Path,
    at_seconds: float,
    frame_rate: float,
    width: int | None,
    height: int | None,
    fit: str,
    kind: str,
    out: Path,
) -> list[str]:
    """The frame shown ``at_seconds`` into ``segment`` (a rendition's init segment and one segment, at
    ``frame_rate``), as ``kind`` (jpg, webp, png)."""
    colour, pixels, encoder = _STILL[kind]
    chain = f"{_scaled(width, height, fit, colour)},{pixels}"
    return ffmpeg_command(
        *input_arguments(segment, seek=shown_at(at_seconds, frame_rate)), "-map", "0:v:0", "-frames:v", "1",
        "-vf", chain, *encoder, "-f", "image2", str(out),
    )  # fmt: skip


def animated_clip_command(
    segments: Path, start: float, length: float, width: int | None, fps: int, kind: str, out: Path
) -> list[str]:
    """``length`` seconds from ``start`` into ``segments`` (the init segment and the segments that hold
    them) at ``fps``, ``width`` wide (the rendition's own width if None), looping, as ``kind`` (webp, gif)."""
    scaled = _scaled(width, None, "preserve", "")
    if kind == "gif":  # one palette for the clip, made from its own frames
        chain = f"fps={fps},{scaled},split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=bayer"
        encoder = ["-f", "gif"]
    else:
        chain = f"fps={fps},{scaled},format=bgra"
        encoder = ["-c:v", "libwebp_anim", "-quality", "70", "-f", "webp"]
    return ffmpeg_command(
        *input_arguments(segments, seek=start), "-t", f"{length:.3f}", "-map", "0:v:0", "-an", "-vf", chain,
        "-loop", "0", *encoder, str(out),
    )  # fmt: skip
