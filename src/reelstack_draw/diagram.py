"""A picture of the pipeline drawn from the ASL itself, and of one execution on top of it.

``render_svg`` lays the machine out as a graph and draws it (docs/pipeline.svg; the web page shows it
coloured by an execution); ``render_text`` draws an execution's rows (reelstack.pipeline.asl) in a
terminal (``reelstack assets get ID --graph``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

from reelstack.pipeline.asl import flows_in

ICONS = {"succeeded": "✔", "failed": "✘", "running": "…", "retried": "↻", "not run": "·"}


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


# -- the graph: boxes and arrows laid out from the ASL, drawn as SVG ----------------------------------
#
# A flow (a state machine, a Parallel's branch, a Map's iteration) is a column: its states top to
# bottom along Next. A Choice's targets are columns side by side under it; a Parallel's branches are
# columns side by side inside its box; a Map's iteration sits inside a stacked box (one of many). The
# states a Catch leads to (and what follows them) make a column of their own on the right, reached by
# dashed arrows. Every box keeps the state's name; an execution colours it and adds its duration.

NODE_W, NODE_H = 190, 40
GAP_Y, GAP_X, PAD, HEADER = 30, 26, 12, 24
LANE = 13  # how far right of a box a Catch arrow runs down (within the gap to the next column)
COLOURS = {  # outcome -> (fill, stroke), as the Step Functions console colours an execution
    "succeeded": ("#e3f4e6", "#2a9d48"),
    "failed": ("#fde4e4", "#c62828"),
    "retried": ("#fff3d6", "#c98a00"),
    "running": ("#e0ecfb", "#1e63c6"),
    "not run": ("#f3f3f3", "#9e9e9e"),
    None: ("#ffffff", "#5f6b7a"),
}


@dataclass
class Box:
    name: str
    kind: str  # the state's type
    x: float
    y: float
    w: float
    h: float
    container: bool = False  # a Parallel's or Map's box, drawn around its branches


@dataclass
class Block:
    """A laid-out piece of the graph, at (0, 0): its boxes, its arrows ``(from, to, style)``, the box an
    arrow into it reaches and the boxes arrows out of it leave from."""

    w: float
    h: float
    boxes: list[Box] = field(default_factory=list)
    arrows: list[tuple[str, str, str]] = field(default_factory=list)
    entry: str = ""
    exits: list[str] = field(default_factory=list)

    def moved(self, dx: float, dy: float) -> Block:
        boxes = [Box(b.name, b.kind, b.x + dx, b.y + dy, b.w, b.h, b.container) for b in self.boxes]
        return Block(self.w, self.h, boxes, list(self.arrows), self.entry, list(self.exits))


def _side_by_side(blocks: list[Block]) -> Block:
    """Columns next to each other, tops aligned; every column's entry is an entry, every exit an exit."""
    placed, x = Block(0, 0), 0.0
    for block in blocks:
        moved = block.moved(x, 0)
        placed.boxes += moved.boxes
        placed.arrows += moved.arrows
        placed.exits += moved.exits
        x += block.w + GAP_X
        placed.h = max(placed.h, block.h)
    placed.w = max(0.0, x - GAP_X)
    return placed


def _stacked(blocks: list[Block]) -> Block:
    """Blocks top to bottom, centred, each one's exits joined to the next one's entry."""
    width = max(block.w for block in blocks)
    placed, y = Block(width, 0, entry=blocks[0].entry), 0.0
    for index, block in enumerate(blocks):
        moved = block.moved((width - block.w) / 2, y)
        placed.boxes += moved.boxes
        placed.arrows += moved.arrows
        if index:
            placed.arrows += [(exit_, block.entry, "next") for exit_ in placed.exits]
        placed.exits = moved.exits
        y += block.h + GAP_Y
    placed.h = y - GAP_Y
    return placed


def _state_block(name: str, state: dict[str, Any], taken: set[str]) -> Block:
    kind = state["Type"]
    if kind not in ("Parallel", "Map"):
        return Block(NODE_W, NODE_H, [Box(name, kind, 0, 0, NODE_W, NODE_H)], entry=name, exits=[name])
    inner = _side_by_side([_flow(flow, taken)[0] for flow in flows_in(state)]).moved(PAD, HEADER)
    stack = 6 if kind == "Map" else 0  # the iterations behind the first
    box = Block(inner.w + 2 * PAD + stack, inner.h + HEADER + PAD + stack, entry=name, exits=[name])
    box.boxes = [Box(name, kind, 0, 0, inner.w + 2 * PAD, inner.h + HEADER + PAD, container=True), *inner.boxes]
    box.arrows = inner.arrows
    return box


def _chain(states: dict[str, Any], start: str, taken: set[str]) -> Block | None:
    """The column from ``start`` along Next (a Choice ends it with its targets side by side below).
    A column that reaches a state drawn elsewhere (branches that join again) ends with an arrow to it."""
    blocks: list[Block] = []
    rejoins: list[tuple[str, str, str]] = []
    name, previous = start, None
    while name and name not in taken:
        taken.add(name)
        state = states[name]
        blocks.append(_state_block(name, state, taken))
        if state["Type"] == "Choice":
            targets = [choice["Next"] for choice in state.get("Choices", [])] + [state.get("Default")]
            columns, drawn = [], []
            for target in dict.fromkeys(t for t in targets if t):
                column = _chain(states, target, taken) if target not in taken else None
                (columns.append(column) if column else drawn.append(target))
            rejoins += [(name, target, "next") for target in drawn]
            if columns:
                below = _side_by_side(columns)
                choice = blocks.pop()
                joined = Block(max(choice.w, below.w), NODE_H + GAP_Y + below.h, entry=name)
                joined.boxes = (
                    choice.moved((joined.w - choice.w) / 2, 0).boxes  # the Choice centred over its targets
                    + below.moved((joined.w - below.w) / 2, NODE_H + GAP_Y).boxes
                )
                joined.arrows = below.arrows + [(name, column.entry, "next") for column in columns]
                joined.exits = below.exits
                blocks.append(joined)
            name = None
            break
        previous, name = name, state.get("Next")
    if name and previous:  # stopped at a state already drawn
        rejoins.append((previous, name, "next"))
    if not blocks:
        return None
    column = _stacked(blocks)
    column.arrows += rejoins
    return column


def _flow(definition: dict[str, Any], taken: set[str]) -> tuple[Block, list[tuple[str, str]]]:
    """A flow's main column, and the Catch arrows ``(state, handler)`` of its states."""
    states = definition["States"]
    main = _chain(states, definition["StartAt"], taken) or Block(0, 0)
    catches = [(name, catch["Next"]) for name, state in states.items() for catch in state.get("Catch", [])]
    handlers = [target for _, target in catches if target not in taken]
    side = [column for target in dict.fromkeys(handlers) if (column := _chain(states, target, taken))]
    if side:
        main = _side_by_side([main, *side])
    main.arrows += [(name, target, "catch") for name, target in catches]
    return main, catches


def layout(definition: dict[str, Any]) -> Block:
    block, _ = _flow(definition, set())
    return block.moved(PAD, PAD)


def render_svg(definition: dict[str, Any], outcomes: dict[str, dict[str, Any]] | None = None) -> str:
    """The state machine as an SVG picture; with ``outcomes`` (execution_rows by name), coloured by them."""
    block = layout(definition)
    boxes = {box.name: box for box in block.boxes}
    width, height = block.w + 2 * PAD + LANE, block.h + 2 * PAD
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
        f'height="{height:.0f}" font-family="Helvetica, Arial, sans-serif" font-size="13" role="img" '
        'aria-label="The pipeline\'s state machine">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5f6b7a"/></marker></defs>',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    # Arrows first: a box drawn over an arrow that passes it hides the arrow there.
    for source, target, style in block.arrows:
        parts.append(_draw_arrow(boxes[source], boxes[target], style))
    for box in block.boxes:
        parts += _draw_box(box, (outcomes or {}).get(box.name), outcomes is not None)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _draw_box(box: Box, outcome: dict[str, Any] | None, coloured: bool) -> list[str]:
    state = (outcome or {}).get("outcome", "not run") if coloured else None
    fill, stroke = COLOURS[state]
    label = escape(box.name)
    title = f"<title>{label} ({box.kind}){': ' + state if state else ''}</title>"
    if box.container:
        stacked = [
            f'<rect x="{box.x + offset:.0f}" y="{box.y + offset:.0f}" width="{box.w:.0f}" height="{box.h:.0f}" '
            f'rx="8" fill="{fill}" stroke="{stroke}" stroke-width="1"/>'
            for offset in ((6, 3) if box.kind == "Map" else ())
        ]
        return [
            f'<g class="state container {(state or "").replace(" ", "-")}" data-state="{label}">{title}',
            *stacked,
            f'<rect x="{box.x:.0f}" y="{box.y:.0f}" width="{box.w:.0f}" height="{box.h:.0f}" rx="8" '
            f'fill="{fill}" fill-opacity="0.35" stroke="{stroke}" stroke-dasharray="5 3"/>',
            f'<text x="{box.x + PAD:.0f}" y="{box.y + 17:.0f}" font-weight="bold">{label}</text>',
            f'<text x="{box.x + box.w - PAD:.0f}" y="{box.y + 17:.0f}" text-anchor="end" fill="#5f6b7a">'
            f"{box.kind.lower()}{_duration(outcome)}</text>",
            "</g>",
        ]
    corner = 20 if box.kind in ("Succeed", "Fail") else 6
    return [
        f'<g class="state {(state or "").replace(" ", "-")}" data-state="{label}">{title}',
        f'<rect x="{box.x:.0f}" y="{box.y:.0f}" width="{box.w:.0f}" height="{box.h:.0f}" rx="{corner}" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="{2 if state and state != "not run" else 1}"/>',
        f'<text x="{box.x + box.w / 2:.0f}" y="{box.y + 17:.0f}" text-anchor="middle">{label}</text>',
        f'<text x="{box.x + box.w / 2:.0f}" y="{box.y + 32:.0f}" text-anchor="middle" font-size="11" '
        f'fill="#5f6b7a">{box.kind.lower()}{_duration(outcome)}</text>',
        "</g>",
    ]


def _duration(outcome: dict[str, Any] | None) -> str:
    if not outcome or "ms" not in outcome:
        return ""
    ms = outcome["ms"]
    retried = f", {outcome['failedAttempts']} retried" if outcome.get("failedAttempts") else ""
    return f" · {ms / 1000:.1f} s{retried}" if ms >= 1000 else f" · {ms} ms{retried}"


def _draw_arrow(source: Box, target: Box, style: str) -> str:
    """Next: down from the source's bottom, across, down into the target's top. Catch: dashed, from
    the source's right side along a lane just right of both boxes into the handler's right side."""
    if style == "catch":
        x1, y1 = source.x + source.w, source.y + min(source.h, NODE_H) / 2
        x2, y2 = target.x + target.w, target.y + NODE_H / 2
        lane = max(x1, x2) + LANE
        points = [(x1, y1), (lane, y1), (lane, y2), (x2, y2)]
        colour, dash = "#c62828", ' stroke-dasharray="4 3" stroke-opacity="0.6"'
    else:
        x1, y1 = source.x + source.w / 2, source.y + source.h
        x2, y2 = target.x + target.w / 2, target.y
        middle = y1 + (y2 - y1) / 2 if y2 > y1 else y1 + GAP_Y / 2
        points = [(x1, y1), (x1, middle), (x2, middle), (x2, y2)]
        colour, dash = "#5f6b7a", ""
    path = " ".join(f"{x:.0f},{y:.0f}" for x, y in points)
    return f'<polyline points="{path}" fill="none" stroke="{colour}"{dash} marker-end="url(#arrow)"/>'
