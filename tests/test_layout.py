"""The agreement as a reader sees it: recitals and clause items lettered so they can be cited,
a signature block per party, hyphenation in the document's language, annex tables with a
repeated header row and a label column, and — in LibreOffice's PDF — no blank page and no
text from another language."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dpa_engine import Engine
from dpa_engine.document import (
    DocumentModel,
    DocumentProperties,
    Paragraph,
    SignatureBlock,
    SignatureField,
    SignatureParty,
    Style,
    TextRun,
    letter,
)
from dpa_engine.render import DocxRenderer, LibreOfficeConverter
from tests.conftest import EXAMPLE_DEALS, FIXED_TIME, LIBRARY, TEMPLATE
from tests.docx_helpers import body_text, parts

LANGUAGE_TAGS = {"nl": "nl-BE", "fr": "fr-BE", "en": "en-GB"}


def _language(path: Path) -> str:
    match = re.search(r"<dc:language>(\w\w)-", parts(path)["docProps/core.xml"])
    assert match is not None
    return match.group(1)


def _paragraphs(document_xml: str) -> list[str]:
    return re.findall(r"<w:p>.*?</w:p>", document_xml)


# --- the .docx ------------------------------------------------------------------------------

def test_letters_run_a_to_z_then_double() -> None:
    assert [letter(i) for i in (1, 2, 26, 27, 28)] == ["(a)", "(b)", "(z)", "(aa)", "(ab)"]
    assert letter(3, upper=True) == "(C)"


def test_recitals_are_lettered_upper_case_and_definitions_lower_case(
        generated: dict[str, Path]) -> None:
    text = body_text(generated["deal-standard-nl"])
    recitals = re.findall(r"^\(([A-Z])\)\t", text, flags=re.M)
    assert recitals == ["A", "B", "C", "D"]
    assert re.search(r"^\(a\)\t“AVG”: Verordening \(EU\) 2016/679", text, flags=re.M)
    assert re.search(r"^\(i\)\t“Werkdag”", text, flags=re.M)
    english = body_text(generated["deal-health-en"])
    assert re.search(r"^\(A\)\tthe Provider delivers the following services", english, flags=re.M)
    # Lettered items are paragraphs of their own style, not Word bullets.
    xml = parts(generated["deal-standard-nl"])["word/document.xml"]
    assert xml.count(f'<w:pStyle w:val="{Style.RECITAL}"/>') == 4
    assert f'<w:pStyle w:val="{Style.CLAUSE_BULLET}"/>' not in xml


@pytest.mark.parametrize("deal", EXAMPLE_DEALS, ids=lambda d: d.stem)
def test_hyphenation_is_on_in_the_document_language(generated: dict[str, Path],
                                                    deal: Path) -> None:
    docx = generated[deal.stem]
    package = parts(docx)
    assert '<w:autoHyphenation w:val="true"/>' in package["word/settings.xml"]
    defaults = re.search(r"<w:rPrDefault>.*?</w:rPrDefault>", package["word/styles.xml"], re.S)
    assert defaults is not None
    tag = LANGUAGE_TAGS[_language(docx)]
    assert f'<w:lang w:val="{tag}"' in defaults.group(0)
    assert package["word/styles.xml"].count("<w:lang ") == 1  # no style overrides it
    # Headings are not hyphenated.
    heading = re.search(r'<w:style [^>]*w:styleId="Heading1">.*?</w:style>',
                        package["word/styles.xml"], re.S)
    assert heading is not None and "<w:suppressAutoHyphens/>" in heading.group(0)


@pytest.mark.parametrize("deal", EXAMPLE_DEALS, ids=lambda d: d.stem)
def test_annexes_start_a_page_without_page_break_paragraphs(generated: dict[str, Path],
                                                            deal: Path) -> None:
    xml = parts(generated[deal.stem])["word/document.xml"]
    assert '<w:br w:type="page"/>' not in xml
    starts = [p for p in _paragraphs(xml) if "<w:pageBreakBefore/>" in p]
    assert len(starts) == 4
    assert all(re.search(r"(Bijlage|Annexe|Annex) (I|II|III|IV) – ", p) for p in starts)
    # Annex I follows the signature table directly: no empty paragraph in between.
    before_annex = xml[:xml.index(starts[0])]
    assert before_annex.endswith("</w:tbl>")


@pytest.mark.parametrize("deal", EXAMPLE_DEALS, ids=lambda d: d.stem)
def test_annex_tables_repeat_one_label_per_header_cell(generated: dict[str, Path],
                                                       deal: Path) -> None:
    xml = parts(generated[deal.stem])["word/document.xml"]
    annexes = xml[xml.index("<w:pageBreakBefore/>"):]
    tables = re.findall(r"<w:tbl>.*?</w:tbl>", annexes, re.S)
    assert len(tables) >= 3  # I, II (one per service), III; IV when it lists any
    for table in tables:
        header = re.search(r"<w:tr><w:trPr><w:cantSplit/><w:tblHeader/></w:trPr>(.*?)</w:tr>",
                           table)
        assert header is not None, "every annex table has a header row repeated on each page"
        for cell in re.findall(r"<w:tc>.*?</w:tc>", header.group(1)):
            assert cell.count("<w:p>") == 1  # one label per header cell
            assert f'<w:pStyle w:val="{Style.TABLE_HEADING}"/>' in cell
        # Labels are set off from the values: a label column or a header over the values.
        assert f'<w:pStyle w:val="{Style.TABLE_LABEL}"/>' in table


def test_the_signature_block_has_place_date_room_to_sign_name_and_title(
        generated: dict[str, Path]) -> None:
    path = generated["deal-standard-nl"]
    xml = parts(path)["word/document.xml"]
    block = re.findall(r"<w:tbl>.*?</w:tbl>", xml[:xml.index("<w:pageBreakBefore/>")])[-1]
    text = re.sub(r"<[^>]+>", " ", block)
    for expected in ("Voor Bakkerij Peeters", "Voor Voxalis", "Naam: An Peeters",
                     "Functie: zaakvoerder", "Naam: Inge Claes",
                     "Functie: gedelegeerd bestuurder"):
        assert expected in text
    for label in ("Plaats:", "Datum:", "Handtekening:"):
        assert text.count(label) == 2  # one per party
    # Place and date are dotted lines to fill in; the room to sign ends on a line.
    assert block.count('w:leader="dot"') == 4
    assert block.count('<w:tcBorders><w:bottom w:val="single"') == 2
    assert re.search(r'<w:trHeight w:val="\d{4}" w:hRule="atLeast"/>', block)
    # The block stays on one page: rows do not split and each line keeps with the next.
    rows = re.findall(r"<w:tr>.*?</w:tr>", block)
    assert all("<w:cantSplit/>" in r for r in rows)
    assert all("<w:keepNext/>" in p for r in rows[:-1] for p in _paragraphs(r)
               if 'w:val="Signature"' in p)


def test_a_library_without_the_place_label_still_generates(tmp_path: Path) -> None:
    """Manifests keep the library as it was; older snapshots have no `signature_place`."""
    clauses = tmp_path / "clauses"
    shutil.copytree(LIBRARY, clauses)
    labels = clauses / "labels.yaml"
    text = labels.read_text(encoding="utf-8")
    text, count = re.subn(r"  signature_place:\n(    \w\w: .*\n){3}", "", text)
    assert count == 1
    labels.write_text(text, encoding="utf-8")
    out = tmp_path / "a.docx"
    Engine.load(clauses, TEMPLATE).generate(EXAMPLE_DEALS[0], out, generated_at=FIXED_TIME)
    body = body_text(out)
    assert "Datum:" in body or "Date:" in body
    assert "Plaats:" not in body and "Lieu:" not in body and "Place:" not in body


# --- the PDF, as LibreOffice lays it out ----------------------------------------------------

def _pdf_pages(pdftotext: str, pdf: Path) -> list[str]:
    text = subprocess.run([pdftotext, "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    pages = text.split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


def _body_lines(page: str, engine: Engine, language: str, header: str) -> list[str]:
    """The page's lines without the running header, draft marker and page footer."""
    label = engine.library.label
    footer = re.compile(rf"^{re.escape(label('page', language))} \d+ "
                        rf"{re.escape(label('page_of', language))} \d+$")
    skip = {header, label("draft_marker", language)}
    return [line.strip() for line in page.splitlines()
            if line.strip() and line.strip() not in skip and not footer.match(line.strip())]


@pytest.fixture(scope="module")
def example_pdfs(soffice: LibreOfficeConverter, generated: dict[str, Path],
                 tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pdf")
    result = {}
    for stem, docx in generated.items():
        result[stem] = folder / f"{stem}.pdf"
        soffice.convert(docx, result[stem])
    return result


def _header_title(docx: Path) -> str:
    match = re.search(r"<dc:title>(.*?)</dc:title>", parts(docx)["docProps/core.xml"])
    assert match is not None
    return match.group(1).replace("&amp;", "&")


@pytest.mark.libreoffice
@pytest.mark.parametrize("deal", EXAMPLE_DEALS, ids=lambda d: d.stem)
def test_every_page_has_text_and_only_in_the_agreement_language(
        engine: Engine, generated: dict[str, Path], example_pdfs: dict[str, Path],
        pdftotext: str, deal: Path) -> None:
    docx = generated[deal.stem]
    language = _language(docx)
    pages = _pdf_pages(pdftotext, example_pdfs[deal.stem])
    assert len(pages) >= 8
    for number, page in enumerate(pages, start=1):
        assert _body_lines(page, engine, language, _header_title(docx)), \
            f"{deal.stem}: page {number} is blank"
    # No label of another language: every fixed word comes from this language's labels.
    text = " ".join(" ".join(p.split()) for p in pages)
    labels = engine.library.labels
    own = {texts[language] for texts in labels.values()}
    for key, texts in labels.items():
        for other, value in texts.items():
            if other == language or value in own or len(value) < 6 or "{" in value:
                continue
            assert value not in text, f"{deal.stem}: '{value}' ({other}, label {key})"


@pytest.mark.libreoffice
def test_justified_dutch_lines_are_hyphenated(example_pdfs: dict[str, Path],
                                              pdftotext: str) -> None:
    if not Path("/usr/share/hyphen/hyph_nl_NL.dic").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but hyphen-nl is not installed (.ci/system-deps installs it)")
        pytest.skip("no Dutch hyphenation patterns for LibreOffice: apt-get install hyphen-nl")
    text = "\n".join(_pdf_pages(pdftotext, example_pdfs["deal-standard-nl"]))
    # A line broken inside a word ends on a letter and a hyphen ("verwer-" / "kings...").
    assert len(re.findall(r"[a-zë]-\n", text)) >= 10


def _model(blocks: list[Paragraph | SignatureBlock]) -> DocumentModel:
    stamp = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    return DocumentModel(
        language="en", header_title="Layout test", draft=False, draft_marker="DRAFT",
        page_label="Page", page_of_label="of", clauses=[], blocks=blocks,
        properties=DocumentProperties(title="Layout test", subject="", creator="", keywords="",
                                      version="1", generated_at=stamp, language="en",
                                      custom={}))


@pytest.mark.libreoffice
def test_the_signature_block_never_leaves_a_blank_page_wherever_it_falls(
        soffice: LibreOfficeConverter, pdftotext: str, tmp_path: Path) -> None:
    """The signature block ends at every height of the page in turn, followed by an annex:
    whichever page it lands on, no page is left without text."""
    party = SignatureParty(
        heading="For Example", above=[SignatureField(label="Place"),
                                      SignatureField(label="Date")],
        sign_label="Signature", below=[SignatureField(label="Name", value="A. Person"),
                                       SignatureField(label="Title", value="Director")])
    blocks: list[Paragraph | SignatureBlock] = []
    for lines in range(30, 52):
        blocks.append(Paragraph(style=Style.HEADING_1, runs=[TextRun(text=f"Case {lines}")],
                                page_break_before=bool(blocks)))
        blocks.extend(Paragraph(style=Style.BODY, runs=[TextRun(text=f"Line {i} of {lines}.")])
                      for i in range(lines))
        blocks.append(SignatureBlock(parties=[party, party]))
        blocks.append(Paragraph(style=Style.HEADING_1, runs=[TextRun(text=f"Annex {lines}")],
                                page_break_before=True))
    docx, pdf = tmp_path / "sweep.docx", tmp_path / "sweep.pdf"
    DocxRenderer(TEMPLATE).render(_model(blocks), docx)
    soffice.convert(docx, pdf)
    pages = _pdf_pages(pdftotext, pdf)
    for number, page in enumerate(pages, start=1):
        lines = [line.strip() for line in page.splitlines() if line.strip()
                 and line.strip() != "Layout test" and not re.match(r"^Page \d+ of \d+$",
                                                                    line.strip())]
        assert lines, f"page {number} is blank"
    # Some signature blocks did not fit under their text and moved whole to the next page.
    assert len(pages) > 2 * 22
