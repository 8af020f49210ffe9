"""Keep issue 17 fixed: any Unicode in any free-text field gives either a one-line input error
naming the field (exit code 2 at the command line), or files that every client can open and
that show the value literally. Hypothesis, with modest example counts; all in-process."""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from dpa_engine import Engine
from dpa_engine.errors import DpaError
from dpa_engine.library import Library, load_library
from dpa_engine.notices import import_deals, load_notice_texts
from dpa_engine.notices.feed import write_feed
from dpa_engine.notices.listing import list_csv, list_docx, list_json, subprocessor_list
from dpa_engine.render import DocxRenderer
from dpa_engine.storage import Database
from dpa_engine.yamlsource import load_yaml
from tests.conftest import EXAMPLES, LIBRARY, TEMPLATE

DEAL_FIELDS: list[tuple[str | int, ...]] = [
    ("customer", "name"), ("customer", "legal_form"), ("customer", "registered_office", "street"),
    ("customer", "registered_office", "postal_code"), ("customer", "registered_office", "city"),
    ("customer", "signatory", "name"), ("customer", "signatory", "title"), ("reference",),
    ("processing", 0, "purpose"), ("processing", 0, "nature"),
    ("processing", 0, "data_subjects", 0), ("processing", 0, "personal_data", 0),
    ("processing", 0, "retention"), ("processing", 0, "duration"),
]
PROVIDER_FIELDS: list[tuple[str | int, ...]] = [
    ("name",), ("legal_form",), ("registered_office", "street"), ("registered_office", "city"),
    ("subprocessors", 0, "name"), ("subprocessors", 0, "legal_entity"),
    ("subprocessors", 0, "purpose", "nl"), ("measures", 0, "description", "nl"),
]
# Every category, with the characters that broke documents before weighted in.
NASTY = st.sampled_from(["\x00", "\x01", "\x07", "\x1b", "\x7f", "\x85", "\ufffe", "\uffff",
                         "\u202e", "\u2028", "\ufeff", "\t", "\n", "\r", "\ud800", "&", "<",
                         "]]>", "{{ 7*7 }}", "{%", "\"", "'", "\\", "=", "@", " "])
PIECE = st.one_of(st.text(st.characters(codec=None), max_size=20), NASTY)
VALUE = st.one_of(
    st.lists(PIECE, min_size=1, max_size=8).map("".join),
    st.lists(PIECE, min_size=1, max_size=4).map("".join).filter(bool).map(
        lambda s: (s * (100_000 // len(s) + 1))[:100_000]),  # 100k characters
)
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


def _read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return data


def _set(data: Any, loc: tuple[str | int, ...], value: str) -> None:
    for key in loc[:-1]:
        data = data[key]
    data[loc[-1]] = value


def _yaml_string(value: str) -> str:
    """A YAML double-quoted scalar, every character outside printable ASCII escaped."""
    out = []
    for char in value:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def _dump(data: Any, raw: bool) -> str:
    """JSON-shaped YAML; strings escaped (ASCII only) or with their characters as typed."""
    if isinstance(data, dict):
        return "{" + ", ".join(f"{_dump(k, raw)}: {_dump(v, raw)}" for k, v in data.items()) + "}"
    if isinstance(data, list):
        return "[" + ", ".join(_dump(v, raw) for v in data) + "]"
    if isinstance(data, str):
        return json.dumps(data, ensure_ascii=False) if raw else _yaml_string(data)
    return json.dumps(data, default=str)


def _write(path: Path, data: dict[str, Any], raw: bool) -> None:
    try:
        path.write_text(_dump(data, raw), encoding="utf-8")
    except UnicodeEncodeError:  # a lone surrogate cannot be typed: only escaped
        path.write_text(_dump(data, False), encoding="utf-8")


def _loaded(path: Path, loc: tuple[str | int, ...]) -> str:
    """The value as YAML read it (raw line breaks fold, as YAML says)."""
    data: Any = load_yaml(path).data
    for key in loc:
        data = data[key]
    return str(data)


def _words(text: str) -> str:
    return " ".join(text.split())


def _docx_text(data: bytes) -> str:
    """The text of every XML part, each part parsed (so every part is well-formed)."""
    pieces = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if not name.endswith((".xml", ".rels")):
                continue
            root = ET.fromstring(archive.read(name))
            for element in root.iter():
                tag = element.tag.rsplit("}", 1)[-1]
                if tag in ("tab", "br", "p"):
                    pieces.append(" ")
                elif element.text and tag in ("t", "title", "subject", "description",
                                              "keywords", "creator", "lpwstr"):
                    pieces.append(element.text)
    return _words("".join(pieces))


def _strings(data: Any) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for value in data.values() for s in _strings(value)]
    if isinstance(data, list):
        return [s for value in data for s in _strings(value)]
    return []


def _assert_input_error(exc: DpaError, loc: tuple[str | int, ...], value: str) -> None:
    message = exc.message
    assert "\n" not in message and "\r" not in message, message
    if re.search("[\ud800-\udfff]", value):  # YAML refuses "\ud800" as it parses: a line
        assert exc.line is not None, message
        return
    field = ".".join(map(str, loc))
    assert exc.field is not None and (exc.field == field or exc.field.startswith(field + ".")
                                      or field.startswith(exc.field)), message


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load(LIBRARY, TEMPLATE)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
@SETTINGS
@given(field=st.sampled_from(DEAL_FIELDS + PROVIDER_FIELDS), value=VALUE, raw=st.booleans())
def test_any_text_in_a_deal_or_profile(engine: Engine, tmp_path_factory: pytest.TempPathFactory,
                                       field: tuple[str | int, ...], value: str,
                                       raw: bool) -> None:
    folder = tmp_path_factory.mktemp("prop")
    deal, provider = _read(EXAMPLES / "deal-standard-nl.yaml"), _read(EXAMPLES / "provider.yaml")
    in_deal = field in DEAL_FIELDS
    _set(deal if in_deal else provider, field, value)
    deal["provider"] = str(folder / "provider.yaml")
    _write(folder / "provider.yaml", provider, raw)
    _write(folder / "deal.yaml", deal, raw)
    out = folder / "out.docx"
    try:
        expected = _loaded(folder / ("deal.yaml" if in_deal else "provider.yaml"), field)
        engine.generate(folder / "deal.yaml", out)
    except DpaError as exc:
        event("refused")
        _assert_input_error(exc, field, value)
        assert not out.exists()
        return
    event("generated")
    assert _words(expected) in _docx_text(out.read_bytes())


@pytest.fixture(scope="module")
def library() -> Library:
    return load_library(LIBRARY)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
@SETTINGS
@given(field=st.sampled_from([("name",), ("subprocessors", 0, "name"),
                              ("subprocessors", 0, "legal_entity"),
                              ("subprocessors", 0, "purpose", "nl")]),
       value=VALUE.filter(lambda v: len(v) < 5000), raw=st.booleans())
def test_any_text_in_the_list_and_the_feed(library: Library,
                                           tmp_path_factory: pytest.TempPathFactory,
                                           field: tuple[str | int, ...], value: str,
                                           raw: bool) -> None:
    folder = tmp_path_factory.mktemp("list")
    deal, provider = _read(EXAMPLES / "deal-standard-nl.yaml"), _read(EXAMPLES / "provider.yaml")
    _set(provider, field, value)
    deal["provider"] = str(folder / "provider.yaml")
    _write(folder / "provider.yaml", provider, raw)
    _write(folder / "deal.yaml", deal, raw)
    db = Database(f"sqlite:///{folder / 'register.db'}")
    db.migrate()
    try:
        try:
            expected = _words(_loaded(folder / "provider.yaml", field))
            import_deals(db, [folder / "deal.yaml"], library, actor="property-test")
        except DpaError as exc:
            event("refused")
            _assert_input_error(exc, field, value)
            return
        event("listed")
        texts = load_notice_texts(LIBRARY / "notices")
        view = subprocessor_list(db, texts, customer_ref="bakkerij-peeters")
        if field != ("name",):
            cells = [_words(c) for row in csv.reader(io.StringIO(list_csv(view))) for c in row]
            assert any(expected in cell for cell in cells)
            assert not any(re.match(r"[=+\-@]", c) for row in csv.reader(
                io.StringIO(list_csv(view))) for c in row)
            assert any(expected in _words(text) for text in _strings(json.loads(list_json(view))))
            renderer = DocxRenderer(TEMPLATE)
            assert expected in _docx_text(list_docx(view, texts, renderer))
        feed = folder / "feed"
        feed.mkdir()
        write_feed(db, feed)  # in English: the nl purpose is not in it
        atom = ET.parse(feed / "subprocessors.atom").getroot()
        if field != ("subprocessors", 0, "purpose", "nl"):
            assert expected in _words(" ".join(atom.itertext()))
    finally:
        db.dispose()
