"""DynamoDB records (pynamodb), and the one conditional write. The tables themselves are defined once,
in template.yaml; a model finds its table's name in the deployment when it is used, not when imported."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    NumberSetAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from reelstack.config import Deployment, deployment
from reelstack.errors import NotFound, StorageUnavailable
from reelstack.store.keys import is_id


class _FromDeployment:
    """A ``Meta`` setting read from the deployment whenever pynamodb asks (it reconnects when a
    table's name changes), so nothing is bound when the module is imported. (No ``region``: pynamodb
    would read it while making the class; botocore finds the region as every other client does.)"""

    def __init__(self, read: Callable[[Deployment], str]) -> None:
        self.read = read

    def __get__(self, instance: object, owner: type) -> str:
        return self.read(deployment())


def utc_now() -> str:
    return iso(datetime.now(UTC))


def iso(moment: datetime) -> str:
    """Millisecond ISO 8601 in UTC with a ``Z``: sorts as text, which the ByOwner index relies on."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SourceAttribute(MapAttribute):
    """What the client declared about the original file (the filename is display metadata only)."""

    filename = UnicodeAttribute()
    size = NumberAttribute(null=True)  # null until the bytes are in, when the client did not declare it
    content_type = UnicodeAttribute(attr_name="contentType")
    sha256 = UnicodeAttribute(null=True)


class ErrorAttribute(MapAttribute):
    code = UnicodeAttribute()
    message = UnicodeAttribute()


class ByOwnerIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "ByOwner"
        projection = AllProjection()

    owner_id = UnicodeAttribute(hash_key=True, attr_name="ownerId")
    created_at = UnicodeAttribute(range_key=True, attr_name="createdAt")


class FeedIndex(GlobalSecondaryIndex):
    """Sparse: only public, ready assets carry ``feed`` (reelstack.store.assets.list_in_feed), so the
    feed is a query of this index, newest made-public first. Keys only: every item is read again from
    the table before anyone sees it (the index is eventually consistent)."""

    class Meta:
        index_name = "Feed"
        projection = KeysOnlyProjection()

    feed = UnicodeAttribute(hash_key=True)
    made_public_at = UnicodeAttribute(range_key=True, attr_name="madePublicAt")


class AssetModel(Model):
    class Meta:
        table_name = _FromDeployment(lambda settings: settings.assets_table)

    asset_id = UnicodeAttribute(hash_key=True, attr_name="assetId")
    owner_id = UnicodeAttribute(null=True, attr_name="ownerId")
    status = UnicodeAttribute(null=True)
    title = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    tags = ListAttribute(of=UnicodeAttribute, null=True)
    visibility = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute(null=True, attr_name="createdAt")
    updated_at = UnicodeAttribute(default_for_new=utc_now, attr_name="updatedAt")
    upload_id = UnicodeAttribute(null=True, attr_name="uploadId")
    source = SourceAttribute(null=True)
    error = ErrorAttribute(null=True)
    toolchain = MapAttribute(null=True)
    # Written by the pipeline (contract shapes, see reelstack.store.views.asset_view).
    step = UnicodeAttribute(null=True)  # the pipeline step running now, while status is processing
    media = MapAttribute(null=True)
    renditions = ListAttribute(of=MapAttribute, null=True)
    hls = MapAttribute(null=True)  # {"master": key}
    thumbnails = MapAttribute(null=True)  # {"poster": key, "storyboard": {"image", "vtt"}}
    previews = MapAttribute(null=True)  # {"video": key, "animated": key}
    # Downloads asked for (reelstack.derivatives.downloads): name -> {status, key?, bytes?, width?, height?,
    # message?}; and whether the public view lists them (the owner's choice).
    downloads = MapAttribute(null=True)
    public_downloads = BooleanAttribute(null=True, attr_name="publicDownloads")
    poster_time = NumberAttribute(null=True, attr_name="posterTime")  # the cover the owner picked (seconds)
    warnings = ListAttribute(of=MapAttribute, null=True)  # [{code, message}]: extras that could not be made
    # The source's own audio tracks kept as audio renditions: the contract's ``tracks`` entries.
    audio_tracks = ListAttribute(of=MapAttribute, null=True, attr_name="audioTracks")
    # Caption and subtitle files (reelstack.derivatives.captions): trackId -> {type, languageCode, name,
    # kind, source, status, error?, createdAt}; the clean WebVTT at MediaKeys.text_track once ready.
    text_tracks = MapAttribute(null=True, attr_name="textTracks")
    playable = BooleanAttribute(null=True)  # a player can start: every rung has its first segments
    # The chunked encode's ledger (reelstack.pipeline.progressive): the streams published while they
    # encode that have their first segments up ("video": the first chunk, "audio"), chunks done, the
    # audio done, and how many chunks the published playlists hold (it only grows).
    streams_started = UnicodeSetAttribute(null=True, attr_name="streamsStarted")
    chunks_done = NumberSetAttribute(null=True, attr_name="chunksDone")
    audio_done = BooleanAttribute(null=True, attr_name="audioDone")
    published_chunks = NumberAttribute(null=True, attr_name="publishedChunks")
    execution_arn = UnicodeAttribute(null=True, attr_name="executionArn")
    # Sharing: when the asset was last made public (the feed's order), the feed's partition while it is
    # public and ready, and the playback version every playback URL names (raised on going private,
    # which revokes every URL handed out before).
    made_public_at = UnicodeAttribute(null=True, attr_name="madePublicAt")
    feed = UnicodeAttribute(null=True)
    playback_version = NumberAttribute(null=True, attr_name="playbackVersion")
    injected_faults = UnicodeSetAttribute(null=True, attr_name="injectedFaults")

    by_owner = ByOwnerIndex()
    in_feed = FeedIndex()


class UploadModel(Model):
    """The upload ledger: one record per presigned multipart upload."""

    class Meta:
        table_name = _FromDeployment(lambda settings: settings.uploads_table)

    upload_id = UnicodeAttribute(hash_key=True, attr_name="uploadId")
    owner_id = UnicodeAttribute(attr_name="ownerId")
    asset_id = UnicodeAttribute(attr_name="assetId")
    key = UnicodeAttribute()
    # How the bytes come (reelstack.store.uploads.UploadMode; absent: multipart, declared by the client).
    mode = UnicodeAttribute(null=True)
    s3_upload_id = UnicodeAttribute(null=True, attr_name="s3UploadId")  # S3's multipart upload id (none: single)
    # Unknown (null) until the bytes are in where the client never declares them (Uppy through the
    # Companion routes): then ``max_size`` bounds them, and complete or the object's arrival sets these.
    size = NumberAttribute(null=True)
    max_size = NumberAttribute(null=True, attr_name="maxSize")
    source_url = UnicodeAttribute(null=True, attr_name="sourceUrl")  # an upload from a URL: where from
    content_type = UnicodeAttribute(attr_name="contentType")
    sha256 = UnicodeAttribute(null=True)
    part_size = NumberAttribute(null=True, attr_name="partSize")
    part_count = NumberAttribute(null=True, attr_name="partCount")
    part_checksums = BooleanAttribute(default=False, attr_name="partChecksums")
    normalize_audio = BooleanAttribute(null=True, attr_name="normalizeAudio")  # evened out (template default)
    status = UnicodeAttribute()
    created_at = UnicodeAttribute(attr_name="createdAt")
    updated_at = UnicodeAttribute(attr_name="updatedAt")
    expires_at = UnicodeAttribute(attr_name="expiresAt")
    completed_parts = ListAttribute(of=MapAttribute, null=True, attr_name="completedParts")
    version_id = UnicodeAttribute(null=True, attr_name="versionId")
    # While ``completing``: when the complete that holds the upload is presumed dead (ISO time).
    lease_until = UnicodeAttribute(null=True, attr_name="leaseUntil")
    purge_at = NumberAttribute(null=True, attr_name="purgeAt")  # DynamoDB TTL, epoch seconds


class DevicesByOwnerIndex(ByOwnerIndex):
    """The same ``ByOwner`` index on DevicesTable (a class of its own: pynamodb binds an index to one model)."""

    class Meta:
        index_name = "ByOwner"
        projection = AllProjection()


class DeviceModel(Model):
    """A phone that gets pushes: its SNS platform endpoint and whose phone it is now."""

    class Meta:
        table_name = _FromDeployment(lambda settings: settings.devices_table)

    device_id = UnicodeAttribute(hash_key=True, attr_name="deviceId")  # ids.derived_id(platform, token)
    owner_id = UnicodeAttribute(attr_name="ownerId")
    platform = UnicodeAttribute()  # "apns" | "fcm"
    endpoint_arn = UnicodeAttribute(attr_name="endpointArn")
    created_at = UnicodeAttribute(attr_name="createdAt")
    updated_at = UnicodeAttribute(attr_name="updatedAt")

    by_owner = DevicesByOwnerIndex()


class OutboxModel(Model):
    """An event recorded with the change it announces, not yet on the topic (reelstack.store.events):
    deleted once published; whatever stays past OutboxGraceSeconds is published by the sweeper."""

    class Meta:
        table_name = _FromDeployment(lambda settings: settings.outbox_table)

    event_id = UnicodeAttribute(hash_key=True, attr_name="eventId")
    type = UnicodeAttribute()
    document = UnicodeAttribute()  # the event's JSON, exactly as it is published
    recorded_at = UnicodeAttribute(attr_name="recordedAt")


class WebhooksByOwnerIndex(ByOwnerIndex):
    class Meta:
        index_name = "ByOwner"
        projection = AllProjection()


class WebhookSecret(MapAttribute):
    value = UnicodeAttribute()
    created_at = UnicodeAttribute(attr_name="createdAt")
    expires_at = UnicodeAttribute(null=True, attr_name="expiresAt")  # a rotated-out secret's last moment


class WebhookModel(Model):
    """An owner's webhook endpoint (reelstack.webhooks.endpoints)."""

    class Meta:
        table_name = _FromDeployment(lambda settings: settings.webhooks_table)

    webhook_id = UnicodeAttribute(hash_key=True, attr_name="webhookId")
    owner_id = UnicodeAttribute(attr_name="ownerId")
    url = UnicodeAttribute()
    events = ListAttribute(of=UnicodeAttribute, null=True)  # None: every event type
    description = UnicodeAttribute(null=True)
    secrets = ListAttribute(of=WebhookSecret)  # the newest first
    enabled = BooleanAttribute(default=True)
    disabled_reason = UnicodeAttribute(null=True, attr_name="disabledReason")
    # Since when every delivery has failed (removed by the first success): disabled past a limit.
    failing_since = UnicodeAttribute(null=True, attr_name="failingSince")
    created_at = UnicodeAttribute(attr_name="createdAt")
    updated_at = UnicodeAttribute(attr_name="updatedAt")

    by_owner = WebhooksByOwnerIndex()


class ByWebhookIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "ByWebhook"
        projection = AllProjection()

    webhook_id = UnicodeAttribute(hash_key=True, attr_name="webhookId")
    created_at = UnicodeAttribute(range_key=True, attr_name="createdAt")


class DeliveryModel(Model):
    """One event for one endpoint (reelstack.webhooks.deliveries): its id derives from both, so an
    event published twice is delivered once."""

    class Meta:
        table_name = _FromDeployment(lambda settings: settings.deliveries_table)

    delivery_id = UnicodeAttribute(hash_key=True, attr_name="deliveryId")
    webhook_id = UnicodeAttribute(attr_name="webhookId")
    owner_id = UnicodeAttribute(attr_name="ownerId")
    event_id = UnicodeAttribute(attr_name="eventId")
    event_type = UnicodeAttribute(attr_name="eventType")
    payload = UnicodeAttribute()  # the body every attempt sends, byte for byte
    status = UnicodeAttribute()  # pending | delivered | failed
    attempt_count = NumberAttribute(default=0, attr_name="attemptCount")
    # Attempts of the current schedule started after this many (a manual retry starts a new one).
    schedule_base = NumberAttribute(default=0, attr_name="scheduleBase")
    # [{attempt, at, responseStatus?, responseBody? (1 KiB), latencyMs, error?}]
    attempts = ListAttribute(of=MapAttribute, null=True)
    next_attempt_at = UnicodeAttribute(null=True, attr_name="nextAttemptAt")
    created_at = UnicodeAttribute(attr_name="createdAt")
    updated_at = UnicodeAttribute(attr_name="updatedAt")
    purge_at = NumberAttribute(null=True, attr_name="purgeAt")  # DynamoDB TTL, epoch seconds

    by_webhook = ByWebhookIndex()


@dataclass(frozen=True)
class Change:
    """One update of one record, with the condition it needs: written alone or in a transaction."""

    record: Model
    actions: Sequence[Action]
    condition: Condition | None = None
    also: Sequence[Model] = field(default_factory=tuple)  # records put in the same transaction


@cache
def transactions(region: str | None = None) -> Connection:
    """The one DynamoDB connection this process writes transactions through. A new Connection builds
    a botocore session and client (reading the endpoint and service descriptions: 0.2-0.3 s of CPU),
    which every status move paid once per call; a botocore client is safe to share between threads."""
    return Connection(region=region)


def commit(change: Change, what: str) -> bool:
    """Write ``change`` and the records it carries along in one DynamoDB transaction: all or nothing.
    True if it applied, False if the change's condition did not hold; anything else (throttling, a
    conflicting transaction, a 5xx) is StorageUnavailable."""
    try:
        with TransactWrite(connection=transactions()) as transaction:
            transaction.update(change.record, actions=list(change.actions), condition=change.condition)
            for record in change.also:
                transaction.save(record)
    except TransactWriteError as error:
        codes = {reason.code for reason in error.cancellation_reasons if reason is not None} - {None, "None"}
        if codes == {"ConditionalCheckFailed"}:
            return False
        raise StorageUnavailable(f"{what} could not be updated; try again") from error
    return True


def conditional(write: Callable[[], Any], what: str) -> bool:
    """Run a conditional DynamoDB write: True if it applied, False if its condition did not hold
    (the only failure read as "already moved"). Anything else (throttling, a 5xx) is
    StorageUnavailable, which the state machine retries."""
    try:
        write()
    except (UpdateError, DeleteError, PutError) as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise StorageUnavailable(f"{what} could not be updated; try again") from error
    return True


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
