"""The Maps' iterations "Derive from the source" and "Derive from a rendition" (and, after their
Catch, "Not derived ..."): one derivative of an asset by name, such as the thumbnails, the previews
or a download (reelstack.derivatives)."""

from __future__ import annotations

from typing import Any

from reelstack import derivatives
from reelstack.observability import MetricUnit, lambda_handler, metrics


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    made = derivatives.derive(event, context.get_remaining_time_in_millis)
    if "ffmpegSeconds" in made:
        metrics.add_metric(name="DeriveSeconds", unit=MetricUnit.Seconds, value=made["ffmpegSeconds"])
    return made
