"""Diagnostics (the ToolcheckFunction, not a state of the pipeline): report the FFmpeg build the
layer brings and record it on an asset."""

from __future__ import annotations

from reelstack.errors import InvalidInput
from reelstack.media.toolchain import ffmpeg_build
from reelstack.store.records import AssetModel, utc_now


def check_toolchain(asset_id: object) -> dict[str, str]:
    if not isinstance(asset_id, str) or not asset_id:
        raise InvalidInput("assetId must be a non-empty string")
    build = ffmpeg_build().as_dict()
    # An update, not a put: the asset's other fields (owner, status, source) stay as they are.
    AssetModel(asset_id).update(actions=[AssetModel.toolchain.set({**build, "checkedAt": utc_now()})])
    return build
