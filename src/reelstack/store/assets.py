"""Asset records: finding the caller's, and moving an asset's status, only along states.ASSET_TRANSITIONS."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from reelstack.errors import NotFound
from reelstack.store.keys import is_id
from reelstack.store.records import AssetModel, ErrorAttribute, conditional, utc_now
from reelstack.store.states import AssetStatus, may_become


def owned_record[M: Model](model: type[M], owner_id: str, record_id: str, not_found_code: str) -> M:
    """The caller's record; someone else's or a malformed id is :class:`NotFound` alike (never 403)."""
    record = None
    if is_id(record_id):
        try:
            record = model.get(record_id, consistent_read=True)
        except DoesNotExist:
            record = None
    if record is None or getattr(record, "owner_id", None) != owner_id:
        raise NotFound(f"nothing called {record_id[:64]!r} here", code=not_found_code)
    return record


def owned_asset(owner_id: str, asset_id: str) -> AssetModel:
    """The caller's asset; a deleted one is not found either."""
    asset = owned_record(AssetModel, owner_id, asset_id, "AssetNotFound")
    if asset.status == AssetStatus.DELETED:
        raise NotFound(f"nothing called {asset_id!r} here", code="AssetNotFound")
    return asset


def status_now(asset_id: str) -> str | None:
    """The asset's status as DynamoDB has it now (a consistent read); None if there is no such asset."""
    try:
        return AssetModel.get(asset_id, consistent_read=True).status
    except DoesNotExist:
        return None


def move(
    asset_id: str,
    status: AssetStatus,
    *,
    step: str | None = None,
    error: ErrorAttribute | None = None,
    now: str | None = None,
) -> bool:
    """Move the asset to ``status`` if it is in a state that may (states.ASSET_TRANSITIONS); False if it
    is not (it moved on already, or this is a repeat). Whoever gets True announces the change."""
    origins = may_become(status)
    if not origins:  # nothing moves into "uploading": an asset is created in it
        return False
    actions = [AssetModel.status.set(status), AssetModel.updated_at.set(now or utc_now())]
    actions.append(AssetModel.step.set(step) if step else AssetModel.step.remove())
    if error is not None:
        actions.append(AssetModel.error.set(error))
    return conditional(
        lambda: AssetModel(asset_id).update(actions=actions, condition=AssetModel.status.is_in(*origins)),
        "the asset",
    )
