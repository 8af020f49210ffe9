"""The sandboxed template environment clause texts are rendered in.

Clause texts are trusted to legal, yet still sandboxed: no attribute access to Python
internals, and undefined names are errors. Values inserted into a text are data: they are
never parsed as template code, and line breaks inside them are flattened.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from jinja2 import StrictUndefined, pass_context
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


def clause_environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        finalize=flatten,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = _money
    return env


def ref_marker(clause_id: str) -> str:
    return f"{REF_OPEN}{clause_id}{REF_CLOSE}"
