"""Read template.yaml (CloudFormation's YAML with its short-form tags) into plain data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_FN_TAGS = {
    "Base64",
    "Cidr",
    "FindInMap",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "And",
    "Equals",
    "Not",
    "Or",
    "Length",
    "ToJsonString",
}


class _TemplateLoader(yaml.SafeLoader):
    pass


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt":
        return {"Fn::GetAtt": value.split(".", 1) if isinstance(value, str) else value}
    if tag_suffix in _FN_TAGS:
        return {f"Fn::{tag_suffix}": value}
    raise yaml.constructor.ConstructorError(None, None, f"unknown CloudFormation tag !{tag_suffix}", node.start_mark)


_TemplateLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    with open(path) as source:
        return yaml.load(source, Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template.get("Resources", {}).items() if r.get("Type") == resource_type}


def function_layers(template: dict[str, Any], function_name: str) -> list[str]:
    """Logical ids of the layers a function gets: the Globals' first, then its own (SAM's merge)."""
    global_layers = template.get("Globals", {}).get("Function", {}).get("Layers", [])
    own = template["Resources"][function_name].get("Properties", {}).get("Layers", [])
    return [layer["Ref"] for layer in [*global_layers, *own] if isinstance(layer, dict) and "Ref" in layer]
