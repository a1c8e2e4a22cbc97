"""What a file the pipeline refuses really is, so that the refusal can name it ("the file is a PNG
picture, not a video or audio file") instead of a guess.

Two witnesses, never the file's name or its declared type: the file's own first bytes (magic
numbers, and the first words of a text file), read here by Python, and the demuxer that FFmpeg's
probe found for it before the format whitelist stopped it (:func:`reelstack.media.ffmpeg.explain`
reads its name from the probe's stderr). Nothing here opens anything: the whitelists stay where
they are, and a playlist's addresses are only ever read as text.

The codes: ``ImageOnly`` for a picture, ``UnsupportedContainer`` for audio or video in a container
the pipeline does not open (WMV, FLV, a raw H.264 stream...), ``NotMedia`` for everything else.
Only a file that refers to other files or network addresses (a playlist, a concat script, a
stream description, a reference to another file) is told that it points elsewhere.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

from reelstack.errors import UnsupportedMedia

# Enough for every signature below (tar's is at 257), the first lines of a text file and most GIFs'
# first frame (to tell a still GIF from an animated one).
HEAD_BYTES = 65536


@dataclass(frozen=True)
class Kind:
    """What a file is, as the refusal tells it."""

    code: str
    sentence: str

    def refusal(self) -> UnsupportedMedia:
        return UnsupportedMedia(self.sentence, code=self.code)


def picture(name: str, animated: bool = False) -> Kind:
    if animated:  # it moves, but as a picture format: the app that made it can save a video instead
        return Kind("ImageOnly", f"the file is {name}, a picture format, not a video; save it as a video to post it")
    return Kind("ImageOnly", f"the file is {name}, not a video or audio file")


def subtitles(name: str) -> Kind:
    return Kind(
        "NotMedia",
        f"the file is {name} subtitles, text without picture or sound; upload the video they belong to",
    )


def text(name: str) -> Kind:
    return Kind("NotMedia", f"the file is {name}, not a video or audio file")


def archive(name: str) -> Kind:
    return Kind("NotMedia", f"the file is {name}; upload the video itself, not an archive that holds it")


def points_elsewhere(name: str, target: str) -> Kind:
    return Kind(
        "NotMedia",
        f"the file is {name}: it points to {target}, which this pipeline never opens; upload the video itself",
    )


def other_container(name: str) -> Kind:
    return Kind(
        "UnsupportedContainer",
        f"the file is {name}, which this pipeline does not take; export the video as MP4, MOV, MKV or WebM",
    )


UNKNOWN = Kind(
    "NotMedia",
    "the file is in no format this pipeline recognises: its bytes are no video, audio, picture, text or archive "
    "(is it damaged or encrypted?)",
)


def references(protocol: str) -> Kind:
    """A file that an allowed demuxer opened and found naming another file or an address (FFmpeg's
    "Protocol 'http' not on whitelist"): a reference movie, a playlist carried inside the file."""
    return Kind(
        "NotMedia",
        f"the file points to other files or network addresses (over {protocol or 'a protocol'}), "
        "which this pipeline never opens; upload the video itself",
    )


# -- by the demuxer FFmpeg's probe picked ------------------------------------------------------------

_PICTURE_NAMES = {
    "png": "a PNG picture", "jpeg": "a JPEG picture", "jpegls": "a JPEG-LS picture", "gif": "a GIF picture",
    "webp": "a WebP picture", "bmp": "a BMP picture", "tiff": "a TIFF picture", "j2k": "a JPEG 2000 picture",
    "jpegxl": "a JPEG XL picture", "psd": "a Photoshop (PSD) picture", "svg": "an SVG drawing",
    "qoi": "a QOI picture", "exr": "an OpenEXR picture", "dpx": "a DPX picture", "hdr": "a Radiance HDR picture",
}  # fmt: skip
_SUBTITLE_NAMES = {
    "srt": "SubRip (SRT)", "webvtt": "WebVTT", "ass": "SubStation Alpha (ASS)", "microdvd": "MicroDVD",
    "subviewer": "SubViewer", "subviewer1": "SubViewer", "sami": "SAMI", "realtext": "RealText", "mpl2": "MPL2",
    "mpsub": "MPSub", "pjs": "PJS", "jacosub": "JACOsub", "stl": "Spruce STL", "vplayer": "VPlayer",
    "aqtitle": "AQTitle", "scc": "Scenarist (SCC)", "mcc": "MacCaption (MCC)", "lrc": "LRC (lyrics)",
    "sup": "Blu-ray (PGS)", "vobsub": "VobSub", "tedcaptions": "TED captions",
}  # fmt: skip
_ELSEWHERE = {
    "hls": ("an HLS playlist", "other files or network addresses (its segments)"),
    "dash": ("a DASH manifest", "other files or network addresses (its segments)"),
    "webm_dash_manifest": ("a WebM DASH manifest", "other files (its streams)"),
    "concat": ("an FFmpeg concat script", "other files"),
    "sdp": ("an SDP session description", "a network stream"),
    "rtsp": ("an RTSP stream description", "a network stream"),
    "imf": ("an IMF composition playlist", "other files"),
}
_OTHER_CONTAINERS = {
    "flv": "a Flash video (FLV)", "live_flv": "a Flash video (FLV)", "swf": "a Flash (SWF) animation",
    "asf": "a Windows Media file (WMV, WMA or ASF)", "asf_o": "a Windows Media file (WMV, WMA or ASF)",
    "wtv": "a Windows TV recording (WTV)", "rm": "a RealMedia file", "mxf": "an MXF file", "gxf": "a GXF file",
    "nut": "a NUT file", "dv": "a DV file", "ivf": "an IVF file (a bare VP8, VP9 or AV1 stream)",
    "h264": "a bare H.264 stream without a container", "hevc": "a bare HEVC stream without a container",
    "vvc": "a bare VVC stream without a container", "av1": "a bare AV1 stream without a container",
    "obu": "a bare AV1 stream without a container", "m4v": "a bare MPEG-4 video stream without a container",
    "mpegvideo": "a bare MPEG video stream without a container", "yuv4mpegpipe": "a raw Y4M video",
    "caf": "a Core Audio (CAF) file", "aiff": "an AIFF audio file", "amr": "an AMR audio file",
    "w64": "a Wave64 audio file", "ape": "a Monkey's Audio (APE) file", "wv": "a WavPack audio file",
    "ac3": "a bare AC-3 audio stream", "eac3": "a bare E-AC-3 audio stream", "dts": "a bare DTS audio stream",
    "truehd": "a bare TrueHD audio stream", "libgme": "game-console music", "libopenmpt": "a tracker music module",
}  # fmt: skip


def by_demuxer(name: str) -> Kind:
    """What FFmpeg's demuxer ``name`` reads (its short name, as FFmpeg logs it)."""
    if name.endswith("_pipe") or name in ("gif", "apng", "jpegxl_anim", "image2", "image2pipe"):
        stem = name.removesuffix("_pipe")
        if name in ("apng", "jpegxl_anim"):
            return picture("an animated PNG (APNG)" if name == "apng" else "an animated JPEG XL", animated=True)
        return picture(_PICTURE_NAMES.get(stem, "a picture"))
    if name in _SUBTITLE_NAMES:
        return subtitles(_SUBTITLE_NAMES[name])
    if name in _ELSEWHERE:
        return points_elsewhere(*_ELSEWHERE[name])
    if name == "tty":
        return text("plain text")
    if name == "ffmetadata":
        return text("an FFmpeg metadata file")
    return other_container(_OTHER_CONTAINERS.get(name, f"what FFmpeg calls the {name} format"))


# -- by the ISO media brand (HEIF and AVIF pictures are opened by the MP4 demuxer) -------------------

_PICTURE_BRANDS = {
    "avif": "an AVIF picture", "avis": "an animated AVIF picture", "heic": "a HEIC picture",
    "heix": "a HEIC picture", "heim": "a HEIC picture", "heis": "a HEIC picture", "hevc": "a HEIC picture sequence",
    "hevx": "a HEIC picture sequence", "mif1": "a HEIF picture", "msf1": "a HEIF picture sequence",
}  # fmt: skip


def by_brand(major_brand: str) -> Kind | None:
    """A picture whose ``ftyp`` says so (what phones save photos as), or None for a movie's brand."""
    brand = major_brand.strip()
    name = _PICTURE_BRANDS.get(brand)
    return picture(name, animated=brand in ("avis", "hevc", "hevx", "msf1")) if name else None


# -- by the file's first bytes -----------------------------------------------------------------------


def _gif_animated(head: bytes) -> bool:
    """Whether a second frame follows the first, found by walking GIF's blocks; when the first frame
    runs past the head, whether the file loops (the NETSCAPE2.0 block that animations carry, which
    FFmpeg also writes for a single frame, hence the walk)."""
    try:
        position = 13 + _colour_table(head[10])
        frames = 0
        while head[position] != 0x3B:  # the trailer
            if head[position] == 0x2C:  # an image: its descriptor, colour table, code size, data
                frames += 1
                if frames == 2:
                    return True
                position += 10 + _colour_table(head[position + 9]) + 1
            elif head[position] == 0x21:  # an extension: its label, then data
                position += 2
            else:
                return False  # damaged: not a frame we can count
            while head[position]:  # data sub-blocks, each led by its length, up to an empty one
                position += head[position] + 1
            position += 1
        return False
    except IndexError:
        return b"NETSCAPE2.0" in head


def _colour_table(flags: int) -> int:
    return 3 << ((flags & 0x07) + 1) if flags & 0x80 else 0


def _webp_animated(head: bytes) -> bool:
    return head[12:16] == b"VP8X" and bool(head[20] & 0x02) if len(head) > 20 else False


def _tar_inside_gzip(head: bytes) -> bool:
    try:
        start = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(head, 512)
    except zlib.error:
        return False
    return start[257:262] == b"ustar"


def _picture_by_bytes(head: bytes) -> Kind | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        frames = head.find(b"IDAT")
        if b"acTL" in (head[:frames] if frames > 0 else head):
            return picture("an animated PNG (APNG)", animated=True)
        return picture("a PNG picture")
    if head.startswith(b"\xff\xd8\xff"):
        return picture("a JPEG picture")
    if head.startswith((b"GIF87a", b"GIF89a")):
        return picture("an animated GIF", animated=True) if _gif_animated(head) else picture("a GIF picture")
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return picture("an animated WebP", animated=True) if _webp_animated(head) else picture("a WebP picture")
    if head.startswith((b"II*\0", b"MM\0*")):
        return picture("a TIFF picture")
    if head.startswith((b"\xff\x0a", b"\0\0\0\x0cJXL \r\n\x87\n")):
        return picture("a JPEG XL picture")
    if head.startswith(b"8BPS"):
        return picture("a Photoshop (PSD) picture")
    if head[4:8] == b"ftyp":
        return by_brand(head[8:12].decode("latin-1"))
    return None


def _archive_by_bytes(head: bytes) -> Kind | None:
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return archive("a ZIP archive")
    if head.startswith(b"\x1f\x8b"):
        return archive("a gzip-compressed tar archive" if _tar_inside_gzip(head) else "gzip-compressed data")
    if head[257:262] == b"ustar":
        return archive("a tar archive")
    if head.startswith(b"BZh") and head[4:10] == b"1AY&SY":
        return archive("bzip2-compressed data")
    if head.startswith(b"\xfd7zXZ\0"):
        return archive("xz-compressed data")
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return archive("a 7-Zip archive")
    if head.startswith(b"Rar!\x1a\x07"):
        return archive("a RAR archive")
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return archive("Zstandard-compressed data")
    if head.startswith(b"%PDF-"):
        return text("a PDF document")
    return None


# Control characters a text file does not hold (tab, line feed, form feed and carriage return it may).
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")
_SRT_TIMING = re.compile(r"^\d+\s*\n\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}\s*-->", re.M)


def _as_text(head: bytes) -> str | None:
    """The head as text (UTF-8, UTF-16 with its byte-order mark, or a one-byte code page such as
    Latin-1 or Windows-1252), or None for binary data."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        words = head[: len(head) // 2 * 2].decode("utf-16", errors="replace")
        return None if _BINARY.search(words.encode("utf-8", errors="replace")) else words
    if not head or _BINARY.search(head):
        return None
    return head.decode("utf-8", errors="ignore") if _mostly_utf8(head) else head.decode("latin-1")


def _mostly_utf8(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start >= len(head) - 3  # a character cut in two at the end of the head
    return True


def _text_by_words(head: bytes) -> Kind | None:
    words = _as_text(head)
    if words is None:
        return None
    words = words.lstrip("\ufeff").replace("\r\n", "\n")
    start = words.lstrip()
    if start.startswith("#EXTM3U"):
        return points_elsewhere(*_ELSEWHERE["hls"])
    if start.startswith("ffconcat version"):
        return points_elsewhere(*_ELSEWHERE["concat"])
    if start.startswith("v=0\n") and re.search(r"^(c|m)=", start, re.M):
        return points_elsewhere(*_ELSEWHERE["sdp"])
    if "<MPD" in start[:2048]:  # an XML DASH manifest
        return points_elsewhere(*_ELSEWHERE["dash"])
    if start.startswith("WEBVTT"):
        return subtitles("WebVTT")
    if _SRT_TIMING.search(start[:2048]):
        return subtitles("SubRip (SRT)")
    if start.startswith("[Script Info]"):
        return subtitles("SubStation Alpha (ASS)")
    if start.startswith("#!"):
        return text("a script (a program written as text)")
    if start.lower().startswith(("<!doctype html", "<html")):
        return text("a web page (HTML)")
    return text("plain text")


def by_bytes(head: bytes) -> Kind | None:
    """What the file's first bytes say it is, or None if they match nothing known (the media
    containers the pipeline opens are not told here: FFmpeg knows them better)."""
    return _picture_by_bytes(head) or _archive_by_bytes(head) or _text_by_words(head)


def starts_like_quicktime(head: bytes) -> bool:
    """An MP4 or MOV begins with one of these boxes (so a missing index means it was cut short)."""
    return head[4:8] in (b"ftyp", b"wide", b"mdat", b"free", b"skip", b"moov")


def read_head(source: Path) -> bytes:
    with source.open("rb") as file:
        return file.read(HEAD_BYTES)


def refusal(source: Path, refused: UnsupportedMedia) -> UnsupportedMedia:
    """The header probe's refusal of ``source``, naming what the file is. Its bytes come first
    (FFmpeg reads a gzip file as game music, and finds no format in an HLS playlist or a text
    file); then what FFmpeg's refusal said. A QuickTime file without its index keeps its verdict
    (cut short); any other file that the MP4 demuxer found no index in is unknown data."""
    head = read_head(source)
    if refused.code == "Truncated" and starts_like_quicktime(head):
        return refused
    kind = by_bytes(head)
    if kind is not None:
        return kind.refusal()
    return UNKNOWN.refusal() if refused.code == "Truncated" else refused
