"""Derivatives: everything made of an asset besides its HLS ladder, one recipe each
(reelstack.derivatives.recipe), registered here by name. The state machines run them by name: the
pipeline's "Make derivatives" Map (those made from the source, beside the ladder) and "Derive from
the ladder" Map (the downloads asked for, once the asset is ready), and the Derive state machine for
downloads asked for later. Adding one: docs/recipes.md, "Add a derivative".
"""

from __future__ import annotations

import json
from typing import Any

from reelstack import aws, errors
from reelstack.config import deployment
from reelstack.derivatives import captions, cover, downloads, pictures, previews, speech, thumbnails
from reelstack.derivatives.recipe import Derivative, Needs, State
from reelstack.errors import Conflict, InvalidInput, ReelstackError, ServiceUnavailable, code_and_message
from reelstack.pipeline.failures import failure_from_state_error
from reelstack.pipeline.job import Job
from reelstack.pipeline.steps import Extras, RemainingMs
from reelstack.store import assets
from reelstack.store.records import AssetModel, conditional, utc_now
from reelstack.store.states import AssetStatus
from reelstack.store.views import plain

REGISTRY: dict[str, Derivative] = {
    derivative.name: derivative
    for module in (thumbnails, previews, downloads, cover, pictures, captions, speech)
    for derivative in module.DERIVATIVES
}
DOWNLOADS = tuple(name for name, derivative in REGISTRY.items() if derivative.view_field == "downloads")


def named(name: Any) -> Derivative:
    if name not in REGISTRY:
        raise InvalidInput(f"no derivative is called {str(name)[:64]!r}")
    return REGISTRY[name]


def check_downloads(names: list[str] | None) -> list[str]:
    """The download names asked for, each once; InvalidInput (400) naming those that are none."""
    unknown = sorted({name for name in names or [] if name not in DOWNLOADS})
    if unknown:
        raise InvalidInput(
            f"no download is called {', '.join(map(repr, unknown))}; there are {', '.join(DOWNLOADS)}",
            code="UnknownDownload",
        )
    return list(dict.fromkeys(names or []))


def plan(job: Job) -> dict[str, list[str]]:
    """The derivatives this asset gets, by name: ``fromSource`` (made beside the ladder) and
    ``fromLadder`` (the downloads and generated captions asked for, made once it is ready). One that
    cannot apply (the sound of a silent video) is recorded failed, with the reason, now."""
    media = job.described()
    applies = {name for name, d in REGISTRY.items() if d.refusal(media.has_video, media.has_audio) is None}
    from_source = [name for name, d in REGISTRY.items() if d.needs is Needs.SOURCE and not d.requested
                   and name in applies and d.wanted(media)]  # fmt: skip
    asset = assets.read_consistent(job.asset_id)
    asked = {name for name, d in REGISTRY.items() if d.requested and asset is not None and d.asked(asset)}
    for name in asked - applies:
        REGISTRY[name].refuse(
            job.asset_id, job.owner_id, REGISTRY[name].refusal(media.has_video, media.has_audio) or ""
        )
    return {"fromSource": from_source, "fromLadder": [name for name in REGISTRY if name in asked & applies]}


def derive(state: State, remaining_ms: RemainingMs) -> dict[str, Any]:
    """One Map iteration: the derivative ``state["name"]``, or, after its Catch, its failure recorded."""
    derivative = named(state.get("name") if isinstance(state, dict) else None)
    if "error" in state:
        return derivative.failed(state)
    return {"name": derivative.name, **derivative.make(state, remaining_ms)}


def published(job: Job) -> Extras:
    """What Publish writes of the derivatives made beside the ladder: each one's field on the asset,
    its own warnings, and for each that could not be made its warning (the video itself is fine)."""
    fields, warnings = {}, []
    for result in job.encoded().derived:
        derivative = named(result.get("name"))
        if "error" in result:
            _, message = failure_from_state_error(result["error"])
            warnings.append({"code": derivative.warning, "message": f"there are no {derivative.name}: {message}"})
            continue
        warnings.extend(result.get("warnings") or [])
        stored = derivative.stored(result)
        if stored is not None:
            fields[derivative.view_field] = stored
    return Extras(fields, warnings)


def request_downloads(owner_id: str, asset_id: str, names: list[str]) -> AssetModel:
    """``POST /assets/{id}/downloads``: each name not ready or under way yet becomes ``preparing`` (or
    ``failed`` with the reason, where it cannot apply) and the Derive state machine makes them."""
    asset = assets.owned_asset(owner_id, asset_id)  # someone else's: 404 whatever the names
    wanted = check_downloads(names)
    if asset.status != AssetStatus.READY:
        raise Conflict(
            f"the asset is {asset.status}: ask for downloads when uploading, or once it is ready",
            code="AssetNotReady",
        )
    media, entries = plain(asset.media), plain(asset.downloads)
    new = {name: {"status": "preparing"} for name in wanted
           if plain(entries.get(name)).get("status") not in ("preparing", "ready")}  # fmt: skip
    for name in new:
        reason = REGISTRY[name].refusal(bool(media.get("hasVideo")), bool(media.get("hasAudio")))
        if reason:
            new[name] = downloads.failed_entry(reason)
    if new:
        actions = [AssetModel.updated_at.set(utc_now())]
        if asset.downloads is None:  # DynamoDB sets a map's entries only once the map is there
            actions.append(AssetModel.downloads.set(new))
            condition = AssetModel.downloads.does_not_exist()
        else:
            actions += [AssetModel.downloads[name].set(entry) for name, entry in new.items()]
            condition = AssetModel.downloads.exists()
        if not conditional(lambda: asset.update(actions=actions, condition=condition & _ready()), "the asset"):
            raise Conflict("the asset changed while its downloads were asked for; send it again", code="AssetBusy")
    to_make = [name for name, entry in new.items() if entry["status"] == "preparing"]
    if to_make:
        start(asset_id, owner_id, to_make)
    asset.refresh(consistent_read=True)
    return asset


def check_cover(owner_id: str, asset_id: str, seconds: float) -> None:
    """``PATCH /assets/{id}`` with ``posterTime``, before it is written: the caller's ready video, and
    a moment it has (404, 409, 400 otherwise)."""
    cover.check_poster_time(assets.owned_asset(owner_id, asset_id), seconds)


def start(asset_id: str, owner_id: str, names: list[str]) -> None:
    """The Derive state machine makes ``names`` of a ready asset (each records its own outcome)."""
    aws.client("stepfunctions").start_execution(
        stateMachineArn=deployment().derive_state_machine_arn,
        input=json.dumps({"assetId": asset_id, "ownerId": owner_id, "names": names}),
    )


def _ready() -> Any:
    return AssetModel.status == AssetStatus.READY


def render_picture(asset_id: str, owner_id: str, picture: pictures.Picture) -> str:
    """Render a picture on demand with the Derive function and wait for it (well within the API's 29 s,
    by the pictures' bounds); its key. The function's named errors come back as themselves."""
    answer = aws.client("lambda").invoke(
        FunctionName=deployment().derive_function,
        Payload=json.dumps({"assetId": asset_id, "ownerId": owner_id, "name": "picture",
                            "picture": picture.as_state()}).encode(),
    )  # fmt: skip
    payload = json.loads(answer["Payload"].read() or b"null")
    if answer.get("FunctionError"):
        named = getattr(errors, str(payload.get("errorType")), None) if isinstance(payload, dict) else None
        if isinstance(named, type) and issubclass(named, ReelstackError) and named.http_status in (400, 404, 409):
            code, message = code_and_message(str(payload.get("errorMessage", "")), named.code)
            raise named(message, code=code)
        raise ServiceUnavailable("the picture could not be rendered just now; try again")
    return payload["key"]
