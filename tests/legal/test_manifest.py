"""The generation manifest (in the .docx and beside it) and `dpa regenerate`."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import docx

from dpa_engine import Engine
from dpa_engine.agreements.manifest import read_manifest
from tests.conftest import FIXED_TIME, TEMPLATE
from tests.docx_helpers import body_text
from tests.legal.conftest import dpa, edit


def _document_xml(path: Path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read("word/document.xml")


def test_generate_records_the_manifest_inside_and_beside(engine: Engine, tmp_path: Path) -> None:
    from tests.conftest import EXAMPLES

    out = tmp_path / "standard.docx"
    result = engine.generate(EXAMPLES / "deal-standard-nl.yaml", out, generated_at=FIXED_TIME)
    assert result.manifest == tmp_path / "standard.manifest.json"
    beside = json.loads(result.manifest.read_text(encoding="utf-8"))
    assert beside["library"]["content_hash"] == engine.library.content_hash
    assert {"liability.cap", "breach.notification"} <= {c["id"] for c in beside["clauses"]}
    cap = next(c for c in beside["clauses"] if c["id"] == "liability.cap")
    assert cap["version"] == 2 and cap["parameters"]["liability_cap_total"] == "2500"
    assert "liability.yaml" in beside["library"]["files"]
    inside = read_manifest(out)
    assert inside.model_dump() == read_manifest(result.manifest).model_dump()
    docx.Document(str(out))  # the extra parts do not stop python-docx opening it


def test_regenerate_reproduces_the_body_after_the_library_moved_on(
        workspace: Path) -> None:
    clauses, examples = workspace / "clauses", workspace / "examples"
    original = workspace / "original.docx"
    engine = Engine.load(clauses, TEMPLATE)
    engine.generate(examples / "deal-negotiated-nl.yaml", original, generated_at=FIXED_TIME)

    # Legal rewords the liability cap (new version) and a label; the deal changes too.
    liability = clauses / "liability.yaml"
    edit(liability, "De aansprakelijkheid van de Dienstverlener uit hoofde",
         "De volledige aansprakelijkheid van de Dienstverlener uit hoofde")
    edit(liability, "  - id: liability.cap\n    version: 2", "  - id: liability.cap\n    version: 3")
    edit(examples / "deal-negotiated-nl.yaml", "liability_cap_total: 25000",
         "liability_cap_total: 50000")
    assert dpa("clauses", "lock", clauses).returncode == 0
    changed = workspace / "today.docx"
    Engine.load(clauses, TEMPLATE).generate(examples / "deal-negotiated-nl.yaml", changed,
                                            generated_at=FIXED_TIME)
    assert _document_xml(changed) != _document_xml(original)
    assert "volledige aansprakelijkheid" in body_text(changed)

    for source in (workspace / "original.manifest.json", original):
        again = workspace / f"again-{source.suffix[1:]}.docx"
        run = dpa("regenerate", source, "-o", again)
        assert run.returncode == 0, run.stdout + run.stderr
        assert _document_xml(again) == _document_xml(original)
    assert "De aansprakelijkheid van de Dienstverlener uit hoofde" in body_text(
        workspace / "again-json.docx")
    assert "25.000,00" in body_text(workspace / "again-json.docx")


def test_an_edited_manifest_is_refused(engine: Engine, tmp_path: Path) -> None:
    from tests.conftest import EXAMPLES

    out = tmp_path / "a.docx"
    result = engine.generate(EXAMPLES / "deal-standard-nl.yaml", out, generated_at=FIXED_TIME)
    assert result.manifest is not None
    data = json.loads(result.manifest.read_text(encoding="utf-8"))
    data["library"]["files"]["liability.yaml"] = data["library"]["files"][
        "liability.yaml"].replace("2500", "250")
    result.manifest.write_text(json.dumps(data), encoding="utf-8")
    run = dpa("regenerate", result.manifest, "-o", tmp_path / "b.docx")
    assert run.returncode == 2 and "does not match its hash" in run.stderr, run.stderr
    assert not (tmp_path / "b.docx").exists()
    junk = tmp_path / "junk.json"
    junk.write_text("{}", encoding="utf-8")
    run = dpa("regenerate", junk, "-o", tmp_path / "b.docx")
    assert run.returncode == 2 and "not a dpa-engine manifest" in run.stderr
    assert "Traceback" not in run.stderr
