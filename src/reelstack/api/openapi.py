"""The API's OpenAPI description, generated from the request models and the route table below.

``docs/openapi.json`` is this document; a unit test keeps it, this table and the Chalice routes in
step, so the description cannot drift from the code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from reelstack.bodies import (
    AssetChanges,
    CompleteUpload,
    CreateUpload,
    CreateWebhook,
    RegisterDevice,
    RequestParts,
    UpdateWebhook,
)


@dataclass(frozen=True)
class Operation:
    name: str  # operationId, and the name of the route's Api event in template.yaml
    method: str
    path: str  # as Chalice and API Gateway spell it
    summary: str
    status: int
    request: type[BaseModel] | None = None
    errors: tuple[int, ...] = (401, 404)
    public: bool = False  # no bearer token: the health check, and playlists whose URL carries a token


OPERATIONS = (
    Operation(
        "createUpload", "POST", "/uploads", "Declare an upload; get its part plan and first part URLs", 201,
        CreateUpload, (400, 401, 413, 415),
    ),
    Operation("getUpload", "GET", "/uploads/{upload_id}", "What S3 already holds of the upload, to resume it", 200),
    Operation(
        "requestParts", "POST", "/uploads/{upload_id}/parts", "Part URLs: the next batch or renewed ones", 200,
        RequestParts, (400, 401, 404, 409),
    ),
    Operation(
        "completeUpload", "POST", "/uploads/{upload_id}/complete", "Check the parts and assemble the object", 200,
        CompleteUpload, (400, 401, 404, 409),
    ),
    Operation(
        "abortUpload", "DELETE", "/uploads/{upload_id}", "Abort the upload and free its parts", 204, None,
        (401, 404, 409),
    ),
    Operation("listAssets", "GET", "/assets", "The caller's assets, newest first (?limit=&cursor=)", 200, None,
              (400, 401)),
    Operation("getAsset", "GET", "/assets/{asset_id}",
              "One of the caller's assets; playable (with playback.hls) once every rung has its first segments. "
              "Anyone's public, ready asset in its public view", 200),
    Operation("updateAsset", "PATCH", "/assets/{asset_id}", "Change title, description, tags or visibility", 200,
              AssetChanges, (400, 401, 404, 409)),
    Operation("deleteAsset", "DELETE", "/assets/{asset_id}", "Delete the asset and every object it owns", 204),
    Operation("startPlayback", "GET", "/assets/{asset_id}/playback",
              "A playback URL stock players can play, once the asset is playable (playlists grow until ready); "
              "for a public, ready asset the same URL for every viewer who asks within the same hour", 200),
    Operation("masterPlaylist", "GET", "/playback/{token}/master.m3u8", "The master playlist (token in the URL)",
              200, None, (403, 404), public=True),
    Operation("mediaPlaylist", "GET", "/playback/{token}/{rendition}/index.m3u8",
              "A rendition's playlist: presigned segment URIs (personal token; it grows until #EXT-X-ENDLIST), "
              "or as stored, the same for every viewer (shared token)", 200, None, (403, 404), public=True),
    Operation("playbackSegment", "GET", "/playback/{token}/{rendition}/{segment}",
              "302 to the segment, presigned for two minutes, while the token is good", 302, None, (403, 404),
              public=True),
    Operation("feed", "GET", "/feed",
              "Public, ready assets of every owner, newest made-public first, in their public view "
              "(?limit=&cursor=)", 200, None, (400, 401)),
    Operation("watchPage", "GET", "/watch/{asset_id}",
              "The share page of a public asset (OpenGraph and Twitter card tags, a player); "
              "a plain 404 page otherwise", 200, None, (404,), public=True),
    Operation("watchMedia", "GET", "/watch/{asset_id}/{file}",
              "302 to a shared asset's poster.jpg, preview.mp4 or preview.webp, presigned for two minutes", 302,
              None, (404,), public=True),
    Operation("pipelineReport", "GET", "/assets/{asset_id}/execution",
              "The pipeline drawn from its ASL, with this asset's execution on it: each state's outcome and "
              "milliseconds (`states`) and the graph as SVG, coloured by them (`svg`)", 200),
    Operation("registerDevice", "POST", "/devices",
              "Register the caller's phone for pushes (201 new, 200 already registered)", 201, RegisterDevice,
              (400, 401, 409)),
    Operation("listDevices", "GET", "/devices", "The caller's registered phones", 200, None, (401,)),
    Operation("removeDevice", "DELETE", "/devices/{device_id}", "Stop pushes to a phone", 204),
    Operation("createWebhook", "POST", "/webhooks",
              "Register a webhook endpoint for the caller's events (https on a public address): its webhookId and "
              "its signing secret (whsec_..., shown this once)", 201, CreateWebhook, (400, 401, 409)),
    Operation("listWebhooks", "GET", "/webhooks", "The caller's webhook endpoints (never their secrets)", 200, None,
              (401,)),
    Operation("getWebhook", "GET", "/webhooks/{webhook_id}", "One of the caller's webhook endpoints", 200),
    Operation("updateWebhook", "PATCH", "/webhooks/{webhook_id}",
              "Change url, events (null: all), description, or enabled (true turns a disabled endpoint back on)",
              200, UpdateWebhook, (400, 401, 404)),
    Operation("deleteWebhook", "DELETE", "/webhooks/{webhook_id}", "Delete the endpoint", 204),
    Operation("rotateWebhookSecret", "POST", "/webhooks/{webhook_id}/rotate-secret",
              "A new signing secret (shown this once); the previous one keeps signing beside it for 24 h", 200),
    Operation("testWebhook", "POST", "/webhooks/{webhook_id}/test",
              "Deliver a webhook.test event to this endpoint (signed and retried as any event): the delivery",
              202),
    Operation("listWebhookDeliveries", "GET", "/webhooks/{webhook_id}/deliveries",
              "The endpoint's deliveries, newest first (?limit=&cursor=): status, attempts with response code, "
              "the first 1 KiB of the body and latency", 200, None, (400, 401, 404)),
    Operation("retryWebhookDelivery", "POST", "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
              "Deliver again now, with a fresh retry schedule", 202, None, (401, 404, 409)),
    Operation("webPage", "GET", "/", "The web page", 200, None, (), public=True),
    Operation("webAsset", "GET", "/web/{name}", "The web page's scripts and styles", 200, None, (404,), public=True),
    Operation("getHealth", "GET", "/health", "What the API depends on, with latencies", 200, None, (), public=True),
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


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": _ERROR}
    for operation in OPERATIONS:
        entry: dict[str, Any] = {
            "summary": operation.summary,
            "operationId": operation.name,
            "security": [] if operation.public else [{"bearer": []}],
            "responses": {
                str(operation.status): {"description": "success"},
                **{
                    str(code): {
                        "description": "error",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    }
                    # Every authenticated route may answer 429 (per-client throttling, with Retry-After).
                    for code in (*operation.errors, *(() if operation.public else (429,)))
                },
            },
        }
        parameters = [part[1:-1] for part in operation.path.split("/") if part.startswith("{")]
        if parameters:
            entry["parameters"] = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in parameters
            ]
        if operation.request is not None:
            schema = operation.request.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[operation.request.__name__] = schema
            entry["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{operation.request.__name__}"}}
                },
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
