"""The sandboxed template environment clause texts are rendered in.

Clause texts are trusted to legal, yet still sandboxed: no attribute access to Python
internals, and undefined names are errors. Values inserted into a text are data: they are
never parsed as template code, and line breaks inside them are flattened.

A text is also bounded: it cannot loop, include or import other templates, or define macros
(refused when the library loads); it cannot raise a number to a power; no operation (`*`,
`%`, str.center and the like) may produce more than MAX_TEXT_LENGTH characters, and no
rendered text may be longer than that either. Only a few harmless filters exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes, pass_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .. import locale

# Marks a cross-reference in rendered text; resolved to a numbered Word field by assembly.
# Control characters cannot come from input (models refuse them), so the marker is unambiguous.
REF_OPEN = "\x02ref:"
REF_CLOSE = "\x03"
REF_PATTERN = re.compile("\x02ref:([^\x03]*)\x03")


@pass_context
def _money(context: Context, value: Decimal | int | float) -> str:
    return locale.money(value, context["language"])


def flatten(value: Any) -> Any:
    """Finalize hook: a value printed into a clause is one line of plain text."""
    if isinstance(value, str):
        return " ".join(value.split()) if "\n" in value or "\r" in value else value
    return value


MAX_TEXT_LENGTH = 1_000_000
# Jinja's own filters that cannot make a text large or slow; `money` is ours.
SAFE_FILTERS = frozenset({
    "abs", "capitalize", "count", "d", "default", "e", "escape", "first", "float", "int",
    "join", "last", "length", "list", "lower", "max", "min", "reverse", "round", "sort",
    "string", "sum", "title", "trim", "unique", "upper", "wordcount"})
# Statements a clause text never needs, each a way to loop, to reach other files or to hide code.
_FORBIDDEN_NODES: dict[type[nodes.Node], str] = {
    nodes.For: "loops ({% for %})", nodes.Macro: "macros", nodes.CallBlock: "{% call %} blocks",
    nodes.Include: "{% include %}", nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}", nodes.Extends: "{% extends %}",
    nodes.Block: "{% block %}", nodes.Pow: "powers (**)",
}
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_NESTED_FIELD = re.compile(r"\{[^{}]+\{")  # '{:>{width}}': a width given as a value
_BIG_NUMBER = re.compile(r"\d{7,}|\*")  # a width or precision of a million or more, or a '*'


def _too_long(what: str) -> SecurityError:
    return SecurityError(f"{what} would be longer than {MAX_TEXT_LENGTH:,} characters")


def _bounded_concat(pieces: Iterable[str]) -> str:
    """Environment.concat: the rendered text, refused once it passes MAX_TEXT_LENGTH."""
    parts: list[str] = []
    length = 0
    for piece in pieces:
        length += len(piece)
        if length > MAX_TEXT_LENGTH:
            raise _too_long("the rendered text")
        parts.append(piece)
    return "".join(parts)


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with the limits of the module text."""

    intercepted_binops = frozenset({"*", "%", "**"})
    concat = staticmethod(_bounded_concat)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Jinja's one parse step (parse, compile and from_string all come here): refuse
        # forbidden statements before anything is compiled or constant-folded.
        try:
            tree = super()._parse(source, name, filename)
        except RecursionError:
            raise TemplateSyntaxError("the text is nested too deeply", 1, name, filename
                                      ) from None
        for node in tree.find_all(tuple(_FORBIDDEN_NODES)):
            raise TemplateSyntaxError(
                f"{_FORBIDDEN_NODES[type(node)]} are not allowed in clause texts", node.lineno,
                name, filename)
        return tree

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            raise SecurityError("powers (**) are not allowed in clause texts")
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if (isinstance(sequence, str | list | tuple) and isinstance(times, int)
                        and len(sequence) * times > MAX_TEXT_LENGTH):
                    raise _too_long("the repeated text")
        if operator == "%" and isinstance(left, str) and _BIG_NUMBER.search(left):
            raise _too_long("the formatted text")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        # The sandbox hands str.format over wrapped; the string is the wrapped method's owner.
        method = getattr(__obj, "__wrapped__", __obj)
        owner, name = getattr(method, "__self__", None), getattr(method, "__name__", "")
        if isinstance(owner, str):
            numbers = [a for a in (*args, *kwargs.values()) if isinstance(a, int)]
            if name in _WIDTH_METHODS and any(n > MAX_TEXT_LENGTH for n in numbers):
                raise _too_long(f"str.{name}()")
            if name in ("format", "format_map") and (
                    _BIG_NUMBER.search(owner) or _NESTED_FIELD.search(owner)):
                raise _too_long("the formatted text")
        return super().call(__context, __obj, *args, **kwargs)


def clause_environment() -> ImmutableSandboxedEnvironment:
    env = BoundedSandbox(
        undefined=StrictUndefined,
        autoescape=False,
        finalize=flatten,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters = {name: f for name, f in env.filters.items() if name in SAFE_FILTERS}
    env.filters["money"] = _money
    env.globals.clear()  # no range(), namespace(), lipsum(): nothing to loop or grow with
    return env


def ref_marker(clause_id: str) -> str:
    return f"{REF_OPEN}{clause_id}{REF_CLOSE}"
