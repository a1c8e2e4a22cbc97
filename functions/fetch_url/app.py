"""POST /uploads {url}: the API invokes this asynchronously to fetch the video, through the SSRF guard,
into the upload's multipart upload (reelstack.uploads.fetch); S3 then starts the pipeline as for any
upload. A failure fails the asset with a sentence; nothing is left in the bucket."""

from __future__ import annotations

from typing import Any

from reelstack.observability import MetricUnit, lambda_handler, logger, metrics
from reelstack.uploads.fetch import fetch_into_upload


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    outcome = fetch_into_upload(event["uploadId"])
    metrics.add_metric(name="UrlFetchFailed" if "failed" in outcome else "UrlFetched", unit=MetricUnit.Count, value=1)
    logger.info("upload from a URL", extra=outcome)
    return outcome
