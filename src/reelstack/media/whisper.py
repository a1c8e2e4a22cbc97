"""Whisper run by CTranslate2, without faster-whisper (whose ``av`` and ``onnxruntime`` would not fit
Lambda's 250 MB beside CTranslate2): 16 kHz mono samples -> log-Mel features computed with numpy ->
the model's tokens with their timestamps -> stretches of text with their times (:class:`Spoken`).

Only the Transcribe function imports this module: it needs the speech layer (numpy, ctranslate2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from reelstack.media.speech import Spoken, TimedWord, Vocabulary

SAMPLE_RATE = 16_000
FFT_SIZE = 400  # 25 ms windows
HOP = 160  # every 10 ms: a frame
WINDOW_SECONDS = 30  # the model hears 30 s at a time
WINDOW_FRAMES = WINDOW_SECONDS * SAMPLE_RATE // HOP  # 3000
TIMESTAMP_SECONDS = 0.02  # the model's timestamp tokens step by 20 ms (two frames)
NO_SPEECH_PROBABILITY = 0.6  # Whisper's own thresholds for a window with nothing said
LOW_AVERAGE_LOG_PROBABILITY = -1.0
_BLOCK_FRAMES = 3000  # the spectrogram is computed this many frames at a time (an hour fits in memory)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's Mel scale (librosa's default, which Whisper's filters use): linear to 1 kHz, then log."""
    linear = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    linear = mel * (200.0 / 3)
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log_part, linear)


@cache
def mel_filters(bands: int) -> np.ndarray:
    """``bands`` triangular filters over the FFT's bins (0-8 kHz), each of unit area (Slaney norm)."""
    bins = np.linspace(0, SAMPLE_RATE / 2, 1 + FFT_SIZE // 2)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(SAMPLE_RATE / 2.0)), bands + 2))
    widths = np.diff(edges)
    distance = edges[:, None] - bins[None, :]
    rising = -distance[:-2] / widths[:-1, None]
    falling = distance[2:] / widths[1:, None]
    filters = np.maximum(0.0, np.minimum(rising, falling))
    filters *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return filters.astype(np.float32)


def log_mel(samples: np.ndarray, bands: int = 80) -> np.ndarray:
    """Whisper's input: the log10 Mel power spectrogram of 16 kHz ``samples`` (float32 in [-1, 1]),
    ``(bands, len(samples) // 160)``, floored 8 (80 dB) below its loudest point and scaled to about
    [-1, 1]. Periodic Hann windows of 400 samples every 160, centred (reflected at the ends)."""
    samples = np.asarray(samples, dtype=np.float32)
    frames = len(samples) // HOP
    padded = np.pad(samples, FFT_SIZE // 2, mode="reflect") if len(samples) > FFT_SIZE // 2 else (
        np.pad(samples, FFT_SIZE // 2))  # fmt: skip
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FFT_SIZE) / FFT_SIZE)).astype(np.float32)
    filters = mel_filters(bands)
    out = np.empty((bands, frames), dtype=np.float32)
    for first in range(0, frames, _BLOCK_FRAMES):
        count = min(_BLOCK_FRAMES, frames - first)
        starts = (first + np.arange(count)) * HOP
        block = padded[starts[:, None] + np.arange(FFT_SIZE)[None, :]] * window
        power = np.abs(np.fft.rfft(block, axis=1)) ** 2
        out[:, first : first + count] = np.log10(np.maximum(filters @ power.T.astype(np.float32), 1e-10))
    if frames:
        np.maximum(out, out.max() - 8.0, out=out)
    return (out + 4.0) / 4.0


@dataclass(frozen=True)
class _Window:
    ids: list[int]
    no_speech: float
    score: float


class Transcriber:
    """A CTranslate2 Whisper model in ``folder`` (config.json, model.bin, vocabulary), loaded once per
    warm function."""

    def __init__(self, folder: Path, threads: int = 0) -> None:
        import ctranslate2  # the speech layer's: only this function has it

        self._ctranslate2 = ctranslate2
        self.model = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="int8", intra_threads=threads)
        self.vocabulary = Vocabulary.read(folder)
        config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").exists() else {}
        self.suppressed = list(config.get("suppress_ids") or [-1])
        self.bands = int(getattr(self.model, "n_mels", 0) or 80)

    def prompt(self, language: str) -> list[str]:
        if not self.model.is_multilingual:
            return ["<|startoftranscript|>"]
        return ["<|startoftranscript|>", f"<|{language.partition('-')[0]}|>", "<|transcribe|>"]

    def _generate(self, features: np.ndarray, prompt: list[str]) -> _Window:
        view = self._ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None]))
        result = self.model.generate(
            view, [prompt], beam_size=5, max_length=448, return_scores=True, return_no_speech_prob=True,
            suppress_blank=True, suppress_tokens=self.suppressed, max_initial_timestamp_index=50,
        )[0]  # fmt: skip
        return _Window(list(result.sequences_ids[0]), float(result.no_speech_prob), float(result.scores[0]))

    def transcribe(self, samples: np.ndarray, language: str = "en") -> list[Spoken]:
        """What is said in ``samples`` (16 kHz mono float32), window by window of 30 s. Like Whisper's
        own loop: a window ends where its last complete stretch ends, and the next starts there."""
        content = len(samples) // HOP
        features = log_mel(np.concatenate([samples, np.zeros(WINDOW_SECONDS * SAMPLE_RATE, np.float32)]), self.bands)
        first_timestamp, prompt = self.vocabulary.first_timestamp, self.prompt(language)
        heard: list[Spoken] = []
        seek = 0
        while seek < content:
            size = min(WINDOW_FRAMES, content - seek)
            window = features[:, seek : seek + WINDOW_FRAMES]
            if window.shape[1] < WINDOW_FRAMES:
                window = np.pad(window, ((0, 0), (0, WINDOW_FRAMES - window.shape[1])), constant_values=-0.5)
            found = self._generate(window, prompt)
            offset = seek * HOP / SAMPLE_RATE
            if found.no_speech > NO_SPEECH_PROBABILITY and found.score < LOW_AVERAGE_LOG_PROBABILITY:
                seek += size
                continue
            pieces, advance = self._stretches(found.ids, first_timestamp, size)
            heard.extend(self._spoken(window, prompt, pieces, size, offset))
            seek += advance if 0 < advance <= size else size
        return heard

    def _stretches(self, ids: list[int], first_timestamp: int, size: int) -> tuple[list[Piece], int]:
        """A window's tokens -> its stretches (start and end in seconds of the window, text tokens), each
        between a start and an end timestamp, and how many frames on the next window starts: after the
        last complete stretch, or after the whole window when the model ended it with a lone timestamp."""
        is_time = [token >= first_timestamp for token in ids]
        window_seconds = size * HOP / SAMPLE_RATE

        def seconds(token: int) -> float:
            return min((token - first_timestamp) * TIMESTAMP_SECONDS, window_seconds)

        def text(piece: list[int]) -> list[int]:
            return [token for token in piece if token < first_timestamp]

        ends_alone = len(ids) >= 2 and is_time[-1] and not is_time[-2]
        cuts = [index for index in range(1, len(ids)) if is_time[index] and is_time[index - 1]]
        if not cuts:
            stamps = [seconds(token) for token, time in zip(ids, is_time, strict=True) if time]
            start = stamps[0] if len(stamps) >= 2 else 0.0
            end = stamps[-1] if stamps and stamps[-1] > start else window_seconds
            return ([(start, end, text(ids))] if text(ids) else []), size
        if ends_alone:
            cuts.append(len(ids))
        pieces, begin = [], 0
        for cut in cuts:
            piece = ids[begin:cut]
            if len(piece) >= 2 and text(piece):
                pieces.append((seconds(piece[0]), seconds(piece[-1]), text(piece)))
            begin = cut
        if ends_alone:
            return pieces, size
        return pieces, round(seconds(ids[begin - 1]) / TIMESTAMP_SECONDS) * 2

    def _spoken(
        self, window: np.ndarray, prompt: list[str], pieces: list[Piece], size: int, offset: float
    ) -> list[Spoken]:
        """The window's stretches with their words timed by the model's cross-attention (CTranslate2's
        ``align``: dynamic time warping over the alignment heads, the way Whisper times words): a
        stretch's own timestamps are coarse (tiny.en starts one where the last ended, silence included)."""
        tokens = [token for _, _, piece in pieces for token in piece]
        if not tokens:
            return []
        end_of_text = self.vocabulary.end_of_text
        view = self._ctranslate2.StorageView.from_array(np.ascontiguousarray(window[None]))
        aligned = self.model.align(view, [self.vocabulary.id_of(token) for token in prompt], [[*tokens, end_of_text]],
                                   size)[0].alignments  # fmt: skip
        text_index = np.array([pair[0] for pair in aligned])
        time_index = np.array([pair[1] for pair in aligned])
        jumps = np.concatenate([[True], np.diff(text_index) != 0]) if len(text_index) else np.array([], bool)
        starts = time_index[jumps] * TIMESTAMP_SECONDS  # when each token (and the end) begins
        if len(starts) < len(tokens) + 1:
            return [
                Spoken(offset + start, offset + end, self.vocabulary.text(piece).strip())
                for start, end, piece in pieces
            ]
        stretches, at = [], 0
        for _, _, piece in pieces:
            words = []
            for first, last in self._word_spans(piece):
                word = self.vocabulary.text(piece[first:last]).strip()
                if word:
                    words.append(TimedWord(offset + float(starts[at + first]), offset + float(starts[at + last]), word))
            at += len(piece)
            if words:
                stretches.append(words)
        return [_spoken_of(words, _seconds_per_character(stretches)) for words in stretches]

    def _word_spans(self, piece: list[int]) -> list[tuple[int, int]]:
        """Token spans of the words: a word starts at a token that begins with a space (GPT-2's Ġ)."""
        firsts = [
            index for index, token in enumerate(piece) if index == 0 or self.vocabulary.tokens[token].startswith("Ġ")
        ]
        return list(zip(firsts, [*firsts[1:], len(piece)], strict=True))


Piece = tuple[float, float, list[int]]  # a stretch: its start and end in the window (seconds), its text tokens
LONG_WORD = 2.0  # a stretch's first or last word this many times longer than its letters take has silence in it


def _seconds_per_character(stretches: list[list[TimedWord]]) -> float:
    """How fast this window's words are said: the median over the words inside stretches (the first
    and the last of each take in the silence around them)."""
    rates = sorted((word.end - word.start) / len(word.text) for words in stretches for word in words[1:-1])
    return rates[len(rates) // 2] if rates else 0.08  # about 150 words a minute


def _spoken_of(words: list[TimedWord], per_character: float) -> Spoken:
    """A stretch of timed words. The alignment hands a silence to a word beside it: a word much longer
    than its letters take at this speaker's pace is cut to that time, at its start where a silence
    came before it (the stretch's first word, or after a comma or a full stop) and else at its end,
    so that a cue starts when its first word is said and a pause shows as a gap between words."""
    timed = []
    for index, word in enumerate(words):
        expected = len(word.text) * per_character
        if word.end - word.start > LONG_WORD * expected:
            after_pause = index == 0 or words[index - 1].text[-1] in ",.?!;:"
            at_end = index == len(words) - 1 or word.text[-1] in ",.?!;:"
            if after_pause or not at_end:
                word = TimedWord(word.end - expected, word.end, word.text)
            else:
                word = TimedWord(word.start, word.start + expected, word.text)
        timed.append(word)
    first, last = timed[0], timed[-1]
    return Spoken(first.start, max(last.end, first.start), " ".join(word.text for word in timed), tuple(timed))


def samples_of_pcm(data: bytes) -> np.ndarray:
    """16-bit little-endian mono PCM (what FFmpeg's ``-f s16le`` writes) as float32 in [-1, 1]."""
    return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
