"""Request bodies of the HTTP API, validated with pydantic: routes parse them (``parse_body``) and
services take the typed result. Also the source of the OpenAPI schemas."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from reelstack.config import Limits
from reelstack.errors import BodyTooLarge, InvalidInput

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _whole_number(value: object) -> object:
    """JSON has one kind of number: 7.0 is the integer 7 (JSON Schema's "integer" says so too)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# An integer as JSON writes it (7 or 7.0), never a string or a boolean. (Constraints go before the
# BeforeValidator, or pydantic leaves them out of the JSON schema.)
_AS_INTEGER = BeforeValidator(_whole_number)
Title = Annotated[str, Field(max_length=200)]
Description = Annotated[str, Field(max_length=5000)]
Tag = Annotated[str, Field(min_length=1, max_length=50)]
PartNumber = Annotated[StrictInt, Field(ge=1, le=Limits.max_parts), _AS_INTEGER]
PartBatch = Field(min_length=1, max_length=Limits.max_batch_parts)
# A download's name (reelstack.derivatives: highest, audio, ...); the service refuses unknown ones.
DownloadName = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9-]+$")]
DOWNLOADS_DESCRIPTION = "Downloads to make (docs/api.md, Downloads): highest (MP4), audio (M4A)...; none by default"


# The largest body any route needs is a complete of 10,000 parts (about 700 kB); nothing it takes
# nests deeper than 3 levels. Both bounds leave room and stop a body built to exhaust the parser.
MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 16


class _Body(BaseModel):
    # A misspelt field is refused by name (UnknownField) rather than silently ignored.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _optional_not_null(schema: dict[str, Any]) -> None:
    """The schema of a body whose fields may be left out but never be null (``X | SkipJsonSchema[None]``
    fields, refused when null): no ``default: null`` to suggest sending one."""
    for field in schema["properties"].values():
        field.pop("default", None)


class GeneratedCaptions(_Body):
    """Captions generated from the video's speech (``POST /uploads`` ``generatedCaptions``, ``POST
    /assets/{id}/tracks/generate``): a text track ``source: "generated"`` in this language."""

    language_code: Annotated[
        str,
        Field(
            alias="languageCode",
            pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}$",
            description="The language spoken (BCP 47); one of the deployment's SpeechLanguages (en by default)",
        ),
    ]


GENERATED_CAPTIONS_DESCRIPTION = (
    "A caption track generated from the speech once the asset is ready (a text track, source generated; "
    "asset.track.ready or asset.track.failed when done)"
)


class CreateUpload(_Body):
    filename: Annotated[str, Field(min_length=1, max_length=4096)]
    # The service refuses 0 (EmptyUpload) and sizes over the deployment's limit (413, UploadTooLarge).
    size: Annotated[StrictInt, Field(json_schema_extra={"minimum": 1}), _AS_INTEGER]
    content_type: Annotated[
        str,
        Field(
            alias="contentType",
            min_length=1,
            max_length=255,
            description="Any video/* or audio/* type, or application/octet-stream (else 415); "
            "the pipeline decides what the file is by its content.",
        ),
    ]
    title: Title | None = None
    description: Description | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] | None = None
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | None = None
    # Extension: "SHA256" makes every part URL carry a signed checksum that S3 verifies on upload.
    checksum_algorithm: Literal["SHA256"] | None = Field(default=None, alias="checksumAlgorithm")
    normalize_audio: StrictBool | None = Field(
        default=None,
        alias="normalizeAudio",
        description="Even out the audio's loudness (EBU R128) to the deployment's target (LoudnessTarget, "
        "TruePeakCeiling); absent: the deployment's NormalizeAudio.",
    )
    downloads: Annotated[list[DownloadName], Field(max_length=10, description=DOWNLOADS_DESCRIPTION)] | None = None
    generated_captions: GeneratedCaptions | None = Field(
        default=None, alias="generatedCaptions", description=GENERATED_CAPTIONS_DESCRIPTION
    )
    # -- issue 31: extensions for stock clients (Uppy) --
    method: Literal["PUT", "POST"] | None = Field(
        default=None,
        description="One request instead of parts, for a file of at most SingleRequestMaxBytes (100 MiB): the "
        "answer's method, url and headers (PUT) or fields (POST form); the object's arrival completes the upload.",
    )
    part_size: Annotated[StrictInt, Field(ge=Limits.min_part_bytes, le=Limits.max_part_bytes), _AS_INTEGER] | None = (
        Field(
            default=None,
            alias="partSize",
            description="The part size the client chose (S3's bounds: 5 MiB to 5 GiB, at most 10,000 parts); "
            "absent: the server's (8 MiB, more past 10,000 parts).",
        )
    )

    @model_validator(mode="after")
    def _one_request_has_no_parts(self) -> CreateUpload:
        if self.method and (self.part_size is not None or self.checksum_algorithm):
            raise ValueError("method (one request) takes no partSize or checksumAlgorithm: those are for parts")
        return self

    @field_validator("sha256")
    @classmethod
    def _lowercase_hex(cls, value: str | None) -> str | None:
        return value.lower() if value else value

    @field_validator("filename", mode="before")
    @classmethod
    def _undecodable_bytes_become_replacement_characters(cls, value: object) -> object:
        # A name that was not UTF-8 on the phone arrives as JSON lone surrogates (\udcxx).
        return _LONE_SURROGATE.sub("\ufffd", value) if isinstance(value, str) else value


class CreateUploadFromUrl(_Body):
    """POST /uploads with ``url`` instead of a file: the server fetches the video (https, a public
    address; reelstack.uploads.fetch)."""

    url: Annotated[str, Field(min_length=1, max_length=2048, description="https, on a public address")]
    title: Title | None = None
    description: Description | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] | None = None
    normalize_audio: StrictBool | None = Field(default=None, alias="normalizeAudio")
    downloads: Annotated[list[DownloadName], Field(max_length=10, description=DOWNLOADS_DESCRIPTION)] | None = None
    generated_captions: GeneratedCaptions | None = Field(
        default=None, alias="generatedCaptions", description=GENERATED_CAPTIONS_DESCRIPTION
    )


def parse_create_upload(raw: bytes | str | None) -> CreateUpload | CreateUploadFromUrl:
    """POST /uploads: a file the client sends (CreateUpload), or a URL the server fetches."""
    document = read_json(raw)
    model = CreateUploadFromUrl if isinstance(document, dict) and "url" in document else CreateUpload
    return parse_body(model, raw)


class PartChecksum(_Body):
    part_number: PartNumber = Field(alias="partNumber")
    # Padded base64 of 32 bytes: exactly what base64.b64decode(validate=True) turns into 32 bytes.
    checksum_sha256: str = Field(
        alias="checksumSHA256", pattern=r"^[A-Za-z0-9+/]{43}=$", description="base64 of the part's SHA-256 digest"
    )


def _one_of_part_numbers_or_parts(schema: dict[str, Any]) -> None:
    _optional_not_null(schema)
    schema["oneOf"] = [{"required": ["partNumbers"]}, {"required": ["parts"]}]


class RequestParts(_Body):
    model_config = ConfigDict(json_schema_extra=_one_of_part_numbers_or_parts)

    part_numbers: Annotated[list[PartNumber], PartBatch] | SkipJsonSchema[None] = Field(
        default=None, alias="partNumbers"
    )
    # Extension for uploads created with checksumAlgorithm: the checksum each part URL must carry.
    parts: Annotated[list[PartChecksum], PartBatch] | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _one_of(self) -> RequestParts:
        sent = [name for name in ("part_numbers", "parts") if name in self.model_fields_set]
        if len(sent) != 1 or getattr(self, sent[0]) is None:
            raise ValueError("send either partNumbers or parts (with checksumSHA256), not both or neither")
        return self


class CompletedPart(_Body):
    part_number: PartNumber = Field(alias="partNumber")
    etag: Annotated[str, Field(alias="etag", min_length=1, max_length=200)]


class CompleteUpload(_Body):
    parts: Annotated[list[CompletedPart], Field(min_length=1, max_length=Limits.max_parts)]


class CompanionCreate(BaseModel):
    """Companion's ``POST /s3/multipart`` as Uppy sends it. Lenient (Uppy versions add fields), and
    only display data: the server decides the key and checks the type."""

    model_config = ConfigDict(extra="ignore")
    filename: Annotated[str, Field(min_length=1, max_length=4096)]
    type: Annotated[str, Field(max_length=255)] | None = None
    metadata: dict[str, Any] | None = None


class CompanionPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    part_number: PartNumber = Field(alias="PartNumber")
    etag: Annotated[str, Field(alias="ETag", min_length=1, max_length=200)]


class CompanionComplete(BaseModel):
    """Companion's ``POST /s3/multipart/{uploadId}/complete``: ``{parts: [{PartNumber, ETag}]}``."""

    model_config = ConfigDict(extra="ignore")
    parts: Annotated[list[CompanionPart], Field(min_length=1, max_length=Limits.max_parts)]


def _at_least_one_change(schema: dict[str, Any]) -> None:
    _optional_not_null(schema)
    schema["minProperties"] = 1


class AssetChanges(BaseModel):
    """PATCH /assets/{id}: only these fields, none null; anything else is refused rather than ignored."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_at_least_one_change)

    title: Title | SkipJsonSchema[None] = None
    description: Description | SkipJsonSchema[None] = None
    tags: Annotated[list[Tag], Field(max_length=20)] | SkipJsonSchema[None] = None
    visibility: Literal["private", "public"] | SkipJsonSchema[None] = None
    public_downloads: StrictBool | SkipJsonSchema[None] = Field(
        default=None, alias="publicDownloads", description="Whether the public view lists the downloads (false)"
    )
    poster_time: Annotated[float, Field(ge=0, le=86400)] | SkipJsonSchema[None] = Field(
        default=None, alias="posterTime", description="The cover: the frame at this second becomes the poster"
    )

    @model_validator(mode="after")
    def _something(self) -> AssetChanges:
        if not self.model_fields_set:
            raise ValueError("send at least one of title, description, tags, visibility, publicDownloads, posterTime")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class RequestDownloads(_Body):
    """POST /assets/{id}/downloads: downloads of a ready asset, made from its renditions."""

    names: Annotated[list[DownloadName], Field(min_length=1, max_length=10, description=DOWNLOADS_DESCRIPTION)]


def _one_of_content_or_filename(schema: dict[str, Any]) -> None:
    _optional_not_null(schema)
    schema["oneOf"] = [{"required": ["content"]}, {"required": ["filename"]}]


class AddTrack(_Body):
    """POST /assets/{id}/tracks: a caption file, given inline (``content``, UTF-8 text) or sent afterwards
    with the presigned PUT the answer carries (``filename``, bytes in any encoding)."""

    model_config = ConfigDict(json_schema_extra=_one_of_content_or_filename)

    language_code: Annotated[
        str,
        Field(
            alias="languageCode",
            pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}$",
            description="BCP 47: en, fr, pt-BR (ISO 639-2 codes become 639-1)",
        ),
    ]
    name: Annotated[str, Field(min_length=1, max_length=100)] | SkipJsonSchema[None] = Field(
        default=None, description="What players' menus show; the language's name by default"
    )
    kind: Literal["subtitles", "captions"] | SkipJsonSchema[None] = Field(
        default=None, description="captions also describe sounds (for deaf viewers); subtitles by default"
    )
    content: Annotated[str, Field(min_length=1, max_length=1024 * 1024)] | SkipJsonSchema[None] = Field(
        default=None, description="SRT or WebVTT text, at most 1 MiB"
    )
    filename: Annotated[str, Field(min_length=1, max_length=255)] | SkipJsonSchema[None] = Field(
        default=None, description="Display only: the answer's uploadUrl takes the file (any encoding, at most 2 MiB)"
    )

    @field_validator("name", mode="before")
    @classmethod
    def _undecodable_bytes_become_replacement_characters(cls, value: object) -> object:
        return _LONE_SURROGATE.sub("\ufffd", value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_of(self) -> AddTrack:
        sent = [name for name in ("content", "filename") if name in self.model_fields_set]
        if len(sent) != 1 or getattr(self, sent[0]) is None:
            raise ValueError("send either content (the captions) or filename (then PUT the file), not both or neither")
        for name in ("name", "kind"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


# APNs device tokens are 32 bytes of hex today (Apple allows them to grow); FCM registration tokens
# are opaque text of letters, digits and ``_:-`` (about 160 characters today).
_TOKEN_SHAPES = {"apns": re.compile(r"^[0-9a-fA-F]{64,200}$"), "fcm": re.compile(r"^[A-Za-z0-9_:\-]{32,4096}$")}


class RegisterDevice(_Body):
    """POST /devices: a phone's push token from APNs (iOS) or FCM (Android)."""

    # The token's shape for its platform, in the description too.
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"properties": {"platform": {"const": platform}, "token": {"pattern": shape.pattern}}}
                for platform, shape in _TOKEN_SHAPES.items()
            ]
        }
    )
    platform: Literal["apns", "fcm"]
    token: Annotated[str, Field(min_length=1, max_length=4096)]

    @model_validator(mode="after")
    def _token_has_the_platforms_shape(self) -> RegisterDevice:
        if not _TOKEN_SHAPES[self.platform].match(self.token):
            shape = "64-200 hex digits" if self.platform == "apns" else "32-4096 of A-Z a-z 0-9 _ : -"
            raise ValueError(f"token: not a {self.platform} device token ({shape})")
        if self.platform == "apns":
            self.token = self.token.lower()
        return self


EventName = Annotated[str, Field(min_length=1, max_length=64)]
WebhookUrl = Annotated[str, Field(min_length=1, max_length=2048, description="https, on a public address")]
WebhookEvents = Annotated[
    list[EventName],
    Field(min_length=1, max_length=20, description="Event types to receive (asset.ready, ...); absent: all"),
]


class CreateWebhook(_Body):
    """POST /webhooks: where the owner's events go (reelstack.webhooks.endpoints checks the URL)."""

    url: WebhookUrl
    events: WebhookEvents | None = None
    description: Annotated[str, Field(max_length=500)] | None = None


class UpdateWebhook(_Body):
    """PATCH /webhooks/{id}: ``events: null`` means every event; ``enabled: true`` turns a disabled
    endpoint back on."""

    url: WebhookUrl | None = None
    events: WebhookEvents | None = None
    description: Annotated[str, Field(max_length=500)] | None = None
    enabled: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> UpdateWebhook:
        if not self.model_fields_set:
            raise ValueError("send at least one of url, events, description, enabled")
        for name in self.model_fields_set - {"events", "description"}:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


def _depth(document: Any) -> int:
    """How deeply arrays and objects nest in a parsed document (iterative: no recursion to exhaust)."""
    deepest, pending = 0, [(document, 1)]
    while pending:
        value, level = pending.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is not None:
            deepest = max(deepest, level)
            pending.extend((child, level + 1) for child in children)
    return deepest


def read_json(raw: bytes | str | None, what: str = "the body") -> Any:
    """JSON from a client, bounded in size and depth; :class:`InvalidInput` for anything else."""
    if raw is not None and len(raw) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"{what} is over {MAX_BODY_BYTES // 1024} KiB")
    try:
        document: Any = json.loads(raw or b"")
    except RecursionError as error:
        raise InvalidInput(f"{what} nests deeper than {MAX_DEPTH} levels", code="InvalidJson") from error
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidInput(f"{what} is not valid JSON (UTF-8): {error}", code="InvalidJson") from error
    if _depth(document) > MAX_DEPTH:
        raise InvalidInput(f"{what} nests deeper than {MAX_DEPTH} levels", code="InvalidJson")
    return document


def parse_body[M: BaseModel](model: type[M], raw: bytes | str | None) -> M:
    """The request body as ``model``, or :class:`InvalidInput` that names each bad field."""
    document = read_json(raw)
    if not isinstance(document, dict):
        raise InvalidInput("the body must be a JSON object", code="InvalidJson")
    try:
        return model.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or 'body'}: {issue['msg']}" for issue in error.errors()
        )
        kinds = {issue["type"] for issue in error.errors()}
        code = (
            "MissingField" if "missing" in kinds else "UnknownField" if "extra_forbidden" in kinds else "InvalidField"
        )
        raise InvalidInput(problems, code=code) from error
