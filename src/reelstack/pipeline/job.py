"""The job: the state every step of ``statemachines/pipeline.asl.json`` receives, defined once.

``ingest`` makes it, ``{assetId, ownerId, uploadId, chunkSeconds, chunkConcurrency, normalizeAudio,
source}``; a
Map iteration gets the job with its ``chunk``; the state machine adds each step's
result under its own key (``media`` from Probe, ``plan`` from Plan, ``outputs: {hls, derived}``
from Encode, ``error`` from a Catch). One casing on the wire: camelCase (reelstack.wire). Steps
pass S3 keys, never media (Step Functions allows 256 KiB of state).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reelstack.errors import InvalidInput
from reelstack.media.ladder import Plan
from reelstack.media.probe import MediaInfo
from reelstack.store.keys import is_id
from reelstack.wire import as_wire, known_fields


@dataclass(frozen=True)
class Source:
    """The uploaded object, as its upload declared it."""

    bucket: str
    key: str
    size: int
    version_id: str | None = None
    content_type: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Outputs:
    """What the Encode state hands to Publish: the transcode's result, and the results of the
    derivatives made from the source (reelstack.derivatives), each ``{name, ...}`` or, where it could
    not be made, ``{name, error: {Error, Cause}}``; none for audio-only sources."""

    hls: dict[str, Any]
    derived: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Job:
    asset_id: str
    owner_id: str
    source: Source
    upload_id: str | None = None
    # Chunked encoding (ingest sets them from the deployment; bench starts executions with others):
    # the chunk length asked for (0: one piece), and how many chunks encode at once (the Map's).
    chunk_seconds: float = 0
    chunk_concurrency: int = 1
    normalize_audio: bool = False  # the upload's normalizeAudio (the deployment's default if it said nothing)
    media: MediaInfo | None = None
    plan: Plan | None = None
    outputs: Outputs | None = None

    @classmethod
    def from_state(cls, state: Any) -> Job:
        """The execution's state as a Job, or InvalidInput (a caller's bug: never retried)."""
        source = state.get("source") if isinstance(state, dict) else None
        if (
            not isinstance(source, dict)
            or not is_id(str(state.get("assetId")))
            or not isinstance(state.get("ownerId"), str)
            or not {"bucket", "key", "size"} <= set(source)
        ):
            raise InvalidInput("the job needs assetId, ownerId and source {bucket, key, size}")
        outputs = state.get("outputs")
        try:
            return cls(
                asset_id=state["assetId"],
                owner_id=state["ownerId"],
                upload_id=state.get("uploadId"),
                chunk_seconds=float(state.get("chunkSeconds") or 0),
                chunk_concurrency=int(state.get("chunkConcurrency") or 1),
                normalize_audio=state.get("normalizeAudio") is True,
                source=Source(**known_fields(Source, source)),
                media=MediaInfo.from_dict(state["media"]) if state.get("media") else None,
                plan=Plan.from_dict(state["plan"]) if state.get("plan") else None,
                outputs=Outputs(**known_fields(Outputs, outputs)) if isinstance(outputs, dict) else None,
            )
        except (TypeError, ValueError, KeyError) as error:
            raise InvalidInput(f"the job is malformed: {error}") from error

    def as_state(self) -> dict[str, Any]:
        """The job as Step Functions carries it (what is not known yet is left out)."""
        state = as_wire(self)
        state["source"] = {key: value for key, value in state["source"].items() if value is not None}
        return {key: value for key, value in state.items() if value is not None}

    def described(self) -> MediaInfo:
        """The probe's description; InvalidInput for a job that has not been probed."""
        if self.media is None:
            raise InvalidInput("the job has no media: it must pass Probe first")
        return self.media

    def planned(self) -> Plan:
        if self.plan is None:
            raise InvalidInput("the job has no plan: it must pass Plan first")
        return self.plan

    def encoded(self) -> Outputs:
        if self.outputs is None:
            raise InvalidInput("the job has no outputs: it must pass Encode first")
        return self.outputs
