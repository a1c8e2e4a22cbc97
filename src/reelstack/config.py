"""Everything a function knows about its deployment, read from the environment template.yaml sets,
in this one place, once per warm function (``deployment()`` is cached; tests clear the cache).

Nothing else in the package reads ``os.environ``, and nothing in it binds a setting at import time
(handler modules do, once per cold start: Chalice's CORS origin, Powertools' idempotency table).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Upload rules the server decides (template parameters where a deployment may want others)."""

    max_upload_bytes: int = 10 * 1024 * MiB  # MaxUploadBytes
    part_url_seconds: int = 3600  # PartUrlSeconds: an hour per batch; a slow phone renews through /parts
    min_part_bytes: int = 5 * MiB  # S3's floor for every part but the last
    preferred_part_bytes: int = 8 * MiB  # small enough that a dropped cellular link loses little
    max_parts: int = 10_000  # S3's ceiling
    first_batch_parts: int = 100  # part URLs in POST /uploads' answer
    max_batch_parts: int = 100  # part URLs one POST /uploads/{id}/parts may ask for
    upload_window_days: int = 7  # matches the bucket's AbortIncompleteMultipartUpload rule
    # One presigned PUT or POST form instead of parts (POST /uploads method, Companion's /s3/params):
    # Uppy's own multipart threshold, so its defaults work; past it a dropped link costs too much.
    single_request_max_bytes: int = 100 * MiB
    max_part_bytes: int = 5 * 1024 * MiB  # S3's ceiling for one part
    # Companion upload grants (reelstack.uploads.grants): a grant starts uploads for an hour and keeps
    # the uploads it started going for a day (Uppy cannot swap its endpoint in the middle of a file).
    grant_seconds: int = 3600
    grant_continue_seconds: int = 24 * 3600
    ledger_retention_days: int = 30  # finished upload records are purged (DynamoDB TTL) after this


@dataclass(frozen=True)
class AuthSettings:
    """Who may call the API (see reelstack.api.auth): a development secret, or an OIDC issuer's JWKS."""

    dev_secret: str = ""
    jwks_url: str = ""
    issuer: str = ""
    audience: str = ""


@dataclass(frozen=True)
class Faults:
    """FAULT_INJECTION: named faults that strike once per asset (tests prove Retry with them)."""

    names: frozenset[str] = frozenset()
    stall_seconds: float = 15.0


@dataclass(frozen=True)
class Webhooks:
    """Webhook deliveries (reelstack.webhooks); every duration is a template parameter, so that the
    tests run them in seconds."""

    # WebhookRetrySchedule: seconds to wait after each failed attempt (Standard Webhooks' example
    # schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: 27.6 h in all); past the last, failed.
    retry_schedule: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    timeout_seconds: float = 15  # WebhookTimeoutSeconds: a 2xx within this is delivered
    disable_after_seconds: float = 432000  # WebhookDisableAfterSeconds: failing every delivery this long
    secret_overlap_seconds: float = 86400  # WebhookSecretOverlapSeconds: a rotated secret still signs
    deliveries_queue_url: str = ""


@dataclass(frozen=True)
class Deployment:
    assets_table: str = "reelstack-assets"
    uploads_table: str = "reelstack-uploads"
    devices_table: str = "reelstack-devices"
    outbox_table: str = "reelstack-outbox"
    webhooks_table: str = "reelstack-webhooks"
    deliveries_table: str = "reelstack-webhook-deliveries"
    idempotency_table: str = "reelstack-idempotency"
    throttle_table: str = ""
    upload_bucket: str = ""
    media_bucket: str = ""
    events_topic_arn: str = ""
    state_machine_arn: str = ""
    derive_state_machine_arn: str = ""  # downloads asked for once an asset is ready (reelstack.derivatives)
    derive_function: str = ""  # pictures rendered on demand: the API calls the Derive function and waits
    region: str = "us-east-1"
    limits: Limits = field(default_factory=Limits)
    # "local-test-keys": the local cloud refuses presigned URLs signed with temporary credentials,
    # so there the API signs with LocalStack's static test keys; on AWS the function's role signs.
    presign_credentials: str = "function-role"  # PresignCredentials
    # SNS platform applications (template parameters); an empty one means that platform is off.
    push_applications: Mapping[str, str] = field(default_factory=dict)
    auth: AuthSettings = field(default_factory=AuthSettings)
    playback_secret: str = ""  # signs playback tokens; empty: no playback URLs
    public_api_url: str = ""  # a custom domain in front of the API, if any
    allowed_origin: str = "*"  # AllowedOrigin: CORS
    requests_per_second: int = 25  # ClientRequestsPerSecond: per client; 0: no throttling here
    max_source_seconds: float = 10800  # MaxSourceSeconds: the longest video the pipeline takes
    chunk_seconds: float = 60  # ChunkSeconds: chunked encoding past this length (0: never)
    chunk_concurrency: int = 40  # ChunkConcurrency: chunks encoded at once
    chunk_timeout_seconds: float = 900  # ChunkTimeoutSeconds: what one chunk's encode may take
    transcode_timeout_seconds: float = 900  # TranscodeTimeoutSeconds: what the one-piece encode may take
    passthrough: bool = True  # Passthrough: standard input keeps its video as the top rung
    extras_yield_seconds: float = 10  # ExtrasYieldSeconds: extras wait this long, at most, for playable
    normalize_audio: bool = False  # NormalizeAudio: an upload that does not say evens its audio out
    loudness_target_lufs: float = -16.0  # LoudnessTarget: integrated loudness evened out to (LUFS)
    true_peak_ceiling_dbtp: float = -1.5  # TruePeakCeiling: no peak evened out past it (dBTP)
    faults: Faults = field(default_factory=Faults)
    tool_paths: Mapping[str, str] = field(default_factory=dict)  # FFMPEG_PATH, FFPROBE_PATH overrides
    # DEAD_LETTER_QUEUES: each asynchronously invoked function's dead-letter queue, name -> URL
    dead_letter_queues: Mapping[str, str] = field(default_factory=dict)
    # AllowLoopbackUrls: the development switch of reelstack.netguard (the local cloud and the tests
    # deliver webhooks to a receiver on this machine); never on in a deployment others can reach.
    allow_loopback_urls: bool = False
    fetch_function: str = ""  # FETCH_URL_FUNCTION: the function that fetches uploads from a URL
    outbox_grace_seconds: float = 60  # OutboxGraceSeconds: an event unpublished this long is swept
    webhooks: Webhooks = field(default_factory=Webhooks)
    # Captions generated from speech (reelstack.derivatives.speech): where the Whisper model is (a folder
    # of the bucket with its manifest.json), the languages it is asked for, and the Transcribe function.
    speech_model_bucket: str = "reelstack-artifacts"  # SpeechModelBucket
    speech_model_prefix: str = "models/faster-whisper-tiny.en/"  # SpeechModelPrefix
    speech_languages: str = "en"  # SpeechLanguages: BCP 47 codes, comma-separated
    # SpeechModelSha256: the model.bin the deployment accepts. The manifest beside the model pins every
    # file; this pins the model itself, so a bucket's writer cannot swap model and manifest together.
    speech_model_sha256: str = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
    tracing: bool = True  # TracingEnabled, as Powertools reads it (POWERTOOLS_TRACE_DISABLED)


# The settings a template parameter decides: the Deployment field (dotted for Limits) -> the parameter.
# Their defaults above are the parameters' defaults in template.yaml (a unit test holds them equal), so
# code run without the template's environment (tests, `reelstack invoke` of one function) behaves as
# deployed; tests that want another value set the environment variable.
TEMPLATE_PARAMETERS = {
    "limits.max_upload_bytes": "MaxUploadBytes",
    "limits.part_url_seconds": "PartUrlSeconds",
    "presign_credentials": "PresignCredentials",
    "allowed_origin": "AllowedOrigin",
    "requests_per_second": "ClientRequestsPerSecond",
    "max_source_seconds": "MaxSourceSeconds",
    "chunk_seconds": "ChunkSeconds",
    "chunk_concurrency": "ChunkConcurrency",
    "chunk_timeout_seconds": "ChunkTimeoutSeconds",
    "transcode_timeout_seconds": "TranscodeTimeoutSeconds",
    "passthrough": "Passthrough",
    "extras_yield_seconds": "ExtrasYieldSeconds",
    "normalize_audio": "NormalizeAudio",
    "loudness_target_lufs": "LoudnessTarget",
    "true_peak_ceiling_dbtp": "TruePeakCeiling",
    "allow_loopback_urls": "AllowLoopbackUrls",
    "outbox_grace_seconds": "OutboxGraceSeconds",
    "webhooks.retry_schedule": "WebhookRetrySchedule",
    "webhooks.timeout_seconds": "WebhookTimeoutSeconds",
    "webhooks.disable_after_seconds": "WebhookDisableAfterSeconds",
    "webhooks.secret_overlap_seconds": "WebhookSecretOverlapSeconds",
    "speech_model_bucket": "SpeechModelBucket",
    "speech_model_prefix": "SpeechModelPrefix",
    "speech_languages": "SpeechLanguages",
    "speech_model_sha256": "SpeechModelSha256",
}


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    return float(env.get(name) or default)


def named_urls(text: str) -> dict[str, str]:
    """``"ingest=https://... notify=https://..."`` (DEAD_LETTER_QUEUES, the stack's output) -> name -> URL."""
    return dict(pair.split("=", 1) for pair in text.split() if "=" in pair)


def _seconds_list(env: Mapping[str, str], name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    text = env.get(name, "")
    return tuple(float(part) for part in text.split(",") if part.strip()) if text.strip() else default


@cache
def deployment() -> Deployment:
    env = os.environ
    defaults, limits = Deployment(), Limits()
    return Deployment(
        assets_table=env.get("ASSETS_TABLE", defaults.assets_table),
        uploads_table=env.get("UPLOADS_TABLE", defaults.uploads_table),
        devices_table=env.get("DEVICES_TABLE", defaults.devices_table),
        outbox_table=env.get("OUTBOX_TABLE", defaults.outbox_table),
        webhooks_table=env.get("WEBHOOKS_TABLE", defaults.webhooks_table),
        deliveries_table=env.get("WEBHOOK_DELIVERIES_TABLE", defaults.deliveries_table),
        idempotency_table=env.get("IDEMPOTENCY_TABLE", defaults.idempotency_table),
        throttle_table=env.get("THROTTLE_TABLE", ""),
        upload_bucket=env.get("UPLOAD_BUCKET", ""),
        media_bucket=env.get("MEDIA_BUCKET", ""),
        events_topic_arn=env.get("EVENTS_TOPIC_ARN", ""),
        state_machine_arn=env.get("STATE_MACHINE_ARN", ""),
        derive_state_machine_arn=env.get("DERIVE_STATE_MACHINE_ARN", ""),
        derive_function=env.get("DERIVE_FUNCTION_NAME", ""),
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or defaults.region,
        limits=Limits(
            max_upload_bytes=int(_number(env, "MAX_UPLOAD_BYTES", limits.max_upload_bytes)),
            part_url_seconds=int(_number(env, "PART_URL_SECONDS", limits.part_url_seconds)),
        ),
        presign_credentials=env.get("PRESIGN_CREDENTIALS", defaults.presign_credentials),
        push_applications={
            "apns": env.get("APNS_PLATFORM_APPLICATION_ARN", ""),
            "fcm": env.get("FCM_PLATFORM_APPLICATION_ARN", ""),
        },
        auth=AuthSettings(
            dev_secret=env.get("JWT_DEV_SECRET", ""),
            jwks_url=env.get("JWKS_URL", ""),
            issuer=env.get("JWT_ISSUER", ""),
            audience=env.get("JWT_AUDIENCE", ""),
        ),
        playback_secret=env.get("PLAYBACK_SECRET", ""),
        public_api_url=env.get("PUBLIC_API_URL", "").rstrip("/"),
        allowed_origin=env.get("ALLOWED_ORIGIN", defaults.allowed_origin),
        requests_per_second=int(_number(env, "CLIENT_REQUESTS_PER_SECOND", defaults.requests_per_second)),
        max_source_seconds=_number(env, "MAX_SOURCE_SECONDS", defaults.max_source_seconds),
        chunk_seconds=_number(env, "CHUNK_SECONDS", defaults.chunk_seconds),
        chunk_concurrency=int(_number(env, "CHUNK_CONCURRENCY", defaults.chunk_concurrency)),
        chunk_timeout_seconds=_number(env, "CHUNK_TIMEOUT_SECONDS", defaults.chunk_timeout_seconds),
        transcode_timeout_seconds=_number(env, "TRANSCODE_TIMEOUT_SECONDS", defaults.transcode_timeout_seconds),
        passthrough=env.get("PASSTHROUGH", "on" if defaults.passthrough else "off") != "off",
        extras_yield_seconds=_number(env, "EXTRAS_YIELD_SECONDS", defaults.extras_yield_seconds),
        normalize_audio=env.get("NORMALIZE_AUDIO", "on" if defaults.normalize_audio else "off") == "on",
        loudness_target_lufs=_number(env, "LOUDNESS_TARGET", defaults.loudness_target_lufs),
        true_peak_ceiling_dbtp=_number(env, "TRUE_PEAK_CEILING", defaults.true_peak_ceiling_dbtp),
        speech_model_bucket=env.get("SPEECH_MODEL_BUCKET", defaults.speech_model_bucket),
        speech_model_prefix=env.get("SPEECH_MODEL_PREFIX", defaults.speech_model_prefix),
        speech_languages=env.get("SPEECH_LANGUAGES", defaults.speech_languages),
        speech_model_sha256=env.get("SPEECH_MODEL_SHA256", defaults.speech_model_sha256),
        faults=Faults(
            names=frozenset(name for name in env.get("FAULT_INJECTION", "").split(",") if name),
            stall_seconds=_number(env, "FAULT_STALL_SECONDS", Faults.stall_seconds),
        ),
        tool_paths={
            name: env[f"{name.upper()}_PATH"] for name in ("ffmpeg", "ffprobe") if env.get(f"{name.upper()}_PATH")
        },
        dead_letter_queues=named_urls(env.get("DEAD_LETTER_QUEUES", "")),
        allow_loopback_urls=env.get("ALLOW_LOOPBACK_URLS", "off") == "on",
        fetch_function=env.get("FETCH_URL_FUNCTION", ""),
        outbox_grace_seconds=_number(env, "OUTBOX_GRACE_SECONDS", defaults.outbox_grace_seconds),
        webhooks=_webhooks(env),
        tracing=env.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() not in ("1", "true"),
    )


def _webhooks(env: Mapping[str, str]) -> Webhooks:
    defaults = Webhooks()
    return Webhooks(
        retry_schedule=_seconds_list(env, "WEBHOOK_RETRY_SCHEDULE", defaults.retry_schedule),
        timeout_seconds=_number(env, "WEBHOOK_TIMEOUT_SECONDS", defaults.timeout_seconds),
        disable_after_seconds=_number(env, "WEBHOOK_DISABLE_AFTER_SECONDS", defaults.disable_after_seconds),
        secret_overlap_seconds=_number(env, "WEBHOOK_SECRET_OVERLAP_SECONDS", defaults.secret_overlap_seconds),
        deliveries_queue_url=env.get("WEBHOOK_DELIVERIES_QUEUE_URL", ""),
    )
