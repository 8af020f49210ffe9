"""Account managers over HTTP: the guided form, generation, downloads, signing, versions."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

from fastapi import FastAPI

from dpa_engine import load_deal
from dpa_engine.notices import list_customers

from .conftest import ROOT, Browserless
from .flows import CUSTOMER, fill_in, new_agreement, post_step


def docx_text(data: bytes) -> str:
    """The text of the body and the headers (where the DRAFT marking is)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = ["word/document.xml", *sorted(n for n in archive.namelist()
                                              if n.startswith("word/header"))]
        xml = "".join(archive.read(n).decode("utf-8") for n in names)
    return "".join(re.findall(r"<w:t(?: [^>]*)?>([^<]*)</w:t>", xml))


class DescribeGuidedForm:
    def it_shows_errors_next_to_their_field(self, am: Browserless) -> None:
        agreement_id = new_agreement(am)
        response = post_step(am, agreement_id, "customer",
                             {**CUSTOMER, "customer.enterprise_number": "0403.170.702",
                              "customer.city": ""})
        assert response.status_code == 422
        page = response.text
        assert ('id="err-customer-enterprise_number" aria-live="polite">&#39;0403.170.702&#39; '
                "fails the KBO/BCE check digits") in page
        assert 'id="err-customer-city" aria-live="polite">required' in page
        assert 'value="Bakkerij Peeters"' in page  # what was typed stays

    def it_checks_the_enterprise_number_as_you_type(self, am: Browserless) -> None:
        bad = am.post("/agreements/check-enterprise", {"customer.enterprise_number": "0403170702",
                                                       "customer.country": "BE"})
        good = am.post("/agreements/check-enterprise", {"customer.enterprise_number": "0403170701",
                                                        "customer.country": "BE"})
        assert "check digits" in bad.text
        assert good.text.strip() == ""

    def it_prefills_processing_from_the_provider_defaults(self, am: Browserless) -> None:
        agreement_id = new_agreement(am)
        post_step(am, agreement_id, "customer", CUSTOMER)
        post_step(am, agreement_id, "language", {"language": "en"})
        post_step(am, agreement_id, "services", {"services": ["appointment-desk"]})
        page = am.get(f"/agreements/{agreement_id}/step/processing").text
        assert "Scheduling, moving and cancelling patient appointments" in page
        assert '<option value="art9" selected>' in page  # health data marked art. 9

    def it_offers_only_negotiable_parameters_each_needing_approval(self, am: Browserless,
                                                                    app: FastAPI) -> None:
        agreement_id = fill_in(am)
        page = am.get(f"/agreements/{agreement_id}/step/deviations").text
        negotiable = app.state.web.engine.library.negotiable
        for name in negotiable:
            assert f'name="deviations.{name}"' in page
        assert page.count("needs legal&#39;s approval") >= len(negotiable)

    def it_explains_beside_the_form_live(self, am: Browserless) -> None:
        agreement_id = fill_in(am)
        preview = am.post(f"/agreements/{agreement_id}/preview/deviations",
                          {"deviations.objection_window_days": "14"})
        assert "objection_window_days" in preview.text
        assert "needs legal&#39;s approval" in preview.text
        assert "✔" in preview.text and "✘" in preview.text


    def it_explains_why_a_deal_cannot_be_made_yet(self, am: Browserless) -> None:
        agreement_id = fill_in(am)
        preview = am.post(f"/agreements/{agreement_id}/preview/deviations",
                          {"deviations.governing_law": "NL"})
        assert "courts_city" in preview.text
        assert "dpa-web-" not in preview.text  # no private paths
        fixed = am.post(f"/agreements/{agreement_id}/preview/deviations",
                        {"deviations.governing_law": "NL", "courts_city": "Amsterdam"})
        assert "needs legal&#39;s approval" in fixed.text


class DescribeGeneration:
    def it_generates_a_final_docx_for_the_standard_terms(self, am: Browserless) -> None:
        agreement_id = fill_in(am)
        assert am.post(f"/agreements/{agreement_id}/generate").status_code == 303
        page = am.get(f"/agreements/{agreement_id}").text
        assert "status-final" in page
        docx = am.get(f"/agreements/{agreement_id}/agreement.docx")
        assert docx.status_code == 200
        text = docx_text(docx.content)
        assert "Bakkerij Peeters" in text and "0403.170.701" in text
        assert "DRAFT" not in text and "ONTWERP" not in text
        manifest = am.get(f"/agreements/{agreement_id}/manifest.json")
        assert manifest.status_code == 200 and manifest.json()

    def it_downloads_a_deal_file_the_command_line_reads(self, am: Browserless,
                                                        tmp_path: Path) -> None:
        agreement_id = fill_in(am, deviations={"objection_window_days": "14"})
        deal = am.get(f"/agreements/{agreement_id}/deal.yaml")
        (tmp_path / "provider.yaml").write_bytes((ROOT / "examples" / "provider.yaml").read_bytes())
        path = tmp_path / "deal.yaml"
        path.write_bytes(deal.content)
        loaded = load_deal(path)
        assert loaded.deal.customer.name == "Bakkerij Peeters"
        assert loaded.deal.deviations.objection_window_days == 14
        assert loaded.deal.provider == "provider.yaml"

    def it_starts_from_an_uploaded_deal_file(self, am: Browserless) -> None:
        deal = (ROOT / "examples" / "deal-negotiated-nl.yaml").read_bytes()
        response = am.client.post("/agreements/upload", data={"csrf_token": am.csrf},
                                  files={"deal": ("deal-negotiated-nl.yaml", deal, "application/yaml")})
        assert response.status_code == 303
        page = am.get(response.headers["location"]).text
        assert "governing_law" in page  # its deviations, explained

    def it_refuses_a_broken_deal_file_with_the_reason(self, am: Browserless) -> None:
        response = am.client.post("/agreements/upload", data={"csrf_token": am.csrf},
                                  files={"deal": ("deal.yaml", b"customer: [", "application/yaml")})
        assert response.status_code == 422
        assert "deal.yaml" in response.text

    def it_names_the_field_of_an_uploaded_deal_without_private_paths(self, am: Browserless
                                                                     ) -> None:
        deal = (ROOT / "examples" / "deal-standard-nl.yaml").read_text(encoding="utf-8")
        broken = deal.replace("services: [customer-service]", "services: [customer-servise]")
        response = am.client.post("/agreements/upload", data={"csrf_token": am.csrf},
                                  files={"deal": ("mine.yaml", broken.encode(), "application/yaml")})
        assert response.status_code == 422
        assert "mine.yaml:" in response.text and "customer-servise" in response.text
        assert "dpa-upload-" not in response.text

    def it_keeps_hostile_text_as_text(self, am: Browserless) -> None:
        agreement_id = fill_in(am, customer={"customer.name": "{{ 7*7 }} <script>x</script> <w:p>"})
        am.post(f"/agreements/{agreement_id}/generate")
        listing = am.get("/agreements").text
        assert "&lt;script&gt;x&lt;/script&gt; &lt;w:p&gt;" in listing
        assert "<script>x" not in listing
        text = docx_text(am.get(f"/agreements/{agreement_id}/agreement.docx").content)
        assert "{{ 7*7 }} <script>x</script> <w:p>" in text.replace("&lt;", "<").replace("&gt;", ">")


class DescribeSigning:
    def it_registers_the_customer_when_the_signed_pdf_arrives(self, am: Browserless,
                                                              app: FastAPI) -> None:
        agreement_id = fill_in(am)
        am.post(f"/agreements/{agreement_id}/generate")
        pdf = b"%PDF-1.7\n% signed\n"
        response = am.client.post(f"/agreements/{agreement_id}/signed",
                                  data={"csrf_token": am.csrf},
                                  files={"signed": ("signed.pdf", pdf, "application/pdf")})
        assert response.status_code == 303
        assert "status-signed" in am.get(f"/agreements/{agreement_id}").text
        customers = list_customers(app.state.web.db)
        assert [c.name for c in customers] == ["Bakkerij Peeters"]
        assert am.get(f"/agreements/{agreement_id}/signed.pdf").content == pdf

    def it_keeps_a_signed_agreement_as_signed(self, am: Browserless) -> None:
        agreement_id = fill_in(am)
        am.post(f"/agreements/{agreement_id}/generate")
        am.client.post(f"/agreements/{agreement_id}/signed", data={"csrf_token": am.csrf},
                       files={"signed": ("signed.pdf", b"%PDF-1.7\n", "application/pdf")})
        response = am.post(f"/agreements/{agreement_id}/step/language", {"language": "fr"})
        assert "start a new version" in am.get(response.headers["location"]).text
        assert "status-signed" in am.get(f"/agreements/{agreement_id}").text

    def it_refuses_a_file_that_is_not_a_pdf(self, am: Browserless) -> None:
        agreement_id = fill_in(am)
        am.post(f"/agreements/{agreement_id}/generate")
        response = am.client.post(f"/agreements/{agreement_id}/signed",
                                  data={"csrf_token": am.csrf},
                                  files={"signed": ("signed.pdf", b"MZ\x90\x00", "application/pdf")})
        assert "not a PDF" in am.get(response.headers["location"]).text
        assert "status-final" in am.get(f"/agreements/{agreement_id}").text

    def it_refuses_an_upload_over_the_size_limit(self, am: Browserless) -> None:
        agreement_id = fill_in(am)
        big = b"%PDF-" + b"0" * 11_000_001
        response = am.client.post(f"/agreements/{agreement_id}/signed",
                                  data={"csrf_token": am.csrf},
                                  files={"signed": ("signed.pdf", big, "application/pdf")})
        assert response.status_code == 413

    def it_starts_a_new_version_from_the_previous_one(self, am: Browserless) -> None:
        agreement_id = fill_in(am, deviations={"objection_window_days": "14"})
        response = am.post(f"/agreements/{agreement_id}/new-version")
        new_id = int(response.headers["location"].split("/")[2])
        page = am.get(f"/agreements/{new_id}").text
        assert "v2" in page and "objection_window_days" in page


class DescribeList:
    def it_searches_and_filters(self, am: Browserless) -> None:
        first = fill_in(am)
        fill_in(am, customer={"customer.name": "Slagerij Janssens"})
        am.post(f"/agreements/{first}/generate")
        assert "Slagerij Janssens" not in am.get("/agreements?q=peeters").text
        assert "Bakkerij Peeters" in am.get("/agreements?q=peeters").text
        final = am.get("/agreements?status=final").text
        assert "Bakkerij Peeters" in final and "Slagerij Janssens" not in final
