"""Captions generated from speech (issue 29): what the Transcribe function costs per minute of sound,
cold and warm, and how well it hears, on this machine's 2 cores (Lambda's 3,008 MB function has 2 vCPUs).

The sound: espeak-ng saying the tests' three sentences (reelstack_cli.media.spoken_clip) four times over,
1.5 s apart (55.5 s), turned into 16 kHz PCM by the same FFmpeg command as the Derive function's.
The model: the pinned faster-whisper-tiny.en (infra/speech-model), the layer's CTranslate2 4.8.5.

- **cold**: a new Python process, as a cold Lambda environment: import CTranslate2 and numpy, load the
  model (int8), transcribe the minute. Not counted: copying the model (75.5 MB) from S3 into /tmp,
  about a second at S3's usual 100 MB/s, once per environment.
- **warm**: the same process again (model loaded), median of BENCH_SPEECH_ROUNDS (default 3).

The quality figures come from the short clip the integration test uses (14.6 s): its word error rate
against the sentences, and each sentence's cue start against when espeak-ng starts saying it.
The baseline is real time (a minute of sound takes a minute to listen to).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import median, write_results
from reelstack.media import ffmpeg
from reelstack_cli import media, speech_model

ROUNDS = int(os.environ.get("BENCH_SPEECH_ROUNDS", "3"))
# Lambda's price for x86, per GB-second (us-east-1), and the Transcribe function's memory.
GB_SECOND_USD = 0.0000166667
MEMORY_GB = 3008 / 1024

_WORKER = r"""
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from reelstack.media.whisper import Transcriber, samples_of_pcm
from reelstack.media.speech import captions_of
model = Transcriber(Path(sys.argv[1]))
loaded = time.perf_counter()
samples = samples_of_pcm(Path(sys.argv[2]).read_bytes())
times, vtt = [], ""
for _ in range(int(sys.argv[3])):
    began = time.perf_counter()
    heard = model.transcribe(samples, "en")
    times.append(time.perf_counter() - began)
    vtt = captions_of(heard, None).webvtt()
print(json.dumps({"loadSeconds": loaded - started, "transcribeSeconds": times, "webvtt": vtt,
                  "audioSeconds": len(samples) / 16000}))
"""


def _pcm(video: Path) -> Path:
    out = video.with_suffix(".pcm")
    subprocess.run(ffmpeg.speech_command(video, out), check=True, capture_output=True, timeout=300)
    return out


def _transcribed(model: Path, pcm: Path, rounds: int) -> dict[str, Any]:
    answer = subprocess.run([sys.executable, "-c", _WORKER, str(model), str(pcm), str(rounds)], check=True,
                            capture_output=True, text=True, timeout=900)  # fmt: skip
    return json.loads(answer.stdout)


def run() -> dict[str, Any]:
    os.environ.setdefault("FFMPEG_PATH", media.ffmpeg())  # the layer's pinned FFmpeg, as the Derive function runs it
    model = speech_model.pinned_model()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        short = media.spoken_clip(scratch / "short.mp4")
        sentences = media.SPOKEN_SENTENCES * 4  # about a minute of speech (56 s)
        minute = media.spoken_clip(scratch / "minute.mp4", sentences)
        quality = _transcribed(model, _pcm(short.path), 1)
        cold = _transcribed(model, _pcm(minute.path), 1 + ROUNDS)
    cues = _cues(quality["webvtt"])
    heard = " ".join(text for _, text in cues)
    offsets = [round(min(abs(start - said) for start, _ in cues), 3) for said in short.starts]
    per_minute = 60 / cold["audioSeconds"]
    cold_seconds = (cold["loadSeconds"] + cold["transcribeSeconds"][0]) * per_minute
    warm_seconds = median(cold["transcribeSeconds"][1:]) * per_minute
    summary = {
        "cold": {"secondsPerAudioMinute": round(cold_seconds, 2), "loadSeconds": round(cold["loadSeconds"], 2),
                 "usdPerAudioMinute": round(cold_seconds * MEMORY_GB * GB_SECOND_USD, 6)},
        "warm": {"secondsPerAudioMinute": round(warm_seconds, 2),
                 "usdPerAudioMinute": round(warm_seconds * MEMORY_GB * GB_SECOND_USD, 6)},
        "wordErrorRate": round(media.word_error_rate(" ".join(short.sentences), heard), 3),
        "cueStartOffsets": offsets,
    }  # fmt: skip
    raw = {"cold": cold["transcribeSeconds"], "audioSeconds": cold["audioSeconds"], "heard": heard, "cues": cues}
    return write_results("speech", summary, raw, model=json.loads((model / "manifest.json").read_text())["name"])


def _cues(webvtt: str) -> list[tuple[float, str]]:
    from reelstack.media.captions import stored_cues

    return [(cue.start, cue.text.replace("\n", " ")) for cue in stored_cues(webvtt)]


def report(record: dict[str, Any]) -> None:
    rows = record["median"]
    offsets = rows["cueStartOffsets"]
    print(f"model {record['model']}; word error rate {rows['wordErrorRate']}; cue starts off by {offsets} s")
    for kind in ("cold", "warm"):
        row = rows[kind]
        print(
            f"  {kind}: {row['secondsPerAudioMinute']} s per minute of sound, ${row['usdPerAudioMinute']} at 3,008 MB"
        )


def ratios(record: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = record["median"]
    return [
        (f"Generated captions ({record['model']}), {kind}, per minute of speech",
         f"{rows[kind]['secondsPerAudioMinute']} s", "real time: 60 s",
         f"{60 / rows[kind]['secondsPerAudioMinute']:.1f}x")
        for kind in ("cold", "warm")
    ]  # fmt: skip
