"""The HTTP API (Chalice behind the API Gateway REST API that template.yaml defines, one event per route).

Routes are thin: authenticate, parse the body into its typed request (reelstack.bodies), hand it to
the service (for an existing upload, a reader the service calls once it knows the upload is the
caller's, so that a wrong id is 404 whatever the body), return its answer. Errors the domain raises
on purpose become the contract's ``{"error": {"code", "message"}}`` with their HTTP status.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib import resources
from typing import Any, Literal

from chalice.app import Chalice, CORSConfig, Response

from reelstack import aws, derivatives, library, sharing
from reelstack.api import pictures, playback, share, throttle
from reelstack.api.auth import owner_of
from reelstack.api.health import health
from reelstack.bodies import (
    AddTrack,
    AssetChanges,
    CompanionComplete,
    CompanionCreate,
    CompleteUpload,
    CreateUploadFromUrl,
    CreateWebhook,
    GeneratedCaptions,
    RegisterDevice,
    RequestDownloads,
    RequestParts,
    UpdateWebhook,
    parse_body,
    parse_create_upload,
)
from reelstack.config import deployment
from reelstack.derivatives import captions, speech
from reelstack.errors import NotFound, ReelstackError, error_body
from reelstack.observability import MetricUnit, lambda_handler, logger, metrics
from reelstack.pipeline.execution import execution_states
from reelstack.push import devices
from reelstack.store.views import PlaybackUrl, asset_view
from reelstack.uploads import grants
from reelstack.uploads.companion import Companion
from reelstack.uploads.service import Uploads
from reelstack.webhooks import deliveries, endpoints
from reelstack_draw.diagram import render_svg

WEB_TYPES = {"html": "text/html; charset=utf-8", "js": "text/javascript", "css": "text/css"}
app = Chalice(app_name="reelstack-api")
app.api.cors = CORSConfig(
    allow_origin=deployment().allowed_origin,
    allow_headers=["Authorization", "Content-Type"],
    expose_headers=["Retry-After"],
    max_age=600,
)


@functools.cache
def uploads() -> Uploads:
    return Uploads()


def route(
    path: str,
    method: str,
    status: int = 200,
    public: bool = False,
    content_type: str | None = None,
    grant: Literal["starts", "continues"] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``view(owner, **path_params)`` for ``method path``: authenticate the caller first
    (``public`` routes get no owner: health, and playlists whose URL carries its own token; ``grant``
    routes, Companion's, take the owner from the upload grant in their path), map the domain's named
    errors to the contract's error document. Any Content-Type is read as JSON.
    """

    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def run(**path_params: str) -> Response:
            request = app.current_request
            metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
            try:
                if public:
                    result = view(**path_params)
                elif grant:
                    owner = grants.owner_of(path_params.pop("grant"), starting=grant == "starts")
                    throttle.admit(owner)
                    result = view(owner, **path_params)
                else:
                    owner = owner_of(request.headers.get("authorization"))
                    throttle.admit(owner)
                    result = view(owner, **path_params)
            except Exception as failure:
                error = failure if isinstance(failure, ReelstackError) else aws.as_named(failure)
                if error is None:
                    raise  # a bug: Chalice answers 500 and the log has the traceback
                logger.info("request refused", extra={"code": error.code, "status": error.http_status})
                metrics.add_metric(name=f"Refused{error.http_status}", unit=MetricUnit.Count, value=1)
                retry = getattr(error, "retry_after_seconds", None)
                headers = {"Retry-After": str(retry)} if retry else {}
                return Response(error_body(error.code, error.message), status_code=error.http_status, headers=headers)
            if isinstance(result, Response):
                return result
            headers = {"Content-Type": content_type} if content_type else {}
            if not public:
                headers["Cache-Control"] = "private, no-store"  # per caller: never from a CDN's cache
            return Response("" if result is None else result, status_code=status, headers=headers)

        app.route(path, methods=[method], content_types=["*/*"])(run)
        return view

    return register


def body[M](model: type[M]) -> M:
    """The request's body parsed into ``model``; InvalidInput (400) that names each bad field."""
    return parse_body(model, app.current_request.raw_body)


def api_base() -> str:
    """This API's base URL as callers reach it: ``PUBLIC_API_URL`` (a custom domain) if set, the
    execute-api host with its stage on AWS, else the local cloud's path form."""
    if deployment().public_api_url:
        return deployment().public_api_url
    request = app.current_request
    host, context = request.headers.get("host", ""), request.context
    if ".execute-api." in host:
        return f"https://{host}/{context['stage']}"
    scheme = request.headers.get("x-forwarded-proto", "http").lower()
    return f"{scheme}://{host}/_aws/execute-api/{context['apiId']}/{context['stage']}"


@app.middleware("http")
def contract_error_shape(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice's own errors (a method the path lacks, uncaught exceptions) in the contract's shape too,
    and every answer with the CORS headers, so that a browser's script can read the error."""
    response = get_response(event)
    body = response.body
    if isinstance(body, dict) and set(body) == {"Code", "Message"}:
        code, message = body["Code"], body["Message"]
        if response.status_code == 405:
            request = app.current_request
            code, message = (
                "MethodNotAllowed",
                (f"{request.method} is not a method of {request.path}; it takes {response.headers.get('Allow')}"),
            )
        response.body = error_body("InternalError" if code == "InternalServerError" else code, message)
    if isinstance(response.body, dict):  # Chalice writes it as JSON
        response.headers.setdefault("Content-Type", "application/json")
    for name, value in app.api.cors.get_access_control_headers().items():
        response.headers.setdefault(name, value)
    return response


@route("/uploads", "POST", status=201)
def create_upload(owner: str) -> dict[str, Any]:
    request = parse_create_upload(app.current_request.raw_body)
    derivatives.check_downloads(request.downloads)
    tracks = speech.requested_tracks(request.generated_captions)  # a 400 for a language not transcribed here
    if isinstance(request, CreateUploadFromUrl):  # issue 31: the server fetches the video
        return uploads().from_url(owner, request, tracks)
    return uploads().create(owner, request, tracks)


# -- issue 31: stock clients. An upload grant for Uppy's Companion client, and Companion's S3 routes
# (reelstack.uploads.companion) under the endpoint that carries it.
COMPANION = f"{grants.COMPANION_PREFIX}/{{grant}}/s3"


@functools.cache
def companion() -> Companion:
    return Companion(uploads())


def asset_location(answer: dict[str, Any]) -> dict[str, Any]:
    """A complete's answer with ``location``, the asset's URL (Uppy shows it as the upload's URL)."""
    return {**answer, "location": f"{api_base()}/assets/{answer['assetId']}"}


def query() -> dict[str, str]:
    return app.current_request.query_params or {}


@route("/upload-grants", "POST", status=201)
def create_upload_grant(owner: str) -> dict[str, Any]:
    return grants.issue(owner, api_base())


@route(f"{COMPANION}/params", "GET", grant="starts")
def companion_params(owner: str) -> dict[str, Any]:
    return companion().params(owner, query())


@route(f"{COMPANION}/multipart", "POST", grant="starts")
def companion_create(owner: str) -> dict[str, Any]:
    return companion().create(owner, body(CompanionCreate))


@route(f"{COMPANION}/multipart/{{upload_id}}", "GET", grant="continues", content_type="application/json")
def companion_list_parts(owner: str, upload_id: str) -> list[dict[str, Any]]:
    return companion().list_parts(owner, upload_id, query().get("key"))


@route(f"{COMPANION}/multipart/{{upload_id}}", "DELETE", grant="continues")
def companion_abort(owner: str, upload_id: str) -> dict[str, Any]:
    return companion().abort(owner, upload_id, query().get("key"))


# One path for `{partNumber}`, `batch` (GET) and `complete` (POST): Companion's routes, without sibling
# resources that a part number would shadow.
@route(f"{COMPANION}/multipart/{{upload_id}}/{{part}}", "GET", grant="continues")
def companion_sign_part(owner: str, upload_id: str, part: str) -> dict[str, Any]:
    if part == "batch":
        return companion().sign_batch(owner, upload_id, query().get("key"), query().get("partNumbers"))
    return companion().sign_part(owner, upload_id, query().get("key"), part)


@route(f"{COMPANION}/multipart/{{upload_id}}/{{part}}", "POST", grant="continues")
def companion_complete(owner: str, upload_id: str, part: str) -> dict[str, Any]:
    if part != "complete":
        raise NotFound(f"POST {part[:20]!r} is not a Companion route; POST .../complete is", code="RouteNotFound")
    return asset_location(companion().complete(owner, upload_id, query().get("key"), body(CompanionComplete)))


@route("/uploads/{upload_id}", "GET")
def get_upload(owner: str, upload_id: str) -> dict[str, Any]:
    return uploads().status(owner, upload_id)


@route("/uploads/{upload_id}/parts", "POST")
def request_parts(owner: str, upload_id: str) -> dict[str, Any]:
    return uploads().part_urls(owner, upload_id, lambda: body(RequestParts))


@route("/uploads/{upload_id}/complete", "POST")
def complete_upload(owner: str, upload_id: str) -> dict[str, Any]:
    return asset_location(uploads().complete(owner, upload_id, lambda: body(CompleteUpload)))


@route("/uploads/{upload_id}", "DELETE", status=204)
def abort_upload(owner: str, upload_id: str) -> None:
    uploads().abort(owner, upload_id)


@route("/assets", "GET")
def list_assets(owner: str) -> dict[str, Any]:
    query = app.current_request.query_params or {}
    return library.list_assets(owner, query.get("limit"), query.get("cursor"), playback_url())


@route("/assets/{asset_id}", "GET")
def get_asset(caller: str, asset_id: str) -> dict[str, Any]:
    return library.get_asset(caller, asset_id, api_base(), playback_url())


@route("/assets/{asset_id}", "PATCH")
def update_asset(owner: str, asset_id: str) -> dict[str, Any]:
    changes = body(AssetChanges)
    if changes.poster_time is not None:  # a cover picked: checked first, rendered once it is written
        derivatives.check_cover(owner, asset_id, changes.poster_time)
    view = library.update_asset(owner, asset_id, changes, playback_url())
    if changes.poster_time is not None:
        derivatives.start(asset_id, owner, ["cover"])
    return view


@route("/assets/{asset_id}", "DELETE", status=204)
def delete_asset(owner: str, asset_id: str) -> None:
    library.delete_asset(owner, asset_id)


@route("/assets/{asset_id}/downloads", "POST", status=202)
def request_downloads(owner: str, asset_id: str) -> dict[str, Any]:
    asset = derivatives.request_downloads(owner, asset_id, body(RequestDownloads).names)
    return asset_view(asset, playback_url())


@route("/assets/{asset_id}/tracks", "POST", status=201)
def add_track(owner: str, asset_id: str) -> dict[str, Any]:
    return captions.add_track(owner, asset_id, lambda: body(AddTrack))


@route("/assets/{asset_id}/tracks/generate", "POST", status=202)
def generate_track(owner: str, asset_id: str) -> dict[str, Any]:
    return speech.request_generation(owner, asset_id, lambda: body(GeneratedCaptions))


@route("/assets/{asset_id}/tracks/{track_id}", "DELETE", status=204)
def delete_track(owner: str, asset_id: str, track_id: str) -> None:
    captions.delete_track(owner, asset_id, track_id)


@route("/assets/{asset_id}/playback", "GET")
def start_playback(caller: str, asset_id: str) -> dict[str, Any]:
    return playback.start(caller, asset_id, f"{api_base()}/playback")


@route("/feed", "GET")
def feed(caller: str) -> dict[str, Any]:
    query = app.current_request.query_params or {}
    return sharing.feed(api_base(), query.get("limit"), query.get("cursor"), playback_url())


def playback_url() -> PlaybackUrl | None:
    """Makes assets' playable URLs; None where the deployment has no PlaybackSecret."""
    if not deployment().playback_secret:
        return None
    base = f"{api_base()}/playback"
    return lambda asset: playback.url_for(asset, base)


def served(answer: playback.Served) -> Response:
    """A playlist, or a redirect to a segment or picture, with the caching it allows."""
    headers = {"Cache-Control": answer.cache_control}
    if answer.location:
        return Response("", status_code=302, headers={**headers, "Location": answer.location})
    return Response(answer.body, headers={**headers, "Content-Type": answer.content_type})


@route("/playback/{token}/master.m3u8", "GET", public=True)
def master_playlist(token: str) -> Response:
    return served(playback.master_playlist(token))


@route("/playback/{token}/{rendition}/index.m3u8", "GET", public=True)
def media_playlist(token: str, rendition: str) -> Response:
    return served(playback.media_playlist(token, rendition))


@route("/playback/{token}/{rendition}/{segment}", "GET", public=True)
def playback_segment(token: str, rendition: str, segment: str) -> Response:
    return served(playback.segment(token, rendition, segment))


@route("/watch/{asset_id}", "GET", public=True)
def watch_page(asset_id: str) -> Response:
    shown = share.page(asset_id, api_base())
    headers = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": shown.cache_control}
    return Response(shown.html, status_code=shown.status, headers=headers)


@route("/watch/{asset_id}/{file}", "GET", public=True)
def watch_media(asset_id: str, file: str) -> Response:
    if pictures.is_picture(file):
        return served(pictures.shared_picture(asset_id, file, app.current_request.query_params or {}))
    return served(share.media_location(asset_id, file))


@route("/assets/{asset_id}/{picture}", "GET")
def asset_picture(owner: str, asset_id: str, picture: str) -> Response:
    return served(pictures.owners_picture(owner, asset_id, picture, app.current_request.query_params or {}))


@route("/assets/{asset_id}/execution", "GET")
def asset_execution(owner: str, asset_id: str) -> dict[str, Any]:
    execution = execution_states(owner, asset_id)
    rows = execution["rows"]
    return {
        "assetId": asset_id,
        "executionStatus": execution["executionStatus"],
        "states": [{key: value for key, value in row.items() if key != "next"} for row in rows],
        # The same graph as docs/pipeline.svg, each state coloured by this execution, with its duration.
        "svg": render_svg(execution["definition"], {row["name"]: row for row in rows}),
    }


@route("/devices", "POST", status=201)
def register_device(owner: str) -> Response:
    device, is_new = devices.register(owner, body(RegisterDevice))
    return Response(device, status_code=201 if is_new else 200)


@route("/devices", "GET")
def list_devices(owner: str) -> dict[str, Any]:
    return devices.list_devices(owner)


@route("/devices/{device_id}", "DELETE", status=204)
def remove_device(owner: str, device_id: str) -> None:
    devices.remove(owner, device_id)


@route("/webhooks", "POST", status=201)
def create_webhook(owner: str) -> dict[str, Any]:
    return endpoints.create(owner, body(CreateWebhook))


@route("/webhooks", "GET")
def list_webhooks(owner: str) -> dict[str, Any]:
    return endpoints.list_webhooks(owner)


@route("/webhooks/{webhook_id}", "GET")
def get_webhook(owner: str, webhook_id: str) -> dict[str, Any]:
    return endpoints.get(owner, webhook_id)


@route("/webhooks/{webhook_id}", "PATCH")
def update_webhook(owner: str, webhook_id: str) -> dict[str, Any]:
    endpoints.owned(owner, webhook_id)  # someone else's is 404 whatever the body
    return endpoints.update(owner, webhook_id, body(UpdateWebhook))


@route("/webhooks/{webhook_id}", "DELETE", status=204)
def delete_webhook(owner: str, webhook_id: str) -> None:
    endpoints.delete(owner, webhook_id)


@route("/webhooks/{webhook_id}/rotate-secret", "POST")
def rotate_webhook_secret(owner: str, webhook_id: str) -> dict[str, Any]:
    return endpoints.rotate_secret(owner, webhook_id)


@route("/webhooks/{webhook_id}/test", "POST", status=202)
def test_webhook(owner: str, webhook_id: str) -> dict[str, Any]:
    return deliveries.send_test(owner, webhook_id)


@route("/webhooks/{webhook_id}/deliveries", "GET")
def list_webhook_deliveries(owner: str, webhook_id: str) -> dict[str, Any]:
    query = app.current_request.query_params or {}
    return deliveries.list_deliveries(owner, webhook_id, query.get("limit"), query.get("cursor"))


@route("/webhooks/{webhook_id}/deliveries/{delivery_id}/retry", "POST", status=202)
def retry_webhook_delivery(owner: str, webhook_id: str, delivery_id: str) -> dict[str, Any]:
    return deliveries.retry(owner, webhook_id, delivery_id)


@route("/", "GET", public=True, content_type="text/html; charset=utf-8")
def web_page() -> str:
    return web_file("index.html")


@route("/web/{name}", "GET", public=True)
def web_asset(name: str) -> Response:
    return Response(web_file(name), headers={"Content-Type": WEB_TYPES[name.rsplit(".", 1)[-1]]})


def web_file(name: str) -> str:
    """A file of the web page (the WebLayer's ``reelstack_web`` package)."""
    if name.rsplit(".", 1)[-1] not in WEB_TYPES or "/" in name or name.startswith("."):
        raise NotFound(f"no file {name[:40]!r}", code="NotFound")
    try:
        return (resources.files("reelstack_web") / name).read_text()
    except (FileNotFoundError, ModuleNotFoundError) as error:
        raise NotFound(f"no file {name[:40]!r}", code="NotFound") from error


@route("/health", "GET", public=True)
def get_health() -> dict[str, Any]:
    return health()


# Anything else: template.yaml routes every path API Gateway has no resource for here (its `/{proxy+}`
# resource; the more specific resources of the routes above win), so a client with a wrong base path
# reads a contract error with CORS headers, not the gateway's 403 "Missing Authentication Token".
# A path that exists but lacks the method gets Chalice's 405 with Allow (every path has an ANY method).
UNKNOWN_ROUTE = "/{proxy+}"


def unknown_route() -> None:
    request = app.current_request
    path = "/" + (request.uri_params or {}).get("proxy", "")
    raise NotFound(
        f"{request.method} {path[:200]} is not a route of this API (its routes are in docs/openapi.json)",
        code="RouteNotFound",
    )


for _method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"):
    route(UNKNOWN_ROUTE, _method, public=True)(unknown_route)


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app(event, context)
