"""The deployed API against its own description (docs/openapi.json), with schemathesis.

Every operation gets generated requests, valid and invalid (schemathesis' examples, coverage and fuzzing
phases), sent to the local cloud; each answer must be no 5xx, a documented status code, a documented
content type, and match the documented schema. Test data (a ready asset, an upload in progress, a
registered phone) lets half of the generated requests name things that exist, so they get past the 404.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import schemathesis
import urllib3
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from reelstack_cli.api_client import ApiClient
from reelstack_cli.settings import CHECKOUT
from tests.integration.conftest import Stack, api_for, upload_ready_clip

pytestmark = pytest.mark.localcloud

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261204,  # with derandomize below: the same requests on every run, in CI too
        "phases": {"stateful": {"enabled": False}},  # the fixtures below make the resources instead
    }
)
SCHEMA = schemathesis.openapi.from_path(CHECKOUT / "docs" / "openapi.json", config=CONFIG)
http = urllib3.PoolManager(retries=False)


class Target:
    """Where the tests send requests and what exists there (set by the ``target`` fixture)."""

    base_url = ""
    token = ""
    known: dict[str, dict[str, str]] = {}  # noqa: RUF012 - filled once per session


@SCHEMA.auth(refresh_interval=None)
class DevelopmentToken:
    """The tester's development JWT, on every request that does not leave it out on purpose."""

    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str:
        return Target.token

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(scope="module")
def target(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[type[Target]]:
    tester = api_for(stack, "contract-tester")
    ready = upload_ready_clip(tester, tmp_path_factory.mktemp("contract"))
    tester.patch(f"/assets/{ready['assetId']}", {"visibility": "public"})  # the share page shows it
    token, rendition, segment = _playback_names(tester, ready["assetId"])
    declared = {"filename": "later.mp4", "size": 8 * 1024 * 1024, "contentType": "video/mp4"}
    resumable, to_abort, to_delete = (tester.post("/uploads", declared) for _ in range(3))
    device = tester.post("/devices", {"platform": "apns", "token": "ab" * 32})
    shared = {"asset_id": ready["assetId"], "upload_id": resumable["uploadId"], "token": token}
    Target.base_url, Target.token = stack.outputs["apiUrl"], tester.token
    Target.known = {
        "": {**shared, "rendition": rendition, "segment": segment, "file": "poster.jpg", "name": "app.js"},
        # The destructive operations get things of their own, so the others keep theirs.
        "abortUpload": {"upload_id": to_abort["uploadId"]},
        "deleteAsset": {"asset_id": to_delete["assetId"]},
        "removeDevice": {"device_id": device["deviceId"]},
    }
    yield Target


def _playback_names(api: ApiClient, asset_id: str) -> tuple[str, str, str]:
    """The playback token of a ready asset, its first rendition and that rendition's first segment."""
    hls = api.get(f"/assets/{asset_id}/playback")["hls"]
    token = re.search(r"/playback/([^/]+)/master\.m3u8", hls).group(1)
    master = http.request("GET", hls).data.decode()
    rendition = next(line for line in master.splitlines() if line and not line.startswith("#")).split("/")[0]
    media = http.request("GET", hls.replace("master.m3u8", f"{rendition}/index.m3u8")).data.decode()
    segment = next(line for line in media.splitlines() if line and not line.startswith("#")).split("?")[0]
    return token, rendition, segment.rsplit("/", 1)[-1]


@SCHEMA.parametrize()
@SCHEMA.given(existing=st.booleans())
@settings(max_examples=8, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_as_its_description_says(case: schemathesis.Case, existing: bool, target: type[Target]) -> None:
    if existing and case.path_parameters and not case.meta.is_negative_at("path"):
        known = {**target.known[""], **target.known.get(case.operation.definition.raw["operationId"], {})}
        case.path_parameters = {name: known.get(name, value) for name, value in case.path_parameters.items()}
    case.call_and_validate(base_url=target.base_url)
