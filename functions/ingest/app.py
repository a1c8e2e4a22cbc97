"""S3 ObjectCreated on the upload bucket: check the object against its upload, start its pipeline once;
or, under ``captions/``, read a caption file sent with a track's presigned PUT (reelstack.derivatives.captions).

Exactly one execution per object version: the execution's name is derived from the asset and the
version (Step Functions refuses a second one), and Powertools idempotency answers a redelivered
record from its table without doing the work again.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.typing import LambdaContext

from reelstack.derivatives.captions import caption_arrived
from reelstack.idempotency import once_per
from reelstack.observability import MetricUnit, lambda_handler, logger, metrics
from reelstack.pipeline.ingest import ingest
from reelstack.store.keys import CAPTIONS_PREFIX

idempotency, once_per_version = once_per("[bucket, key, versionId]", payload="object_created")


@once_per_version
def handle_object(object_created: dict[str, Any]) -> dict[str, Any]:
    if object_created["key"].startswith(f"{CAPTIONS_PREFIX}/"):
        return caption_arrived(object_created["bucket"], object_created["key"], object_created["size"])
    return ingest(
        object_created["bucket"],
        object_created["key"],
        object_created["versionId"],
        object_created["size"],
        object_created.get("eTag") or "",
    )


@lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> list[dict[str, Any]]:
    idempotency.register_lambda_context(context)
    results = []
    for record in S3Event(event).records:
        outcome = handle_object(
            object_created={
                "bucket": record.s3.bucket.name,
                "key": record.s3.get_object.key,
                "versionId": record.s3.get_object.version_id,
                "size": record.s3.get_object.size,
                "eTag": record.s3.get_object.get("eTag", ""),
            }
        )
        kind = (
            "Captions" if "trackId" in outcome
            else "Rejected" if "rejected" in outcome else "Started" if outcome.get("started") else "Duplicate"
        )  # fmt: skip
        metrics.add_metric(name=f"Objects{kind}", unit=MetricUnit.Count, value=1)
        logger.info("object ingested", extra=outcome)
        results.append(outcome)
    return results
