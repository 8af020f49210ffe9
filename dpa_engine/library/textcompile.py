"""Clause texts: parsed and compiled in the sandbox, their placeholders, fields and
references checked against what the engine provides."""

from __future__ import annotations

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
    # Block scalars start on the line after the key.
    offset = (line or 0)
    try:
        tree = env.parse(text)
    except TemplateSyntaxError as exc:
        limited = "not allowed" in (exc.message or "") or "nested too deeply" in (exc.message or "")
        out.add("text-syntax", path, offset + (exc.lineno or 0) if line else None, fld,
                f"placeholder syntax error: {exc.message}",
                "a clause text may hold {{ placeholders }} and {% if %} ... {% else %} ... "
                "{% endif %} only" if limited else
                "write placeholders as {{ name }} and close every {% if %} with {% endif %}")
        return None
    try:
        names = set(meta.find_undeclared_variables(tree))  # compiles: unknown filters fail here
    except TemplateAssertionError as exc:
        out.add("text-syntax", path, offset + (exc.lineno or 0) if line else None, fld,
                exc.message or "invalid placeholder",
                "use only the filters listed in clauses/README.md (money)")
        return None
    ok = True
    for name in sorted(names - set(TEXT_NAMES)):
        first = next((n for n in tree.find_all(nodes.Name) if n.name == name), None)
        out.add("unknown-placeholder", path,
                offset + first.lineno if line and first is not None else line, fld,
                f"unknown placeholder '{{{{ {name} }}}}'",
                did_you_mean(name, set(TEXT_NAMES)) or "see the placeholders in clauses/README.md")
        ok = False
    for node in tree.find_all(nodes.Getattr):
        if (isinstance(node.node, nodes.Name) and node.node.name in ("customer", "provider")
                and node.attr not in PARTY_FIELDS):
            out.add("unknown-placeholder", path, offset + node.lineno if line else None, fld,
                    f"unknown field '{node.node.name}.{node.attr}'",
                    did_you_mean(node.attr, set(PARTY_FIELDS))
                    or "use one of " + ", ".join(PARTY_FIELDS))
            ok = False
    for access in tree.find_all((nodes.Getattr, nodes.Getitem)):
        attr: Any = getattr(access, "attr", None) or getattr(getattr(access, "arg", None), "value", "")
        if isinstance(attr, str) and attr.startswith("_"):
            out.add("unsafe-placeholder", path, offset + access.lineno if line else None, fld,
                    f"access to the internal attribute '{attr}' is not allowed",
                    "use only the placeholders listed in clauses/README.md")
            ok = False
    refs: dict[str, int | None] = {}
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name == "ref":
            if len(call.args) != 1 or not isinstance(call.args[0], nodes.Const) or not isinstance(
                    call.args[0].value, str):
                out.add("bad-ref", path, offset + call.lineno if line else None, fld,
                        "ref() takes one clause id in quotes", 'write {{ ref("family.name") }}')
                ok = False
            else:
                refs.setdefault(call.args[0].value, offset + call.lineno if line else None)
    if not ok:
        return None
    try:
        template = env.from_string(tree)
    except TemplateAssertionError as exc:
        out.add("text-syntax", path, offset + (exc.lineno or 0) if line else None, fld,
                exc.message or "invalid placeholder", "use only the filters listed in the README")
        return None
    return template, frozenset(names - {"ref"}), refs
