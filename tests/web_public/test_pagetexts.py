"""The page texts legal maintains (clauses/portal) load strictly, like the notice texts."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import pytest

from dpa_engine.customers.pagetexts import PAGE_TEXT_KEYS, load_page_texts
from dpa_engine.errors import LibraryError
from dpa_engine.notices import load_notice_texts
from dpa_engine.notices.links import notice_url

from .conftest import LIBRARY


def it_loads_every_text_in_three_languages() -> None:
    texts = load_page_texts(LIBRARY / "portal")
    assert set(texts.templates) == PAGE_TEXT_KEYS
    assert texts.render("tz_NL", "nl") == "Nederlandse tijd"


def it_names_file_and_line_of_a_missing_language(tmp_path: Path) -> None:
    folder = tmp_path / "portal"
    shutil.copytree(LIBRARY / "portal", folder)
    path = folder / "portal.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("    fr: Aller au contenu\n", ""), encoding="utf-8")
    with pytest.raises(LibraryError) as caught:
        load_page_texts(folder)
    assert "page text 'skip_link' has no 'fr' version" in str(caught.value)
    assert "portal.yaml:" in str(caught.value)


def it_refuses_different_placeholders_per_language(tmp_path: Path) -> None:
    folder = tmp_path / "portal"
    shutil.copytree(LIBRARY / "portal", folder)
    path = folder / "portal.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('en: "Dear {{ contact_name }},"', 'en: "Dear {{ name }},"'),
                    encoding="utf-8")
    with pytest.raises(LibraryError, match="different placeholders"):
        load_page_texts(folder)


def it_gives_the_notice_e_mail_a_sentence_with_the_link() -> None:
    texts = load_notice_texts(LIBRARY / "notices")
    url = notice_url("https://dpa.example", 1, "bakkerij-peeters",
                     datetime.datetime(2026, 12, 11, tzinfo=datetime.UTC), secret="s")
    values = {"notice_url": url, "deadline_date": "11 December 2026", "deadline_time": "23:59",
              "time_zone": "Dutch time"}
    for language in ("nl", "fr", "en"):
        for kind in ("objection", "consent", "informational"):
            assert texts.render(f"notice_link_{kind}", language, **values).endswith(url)
        assert "Marie" in texts.render("greeting_named", language, contact_name="Marie")
