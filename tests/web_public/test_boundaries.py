"""The customer's side depends on the notice workflow, never the other way round."""

from __future__ import annotations

import ast
from pathlib import Path

import dpa_engine

PACKAGE = Path(dpa_engine.__file__).resolve().parent


def _imported(path: Path) -> set[str]:
    """The dpa_engine modules a file imports, as absolute names."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    parts = module.split(".")
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = parts[:-node.level] if node.level else []
            names.add(".".join([*base, *(node.module or "").split(".")]).strip("."))
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def it_keeps_the_notice_workflow_free_of_the_customer_side() -> None:
    offenders = {str(path.relative_to(PACKAGE)): sorted(n for n in _imported(path)
                                                        if n.startswith("dpa_engine.customers"))
                 for path in (PACKAGE / "notices").rglob("*.py")}
    assert {path: names for path, names in offenders.items() if names} == {}


def it_sees_the_customer_side_import_the_notice_workflow() -> None:
    # the check above reads imports right: the customer side's own imports are found
    imported = _imported(PACKAGE / "customers" / "portal.py")
    assert "dpa_engine.notices.links" in imported
    assert "dpa_engine.customers.pagetexts" in imported
