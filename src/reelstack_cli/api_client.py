"""A small client of the Reelstack HTTP API, the way an app uses it (bearer token, JSON, retries)."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import Any

import urllib3

RETRYABLE_STATUS = {429, 500, 502, 503, 504}


# Connect quickly or not at all; wait for an answer as long as API Gateway would (it gives up at 29 s).
# (urllib3.Timeout's first argument is the total: Timeout(10, 60) allowed 10 s per request, which a
# complete under load can exceed.)
REQUEST_TIMEOUT = urllib3.Timeout(connect=10, read=35)


class ApiError(RuntimeError):
    """The API answered with an error document (or not at all)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def backoff_seconds(attempt: int, base: float = 0.5, cap: float = 20.0) -> float:
    """Exponential backoff with full jitter (attempt 1, 2, ...)."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))  # noqa: S311 - jitter, not security


@dataclass
class ApiClient:
    base_url: str
    token: str
    attempts: int = 5
    http: urllib3.PoolManager | None = None

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.http = self.http or urllib3.PoolManager(maxsize=16, retries=False)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.http.request(
                    method, self.base_url + path, body=data, headers=headers, timeout=REQUEST_TIMEOUT
                )
            except urllib3.exceptions.HTTPError as error:
                if attempt == self.attempts:
                    raise ApiError(0, "Unreachable", f"{method} {path}: {error}") from error
                time.sleep(backoff_seconds(attempt))
                continue
            if response.status in RETRYABLE_STATUS and attempt < self.attempts:
                retry_after = response.headers.get("Retry-After")
                time.sleep(float(retry_after) if retry_after and retry_after.isdigit() else backoff_seconds(attempt))
                continue
            return self._answer(method, path, response)
        raise AssertionError("unreachable")

    @staticmethod
    def _answer(method: str, path: str, response: urllib3.BaseHTTPResponse) -> Any:
        document = None
        if response.data:
            try:
                document = json.loads(response.data)
            except ValueError:
                document = None
        if response.status >= 400:
            error = (document or {}).get("error") if isinstance(document, dict) else None
            if isinstance(error, dict):
                raise ApiError(response.status, str(error.get("code")), str(error.get("message")))
            raise ApiError(response.status, "HttpError", f"{method} {path}: {response.data[:300]!r}")
        return document

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)
