"""The Python runtime of one local Lambda execution environment.

Started by the ``local-process`` executor with the runtime interpreter (Python 3.13 with boto3 and
nothing else, like AWS's image). It speaks LocalStack's executor-endpoint protocol:

- it serves ``POST /invoke`` on ``_LOCALCLOUD_PORT``;
- it reports ``status/<id>/ready`` (or ``status/<id>/error`` when the handler fails to import);
- for each invocation it posts the invocation's logs, then its response or error, to
  ``LOCALSTACK_RUNTIME_ENDPOINT``.

Standard library only: whatever the function imports must come from its package or its layers.
Timeouts, memory limits and crashes are enforced from outside by the executor, which can kill and
restart this process; the handler itself runs on the main thread, as on AWS.
"""

from __future__ import annotations

import importlib
import json
import os
import queue
import sys
import threading
import time
import traceback
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The script's own folder must not shadow anything the function imports.
if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

RUNTIME_ENDPOINT = os.environ["LOCALSTACK_RUNTIME_ENDPOINT"]
RUNTIME_ID = os.environ["LOCALSTACK_RUNTIME_ID"]
LOG_FILE = os.environ["_LOCALCLOUD_LOG_FILE"]

_invocations: queue.Queue[dict[str, Any]] = queue.Queue()
# Loopback only; proxies from the environment must not intercept it. Built once: an opener makes an
# HTTPS handler, whose SSL context loads the CA bundle (about 50 ms of CPU, twice per invocation).
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class LambdaContext:
    """The context object AWS's Python runtime passes to handlers."""

    def __init__(self, request_id: str, invoked_function_arn: str, deadline: float) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def _post(path: str, body: bytes, content_type: str = "application/json") -> None:
    request = urllib.request.Request(
        f"{RUNTIME_ENDPOINT}{path}", data=body, method="POST", headers={"Content-Type": content_type}
    )
    with _OPENER.open(request, timeout=30) as response:
        response.read()


def _error_body(error: BaseException, error_type: str | None = None, skip_frames: int = 0) -> bytes:
    frames = error.__traceback__
    for _ in range(skip_frames):  # the runtime's own frames are not the function's
        frames = frames.tb_next if frames else None
    return json.dumps(
        {
            "errorMessage": str(error),
            "errorType": error_type or type(error).__name__,
            "requestId": "",
            "stackTrace": traceback.format_tb(frames),
        }
    ).encode()


def _load_handler() -> Any:
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as error:
        raise _RuntimeError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}") from error
    try:
        return getattr(module, function_name)
    except AttributeError as error:
        raise _RuntimeError(
            "Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'"
        ) from error


class _RuntimeError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class _InvokeHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path != "/invoke":
            self.send_response(404)
            self.end_headers()
            return
        _invocations.put(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # the invoke channel is not the function's log


def _log_size() -> int:
    try:
        return os.path.getsize(LOG_FILE)
    except OSError:
        return 0


def _read_log_since(offset: int, limit: int = 1_000_000) -> str:
    with open(LOG_FILE, "rb") as log:
        log.seek(offset)
        return log.read(limit).decode("utf-8", "replace")


def _run(handler: Any, invocation: dict[str, Any]) -> None:
    request_id = invocation.get("invoke-id") or str(uuid.uuid4())
    timeout = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
    started = time.time()
    context = LambdaContext(request_id, invocation.get("invoked-function-arn", ""), started + timeout)
    os.environ["_X_AMZN_TRACE_ID"] = invocation.get("trace-id") or ""
    offset = _log_size()
    print(f"START RequestId: {request_id} Version: {context.function_version}", flush=True)
    outcome: tuple[str, bytes]
    try:
        event = json.loads(invocation.get("payload") or "null")
        result = handler(event, context)
        try:
            outcome = ("response", json.dumps(result).encode())
        except (TypeError, ValueError) as error:
            outcome = ("error", _error_body(error, "Runtime.MarshalError"))
    except Exception as error:  # noqa: BLE001 - every handler error goes back to the caller
        traceback.print_exc()
        outcome = ("error", _error_body(error, skip_frames=1))
    elapsed_ms = (time.time() - started) * 1000
    print(f"END RequestId: {request_id}", flush=True)
    print(
        f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms\tMemory Size: {context.memory_limit_in_mb} MB",
        flush=True,
    )
    sys.stderr.flush()
    # LocalStack attaches the logs it holds when the response arrives, so they go first.
    _post(f"/invocations/{request_id}/logs", json.dumps({"logs": _read_log_since(offset)}).encode())
    kind, body = outcome
    _post(f"/invocations/{request_id}/{kind}", body)


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["_LOCALCLOUD_PORT"])), _InvokeHandler)
    threading.Thread(target=server.serve_forever, name="invoke-server", daemon=True).start()
    try:
        handler = _load_handler()
    except _RuntimeError as error:
        print(f"[ERROR] {error.error_type}: {error}", file=sys.stderr, flush=True)
        _post(f"/status/{RUNTIME_ID}/error", _error_body(error, error.error_type))
        sys.exit(1)
    except Exception as error:  # noqa: BLE001 - an init error is reported like Lambda's
        traceback.print_exc()
        _post(f"/status/{RUNTIME_ID}/error", _error_body(error))
        sys.exit(1)
    _post(f"/status/{RUNTIME_ID}/ready", b"{}")
    while True:
        _run(handler, _invocations.get())


if __name__ == "__main__":
    main()
