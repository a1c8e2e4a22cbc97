"""HLS playlists: the one place that writes them, and reads FFmpeg's.

Media playlists are EVENT playlists (RFC 8216): published while the video is still being encoded,
they only ever grow (segments are appended, then ``#EXT-X-ENDLIST``), their target duration is fixed
by the plan and the same in every rendition, and :data:`START_AT_BEGINNING` makes a player that
opens one early start at the beginning rather than at the live edge (docs/playback.md, "Players").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from reelstack.media import fmp4
from reelstack.media.ladder import AUDIO_RENDITION, MAXRATE_SHARE, AudioRendition, Plan

AUDIO_CODECS = "mp4a.40.2"  # every audio rendition's, encoded or copied (only AAC-LC is copied)
# HLS's CHARACTERISTICS of an audio description (what players offer to who asked for one).
_CHARACTERISTICS = {"descriptions": "public.accessibility.describes-video"}
Segment = tuple[str, float]  # (file name, seconds)
_EXTINF = re.compile(r"^#EXTINF:([0-9.]+),?[^\n]*\n(\S+)$", re.MULTILINE)
_MAP = re.compile(r'^#EXT-X-MAP:URI="([^"]+)"', re.MULTILINE)
# RFC 8216 4.3.5.2: a negative TIME-OFFSET whose magnitude exceeds the playlist's duration means its
# beginning. Longer than any video (MaxSourceSeconds is at most 3 hours), so every player starts at
# 0 without seeking there: not =0, which Shaka Player (4.11 and later) drops as unset and starts at
# the live edge; not a small positive offset, whose start seek Chromium may drop while the first
# frames arrive, leaving Shaka's playhead at its start time and its buffer 10 s past it (a stall).
START_OFFSET_SECONDS = -86400
START_AT_BEGINNING = f"#EXT-X-START:TIME-OFFSET={START_OFFSET_SECONDS}"
_ENDLIST = "#EXT-X-ENDLIST"
_TARGET_DURATION = re.compile(r"^#EXT-X-TARGETDURATION:(\d+)$", re.MULTILINE)


def playlist_segments(text: str) -> list[Segment]:
    """The segments a media playlist lists, with their durations."""
    return [(name, float(seconds)) for seconds, name in _EXTINF.findall(text)]


def playlist_init(text: str) -> str:
    """The init segment a media playlist names (FFmpeg numbers them per variant: ``init_0.mp4``...)."""
    found = _MAP.search(text)
    return found.group(1) if found else "init.mp4"


def event_playlist(segments: list[Segment], init: str, target_duration: int, ended: bool) -> str:
    """A rendition's fMP4 media playlist of ``segments`` so far; ``ended`` closes it for good."""
    lines = [
        "#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{target_duration}", "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:EVENT", START_AT_BEGINNING, "#EXT-X-INDEPENDENT-SEGMENTS",
        f'#EXT-X-MAP:URI="{init}"',
    ]  # fmt: skip
    for name, seconds in segments:
        lines += [f"#EXTINF:{seconds:.6f},", name]
    if ended:
        lines.append(_ENDLIST)
    return "\n".join(lines) + "\n"


def held_open(text: str) -> str:
    """A closed media playlist as it is served while other renditions of the asset still grow: without
    ``#EXT-X-ENDLIST``, and without its last segment if that is shorter than half the target duration.
    Shaka Player reloads every playlist of a live presentation as often as the shortest last segment
    of any of them lasts: a chunked video's audio, done first, ends in 21 ms of sound, and Shaka asked
    for both playlists fifty times a second. It only grows: the tail and the end come with the rest."""
    lines = text.splitlines()
    if _ENDLIST not in lines:
        return text
    lines.remove(_ENDLIST)
    found = _TARGET_DURATION.search(text)
    segments = playlist_segments(text)
    if found and len(segments) > 1 and segments[-1][1] < int(found.group(1)) / 2:
        del lines[-2:]  # its #EXTINF and URI
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Measured:
    """What a copied rendition's segments say about it (the plan can only guess a source's bitrate)."""

    peak: int  # bits per second of the densest segment: the master's BANDWIDTH
    average: int  # bits per second over all its segments: AVERAGE-BANDWIDTH
    codecs: str  # from the init segment's decoder configurations (reelstack.media.fmp4)


def measure(segments: list[tuple[int, float]], init: bytes, shortest: float = 0, ended: bool = True) -> Measured:
    """``segments`` as ``(bytes, seconds)`` and the init segment's bytes -> :class:`Measured`. The
    peak leaves out the last segment of an ``ended`` rendition if it is under ``shortest`` seconds (a
    frame or two is mostly its keyframe, and would claim a bitrate the stream never keeps up); every
    other segment counts, the short first ones too."""
    timed = [(size, seconds) for size, seconds in segments if seconds > 0]
    full = timed[:-1] if ended and len(timed) > 1 and timed[-1][1] < shortest else timed
    peak = max((int(size * 8 / seconds) for size, seconds in full), default=0)
    total_seconds = sum(seconds for _, seconds in timed)
    average = int(sum(size for size, _ in timed) * 8 / total_seconds) if total_seconds else 0
    # What the init segment holds, video and sound alike (a copied AAC may be HE-AAC, mp4a.40.5).
    return Measured(max(peak, average), average, ",".join(track.codec for track in fmp4.tracks(init)))


def audio_media(audio: AudioRendition) -> str:
    """An audio rendition's ``EXT-X-MEDIA`` line (group ``audio``): its language, its menu name, the
    default one, and every one AUTOSELECT (a player may pick by the device's language)."""
    attributes = [f'TYPE=AUDIO,GROUP-ID="{AUDIO_RENDITION}"', f'NAME="{_quoted(audio.label)}"']
    if audio.language:
        attributes.append(f'LANGUAGE="{audio.language}"')
    attributes += [f"DEFAULT={'YES' if audio.default else 'NO'}", "AUTOSELECT=YES"]
    if audio.kind in _CHARACTERISTICS:
        attributes.append(f'CHARACTERISTICS="{_CHARACTERISTICS[audio.kind]}"')
    attributes += ['CHANNELS="2"', f'URI="{audio.name}/index.m3u8"']
    return "#EXT-X-MEDIA:" + ",".join(attributes)


def _quoted(text: str) -> str:
    """A quoted-string attribute may hold neither a double quote nor a line break (RFC 8216 4.2)."""
    return " ".join(text.replace('"', "'").split())


def master_playlist(plan: Plan, measured: Mapping[str, Measured] | None = None) -> str:
    """The master playlist from the plan (BANDWIDTH, RESOLUTION, CODECS, FRAME-RATE), with what was
    ``measured`` for copied renditions. Chunked video with sound, and video with several audio tracks,
    play their audio from audio renditions (``EXT-X-MEDIA``, group ``audio``)."""
    measured = measured or {}
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    audio_group = plan.separate_audio
    if audio_group:
        lines += [audio_media(audio) for audio in plan.audio_renditions]
    for rendition in plan.renditions:
        found = measured.get(rendition.name)
        if found and audio_group:
            # The copied video's own segments: the audio comes from the group, at the plan's bitrate.
            bandwidth, average = found.peak + rendition.audio_bitrate, found.average + rendition.audio_bitrate
            codecs = ",".join(dict.fromkeys([*found.codecs.split(","), AUDIO_CODECS]))
        elif found:
            bandwidth, average, codecs = found.peak, found.average, found.codecs
        else:
            bandwidth = int(rendition.video_bitrate * MAXRATE_SHARE) + rendition.audio_bitrate
            average, codecs = rendition.bandwidth, rendition.codecs
        attributes = [f"BANDWIDTH={bandwidth}", f"AVERAGE-BANDWIDTH={average}", f'CODECS="{codecs}"']
        if not plan.audio_only:
            attributes += [f"RESOLUTION={rendition.width}x{rendition.height}", f"FRAME-RATE={float(plan.fps):.3f}"]
        if audio_group:
            attributes.append(f'AUDIO="{AUDIO_RENDITION}"')
        lines += [f"#EXT-X-STREAM-INF:{','.join(attributes)}", f"{rendition.name}/index.m3u8"]
    return "\n".join(lines) + "\n"


SUBTITLES_GROUP = "subs"
# HLS's CHARACTERISTICS of captions (sounds described too), which players offer to deaf viewers.
_CAPTIONS = "public.accessibility.transcribes-spoken-dialog,public.accessibility.describes-music-and-sound"


@dataclass(frozen=True)
class SubtitleRendition:
    """A text track as a WebVTT rendition of its own (its playlist at ``<name>/index.m3u8``)."""

    name: str  # the track's id
    language: str
    label: str
    captions: bool = False  # kind "captions" (for deaf viewers), else subtitles


def with_subtitles(master: str, subtitles: list[SubtitleRendition]) -> str:
    """The master playlist with ``subtitles`` as ``EXT-X-MEDIA TYPE=SUBTITLES`` renditions (none the
    default: a player shows them when asked or by the viewer's settings) and every variant naming the
    group. Unchanged without subtitles. Each NAME is unique in the group, as RFC 8216 requires."""
    if not subtitles:
        return master
    lines, seen = [], set()
    for track in subtitles:
        label = _quoted(track.label) or track.language
        name, number = label, 2
        while name.casefold() in seen:
            name, number = f"{label} ({number})", number + 1
        seen.add(name.casefold())
        attributes = [f'TYPE=SUBTITLES,GROUP-ID="{SUBTITLES_GROUP}"', f'NAME="{name}"', f'LANGUAGE="{track.language}"',
                      "DEFAULT=NO", "AUTOSELECT=YES", "FORCED=NO"]  # fmt: skip
        if track.captions:
            attributes.append(f'CHARACTERISTICS="{_CAPTIONS}"')
        lines.append("#EXT-X-MEDIA:" + ",".join([*attributes, f'URI="{track.name}/index.m3u8"']))
    text = re.sub(r"^(#EXT-X-STREAM-INF:[^\n]*)$", rf'\1,SUBTITLES="{SUBTITLES_GROUP}"', master, flags=re.MULTILINE)
    first_variant = text.find("#EXT-X-STREAM-INF:")
    if first_variant < 0:
        return master
    return text[:first_variant] + "\n".join(lines) + "\n" + text[first_variant:]


@dataclass(frozen=True)
class Variant:
    """A rendition a master playlist names: its media playlist (relative) and picture size (0 x 0 for
    sound alone)."""

    playlist: str
    width: int
    height: int
    frame_rate: float = 0.0  # FRAME-RATE (0: not said, sound alone)


_STREAM_INF = re.compile(r"^#EXT-X-STREAM-INF:([^\n]*)\n(\S+)$", re.MULTILINE)
_RESOLUTION = re.compile(r"RESOLUTION=(\d+)x(\d+)")
_FRAME_RATE = re.compile(r"FRAME-RATE=([0-9.]+)")
_DEFAULT_AUDIO = re.compile(r'^#EXT-X-MEDIA:TYPE=AUDIO,[^\n]*DEFAULT=YES[^\n]*URI="([^"]+)"', re.MULTILINE)


def master_variants(text: str) -> tuple[list[Variant], str | None]:
    """The master playlist's renditions, largest first, and the default audio rendition's playlist
    when the sound plays from a rendition of its own (None: each video rendition carries it)."""
    variants = []
    for attributes, playlist in _STREAM_INF.findall(text):
        size, rate = _RESOLUTION.search(attributes), _FRAME_RATE.search(attributes)
        width, height = map(int, size.groups()) if size else (0, 0)
        variants.append(Variant(playlist, width, height, float(rate.group(1)) if rate else 0.0))
    audio = _DEFAULT_AUDIO.search(text)
    return sorted(variants, key=lambda v: -v.width * v.height), audio.group(1) if audio else None
