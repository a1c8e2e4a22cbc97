"""The package's rooms and the one direction of their imports: api -> services -> store and media."""

from __future__ import annotations

import ast

from reelstack_cli.settings import CHECKOUT

PACKAGE = CHECKOUT / "src" / "reelstack"
FOUNDATION = {
    "errors", "config", "ids", "wire", "aws", "bodies", "observability", "idempotency", "paging", "netguard",
}  # fmt: skip
# What each room may import besides the foundation.
ALLOWED = {
    "media": set(),
    "store": set(),
    "uploads": {"store"},
    "push": {"store"},
    "sharing": {"store"},
    "pipeline": {"media", "store", "sharing"},
    "derivatives": {"media", "store", "sharing", "pipeline"},
    "library": {"uploads", "store", "sharing"},
    "toolcheck": {"media", "store"},
    "deadletters": set(),
    "webhooks": {"store"},
    "api": {
        "media",
        "store",
        "uploads",
        "push",
        "pipeline",
        "derivatives",
        "library",
        "sharing",
        "deadletters",
        "webhooks",
    },
}


def _room(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


def test_imports_go_one_way_and_there_are_no_cycles() -> None:
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).with_suffix("")
        room = relative.parts[0] if relative.parts[0] != "__init__" else "__init__"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("reelstack"):
                targets = [node.module] if node.module != "reelstack" else [f"reelstack.{a.name}" for a in node.names]
                for target in targets:
                    other = _room(target)
                    if other == room or other in FOUNDATION:
                        if room in FOUNDATION and other not in FOUNDATION:
                            raise AssertionError(f"{path}: the foundation imports {target}")
                        continue
                    assert room in ALLOWED and other in ALLOWED[room], f"{path}: {room} must not import {target}"


def test_every_room_is_known() -> None:
    rooms = {path.stem if path.is_file() else path.name for path in PACKAGE.iterdir() if path.name != "__pycache__"}
    assert rooms - {"__init__"} == FOUNDATION | set(ALLOWED)
