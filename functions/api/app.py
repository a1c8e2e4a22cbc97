"""The HTTP API (Chalice behind the API Gateway REST API that template.yaml defines, one event per route).

Routes are thin: authenticate, hand the body to the domain, shape the answer. Errors the domain
raises on purpose become the contract's ``{"error": {"code", "message"}}`` with their HTTP status.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from chalice.app import Chalice, CORSConfig, Response

from reelstack.assets import asset_view, owned_asset
from reelstack.auth import owner_of
from reelstack.errors import ReelstackError, error_body
from reelstack.uploads import Uploads

logger = Logger()
tracer = Tracer()
metrics = Metrics()

app = Chalice(app_name="reelstack-api")
app.api.cors = CORSConfig(
    allow_origin=os.environ.get("ALLOWED_ORIGIN", "*"),
    allow_headers=["Authorization", "Content-Type"],
    expose_headers=["Retry-After"],
    max_age=600,
)


@functools.cache
def uploads() -> Uploads:
    return Uploads()


def route(path: str, method: str, status: int = 200) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``view(owner, **path_params)`` for ``method path``: authenticate the caller first,
    map the domain's named errors to the contract's error document. Any Content-Type is read as JSON.
    """

    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def run(**path_params: str) -> Response:
            request = app.current_request
            metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
            try:
                owner = owner_of(request.headers.get("authorization"))
                result = view(owner, **path_params)
            except ReelstackError as error:
                logger.info("request refused", extra={"code": error.code, "status": error.http_status})
                metrics.add_metric(name=f"Refused{error.http_status}", unit=MetricUnit.Count, value=1)
                return Response(error_body(error.code, error.message), status_code=error.http_status)
            return Response("" if result is None else result, status_code=status)

        app.route(path, methods=[method], content_types=["*/*"])(run)
        return view

    return register


@app.middleware("http")
def contract_error_shape(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice's own errors (unknown method, uncaught exceptions) in the contract's shape too."""
    response = get_response(event)
    body = response.body
    if isinstance(body, dict) and set(body) == {"Code", "Message"}:
        response.body = error_body(body["Code"].removesuffix("Error") or "InternalError", body["Message"])
    return response


@route("/uploads", "POST", status=201)
def create_upload(owner: str) -> dict[str, Any]:
    return uploads().create(owner, app.current_request.raw_body)


@route("/uploads/{upload_id}", "GET")
def get_upload(owner: str, upload_id: str) -> dict[str, Any]:
    return uploads().status(owner, upload_id)


@route("/uploads/{upload_id}/parts", "POST")
def request_parts(owner: str, upload_id: str) -> dict[str, Any]:
    return uploads().part_urls(owner, upload_id, app.current_request.raw_body)


@route("/uploads/{upload_id}/complete", "POST")
def complete_upload(owner: str, upload_id: str) -> dict[str, Any]:
    return uploads().complete(owner, upload_id, app.current_request.raw_body)


@route("/uploads/{upload_id}", "DELETE", status=204)
def abort_upload(owner: str, upload_id: str) -> None:
    uploads().abort(owner, upload_id)


@route("/assets/{asset_id}", "GET")
def get_asset(owner: str, asset_id: str) -> dict[str, Any]:
    return asset_view(owned_asset(owner, asset_id))


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app(event, context)
