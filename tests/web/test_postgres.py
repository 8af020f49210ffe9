"""The web app on PostgreSQL: the account manager's and legal's path end to end."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import text

from dpa_engine.notices import list_customers, verify_audit
from dpa_engine.web.users import Role

from .conftest import EMAILS, Browserless
from .flows import fill_in


def test_the_whole_path_on_postgresql(pg_app: FastAPI) -> None:
    am, legal = Browserless(pg_app, Role.account_manager), Browserless(pg_app, Role.legal)
    agreement_id = fill_in(am, deviations={"objection_window_days": "14"})
    am.post(f"/agreements/{agreement_id}/generate")
    assert "status-awaiting-approval" in am.get(f"/agreements/{agreement_id}").text
    legal.post(f"/legal/approvals/{agreement_id}", {"decision": "approve", "note": "ok"})
    am.post(f"/agreements/{agreement_id}/generate")
    assert "status-final" in am.get(f"/agreements/{agreement_id}").text
    response = am.client.post(f"/agreements/{agreement_id}/signed", data={"csrf_token": am.csrf},
                              files={"signed": ("signed.pdf", b"%PDF-1.7\n", "application/pdf")})
    assert response.status_code == 303
    assert "status-signed" in am.get(f"/agreements/{agreement_id}").text
    db = pg_app.state.web.db
    assert db.dialect == "postgresql"
    assert [c.name for c in list_customers(db)] == ["Bakkerij Peeters"]
    with db.transaction() as session:
        actors = {row[0] for row in session.execute(text("SELECT actor FROM audit_events"))}
    assert EMAILS[Role.legal] in actors
    assert verify_audit(db).ok
