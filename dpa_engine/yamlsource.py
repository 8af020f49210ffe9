"""Strict YAML loading that remembers line numbers, and pydantic validation that reports them.

Every input file (deal, provider profile, clause file) goes through here, so every error
names file:line and field.
"""

from __future__ import annotations

import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, SequenceNode

from .errors import DpaError, InputError, did_you_mean

M = TypeVar("M", bound=BaseModel)
Loc = tuple[int | str, ...]


class YamlDocument:
    """A parsed YAML file: plain Python data, and (parsed again only when an error needs a line
    number) the round-trip node tree. The fast C loader does the everyday work."""

    def __init__(self, path: Path, data: Any, text: str) -> None:
        self.path = path
        self.data = data
        self.text = text

    @cached_property
    def tree(self) -> Any:
        # Composing (no construction) with the C parser is fast; nodes carry their marks.
        return YAML(typ="safe").compose(self.text)

    def line_of(self, loc: Loc) -> int | None:
        """1-based line of the node at `loc`, or of its nearest existing ancestor."""
        node = self.tree
        line: int | None = node.start_mark.line + 1 if node is not None else None
        for key in loc:
            if isinstance(node, MappingNode):
                match = next(((k, v) for k, v in node.value if k.value == str(key)), None)
                if match is None:
                    break
                line, node = match[0].start_mark.line + 1, match[1]
            elif isinstance(node, SequenceNode) and isinstance(key, int) and key < len(node.value):
                node = node.value[key]
                line = node.start_mark.line + 1
            else:
                break
        return line


def _plain(node: Any) -> Any:
    """ruamel's round-trip types -> plain dict/list/str/int/float/date."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, datetime.datetime):
        return datetime.datetime.fromisoformat(node.isoformat())
    if isinstance(node, datetime.date):
        return datetime.date(node.year, node.month, node.day)
    return node


def load_yaml(path: Path, *, error: type[DpaError] = InputError) -> YamlDocument:
    """Parse a YAML file strictly (duplicate keys are errors) keeping line numbers."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error("file not found", path=path, fix="check the path") from None
    except UnicodeDecodeError:
        raise error("file is not UTF-8 text", path=path, fix="save it as UTF-8") from None
    except OSError as exc:
        raise error(f"cannot read file ({exc.strerror})", path=path) from None
    return parse_yaml(path, text, error=error)


def parse_yaml(path: Path, text: str, *, error: type[DpaError] = InputError) -> YamlDocument:
    """Parse YAML text that came from `path` (e.g. a snapshot kept in a manifest)."""
    yaml = YAML(typ="safe")
    yaml.allow_duplicate_keys = False
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        if "duplicate key" in problem or "found duplicate key" in str(exc):
            problem = "duplicate key " + problem.split("duplicate key", 1)[-1].strip()
            fix = "keep only one entry for this key"
        else:
            fix = "correct the YAML syntax (indentation, quotes, colons)"
        raise error(problem, path=path, line=line, fix=fix) from None
    return YamlDocument(path=path, data=_plain(data), text=text)


def validate(model: type[M], doc: YamlDocument, *, error: type[DpaError] = InputError) -> M:
    """Validate a YAML document against a pydantic model; the first error names file:line."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise validation_error(exc, doc, model, error=error) from None


def validation_error(
    exc: ValidationError, doc: YamlDocument, model: type[BaseModel], *, error: type[DpaError]
) -> DpaError:
    first = exc.errors()[0]
    loc: Loc = tuple(first["loc"])
    field = ".".join(str(p) for p in loc) or None
    kind = first["type"]
    msg = str(first["msg"])
    fix: str | None = None
    if kind == "extra_forbidden":
        name = str(loc[-1])
        allowed = _allowed_fields(model, loc[:-1], doc.data)
        hint = did_you_mean(name, allowed) if allowed else None
        what = f"unknown field '{name}'"
        fix = hint or (
            "remove it; allowed fields: " + ", ".join(sorted(allowed)) if allowed else "remove it"
        )
    elif kind == "missing":
        what = f"required field '{loc[-1]}' is missing"
        fix = f"add '{loc[-1]}:'"
    else:
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if " — fix: " in msg:
            msg, fix = msg.split(" — fix: ", 1)
        what = msg[0].lower() + msg[1:] if msg else "invalid value"
        if kind in {"model_type", "dict_type"}:
            what = "expected a mapping of fields here"
    return error(what, path=doc.path, line=doc.line_of(loc), field=field, fix=fix)


def _allowed_fields(model: type[BaseModel], loc: Loc, data: Any) -> set[str]:
    """Field names allowed at `loc` inside `model` (best effort, for 'did you mean')."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return set()
        info = current.model_fields.get(str(part))
        if info is None:
            return set()
        current = _inner_model(info.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return {f.alias or n for n, f in current.model_fields.items()}
    return set()


def _inner_model(annotation: Any) -> Any:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
