"""A picture of the pipeline drawn from the ASL itself, and of one execution on top of it.

``outline`` walks the state machine from ``StartAt`` (a Parallel's branches and a Map's iteration
indented, Catch
targets after the happy path) into rows; ``execution_rows`` adds each state's outcome and duration
from an execution's history. The web page draws the rows as boxes; ``render_text`` draws them in a
terminal (``reelstack assets get ID --graph``).
"""

from __future__ import annotations

from typing import Any

ICONS = {"succeeded": "✔", "failed": "✘", "running": "…", "retried": "↻", "not run": "·"}


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
        inner = state.get("Branches", []) + ([state["ItemProcessor"]] if "ItemProcessor" in state else [])
        for branch in inner:  # a Parallel's branches, a Map's iteration
            rows += outline(branch, depth + 1)
        queue = following + queue
        later += [target for target in catches if target not in later]
    return rows


def execution_rows(definition: dict[str, Any], history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The outline with each state's outcome (succeeded, failed, retried, running, not run) and ms."""
    entered: dict[str, Any] = {}
    outcome: dict[str, dict[str, Any]] = {}
    failures: dict[str, int] = {}
    current: list[str] = []
    for event in history:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            entered[name] = event["timestamp"]
            outcome[name] = {"outcome": "running"}
            current.append(name)
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            milliseconds = round((event["timestamp"] - entered[name]).total_seconds() * 1000)
            result = "retried" if failures.get(name) else "succeeded"
            outcome[name] = {"outcome": result, "ms": milliseconds, "failedAttempts": failures.get(name, 0)}
            if name in current:
                current.remove(name)
        elif kind in ("LambdaFunctionFailed", "TaskFailed", "LambdaFunctionTimedOut", "TaskTimedOut"):
            if current:
                failures[current[-1]] = failures.get(current[-1], 0) + 1
        elif kind == "ExecutionFailed":
            for name in current:
                outcome[name] = {"outcome": "failed"}
    rows = []
    for row in outline(definition):
        state = outcome.get(row["name"], {"outcome": "not run"})
        if state["outcome"] == "succeeded" and row["type"] == "Fail":
            state = {**state, "outcome": "failed"}
        rows.append({**row, **state})
    return rows


def render_text(rows: list[dict[str, Any]]) -> str:
    lines = []
    for row in rows:
        indent = "    " * row["depth"]
        icon = ICONS.get(row.get("outcome", ""), " ")
        duration = f"{row['ms']:>7} ms" if "ms" in row else " " * 10
        label = f"{indent}{icon} {row['name']}"
        kind = row["type"].lower()
        catch = f"  (on error: {', '.join(row['catch'])})" if row["catch"] else ""
        lines.append(f"{label:<40} {kind:<9} {row.get('outcome', ''):<10} {duration}{catch}")
    return "\n".join(lines)
