"""Strict YAML parsing that remembers line numbers: duplicate keys, aliases, untypeable
characters and impossible dates are refused with file:line and the field."""

from __future__ import annotations

import datetime
import re
from functools import cached_property
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, NodeEvent
from ruamel.yaml.nodes import MappingNode, SequenceNode

from ..errors import DpaError, InputError
from ..safetext import UNSAFE_FIX, describe_character, first_unsafe
from .reading import read_input

Loc = tuple[int | str, ...]

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

