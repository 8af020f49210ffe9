"""Strict YAML loading that remembers line numbers, and pydantic validation that reports them.

Every input file (deal, provider profile, clause file) goes through here, so every error
names file:line and field.
"""

from __future__ import annotations

import datetime
import os
import re
import stat
import typing
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, NodeEvent
from ruamel.yaml.nodes import MappingNode, SequenceNode

from .errors import DpaError, InputError, did_you_mean
from .safetext import UNSAFE_FIX, describe_character, first_unsafe

M = TypeVar("M", bound=BaseModel)
Loc = tuple[int | str, ...]

# No deal, provider profile or clause file comes near this; a bigger file is a mistake or an
# attack (the whole file is held in memory several times while it is checked).
MAX_INPUT_BYTES = 2 * 1024 * 1024
# Characters a YAML file cannot hold as typed (YAML 1.2's printable set): every character XML
# cannot hold, and DEL and the C1 controls besides. Escaped ("\x07") they are found later.
_UNTYPEABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


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
    return parse_yaml(path, read_input(path, error=error, what="YAML file"), error=error)


def read_input(path: Path, *, error: type[DpaError] = InputError, what: str = "file",
               max_bytes: int = MAX_INPUT_BYTES) -> str:
    """The UTF-8 text of an input file: a regular file (never a device, a pipe or a folder)
    of at most `max_bytes`; every problem is one error naming the file."""
    try:
        info = path.stat()
    except FileNotFoundError:
        kind = "a link to a file that does not exist" if path.is_symlink() else "file not found"
        raise error(kind, path=path, fix="check the path") from None
    except OSError as exc:  # a symlink loop, a path through a file, a name too long
        raise error(f"cannot read file ({exc.strerror})", path=path,
                    fix="check the path") from None
    except ValueError:  # a NUL in the path
        raise error("the path contains a NUL character", path=repr(str(path)),
                    fix="check the path") from None
    if stat.S_ISDIR(info.st_mode):
        raise error("this is a folder, not a file", path=path,
                    fix=f"give the path of a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise error("this is not a regular file (a device, a pipe or a socket)", path=path,
                    fix=f"give the path of a {what} saved on disk")
    if info.st_size > max_bytes:
        raise error(f"file is larger than the limit of {max_bytes // 1024 // 1024} MB",
                    path=path, fix=f"a {what} is far smaller: check that this is the right file")
    try:
        # O_NONBLOCK: a file swapped for a pipe after the check cannot hang the read.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"cannot read file ({exc.strerror})", path=path,
                    fix="check the file's permissions") from None
    if len(raw) > max_bytes:
        raise error(f"file is larger than the limit of {max_bytes // 1024 // 1024} MB",
                    path=path, fix=f"a {what} is far smaller: check that this is the right file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise error("file is not UTF-8 text", path=path, line=line,
                    fix="save it as UTF-8 (in your editor: Save with encoding UTF-8)") from None


def parse_yaml(path: Path, text: str, *, error: type[DpaError] = InputError) -> YamlDocument:
    """Parse YAML text that came from `path` (a file, or a snapshot of one). Refused: text no
    document can hold, anchors and aliases (an input needs none, and they can multiply a small
    file into gigabytes), nesting deeper than Python can walk."""
    typed = _UNTYPEABLE.search(text)
    if typed is not None:
        position, described = typed.start(), describe_character(typed.group())
        raise error(f"contains the invisible character {described}, which no document can "
                    "hold", path=path, line=text.count("\n", 0, position) + 1,
                    field=_field_at(text, position), fix=UNSAFE_FIX)
    yaml = YAML(typ="safe")
    yaml.allow_duplicate_keys = False
    try:
        if "&" in text or "*" in text:
            _refuse_aliases(yaml, text, path, error)
        data = _plain(yaml.load(text))
    except MarkedYAMLError as exc:
        raise _syntax_error(exc, path, text, error) from None
    except YAMLError as exc:
        raise error(f"invalid YAML ({str(exc).splitlines()[0]})", path=path,
                    fix="correct the YAML syntax") from None
    except ValueError as exc:  # e.g. a date that does not exist: 2026-02-30
        line, where = _bad_scalar(text)
        raise error(f"invalid value ({exc})", path=path, line=line, field=where,
                    fix="write dates as YYYY-MM-DD with a real day") from None
    except RecursionError:
        raise error("the file is nested too deeply", path=path,
                    fix="an input file needs only a few levels of indentation") from None
    doc = YamlDocument(path=path, data=data, text=text)
    bad = first_unsafe(data)
    if bad is not None:
        loc, what = bad
        raise error(what, path=path, line=doc.line_of(loc),
                    field=".".join(map(str, loc)) or None, fix=UNSAFE_FIX)
    return doc


def _field_at(text: str, position: int) -> str | None:
    """Key path of the value holding character `position` (best effort, for a message)."""
    def walk(node: Any, loc: list[str]) -> str | None:
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if key.start_mark.index <= position < key.end_mark.index:
                    return ".".join(loc) or None
                found = walk(value, [*loc, str(key.value)])
                if found:
                    return found
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                found = walk(item, [*loc, str(index)])
                if found:
                    return found
        elif node.start_mark.index <= position < node.end_mark.index:
            return ".".join(loc)
        return None

    try:
        tree = YAML(typ="safe").compose(_UNTYPEABLE.sub(" ", text))
        return walk(tree, []) if tree is not None else None
    except (YAMLError, RecursionError):
        return None


def _refuse_aliases(yaml: YAML, text: str, path: Path, error: type[DpaError]) -> None:
    for event in yaml.parse(text):
        if isinstance(event, AliasEvent) or (isinstance(event, NodeEvent) and event.anchor):
            mark = event.start_mark
            kind = "alias" if isinstance(event, AliasEvent) else "anchor"
            raise error(f"YAML {kind} '{event.anchor}' is not allowed in this file", path=path,
                        line=mark.line + 1 if mark else None,
                        fix="write the value out in full instead of '&name' / '*name'")


def _syntax_error(exc: MarkedYAMLError, path: Path, text: str, error: type[DpaError]) -> DpaError:
    problem = (exc.problem or "invalid YAML").strip()
    if "duplicate key" in str(exc):
        mark = exc.problem_mark or exc.context_mark
        return error("duplicate key " + problem.split("duplicate key", 1)[-1].strip(),
                     path=path, line=mark.line + 1 if mark else None,
                     fix="keep only one entry for this key")
    if "tab" in problem or _leading_tab(text, exc.problem_mark):
        mark = exc.problem_mark
        return error("a tab character is used for indentation", path=path,
                     line=mark.line + 1 if mark else None,
                     fix="indent with spaces only, never tabs")
    # An unclosed quote or bracket is noticed far below the line where it began: point there.
    unclosed = exc.context is not None and any(
        word in exc.context for word in ("quoted scalar", "flow sequence", "flow mapping"))
    mark = exc.context_mark if unclosed and exc.context_mark else exc.problem_mark
    if unclosed and exc.context_mark and exc.problem_mark:
        problem = (f"{problem} ({str(exc.context).strip()} that starts here; noticed at line "
                   f"{exc.problem_mark.line + 1})")
    return error(problem, path=path, line=mark.line + 1 if mark else None,
                 fix="correct the YAML syntax: close quotes and brackets, check indentation "
                     "and the colon after each key")


def _leading_tab(text: str, mark: Any) -> bool:
    """Whether the line the parser stopped at is indented with a tab."""
    if mark is None:
        return False
    lines = text.splitlines()
    if not 0 <= mark.line < len(lines):
        return False
    line = lines[mark.line]
    return "\t" in line[: len(line) - len(line.lstrip())]


def _bad_scalar(text: str) -> tuple[int | None, str | None]:
    """Line and key path of the first date-like value that is not a real date."""
    def walk(node: Any, loc: list[str]) -> tuple[int | None, str | None]:
        if isinstance(node, MappingNode):
            for key, value in node.value:
                found = walk(value, [*loc, str(key.value)])
                if found[0]:
                    return found
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                found = walk(item, [*loc, str(index)])
                if found[0]:
                    return found
        elif isinstance(node.value, str) and re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", node.value):
            try:
                datetime.date.fromisoformat("-".join(p.zfill(2) for p in node.value.split("-")))
            except ValueError:
                return node.start_mark.line + 1, ".".join(loc)
        return None, None

    try:
        return walk(YAML(typ="safe").compose(text), [])
    except MarkedYAMLError:
        return None, None


def validate(model: type[M], doc: YamlDocument, *, error: type[DpaError] = InputError) -> M:
    """Validate a YAML document against a pydantic model; the first error names file:line."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise validation_error(exc, doc, model, error=error) from None


def _child(node: Any, part: int | str) -> tuple[bool, Any]:
    if isinstance(node, dict) and part in node:
        return True, node[part]
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return True, node[part]
    return False, None


def _data_loc(error: Any, data: Any) -> Loc:
    """The error's location without the union-member tags pydantic puts in it ('str',
    'constrained-str', 'dict[...]'): only the keys and indexes that exist in the data, plus
    the last key of a missing or unknown field."""
    loc: Loc = tuple(error["loc"])
    kept: list[str | int] = []
    node = data
    for part in loc:
        found, child = _child(node, part)
        if found:
            kept.append(part)
            node = child
    if error["type"] in ("missing", "extra_forbidden") and loc and (not kept or
                                                                   kept[-1] != loc[-1]):
        kept.append(loc[-1])
    return tuple(kept)


def validation_error(
    exc: ValidationError, doc: YamlDocument, model: type[BaseModel], *, error: type[DpaError]
) -> DpaError:
    errors = exc.errors()
    # A misspelt key also makes the real one "missing": name the unknown key first. Otherwise,
    # of the errors a union reports (one per member, e.g. a text or a text per language), the
    # one that reaches deepest into what was written is the one that explains it.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), None) or max(
        errors, key=lambda e: len(_data_loc(e, doc.data)))
    loc: Loc = _data_loc(first, doc.data)
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
        if kind == "string_pattern_mismatch":
            what = f"'{first.get('input')}' does not have the expected format"
        if kind in {"model_type", "dict_type"}:
            what = "expected a mapping of fields here"
        fix = fix or _fix_for(kind, first.get("ctx") or {})
    return error(what, path=doc.path, line=doc.line_of(loc), field=field, fix=fix)


_PATTERN_FIXES = {
    "@": "write an e-mail address such as privacy@example.be",
    "[A-Z]{2}": "write a two-letter ISO country code in capitals, e.g. BE or NL",
    "[a-z0-9]": "write a lower-case id with letters, digits and dashes, e.g. customer-service",
}
_KIND_FIXES = {
    "int_parsing": "write a whole number, e.g. 7",
    "int_type": "write a whole number, e.g. 7",
    "int_from_float": "write a whole number, e.g. 7",
    "decimal_parsing": "write an amount as a number, e.g. 2500",
    "decimal_type": "write an amount as a number, e.g. 2500",
    "float_parsing": "write a number, e.g. 2500",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "string_type": "write text (quote it if it starts with a special character)",
    "list_type": "write a list, e.g. [first, second] or one '- item' per line",
    "model_type": "indent the fields under this key",
    "dict_type": "indent the fields under this key",
    "literal_error": "use one of the values listed",
    "enum": "use one of the values listed",
    "date_parsing": "write the date as YYYY-MM-DD",
    "date_from_datetime_parsing": "write the date as YYYY-MM-DD",
    "date_type": "write the date as YYYY-MM-DD",
    "too_short": "add at least one entry",
    "string_too_short": "fill in this value",
}


def _fix_for(kind: str, ctx: dict[str, Any]) -> str:
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return next((fix for key, fix in _PATTERN_FIXES.items() if key in pattern),
                    f"match the format {pattern}")
    if kind in {"greater_than_equal", "greater_than"}:
        return f"use a value of at least {ctx.get('ge', ctx.get('gt'))}"
    if kind in {"less_than_equal", "less_than"}:
        return f"use a value of at most {ctx.get('le', ctx.get('lt'))}"
    return _KIND_FIXES.get(kind, "correct the value")


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
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
