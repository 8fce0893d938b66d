"""Schema errors of a station file that say where and what to do: line and column, and "did you mean" for keys.

pydantic reports a key path (``inspect.devce``); the operator edits a YAML file. This module maps the path
back to the line and column of the YAML node (PyYAML's composed node tree keeps their marks) and, for an
unknown key, suggests the closest allowed key of that section.
"""

from __future__ import annotations

import difflib
import reprlib
from typing import Any

import yaml
from pydantic import BaseModel


def node_marks(text: str) -> dict[tuple[str, ...], tuple[int, int]]:
    """(1-based line, column) of every mapping key and value in a YAML document, by key path."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    marks: dict[tuple[str, ...], tuple[int, int]] = {}

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = (*path, str(key.value))
                marks[here] = (key.start_mark.line + 1, key.start_mark.column + 1)
                walk(value, here)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                here = (*path, str(i))
                marks[here] = (item.start_mark.line + 1, item.start_mark.column + 1)
                walk(item, here)

    if root is not None:
        walk(root, ())
    return marks


def _inner_model(annotation: Any) -> Any:
    """The model inside ``Model``, ``Model | None`` or ``dict[str, Model]``; None for plain values."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return _DictOf(found) if getattr(annotation, "__origin__", None) is dict else found
    return None


class _DictOf:
    """Marks a ``dict[str, Model]`` section: its keys are names, the model applies one level down."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model


def _allowed_keys(model: type[BaseModel], path: tuple[str, ...]) -> list[str]:
    current: Any = model
    for part in path:
        if isinstance(current, _DictOf):
            current = current.model
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return []
        current = _inner_model(current.model_fields[part].annotation)
        if current is None:
            return []
    if isinstance(current, _DictOf):
        return []
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def describe(error: dict[str, Any], model: type[BaseModel], marks: dict[tuple[str, ...], tuple[int, int]]) -> str:
    """One pydantic error as ``line L col C: key.path: message (got ...)``, with a suggestion for unknown keys."""
    path = tuple(str(part) for part in error["loc"])
    location = ".".join(path) or "(top level)"
    shown = "" if error["type"] in ("missing", "curve_key_required", "bundle_key_required", "extra_forbidden") else \
        f" (got {reprlib.repr(error['input'])})"
    message = f"{location}: {error['msg']}{shown}"
    if error["type"] == "extra_forbidden":
        allowed = _allowed_keys(model, path[:-1])
        close = difflib.get_close_matches(path[-1], allowed, n=1, cutoff=0.6)
        message = f"{location}: {error['msg']}"
        message += f"; did you mean '{close[0]}'?" if close else ""
        message += f" (allowed here: {', '.join(allowed)})" if allowed else ""
    probe = path
    while probe and probe not in marks:
        probe = probe[:-1]
    if probe in marks:
        line, column = marks[probe]
        message = f"line {line} col {column}: {message}"
    return message
