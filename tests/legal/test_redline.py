"""`dpa redline`: tracked changes from the standard agreement to the negotiated one."""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import docx
import pytest

from dpa_engine import Engine
from dpa_engine.render import LibreOfficeConverter
from tests.conftest import EXAMPLES, FIXED_TIME
from tests.legal.conftest import dpa


def _xml(path: Path) -> str:
    return zipfile.ZipFile(path).read("word/document.xml").decode("utf-8")


def _revisions(xml: str, tag: str) -> list[str]:
    """The text of every w:ins / w:del revision."""
    return [re.sub(r"<[^>]+>", "", m.group(1))
            for m in re.finditer(rf"<w:{tag} [^>]*[^/]>(.*?)</w:{tag}>", xml)]


@pytest.fixture(scope="module")
def negotiated_redline(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("redline") / "redline.docx"
    engine.redline(EXAMPLES / "deal-negotiated-nl.yaml", out, generated_at=FIXED_TIME)
    return out


def test_the_negotiated_terms_are_tracked_changes(negotiated_redline: Path) -> None:
    xml = _xml(negotiated_redline)
    inserted, deleted = " ".join(_revisions(xml, "ins")), " ".join(_revisions(xml, "del"))
    assert "14" in inserted and "7" in deleted  # objection window
    assert "25.000,00" in inserted and "2.500,00" in deleted
    assert "Nederlands recht" in inserted and "Belgisch recht" in deleted
    assert "Antwerpen" in deleted and "Utrecht" in inserted  # the courts follow the law
    assert "<w:delText" in xml
    assert re.search(r'<w:ins w:id="\d+" w:author="dpa-engine" w:date="2026-11-23T09:30:00Z">',
                     xml)
    # every revision id is unique
    ids = re.findall(r'<w:(?:ins|del) w:id="(\d+)"', xml)
    assert len(ids) == len(set(ids))
    docx.Document(str(negotiated_redline))  # python-docx opens it


def test_a_whole_clause_swapped_is_a_deleted_and_an_inserted_paragraph(
        engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "specific.docx"
    engine.redline(EXAMPLES / "deal-specific-authorisation-fr.yaml", out, generated_at=FIXED_TIME)
    xml = _xml(out)
    # paragraph marks are revisions too: the paragraph itself is inserted / deleted
    assert re.search(r"<w:pPr>.*?<w:rPr><w:ins [^>]*/></w:rPr></w:pPr>", xml)
    assert re.search(r"<w:pPr>.*?<w:rPr><w:del [^>]*/></w:rPr></w:pPr>", xml)
    assert any("Autorisation écrite spécifique préalable" in t for t in _revisions(xml, "ins"))
    assert any("Autorisation écrite générale" in t for t in _revisions(xml, "del"))


def test_a_standard_deal_has_no_revisions(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "standard.docx"
    model = engine.redline(EXAMPLES / "deal-standard-nl.yaml", out, generated_at=FIXED_TIME)
    assert not model.changed
    assert "<w:ins " not in _xml(out) and "<w:del " not in _xml(out)


def test_the_cli_writes_the_redline(tmp_path: Path) -> None:
    run = dpa("redline", EXAMPLES / "deal-negotiated-nl.yaml", "-o", tmp_path / "r.docx")
    assert run.returncode == 0 and "tracked changes" in run.stdout, run.stdout + run.stderr
    bad = dpa("redline", EXAMPLES / "deal-negotiated-nl.yaml", "-o", tmp_path / "r.pdf")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


@pytest.mark.libreoffice
def test_libreoffice_opens_the_redline_and_keeps_the_revisions(
        soffice: LibreOfficeConverter, negotiated_redline: Path, tmp_path: Path) -> None:
    # A round trip through LibreOffice's own .docx export keeps tracked changes only when
    # LibreOffice read them as revisions (coloured text would come back as plain runs).
    work = tmp_path / "lo"
    work.mkdir()
    profile = tmp_path / "profile"
    run = subprocess.run(
        [soffice.soffice, "--headless", "--norestore", f"-env:UserInstallation=file://{profile}",
         "--convert-to", "docx:MS Word 2007 XML", "--outdir", str(work), str(negotiated_redline)],
        capture_output=True, text=True, timeout=180, check=False,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    xml = _xml(work / negotiated_redline.name)
    assert "<w:ins " in xml and "<w:del " in xml and "<w:delText" in xml
    assert "dpa-engine" in xml
    pdf = tmp_path / "redline.pdf"
    soffice.convert(negotiated_redline, pdf)
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_a_reworded_sentence_is_one_deletion_and_one_insertion() -> None:
    from dpa_engine.agreements.redline import compare
    from dpa_engine.document import Paragraph, Style, TextRun

    old = Paragraph(style=Style.CLAUSE, number="14.3", title="Toepasselijk recht",
                    runs=[TextRun(text="Deze Overeenkomst wordt beheerst door Belgisch recht. "
                                       "Elk geschil behoort tot de rechtbanken van Antwerpen.")])
    new = old.model_copy(update={"runs": [TextRun(
        text="Op deze Overeenkomst is Nederlands recht van toepassing. "
             "Elk geschil behoort tot de rechtbanken van Utrecht.")]})
    [revision] = compare([old], [new])
    changes = [s.change for s in revision.segments]  # type: ignore[union-attr]
    # first sentence rewritten whole; the shared words of the second stay unchanged
    assert changes[:2] == ["delete", "insert"]
    assert "equal" in changes
    assert changes.count("delete") <= 2 and changes.count("insert") <= 2
    assert revision.old_number is None and revision.prefix == []  # type: ignore[union-attr]
