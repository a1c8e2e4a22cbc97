"""The pipeline as a picture: laid out from the ASL (every state once, nothing on top of anything
else, branches side by side, the Map as a stacked box), coloured by an execution, and
docs/pipeline.svg the same picture as the ASL draws today."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime, timedelta
from typing import Any

from reelstack.pipeline import diagram
from reelstack_cli.settings import CHECKOUT, STATE_MACHINE

SVG = "{http://www.w3.org/2000/svg}"


def definition() -> dict[str, Any]:
    return json.loads(STATE_MACHINE.read_text())


def all_states(flow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, state in flow["States"].items():
        found.append((name, state))
        for inner in state.get("Branches", []) + [state[key] for key in ("ItemProcessor", "Iterator") if key in state]:
            found += all_states(inner)
    return found


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
    assert sorted(names) == sorted(name for name, _ in all_states(definition()))
    for index, a in enumerate(block.boxes):
        for b in block.boxes[index + 1 :]:
            if overlap(a, b):
                assert (a.container and inside(b, a)) or (b.container and inside(a, b)), (a.name, b.name)
    boxes = {box.name: box for box in block.boxes}
    for name, state in all_states(definition()):  # a Parallel's or Map's states are inside its box
        for inner in state.get("Branches", []) + ([state["ItemProcessor"]] if "ItemProcessor" in state else []):
            assert boxes[name].container and all(inside(boxes[child], boxes[name]) for child in inner["States"])


def test_arrows_follow_the_asl_and_branches_stand_side_by_side() -> None:
    block = diagram.layout(definition())
    boxes = {box.name: box for box in block.boxes}
    arrows = set(block.arrows)
    for name, state in all_states(definition()):
        for target in [state.get("Next"), state.get("Default"), *[c["Next"] for c in state.get("Choices", [])]]:
            if target:
                assert (name, target, "next") in arrows
                assert boxes[target].y > boxes[name].y  # the flow runs down the page
        for catch in state.get("Catch", []):
            assert (name, catch["Next"], "catch") in arrows
    encode = definition()["States"]["Encode"]
    starts = [boxes[branch["StartAt"]] for branch in encode["Branches"]]
    assert len({box.y for box in starts}) == 1 and starts[0].x + starts[0].w < starts[1].x  # side by side


def test_an_execution_colours_each_state_and_gives_its_duration() -> None:
    at = datetime(2026, 12, 3, tzinfo=UTC)

    def event(kind: str, name: str, seconds: float) -> dict[str, Any]:
        details = "stateEnteredEventDetails" if kind.endswith("Entered") else "stateExitedEventDetails"
        return {"type": kind, "timestamp": at + timedelta(seconds=seconds), details: {"name": name}}

    history = [
        event("TaskStateEntered", "Probe source", 0),
        event("TaskStateExited", "Probe source", 1.25),
        event("TaskStateEntered", "Plan renditions", 1.25),
        {"type": "LambdaFunctionFailed", "timestamp": at + timedelta(seconds=1.3)},
        event("TaskStateExited", "Plan renditions", 1.5),  # retried, then done
        event("ParallelStateEntered", "Encode", 1.5),
        {"type": "LambdaFunctionFailed", "timestamp": at + timedelta(seconds=1.7)},
        event("ParallelStateExited", "Encode", 2),  # failed for good: its Catch takes over
        event("TaskStateEntered", "Record failure", 2),
        event("TaskStateExited", "Record failure", 2.1),
        event("FailStateEntered", "Failed", 2.1),
        event("FailStateExited", "Failed", 2.1),
    ]
    rows = {row["name"]: row for row in diagram.execution_rows(definition(), history)}
    picture = ElementTree.fromstring(diagram.render_svg(definition(), rows))
    groups = {group.get("data-state"): group for group in picture.iter(f"{SVG}g")}
    outcome = {name: group.get("class").split()[-1] for name, group in groups.items()}
    assert outcome["Probe source"] == "succeeded" and outcome["Plan renditions"] == "retried"
    assert outcome["Encode"] == outcome["Failed"] == "failed" and outcome["Publish"] == "not-run"
    texts = {name: " ".join(text.text or "" for text in group.iter(f"{SVG}text")) for name, group in groups.items()}
    assert "1.2 s" in texts["Probe source"] and "250 ms, 1 retried" in texts["Plan renditions"]
    fills = {name: group.find(f"{SVG}rect").get("fill") for name, group in groups.items()}
    assert fills["Probe source"] != fills["Failed"] != fills["Publish"]


def test_docs_pipeline_svg_is_what_the_asl_draws_today() -> None:
    drawn = diagram.render_svg(definition())
    assert (CHECKOUT / "docs" / "pipeline.svg").read_text() == drawn, (
        "docs/pipeline.svg is out of date: run `reelstack diagram --out docs/pipeline.svg`"
    )
    ElementTree.fromstring(drawn)  # well-formed
