"""The pipeline as a picture: laid out from the ASL (every state once, nothing on top of anything
else, branches side by side, the Map as a stacked box), coloured by an execution, and
docs/pipeline.svg the same picture as the ASL draws today."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime, timedelta
from typing import Any

from reelstack.pipeline import asl
from reelstack_cli.settings import CHECKOUT, STATE_MACHINE
from reelstack_draw import diagram

SVG = "{http://www.w3.org/2000/svg}"


def definition() -> dict[str, Any]:
    return json.loads(STATE_MACHINE.read_text())


def inside(inner: diagram.Box, outer: diagram.Box) -> bool:
    return (
        outer.x <= inner.x and inner.x + inner.w <= outer.x + outer.w
        and outer.y <= inner.y and inner.y + inner.h <= outer.y + outer.h
    )  # fmt: skip


def overlap(a: diagram.Box, b: diagram.Box) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def test_every_state_is_one_box_and_no_box_sits_on_another_unless_it_contains_it() -> None:
    block = diagram.layout(definition())
    names = [box.name for box in block.boxes]
    assert sorted(names) == sorted(asl.all_states(definition()))
    for index, a in enumerate(block.boxes):
        for b in block.boxes[index + 1 :]:
            if overlap(a, b):
                assert (a.container and inside(b, a)) or (b.container and inside(a, b)), (a.name, b.name)
    boxes = {box.name: box for box in block.boxes}
    for name, state in asl.all_states(definition()).items():  # a Parallel's or Map's states are inside its box
        for inner in asl.flows_in(state):
            assert boxes[name].container and all(inside(boxes[child], boxes[name]) for child in inner["States"])


def test_arrows_follow_the_asl_and_branches_stand_side_by_side() -> None:
    block = diagram.layout(definition())
    boxes = {box.name: box for box in block.boxes}
    arrows = set(block.arrows)
    for name, state in asl.all_states(definition()).items():
        for target in [state.get("Next"), state.get("Default"), *[c["Next"] for c in state.get("Choices", [])]]:
            if target:
                assert (name, target, "next") in arrows
                assert boxes[target].y > boxes[name].y  # the flow runs down the page
        for catch in state.get("Catch", []):
            assert (name, catch["Next"], "catch") in arrows
    encode = definition()["States"]["Encode"]
    starts = [boxes[branch["StartAt"]] for branch in encode["Branches"]]
    assert len({box.y for box in starts}) == 1 and starts[0].x + starts[0].w < starts[1].x  # side by side


class History:
    """An execution's history as Step Functions writes it: numbered events, each pointing at the one
    before it in its own branch (``previousEventId``), the branches' events interleaved."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.at = datetime(2026, 12, 3, tzinfo=UTC)

    def add(self, kind: str, after: int, seconds: float, name: str | None = None) -> int:
        event = {"id": len(self.events) + 1, "previousEventId": after, "type": kind,
                 "timestamp": self.at + timedelta(seconds=seconds)}  # fmt: skip
        if name:
            event["stateEnteredEventDetails" if kind.endswith("Entered") else "stateExitedEventDetails"] = {
                "name": name
            }
        self.events.append(event)
        return event["id"]

    def task(self, name: str, after: int, start: float, ends: list[tuple[str, float]]) -> int:
        """A Task state with one attempt per ``(LambdaFunction<Outcome>, seconds)``; exits at the last."""
        last = self.add("TaskStateEntered", after, start, name)
        for outcome, seconds in ends:
            last = self.add("LambdaFunctionScheduled", last, seconds - 0.01)
            last = self.add(f"LambdaFunction{outcome}", last, seconds)
        return self.add("TaskStateExited", last, ends[-1][1], name)


def outcomes_drawn(rows: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
    picture = ElementTree.fromstring(diagram.render_svg(definition(), {row["name"]: row for row in rows}))
    groups = {group.get("data-state"): group for group in picture.iter(f"{SVG}g")}
    texts = {name: " ".join(text.text or "" for text in group.iter(f"{SVG}text")) for name, group in groups.items()}
    return {name: group.get("class").split()[-1] for name, group in groups.items()}, texts


def test_an_execution_colours_each_state_and_gives_its_duration() -> None:
    """Probe retried once; in Encode's branches (interleaved) a derivative fails for good and its
    Catch goes on to "Not derived from the source", while the transcode fails with no Catch of its
    own: Encode fails, its Catch records the failure."""
    h = History()
    probe = h.task("Probe source", 0, 0, [("Failed", 0.5), ("Succeeded", 1.25)])
    plan = h.task("Plan renditions", probe, 1.25, [("Succeeded", 1.5)])
    encode = h.add("ParallelStateEntered", plan, 1.5, "Encode")
    started = h.add("ParallelStateStarted", encode, 1.5)
    video = h.add("ChoiceStateEntered", started, 1.5, "In chunks?")
    extras = h.add("MapStateEntered", started, 1.5, "Make derivatives")
    video = h.add("ChoiceStateExited", video, 1.5, "In chunks?")
    extras = h.add("MapIterationStarted", extras, 1.5)
    transcode = h.add("TaskStateEntered", video, 1.5, "Transcode HLS ladder")
    derive = h.add("TaskStateEntered", extras, 1.5, "Derive from the source")
    derive = h.add("LambdaFunctionFailed", h.add("LambdaFunctionScheduled", derive, 1.6), 2.0)
    transcode = h.add("LambdaFunctionScheduled", transcode, 1.6)
    derive = h.add("TaskStateExited", derive, 2.0, "Derive from the source")  # caught: recorded as a warning
    derive = h.task("Not derived from the source", derive, 2.0, [("Succeeded", 2.5)])
    h.add("MapStateExited", h.add("MapIterationSucceeded", derive, 2.5), 2.5, "Make derivatives")
    transcode = h.add("LambdaFunctionFailed", transcode, 3.0)
    h.add("ParallelStateFailed", transcode, 3.0)
    encode = h.add("ParallelStateExited", transcode, 3.0, "Encode")
    failure = h.task("Record failure", encode, 3.0, [("Succeeded", 3.1)])
    h.add("ExecutionFailed", h.add("FailStateEntered", failure, 3.1, "Failed"), 3.1)

    outcome, texts = outcomes_drawn(asl.execution_rows(definition(), h.events))
    assert outcome["Probe source"] == "retried" and "1.2 s, 1 retried" in texts["Probe source"]
    assert outcome["Plan renditions"] == "succeeded" and "250 ms" in texts["Plan renditions"]
    assert outcome["Derive from the source"] == "failed" and outcome["Not derived from the source"] == "succeeded"
    assert outcome["Make derivatives"] == "succeeded"  # a derivative's failure is caught inside its iteration
    assert outcome["Transcode HLS ladder"] == outcome["Encode"] == outcome["Failed"] == "failed"
    assert outcome["Record failure"] == "succeeded" and outcome["Publish"] == "not-run"

    # The same derivative failing once and then succeeding on its retry is retried, not failed; and
    # Encode then succeeds.
    h = History()
    extras = h.add("ParallelStateEntered", 0, 0, "Encode")
    h.task("Derive from the source", extras, 0, [("Failed", 1), ("Succeeded", 2)])
    h.add("ParallelStateExited", extras, 3, "Encode")
    outcome, _ = outcomes_drawn(asl.execution_rows(definition(), h.events))
    assert outcome["Derive from the source"] == "retried" and outcome["Encode"] == "succeeded"


def test_docs_pipeline_svg_is_what_the_asl_draws_today() -> None:
    drawn = diagram.render_svg(definition())
    assert (CHECKOUT / "docs" / "pipeline.svg").read_text() == drawn, (
        "docs/pipeline.svg is out of date: run `reelstack diagram --out docs/pipeline.svg`"
    )
    ElementTree.fromstring(drawn)  # well-formed


def test_branches_that_join_again_keep_their_arrows() -> None:
    """A Choice whose branches meet again, and a Catch handler whose column rejoins the main one."""
    choice = [{"Variable": "$.a", "IsPresent": True, "Next": "A"}]
    catch = [{"ErrorEquals": ["States.ALL"], "Next": "Fix"}]
    machine = {
        "StartAt": "Pick",
        "States": {
            "Pick": {"Type": "Choice", "Choices": choice, "Default": "B"},
            "A": {"Type": "Task", "Resource": "x", "Next": "Join", "Catch": catch},
            "B": {"Type": "Task", "Resource": "x", "Next": "Join"},
            "Join": {"Type": "Succeed"},
            "Fix": {"Type": "Pass", "Next": "Join"},
        },
    }  # fmt: skip
    block = diagram.layout(machine)
    assert {("Pick", "A", "next"), ("Pick", "B", "next"), ("A", "Join", "next"), ("B", "Join", "next")} <= set(
        block.arrows
    )
    assert ("A", "Fix", "catch") in block.arrows and ("Fix", "Join", "next") in block.arrows
    assert sorted(box.name for box in block.boxes) == sorted(machine["States"])
    ElementTree.fromstring(diagram.render_svg(machine))
