"""The API's OpenAPI description, generated from the request models and the route table below.

``docs/openapi.json`` is this document; a unit test keeps it, this table and the Chalice routes in
step, so the description cannot drift from the code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from reelstack.bodies import (
    AddTrack,
    AssetChanges,
    CompanionComplete,
    CompanionCreate,
    CompleteUpload,
    CreateUpload,
    CreateUploadFromUrl,
    CreateWebhook,
    GeneratedCaptions,
    RegisterDevice,
    RequestDownloads,
    RequestParts,
    UpdateWebhook,
)
from reelstack.paging import MAX_PAGE

JSON, HLS, HTML = "application/json", "application/vnd.apple.mpegurl", "text/html"


def _object(required: str, **properties: dict[str, Any]) -> dict[str, Any]:
    """A JSON object with these properties (more may come: the contract lets the API add fields)."""
    return {"type": "object", "required": required.split(), "properties": properties}


_STRING, _INTEGER, _BOOLEAN = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
_PART_URL = _object("partNumber url", partNumber=_INTEGER, url=_STRING)
_TRACK = _object(
    "trackId type languageCode name source status", trackId=_STRING, type={"enum": ["text", "audio"]},
    languageCode=_STRING, name=_STRING, kind=_STRING, source={"enum": ["uploaded", "embedded", "generated"]},
    status={"enum": ["preparing", "ready", "failed"]}, default=_BOOLEAN,
    error=_object("code message", code=_STRING, message=_STRING),
)  # fmt: skip
_ASSET = _object(
    "assetId status visibility playable",
    assetId=_STRING,
    status={"enum": ["uploading", "uploaded", "processing", "ready", "failed", "deleted"]},
    title=_STRING,
    description=_STRING,
    tags={"type": "array", "items": _STRING},
    visibility={"enum": ["private", "public"]},
    playable=_BOOLEAN,
    playback=_object("hls", hls=_STRING),
    posterTime={"type": "number"},
    downloads={"type": "array", "items": _object(
        "name status", name=_STRING, status={"enum": ["preparing", "ready", "failed"]}, url=_STRING,
        bytes=_INTEGER, width=_INTEGER, height=_INTEGER, message=_STRING)},
    tracks={"type": "array", "items": _TRACK},
)  # fmt: skip
_PAGE = _object("items nextCursor", items={"type": "array", "items": _ASSET}, nextCursor={"type": ["string", "null"]})
_DEVICE = _object("deviceId platform createdAt", deviceId=_STRING, platform={"enum": ["apns", "fcm"]})
_PICTURE_QUERY = tuple(
    {"name": name, "in": "query", "schema": schema, "description": description}
    for name, schema, description in (
        ("time", {"type": "number", "minimum": 0}, "thumbnail: the moment, in seconds (before the end)"),
        ("width", {"type": "integer", "minimum": 1, "maximum": 1920}, "pixels (animated: at most 640)"),
        ("height", {"type": "integer", "minimum": 1, "maximum": 1920}, "thumbnail: pixels"),
        ("fit", {"enum": ["preserve", "crop", "pad", "stretch"]}, "thumbnail, with width and height"),
        ("start", {"type": "number", "minimum": 0}, "animated: from (seconds)"),
        ("end", {"type": "number", "minimum": 0}, "animated: to (seconds; at most 10 s after start)"),
        ("fps", {"type": "integer", "minimum": 1, "maximum": 24}, "animated: frames a second (10)"),
    )
)
_PAGING = (
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
    {"name": "cursor", "in": "query", "schema": _STRING, "description": "nextCursor of the page before"},
)


@dataclass(frozen=True)
class Operation:
    name: str  # operationId
    method: str
    path: str  # as Chalice and API Gateway spell it
    summary: str
    status: int
    request: type[BaseModel] | tuple[type[BaseModel], ...] | None = None  # a tuple: one of them
    errors: tuple[int, ...] = (401, 404)
    public: bool = False  # no bearer token: the health check, and playlists whose URL carries a token
    answer: dict[str, Any] | None = None  # the success body's JSON schema (JSON routes)
    media_types: tuple[str, ...] = (JSON,)  # of the success body (none for 204 and redirects)
    also: tuple[int, ...] = ()  # other success statuses
    query: tuple[dict[str, Any], ...] = ()
    error_media_types: dict[int, str] = field(default_factory=dict)  # errors that are not JSON


_COMPANION = "/companion/{grant}/s3"
_KEY = ({"name": "key", "in": "query", "schema": _STRING, "description": "the key the server chose"},)
_COMPANION_PARAMS = tuple(
    {"name": name, "in": "query", "schema": _STRING} for name in ("filename", "type", "metadata[title]")
)
_UPLOAD_PLAN = {
    "uploadId": _STRING,
    "assetId": _STRING,
    "status": _STRING,
    "partSize": _INTEGER,
    "partCount": _INTEGER,
    "expiresAt": _STRING,
}
OPERATIONS = (
    Operation(
        "createUpload", "POST", "/uploads",
        "Declare an upload; get its part plan and first part URLs (with method: one PUT or POST form; with "
        "url instead of a file: the server fetches it, bytesUploaded shows how far)", 201,
        (CreateUpload, CreateUploadFromUrl), (400, 401, 413, 415),
        answer=_object("uploadId assetId partSize partCount expiresAt parts", **_UPLOAD_PLAN,
                       parts={"type": "array", "items": _PART_URL}, key=_STRING,
                       method={"enum": ["PUT", "POST"]}, url=_STRING, headers={"type": "object"},
                       fields={"type": "object"}),
    ),
    Operation("getUpload", "GET", "/uploads/{upload_id}", "What S3 already holds of the upload, to resume it", 200,
              answer=_object("uploadId assetId status partSize partCount uploadedParts bytesUploaded expiresAt",
                             **_UPLOAD_PLAN, bytesUploaded=_INTEGER, uploadedParts={"type": "array", "items": _object(
                                 "partNumber size etag", partNumber=_INTEGER, size=_INTEGER, etag=_STRING)})),
    Operation(
        "requestParts", "POST", "/uploads/{upload_id}/parts", "Part URLs: the next batch or renewed ones", 200,
        RequestParts, (400, 401, 404, 409), answer=_object("parts", parts={"type": "array", "items": _PART_URL}),
    ),
    Operation(
        "completeUpload", "POST", "/uploads/{upload_id}/complete", "Check the parts and assemble the object", 200,
        CompleteUpload, (400, 401, 404, 409), answer=_object("assetId status location", assetId=_STRING,
                                                            status=_STRING, location=_STRING),
    ),
    Operation(
        "abortUpload", "DELETE", "/uploads/{upload_id}", "Abort the upload and free its parts", 204, None,
        (401, 404, 409), media_types=(),
    ),
    # -- issue 31: an upload grant for stock Uppy, and Companion's S3 routes under it (the grant in
    # the path authenticates them: no bearer token; reelstack.uploads.companion)
    Operation("createUploadGrant", "POST", "/upload-grants",
              "A short-lived upload grant and the companionEndpoint that carries it, for Uppy's AwsS3 plugin", 201,
              None, (401, 503), answer=_object("grant companionEndpoint expiresAt", grant=_STRING,
                                               companionEndpoint=_STRING, expiresAt=_STRING)),
    Operation("companionParams", "GET", f"{_COMPANION}/params",
              "Companion: a POST form for one small file (at most SingleRequestMaxBytes; the object's arrival "
              "completes the upload)", 200, None, (401, 415), public=True,
              answer=_object("method url fields", method={"const": "POST"}, url=_STRING,
                             fields={"type": "object"}), query=_COMPANION_PARAMS),
    Operation("companionCreate", "POST", f"{_COMPANION}/multipart", "Companion: start a multipart upload", 200,
              CompanionCreate, (400, 401, 415), public=True,
              answer=_object("key uploadId", key=_STRING, uploadId=_STRING)),
    Operation("companionListParts", "GET", f"{_COMPANION}/multipart/{{upload_id}}",
              "Companion: the parts S3 holds (to resume)", 200, None, (401, 404), public=True, query=_KEY,
              answer={"type": "array", "items": _object("PartNumber Size ETag", PartNumber=_INTEGER,
                                                        Size=_INTEGER, ETag=_STRING)}),
    Operation("companionAbort", "DELETE", f"{_COMPANION}/multipart/{{upload_id}}",
              "Companion: abort the upload and free its parts", 200, None, (401, 404, 409), public=True, query=_KEY,
              answer={"type": "object"}),
    Operation("companionSignPart", "GET", f"{_COMPANION}/multipart/{{upload_id}}/{{part}}",
              "Companion: a part's URL (`part` a number: {url, expires}) or a batch (`part` = batch, "
              "?partNumbers=1,2: {presignedUrls})", 200, None, (400, 401, 404, 409), public=True,
              query=(*_KEY, {"name": "partNumbers", "in": "query", "schema": _STRING}),
              answer={"type": "object", "properties": {"url": _STRING, "presignedUrls": {"type": "object"}}}),
    Operation("companionComplete", "POST", f"{_COMPANION}/multipart/{{upload_id}}/{{part}}",
              "Companion (`part` = complete): check what S3 holds (size limit included) and assemble", 200,
              CompanionComplete, (400, 401, 404, 409, 413), public=True, query=_KEY,
              answer=_object("location key assetId status", location=_STRING, key=_STRING, assetId=_STRING,
                             status=_STRING)),
    Operation("listAssets", "GET", "/assets", "The caller's assets, newest first", 200, None,
              (400, 401), answer=_PAGE, query=_PAGING),
    Operation("getAsset", "GET", "/assets/{asset_id}",
              "One of the caller's assets; playable (with playback.hls) once every rung has its first segments. "
              "Anyone's public, ready asset in its public view", 200, answer=_ASSET),
    Operation("updateAsset", "PATCH", "/assets/{asset_id}",
              "Change title, description, tags, visibility, publicDownloads; posterTime picks the cover (the frame "
              "at that second becomes the poster, then asset.updated)", 200,
              AssetChanges, (400, 401, 404, 409), answer=_ASSET),
    Operation("requestDownloads", "POST", "/assets/{asset_id}/downloads",
              "Downloads of a ready asset (highest: MP4, audio: M4A), made from its renditions by stream copy; "
              "each entry of downloads is preparing, then ready or failed (asset.updated)", 202,
              RequestDownloads, (400, 401, 404, 409), answer=_ASSET),
    Operation("addTrack", "POST", "/assets/{asset_id}/tracks",
              "A caption or subtitle file (SRT or WebVTT): content (UTF-8 text, at most 1 MiB) is read at once and "
              "the track is ready, or a 400 says why; filename answers uploadUrl, a presigned PUT for the file's bytes "
              "(any encoding, at most 2 MiB), read when it arrives (asset.track.ready or asset.track.failed)", 201,
              AddTrack, (400, 401, 404, 409),
              answer={**_TRACK, "properties": {**_TRACK["properties"], "uploadUrl": _STRING,
                                               "uploadMethod": {"const": "PUT"}}}),
    Operation("generateTrack", "POST", "/assets/{asset_id}/tracks/generate",
              "Captions generated from the speech of a ready asset with sound, in a language of the deployment's "
              "SpeechLanguages: the track is preparing, then ready or failed with a reason (asset.track.ready or "
              "asset.track.failed); the same language under way already answers that track", 202,
              GeneratedCaptions, (400, 401, 404, 409), answer=_TRACK),
    Operation("deleteTrack", "DELETE", "/assets/{asset_id}/tracks/{track_id}",
              "Remove a text track (the next master playlist loaded no longer offers it)", 204, None,
              (401, 404, 409), media_types=()),
    Operation("assetPicture", "GET", "/assets/{asset_id}/{picture}",
              "thumbnail.jpg|webp|png (time, width, height, fit) or animated.webp|gif (start, end, width, fps): "
              "302 to the picture, rendered once from the nearest segment and kept", 302, None,
              (400, 401, 404, 409), media_types=(), query=_PICTURE_QUERY),
    Operation("deleteAsset", "DELETE", "/assets/{asset_id}", "Delete the asset and every object it owns", 204,
              media_types=()),
    Operation("startPlayback", "GET", "/assets/{asset_id}/playback",
              "A playback URL stock players can play, once the asset is playable (playlists grow until ready); "
              "for a public, ready asset the same URL for every viewer who asks within the same hour", 200,
              answer=_object("hls expiresAt", hls=_STRING, expiresAt=_STRING)),
    Operation("masterPlaylist", "GET", "/playback/{token}/master.m3u8", "The master playlist (token in the URL)",
              200, None, (403, 404), public=True, media_types=(HLS,)),
    Operation("mediaPlaylist", "GET", "/playback/{token}/{rendition}/index.m3u8",
              "A rendition's playlist: presigned segment URIs (personal token; it grows until #EXT-X-ENDLIST), "
              "or as stored, the same for every viewer (shared token)", 200, None, (403, 404), public=True,
              media_types=(HLS,)),
    Operation("playbackSegment", "GET", "/playback/{token}/{rendition}/{segment}",
              "302 to the segment, presigned for two minutes, while the token is good; a text track's "
              "segment_<n>.vtt is answered itself (WebVTT with X-TIMESTAMP-MAP)", 302, None, (403, 404),
              public=True, media_types=("text/vtt",), also=(200,)),
    Operation("feed", "GET", "/feed",
              "Public, ready assets of every owner, newest made-public first, in their public view", 200, None,
              (400, 401), answer=_PAGE, query=_PAGING),
    Operation("watchPage", "GET", "/watch/{asset_id}",
              "The share page of a public asset (OpenGraph and Twitter card tags, a player); "
              "a plain HTML 404 page otherwise", 200, None, (404,), public=True, media_types=(HTML,),
              error_media_types={404: HTML}),
    Operation("watchMedia", "GET", "/watch/{asset_id}/{file}",
              "302 to a shared asset's poster.jpg, preview.mp4 or preview.webp, or a picture on demand "
              "(thumbnail.*, animated.*, as under /assets/{id}/), presigned for two minutes", 302,
              None, (400, 404, 429), public=True, media_types=(), query=_PICTURE_QUERY),
    Operation("pipelineReport", "GET", "/assets/{asset_id}/execution",
              "The pipeline drawn from its ASL, with this asset's execution on it: each state's outcome and "
              "milliseconds (`states`) and the graph as SVG, coloured by them (`svg`)", 200,
              answer=_object("assetId states svg", assetId=_STRING, svg=_STRING,
                             states={"type": "array", "items": {"type": "object"}})),
    Operation("registerDevice", "POST", "/devices",
              "Register the caller's phone for pushes (201 new, 200 already registered)", 201, RegisterDevice,
              (400, 401, 409), answer=_DEVICE, also=(200,)),
    Operation("listDevices", "GET", "/devices", "The caller's registered phones", 200, None, (401,),
              answer=_object("devices", devices={"type": "array", "items": _DEVICE})),
    Operation("removeDevice", "DELETE", "/devices/{device_id}", "Stop pushes to a phone", 204, media_types=()),
    Operation("createWebhook", "POST", "/webhooks",
              "Register a webhook endpoint for the caller's events (https on a public address): its webhookId and "
              "its signing secret (whsec_..., shown this once)", 201, CreateWebhook, (400, 401, 409),
              answer=_object("webhookId secret", webhookId=_STRING, secret=_STRING)),
    Operation("listWebhooks", "GET", "/webhooks", "The caller's webhook endpoints (never their secrets)", 200, None,
              (401,)),
    Operation("getWebhook", "GET", "/webhooks/{webhook_id}", "One of the caller's webhook endpoints", 200),
    Operation("updateWebhook", "PATCH", "/webhooks/{webhook_id}",
              "Change url, events (null: all), description, or enabled (true turns a disabled endpoint back on)",
              200, UpdateWebhook, (400, 401, 404)),
    Operation("deleteWebhook", "DELETE", "/webhooks/{webhook_id}", "Delete the endpoint", 204, media_types=()),
    Operation("rotateWebhookSecret", "POST", "/webhooks/{webhook_id}/rotate-secret",
              "A new signing secret (shown this once); the previous one keeps signing beside it for 24 h", 200),
    Operation("testWebhook", "POST", "/webhooks/{webhook_id}/test",
              "Deliver a webhook.test event to this endpoint (signed and retried as any event): the delivery",
              202),
    Operation("listWebhookDeliveries", "GET", "/webhooks/{webhook_id}/deliveries",
              "The endpoint's deliveries, newest first (?limit=&cursor=): status, attempts with response code, "
              "the first 1 KiB of the body and latency", 200, None, (400, 401, 404), query=_PAGING),
    Operation("retryWebhookDelivery", "POST", "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
              "Deliver again now, with a fresh retry schedule", 202, None, (401, 404, 409)),
    Operation("webPage", "GET", "/", "The web page", 200, None, (), public=True, media_types=(HTML,)),
    Operation("webAsset", "GET", "/web/{name}", "The web page's scripts and styles", 200, None, (404,), public=True,
              media_types=("text/javascript", "text/css")),
    Operation("getHealth", "GET", "/health", "What the API depends on, with latencies", 200, None, (), public=True,
              answer=_object("status checks", status={"enum": ["ok", "degraded", "down"]},
                             checks={"type": "object", "additionalProperties": _object("status", status=_STRING)})),
)  # fmt: skip

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def _success(operation: Operation, status: int) -> dict[str, Any]:
    if status == 302:
        return {"description": "redirect", "headers": {"Location": {"required": True, "schema": _STRING}}}
    answer = {"description": "success"}
    if operation.media_types:
        schema = operation.answer if operation.answer is not None else _STRING
        answer["content"] = {media_type: {"schema": schema} for media_type in operation.media_types}
    return answer


def _error(media_type: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Error"} if media_type == JSON else _STRING
    return {"description": "error", "content": {media_type: {"schema": schema}}}


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": _ERROR}
    for operation in OPERATIONS:
        entry: dict[str, Any] = {
            "summary": operation.summary,
            "operationId": operation.name,
            "security": [] if operation.public else [{"bearer": []}],
            "responses": {
                **{str(status): _success(operation, status) for status in (operation.status, *operation.also)},
                **{
                    str(code): _error(operation.error_media_types.get(code, JSON))
                    # Every authenticated route may answer 429 (per-client throttling, with Retry-After).
                    for code in (*operation.errors, *(() if operation.public else (429,)))
                },
            },
        }
        parameters = [
            {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
            for part in operation.path.split("/")
            if part.startswith("{")
        ]
        if parameters or operation.query:
            entry["parameters"] = [*parameters, *operation.query]
        if operation.request is not None:
            models = operation.request if isinstance(operation.request, tuple) else (operation.request,)
            for model in models:
                schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
            refs = [{"$ref": f"#/components/schemas/{model.__name__}"} for model in models]
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[0] if len(refs) == 1 else {"oneOf": refs}}},
            }
        paths.setdefault(operation.path, {})[operation.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Reelstack API",
            "version": "1.0.0",
            "description": "Implements ../shared/api-contract.md; errors are {error: {code, message}}.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
