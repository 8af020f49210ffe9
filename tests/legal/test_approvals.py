"""Deviation approvals: recorded with the deal, drop the DRAFT marking, tamper-evident."""

from __future__ import annotations

import json
from pathlib import Path

from dpa_engine import Engine
from dpa_engine.agreements.approvals import approval_status, approvals_path
from dpa_engine.agreements.deals import load_deal
from dpa_engine.agreements.rules import decide
from tests.conftest import FIXED_TIME
from tests.docx_helpers import parts
from tests.legal.conftest import dpa, edit


def _custom(docx: Path) -> str:
    return parts(docx)["docProps/custom.xml"]


def test_approval_drops_the_draft_marking_until_a_deviation_changes(
        engine: Engine, workspace: Path) -> None:
    deal = workspace / "examples" / "deal-negotiated-nl.yaml"
    out = workspace / "out.docx"
    assert engine.generate(deal, out, generated_at=FIXED_TIME).draft

    run = dpa("approve", deal, "--by", "Els Vermeulen", "--note", "caps agreed with CFO",
              "--library", workspace / "clauses")
    assert run.returncode == 0, run.stdout + run.stderr
    record = approvals_path(deal).read_text(encoding="utf-8")
    assert "Els Vermeulen" in record and "caps agreed with CFO" in record
    assert "liability_cap_total" in record and "deviations_sha256" in record

    result = engine.generate(deal, out, generated_at=FIXED_TIME)
    assert not result.draft
    assert ">FINAL<" in _custom(out)

    edit(deal, "objection_window_days: 14", "objection_window_days: 10")
    again = engine.generate(deal, out, generated_at=FIXED_TIME)
    assert again.draft
    assert ">DRAFT<" in _custom(out)
    status = approval_status(deal, decide(load_deal(deal), engine.library))
    assert status.state == "changed-since-approval"
    assert "objection_window_days" in status.message


def test_a_hand_edited_approval_is_detected(engine: Engine, workspace: Path) -> None:
    deal = workspace / "examples" / "deal-negotiated-nl.yaml"
    assert dpa("approve", deal, "--by", "Els", "--note", "ok").returncode == 0
    record = approvals_path(deal)
    edit(record, "agreed: '25000'", "agreed: '250000'")
    status = approval_status(deal, decide(load_deal(deal), engine.library))
    assert status.state == "tampered" and not status.approved
    assert engine.generate(deal, workspace / "x.docx", generated_at=FIXED_TIME).draft
    # approving again refuses to build on a broken record
    run = dpa("approve", deal, "--by", "Els", "--note", "again")
    assert run.returncode == 2 and "does not match its hashes" in run.stderr


def test_explain_shows_the_approval_status(workspace: Path) -> None:
    deal = workspace / "examples" / "deal-negotiated-nl.yaml"
    before = json.loads(dpa("explain", deal, "--json").stdout)
    assert before["approval"]["state"] == "unapproved"
    dpa("approve", deal, "--by", "Els Vermeulen", "--note", "ok")
    text = dpa("explain", deal).stdout
    assert "approved by Els Vermeulen" in text
    after = json.loads(dpa("explain", deal, "--json").stdout)
    assert after["approval"]["state"] == "approved"
    assert after["approval"]["approved_by"] == "Els Vermeulen"


def test_a_standard_deal_has_nothing_to_approve(workspace: Path) -> None:
    run = dpa("approve", workspace / "examples" / "deal-standard-nl.yaml", "--by", "x",
              "--note", "y")
    assert run.returncode == 2
    assert "nothing to approve" in run.stderr and "Traceback" not in run.stderr
