"""Account managers upload several deal files (or a .zip of them) at once: each becomes an
agreement exactly as a single upload followed by *Generate* makes it; one bad file never
stops the others; the batch's .docx download as one .zip; unsafe .zip files make nothing."""

from __future__ import annotations

import io
import re
import zipfile

import docx
from fastapi import FastAPI
from sqlalchemy import func, select, text

from dpa_engine.notices import verify_audit
from dpa_engine.web.library import WebAgreementRow
from dpa_engine.web.users import Role

from .conftest import EMAILS, ROOT, Browserless

EXAMPLES = ROOT / "examples"
STANDARD = (EXAMPLES / "deal-standard-nl.yaml").read_text(encoding="utf-8")
NEGOTIATED = (EXAMPLES / "deal-negotiated-nl.yaml").read_text(encoding="utf-8")
FRENCH = (EXAMPLES / "deal-standard-fr.yaml").read_text(encoding="utf-8")
YAML_TYPE = "application/yaml"


def named(deal: str, name: str) -> bytes:
    """The deal with another customer name (the first `name:` line is the customer's)."""
    return re.sub(r"(?m)^  name: .*$", f"  name: '{name}'", deal, count=1).encode("utf-8")


def upload(am: Browserless, files: list[tuple[str, bytes]], *, csrf: bool = True):  # type: ignore[no-untyped-def]
    data = {"csrf_token": am.csrf} if csrf else {}
    return am.client.post("/agreements/batch", data=data,
                          files=[("deals", (name, content, YAML_TYPE)) for name, content in files])


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def agreements(app: FastAPI) -> list[WebAgreementRow]:
    with app.state.web.db.transaction() as session:
        rows = list(session.scalars(select(WebAgreementRow).order_by(WebAgreementRow.id)))
        session.expunge_all()
    return rows


def count(app: FastAPI) -> int:
    with app.state.web.db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(WebAgreementRow)) or 0)


def docx_names(data: bytes) -> dict[str, str]:
    """The .zip's members: file name -> the .docx's paragraph text (read with python-docx)."""
    found = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            document = docx.Document(io.BytesIO(archive.read(name)))
            found[name] = "\n".join(p.text for p in document.paragraphs)
    return found


class DescribeSeveralFiles:
    def it_makes_every_good_deal_and_names_the_bad_files_error(self, am: Browserless,
                                                              app: FastAPI) -> None:
        broken = STANDARD.replace("services: [customer-service]", "services: [customer-servise]")
        response = upload(am, [("peeters.yaml", named(STANDARD, "Bakkerij Een")),
                               ("broken.yaml", broken.encode()),
                               ("french.yaml", named(FRENCH, "Boulangerie Deux"))])
        assert response.status_code == 200
        page = response.text
        assert "2 created and generated, 0 waiting for legal&#39;s approval, 1 refused." in page
        assert "broken.yaml:" in page and "customer-servise" in page  # the file, the value
        assert "dpa-upload-" not in page  # no private working folder
        rows = agreements(app)
        assert [(r.customer_name, r.status, r.docx is not None) for r in rows] == [
            ("Bakkerij Een", "final", True), ("Boulangerie Deux", "final", True)]
        for row in rows:
            assert f'href="/agreements/{row.id}"' in page
        listing = am.get("/agreements").text
        assert "Bakkerij Een" in listing and "Boulangerie Deux" in listing

    def it_refuses_a_file_that_is_not_yaml_or_not_utf8_and_goes_on(self, am: Browserless,
                                                                   app: FastAPI) -> None:
        response = upload(am, [("notes.txt", b"hello"), ("latin.yaml", "naam: é".encode("latin-1")),
                               ("ok.yaml", named(STANDARD, "Bakkerij Drie"))])
        page = response.text
        assert "notes.txt: a deal file is a .yaml file of at most 1 MB" in page
        assert "latin.yaml: the deal file is not UTF-8 text" in page
        assert [r.customer_name for r in agreements(app)] == ["Bakkerij Drie"]

    def it_makes_the_same_agreement_as_a_single_upload_and_generate(
            self, am: Browserless, legal: Browserless, app: FastAPI) -> None:
        single = am.client.post("/agreements/upload", data={"csrf_token": am.csrf},
                                files={"deal": ("deal.yaml", NEGOTIATED.encode(), YAML_TYPE)})
        single_id = int(single.headers["location"].split("/")[2])
        am.post(f"/agreements/{single_id}/generate")
        response = upload(am, [("deal.yaml", NEGOTIATED.encode())])
        assert "0 created and generated, 1 waiting for legal&#39;s approval, 0 refused." \
            in response.text
        first, batch = agreements(app)
        assert first.id == single_id
        assert (batch.status, batch.draft_marking) == ("awaiting-approval", True)
        assert (batch.form, batch.deal_yaml, batch.customer_name, batch.version) == (
            first.form, first.deal_yaml, first.customer_name, first.version)
        assert (first.status, first.draft_marking) == (batch.status, batch.draft_marking)
        assert batch.manifest is not None and first.manifest is not None
        queue = legal.get("/legal/approvals").text
        assert f'href="/legal/approvals/{batch.id}"' in queue

    def it_keeps_hostile_names_as_text(self, am: Browserless, app: FastAPI) -> None:
        hostile = "{{ 7*7 }} <script>x</script>"
        response = upload(am, [("<script>y</script>{{ 7*7 }}.yaml", named(STANDARD, hostile)),
                               ("<b>bad</b>.yaml", b"customer: [")])
        page = response.text
        assert "{{ 7*7 }} &lt;script&gt;x&lt;/script&gt;" in page
        assert "&lt;script&gt;y&lt;/script&gt;{{ 7*7 }}.yaml" in page
        assert "&lt;b&gt;bad&lt;/b&gt;.yaml" in page
        assert "<script>" not in page and "<b>bad" not in page and "49" not in page
        assert [r.customer_name for r in agreements(app)] == [hostile]
        link = re.search(r'href="(/agreements/batch/agreements\.zip\?ids=[0-9,]+)"', page)
        assert link
        (text,) = docx_names(am.get(link.group(1)).content).values()
        assert hostile in text

    def it_refuses_a_post_without_its_csrf_token(self, am: Browserless, app: FastAPI) -> None:
        response = upload(am, [("ok.yaml", STANDARD.encode())], csrf=False)
        assert response.status_code == 403
        assert response.headers["x-dpa-refused"] == "csrf"
        assert count(app) == 0

    def it_refuses_more_than_200_files_and_makes_nothing(self, am: Browserless,
                                                         app: FastAPI) -> None:
        files = [(f"deal-{n}.yaml", STANDARD.encode()) for n in range(201)]
        response = upload(am, files)
        assert response.status_code == 422
        assert "Nothing was created." in response.text
        assert "more than 200 deal files in one batch" in response.text
        assert count(app) == 0

    def it_asks_for_files_when_none_are_chosen(self, am: Browserless, app: FastAPI) -> None:
        response = am.post("/agreements/batch")
        assert response.status_code == 422
        assert "no deal files in the upload" in response.text


class DescribeZip:
    def it_makes_the_deals_of_a_zip_and_downloads_their_docx_as_a_zip(
            self, am: Browserless, app: FastAPI) -> None:
        archive = zipped({"deals/een.yaml": named(STANDARD, "Klant Een"),
                          "deals/twee.yaml": named(STANDARD, "Klant Twee"),
                          "deals/drie.yaml": NEGOTIATED.encode(),
                          "deals/": b"", "__MACOSX/._een.yaml": b"\x00\x05"})
        response = upload(am, [("deals.zip", archive)])
        page = response.text
        assert "2 created and generated, 1 waiting for legal&#39;s approval, 0 refused." in page
        assert "deals/een.yaml" in page and "__MACOSX" not in page
        link = re.search(r'href="(/agreements/batch/agreements\.zip\?ids=[0-9,]+)"', page)
        assert link
        download = am.get(link.group(1).replace("&amp;", "&"))
        assert download.status_code == 200
        assert download.headers["content-type"] == "application/zip"
        documents = docx_names(download.content)
        assert sorted(documents) == ["dpa-2026-0001-v1-2.docx", "dpa-2026-0001-v1.docx",
                                     "dpa-2026-0003-v2-draft.docx"]
        assert "Klant Een" in documents["dpa-2026-0001-v1.docx"]
        assert "Klant Twee" in documents["dpa-2026-0001-v1-2.docx"]
        assert "Groenveld Energie" in documents["dpa-2026-0003-v2-draft.docx"]

    def it_refuses_a_member_name_that_climbs_out_and_makes_nothing(self, am: Browserless,
                                                                   app: FastAPI) -> None:
        archive = zipped({"good.yaml": STANDARD.encode(), "../../etc/evil.yaml": STANDARD.encode()})
        response = upload(am, [("deals.zip", archive), ("loose.yaml", STANDARD.encode())])
        assert response.status_code == 422
        assert ("Nothing was created. deals.zip: the member name &#39;../../etc/evil.yaml&#39; "
                "is not a plain relative name") in response.text
        assert count(app) == 0

    def it_refuses_a_zip_bomb_before_unpacking_it(self, am: Browserless, app: FastAPI) -> None:
        archive = zipped({"good.yaml": STANDARD.encode(), "bomb.yaml": b"0" * 50_000_000})
        assert len(archive) < 200_000
        response = upload(am, [("bomb.zip", archive)])
        assert response.status_code == 422
        assert ("bomb.zip: the member &#39;bomb.yaml&#39; unpacks to 50,000,000 bytes; "
                "a deal file is at most 1 MB") in response.text
        assert count(app) == 0

    def it_refuses_a_member_larger_than_its_header_says(self, am: Browserless,
                                                        app: FastAPI) -> None:
        archive = bytearray(zipped({"liar.yaml": b"a: " + b"0" * 2_000_000}))
        declared = (2_000_003).to_bytes(4, "little")
        for start in [m.start() for m in re.finditer(re.escape(declared), archive)]:
            archive[start:start + 4] = (100).to_bytes(4, "little")  # claims 100 bytes
        response = upload(am, [("liar.zip", bytes(archive))])
        assert response.status_code == 422
        assert "liar.zip: a member cannot be unpacked" in response.text
        assert count(app) == 0

    def it_refuses_a_zip_of_more_than_200_deals(self, am: Browserless, app: FastAPI) -> None:
        archive = zipped({f"d{n}.yaml": b"x" for n in range(201)})
        response = upload(am, [("many.zip", archive)])
        assert response.status_code == 422
        assert "many.zip: the .zip holds 201 files, more than 200" in response.text
        assert count(app) == 0

    def it_refuses_a_file_that_is_not_a_zip(self, am: Browserless, app: FastAPI) -> None:
        response = upload(am, [("deals.zip", b"PK not really")])
        assert response.status_code == 422
        assert "deals.zip: not a readable .zip file" in response.text

    def it_finds_nothing_to_download_for_unknown_ids(self, am: Browserless) -> None:
        assert am.get("/agreements/batch/agreements.zip?ids=999,abc").status_code == 404


def test_a_batch_on_postgresql(pg_app: FastAPI) -> None:
    am = Browserless(pg_app, Role.account_manager)
    archive = zipped({"een.yaml": named(STANDARD, "Klant Een"), "drie.yaml": NEGOTIATED.encode(),
                      "kapot.yaml": b"customer: ["})
    page = upload(am, [("deals.zip", archive)]).text
    assert "1 created and generated, 1 waiting for legal&#39;s approval, 1 refused." in page
    assert "kapot.yaml:1: not valid YAML" in page
    db = pg_app.state.web.db
    assert db.dialect == "postgresql"
    assert [(r.customer_name, r.status) for r in agreements(pg_app)] == [
        ("Klant Een", "final"), ("Groenveld Energie", "awaiting-approval")]
    with db.transaction() as session:
        actors = [row[0] for row in session.execute(
            text("SELECT actor FROM audit_events WHERE event = 'web-agreement-generated'"))]
    assert actors == [EMAILS[Role.account_manager]] * 2
    assert verify_audit(db).ok
