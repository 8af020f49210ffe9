"""Issue 17 point 5: a clause text cannot hang or exhaust memory; it gets a clear error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from jinja2 import TemplateError

from dpa_engine import Engine
from dpa_engine.errors import LibraryError
from dpa_engine.library import lint_library
from dpa_engine.library.textenv import MAX_TEXT_LENGTH, clause_environment
from tests.conftest import EXAMPLES, LIBRARY, TEMPLATE

HOSTILE = [
    ("{{ 9 ** (9 ** 9) }}", "powers"),
    ("{{ 'a' * 3000000000 }}", "longer than"),
    ("{{ [x] * 3000000000 }}", "longer than"),
    ("{{ x.center(3000000000) }}", "longer than"),
    ("{{ x.ljust(width=3000000000) }}", "longer than"),
    ("{{ x.zfill(3000000000) }}", "longer than"),
    ("{{ '%3000000000s' % x }}", "longer than"),
    ("{{ '%*s' % (3000000000, x) }}", "longer than"),
    ("{{ '{:>3000000000}'.format(x) }}", "longer than"),
    ("{{ '{:>{w}}'.format(x, w=3000000000) }}", "longer than"),
    ("{{ x|center(3000000000) }}", "No filter named 'center'"),
    ("{{ x|indent(3000000000) }}", "No filter named 'indent'"),
    ("{{ x|format }}", "No filter named 'format'"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
     "loops"),
    ("{% include 'other' %}", "include"),
    ("{% import 'other' as o %}", "import"),
    ("{% from 'other' import o %}", "import"),
    ("{% macro m() %}{% endmacro %}", "macros"),
    ("{{ range(10) }}", "undefined"),
    ("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", "nested too deeply"),
]


@pytest.mark.parametrize(("text", "fragment"), HOSTILE)
def test_a_hostile_text_gets_a_clear_error(text: str, fragment: str) -> None:
    env = clause_environment()
    with pytest.raises(TemplateError) as caught:
        env.from_string(text).render(x="ab", language="nl")
    assert fragment in str(caught.value)


def test_a_rendered_text_is_bounded() -> None:
    env = clause_environment()
    value = "x" * (MAX_TEXT_LENGTH // 2 + 1)
    assert len(env.from_string("{{ x }}").render(x=value)) == len(value)
    with pytest.raises(TemplateError, match="rendered text"):
        env.from_string("{{ x }}{{ x }}").render(x=value)


def test_ordinary_texts_still_work() -> None:
    env = clause_environment()
    text = "{% if n > 1 %}{{ n * 2 }} {{ name|upper }} {{ '%s' % name }}{% else %}-{% endif %}"
    assert env.from_string(text).render(n=2, name="ab") == "4 AB ab"


def _library_with(tmp_path: Path, text: str) -> Path:
    library = tmp_path / "clauses"
    shutil.copytree(LIBRARY, library)
    parties = library / "parties.yaml"
    source = parties.read_text(encoding="utf-8")
    assert "{{ customer.name }}" in source
    parties.write_text(source.replace("{{ customer.name }}", text, 1), encoding="utf-8")
    return library


@pytest.mark.parametrize("text", ["{% include 'x.yaml' %}", "{% import 'x' as y %}",
                                  "{{ 9 ** (9 ** 9) }}", "{% for i in [1] %}{% endfor %}"])
def test_the_loader_refuses_statements_at_load_time(tmp_path: Path, text: str) -> None:
    library = _library_with(tmp_path, text)
    _, problems = lint_library(library)
    found = [p for p in problems if p.code == "text-syntax" and p.path.name == "parties.yaml"]
    assert found and found[0].line and "not allowed" in found[0].what
    assert "{% if %}" in (found[0].fix or "")


def test_a_huge_operation_fails_generation_with_a_clear_error(tmp_path: Path) -> None:
    library = _library_with(tmp_path, "{{ customer.name.center(3000000000) }}")
    engine = Engine.load(library, TEMPLATE)
    with pytest.raises(LibraryError) as caught:
        engine.generate(EXAMPLES / "deal-standard-nl.yaml", tmp_path / "out.docx")
    assert "longer than 1,000,000 characters" in caught.value.message
    assert "parties.yaml" in caught.value.message
    assert not (tmp_path / "out.docx").exists()
