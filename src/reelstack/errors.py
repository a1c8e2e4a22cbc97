"""Named errors. Their class names are what Step Functions sees as ``Error`` in Retry and Catch."""

from __future__ import annotations


class ReelstackError(Exception):
    """Base of every error the domain raises on purpose."""

    #: Stable snake-free code for clients (``{"error": {"code": ...}}``) and failed assets.
    code = "InternalError"
    #: Whether retrying the same work may succeed (Retry) or never will (Catch at once).
    transient = False


class InvalidInput(ReelstackError):
    """The event or request is malformed: a bug in the caller, never retried."""

    code = "InvalidInput"


class ToolchainMissing(ReelstackError):
    """FFmpeg is not where the layer should have put it: a deployment error, never retried."""

    code = "ToolchainMissing"


class ToolchainFailed(ReelstackError):
    """FFmpeg ran but did not answer as expected (crash, timeout)."""

    code = "ToolchainFailed"
    transient = True
