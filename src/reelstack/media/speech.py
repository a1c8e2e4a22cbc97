"""Speech turned into captions a reader can follow: what the Whisper model heard (stretches of text with
their times, reelstack.media.whisper) cut into WebVTT cues of at most two lines of about 42 characters,
each shown for 1 to 7 seconds (the limits broadcasters and the BBC's subtitle guidelines use), and the
model's tokens turned back into text.

Pure Python: the Derive and API functions import it without numpy; only the Transcribe function has
the speech layer (numpy, CTranslate2).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from reelstack.media.captions import Captions, read_captions, timestamp

LINE_CHARACTERS = 42
MAX_LINES = 2
MIN_CUE_SECONDS = 1.0
MAX_CUE_SECONDS = 7.0
PAUSE_SECONDS = 0.5  # a silence this long between two words ends a cue (a reader sees the speaker stop)
_SENTENCE_END = re.compile(r"[.?!…]$")


@dataclass(frozen=True)
class TimedWord:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Spoken:
    """A stretch of speech the model heard, with its times in seconds (a Whisper segment), and its
    words with theirs where the model's attention placed them."""

    start: float
    end: float
    text: str
    words: tuple[TimedWord, ...] = ()


def _words(spoken: Spoken) -> list[TimedWord]:
    """The stretch's words: as timed by the model, else with its time shared out by their length."""
    if spoken.words:
        return list(spoken.words)
    words = spoken.text.split()
    if not words:
        return []
    weights = [len(word) + 1 for word in words]
    per_unit = max(spoken.end - spoken.start, 0.0) / sum(weights)
    timed, at = [], spoken.start
    for word, weight in zip(words, weights, strict=True):
        timed.append(TimedWord(at, at + weight * per_unit, word))
        at += weight * per_unit
    return timed


def wrap(text: str, width: int = LINE_CHARACTERS) -> list[str]:
    """``text`` on one line if it fits, else two lines as even as the words allow (a reader's eye
    travels less than with a full first line and a short second one)."""
    if len(text) <= width:
        return [text]
    words = text.split()
    best: list[str] | None = None
    for cut in range(1, len(words)):
        lines = [" ".join(words[:cut]), " ".join(words[cut:])]
        if best is None or max(map(len, lines)) < max(map(len, best)):
            best = lines
    return best or [text]


def _fits(words: list[TimedWord]) -> bool:
    lines = wrap(" ".join(word.text for word in words))
    return len(lines) <= MAX_LINES and all(len(line) <= LINE_CHARACTERS for line in lines)


def _groups(words: list[TimedWord]) -> list[list[TimedWord]]:
    """Words packed greedily into cues: a new cue when the text would pass two lines or the cue 7 s,
    after a pause, or after a sentence's end once the cue has lasted a second."""
    groups: list[list[TimedWord]] = []
    for word in words:
        current = groups[-1] if groups else None
        if (
            current
            and _fits([*current, word])
            and word.end - current[0].start <= MAX_CUE_SECONDS
            and not (_SENTENCE_END.search(current[-1].text) and current[-1].end - current[0].start >= MIN_CUE_SECONDS)
            and word.start - current[-1].end < PAUSE_SECONDS
        ):
            current.append(word)
        else:
            groups.append([word])
    return groups


def cue_times(groups: list[list[TimedWord]]) -> list[tuple[float, float]]:
    """Each cue's start and end: at least 1 s where the next cue leaves room, at most 7 s."""
    times = []
    for index, group in enumerate(groups):
        start, end = group[0].start, group[-1].end
        following = groups[index + 1][0].start if index + 1 < len(groups) else None
        if end - start < MIN_CUE_SECONDS:
            end = start + MIN_CUE_SECONDS if following is None else min(start + MIN_CUE_SECONDS, following)
        times.append((start, min(end, start + MAX_CUE_SECONDS)))
    return times


def _merge_short(groups: list[list[TimedWord]]) -> list[list[TimedWord]]:
    """A cue too short to read, whose next cue comes too soon to show it a second, joins that cue when
    the two fit in one (else it is shown until the next one starts: :func:`cue_times`)."""
    merged: list[list[TimedWord]] = []
    for group in groups:
        previous = merged[-1] if merged else None
        if (
            previous
            and previous[-1].end - previous[0].start < MIN_CUE_SECONDS
            and group[0].start < previous[0].start + MIN_CUE_SECONDS
            and _fits(previous + group)
            and group[-1].end - previous[0].start <= MAX_CUE_SECONDS
        ):
            previous.extend(group)
        else:
            merged.append(list(group))
    return merged


def caption_text(spoken: list[Spoken]) -> str:
    """WebVTT of what was heard, cut into readable cues. Each stretch starts a cue of its own: the
    model's stretch times are what the cue times rest on."""
    groups: list[list[TimedWord]] = []
    for stretch in spoken:
        groups.extend(_groups(_words(stretch)))
    groups = _merge_short(groups)
    blocks = []
    for group, (start, end) in zip(groups, cue_times(groups), strict=True):
        lines = wrap(" ".join(word.text for word in group))
        text = "\n".join(line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") for line in lines)
        blocks.append(f"{timestamp(start)} --> {timestamp(end)}\n{text}")
    return "WEBVTT\n\n" + "\n\n".join(blocks) + "\n"


def captions_of(spoken: list[Spoken], duration_seconds: float | None) -> Captions:
    """:func:`caption_text`, read back like any caption file (so what is kept is always clean WebVTT,
    cut at the video's end); InvalidCaptions ``NoCues`` when nothing was said."""
    return read_captions(caption_text(spoken), duration_seconds)


# -- the model's tokens ---------------------------------------------------------------------------------


@cache
def _byte_of_character() -> dict[str, int]:
    """GPT-2's byte-level BPE (which Whisper's vocabulary uses) writes every byte as a printable
    character: the printable Latin-1 bytes as themselves, the others as 256 + their rank."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    characters = {byte: byte for byte in printable}
    extra = 0
    for byte in range(256):
        if byte not in characters:
            characters[byte] = 256 + extra
            extra += 1
    return {chr(character): byte for byte, character in characters.items()}


@dataclass(frozen=True)
class Vocabulary:
    """The model's tokens in id order (its ``vocabulary.txt`` or ``vocabulary.json``)."""

    tokens: tuple[str, ...]

    @classmethod
    def read(cls, folder: Path) -> Vocabulary:
        listed = folder / "vocabulary.json"
        if listed.exists():
            return cls(tuple(json.loads(listed.read_text(encoding="utf-8"))))
        lines = (folder / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
        return cls(tuple(lines[:-1] if lines and not lines[-1] else lines))  # one token a line (none is blank)

    def id_of(self, token: str) -> int:
        return self.tokens.index(token)

    @property
    def end_of_text(self) -> int:
        return self.id_of("<|endoftext|>")

    @property
    def first_timestamp(self) -> int:
        return self.id_of("<|0.00|>")

    def text(self, ids: list[int]) -> str:
        """The words that text tokens (ids below the special ones) spell."""
        byte_of = _byte_of_character()
        limit = self.end_of_text
        spelled = "".join(self.tokens[token] for token in ids if token < limit)
        return bytes(byte_of.get(character, ord("?")) for character in spelled).decode("utf-8", errors="replace")
