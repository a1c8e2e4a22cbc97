"""Caption files: whatever a user (or a source's subtitle track) gives, read, checked and written as
clean WebVTT, and the WebVTT segments players load beside the video.

Nothing about the file is trusted: not its name, not its declared type, not its encoding. The bytes
are decoded as UTF-8 (with or without a byte-order mark), UTF-16 (with a byte-order mark, or without
one when every other byte is a NUL) or, failing those, Windows-1252/Latin-1; binary data is refused.
SubRip (SRT) and WebVTT are read; what comes out is WebVTT with:

- cues in order of their start; identical cues once; a cue that runs into the next one ends where
  the next begins (cues that start together are kept together, as WebVTT shows them stacked);
- a cue without length (end at or before its start) shown until the next cue, at most
  :data:`ZERO_LENGTH_SECONDS`; cues past the video's end dropped, cues that run past it cut;
- markup limited to what WebVTT defines for text: ``<b>``, ``<i>``, ``<u>``, voice ``<v Name>`` and
  class spans ``<c.class>``, balanced; every other tag removed (its text kept, except a script's or a
  style's, which goes with it), entities decoded and written back escaped, ASS override codes
  (``{\\an8}``) removed; cue settings kept only where they are valid WebVTT.

Limits (:data:`MAX_TEXT_BYTES`, :data:`MAX_CUES`, :data:`MAX_CUE_CHARACTERS`) keep a hostile file
from costing more than a real one; each refusal is :class:`reelstack.errors.InvalidCaptions` with a
sentence that says what is wrong.
"""

from __future__ import annotations

import bisect
import html
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from reelstack.errors import InvalidCaptions

MAX_TEXT_BYTES = 1024 * 1024  # captions given inline (UTF-8), and what a decoded file may hold
MAX_FILE_BYTES = 2 * MAX_TEXT_BYTES  # a file's bytes: UTF-16 takes two for each character of text
# A three-hour film with dense dialogue has 3,000-4,000 cues; live captions that roll up word by word
# a few times that. A file with more is not captions of one video.
MAX_CUES = 20_000
MAX_CUE_CHARACTERS = 1_000  # a cue's text, markup left out (a subtitle is two lines of about 42)
ZERO_LENGTH_SECONDS = 2.0
SEGMENT_SECONDS = 6  # the WebVTT segments' length: the ladder's segment length (reelstack.media.ladder)
MPEGTS_HZ = 90_000

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# Control characters text does not hold (tab, line feed, form feed and carriage return it may).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# Hours of up to five digits: more is no video's time, and int() of thousands of digits is slow or refused.
_TIMESTAMP = r"(?:(\d{1,5}):)?(\d{1,2}):(\d{1,2})[.,](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TIMESTAMP}\s*-->\s*{_TIMESTAMP}(.*)$")
# Neither pattern may run past the next opening character: a cue of a million "<a" (or "{\\") would
# otherwise be read to its end from every one of them (quadratic time, minutes for 1 MiB).
_ASS_OVERRIDE = re.compile(r"\{\\[^{}]*\}")
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*|[\d:]+)((?:\.[^\s<>]*)?)([^<>]*)>")
_CLASS = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_DROPPED_WITH_CONTENT = frozenset({"script", "style"})
_SPANS = frozenset({"b", "i", "u", "c", "v"})
_SETTINGS = {
    "align": re.compile(r"^(start|center|end|left|right)$"),
    "line": re.compile(r"^(-?\d{1,3}|\d{1,3}(\.\d+)?%)(,(start|center|end))?$"),
    "position": re.compile(r"^\d{1,3}(\.\d+)?%(,(line-left|center|line-right))?$"),
    "size": re.compile(r"^\d{1,3}(\.\d+)?%$"),
    "vertical": re.compile(r"^(rl|lr)$"),
}


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    text: str  # WebVTT cue text: escaped, with only the allowed markup
    settings: str = ""

    def webvtt(self) -> str:
        settings = f" {self.settings}" if self.settings else ""
        return f"{timestamp(self.start)} --> {timestamp(self.end)}{settings}\n{self.text}"


@dataclass(frozen=True)
class Captions:
    """A caption file read and cleaned: its cues, and what was done to make them so."""

    cues: list[Cue]
    source_format: str  # "srt" or "webvtt"
    encoding: str
    dropped: dict[str, int] = field(default_factory=dict)  # why -> how many cues were left out

    def webvtt(self) -> str:
        return "WEBVTT\n\n" + "".join(cue.webvtt() + "\n\n" for cue in self.cues)


def timestamp(seconds: float) -> str:
    """``HH:MM:SS.mmm`` (WebVTT's form with hours, which every player reads)."""
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}"


# -- reading --------------------------------------------------------------------------------------------


def check_file_size(size: int) -> None:
    """A caption file's bytes, before they are read: at most MAX_FILE_BYTES."""
    if size > MAX_FILE_BYTES:
        raise InvalidCaptions(
            f"the file is {size / 1048576:.1f} MiB; caption files may be at most {MAX_FILE_BYTES // 1048576} MiB",
            code="CaptionsTooLarge",
        )


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was read in; InvalidCaptions for what is not text."""
    check_file_size(len(data))
    if not data.strip():
        raise InvalidCaptions("the file is empty", code="NotCaptions")
    text, encoding = _decoded(data)
    if _CONTROL.search(text):
        raise InvalidCaptions(
            "the file is not captions: it holds binary data, not the text of an SRT or WebVTT file", code="NotCaptions"
        )
    if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
        raise InvalidCaptions(
            f"the captions are over {MAX_TEXT_BYTES // 1048576} MiB of text; split them or leave out what is not "
            "spoken",
            code="CaptionsTooLarge",
        )
    return text, encoding


def _decoded(data: bytes) -> tuple[str, str]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _strict(data[len(bom) :], encoding), encoding
    even, odd = data[0::2], data[1::2]
    if len(data) >= 4 and odd.count(0) > len(odd) * 0.4 and even.count(0) < len(even) * 0.05:
        return _strict(data, "utf-16-le"), "utf-16-le"  # ASCII-range text in UTF-16 without a mark
    if len(data) >= 4 and even.count(0) > len(even) * 0.4 and odd.count(0) < len(odd) * 0.05:
        return _strict(data, "utf-16-be"), "utf-16-be"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:  # what "Latin-1" files from Windows really are: curly quotes and dashes in 0x80-0x9f
        return data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _strict(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise InvalidCaptions(
            f"the file says it is {encoding.upper()} but is not (byte {error.start} cannot be read)",
            code="NotCaptions",
        ) from error


def read_captions(data: bytes | str, duration_seconds: float | None = None) -> Captions:
    """Bytes in any of the encodings above (or text already decoded) -> clean :class:`Captions`,
    clipped to ``duration_seconds`` when it is known; InvalidCaptions with a sentence otherwise."""
    if isinstance(data, str):
        # JSON may carry lone surrogates (\udcxx), which no file can hold: each becomes "?".
        text, encoding = data.encode("utf-8", errors="replace").decode("utf-8"), "utf-8"
        if len(text.encode("utf-8", errors="replace")) > MAX_TEXT_BYTES:
            raise InvalidCaptions(
                f"the captions are over {MAX_TEXT_BYTES // 1048576} MiB; upload them as a file instead",
                code="CaptionsTooLarge",
            )
        if _CONTROL.search(text):
            raise InvalidCaptions("the captions hold control characters, which text never does", code="NotCaptions")
    else:
        text, encoding = decode(data)
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    head = text.lstrip()
    source_format = "webvtt" if head.startswith("WEBVTT") else "srt"
    timings = text.count("-->")
    if timings > MAX_CUES:
        raise InvalidCaptions(
            f"the file has {timings:,} cues; captions of one video have at most {MAX_CUES:,}", code="TooManyCues"
        )
    dropped: dict[str, int] = {}
    raw = list(_cues(text, source_format, dropped))
    if not raw:
        if source_format == "webvtt" or timings:
            raise InvalidCaptions("the file has no cue with a readable time and text", code="NoCues")
        raise InvalidCaptions(
            "the file is not captions: it is neither WebVTT nor SubRip (SRT); no line like "
            "'00:00:01,000 --> 00:00:02,000' in it",
            code="NotCaptions",
        )
    cues = _timed(raw, duration_seconds, dropped)
    if not cues:
        first = min(raw, key=lambda cue: cue.start)
        raise InvalidCaptions(
            f"no cue falls within the video: the first starts at {timestamp(first.start)}, "
            f"after its end at {timestamp(duration_seconds or 0)}",
            code="NoCues",
        )
    return Captions(cues, source_format, encoding, {reason: count for reason, count in dropped.items() if count})


def _cues(text: str, source_format: str, dropped: dict[str, int]) -> Iterator[Cue]:
    """Each block's cue, as written (times unchecked against each other), its text cleaned."""
    for block in re.split(r"\n[ \t]*\n", text):
        lines = block.strip("\n").split("\n")
        position = next((index for index, line in enumerate(lines) if "-->" in line), None)
        if position is None:
            continue  # the WEBVTT header, NOTE, STYLE and REGION blocks, an SRT's stray line
        if source_format == "webvtt" and lines[0].strip().startswith(("NOTE", "STYLE", "REGION")):
            continue
        timing = _TIMING.match(lines[position])
        start = _seconds(timing.groups()[0:4]) if timing else None
        end = _seconds(timing.groups()[4:8]) if timing else None
        if start is None or end is None:
            dropped["unreadable time"] = dropped.get("unreadable time", 0) + 1
            continue
        cue_text = clean_text("\n".join(lines[position + 1 :]))
        if not cue_text:
            dropped["no text"] = dropped.get("no text", 0) + 1
            continue
        yield Cue(start, end, cue_text, _settings(timing.group(9)) if source_format == "webvtt" else "")


def _seconds(parts: tuple[str | None, ...]) -> float | None:
    hours, minutes, seconds, fraction = parts
    if int(minutes) > 59 or int(seconds) > 59:
        return None
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(fraction.ljust(3, "0")) / 1000


def _settings(text: str) -> str:
    """The cue settings WebVTT defines, each valid and once; anything else left out."""
    kept = {}
    for setting in text.split():
        name, _, value = setting.partition(":")
        if name in _SETTINGS and name not in kept and _SETTINGS[name].match(value):
            kept[name] = f"{name}:{value}"
    return " ".join(kept.values())


def clean_text(text: str) -> str:
    """A cue's text with only WebVTT's own markup, balanced, and everything else escaped."""
    text = _ASS_OVERRIDE.sub("", text).replace("\\N", "\n").replace("\\n", "\n")
    out: list[str] = []
    open_spans: list[str] = []
    skipping: str | None = None  # inside a script or style element: its content goes too
    characters = 0
    position = 0
    for match in _TAG.finditer(text):
        if skipping is None:
            characters += _append_text(out, text[position : match.start()], MAX_CUE_CHARACTERS - characters)
        position = match.end()
        closing, name, classes, annotation = match.group(1), match.group(2).lower(), match.group(3), match.group(4)
        if skipping is not None:
            if closing and name == skipping:
                skipping = None
            continue
        if name in _DROPPED_WITH_CONTENT and not closing:
            skipping = name
        elif name in _SPANS and closing:
            if name in open_spans:
                while open_spans:
                    last = open_spans.pop()
                    out.append(f"</{last}>")
                    if last == name:
                        break
        elif name in _SPANS:
            out.append(_opening(name, classes, annotation))
            open_spans.append(name)
        # any other tag (font, a timestamp tag, ruby, lang, HTML) is removed, its text kept
    if skipping is None:
        _append_text(out, text[position:], MAX_CUE_CHARACTERS - characters)
    out += [f"</{name}>" for name in reversed(open_spans)]
    lines = [" ".join(line.split()) for line in "".join(out).split("\n")]
    cleaned = "\n".join(line for line in lines if line)
    return "" if not _visible(cleaned) else cleaned


def _append_text(out: list[str], text: str, room: int) -> int:
    """Text between tags, entities decoded, then escaped as WebVTT requires; at most ``room`` characters."""
    plain = html.unescape(text).replace("\u00a0", " ")[: max(0, room)]
    out.append(plain.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    return len(plain)


def _opening(name: str, classes: str, annotation: str) -> str:
    kept = [part for part in classes.split(".") if part and _CLASS.match(part)][:4]
    tag = name + "".join(f".{part}" for part in kept)
    if name == "v":
        speaker = " ".join(re.sub(r"[<>&\"]", "", html.unescape(annotation)).split())[:64]
        return f"<{tag} {speaker}>" if speaker else f"<{tag}>"
    return f"<{tag}>"


def _visible(text: str) -> bool:
    return bool(re.sub(r"<[^>]*>", "", text).strip())


def _timed(cues: list[Cue], duration_seconds: float | None, dropped: dict[str, int]) -> list[Cue]:
    """Cues in order, without duplicates, zero lengths or runs into the next cue, within the video."""
    ordered = sorted(cues, key=lambda cue: (cue.start, cue.end))
    unique: list[Cue] = []
    seen = set()
    for cue in ordered:
        if (cue.start, cue.end, cue.text) in seen:
            dropped["duplicate"] = dropped.get("duplicate", 0) + 1
            continue
        seen.add((cue.start, cue.end, cue.text))
        unique.append(cue)
    starts = sorted({cue.start for cue in unique})
    timed = []
    for cue in unique:
        after = bisect.bisect_right(starts, cue.start)
        following = starts[after] if after < len(starts) else math.inf
        # Without length: shown until the next cue (at most 2 s); running into the next: ends where it begins.
        end = min(cue.start + ZERO_LENGTH_SECONDS if cue.end <= cue.start else cue.end, following)
        if duration_seconds is not None:
            if cue.start >= duration_seconds:
                dropped["after the end"] = dropped.get("after the end", 0) + 1
                continue
            end = min(end, duration_seconds)
        timed.append(replace(cue, end=end))
    return timed


# -- segments ------------------------------------------------------------------------------------------


def stored_cues(text: str) -> list[Cue]:
    """The cues of a WebVTT file this module wrote (:meth:`Captions.webvtt`), read without cleaning
    them again: the playback route cuts segments of it as players ask."""
    cues = []
    for block in text.split("\n\n")[1:]:
        timing, _, cue_text = block.partition("\n")
        found = _TIMING.match(timing)
        if found and cue_text:
            start, end = _seconds(found.groups()[0:4]), _seconds(found.groups()[4:8])
            cues.append(Cue(start or 0.0, end or 0.0, cue_text, found.group(9).strip()))
    return cues


def segment_count(duration_seconds: float, seconds: int = SEGMENT_SECONDS) -> int:
    return max(1, math.ceil(duration_seconds / seconds - 1e-9))


def subtitle_playlist(duration_seconds: float, seconds: int = SEGMENT_SECONDS) -> str:
    """A WebVTT rendition's media playlist: the video's length in segments of ``seconds``."""
    count = segment_count(duration_seconds, seconds)
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{seconds}", "#EXT-X-MEDIA-SEQUENCE:0",
             "#EXT-X-PLAYLIST-TYPE:VOD"]  # fmt: skip
    for index in range(count):
        length = min(seconds, duration_seconds - index * seconds) if index == count - 1 else seconds
        lines += [f"#EXTINF:{max(length, 0.001):.3f},", segment_name(index)]
    return "\n".join([*lines, "#EXT-X-ENDLIST"]) + "\n"


def segment_name(index: int) -> str:
    return f"segment_{index:05d}.vtt"


def segment_index(name: str) -> int | None:
    found = re.fullmatch(r"segment_(\d{5})\.vtt", name)
    return int(found.group(1)) if found else None


def segment(cues: list[Cue], index: int, timeline_seconds: float, seconds: int = SEGMENT_SECONDS) -> str:
    """Segment ``index``: the cues that show during it (a cue across a boundary is in both; players
    show it once), times as in the whole file, and ``X-TIMESTAMP-MAP`` saying that the file's 0 is
    ``timeline_seconds`` on the fMP4 segments' timeline (their presentation time, 90 kHz)."""
    start, end = index * seconds, (index + 1) * seconds
    mpegts = round(timeline_seconds * MPEGTS_HZ)
    header = f"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000\n\n"
    return header + "".join(cue.webvtt() + "\n\n" for cue in cues if cue.start < end and cue.end > start)
