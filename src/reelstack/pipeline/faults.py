"""Fault injection for the local cloud, which has no fault-injection service: FAULT_INJECTION names
faults that strike once per asset (recorded on the asset, so the retry that follows succeeds). This
is how the tests prove that Retry, the fences and the backstops work.

Faults: ``probe`` and ``transcode`` (the step fails with a transient error), ``probe:cut-read`` (the
source's body breaks mid-stream), ``stall:hls|thumbnails|previews`` (the step sleeps
FAULT_STALL_SECONDS before it uploads, to open a window for races); ``crash:<event type>`` (the
function dies between a write and the publish of its event: reelstack.store.events). ``ingest`` is an
outage rather than a blip: Ingest fails on every attempt while it is named, so Lambda's retries are
spent and the event lands in the dead-letter queue (``reelstack dlq redrive`` brings it back once it
is lifted).
"""

from __future__ import annotations

import time

from reelstack.config import deployment
from reelstack.errors import InjectedFault
from reelstack.store import assets


def fault_due(fault: str, asset_id: str) -> bool:
    """Whether FAULT_INJECTION names ``fault`` and it has not yet struck this asset."""
    return fault in deployment().faults.names and assets.strike_once(asset_id, fault)


def inject_fault(step: str, asset_id: str) -> None:
    """Fail ``step`` once per asset with a transient error when FAULT_INJECTION names it."""
    if fault_due(step, asset_id):
        raise InjectedFault(f"fault injected into {step} (FAULT_INJECTION)")


def fail_while_named(fault: str) -> None:
    """Fail every time while FAULT_INJECTION names ``fault`` (an outage, not a once-per-asset blip)."""
    if fault in deployment().faults.names:
        raise InjectedFault(f"fault injected into {fault} (FAULT_INJECTION)")


def stall_if_due(fault: str, asset_id: str) -> None:
    """Sleep FAULT_STALL_SECONDS once per asset when FAULT_INJECTION names ``fault``: a slow step."""
    if fault_due(fault, asset_id):
        time.sleep(deployment().faults.stall_seconds)
