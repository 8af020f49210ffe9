"""The account manager's batch upload driven in headless Chromium: three deal files, one
bad; the result page (axe-core, screenshot); the generated agreements as one .zip."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import docx
import pytest

from dpa_engine.web.users import Role

from .test_batch_upload import NEGOTIATED, STANDARD, named
from .test_browser import Visitor
from .test_browser import browser_database as browser_database  # the fixtures of the flows
from .test_browser import server as server
from .test_browser import visit as visit

pytestmark = pytest.mark.browser
YAML = "application/yaml"


class DescribeBatchUpload:
    def it_uploads_three_deal_files_and_downloads_the_agreements(
            self, visit: Callable[[str], Visitor], tmp_path: Path) -> None:
        am = visit("am-batch")
        am.log_in(Role.account_manager)
        am.goto("/agreements")
        page = am.page
        broken = STANDARD.replace("language: nl", "language: de")
        page.set_input_files("#deals", [
            {"name": "bakkerij-batch.yaml", "mimeType": YAML,
             "buffer": named(STANDARD, "Bakkerij Batch")},
            {"name": "wrong-language.yaml", "mimeType": YAML, "buffer": broken.encode()},
            {"name": "groenveld.yaml", "mimeType": YAML, "buffer": NEGOTIATED.encode()}])
        with page.expect_navigation():
            page.click("button:has-text('Upload and generate')")
        am.check("batch result")
        rows = page.locator("table.batch tbody tr")
        assert rows.count() == 3
        assert "created and generated" in rows.nth(0).inner_text()
        refused = rows.nth(1).inner_text()
        assert "refused: wrong-language.yaml:" in refused and "language: input should be" in refused
        assert "waiting for legal's approval" in rows.nth(2).inner_text()
        with page.expect_download() as info:
            page.click("text=Download the generated agreements (.zip)")
        target = tmp_path / "agreements.zip"
        info.value.save_as(str(target))
        with zipfile.ZipFile(target) as archive:
            texts = {name: "\n".join(p.text for p in
                                     docx.Document(io.BytesIO(archive.read(name))).paragraphs)
                     for name in archive.namelist()}
        assert len(texts) == 2
        assert any("Bakkerij Batch" in t for t in texts.values())
        assert any("Groenveld Energie" in t for t in texts.values())
        page.click("text=Bakkerij Batch")
        page.wait_for_selector(".status-final")
        am.check("batch agreement")
