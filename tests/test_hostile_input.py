"""Untrusted text is data, never template code or markup."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest
from ruamel.yaml import YAML

from dpa_engine import Engine
from tests.conftest import EXAMPLES
from tests.docx_helpers import body_text, parts

HOSTILE = ["{{ 7*7 }}", "{% if true %}x{% endif %}", "<w:p>", 'A & B "C" \'D\'',
           "{{ ''.__class__.__mro__ }}", "]]></w:t>"]


def _deal_with(tmp_path: Path, name: str) -> Path:
    yaml = YAML(typ="safe")
    data = yaml.load((EXAMPLES / "deal-standard-nl.yaml").read_text(encoding="utf-8"))
    data["provider"] = str(EXAMPLES / "provider.yaml")
    data["customer"]["name"] = name
    data["customer"]["registered_office"]["street"] = name
    data["customer"]["signatory"]["name"] = name
    data["processing"][0]["purpose"] = name
    data["processing"][0]["data_subjects"] = [name]
    path = tmp_path / "deal.yaml"
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(data, handle)
    return path


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_customer_text_appears_literally(engine: Engine, tmp_path: Path,
                                                 name: str) -> None:
    out = tmp_path / "out.docx"
    engine.generate(_deal_with(tmp_path, name), out)
    document = docx.Document(str(out))  # the XML is still well-formed
    text = body_text(out)
    assert f"Voor {name}" in text  # signature block
    assert text.count(name) >= 4  # parties block, annex I, annex II, signature
    header = "".join(p.text for p in document.sections[0].header.paragraphs)
    assert name in header
    assert document.core_properties.subject.startswith(name)


def test_template_expressions_in_names_are_not_evaluated(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "out.docx"
    engine.generate(_deal_with(tmp_path, "{{ 7*7 }}"), out)
    text = body_text(out)
    assert "Voor 49" not in text and "Voor {{ 7*7 }}" in text


def test_markup_in_names_is_escaped_not_interpreted(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "out.docx"
    engine.generate(_deal_with(tmp_path, "<w:p>"), out)
    xml = parts(out)["word/document.xml"]
    assert "Voor &lt;w:p&gt;" in xml
