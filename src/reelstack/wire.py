"""The JSON shape of the package's dataclasses where they leave Python (the Step Functions job, events):
one casing, camelCase, as in the contract. Python keeps its snake_case names."""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass
from typing import Any

_UPPER = re.compile(r"[A-Z]")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake(name: str) -> str:
    return _UPPER.sub(lambda match: "_" + match.group(0).lower(), name)


def as_wire(value: Any) -> Any:
    """Dataclasses (recursively, also inside lists and dicts) as plain JSON with camelCase keys."""
    if is_dataclass(value) and not isinstance(value, type):
        return {camel(item.name): as_wire(getattr(value, item.name)) for item in fields(value)}
    if isinstance(value, list | tuple):
        return [as_wire(item) for item in value]
    if isinstance(value, dict):
        return {key: as_wire(item) for key, item in value.items()}
    return value


def known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The camelCase ``data`` as keyword arguments of dataclass ``cls``. Keys it does not know are left
    out; a snake_case key is refused, so that a producer in the wrong casing fails here, by name."""
    names = {item.name for item in fields(cls)}
    wrong = sorted(key for key in data if "_" in key)
    if wrong:
        raise ValueError(f"{cls.__name__}: keys must be camelCase, not {', '.join(wrong)}")
    return {snake(key): value for key, value in data.items() if snake(key) in names}
