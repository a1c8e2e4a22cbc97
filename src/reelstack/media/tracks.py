"""A source's audio tracks: which of them an asset keeps, and what players call them; and its
subtitle tracks (:class:`SubtitleTrack`), which become text tracks (reelstack.derivatives.captions).

Films with a dub, lessons in two languages and commentaries come from cameras, editors and screen
recorders with one audio track per language. Every track with a language of its own (or, when no
track has a language, a title of its own) is kept, as an HLS audio rendition; commentary and
audio-description tracks are kept beside the track of their language and keep their titles. The
track a player picks today (the one marked default, else the first) always comes first and is the
default. Tracks in a language already kept, and untagged tracks beside tagged ones, are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_AUDIO_TRACKS = 8  # more is a warning (AudioTracksDropped): each is an encode and a menu entry

# ISO 639-2 (what Matroska and MP4 store; /B and /T forms both) -> ISO 639-1, which BCP 47 (HLS
# LANGUAGE, the contract's languageCode) prefers; with the language's English name. A code not here
# stays as it is (a three-letter 639-2/T code is valid BCP 47 too) and is its own name.
_LANGUAGES = {
    "ara": ("ar", "Arabic"), "ben": ("bn", "Bengali"), "bul": ("bg", "Bulgarian"), "cat": ("ca", "Catalan"),
    "ces": ("cs", "Czech"), "cze": ("cs", "Czech"), "chi": ("zh", "Chinese"), "zho": ("zh", "Chinese"),
    "dan": ("da", "Danish"), "deu": ("de", "German"), "ger": ("de", "German"), "dut": ("nl", "Dutch"),
    "nld": ("nl", "Dutch"), "ell": ("el", "Greek"), "gre": ("el", "Greek"), "eng": ("en", "English"),
    "est": ("et", "Estonian"), "eus": ("eu", "Basque"), "baq": ("eu", "Basque"), "fas": ("fa", "Persian"),
    "per": ("fa", "Persian"), "fin": ("fi", "Finnish"), "fra": ("fr", "French"), "fre": ("fr", "French"),
    "gle": ("ga", "Irish"), "glg": ("gl", "Galician"), "heb": ("he", "Hebrew"), "hin": ("hi", "Hindi"),
    "hrv": ("hr", "Croatian"), "hun": ("hu", "Hungarian"), "ind": ("id", "Indonesian"), "isl": ("is", "Icelandic"),
    "ice": ("is", "Icelandic"), "ita": ("it", "Italian"), "jpn": ("ja", "Japanese"), "kor": ("ko", "Korean"),
    "lav": ("lv", "Latvian"), "lit": ("lt", "Lithuanian"), "msa": ("ms", "Malay"), "may": ("ms", "Malay"),
    "nor": ("no", "Norwegian"), "nob": ("nb", "Norwegian Bokmål"), "pol": ("pl", "Polish"),
    "por": ("pt", "Portuguese"), "ron": ("ro", "Romanian"), "rum": ("ro", "Romanian"), "rus": ("ru", "Russian"),
    "slk": ("sk", "Slovak"), "slo": ("sk", "Slovak"), "slv": ("sl", "Slovenian"), "spa": ("es", "Spanish"),
    "srp": ("sr", "Serbian"), "swe": ("sv", "Swedish"), "tam": ("ta", "Tamil"), "tha": ("th", "Thai"),
    "tur": ("tr", "Turkish"), "ukr": ("uk", "Ukrainian"), "urd": ("ur", "Urdu"), "vie": ("vi", "Vietnamese"),
    "cym": ("cy", "Welsh"), "wel": ("cy", "Welsh"),
}  # fmt: skip
_NAMES = dict(_LANGUAGES.values())
_UNDETERMINED = frozenset({"", "und", "unk", "mis", "mul", "zxx", "xx", "none"})
_TAG = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{1,8})*$")
# MP4 handler names muxers write (FFmpeg, Android's MediaMuxer, Apple, GPAC, L-SMASH): not titles.
_HANDLER_NAMES = frozenset(
    {"soundhandler", "soundhandle", "sound handler", "audio handler", "core media audio", "gpac iso audio handler",
     "l-smash audio handler"}
)  # fmt: skip
_COMMENTARY = re.compile(r"comment", re.IGNORECASE)
_DESCRIPTIONS = re.compile(r"descri(bed|ption|ptive)|\bAD\b|visually impaired", re.IGNORECASE)


def language_code(tag: str | None) -> str | None:
    """A stream's language tag (``eng``, ``fre``, ``en-US``) as BCP 47 (``en``, ``fr``, ``en-us``);
    None when it names no language."""
    text = (tag or "").strip().lower().replace("_", "-")
    if text in _UNDETERMINED or not _TAG.match(text):
        return None
    primary, _, region = text.partition("-")
    primary = _LANGUAGES.get(primary, (primary, ""))[0]
    return f"{primary}-{region}" if region else primary


def language_name(code: str) -> str:
    """The English name of a BCP 47 code's language (``fr`` -> ``French``), else the code itself."""
    return _NAMES.get(code.partition("-")[0], code)


@dataclass(frozen=True)
class AudioTrack:
    """One audio stream of the source, as the probe read it."""

    stream: int  # the file's stream index (ffmpeg's -map 0:N)
    language: str | None = None  # BCP 47
    title: str | None = None
    kind: str | None = None  # "commentary" or "descriptions" (audio description), else None
    default: bool = False  # the track a player picks: marked default, else the first
    codec: str | None = None
    profile: str | None = None
    channels: int = 0
    sample_rate: int = 0
    bitrate: int = 0

    @property
    def name(self) -> str:
        """What a player's menu shows: a commentary or description keeps its title, other tracks are
        named by their language; a track with neither is its title, else "Main"."""
        if self.kind:
            return self.title or ("Commentary" if self.kind == "commentary" else "Audio description")
        if self.language:
            return language_name(self.language)
        return self.title or "Main"


def describe_track(stream: dict[str, Any], chosen: bool) -> AudioTrack:
    """ffprobe's audio stream -> :class:`AudioTrack`."""
    tags = {str(key).lower(): value for key, value in (stream.get("tags") or {}).items()}
    disposition = stream.get("disposition") or {}
    title = str(tags.get("title") or tags.get("handler_name") or "").strip() or None
    if title and title.casefold() in _HANDLER_NAMES:
        title = None  # what MP4 muxers write in every file, not a title anyone gave
    kind = None
    if disposition.get("comment") or (title and _COMMENTARY.search(title)):
        kind = "commentary"
    elif (
        disposition.get("visual_impaired") or disposition.get("descriptions") or (title and _DESCRIPTIONS.search(title))
    ):
        kind = "descriptions"
    return AudioTrack(
        stream=int(stream.get("index", 0)),
        language=language_code(tags.get("language")),
        title=title,
        kind=kind,
        default=chosen,
        codec=stream.get("codec_name"),
        profile=stream.get("profile"),
        channels=int(stream.get("channels") or 0),
        sample_rate=int(stream.get("sample_rate") or 0),
        bitrate=int(float(stream.get("bit_rate") or 0)),
    )


@dataclass(frozen=True)
class Kept:
    tracks: list[AudioTrack]  # the default first, then in the file's order
    dropped: int  # distinct tracks over MAX_AUDIO_TRACKS, left out


def keep_tracks(tracks: list[AudioTrack]) -> Kept:
    """The tracks an asset keeps (see the module's description), at most MAX_AUDIO_TRACKS."""
    if not tracks:
        return Kept([], 0)
    chosen = next((track for track in tracks if track.default), tracks[0])
    by_language = any(track.language for track in tracks)

    def identity(track: AudioTrack) -> tuple[str, ...] | None:
        if track.kind:
            return (track.kind, track.language or "", (track.title or "").casefold())
        if by_language:
            return ("language", track.language) if track.language else None
        return ("title", track.title.casefold()) if track.title else None

    kept, seen = [chosen], {identity(chosen)}
    for track in tracks:
        found = identity(track)
        if track is not chosen and found is not None and found not in seen:
            kept.append(track)
            seen.add(found)
    return Kept(kept[:MAX_AUDIO_TRACKS], max(0, len(kept) - MAX_AUDIO_TRACKS))


# Subtitle codecs FFmpeg turns into WebVTT (text), and those that are pictures of text (PGS from Blu-ray,
# DVB, DVD), which cannot become text without reading the pictures.
TEXT_SUBTITLE_CODECS = frozenset({"mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text"})


@dataclass(frozen=True)
class SubtitleTrack:
    """One subtitle stream of the source, as the probe read it."""

    stream: int  # the file's stream index (ffmpeg's -map 0:N)
    codec: str = ""
    language: str | None = None  # BCP 47
    title: str | None = None
    hearing_impaired: bool = False  # captions: sounds described too (SDH)

    @property
    def text(self) -> bool:
        return self.codec in TEXT_SUBTITLE_CODECS

    @property
    def label(self) -> str:
        """What a player's menu shows: its title, else its language's name, else its place in the file."""
        if self.title:
            return self.title
        return language_name(self.language) if self.language else f"Subtitles {self.stream}"


def describe_subtitle(stream: dict[str, Any]) -> SubtitleTrack:
    """ffprobe's subtitle stream -> :class:`SubtitleTrack`."""
    tags = {str(key).lower(): value for key, value in (stream.get("tags") or {}).items()}
    title = str(tags.get("title") or "").strip()[:100] or None
    if title and title.casefold() in _HANDLER_NAMES | {"subtitlehandler", "text handler", "core media text"}:
        title = None
    return SubtitleTrack(
        stream=int(stream.get("index", 0)),
        codec=str(stream.get("codec_name") or ""),
        language=language_code(tags.get("language")),
        title=title,
        hearing_impaired=bool((stream.get("disposition") or {}).get("hearing_impaired")),
    )
