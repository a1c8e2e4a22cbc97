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
    #: Whether the state machine retries a step that raised it (trying again may work) or never
    #: does (a verdict on the file or the input). errors.transient_names() is the Retry list.
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


class PlaybackDenied(ReelstackError):
    """The playback token is missing, forged, expired or revoked."""

    code = "PlaybackDenied"
    http_status = 403


class UploadTooLarge(ReelstackError):
    """The declared size is over the deployment's upload limit."""

    code = "UploadTooLarge"
    http_status = 413


class BodyTooLarge(ReelstackError):
    """A request body over what any route needs (reelstack.bodies.MAX_BODY_BYTES)."""

    code = "BodyTooLarge"
    http_status = 413


class TooManyRequests(ReelstackError):
    """A client past its request rate. It retries after ``Retry-After``; no pipeline step raises it."""

    code = "TooManyRequests"
    http_status = 429

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ToolchainMissing(ReelstackError):
    """A binary the step runs (ffmpeg, ffprobe) is not where its function's layers should have put it:
    the deployment's fault, never the file's, and never retried. The asset's error says so to the user
    (code ``ProcessingError``); the operators' log names what is missing (reelstack.media.toolchain)."""

    code = "ProcessingError"
    USER_MESSAGE = (
        "the video could not be processed because of a fault on our side, not in the file; "
        "uploading it again later should work"
    )

    def __init__(self, message: str = USER_MESSAGE) -> None:
        super().__init__(message)


class ToolchainFailed(ReelstackError):
    """FFmpeg ran but did not answer as expected (crash, timeout)."""

    code = "ToolchainFailed"
    transient = True


class OutOfTime(ReelstackError):
    """FFmpeg could not finish within the step's time: the same file would run out of time again, so
    this is never retried (until chunked encoding, the source's length limit keeps it rare)."""

    code = "PipelineTimeout"


class UnsupportedMedia(ReelstackError):
    """Not audio or video the pipeline can take: the content, whatever its name or declared type (the
    probe's verdict), or a declared type that plainly is not media (code UnsupportedMediaType)."""

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


class InvalidCaptions(ReelstackError):
    """A caption file that is not captions, or past a limit (reelstack.media.captions); the code says
    which: NotCaptions, NoCues, TooManyCues, CaptionsTooLarge. Never retried: the same file again is
    the same verdict."""

    code = "InvalidCaptions"
    http_status = 400


class SourceUrlFailed(ReelstackError):
    """An upload from a URL could not fetch a video there (reelstack.uploads.fetch); the code says
    which way: SourceNotFound, SourceUnreachable, NotAVideo, UploadTooLarge, UnsafeUrl..."""

    code = "SourceUrlFailed"
    http_status = 422


class StorageUnavailable(ReelstackError):
    """S3 or DynamoDB did not answer as it should (throttling, a 5xx, a reset connection, a read cut
    short, a timeout); trying again may work."""

    code = "StorageUnavailable"
    http_status = 503
    transient = True


class ServiceUnavailable(ReelstackError):
    """SNS, Step Functions or another AWS service did not answer as it should (as StorageUnavailable)."""

    code = "ServiceUnavailable"
    http_status = 503
    transient = True


# Lambda's own errors for an invocation that never ran the code; Step Functions retries them.
LAMBDA_TRANSIENT = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
)
# A function at its reserved concurrency (EncodeConcurrency) refuses more: the task waits its turn with
# a Retry of its own, patient (minutes, not seconds), since a burst of uploads is no fault of the video.
LAMBDA_THROTTLED = ("Lambda.TooManyRequestsException",)


def _named(base: type[ReelstackError]) -> list[type[ReelstackError]]:
    found = []
    for subclass in base.__subclasses__():
        found += [subclass, *_named(subclass)]
    return found


def transient_names() -> list[str]:
    """What the state machine retries: every named error marked transient, and Lambda's own."""
    return [error.__name__ for error in _named(ReelstackError) if error.transient] + list(LAMBDA_TRANSIENT)


def throttled_names() -> list[str]:
    """What the state machine waits out with its patient Retry: Lambda refusing for want of concurrency."""
    return list(LAMBDA_THROTTLED)


def domain_error_names() -> set[str]:
    """Every named error of the domain: their messages are written for users."""
    return {error.__name__ for error in _named(ReelstackError)}


def verdict_names() -> list[str]:
    """What the state machine never retries: named errors that say something about the file or input."""
    return [error.__name__ for error in _named(ReelstackError) if not error.transient]


def code_and_message(error_message: str, default_code: str) -> tuple[str, str]:
    """``"Code: message"`` (how a ReelstackError prints) -> ``(code, message)``."""
    code, separator, message = error_message.partition(": ")
    if separator and code.isidentifier() and code[:1].isupper():
        return code, message
    return default_code, error_message


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The contract's error document: ``{"error": {"code", "message"}}``."""
    return {"error": {"code": code, "message": message}}
