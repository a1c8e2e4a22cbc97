"""Named errors. Their class names are what Step Functions sees as ``Error`` in Retry and Catch, and
their ``code`` and ``http_status`` are what API clients see (``{"error": {"code", "message"}}``).
"""

from __future__ import annotations


class ReelstackError(Exception):
    """Base of every error the domain raises on purpose."""

    #: Stable CamelCase code for clients and failed assets.
    code = "InternalError"
    #: The HTTP status the API answers with.
    http_status = 500
    #: Whether retrying the same work may succeed (Retry) or never will (Catch at once).
    transient = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code

    def __str__(self) -> str:
        # Lambda reports str(error) as errorMessage; the pipeline reads the code back from it.
        return f"{self.code}: {self.message}"


class InvalidInput(ReelstackError):
    """The event or request is malformed: a bug in the caller, never retried."""

    code = "InvalidInput"
    http_status = 400


class Unauthorized(ReelstackError):
    """No token, or a token that does not verify."""

    code = "Unauthorized"
    http_status = 401


class NotFound(ReelstackError):
    """Nothing of that id belongs to the caller (someone else's is not found either)."""

    code = "NotFound"
    http_status = 404


class Conflict(ReelstackError):
    """The request is valid but the thing is no longer in a state that allows it."""

    code = "Conflict"
    http_status = 409


class PayloadTooLarge(ReelstackError):
    code = "UploadTooLarge"
    http_status = 413


class UnsupportedMediaType(ReelstackError):
    """A declared type the pipeline does not take."""

    code = "UnsupportedMediaType"
    http_status = 415


class ToolchainMissing(ReelstackError):
    """FFmpeg is not where the layer should have put it: a deployment error, never retried."""

    code = "ToolchainMissing"


class ToolchainFailed(ReelstackError):
    """FFmpeg ran but did not answer as expected (crash, timeout)."""

    code = "ToolchainFailed"
    transient = True


class UnsupportedMedia(ReelstackError):
    """The content is not audio or video the pipeline can take (whatever its name or declared type)."""

    code = "UnsupportedMedia"
    http_status = 415


class MediaLimitExceeded(ReelstackError):
    """Audio or video, but past a limit checked before any decoding (duration, size, streams...)."""

    code = "MediaLimitExceeded"
    http_status = 413


class SourceMismatch(ReelstackError):
    """The object in S3 is not what its upload declared (size, SHA-256)."""

    code = "SourceMismatch"
    http_status = 400


class AssetGone(ReelstackError):
    """The asset was deleted or failed while a step ran; the step removed what it had written."""

    code = "AssetGone"
    http_status = 409


class InjectedFault(ReelstackError):
    """A failure injected on purpose (FAULT_INJECTION) to prove that Retry works."""

    code = "InjectedFault"
    transient = True


class StorageUnavailable(ReelstackError):
    """S3 or DynamoDB answered with a throttling or server error; trying again may work."""

    code = "StorageUnavailable"
    http_status = 503
    transient = True


def code_and_message(error_message: str, default_code: str) -> tuple[str, str]:
    """``"Code: message"`` (how a ReelstackError prints) -> ``(code, message)``."""
    code, separator, message = error_message.partition(": ")
    if separator and code.isidentifier() and code[:1].isupper():
        return code, message
    return default_code, error_message


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The contract's error document: ``{"error": {"code", "message"}}``."""
    return {"error": {"code": code, "message": message}}
