"""The job: one definition, one casing, and every sample state the steps take is one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reelstack.errors import InvalidInput
from reelstack.media.ladder import plan_ladder
from reelstack.media.probe import MediaInfo
from reelstack.pipeline.job import Job, Source
from reelstack_cli.settings import CHECKOUT

STEPS = ("probe", "plan", "transcode", "publish")  # the Derive step's samples: tests/unit/test_derivatives.py


def _keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [*value, *(key for item in value.values() for key in _keys(item))]
    if isinstance(value, list):
        return [key for item in value for key in _keys(item)]
    return []


def test_a_job_crosses_step_functions_as_camel_case_and_comes_back_the_same() -> None:
    media = MediaInfo(duration_seconds=2.0, has_video=True, has_audio=True, width=1280, height=720, frame_rate="30/1")
    job = Job(
        asset_id="01kbbbbbbbbbbbbbbbbbbbbbbb",
        owner_id="alice",
        upload_id="01kaaaaaaaaaaaaaaaaaaaaaaa",
        source=Source(bucket="b", key="sources/alice/x/y", size=10, version_id="v1"),
        media=media,
        plan=plan_ladder(media),
    )
    state = json.loads(json.dumps(job.as_state()))  # as Step Functions stores it
    assert not [key for key in _keys(state) if "_" in key]
    assert state["media"]["durationSeconds"] == 2.0 and state["plan"]["renditions"][0]["videoBitrate"] > 0
    assert "sha256" not in state["source"]  # not declared: left out, not null
    assert Job.from_state(state) == job


@pytest.mark.parametrize("step", STEPS)
def test_every_sample_state_of_a_step_is_a_job(step: str) -> None:
    for path in sorted((CHECKOUT / "events" / step).glob("*.json")):
        state = json.loads(path.read_text())
        job = Job.from_state(state)
        assert not [key for key in _keys({k: v for k, v in state.items() if k != "outputs"}) if "_" in key], path
        if step == "publish":
            assert job.encoded().hls["master"].endswith("master.m3u8") and job.described().has_video


@pytest.mark.parametrize(
    "state",
    [None, [], {}, {"assetId": "../x", "ownerId": "alice", "source": {"bucket": "b", "key": "k", "size": 1}},
     {"assetId": "01kbbbbbbbbbbbbbbbbbbbbbbb", "ownerId": "alice", "source": {"bucket": "b"}}],
)  # fmt: skip
def test_a_malformed_state_is_invalid_input_never_retried(state: Any) -> None:
    with pytest.raises(InvalidInput, match="the job needs"):
        Job.from_state(state)


def test_a_step_before_its_input_exists_says_which_step_is_missing() -> None:
    job = Job.from_state(json.loads((CHECKOUT / "events" / "probe" / "job.json").read_text()))
    with pytest.raises(InvalidInput, match="Probe"):
        job.described()
    with pytest.raises(InvalidInput, match="Encode"):
        job.encoded()


def test_a_job_in_the_old_snake_case_is_refused_by_name() -> None:
    state = json.loads((CHECKOUT / "events" / "plan" / "job-with-media.json").read_text())
    state["media"]["duration_seconds"] = state["media"].pop("durationSeconds")
    with pytest.raises(InvalidInput, match="duration_seconds"):
        Job.from_state(state)
