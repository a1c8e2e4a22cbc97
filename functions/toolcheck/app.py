"""Diagnostics: run ffmpeg -version from the layer and record the build on the asset."""

from __future__ import annotations

from typing import Any

from reelstack.observability import lambda_handler, logger
from reelstack.toolcheck import check_toolchain


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    build = check_toolchain(event.get("assetId"))
    logger.info("FFmpeg toolchain checked", extra={"ffmpeg": build})
    return build
