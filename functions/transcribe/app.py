"""The Maps' iteration "Transcribe speech" (and, after its Catch, "Not transcribed"): the generated
caption tracks of an asset made from the sound the Derive function handed over (reelstack.derivatives.speech)."""

from __future__ import annotations

from typing import Any

from reelstack.derivatives import speech
from reelstack.observability import MetricUnit, lambda_handler, metrics


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    done = speech.transcribe(event)
    if done.get("audioSeconds"):
        metrics.add_metric(name="TranscribeSecondsPerAudioMinute", unit=MetricUnit.Seconds,
                           value=60 * done["transcribeSeconds"] / done["audioSeconds"])  # fmt: skip
    return done
