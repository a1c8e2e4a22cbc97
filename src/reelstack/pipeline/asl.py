"""Reading the state machine's ASL and an execution's history: every state (inside Parallels and Maps
too), the order a reader follows them in, and what happened to each state in one execution.

``outline`` walks the state machine from ``StartAt`` (a Parallel's branches and a Map's iteration
indented, Catch targets after the happy path) into rows; ``execution_rows`` adds each state's outcome
and duration from an execution's history. The drawing of them (SVG, terminal) is presentation and
lives outside the domain, in ``reelstack_draw``.
"""

from __future__ import annotations

from typing import Any


def flows_in(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The flows a state holds: a Parallel's branches, a Map's iteration (none for other states)."""
    return state.get("Branches", []) + [state[key] for key in ("ItemProcessor", "Iterator") if key in state]


def all_states(flow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state of ``flow`` by name, those inside Parallels and Maps included."""
    found = {}
    for name, state in flow["States"].items():
        found[name] = state
        for inner in flows_in(state):
            found.update(all_states(inner))
    return found


def outline(definition: dict[str, Any], depth: int = 0) -> list[dict[str, Any]]:
    """Rows ``{name, type, depth, next, catch}`` in the order a reader follows the machine."""
    states = definition["States"]
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    queue = [definition["StartAt"]]
    later: list[str] = []
    while queue or later:
        name = queue.pop(0) if queue else later.pop(0)
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        following = [state["Next"]] if "Next" in state else []
        following += [choice["Next"] for choice in state.get("Choices", [])]
        following += [state["Default"]] if "Default" in state else []
        catches = [catch["Next"] for catch in state.get("Catch", [])]
        rows.append({"name": name, "type": state["Type"], "depth": depth, "next": following, "catch": catches})
        for branch in flows_in(state):
            rows += outline(branch, depth + 1)
        queue = following + queue
        later += [target for target in catches if target not in later]
    return rows


# How an attempt of a Task ends: True if it succeeded (the events Lambda and other tasks write).
_ATTEMPT_ENDS = {
    "LambdaFunctionSucceeded": True, "TaskSucceeded": True,
    "LambdaFunctionFailed": False, "LambdaFunctionTimedOut": False, "LambdaFunctionStartFailed": False,
    "LambdaFunctionScheduleFailed": False, "TaskFailed": False, "TaskTimedOut": False,
    "TaskStartFailed": False, "TaskSubmitFailed": False,
}  # fmt: skip
_CONTAINER_FAILED = ("ParallelStateFailed", "MapStateFailed", "MapRunFailed")
_EXECUTION_ENDED_BADLY = ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted")


def _owner(event: dict[str, Any], by_id: dict[int, dict[str, Any]]) -> str | None:
    """The state an event belongs to: the nearest StateEntered up its ``previousEventId`` chain (each
    Parallel branch and Map iteration has a chain of its own, so interleaved branches do not mix)."""
    for _ in range(len(by_id) + 1):
        if event["type"].endswith("StateEntered"):
            return event["stateEnteredEventDetails"]["name"]
        event = by_id.get(event.get("previousEventId", -1))  # type: ignore[assignment]
        if event is None:
            return None
    return None


def execution_rows(definition: dict[str, Any], history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The outline with each state's outcome and ms: succeeded; retried (an attempt failed, the last
    one succeeded); failed (its last attempt failed, whether a Catch took over or not; a Parallel or
    Map whose branch failed with no Catch of its own); running; not run."""
    by_id = {event["id"]: event for event in history if "id" in event}
    entered: dict[str, Any] = {}
    seen: dict[str, dict[str, Any]] = {}
    attempts: dict[str, list[bool]] = {}
    broken: set[str] = set()  # containers whose own Failed event came
    current: list[str] = []  # states entered and not exited (for a history without event ids)
    ended_badly = False
    for event in history:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            entered[name] = event["timestamp"]
            seen[name] = {"outcome": "running"}
            current.append(name)
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            seen[name] = {"outcome": "exited", "ms": round((event["timestamp"] - entered[name]).total_seconds() * 1000)}
            if name in current:
                current.remove(name)
        elif kind in _ATTEMPT_ENDS or kind in _CONTAINER_FAILED:
            owner = _owner(event, by_id) if by_id else (current[-1] if current else None)
            if owner and kind in _ATTEMPT_ENDS:
                attempts.setdefault(owner, []).append(_ATTEMPT_ENDS[kind])
            elif owner:
                broken.add(owner)
        elif kind in _EXECUTION_ENDED_BADLY:
            ended_badly = True
    rows = outline(definition)
    states = all_states(definition)
    outcomes: dict[str, dict[str, Any]] = {}
    for row in rows:
        name, state = row["name"], seen.get(row["name"])
        tries = attempts.get(name, [])
        if state is None:
            outcomes[name] = {"outcome": "not run"}
        elif state["outcome"] == "running":
            failed = row["type"] == "Fail" or ended_badly or (tries and not tries[-1])
            outcomes[name] = {"outcome": "failed" if failed else "running"}
        elif row["type"] == "Fail" or name in broken or (tries and not tries[-1]):
            outcomes[name] = {**state, "outcome": "failed"}
        else:
            retried = tries.count(False)
            outcomes[name] = {**state, "outcome": "retried" if retried else "succeeded", "failedAttempts": retried}
    for row in reversed(rows):  # innermost first: a branch's uncaught failure fails its container
        inner = {name for flow in flows_in(states[row["name"]]) for name in all_states(flow)}
        if any(outcomes[n]["outcome"] == "failed" and not states[n].get("Catch") for n in inner):
            outcomes[row["name"]]["outcome"] = "failed"
    return [{**row, **outcomes[row["name"]]} for row in rows]
