"""Clause texts run in a sandbox: no way to reach Python internals, even from a clause file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from dpa_engine.library import lint_library
from dpa_engine.library.textenv import clause_environment
from tests.conftest import LIBRARY


@pytest.mark.parametrize("text", [
    "{{ ''.__class__.__mro__ }}",
    "{{ customer.__class__ }}",
    "{{ ref.__globals__ }}",
    "{{ customer['__class__'] }}",
])
def test_the_loader_refuses_internal_attributes(tmp_path: Path, text: str) -> None:
    library = tmp_path / "clauses"
    shutil.copytree(LIBRARY, library)
    parties = library / "parties.yaml"
    parties.write_text(parties.read_text(encoding="utf-8").replace(
        "{{ customer.name }}", text, 1), encoding="utf-8")
    _, problems = lint_library(library)
    assert any(p.code == "unsafe-placeholder" and p.path == parties and p.line for p in problems)


def test_the_sandbox_blocks_internals_at_render_time_too() -> None:
    env = clause_environment()
    with pytest.raises((SecurityError, UndefinedError)):
        env.from_string("{{ ''.__class__.__mro__[1].__subclasses__() }}").render(language="nl")


def test_values_are_not_template_code() -> None:
    env = clause_environment()
    rendered = env.from_string("{{ name }}").render(name="{{ 7*7 }}", language="nl")
    assert rendered == "{{ 7*7 }}"
