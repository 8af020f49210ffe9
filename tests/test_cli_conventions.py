"""One spelling per concept (README "Conventions"): --json, CHANGE, -o/--output-dir,
--library, --language; the old spellings still work; exit codes 0 / 1 / 2."""

from __future__ import annotations

import datetime
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dpa_engine.cli.app import app
from dpa_engine.cli.notice_options import deadline_text
from tests.conftest import EXAMPLES, LIBRARY, TEMPLATE
from tests.notices.conftest import SmtpServer, smtp  # noqa: F401 (the fixture)

Run = Callable[..., str]


@pytest.fixture
def dpa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.chdir(tmp_path)
    for name in ("DPA_DATABASE_URL", "DPA_LIBRARY", "DPA_TEMPLATE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DPA_ACTOR", "conventions-test")
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.stdout

    return run


def test_the_notice_workflow_with_the_new_spellings_and_json(dpa: Run, smtp: SmtpServer,  # noqa: F811
                                                             tmp_path: Path) -> None:
    imported = json.loads(dpa("customers", "import", str(EXAMPLES), "--json"))
    assert {a["customer"] for a in imported["agreements"]} >= {"medcare-clinics"}
    assert (tmp_path / ".dpa" / "dpa.db").is_file()  # the default database
    assert json.loads(dpa("customers", "list", "--json"))[0]["key"]
    proposed = json.loads(dpa(
        "change", "propose", "--add", "--id", "voicebot", "--name", "VoiceBot", "--entity",
        "VoiceBot Inc.", "--country", "US", "--locations", "US,IE", "--purpose", "speech",
        "--services", "speech-analytics", "--transfer", "scc:3", "--effective", "+30", "--json"))
    change = str(proposed["change"])
    assert proposed["id"] == proposed["change"] == 1
    assert proposed["effective_on"] == str(datetime.date.today() + datetime.timedelta(days=30))
    plan = json.loads(dpa("change", "plan", change, "--json"))
    assert [e["customer"] for e in plan["affected"]] == ["medcare-clinics"]
    sent = json.loads(dpa("change", "send", change, "--smtp-host", "127.0.0.1", "--smtp-port",
                          str(smtp.port), "--smtp-from", "notices@voxalis.example", "--json"))
    assert sent["sent"] == ["medcare-clinics"] and sent["complete"] is True
    again = json.loads(dpa("change", "send", change, "--smtp-host", "127.0.0.1", "--smtp-port",
                           str(smtp.port), "--smtp-from", "notices@voxalis.example", "--json"))
    assert again["nothing_left_to_send"] is True  # exit 0
    assert len(smtp.recorder.messages) == 1
    recorded = json.loads(dpa("objection", "record", change, "--customer", "medcare-clinics",
                              "--received-at", "now", "--text", "Wij maken bezwaar.", "--json"))
    assert recorded["late"] is False and recorded["kind"] == "objection"
    assert json.loads(dpa("change", "status", change, "--json"))["targets"]
    assert json.loads(dpa("audit", "verify", "--json"))["ok"] is True
    dpa("audit", "export", change, "-o", str(tmp_path / "evidence.zip"))
    assert (tmp_path / "evidence.zip").is_file()
    dpa("change", "letters", change, "--output-dir", str(tmp_path / "letters"))
    assert list((tmp_path / "letters").glob("*.docx"))
    dpa("subprocessors", "feed", "--output-dir", str(tmp_path / "public"))
    assert (tmp_path / "public" / "subprocessors.json").is_file()
    listed = json.loads(dpa("subprocessors", "list", "--customer", "medcare-clinics", "--json"))
    assert listed["language"] == "en"


def test_old_spellings_still_work(dpa: Run, tmp_path: Path) -> None:
    dpa("customers", "import", str(EXAMPLES))
    proposed = dpa("change", "propose", "--remove", "nordhost", "--effective", "+10")
    assert "Proposed change 1" in proposed
    assert json.loads(dpa("change", "plan", "1", "--format", "json"))["change"]["id"] == 1
    dpa("audit", "export", "--change", "1", "-o", str(tmp_path / "e.zip"))
    dpa("subprocessors", "feed", "-o", str(tmp_path / "feed"))
    assert (tmp_path / "feed" / "subprocessors.atom").is_file()
    shown = json.loads(dpa("clauses", "show", "liability.cap", "--lang", "fr", "--json",
                           "--library", str(LIBRARY)))
    assert set(shown["text"]) == {"fr"}
    assert "has no problems" in dpa("clauses", "lint", str(LIBRARY))


def test_missing_change_number_is_bad_usage(dpa: Run) -> None:
    dpa("customers", "import", str(EXAMPLES))
    dpa("objection", "record", "--customer", "x", "--received-at", "now", code=2)


def test_conflicting_old_and_new_spelling_is_refused(dpa: Run) -> None:
    dpa("clauses", "show", "liability.cap", "--lang", "fr", "--language", "nl", code=2)


def test_library_commands_take_library_and_answer_in_json(dpa: Run, tmp_path: Path) -> None:
    report = json.loads(dpa("clauses", "lint", "--library", str(LIBRARY), "--json"))
    assert report["ok"] is True and report["problems"] == []
    coverage = json.loads(dpa("clauses", "coverage", "--library", str(LIBRARY), "--json"))
    assert coverage["gaps"] == []
    shown = json.loads(dpa("clauses", "show", "liability.cap", "--language", "en",
                           "--library", str(LIBRARY), "--json"))
    assert set(shown["title"]) == {"en"}
    copy = tmp_path / "clauses"
    shutil.copytree(LIBRARY, copy)
    diff = json.loads(dpa("clauses", "diff", str(LIBRARY), "--library", str(copy),
                          "--examples", str(EXAMPLES), "--json"))
    assert diff["clauses"] == []
    locked = json.loads(dpa("clauses", "lock", "--library", str(copy), "--json"))
    assert locked["added"] == []


def test_lint_problems_exit_1_with_json(dpa: Run, tmp_path: Path) -> None:
    copy = tmp_path / "clauses"
    shutil.copytree(LIBRARY, copy)
    (copy / "versions.lock").unlink()
    report = json.loads(dpa("clauses", "lint", "--library", str(copy), "--json", code=1))
    assert report["ok"] is False
    assert {p["code"] for p in report["problems"]} == {"lock-missing"}
    assert all(p["fix"] for p in report["problems"])


def test_generate_json_and_batch_output_dir(dpa: Run, tmp_path: Path) -> None:
    result = json.loads(dpa("generate", str(EXAMPLES / "deal-negotiated-nl.yaml"), "-o",
                            str(tmp_path / "a.docx"), "--template", str(TEMPLATE), "--json"))
    assert result["draft"] is True and result["docx"] == str(tmp_path / "a.docx")
    assert {d["parameter"] for d in result["deviations"]} >= {"objection_window_days"}
    deals = tmp_path / "deals"
    deals.mkdir()
    for name in ("deal-standard-nl.yaml", "provider.yaml"):
        shutil.copy(EXAMPLES / name, deals / name)
    summary = json.loads(dpa("batch", str(deals), "--output-dir", str(tmp_path / "out"),
                             "-j", "1", "--json"))
    assert summary["succeeded"] == 1
    dpa("batch", str(deals), "-o", str(tmp_path / "old"), "-j", "1")  # the old spelling
    assert list((tmp_path / "old").glob("*.docx"))
    dpa("batch", str(deals), "-j", "1", code=2)  # no folder given: bad usage


def test_help_paragraphs_wrap_at_the_terminal_width(dpa: Run) -> None:
    """A docstring's line breaks are not the terminal's: a paragraph is wrapped as a whole,
    so no line of help ends after a word or two."""
    for command in (["change", "plan"], ["change", "withdraw"], ["change", "send"]):
        text = dpa(*command, "--help")
        description = text.split("╭")[0].splitlines()[2:]  # after the usage line
        lines = [line.strip() for line in description if line.strip()]
        assert lines, text
        last_of_paragraph = {i for i, line in enumerate(description) if line.strip()
                             and (i + 1 == len(description) or not description[i + 1].strip())}
        for i, line in enumerate(description):
            if line.strip() and i not in last_of_paragraph:
                assert len(line.rstrip()) > 60, f"{command}: a line cut short: {line!r}"


def test_a_deadline_is_shown_as_its_last_minute_and_a_closing_moment_as_itself() -> None:
    utc = datetime.UTC
    assert deadline_text(datetime.datetime(2026, 11, 30, 23, 0, tzinfo=utc)) \
        == "2026-11-30 23:59 CET"  # stored as midnight in Brussels: the day's last minute
    closed = datetime.datetime(2026, 12, 3, 14, 1, 10, 191825, tzinfo=utc)  # a withdrawal
    assert deadline_text(closed) == "2026-12-03 15:01 CET"
