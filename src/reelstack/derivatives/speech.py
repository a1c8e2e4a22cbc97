"""Captions generated from speech (issue 29): a text track ``source: "generated"`` asked for with
``generatedCaptions: {languageCode}`` in ``POST /uploads``, or later with ``POST /assets/{id}/tracks/generate``.

Two steps, because no one function can hold both FFmpeg (165 MB) and CTranslate2 with numpy (190 MB)
under Lambda's 250 MB:

1. The ``speech`` derivative (the Derive function, which has FFmpeg) joins the sound's published
   rendition and writes it as 16 kHz mono PCM to the media bucket (``assets/<id>/speech/<track>.pcm``).
   It is a derivative of the ladder: made once the asset is ready, in the pipeline's "Derive from the
   ladder" Map or the Derive state machine, like a download asked for.
2. The Transcribe function (the speech layer: CTranslate2, numpy; no FFmpeg) copies the Whisper model
   from where the deployment keeps it (SpeechModelBucket/SpeechModelPrefix, every file checked
   against the model's ``manifest.json``) into /tmp at a cold start, transcribes
   (reelstack.media.whisper), cuts what was heard into readable cues (reelstack.media.speech) and
   stores them like any caption file: the track becomes ready (``asset.track.ready``), or failed
   with a reason (``asset.track.failed``): a failure here never fails the asset.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from reelstack import aws
from reelstack.bodies import GeneratedCaptions
from reelstack.config import deployment
from reelstack.derivatives import captions
from reelstack.derivatives.captions import TrackStatus
from reelstack.derivatives.recipe import Derivative, Needs, State, published_ladder, ready_asset, rendition_segments
from reelstack.errors import AssetGone, Conflict, InvalidCaptions, InvalidInput, MediaLimitExceeded, ToolchainMissing
from reelstack.ids import new_track_id
from reelstack.media import ffmpeg
from reelstack.media.speech import captions_of
from reelstack.media.tracks import language_code, language_name
from reelstack.pipeline.failures import failure_from_state_error
from reelstack.pipeline.steps import RemainingMs, time_left, work_folder
from reelstack.store import assets
from reelstack.store.events import EventType
from reelstack.store.keys import MediaKeys
from reelstack.store.objects import delete_prefix, join_objects, upload_files
from reelstack.store.records import AssetModel, utc_now
from reelstack.store.states import AssetStatus
from reelstack.store.views import plain, text_tracks, track_view

GENERATED = "generated"
# The longest sound transcribed in one Transcribe call, which Lambda stops at 15 minutes: tiny.en took
# 26 s per minute of speech cold and 17 s warm on a busy machine (docs/playback.md, `python -m bench
# speech`), so 30 minutes take at most 13 of the 15. A longer sound is refused with a sentence.
MAX_SPEECH_SECONDS = 30 * 60
BYTES_PER_SECOND = ffmpeg.SPEECH_SAMPLE_RATE * 2
MODEL_ROOT = Path(tempfile.gettempdir()) / "speech-model"


def languages() -> list[str]:
    """The languages the deployment's model is asked for (SpeechLanguages)."""
    return [code for code in (language_code(part) for part in deployment().speech_languages.split(",")) if code]


def check_language(requested: str) -> str:
    """A language the deployment transcribes, as BCP 47; InvalidInput (400) naming those it does."""
    code = language_code(requested)
    spoken = languages()
    if code is None or code.partition("-")[0] not in {known.partition("-")[0] for known in spoken}:
        raise InvalidInput(
            f"captions are generated in {', '.join(spoken)} here, not {requested[:16]!r}", code="UnsupportedLanguage"
        )
    return code


def generated_entry(language: str) -> dict[str, Any]:
    """A generated track as first recorded: ``preparing`` until the Transcribe function is done."""
    return {
        "type": "text", "languageCode": language, "name": f"{language_name(language)} (generated)",
        "kind": "subtitles", "source": GENERATED, "status": TrackStatus.PREPARING, "createdAt": utc_now(),
    }  # fmt: skip


def requested_tracks(requested: GeneratedCaptions | None) -> dict[str, dict[str, Any]] | None:
    """``POST /uploads``' ``generatedCaptions``: the new asset's generated track, by a new id (or None)."""
    if requested is None:
        return None
    return {new_track_id(): generated_entry(check_language(requested.language_code))}


def pending(asset: AssetModel) -> dict[str, dict[str, Any]]:
    """The asset's generated tracks still waiting for their words, by id."""
    return {track_id: entry for track_id, entry in text_tracks(asset).items()
            if entry.get("source") == GENERATED and entry.get("status") == TrackStatus.PREPARING}  # fmt: skip


def request_generation(owner_id: str, asset_id: str, read_request: Callable[[], GeneratedCaptions]) -> dict[str, Any]:
    """``POST /assets/{id}/tracks/generate``: a generated track, ``preparing``; the Derive state machine
    hands its sound to the Transcribe function. The same language already under way: that track."""
    asset = assets.owned_asset(owner_id, asset_id)  # someone else's: 404 whatever the body
    language = check_language(read_request().language_code)
    if asset.status != AssetStatus.READY:
        raise Conflict(f"the asset is {asset.status}: ask for generated captions when uploading, or once it is "
                       "ready", code="AssetNotReady")  # fmt: skip
    if not plain(asset.media).get("hasAudio"):
        raise Conflict("the video has no sound: there is no speech to make captions of", code="NoSound")
    if (plain(asset.media).get("durationSeconds") or 0) > MAX_SPEECH_SECONDS:
        raise Conflict(too_long(plain(asset.media)["durationSeconds"]), code="SpeechTooLong")
    for track_id, entry in pending(asset).items():
        if entry.get("languageCode") == language:
            return track_view(track_id, entry)
    if len(text_tracks(asset)) >= captions.MAX_TEXT_TRACKS:
        raise Conflict(f"the asset has {captions.MAX_TEXT_TRACKS} text tracks already; delete one first",
                       code="TooManyTracks")  # fmt: skip
    track_id, entry = new_track_id(), generated_entry(language)
    if not captions.record(asset_id, owner_id, track_id, entry):
        raise AssetGone("the asset was deleted meanwhile")
    from reelstack import derivatives  # the package registers this module: imported here, not at the top

    derivatives.start(asset_id, owner_id, [SPEECH.name])
    return track_view(track_id, entry)


def too_long(seconds: float) -> str:
    return (f"the video is {seconds / 60:.0f} minutes long; captions are generated for at most "
            f"{MAX_SPEECH_SECONDS // 60} minutes of sound")  # fmt: skip


def _fail(asset_id: str, owner_id: str, track_id: str, entry: dict[str, Any], code: str, message: str) -> None:
    failed = {**entry, "status": TrackStatus.FAILED, "error": {"code": code, "message": message}}
    captions.record(asset_id, owner_id, track_id, failed, EventType.ASSET_TRACK_FAILED, present=True)


@dataclass(frozen=True)
class SpeechCaptions(Derivative):
    """The sound of a ready asset as 16 kHz PCM for the Transcribe function (see the module's description)."""

    def refusal(self, has_video: bool, has_audio: bool) -> str | None:
        return None if has_audio else "the video has no sound: there is no speech to make captions of"

    def asked(self, asset: AssetModel) -> bool:
        return bool(pending(asset))

    def refuse(self, asset_id: str, owner_id: str, reason: str) -> None:
        self.refuse_with(asset_id, owner_id, "NoSound", reason)

    def make(self, state: State, remaining_ms: RemainingMs) -> dict[str, Any]:
        asset_id, owner_id = state["assetId"], state["ownerId"]
        waiting = pending(ready_asset(asset_id))
        if not waiting:
            return {"name": self.name, "tracks": 0}
        keys = MediaKeys(asset_id)
        variants, audio_playlist = published_ladder(keys)
        init, segments = rendition_segments(keys, audio_playlist or variants[-1].playlist)
        seconds = sum(length for _, length in segments)
        if seconds > MAX_SPEECH_SECONDS:
            raise MediaLimitExceeded(too_long(seconds), code="SpeechTooLong")
        audio_key = keys.speech_audio(next(iter(waiting)))
        with work_folder() as work:
            join_objects([init, *(key for key, _ in segments)], work / "sound.mp4")
            ffmpeg.run(ffmpeg.speech_command(work / "sound.mp4", work / "speech.pcm"), time_left(remaining_ms)(), work,
                       "read the sound for captions")  # fmt: skip
            upload_files([(work / "speech.pcm", audio_key)])
        tracks = [{"trackId": track_id, "languageCode": entry["languageCode"]} for track_id, entry in waiting.items()]
        return {"name": self.name, "assetId": asset_id, "ownerId": owner_id,
                "transcribe": {"audioKey": audio_key, "tracks": tracks}}  # fmt: skip

    def failed(self, state: State) -> dict[str, Any]:
        code, message = failure_from_state_error(state["error"])
        self.refuse_with(state["assetId"], state["ownerId"], code, message)
        return {"name": self.name, "failed": code}

    def refuse_with(self, asset_id: str, owner_id: str, code: str, message: str) -> None:
        """Every generated track still waiting fails with ``code`` and ``message``."""
        asset = assets.read_consistent(asset_id)
        for track_id, entry in pending(asset).items() if asset else ():
            _fail(asset_id, owner_id, track_id, entry, code, message)


SPEECH = SpeechCaptions(
    name="speech", needs=Needs.LADDER, makes={"speech/<trackId>.pcm": "audio/L16"}, view_field="tracks",
    warning="CaptionsNotGenerated", requested=True,
)  # fmt: skip
DERIVATIVES = (SPEECH,)


# -- the Transcribe function ------------------------------------------------------------------------------


def fetch_model() -> Path:
    """The deployment's model in /tmp, every file checked against its manifest and the model against the
    deployment's pin (once per environment: a warm function finds it there). ToolchainMissing, with
    where it looked, when it is not there or not the pinned one."""
    settings = deployment()
    s3, bucket, prefix = aws.client("s3"), settings.speech_model_bucket, settings.speech_model_prefix
    where = f"s3://{bucket}/{prefix}"
    try:
        manifest_bytes = s3.get_object(Bucket=bucket, Key=f"{prefix}manifest.json")["Body"].read()
    except ClientError as error:
        code = error.response["Error"]["Code"]
        raise ToolchainMissing(f"no speech model at {where} (its manifest.json: {code})") from error
    folder = MODEL_ROOT / hashlib.sha256(manifest_bytes).hexdigest()[:16]
    if (folder / ".checked").exists():
        return folder
    files = json.loads(manifest_bytes)["files"]
    if files.get("model.bin") != settings.speech_model_sha256:
        raise ToolchainMissing(f"the speech model at {where} is not the one this deployment pins (SpeechModelSha256 "
                               f"{settings.speech_model_sha256[:12]}...)")  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    for name, digest in sorted(files.items()):
        if "/" in name or name.startswith("."):
            raise ToolchainMissing(f"the speech model's manifest at {where} names {name!r}, not a file of its folder")
        target = folder / name
        s3.download_file(bucket, f"{prefix}{name}", str(target))
        with target.open("rb") as file:
            found = hashlib.file_digest(file, "sha256").hexdigest()
        if found != digest:
            target.unlink()
            raise ToolchainMissing(f"the speech model's {name} at {where} is not the file its manifest pins")
    (folder / ".checked").touch()
    return folder


_loaded: dict[Path, Any] = {}  # the model, once per warm function


def transcriber() -> Any:
    from reelstack.media.whisper import Transcriber  # numpy and ctranslate2: the speech layer's

    folder = fetch_model()
    if folder not in _loaded:
        _loaded.clear()
        _loaded[folder] = Transcriber(folder)
    return _loaded[folder]


def transcribe(event: dict[str, Any]) -> dict[str, Any]:
    """The Transcribe step: each track of ``event["transcribe"]`` ready with its captions, or failed
    with why; after the Catch (``error`` in the event) each is failed with the step's error."""
    asset_id, owner_id, work = event["assetId"], event["ownerId"], event["transcribe"]
    if "error" in event:
        code, message = failure_from_state_error(event["error"])
        for track in work["tracks"]:
            _fail_waiting(asset_id, owner_id, track["trackId"], code, message)
        delete_prefix(work["audioKey"])
        return {"assetId": asset_id, "failed": code}
    started = time.monotonic()
    model = transcriber()
    loaded = time.monotonic()
    from reelstack.media.whisper import samples_of_pcm

    samples = samples_of_pcm(_audio(work["audioKey"]))
    audio_seconds = len(samples) / ffmpeg.SPEECH_SAMPLE_RATE
    outcomes = {}
    for track in work["tracks"]:
        outcomes[track["trackId"]] = _caption(
            asset_id, owner_id, track, model.transcribe(samples, track["languageCode"])
        )
    delete_prefix(work["audioKey"])  # only the hand-over between the two steps (kept for a retry until now)
    return {
        "assetId": asset_id, "tracks": outcomes, "audioSeconds": round(audio_seconds, 2),
        "modelSeconds": round(loaded - started, 2), "transcribeSeconds": round(time.monotonic() - loaded, 2),
    }  # fmt: skip


def _audio(key: str) -> bytes:
    body = aws.client("s3").get_object(Bucket=deployment().media_bucket, Key=key)["Body"]
    return body.read()


def _caption(asset_id: str, owner_id: str, track: dict[str, str], spoken: list[Any]) -> str:
    asset = assets.read_consistent(asset_id)
    entry = pending(asset).get(track["trackId"]) if asset else None
    if entry is None:
        return "gone"  # removed (or the asset deleted) while it was transcribed
    try:
        cleaned = captions_of(spoken, captions.duration_of(asset))
    except InvalidCaptions:
        _fail(asset_id, owner_id, track["trackId"], entry, "NoSpeech", "no speech was heard in the video's sound")
        return TrackStatus.FAILED
    try:
        captions.store(
            asset_id, owner_id, track["trackId"], {**entry, "status": TrackStatus.READY}, cleaned, present=True
        )
    except AssetGone:
        return "gone"
    return TrackStatus.READY


def _fail_waiting(asset_id: str, owner_id: str, track_id: str, code: str, message: str) -> None:
    asset = assets.read_consistent(asset_id)
    entry = pending(asset).get(track_id) if asset else None
    if entry is not None:
        _fail(asset_id, owner_id, track_id, entry, code, message)
