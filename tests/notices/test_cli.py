"""The `dpa` sub-commands of the notice workflow: thin, one clear line for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dpa_engine.cli.app import app

from .conftest import EXAMPLES, LIBRARY, TEMPLATE, SmtpServer


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
        return result.output

    return run


def it_runs_the_workflow_from_the_command_line(dpa, smtp: SmtpServer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert "bakkerij-peeters" in dpa("customers", "import", str(EXAMPLES))
    csv = dpa("subprocessors", "list", "--customer", "groenveld-energie", "--format", "csv")
    assert csv.splitlines()[0].startswith("Subverwerker,Juridische entiteit")
    listed = json.loads(dpa("subprocessors", "list", "--customer", "medcare-clinics",
                            "--format", "json"))
    assert listed["language"] == "en" and {r["id"] for r in listed["rows"]} >= {"transcribe-us"}
    dpa("subprocessors", "list", "--customer", "hopital-saint-lambert", "--format", "docx",
        "-o", str(tmp_path / "list.docx"))
    assert (tmp_path / "list.docx").stat().st_size > 0

    out = dpa("change", "propose", "--add", "--id", "voicebot", "--name", "VoiceBot",
              "--entity", "VoiceBot Inc.", "--country", "US", "--locations", "US,IE",
              "--purpose", "speech recognition", "--services", "speech-analytics",
              "--transfer", "scc:3:plus DPF", "--effective", "2099-01-01")
    assert "Proposed change 1" in out
    plan = json.loads(dpa("change", "plan", "1", "--format", "json"))
    assert [e["customer"] for e in plan["affected"]] == ["medcare-clinics"]
    sent = dpa("change", "send", "1", "--smtp-host", "127.0.0.1", "--smtp-port", str(smtp.port),
               "--smtp-from", "notices@voxalis.example")
    assert "sent medcare-clinics" in sent and len(smtp.recorder.messages) == 1
    assert "notices sent" in sent and "1/1" in sent  # the progress bar (stderr)
    assert "objection" in dpa("change", "status", "1")
    dpa("objection", "record", "--change", "1", "--customer", "medcare-clinics",
        "--received-at", "2020-01-01T10:00", "--text", "no", code=2)  # before it was proposed
    assert "ok" in dpa("audit", "verify")
    dpa("audit", "export", "-o", str(tmp_path / "pack.zip"))
    dpa("subprocessors", "feed", "-o", str(tmp_path / "feed"))
    assert (tmp_path / "feed" / "subprocessors.atom").exists()
    dpa("change", "letters", "1", "-o", str(tmp_path / "letters"))
    assert (tmp_path / "letters" / "change-1-medcare-clinics.docx").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["subprocessors", "list", "--customer", "nobody"], "unknown customer 'nobody'"),
    (["change", "plan", "7"], "there is no change 7"),
    (["change", "propose", "--add", "--effective", "2099-01-01"], "missing --id"),
    (["change", "propose", "--remove", "nordhost", "--effective", "tomorrow"], "not a date"),
    (["change", "send", "1", "--smtp-from", "not-an-address"], "from_address"),
    (["objection", "record", "--change", "1", "--customer", "x", "--received-at", "soon",
      "--text", "no"], "not a date and time"),
])
def it_turns_bad_input_into_one_line_and_exit_code_2(dpa, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    dpa("customers", "import", str(EXAMPLES))
    output = dpa(*args, code=2)
    assert message in output and "Traceback" not in output
    assert output.strip().count("\n") <= 2  # one message (Rich may wrap it)


def it_refuses_a_deal_with_a_zero_day_window_and_imports_nothing(dpa, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from .conftest import write_deal

    write_deal(tmp_path, 1)
    write_deal(tmp_path, 2, deviations={"objection_window_days": 0})
    assert "objection_window_days" in dpa("customers", "import", str(tmp_path), code=2)
    assert "register is empty" in dpa("subprocessors", "list", code=2)


def it_refuses_an_impossible_number_of_connections(dpa) -> None:  # type: ignore[no-untyped-def]
    out = dpa("change", "send", "1", "--connections", "0", code=2)
    assert "connections" in out and "--connections / DPA_SMTP_CONNECTIONS" in out
    assert "Traceback" not in out


def it_signs_checkpoints_at_send_and_verifies_a_kept_copy(dpa, smtp: SmtpServer, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "outside" / "audit.pem"
    public = dpa("audit", "keygen", str(key)).split("public key (for --public-key): ")[1].strip()
    monkeypatch.setenv("DPA_AUDIT_KEY", str(key))
    dpa("customers", "import", str(EXAMPLES))
    dpa("change", "propose", "--add", "--id", "voicebot", "--name", "VoiceBot",
        "--entity", "VoiceBot Inc.", "--country", "US", "--locations", "US,IE",
        "--purpose", "speech recognition", "--services", "speech-analytics",
        "--transfer", "scc:3", "--effective", "2099-01-01")
    dpa("change", "plan", "1")
    sent = dpa("change", "send", "1", "--smtp-host", "127.0.0.1", "--smtp-port", str(smtp.port),
               "--smtp-from", "notices@voxalis.example")
    assert "Audit checkpoint at record" in sent
    written = tmp_path / "cli.db.checkpoints"
    kept = tmp_path / "kept.checkpoints"
    kept.write_bytes(written.read_bytes())
    monkeypatch.delenv("DPA_AUDIT_KEY")
    verified = dpa("audit", "verify", "--checkpoint", str(kept), "--public-key", public)
    assert "checkpoints in" in verified and "1 checked" in verified
    wrong = "00" * 32
    dpa("audit", "verify", "--checkpoint", str(kept), "--public-key", wrong, code=1)


def _propose_voicebot(dpa, effective: str = "2099-01-01") -> None:  # type: ignore[no-untyped-def]
    dpa("change", "propose", "--add", "--id", "voicebot", "--name", "VoiceBot",
        "--entity", "VoiceBot Inc.", "--country", "US", "--locations", "US,IE",
        "--purpose", "speech recognition", "--services", "customer-service",
        "--transfer", "scc:3", "--effective", effective)


def it_withdraws_a_change_and_proposes_again(dpa) -> None:  # type: ignore[no-untyped-def]
    dpa("customers", "import", str(EXAMPLES))
    _propose_voicebot(dpa)
    assert "close change 1 first" in dpa("change", "propose", "--add", "--id", "voicebot",
                                         "--name", "VoiceBot", "--entity", "VoiceBot Inc.",
                                         "--country", "US", "--locations", "US,IE",
                                         "--purpose", "x", "--services", "customer-service",
                                         "--transfer", "scc:3", "--effective", "2099-01-01",
                                         code=2)
    withdrawn = json.loads(dpa("change", "withdraw", "1", "--reason", "wrong services",
                               "--json"))
    assert withdrawn == {"change": 1, "status": "withdrawn", "reason": "wrong services",
                         "was": "proposed", "to_tell": [], "subscribers": None,
                         "subscribers_not_told": "no SMTP server is configured (set "
                                                 "DPA_SMTP_HOST)"}
    assert "Change 1 (withdrawn)" in dpa("change", "status", "1")
    assert "ok" in dpa("audit", "verify")  # exit 0
    again = dpa("change", "withdraw", "1", "--reason", "again", code=2)
    assert "change 1 is already withdrawn" in again and again.strip().count("\n") == 0
    _propose_voicebot(dpa)
    assert "Change 2 (proposed)" in dpa("change", "status", "2")
    assert "--reason" in dpa("change", "withdraw", "2", code=2)  # required


def it_refuses_a_plan_inside_a_window_unless_forced(dpa) -> None:  # type: ignore[no-untyped-def]
    dpa("customers", "import", str(EXAMPLES))
    _propose_voicebot(dpa, effective="+1")
    refused = dpa("change", "plan", "1", code=2)
    assert "inside the window of 'bakkerij-peeters'" in refused and "23:59" in refused
    assert refused.strip().count("\n") <= 1 and "Traceback" not in refused
    forced = dpa("change", "plan", "1", "--force")
    assert "warning" in forced and "Next: dpa change send 1" in forced


def it_records_a_letter_sent_by_post(dpa, smtp: SmtpServer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dpa("customers", "import", str(EXAMPLES))
    _propose_voicebot(dpa)
    dpa("change", "plan", "1")
    smtp.recorder.refuse = {"privacy@bakkerijpeeters.example"}
    dpa("change", "send", "1", "--smtp-host", "127.0.0.1", "--smtp-port", str(smtp.port),
        "--smtp-from", "notices@voxalis.example", code=1)
    dpa("change", "letters", "1", "--unnotified", "--output-dir", str(tmp_path / "l"))
    assert [p.name for p in (tmp_path / "l").iterdir()] == ["change-1-bakkerij-peeters.docx"]
    skipped = dpa("change", "letter-sent", "1", "--customer", "bakkerij-peeters",
                  "--sent-at", "2026-03-29T02:30", code=2)
    assert "does not exist in Brussels" in skipped
    assert "in the future" in dpa("change", "letter-sent", "1", "--customer",
                                  "bakkerij-peeters", "--sent-at", "2999-01-01T10:00", code=2)
    recorded = json.loads(dpa("change", "letter-sent", "1", "--customer", "bakkerij-peeters",
                              "--sent-at", "now", "--json"))
    assert recorded["customer"] == "bakkerij-peeters" and recorded["deadline"]
    assert "deadlines and statuses match the log" in dpa("audit", "verify")  # exit 0
    nothing = dpa("change", "letters", "1", "--unnotified", "--output-dir", str(tmp_path / "m"))
    assert "every customer was notified; no letter to write" in " ".join(nothing.split())
    assert not (tmp_path / "m").exists()
    again = dpa("change", "send", "1")
    assert "nothing left to send" in again


def it_withdraws_a_sent_change_and_tells_the_customers(dpa, smtp: SmtpServer) -> None:  # type: ignore[no-untyped-def]
    dpa("customers", "import", str(EXAMPLES))
    _propose_voicebot(dpa)
    dpa("change", "plan", "1")
    smtp_options = ("--smtp-host", "127.0.0.1", "--smtp-port", str(smtp.port),
                    "--smtp-from", "notices@voxalis.example")
    dpa("change", "send", "1", *smtp_options)
    notified = len(smtp.recorder.messages)
    withdrawn = dpa("change", "withdraw", "1", "--reason", "another vendor")
    assert "withdrawn (it was sent)" in withdrawn and "Next: dpa change send 1" in withdrawn
    assert "ok" in dpa("audit", "verify")  # withdrawal notices queued, not sent yet: exit 0
    dpa("change", "send", "1", *smtp_options)
    assert len(smtp.recorder.messages) == 2 * notified
    assert "nothing left to send" in dpa("change", "send", "1", *smtp_options)
    assert "withdrawal sent" in dpa("change", "status", "1")
    assert "ok" in dpa("audit", "verify")
