"""The media matrix: files as phones, editing apps, cameras, browsers, careless apps and attackers
make them, each with the outcome it must have, and the checks of what a viewer would notice.

Shared by the unit matrix (tests/unit/test_media_matrix.py: the pipeline's own FFmpeg work on every
case) and the integration slice (tests/integration/test_pipeline.py: a representative part through
the local cloud). Every file is generated here by the project's FFmpeg; nothing is downloaded.
"""

from __future__ import annotations

import json
import math
import random
import re
import struct
import subprocess
import tarfile
import zipfile
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops, ImageStat

from reelstack.media.packets import parse_packet_scan
from reelstack_cli.media import Clip, ffmpeg, ffprobe, generate_audio, make_clip


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], Path]  # writes the file into a folder, returns its path
    outcome: str = "ready"  # "ready" or the failure code
    warnings: frozenset[str] = frozenset()  # warning codes the ready asset must carry, exactly
    dynamic_range: str = "sdr"
    audible: bool | None = None  # for several audio tracks: the one that plays carries the tone
    # Tracks in several languages: each audio rendition's (language, tone in Hz), the default first.
    languages: tuple[tuple[str, int], ...] = ()
    # A refused file: words its sentence must hold (what the file is, or what is wrong with it), and
    # whether the file really points to other files or addresses (only then may the sentence say so).
    says: str = ""
    points_elsewhere: bool = False


def clip(name: str, recipe: Clip, **expect: Any) -> Case:
    return Case(name, lambda folder: make_clip(folder / f"{name}{recipe.suffix}", recipe), **expect)


def audio_file(name: str, suffix: str, cover_art: bool = False) -> Case:
    return Case(name, lambda folder: generate_audio(folder / f"{name}{suffix}", seconds=2, cover_art=cover_art))


def written(name: str, suffix: str, data: bytes | Callable[[Path], bytes], outcome: str, **expect: Any) -> Case:
    def make(folder: Path) -> Path:
        path = folder / f"{name}{suffix}"
        path.write_bytes(data(folder) if callable(data) else data)
        return path

    return Case(name, make, outcome, **expect)


# -- hostile and broken files -------------------------------------------------------------------

PLAYLIST = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://169.254.169.254/latest/meta-data/\n#EXT-X-ENDLIST\n"
CONCAT = b"ffconcat version 1.0\nfile '/etc/passwd'\n"
SDP = b"v=0\no=- 0 0 IN IP4 169.254.169.254\ns=x\nc=IN IP4 169.254.169.254\nt=0 0\nm=video 5004 RTP/AVP 96\n"
LOCAL_FILE_PLAYLIST = b"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b"")


def _list(kind: bytes, *chunks: bytes) -> bytes:
    return _chunk(b"LIST", kind + b"".join(chunks))


def avi_with_embedded_playlist(_: Path) -> bytes:
    """An AVI whose only stream is a GAB2 subtitle carrying an HLS playlist that points at a local
    file: the shape of the known FFmpeg local-file-disclosure attack. FFmpeg opens embedded subtitle
    streams with a demuxer of their own, so only the demuxer allow-list stands between this and
    /etc/passwd."""
    description = "x".encode("utf-16-le") + b"\0\0"
    gab2 = (
        b"GAB2\0"
        + struct.pack("<H", 2)
        + struct.pack("<I", len(description))
        + description
        + struct.pack("<HI", 4, len(LOCAL_FILE_PLAYLIST))
        + LOCAL_FILE_PLAYLIST
    )
    main_header = struct.pack("<14I", 40000, 0, 0, 0x10, 1, 0, 1, 0, 320, 240, 0, 0, 0, 0)
    stream_header = (
        b"txts" + b"\0\0\0\0" + struct.pack("<IHHIIIIIIIIhhhh", 0, 0, 0, 0, 1, 25, 0, 1, 0, 0, 0, 0, 0, 0, 0)
    )
    header = _list(
        b"hdrl", _chunk(b"avih", main_header), _list(b"strl", _chunk(b"strh", stream_header), _chunk(b"strf", b""))
    )
    movie = _list(b"movi", _chunk(b"00tx", gab2))
    body = b"AVI " + header + movie
    return b"RIFF" + struct.pack("<I", len(body)) + body


def truncated(recipe: Clip, keep: float) -> Callable[[Path], bytes]:
    """The first ``keep`` of a whole file: an upload or a recording cut short."""

    def cut(folder: Path) -> bytes:
        whole = make_clip(folder / f"whole-{id(recipe)}{recipe.suffix}", recipe).read_bytes()
        return whole[: int(len(whole) * keep)]

    return cut


def damaged_in_the_middle(folder: Path) -> bytes:
    """6 kB of garbage in the middle of the media data (a bad sector, a broken transfer)."""
    data = bytearray(make_clip(folder / "undamaged.mp4", Clip(2, 320, 240)).read_bytes())
    middle = data.find(b"mdat") + (len(data) - data.find(b"mdat")) // 2
    for offset in range(middle - 3000, middle + 3000):
        data[offset] = (offset * 131) % 256
    return bytes(data)


def _made(folder: Path, name: str, *arguments: str) -> Path:
    """A file written by the pinned FFmpeg with ``arguments`` (inputs, maps, codecs)."""
    target = folder / name
    subprocess.run([ffmpeg(), "-v", "error", "-y", *arguments, str(target)], check=True)
    return target


def many_streams(folder: Path) -> bytes:
    inputs = [argument for _ in range(17) for argument in ("-f", "lavfi", "-i", "sine=duration=0.3")]
    maps = [argument for index in range(17) for argument in ("-map", f"{index}:a")]
    return _made(folder, "seventeen.mka", *inputs, *maps, "-c:a", "aac").read_bytes()


def subtitles_only(folder: Path) -> bytes:
    source = folder / "only.srt"
    source.write_text("1\n00:00:00,000 --> 00:00:02,000\nNo picture, no sound\n")
    return _made(folder, "only-subtitles.mkv", "-i", str(source), "-c:s", "srt").read_bytes()


TEST_PATTERN = ("-f", "lavfi", "-i", "testsrc2=size=320x240:duration=0.5")


def still_as_video(folder: Path) -> bytes:
    """One JPEG frame in an MP4: a photo some app saved as a "video"."""
    return _made(folder, "still.mp4", *TEST_PATTERN, "-frames:v", "1", "-c:v", "mjpeg").read_bytes()


def image(suffix: str, *encoder: str, animated: bool = False) -> Callable[[Path], bytes]:
    """A picture in its own format, written by FFmpeg's encoder for it: one frame, or the half-second
    test pattern as an animation (15 frames)."""
    frames = [] if animated else ["-frames:v", "1"]
    return lambda folder: _made(folder, f"image{suffix}", *TEST_PATTERN, *frames, *encoder).read_bytes()


def phone_photo(folder: Path) -> bytes:
    """A JPEG as a phone camera writes it: an Exif block (APP1, big-endian TIFF with an empty
    directory) straight after the start-of-image marker, before FFmpeg's JFIF header."""
    jpeg = _made(folder, "photo.jpg", "-f", "lavfi", "-i", "testsrc2=size=1280x960", "-frames:v", "1",
                 "-q:v", "3").read_bytes()  # fmt: skip
    exif = b"Exif\0\0" + b"MM\0*" + struct.pack(">IHI", 8, 0, 0)
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + jpeg[2:]


SUBTITLES = (
    "1\n00:00:01,000 --> 00:00:03,500\nCafé crème, s'il vous plaît\n\n2\n00:00:04,000 --> 00:00:06,000\nÀ bientôt\n"
)
WEBVTT = "WEBVTT\n\n00:00:01.000 --> 00:00:03.500\nHello from the beach\n"
SCRIPT = b"#!/bin/sh\n# upload helper\nffmpeg -i input.mov -c copy output.mp4\n"
DASH = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static">'
    b'<Period><AdaptationSet><Representation id="1" bandwidth="800000">'
    b"<BaseURL>http://169.254.169.254/latest/</BaseURL></Representation></AdaptationSet></Period></MPD>\n"
)


def text(words: str, encoding: str) -> bytes:
    """Text as an editor saves it: Windows line ends; UTF-16 with its byte-order mark (Notepad's
    "Unicode"), or a one-byte code page such as Latin-1."""
    return words.replace("\n", "\r\n").encode(encoding)


def zipped_video(folder: Path) -> bytes:
    """A clip in a ZIP archive, stored as it is (what a phone's "share as archive" makes)."""
    clip = make_clip(folder / "to-zip.mp4", Clip(1, 160, 120))
    target = folder / "video.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.write(clip, "holiday.mp4")
    return target.read_bytes()


def tarred_video(folder: Path) -> bytes:
    clip = make_clip(folder / "to-tar.mov", Clip(1, 160, 120, container="mov"))
    target = folder / "video.tar.gz"
    with tarfile.open(target, "w:gz") as archive:
        archive.add(clip, "holiday.mov")
    return target.read_bytes()


def noise(folder: Path) -> bytes:
    """What encrypted or compressed data looks like: bytes with no pattern (seeded, so every run
    makes the same file)."""
    return random.Random(25).randbytes(64_000)


def still_before_the_video(folder: Path) -> bytes:
    """An MKV whose first video stream is a one-frame MJPEG (a thumbnail some editors add) and whose
    second, marked default, is the video: the pipeline must pick the moving one."""
    moving = make_clip(folder / "moving.mp4", Clip(2, 320, 240))
    still = _made(folder, "thumb.mkv", *TEST_PATTERN, "-frames:v", "1", "-c:v", "mjpeg")
    return _made(
        folder, "still-first.mkv", "-i", str(still), "-i", str(moving), "-map", "0:v", "-map", "1:v", "-map", "1:a",
        "-c", "copy", "-disposition:v:0", "0", "-disposition:v:1", "default",
    ).read_bytes()  # fmt: skip


# -- the matrix ----------------------------------------------------------------------------------

SD, PORTRAIT = {"width": 320, "height": 240}, {"width": 240, "height": 320}
MATRIX: list[Case] = [
    # Ordinary phone clips: GOPs, rotations, frame rates, ranges.
    clip("h264-gop1s-bt709-30fps", Clip(2, gop_seconds=1)),
    clip("h264-one-keyframe-portrait-silent", Clip(2, **PORTRAIT, gop_seconds=None, audio="none")),
    clip("h264-gop2s-25fps-mono8k-mov", Clip(2, fps="25", gop_seconds=2, container="mov", audio="mono8k")),
    clip("h264-rotated90-one-keyframe", Clip(2, 240, 320, rotation=90, gop_seconds=None)),
    clip("h264-rotated180-24fps-full-range", Clip(2, fps="24", rotation=180, full_range=True)),
    clip("hevc-rotated270-60fps", Clip(2, 240, 320, fps="60", codec="hevc", rotation=270, container="mov")),
    clip("h264-29.97fps-untagged-bt601", Clip(2, fps="30000/1001", colour="untagged")),
    clip("h264-variable-frame-rate", Clip(2, variable_frame_rate=True, gop_seconds=None)),
    clip("h264-1fps", Clip(4, fps="1", gop_seconds=2)),
    clip("h264-15fps-bt601-full-range", Clip(2, fps="15", colour="bt601", full_range=True)),
    clip("h264-240fps-slow-motion", Clip(1, 160, 120, fps="240", gop_seconds=None)),
    clip("h264-odd-size-1921x1081-444", Clip(1, 1921, 1081, pixel_format="yuv444p", audio="none")),
    clip("h264-half-second", Clip(0.5, gop_seconds=None)),
    clip("h264-one-frame", Clip(frames=1, audio="none")),
    clip("h264-subtitle-track", Clip(2, subtitle=True, gop_seconds=None)),
    clip("h264-422-10bit-pc", Clip(2, pixel_format="yuv422p10le", full_range=True, container="mkv")),
    # Several audio tracks: the default one plays, else the first.
    clip(
        "hevc10-sdr-two-tracks-second-default",
        Clip(2, codec="hevc", pixel_format="yuv420p10le", container="mov", audio="two-tracks"),
        audible=True,
    ),
    clip(
        "h264-ts-two-tracks-no-default",
        Clip(2, container="ts", audio="two-tracks-no-default", colour="bt601"),
        audible=True,
    ),
    # A film with a dub: every language an audio rendition, each playing its own track.
    clip(
        "h264-mkv-english-and-french",
        Clip(2, container="mkv", audio="languages"),
        languages=(("en", 440), ("fr", 1000)),
    ),
    # HDR phones and HDR exports.
    clip(
        "hlg-hevc10-iphone-portrait",
        Clip(2, 240, 320, codec="hevc", colour="hlg", container="mov", rotation=90),
        dynamic_range="hlg",
    ),
    clip("pq-hevc10-hdr10-24fps", Clip(2, fps="24", codec="hevc", colour="pq"), dynamic_range="pq"),
    clip(
        "pq-vp9-10bit-webm",
        Clip(2, codec="vp9", colour="pq", container="webm", pixel_format="yuv420p10le"),
        dynamic_range="pq",
    ),
    clip("dolby-vision-8.4-hlg-base", Clip(2, codec="hevc", colour="hlg", dolby_vision=(8, 4)), dynamic_range="hlg"),
    # Browsers, editors, cameras, old phones, broadcast.
    clip("vp8-mediarecorder-webm", Clip(2, codec="vp8", container="webm", streamed=True, gop_seconds=None)),
    clip("vp9-webm-29.97fps", Clip(2, fps="30000/1001", codec="vp9", container="webm")),
    clip("av1-mkv-5.1-subtitles", Clip(2, codec="av1", container="mkv", audio="5.1", subtitle=True)),
    clip("prores-mov-pcm", Clip(2, fps="24000/1001", codec="prores", container="mov")),
    clip(
        "mpeg2-interlaced-ts",
        Clip(1, 720, 576, fps="25", codec="mpeg2", container="ts", interlaced=True, colour="bt601"),
    ),
    clip("mjpeg-avi-camera", Clip(2, fps="15", codec="mjpeg", container="avi")),
    clip("h264-3gp-amr-176x144", Clip(2, 176, 144, fps="15", container="3gp", audio="mono8k")),
    clip("h264-recorder-moov-last", Clip(2, faststart=False, gop_seconds=None)),
    # Audio only.
    audio_file("audio-m4a", ".m4a"),
    audio_file("audio-mp3-with-cover-art", ".mp3", cover_art=True),
    audio_file("audio-wav", ".wav"),
    audio_file("audio-flac", ".flac"),
    # Damaged, but decodable: the video plays with a glitch, and says so.
    replace(
        written("h264-damaged-middle", ".mp4", damaged_in_the_middle, "ready"), warnings=frozenset({"DamagedFrames"})
    ),
    written("mkv-still-before-the-video", ".mkv", still_before_the_video, "ready"),
    # Refused, before any decoding where the limits allow, each with its own code.
    clip(
        "resolution-over-the-long-side",
        Clip(0.2, 4160, 64, audio="none"),
        outcome="ResolutionTooHigh",
        says="the picture is 4160x64",
    ),
    clip(
        "pixel-bomb-12-megapixels",
        Clip(0.1, 4000, 3000, codec="mjpeg", container="mkv", audio="none"),
        outcome="ResolutionTooHigh",
        says="the picture is 4000x3000",
    ),
    clip(
        "frame-rate-1000fps",
        Clip(0.1, 64, 64, fps="1000", audio="none"),
        outcome="FrameRateTooHigh",
        says="runs at 1000 frames a second",
    ),
    clip(
        "dolby-vision-5-no-base-layer",
        Clip(1, codec="hevc", colour="pq", dolby_vision=(5, 0)),
        outcome="UnsupportedDynamicRange",
        says="Dolby Vision profile 5",
    ),
    written("seventeen-audio-streams", ".mka", many_streams, "TooManyStreams", says="has 17 streams"),
    written("subtitles-only", ".mkv", subtitles_only, "NoMediaStreams", says="no video or audio stream"),
    written("truncated-faststart-mp4", ".mp4", truncated(Clip(4, gop_seconds=1), 0.4), "Truncated", says="truncated"),
    written(
        "truncated-moov-last-mp4", ".mp4", truncated(Clip(2, faststart=False), 0.6), "Truncated", says="incomplete"
    ),
    written("truncated-mkv", ".mkv", truncated(Clip(4, container="mkv"), 0.4), "Truncated", says="truncated"),
    written(
        "avi-embedded-playlist", ".avi", avi_with_embedded_playlist, "NoMediaStreams", says="no video or audio stream"
    ),
    written("one-jpeg-in-mp4", ".mp4", still_as_video, "ImageOnly", says="only still images"),
    # Not a video at all, whatever its name says: each is told what it is. Pictures first.
    written("png-named-mp4", ".mp4", image(".png"), "ImageOnly", says="is a PNG picture"),
    written("phone-jpeg-named-mov", ".mov", phone_photo, "ImageOnly", says="is a JPEG picture"),
    written("still-gif-named-mp4", ".mp4", image(".gif"), "ImageOnly", says="is a GIF picture"),
    written("animated-gif-named-mp4", ".mp4", image(".gif", animated=True), "ImageOnly", says="is an animated GIF"),
    written("webp-named-mp4", ".mp4", image(".webp", "-c:v", "libwebp"), "ImageOnly", says="is a WebP picture"),
    written(
        "animated-webp-sticker-named-mov",
        ".mov",
        image(".webp", "-c:v", "libwebp_anim", "-loop", "0", animated=True),
        "ImageOnly",
        says="is an animated WebP",
    ),
    written("apng-named-mp4", ".mp4", image(".apng", "-plays", "0", animated=True), "ImageOnly", says="animated PNG"),
    # A phone's AVIF (or HEIC) photo is opened by the MP4 demuxer, as one AV1 frame: its brand names it.
    written(
        "avif-photo-named-mov", ".mov", image(".avif", "-c:v", "libsvtav1"), "ImageOnly", says="is an AVIF picture"
    ),
    # Subtitles and text, in the encodings editors save them in.
    written("srt-latin1-named-mp4", ".mp4", text(SUBTITLES, "latin-1"), "NotMedia", says="is SubRip (SRT) subtitles"),
    written(
        "srt-utf16-notepad-named-mov", ".mov", text(SUBTITLES, "utf-16"), "NotMedia", says="is SubRip (SRT) subtitles"
    ),
    written("webvtt-named-mp4", ".mp4", WEBVTT.encode(), "NotMedia", says="is WebVTT subtitles"),
    written("notes-named-mov", ".mov", "Shot list 🎬\nbeach at dusk\n".encode(), "NotMedia", says="is plain text"),
    # Archives (with a video inside: the pipeline does not unpack them).
    written("zip-of-a-video-named-mp4", ".mp4", zipped_video, "NotMedia", says="is a ZIP archive"),
    written("tar-gz-of-a-video-named-mov", ".mov", tarred_video, "NotMedia", says="is a gzip-compressed tar archive"),
    # Playlists and scripts: only those that point elsewhere are told so, and nothing is opened.
    written("hls-playlist-named-mp4", ".mp4", PLAYLIST, "NotMedia", says="is an HLS playlist", points_elsewhere=True),
    written(
        "hls-local-file-playlist-named-mov",
        ".mov",
        LOCAL_FILE_PLAYLIST,
        "NotMedia",
        says="is an HLS playlist",
        points_elsewhere=True,
    ),
    written(
        "concat-script-named-mp4",
        ".mp4",
        CONCAT,
        "NotMedia",
        says="is an FFmpeg concat script",
        points_elsewhere=True,
    ),
    written("sdp-named-mp4", ".mp4", SDP, "NotMedia", says="is an SDP session description", points_elsewhere=True),
    written("dash-manifest-named-mp4", ".mp4", DASH, "NotMedia", says="is a DASH manifest", points_elsewhere=True),
    written("shell-script-named-mov", ".mov", SCRIPT, "NotMedia", says="is a script"),
    # Bytes that are nothing known; and audio or video in a container the pipeline does not open.
    written("random-bytes", ".mp4", bytes(range(256)) * 400, "NotMedia", says="in no format this pipeline recognises"),
    written("encrypted-noise-named-mov", ".mov", noise, "NotMedia", says="in no format this pipeline recognises"),
    written(
        "wmv-named-mp4",
        ".mp4",
        lambda folder: _made(folder, "old.wmv", *TEST_PATTERN).read_bytes(),
        "UnsupportedContainer",
        says="is a Windows Media file",
    ),
]
BY_NAME = {case.name: case for case in MATRIX}


# -- what a viewer would notice ------------------------------------------------------------------


def probe(path: Path, *extra: str) -> dict[str, Any]:
    command = [ffprobe(), "-v", "error", *extra, "-of", "json", "-show_streams", "-show_format", str(path)]
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def rgb_psnr(first: Image.Image, second: Image.Image) -> float:
    """Peak signal-to-noise ratio of two pictures of the same size, over R, G and B (dB)."""
    difference = ImageStat.Stat(ImageChops.difference(first.convert("RGB"), second.convert("RGB")))
    mse = sum(value**2 for value in difference.rms) / 3
    return 10 * math.log10(255**2 / max(mse, 1e-9))


def packet_durations(path: Path) -> dict[str, list[str]]:
    """Each stream kind's packet durations in seconds, as ffprobe prints them, in order: two files with
    the same are the same frames and sound (a stream copy), whatever their containers."""
    command = [
        ffprobe(),
        "-v",
        "error",
        "-show_entries",
        "packet=codec_type,duration_time",
        "-of",
        "csv=p=0",
        str(path),
    ]
    found: dict[str, list[str]] = {}
    for line in subprocess.run(command, capture_output=True, text=True, check=True).stdout.split():
        kind, duration = line.split(",")
        found.setdefault(kind, []).append(duration)
    return found


def playlist_probe(playlist: Path) -> dict[str, Any]:
    return probe(playlist, "-protocol_whitelist", "file", "-allowed_extensions", "ALL")


def video_span(path: Path, *extra: str) -> float:
    """How long the video lasts, from its packets (the longest video stream: a still beside it is not it)."""
    command = [
        ffprobe(),
        "-v",
        "error",
        *extra,
        "-select_streams",
        "v",
        "-show_entries",
        "packet=stream_index,pts_time,dts_time,duration_time,flags",
        "-of",
        "csv=p=0",
        str(path),
    ]
    scan = parse_packet_scan(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    return max((stream.extent for stream in scan.values()), default=0.0)


def luma_frame(source: Path, at_seconds: float, *extra: str) -> Image.Image:
    """The Y plane of one frame as coded (no range conversion): 16 is black and 235 white in TV range."""
    info = next(
        s for s in (playlist_probe(source) if extra else probe(source))["streams"] if s["codec_type"] == "video"
    )
    width, height = int(info["width"]), int(info["height"])
    command = [
        ffmpeg(),
        "-v",
        "error",
        *extra,
        "-i",
        str(source),
        "-ss",
        f"{at_seconds:.3f}",
        "-frames:v",
        "1",
        "-f",
        "rawvideo",
        "-pix_fmt",
        info["pix_fmt"],
        "-",
    ]
    raw = subprocess.run(command, capture_output=True, check=True).stdout
    return Image.frombytes("L", (width, height), raw[: width * height])


def corners(picture: Image.Image) -> tuple[float, float]:
    """Mean brightness inside the top-left marker (white) and the bottom-right one (black)."""
    width, height = picture.size
    inset_x, inset_y = max(1, width // 32), max(1, height // 32)
    top_left = picture.crop((inset_x, inset_y, width // 4 - inset_x, height // 4 - inset_y))
    bottom_right = picture.crop(
        (3 * width // 4 + inset_x, 3 * height // 4 + inset_y, width - inset_x, height - inset_y)
    )
    return _mean(top_left), _mean(bottom_right)


def _mean(picture: Image.Image) -> float:
    histogram = picture.histogram()
    return sum(value * count for value, count in enumerate(histogram)) / max(1, sum(histogram))


def mean_volume(path: Path, *extra: str) -> float:
    command = [
        ffmpeg(),
        "-hide_banner",
        "-nostats",
        *extra,
        "-i",
        str(path),
        "-map",
        "0:a:0",
        "-af",
        "volumedetect",
        "-f",
        "null",
        "-",
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stderr
    match = re.search(r"mean_volume: (-?[\d.]+|-inf) dB", output)
    return float(match.group(1)) if match and match.group(1) != "-inf" else -200.0


def decoded_tone(path: Path, *extra: str) -> float:
    """The frequency (Hz) of the tone the first audio stream plays, from the decoded samples' zero
    crossings (the test clips' tracks are sines)."""
    command = [ffmpeg(), "-v", "error", *extra, "-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar", "48000",
               "-f", "s16le", "-"]  # fmt: skip
    samples = array("h", subprocess.run(command, capture_output=True, check=True).stdout)
    crossings = sum(1 for before, after in pairwise(samples) if (before < 0) != (after < 0))
    return crossings / 2 / max(1e-9, len(samples) / 48000)


def loudness_of(path: Path, *extra: str) -> tuple[float, float]:
    """FFmpeg's own EBU R128 summary of the first audio stream: (integrated LUFS, true peak dBTP)."""
    command = [ffmpeg(), "-hide_banner", "-nostats", *extra, "-i", str(path), "-map", "0:a:0",
               "-af", "ebur128=peak=true", "-f", "null", "-"]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stderr
    summary = output[output.rindex("Summary:") :]
    integrated = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    peak = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1)
    return integrated, float(peak)


@dataclass
class Seen:
    """What a test saw of one ready video, for the assertions and their messages."""

    notes: list[str] = field(default_factory=list)

    def check(self, condition: bool, note: str) -> None:
        if not condition:
            self.notes.append(note)


HLS = ("-protocol_whitelist", "file", "-allowed_extensions", "ALL")


def check_rendition(
    seen: Seen, folder: Path, rendition: dict[str, Any], source: dict[str, Any], hdr: bool, has_audio: bool
) -> None:
    """One rendition as a player gets it: H.264 8-bit 4:2:0 BT.709 TV range, its planned size, as
    long as the source's video to within a frame, audio and video together, upright, not washed out."""
    playlist = folder / rendition["name"] / "index.m3u8"
    streams = playlist_probe(playlist)["streams"]
    video = next((s for s in streams if s["codec_type"] == "video"), None)
    if video is None:
        seen.check(False, f"{rendition['name']}: no video stream")
        return
    tags = (
        video.get("pix_fmt"),
        video.get("color_space"),
        video.get("color_primaries"),
        video.get("color_transfer"),
        video.get("color_range"),
    )
    seen.check(video["codec_name"] == "h264", f"{rendition['name']}: codec {video['codec_name']}")
    if (rendition.get("passthrough") or {}).get("video"):  # the source's own video: BT.709 or untagged
        untagged = all(tag in ("bt709", "unknown", None) for tag in tags[1:4])
        seen.check(tags[0] == "yuv420p" and tags[4] in ("tv", None) and untagged, f"{rendition['name']}: copied {tags}")
    else:
        seen.check(tags == ("yuv420p", "bt709", "bt709", "bt709", "tv"), f"{rendition['name']}: picture {tags}")
    seen.check(
        (video["width"], video["height"]) == (rendition["width"], rendition["height"]),
        f"{rendition['name']}: {video['width']}x{video['height']}",
    )
    rate = video.get("avg_frame_rate") if video.get("avg_frame_rate") not in (None, "0/0") else video["r_frame_rate"]
    frame = 1 / float(Fraction(rate) or 30)
    length = video_span(playlist, *HLS)
    seen.check(
        abs(length - source["video_seconds"]) <= frame + 0.002,
        f"{rendition['name']}: lasts {length:.3f} s, the source's video {source['video_seconds']:.3f} s",
    )
    audio = next((s for s in streams if s["codec_type"] == "audio"), None)
    seen.check(
        (audio is not None) == has_audio, f"{rendition['name']}: audio {audio is not None}, expected {has_audio}"
    )
    if audio is not None:
        offset = abs(float(audio.get("start_time") or 0) - float(video.get("start_time") or 0))
        seen.check(offset <= 0.040, f"{rendition['name']}: audio starts {offset * 1000:.0f} ms from the video")
    white, black = corners(luma_frame(playlist, min(0.5, length / 2) if length > 0.2 else 0, *HLS))
    if hdr:  # tone-mapped: SDR white rolls off a little (~225); untouched HLG would show it grey (~180)
        seen.check(
            212 <= white <= 240 and black <= 24,
            f"{rendition['name']}: corners white {white:.0f} black {black:.0f} (upright, tone-mapped?)",
        )
    else:  # TV range: white is 235 and black 16, not 255/0 (full range) and not grey (range applied twice)
        seen.check(
            222 <= white <= 240 and 12 <= black <= 28,
            f"{rendition['name']}: corners white {white:.0f} black {black:.0f} (upright, TV range?)",
        )


def check_poster(seen: Seen, poster: Path, display: tuple[int, int]) -> None:
    """Decodes, upright (the white block top-left, the black one bottom-right), not black, full range."""
    with Image.open(poster) as picture:
        seen.check(picture.format == "JPEG", f"poster is {picture.format}")
        width, height = picture.size
        seen.check((width >= height) == (display[0] >= display[1]), f"poster {width}x{height} for {display}")
        gray = picture.convert("L")
        white, black = corners(gray)
        seen.check(white > 200 and black < 50, f"poster corners white {white:.0f} black {black:.0f} (upright?)")
        seen.check(_mean(gray) > 40, "the poster is black")


def source_facts(path: Path) -> dict[str, Any]:
    return {"video_seconds": video_span(path)}
