"""Clause texts: parsed and compiled in the sandbox, their placeholders, fields and
references checked against what the engine provides."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Template, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import TemplateAssertionError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import did_you_mean
from .facts import PARTY_FIELDS, TEXT_NAMES
from .loaded import Collector


def compile_text(text: str, env: ImmutableSandboxedEnvironment, path: Path, line: int | None,
                 fld: str, out: Collector
                 ) -> tuple[Template, frozenset[str], dict[str, int | None]] | None:
    """The text compiled, the names it uses and the clauses it refers to (id -> line); None
    when it has problems (added to `out`). Block scalars start on the line after the key."""
    offset = (line or 0)

    def at(lineno: int | None) -> int | None:
        return offset + (lineno or 0) if line else None

    try:
        tree = env.parse(text)
    except TemplateSyntaxError as exc:
        limited = "not allowed" in (exc.message or "") or "nested too deeply" in (exc.message or "")
        out.add("text-syntax", path, at(exc.lineno), fld,
                f"placeholder syntax error: {exc.message}",
                "a clause text may hold {{ placeholders }} and {% if %} ... {% else %} ... "
                "{% endif %} only" if limited else
                "write placeholders as {{ name }} and close every {% if %} with {% endif %}")
        return None
    try:
        names = set(meta.find_undeclared_variables(tree))  # compiles: unknown filters fail here
    except TemplateAssertionError as exc:
        out.add("text-syntax", path, at(exc.lineno), fld, exc.message or "invalid placeholder",
                "use only the filters listed in clauses/README.md (money)")
        return None
    problems_before = len(out.problems)
    # One walk of the tree for every check below (each keeps the text's order).
    found = list(tree.find_all((nodes.Name, nodes.Getattr, nodes.Getitem, nodes.Call)))
    _check_names(found, names, path, line, at, fld, out)
    refs = _references(found, path, at, fld, out)
    if len(out.problems) > problems_before:
        return None
    try:
        template = env.from_string(tree)
    except TemplateAssertionError as exc:
        out.add("text-syntax", path, at(exc.lineno), fld,
                exc.message or "invalid placeholder", "use only the filters listed in the README")
        return None
    return template, frozenset(names - {"ref"}), refs


def _check_names(found: Sequence[nodes.Node], names: set[str], path: Path, line: int | None,
                 at: Callable[[int | None], int | None], fld: str, out: Collector) -> None:
    """Only the placeholders and party fields the engine provides; no internal attributes."""
    for name in sorted(names - set(TEXT_NAMES)):
        first = next((n for n in found if isinstance(n, nodes.Name) and n.name == name), None)
        out.add("unknown-placeholder", path,
                at(first.lineno) if first is not None else line, fld,
                f"unknown placeholder '{{{{ {name} }}}}'",
                did_you_mean(name, set(TEXT_NAMES)) or "see the placeholders in clauses/README.md")
    for node in found:
        if (isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name)
                and node.node.name in ("customer", "provider") and node.attr not in PARTY_FIELDS):
            out.add("unknown-placeholder", path, at(node.lineno), fld,
                    f"unknown field '{node.node.name}.{node.attr}'",
                    did_you_mean(node.attr, set(PARTY_FIELDS))
                    or "use one of " + ", ".join(PARTY_FIELDS))
    for access in found:
        if not isinstance(access, nodes.Getattr | nodes.Getitem):
            continue
        attr: Any = getattr(access, "attr", None) or getattr(getattr(access, "arg", None), "value", "")
        if isinstance(attr, str) and attr.startswith("_"):
            out.add("unsafe-placeholder", path, at(access.lineno), fld,
                    f"access to the internal attribute '{attr}' is not allowed",
                    "use only the placeholders listed in clauses/README.md")


def _references(found: Sequence[nodes.Node], path: Path, at: Callable[[int | None], int | None],
                fld: str, out: Collector) -> dict[str, int | None]:
    """The clauses the text refers to with ref("id"), each with the line of its first use."""
    refs: dict[str, int | None] = {}
    for call in found:
        if (isinstance(call, nodes.Call) and isinstance(call.node, nodes.Name)
                and call.node.name == "ref"):
            if len(call.args) != 1 or not isinstance(call.args[0], nodes.Const) or not isinstance(
                    call.args[0].value, str):
                out.add("bad-ref", path, at(call.lineno), fld,
                        "ref() takes one clause id in quotes", 'write {{ ref("family.name") }}')
            else:
                refs.setdefault(call.args[0].value, at(call.lineno))
    return refs
