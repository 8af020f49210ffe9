"""Legal over HTTP: the approval queue with its redline, approval by the logged-in user in
the audit log, and the clause browser."""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import text

from dpa_engine.notices import verify_audit

from .conftest import EMAILS, ROOT, Browserless
from .flows import fill_in
from .test_agreements import docx_text

DRAFT_NL = "ONTWERP – bevat niet-goedgekeurde afwijkingen"


def _deviating(am: Browserless) -> int:
    agreement_id = fill_in(am, deviations={"objection_window_days": "14"})
    assert am.post(f"/agreements/{agreement_id}/generate").status_code == 303
    return agreement_id


class DescribeApprovalQueue:
    def it_queues_a_deal_with_deviations_as_a_draft(self, am: Browserless,
                                                    legal: Browserless) -> None:
        agreement_id = _deviating(am)
        assert "status-awaiting-approval" in am.get(f"/agreements/{agreement_id}").text
        assert DRAFT_NL in docx_text(am.get(f"/agreements/{agreement_id}/agreement.docx").content)
        queue = legal.get("/legal/approvals").text
        assert f'href="/legal/approvals/{agreement_id}"' in queue

    def it_shows_the_deviations_as_a_redline(self, am: Browserless, legal: Browserless) -> None:
        page = legal.get(f"/legal/approvals/{_deviating(am)}").text
        assert "objection_window_days" in page
        assert "<ins>14</ins>" in page or "<ins>14 " in page or "<ins>veertien" in page
        assert "<del>" in page

    def it_records_the_approval_by_the_logged_in_user(self, app: FastAPI, am: Browserless,
                                                      legal: Browserless) -> None:
        agreement_id = _deviating(am)
        response = legal.post(f"/legal/approvals/{agreement_id}",
                              {"decision": "approve", "note": "ok for this customer",
                               "approved_by": "someone else"})
        assert response.status_code == 303
        assert f'href="/legal/approvals/{agreement_id}"' not in legal.get("/legal/approvals").text
        db = app.state.web.db
        with db.transaction() as session:
            events = session.execute(text("SELECT actor, event FROM audit_events ORDER BY seq")).all()
        assert (EMAILS[legal_role()], "web-deviations-approved") in [tuple(e) for e in events]
        assert verify_audit(db).ok
        page = am.get(f"/agreements/{agreement_id}").text
        assert "status-approved" in page and "ok for this customer" in page

    def it_drops_the_draft_marking_when_an_approved_deal_is_regenerated(
            self, am: Browserless, legal: Browserless) -> None:
        agreement_id = _deviating(am)
        legal.post(f"/legal/approvals/{agreement_id}", {"decision": "approve", "note": "fine"})
        am.post(f"/agreements/{agreement_id}/generate")
        assert "status-final" in am.get(f"/agreements/{agreement_id}").text
        text_ = docx_text(am.get(f"/agreements/{agreement_id}/agreement.docx").content)
        assert DRAFT_NL not in text_ and "14" in text_

    def it_asks_for_a_note_to_reject_and_sends_the_deal_back(self, am: Browserless,
                                                             legal: Browserless) -> None:
        agreement_id = _deviating(am)
        refused = legal.post(f"/legal/approvals/{agreement_id}", {"decision": "reject"})
        assert refused.headers["location"].endswith("?error=note")
        legal.post(f"/legal/approvals/{agreement_id}",
                   {"decision": "reject", "note": "14 days is too short"})
        page = am.get(f"/agreements/{agreement_id}").text
        assert "status-draft" in page and "14 days is too short" in page

    def it_needs_a_new_approval_after_the_deviations_change(self, am: Browserless,
                                                            legal: Browserless) -> None:
        agreement_id = _deviating(am)
        legal.post(f"/legal/approvals/{agreement_id}", {"decision": "approve", "note": "ok"})
        am.post(f"/agreements/{agreement_id}/step/deviations",
                {"deviations.objection_window_days": "10"})
        am.post(f"/agreements/{agreement_id}/generate")
        assert "status-awaiting-approval" in am.get(f"/agreements/{agreement_id}").text


def legal_role():  # type: ignore[no-untyped-def]
    from dpa_engine.web.users import Role

    return Role.legal


class DescribeClauseBrowser:
    def it_filters_by_family_article_and_text(self, legal: Browserless) -> None:
        by_family = legal.get("/legal/clauses?family=audit").text
        assert "audit.inspections" in by_family and "breach.notification" not in by_family
        by_article = legal.get("/legal/clauses?article=28(3)(a)").text
        assert "instructions." in by_article and "audit.inspections" not in by_article
        by_text = legal.get("/legal/clauses?q=inspection").text
        assert "audit.inspections" in by_text

    def it_shows_a_clause_in_three_languages(self, legal: Browserless) -> None:
        page = legal.get("/legal/clauses/audit.inspections").text
        for language in ("nl", "fr", "en"):
            assert f'<section lang="{language}"' in page
        assert "Version history" in page

    def it_diffs_a_clause_word_by_word_against_another_library(self, legal: Browserless,
                                                               tmp_path: Path) -> None:
        other = tmp_path / "clauses"
        shutil.copytree(ROOT / "clauses", other)
        audit = other / "audit.yaml"
        source = audit.read_text(encoding="utf-8")
        sentence = "The Provider allows for and contributes to audits, including inspections."
        assert sentence in source
        audit.write_text(source.replace(sentence, "The Provider allows for audits."),
                         encoding="utf-8")
        compared = legal.get(f"/legal/clauses/audit.inspections?against={other}").text
        assert "Showing changes from" in compared
        # from the other library (short sentence) to the current one (long sentence)
        assert "<ins>and contributes to </ins>" in compared or "<ins>and contributes" in compared

    def it_shows_the_coverage_matrix(self, legal: Browserless) -> None:
        page = legal.get("/legal/coverage").text
        assert "28(3)(a)" in page and "status-covered" in page
