"""Responses sent at the pace the client reads them (a start hook).

LocalStack serves HTTP through Twisted's WSGI bridge, which hands each piece of a response body to
the connection and asks the application for the next at once, without waiting for the client to
take it (Twisted says so in ``twisted.web.wsgi``: "providing some back-pressure may nevertheless be
a Good Thing"). FFmpeg reads a presigned source with open-ended ranges (``bytes=X-``, again at every
seek), so LocalStack read the rest of the object into memory however little of it FFmpeg took before
it closed the connection: 1.1 s of CPU to hand over the first 12 MB of a 1.2 GB source, 0.5 s for
the same start of a 360 MB one, on the cores the encode needed. On AWS, TCP paces S3 to the reader.

The bridge's writer now registers itself with the connection as a push producer (the connection
pauses it when its send buffer is full and resumes it when that drains, as for any Twisted
producer) and waits while paused; it stops when the client goes.
"""

from __future__ import annotations

import threading
from typing import Any

from localstack.runtime import hooks
from twisted.internet.interfaces import IPushProducer
from twisted.internet.threads import blockingCallFromThread
from twisted.web.wsgi import _WSGIResponse
from zope.interface import implementer

# How often a paused writer looks whether its request ended some other way.
PAUSED_CHECK_SECONDS = 1.0


@implementer(IPushProducer)
class Pace:
    """Whether the connection can take more of the response now."""

    def __init__(self) -> None:
        self.flowing = threading.Event()
        self.flowing.set()

    def pauseProducing(self) -> None:  # noqa: N802 (Twisted's interface)
        self.flowing.clear()

    def resumeProducing(self) -> None:  # noqa: N802
        self.flowing.set()

    def stopProducing(self) -> None:  # noqa: N802 (the client went: let the writer see it and stop)
        self.flowing.set()


def paced_write(response: Any, data: bytes) -> None:
    """``_WSGIResponse.write`` (called in the application's thread) that returns only once the
    connection can take more: the first write registers the response's :class:`Pace`, which is
    unregistered when the request finishes."""

    def write(started: bool) -> None:  # in the reactor's thread
        if not started:
            response._sendResponseHeaders()
            pace = response.reelstack_pace = Pace()
            request = response.request
            request.registerProducer(pace, True)
            finish = request.finish

            def finish_unregistered() -> None:
                if request.producer is pace:
                    request.unregisterProducer()
                finish()

            request.finish = finish_unregistered
        response.request.write(data)

    try:
        blockingCallFromThread(response.reactor, write, response.started)
    finally:
        response.started = True
    pace = getattr(response, "reelstack_pace", None)
    while pace is not None and not pace.flowing.wait(PAUSED_CHECK_SECONDS):
        if response._requestFinished:
            return


@hooks.on_infra_start()
def send_responses_at_the_clients_pace() -> None:
    _WSGIResponse.write = paced_write
