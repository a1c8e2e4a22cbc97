"""An owner's webhook endpoints: ``POST /webhooks`` and the routes below it.

The URL is vetted (reelstack.netguard) when it is registered or changed, and again at every
delivery. The secret is shown once, when it is made; a rotation makes a new one and keeps the old
one signing beside it for WebhookSecretOverlapSeconds (24 h), so receivers can switch in their own
time. An endpoint that failed every delivery for WebhookDisableAfterSeconds (5 days) is disabled,
and its owner told by a ``webhook.disabled`` event; ``PATCH {enabled: true}`` turns it back on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from reelstack import netguard
from reelstack.bodies import CreateWebhook, UpdateWebhook
from reelstack.config import deployment
from reelstack.errors import Conflict, InvalidInput
from reelstack.ids import new_id
from reelstack.store import events
from reelstack.store.events import EventType
from reelstack.store.records import Change, WebhookModel, WebhookSecret, iso, owned_record, utc_now
from reelstack.webhooks import signing

MAX_WEBHOOKS_PER_OWNER = 20
# What an endpoint may ask for (webhook.test goes to the endpoint tested, whatever it asked for).
SUBSCRIBABLE = frozenset(str(kind) for kind in EventType) - {str(EventType.WEBHOOK_TEST)}


def create(owner_id: str, request: CreateWebhook) -> dict[str, Any]:
    """A new endpoint, with its secret (shown this once)."""
    netguard.guard().vet(request.url)
    if WebhookModel.by_owner.count(owner_id) >= MAX_WEBHOOKS_PER_OWNER:
        raise Conflict(
            f"at most {MAX_WEBHOOKS_PER_OWNER} webhooks per account: delete one first", code="TooManyWebhooks"
        )
    now = utc_now()
    secret = signing.new_secret()
    endpoint = WebhookModel(
        new_id(),
        owner_id=owner_id,
        url=request.url,
        events=_event_types(request.events),
        description=request.description,
        secrets=[WebhookSecret(value=secret, created_at=now)],
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    endpoint.save(condition=WebhookModel.webhook_id.does_not_exist())
    return {**view(endpoint), "secret": secret}


def list_webhooks(owner_id: str) -> dict[str, Any]:
    return {"items": [view(endpoint) for endpoint in WebhookModel.by_owner.query(owner_id, scan_index_forward=False)]}


def owned(owner_id: str, webhook_id: str) -> WebhookModel:
    """The caller's endpoint; anyone else's is not found."""
    return owned_record(WebhookModel, owner_id, webhook_id, "WebhookNotFound")


def get(owner_id: str, webhook_id: str) -> dict[str, Any]:
    return view(owned(owner_id, webhook_id))


def update(owner_id: str, webhook_id: str, request: UpdateWebhook) -> dict[str, Any]:
    endpoint = owned(owner_id, webhook_id)
    changes = request.model_fields_set
    actions: list[Any] = [WebhookModel.updated_at.set(utc_now())]
    if "url" in changes:
        netguard.guard().vet(request.url or "")
        actions.append(WebhookModel.url.set(request.url))
    if "events" in changes:
        actions.append(WebhookModel.events.set(_event_types(request.events)))
    if "description" in changes:
        actions.append(WebhookModel.description.set(request.description))
    if request.enabled is True:  # on again, with a clean record
        actions += [
            WebhookModel.enabled.set(True),
            WebhookModel.disabled_reason.remove(),
            WebhookModel.failing_since.remove(),
        ]
    elif request.enabled is False:
        actions += [WebhookModel.enabled.set(False), WebhookModel.disabled_reason.set("disabled by its owner")]
    endpoint.update(actions=actions, condition=WebhookModel.owner_id == owner_id)
    return view(endpoint)


def delete(owner_id: str, webhook_id: str) -> None:
    """The endpoint goes; deliveries still pending for it end failed at their next attempt."""
    owned(owner_id, webhook_id).delete()


def rotate_secret(owner_id: str, webhook_id: str) -> dict[str, Any]:
    """A new secret, shown this once; the one before keeps signing for WebhookSecretOverlapSeconds.
    Rotated-out secrets already past their overlap are forgotten."""
    endpoint = owned(owner_id, webhook_id)
    now = datetime.now(UTC)
    overlap_ends = iso(now + timedelta(seconds=deployment().webhooks.secret_overlap_seconds))
    secret = signing.new_secret()
    kept = [
        WebhookSecret(
            value=old.value, created_at=old.created_at, expires_at=min(old.expires_at or overlap_ends, overlap_ends)
        )
        for old in live_secrets_of(endpoint, now)
    ]
    endpoint.update(
        actions=[
            WebhookModel.secrets.set([WebhookSecret(value=secret, created_at=iso(now)), *kept]),
            WebhookModel.updated_at.set(iso(now)),
        ],
        condition=WebhookModel.owner_id == owner_id,
    )
    return {"webhookId": webhook_id, "secret": secret, "previousSecretExpiresAt": overlap_ends}


def live_secrets_of(endpoint: WebhookModel, now: datetime | None = None) -> list[WebhookSecret]:
    """The secrets that sign now: the newest, and any rotated out less than the overlap ago."""
    moment = iso(now or datetime.now(UTC))
    return [secret for secret in endpoint.secrets if not secret.expires_at or secret.expires_at > moment]


def subscribers(owner_id: str, event_type: str) -> list[WebhookModel]:
    """The owner's enabled endpoints that take ``event_type``."""
    return [
        endpoint
        for endpoint in WebhookModel.by_owner.query(owner_id)
        if endpoint.enabled and (endpoint.events is None or event_type in endpoint.events)
    ]


def disable(endpoint: WebhookModel, reason: str) -> bool:
    """Disable a failing endpoint and tell its owner (``webhook.disabled``, recorded with the change):
    True for the one call that did."""
    disabled = events.event(
        EventType.WEBHOOK_DISABLED,
        None,
        endpoint.owner_id,
        webhookId=endpoint.webhook_id,
        url=endpoint.url,
        reason=reason,
    )
    change = Change(
        endpoint,
        [
            WebhookModel.enabled.set(False),
            WebhookModel.disabled_reason.set(reason),
            WebhookModel.updated_at.set(utc_now()),
        ],
        WebhookModel.enabled == True,  # noqa: E712 (a pynamodb condition, not a comparison)
    )
    if not events.record(disabled, change, "the webhook"):
        return False
    events.publish(disabled)
    return True


def view(endpoint: WebhookModel) -> dict[str, Any]:
    """An endpoint as its owner sees it: never its secrets."""
    live = live_secrets_of(endpoint)
    rotating = [secret.expires_at for secret in live if secret.expires_at]
    return {
        "webhookId": endpoint.webhook_id,
        "url": endpoint.url,
        "events": list(endpoint.events) if endpoint.events is not None else None,
        "description": endpoint.description or "",
        "enabled": bool(endpoint.enabled),
        **({"disabledReason": endpoint.disabled_reason} if endpoint.disabled_reason else {}),
        **({"failingSince": endpoint.failing_since} if endpoint.failing_since else {}),
        **({"previousSecretExpiresAt": max(rotating)} if rotating else {}),
        "createdAt": endpoint.created_at,
        "updatedAt": endpoint.updated_at,
    }


def _event_types(requested: list[str] | None) -> list[str] | None:
    if requested is None:
        return None
    unknown = sorted(set(requested) - SUBSCRIBABLE)
    if unknown:
        raise InvalidInput(
            f"no such event type: {', '.join(unknown)} (one of {', '.join(sorted(SUBSCRIBABLE))})",
            code="UnknownEventType",
        )
    return sorted(set(requested))
