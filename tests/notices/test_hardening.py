"""Issue 17 in the notice workflow: CSV cells never run as formulas, the feed is always XML,
a folder entry that cannot be read fails alone, and every bad option, setting or database is
one line with exit code 2."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dpa_engine.cli.app import app
from dpa_engine.files import spreadsheet_safe
from dpa_engine.library import Library
from dpa_engine.notices import NoticeTexts, import_deals
from dpa_engine.notices.feed import write_feed
from dpa_engine.notices.listing import list_csv, subprocessor_list
from dpa_engine.storage import Database

from .conftest import EXAMPLES, LIBRARY, TEMPLATE, Clock
from .helpers import ACTOR

DPA = Path(sys.executable).parent / "dpa"
FORMULAS = {"nordhost": ('=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0"),
            "mailrelay": ("@SUM(1+1)", "-2+3"),
            "fixit": ("=1+2", "@cmd")}  # (a leading tab or CR is stripped when loaded)


@pytest.mark.parametrize(("cell", "safe"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@A1", "'@A1"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("NordHost", "NordHost"), ("a=b", "a=b"), ("", "")])
def test_a_cell_that_looks_like_a_formula_is_prefixed(cell: str, safe: str) -> None:
    assert spreadsheet_safe(cell) == safe


def _hostile_register(tmp_path: Path) -> Path:
    """The examples, with formula-like names and entities for three sub-processors."""
    folder = tmp_path / "deals"
    shutil.copytree(EXAMPLES, folder)
    profile = folder / "provider.yaml"
    text = profile.read_text(encoding="utf-8")
    for sub_id, (name, entity) in FORMULAS.items():
        start = text.index(f"  - id: {sub_id}\n")
        name_at = text.index("    name: ", start)
        entity_at = text.index("    legal_entity: ", start)
        name_end, entity_end = text.index("\n", name_at), text.index("\n", entity_at)
        quoted = [repr(value) for value in (name, entity)]
        text = (text[:name_at] + f"    name: {quoted[0]}" + text[name_end:entity_at]
                + f"    legal_entity: {quoted[1]}" + text[entity_end:])
    profile.write_text(text, encoding="utf-8")
    return folder


def test_the_csv_list_neutralises_formulas(db: Database, library: Library, texts: NoticeTexts,
                                           clock: Clock, tmp_path: Path) -> None:
    import_deals(db, [_hostile_register(tmp_path)], library, actor=ACTOR, now=clock())
    rows = list(csv.reader(io.StringIO(list_csv(subprocessor_list(db, texts)))))
    cells = {cell for row in rows for cell in row}
    for name, entity in FORMULAS.values():
        assert "'" + name in cells and "'" + entity in cells
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)


def test_the_feed_is_xml_and_written_whole(db: Database, library: Library, clock: Clock,
                                          tmp_path: Path) -> None:
    import_deals(db, [_hostile_register(tmp_path)], library, actor=ACTOR, now=clock())
    out = tmp_path / "feed"
    out.mkdir()
    write_feed(db, out)
    ET.parse(out / "subprocessors.atom")  # parses
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "subprocessors.atom").unlink()
    (out / "subprocessors.atom").mkdir()  # the second file cannot be written
    with pytest.raises(Exception, match="folder"):
        write_feed(db, out)
    assert (out / "subprocessors.json").read_bytes() == before["subprocessors.json"]
    assert not [p for p in out.iterdir() if p.name.endswith((".tmp", ".old"))]


def test_an_unreadable_entry_fails_alone_in_an_import(db: Database, library: Library,
                                                     clock: Clock, tmp_path: Path) -> None:
    folder = tmp_path / "deals"
    shutil.copytree(EXAMPLES, folder)
    (folder / "dir.yaml").mkdir()
    (folder / "dangling.yaml").symlink_to(folder / "gone.yaml")
    (folder / "loop-a.yaml").symlink_to(folder / "loop-b.yaml")
    (folder / "loop-b.yaml").symlink_to(folder / "loop-a.yaml")
    os.mkfifo(folder / "pipe.yaml")
    report = import_deals(db, [folder], library, actor=ACTOR, now=clock())
    assert len(report.agreements) == len(list(EXAMPLES.glob("deal-*.yaml")))
    failed = {Path(f.path).name: f.error for f in report.failed}
    assert set(failed) == {"dir.yaml", "dangling.yaml", "loop-a.yaml", "loop-b.yaml",
                           "pipe.yaml"}
    assert "folder" in failed["dir.yaml"] and "does not exist" in failed["dangling.yaml"]
    assert "not a regular file" in failed["pipe.yaml"]


# --- the command line --------------------------------------------------------------------

@pytest.fixture
def dpa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DPA_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("DPA_LIBRARY", str(LIBRARY))
    monkeypatch.setenv("DPA_TEMPLATE", str(TEMPLATE))
    monkeypatch.setenv("DPA_ACTOR", "cli-test")
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        if code == 2:
            lines = result.output.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), result.output
        return result.output

    return run


def test_a_typo_in_db_creates_nothing(dpa, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = dpa("customers", "list", "--db", str(tmp_path / "tyop.db"), code=2)
    assert "no register database" in out and "customers import" in out
    assert not (tmp_path / "tyop.db").exists()
    dpa("customers", "import", str(EXAMPLES), "--db", str(tmp_path / "new.db"))
    assert "bakkerij" in dpa("customers", "list", "--db", str(tmp_path / "new.db"), "--format",
                             "json")


def test_a_file_that_is_not_a_database(dpa, tmp_path: Path,  # type: ignore[no-untyped-def]
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "notes.txt").write_text("not a database\n", encoding="utf-8")
    monkeypatch.setenv("DPA_DATABASE_URL", str(tmp_path / "notes.txt"))
    assert "not a SQLite database" in dpa("customers", "list", code=2)
    monkeypatch.setenv("DPA_DATABASE_URL", str(tmp_path))
    assert "not a database file" in dpa("customers", "list", code=2)


def test_a_folder_entry_that_cannot_be_read_is_reported(dpa, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "deals"
    shutil.copytree(EXAMPLES, folder)
    (folder / "dir.yaml").mkdir()
    out = dpa("customers", "import", str(folder), code=1)
    assert "failed" in out and "dir.yaml" in out and "bakkerij-peeters" in out


@pytest.mark.parametrize(("args", "fragment"), [
    (("--text", "bad\x00text"), "U+0000"),
    (("--text", "bell\x07"), "U+0007"),
    (("--text", "\ufffe"), "U+FFFE"),
])
def test_objection_text_is_checked_at_the_edge(dpa, args: tuple[str, ...],  # type: ignore[no-untyped-def]
                                               fragment: str) -> None:
    dpa("customers", "import", str(EXAMPLES))
    out = dpa("objection", "record", "--change", "1", "--customer", "bakkerij-peeters",
              "--received-at", "2026-11-25T10:00", *args, code=2)
    assert fragment in out and "--text" in out
    assert "INSERT" not in out and "bad" not in out.split("fix:")[0].split("--text:")[0]


def test_a_time_that_does_not_exist_in_brussels(dpa) -> None:  # type: ignore[no-untyped-def]
    dpa("customers", "import", str(EXAMPLES))
    out = dpa("objection", "record", "--change", "1", "--customer", "bakkerij-peeters",
              "--received-at", "2026-03-29T02:30", "--text", "no", code=2)
    assert "does not exist in Brussels" in out and "--received-at" in out


@pytest.mark.parametrize(("variable", "value"), [
    ("DPA_SMTP_TIMEOUT", "inf"), ("DPA_SMTP_BACKOFF", "inf"), ("DPA_SMTP_TIMEOUT", "nan"),
    ("DPA_SMTP_BACKOFF_MAX", "-1"), ("DPA_SMTP_TIMEOUT", "soon")])
def test_smtp_seconds_must_be_finite(dpa, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                     variable: str, value: str) -> None:
    dpa("customers", "import", str(EXAMPLES))
    monkeypatch.setenv(variable, value)
    out = dpa("change", "send", "1", code=2)
    assert variable in out and value in out


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DPA_")}
    env.update(NO_COLOR="1", COLUMNS="60", TERM="dumb", DPA_LIBRARY=str(LIBRARY))
    return subprocess.run([str(DPA), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.parametrize("args", [
    ("change", "plan", "99999999999999999999"),
    ("objection", "record", "--change", "99999999999999999999", "--customer", "x",
     "--received-at", "2026-11-25T10:00"),
    ("change", "send", "1", "--smtp-port", "70000"),
    ("generate",),
    ("generate", "examples/deal-standard-nl.yaml", "--nonsense"),
])
def test_a_usage_error_is_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = _run(*args, "--db", str(tmp_path / "x.db"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: dpa "), result.stderr
    assert "--help" in lines[0]
    assert not (tmp_path / "x.db").exists()


def test_a_list_never_overwrites_the_register(dpa, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dpa("customers", "import", str(EXAMPLES))
    before = (tmp_path / "cli.db").stat().st_size
    out = dpa("subprocessors", "list", "--format", "csv", "-o", str(tmp_path / "cli.db"), code=2)
    assert "register database" in out
    assert (tmp_path / "cli.db").stat().st_size == before
    assert "bakkerij" in dpa("customers", "list", "--format", "json")


def test_a_nul_in_an_objection_never_reaches_the_database(  # type: ignore[no-untyped-def]
        dpa, db_url: str) -> None:
    """On PostgreSQL a NUL used to end in the driver's error, quoting the SQL and the text."""
    dpa("customers", "import", str(EXAMPLES), "--db", db_url)
    out = dpa("objection", "record", "--change", "1", "--customer", "bakkerij-peeters",
              "--received-at", "2026-11-25T10:00", "--text", "Jan Peeters\x00objects",
              "--db", db_url, code=2)
    assert "--text" in out and "U+0000" in out
    assert "INSERT" not in out and "Jan Peeters" not in out
