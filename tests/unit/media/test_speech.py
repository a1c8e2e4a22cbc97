"""Captions generated from speech, the parts that need no model: what was heard cut into cues a reader
can follow (reelstack.media.speech), Whisper's log-Mel features computed with numpy and its tokens read
back (reelstack.media.whisper)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from reelstack.media.speech import (
    LINE_CHARACTERS,
    MAX_CUE_SECONDS,
    MIN_CUE_SECONDS,
    Spoken,
    Vocabulary,
    captions_of,
)
from reelstack.media.whisper import Transcriber, log_mel, mel_filters, samples_of_pcm
from reelstack_cli.media import word_error_rate

LONG = (
    "Good evening and welcome to the harbour, where the boats come home at dusk. The fishermen unload "
    "their catch while the gulls circle overhead, and the market opens at five. Nobody here remembers a "
    "quieter summer than this one."
)


def cues_of(spoken: list[Spoken]) -> list[tuple[float, float, list[str]]]:
    return [(cue.start, cue.end, cue.text.split("\n")) for cue in captions_of(spoken, None).cues]


def test_a_long_stretch_is_cut_into_cues_of_two_lines_of_42_characters_shown_1_to_7_seconds() -> None:
    cues = cues_of([Spoken(2.0, 20.0, LONG)])
    assert len(cues) >= 4
    for start, end, lines in cues:
        assert 1 <= len(lines) <= 2 and all(len(line) <= LINE_CHARACTERS for line in lines), lines
        assert MIN_CUE_SECONDS <= end - start <= MAX_CUE_SECONDS, (start, end)
    assert [start for start, _, _ in cues] == sorted(start for start, _, _ in cues)
    assert all(end <= following for (_, end, _), (following, _, _) in itertools.pairwise(cues))
    assert cues[0][0] == 2.0 and cues[-1][1] == pytest.approx(20.0, abs=0.01)
    # Every word, in order, and a sentence's first word starts a cue.
    assert " ".join(" ".join(lines) for _, _, lines in cues) == LONG
    assert any(lines[0].startswith("The fishermen") for _, _, lines in cues)
    assert any(lines[0].startswith("Nobody") for _, _, lines in cues)
    # Two lines as even as the words allow, not a full one and a stub.
    two = [lines for _, _, lines in cues if len(lines) == 2]
    assert two and all(abs(len(first) - len(second)) <= 16 for first, second in two), two


def test_each_stretch_starts_its_own_cue_at_the_models_time_and_a_short_one_is_shown_a_second() -> None:
    cues = cues_of([Spoken(1.0, 1.3, "Yes."), Spoken(4.0, 6.0, "Then we go home together."), Spoken(6.5, 6.9, "Now.")])
    assert [(start, lines) for start, _, lines in cues] == [
        (1.0, ["Yes."]), (4.0, ["Then we go home together."]), (6.5, ["Now."])
    ]  # fmt: skip
    assert [end for _, end, _ in cues] == [2.0, 6.0, 7.5]
    # Too crowded for a second each: the short cue joins the next one when they fit together.
    crowded = cues_of([Spoken(1.0, 1.2, "Oh,"), Spoken(1.3, 2.8, "I see what you mean.")])
    assert crowded == [(1.0, 2.8, ["Oh, I see what you mean."])]


def test_what_was_heard_is_text_never_markup_and_nothing_heard_is_no_cues() -> None:
    [cue] = captions_of([Spoken(0.5, 2.0, "<script>alert(1)</script> & <b>bold</b>")], 10.0).cues
    assert cue.text == "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"
    late = captions_of([Spoken(0.5, 2.0, "kept"), Spoken(9.5, 12.0, "cut at the end")], 10.0).cues
    assert late[-1].end == 10.0
    with pytest.raises(Exception, match="no cue") as nothing:
        captions_of([], 10.0)
    assert nothing.value.code == "NoCues"


def test_the_vocabulary_spells_byte_level_tokens_back_into_text(tmp_path: Path) -> None:
    tokens = ["Ġcaf", "Ã©", "Ġat", "Ġnight", "!", "ĠâĢ", "ľ", "ok", "<|endoftext|>", "<|0.00|>", "<|0.02|>"]
    (tmp_path / "vocabulary.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    vocabulary = Vocabulary.read(tmp_path)
    assert vocabulary.text([0, 1, 2, 3, 4]) == " café at night!"
    assert vocabulary.text([5, 6, 7]) == " \u201cok"  # a character split across tokens is whole again
    assert vocabulary.text([9, 0, 1, 8, 10]) == " café"  # special tokens spell nothing
    assert (vocabulary.end_of_text, vocabulary.first_timestamp) == (8, 9)


def test_a_windows_tokens_become_stretches_with_times_and_where_the_next_window_starts(tmp_path: Path) -> None:
    words = ["ĠHello", "Ġthere", ".", "ĠBye", "<|endoftext|>"]
    (tmp_path / "vocabulary.txt").write_text("\n".join(words + [f"<|{i * 0.02:.2f}|>" for i in range(1501)]) + "\n")
    transcriber = Transcriber.__new__(Transcriber)  # its token reading only: no model loaded
    transcriber.vocabulary = Vocabulary.read(tmp_path)
    first = transcriber.vocabulary.first_timestamp

    def at(seconds: float) -> int:
        return first + round(seconds / 0.02)

    # Two complete stretches and one cut off by the window's end: the next window starts where the last
    # complete one ended (in frames of 10 ms).
    ids = [at(0.5), 0, 1, 2, at(2.0), at(3.0), 3, at(4.4), at(29.0), 0]
    pieces, advance = transcriber._stretches(ids, first, 3000)
    assert [(start, end, transcriber.vocabulary.text(piece)) for start, end, piece in pieces] == [
        (pytest.approx(0.5), pytest.approx(2.0), " Hello there."), (pytest.approx(3.0), pytest.approx(4.4), " Bye")
    ]  # fmt: skip
    assert advance == 440
    # Ended by a lone timestamp: nothing was cut off, the whole window is done.
    pieces, advance = transcriber._stretches([at(1.0), 3, at(2.5)], first, 3000)
    assert pieces == [(pytest.approx(1.0), pytest.approx(2.5), [3])] and advance == 3000
    # Timestamps past the window's sound (the last window is short) are its end.
    pieces, _ = transcriber._stretches([at(1.0), 3, at(9.0)], first, 500)
    assert pieces == [(pytest.approx(1.0), 5.0, [3])]


def test_the_mel_filters_are_slaneys_triangles_of_unit_area_over_0_to_8_khz() -> None:
    filters = mel_filters(80)
    assert filters.shape == (80, 201)
    bin_hz = 16_000 / 400
    areas = filters.sum(axis=1) * bin_hz
    assert np.allclose(areas[5:], 1.0, atol=0.08), areas  # the lowest are narrower than a bin: sampled coarsely
    peaks = filters.argmax(axis=1) * bin_hz
    assert np.all(np.diff(peaks) >= 0) and peaks[0] < 100 and peaks[-1] > 7000
    assert np.allclose(np.diff(peaks[:10]), peaks[1] - peaks[0], atol=bin_hz)  # linear below 1 kHz


def test_the_log_mel_features_are_whispers_shape_scale_and_put_a_tone_in_its_band() -> None:
    seconds, rate = 2, 16_000
    time = np.arange(seconds * rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 1000 * time)).astype(np.float32)
    features = log_mel(tone)
    assert features.shape == (80, 200) and features.dtype == np.float32
    loudest = features[:, 50:150].mean(axis=1).argmax()
    assert loudest == mel_filters(80)[:, round(1000 / 40)].argmax()  # the band whose triangle holds 1 kHz
    assert features.max() <= features.min() + 2.0 + 1e-6  # floored 80 dB (8 in log10, 2 once scaled) below the top
    silence = log_mel(np.zeros(rate, np.float32))
    assert silence.shape == (80, 100) and np.allclose(silence, (-10 + 4) / 4)  # log10 of the 1e-10 floor
    assert np.allclose(log_mel(tone, bands=128).shape, (128, 200))


def test_pcm_from_ffmpeg_is_read_as_samples_in_minus_one_to_one() -> None:
    pcm = np.array([0, 16384, -32768, 32767], dtype="<i2").tobytes() + b"\x01"  # a stray odd byte is ignored
    assert samples_of_pcm(pcm).tolist() == [0.0, 0.5, -1.0, 32767 / 32768]


def test_the_word_error_rate_counts_substitutions_deletions_and_insertions() -> None:
    assert word_error_rate("The cat sat on the mat.", "the cat, sat on the mat") == 0
    assert word_error_rate("the cat sat on the mat", "the bat sat on mat") == pytest.approx(2 / 6)
    assert word_error_rate("one two", "one two three four") == 1.0


def _put_model(bucket: str, prefix: str, files: dict[str, bytes], manifest: dict[str, str]) -> None:
    """A model folder with its manifest (named after the folder: a function keeps a model it checked by
    its manifest's digest)."""
    import json

    import boto3

    s3 = boto3.client("s3")
    for name, data in files.items():
        s3.put_object(Bucket=bucket, Key=f"{prefix}{name}", Body=data)
    manifest_json = json.dumps({"name": prefix, "files": manifest}).encode()
    s3.put_object(Bucket=bucket, Key=f"{prefix}manifest.json", Body=manifest_json)


def test_the_model_is_loaded_only_when_it_is_the_deployments_pin_and_every_file_its_manifests(
    aws: None, setenv: Callable[..., None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from reelstack.derivatives import speech
    from reelstack.errors import ToolchainMissing

    monkeypatch.setattr(speech, "MODEL_ROOT", tmp_path / "models")
    boto3.client("s3").create_bucket(Bucket="models")
    files = {"model.bin": b"weights", "config.json": b"{}", "vocabulary.txt": b"a\nb\n"}
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    _put_model("models", "tiny/", files, digests)
    setenv(SPEECH_MODEL_BUCKET="models", SPEECH_MODEL_PREFIX="tiny/", SPEECH_MODEL_SHA256=digests["model.bin"])
    folder = speech.fetch_model()
    assert {path.name: path.read_bytes() for path in folder.iterdir() if path.name in files} == files

    # Someone who can write to the bucket swaps the model and its manifest together: not the pin.
    swapped = {**files, "model.bin": b"other weights"}
    _put_model("models", "evil/", swapped, {name: hashlib.sha256(data).hexdigest() for name, data in swapped.items()})
    setenv(SPEECH_MODEL_PREFIX="evil/")
    with pytest.raises(ToolchainMissing, match="not the one this deployment pins"):
        speech.fetch_model()

    # A file that is not the one the manifest names (the vocabulary changed after it was written).
    _put_model("models", "torn/", {**files, "vocabulary.txt": b"c\n"}, digests)
    setenv(SPEECH_MODEL_PREFIX="torn/")
    with pytest.raises(ToolchainMissing, match=r"vocabulary\.txt .* is not the file its manifest pins"):
        speech.fetch_model()

    setenv(SPEECH_MODEL_PREFIX="nowhere/")
    with pytest.raises(ToolchainMissing, match="no speech model at s3://models/nowhere/"):
        speech.fetch_model()
