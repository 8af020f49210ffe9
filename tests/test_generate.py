"""The generated Word agreements: structure, fields, properties, locale formats."""

from __future__ import annotations

import json
import re
from pathlib import Path

import docx
import pytest

from dpa_engine import Engine
from tests.conftest import EXAMPLES, FIXED_TIME
from tests.docx_helpers import body_text, bookmarks, parts, ref_fields


class DescribeGeneratedAgreement:
    def it_leaves_no_template_code(self, generated: dict[str, Path]) -> None:
        for path in generated.values():
            for name, xml in parts(path).items():
                assert "{{" not in xml and "{%" not in xml, f"{path.name}:{name}"

    def it_uses_word_styles_not_direct_formatting(self, generated: dict[str, Path]) -> None:
        document = docx.Document(str(generated["deal-standard-nl"]))
        styles = {p.style.name for p in document.paragraphs}
        assert {"Title", "Heading 1", "Clause", "Clause List", "Recital"} <= styles
        xml = parts(generated["deal-standard-nl"])["word/document.xml"]
        assert "<w:rFonts" not in xml and "<w:sz " not in xml and "<w:color" not in xml

    def it_numbers_articles_and_clauses(self, generated: dict[str, Path]) -> None:
        text = body_text(generated["deal-standard-nl"])
        headings = re.findall(r"^Artikel (\d+) – ", text, flags=re.M)
        assert headings == [str(n) for n in range(1, len(headings) + 1)]
        assert len(headings) >= 10
        assert re.search(r"^1\.1\t", text, flags=re.M)

    def it_resolves_cross_references_to_bookmarked_numbers(
            self, generated: dict[str, Path]) -> None:
        for path in generated.values():
            xml = parts(path)["word/document.xml"]
            marks = bookmarks(xml)
            refs = ref_fields(xml)
            assert refs, f"{path.name} has no cross-reference fields"
            for bookmark, shown in refs:
                assert bookmark in marks, f"REF to missing bookmark {bookmark}"
                assert marks[bookmark] == shown
                assert re.fullmatch(r"\d+\.\d+", shown)

    def it_asks_word_to_update_fields_on_open(self, generated: dict[str, Path]) -> None:
        settings = parts(generated["deal-standard-nl"])["word/settings.xml"]
        assert '<w:updateFields w:val="true"/>' in settings
        # Schema order: updateFields precedes compat.
        assert settings.index("<w:updateFields") < settings.index("<w:compat")

    def it_has_page_x_of_y_in_the_footer(self, generated: dict[str, Path]) -> None:
        xml = parts(generated["deal-standard-nl"])
        footer = next(v for k, v in xml.items() if k.startswith("word/footer"))
        assert " PAGE " in footer and " NUMPAGES " in footer
        assert "Pagina" in footer and ">van<" in footer.replace(" van ", ">van<")

    def it_has_all_four_annexes_and_a_signature_block(self, generated: dict[str, Path]) -> None:
        text = body_text(generated["deal-standard-nl"])
        for heading in ("Bijlage I – Partijen", "Bijlage II – Beschrijving van de verwerking",
                        "Bijlage III – Technische en organisatorische maatregelen",
                        "Bijlage IV – Subverwerkers"):
            assert heading in text
        assert "Voor Bakkerij Peeters" in text and "Voor Voxalis" in text
        assert "Handtekening" in text

    def it_formats_money_and_dates_in_the_agreement_locale(
            self, generated: dict[str, Path]) -> None:
        nl = body_text(generated["deal-standard-nl"])
        assert "€ 2.500,00" in nl and "€ 1.000,00" in nl
        assert "23 november 2026" in nl
        en = body_text(generated["deal-health-en"])
        assert "€2,500.00" in en and "23 November 2026" in en
        negotiated = body_text(generated["deal-negotiated-nl"])
        assert "€ 25.000,00" in negotiated and "€ 10.000,00" in negotiated

    def it_lists_sub_processors_with_location_and_transfer_mechanism(
            self, generated: dict[str, Path]) -> None:
        text = body_text(generated["deal-health-en"])
        assert "ClearTranscribe Inc." in text and "United States" in text
        assert "Standard contractual clauses (Implementing Decision (EU) 2021/914), module 3" in text
        # Incidental sub-processors are not listed as authorised.
        assert "FixIT" not in text
        assert "engaged only incidentally" in text
        # Sub-processors of services not bought are not listed.
        standard = body_text(generated["deal-standard-nl"])
        assert "ClearTranscribe" not in standard and "NordHost Belgium BV" in standard

    def it_lists_each_services_processing_in_annex_ii(self, generated: dict[str, Path]) -> None:
        text = body_text(generated["deal-health-en"])
        assert "Service: appointment desk for healthcare providers" in text
        assert "Service: speech analytics of calls" in text
        assert "special category of personal data (Art. 9 GDPR)" in text
        assert "Additional measures for data referred to in Articles 9 and 10 GDPR" in text


class DescribeDraftMarking:
    def it_marks_a_deal_with_deviations_as_draft(self, generated: dict[str, Path]) -> None:
        xml = parts(generated["deal-negotiated-nl"])
        header = "".join(v for k, v in xml.items() if k.startswith("word/header"))
        assert "ONTWERP" in header
        custom = xml["docProps/custom.xml"]
        assert ">DRAFT<" in custom
        assert "governing_law" in custom and "objection_window_days" in custom

    def it_does_not_mark_a_standard_deal(self, generated: dict[str, Path]) -> None:
        xml = parts(generated["deal-standard-nl"])
        header = "".join(v for k, v in xml.items() if k.startswith("word/header"))
        assert "ONTWERP" not in header and "Verwerkersovereenkomst – Bakkerij Peeters" in header
        assert ">FINAL<" in xml["docProps/custom.xml"]


class DescribeDocumentProperties:
    def it_records_title_parties_version_and_time(self, generated: dict[str, Path]) -> None:
        core = docx.Document(str(generated["deal-negotiated-nl"])).core_properties
        assert core.title == "Verwerkersovereenkomst – Groenveld Energie"
        assert "Groenveld Energie" in core.subject and "Voxalis" in core.subject
        assert core.version == "2"
        assert core.created is not None and core.created.date() == FIXED_TIME.date()

    def it_lists_deviations_as_json_in_custom_properties(
            self, generated: dict[str, Path]) -> None:
        custom = parts(generated["deal-negotiated-nl"])["docProps/custom.xml"]
        value = re.search(r'name="dpa.deviations"><vt:lpwstr>([^<]*)<', custom)
        assert value is not None
        data = json.loads(value.group(1).replace("&quot;", '"'))
        assert {d["parameter"] for d in data} == {
            "governing_law", "objection_window_days", "liability_cap_total", "liability_cap_other"}


class DescribeAtomicWrites:
    def it_leaves_no_file_when_rendering_fails(self, engine: Engine, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
        target = tmp_path / "out.docx"

        def explode(*args: object, **kwargs: object) -> bytes:
            raise OSError("disk full")

        monkeypatch.setattr(engine.renderer, "render_bytes", explode)
        with pytest.raises(OSError):
            engine.generate(EXAMPLES / "deal-standard-nl.yaml", target)
        assert list(tmp_path.iterdir()) == []

    def it_replaces_an_existing_file_whole(self, engine: Engine, tmp_path: Path) -> None:
        target = tmp_path / "out.docx"
        target.write_bytes(b"old")
        engine.generate(EXAMPLES / "deal-standard-nl.yaml", target)
        assert target.read_bytes()[:2] == b"PK"
        assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files

    def it_gives_the_file_ordinary_permissions(self, engine: Engine, tmp_path: Path) -> None:
        import os
        import stat

        mask = os.umask(0)
        os.umask(mask)
        target = tmp_path / "out.docx"
        engine.generate(EXAMPLES / "deal-standard-nl.yaml", target)
        assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
