"""The register: customers, agreements, list versions, changes, outbox, send leases,
objections, the append-only audit log (with its head row), the web app's users, sessions and
agreements, and the customer's side (notice-page answers, refusals, subscriptions).

The pre-release revisions (0001-0004, w001, p001, n001, s001) were squashed into this one for
v0.2.0.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_APPEND_ONLY_SQLITE = """
CREATE TRIGGER audit_events_no_{op} BEFORE {OP} ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END
"""
_APPEND_ONLY_PG = (
    "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$",
    "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
)
# every table, in an order that drops each before the tables it refers to
_TABLES = ("subscription_deliveries", "subscriptions", "portal_refusals", "portal_answers",
           "web_agreements", "web_sessions", "web_users", "audit_head", "audit_events",
           "objections", "send_leases", "outbox_payloads", "outbox", "change_targets",
           "changes", "list_versions", "agreements", "customers", "meta")


def upgrade() -> None:
    _notice_register()
    _audit_log()
    _web_app()
    _customer_side()


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute(sa.text("DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events"))
        op.execute(sa.text("DROP FUNCTION IF EXISTS audit_events_append_only()"))
    for table in _TABLES:
        op.drop_table(table)


def _notice_register() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(80), nullable=False, unique=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("enterprise_number", sa.String(40), nullable=False, unique=True),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("fallback_contact", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("contact_name", sa.Text(), nullable=True),
    )
    op.create_table(
        "agreements",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("window_unit", sa.String(16), nullable=False),
        sa.Column("authorisation", sa.String(16), nullable=False),
        sa.Column("governing_law", sa.String(2), nullable=False),
        sa.Column("holiday_country", sa.String(2), nullable=False),
        sa.Column("remedy", sa.String(40), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("notice_emails", sa.JSON(), nullable=False),
        sa.Column("clause_versions", sa.JSON(), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_hash", sa.String(64), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("customer_id", "version"),
    )
    op.create_table(
        "list_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("number", sa.Integer(), nullable=False, unique=True),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=True),
        sa.Column("change_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("entries", sa.JSON(), nullable=False),
    )
    op.create_table(
        "changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("subprocessor", sa.JSON(), nullable=True),
        sa.Column("previous", sa.JSON(), nullable=True),
        sa.Column("target_id", sa.String(80), nullable=True),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("base_list_number", sa.Integer(), nullable=False),
        sa.Column("proposed_at", sa.DateTime(), nullable=False),
        sa.Column("proposed_by", sa.Text(), nullable=False),
        sa.Column("plan_hash", sa.String(64), nullable=True),
        sa.Column("planned_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("list_number_after", sa.Integer(), nullable=True),
    )
    op.create_table(
        "change_targets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("change_id", sa.Integer(), sa.ForeignKey("changes.id"), nullable=False),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("agreement_id", sa.Integer(), sa.ForeignKey("agreements.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(24), nullable=True),
        sa.Column("notified_at", sa.DateTime(), nullable=True),
        sa.Column("deadline", sa.DateTime(), nullable=True),
        sa.Column("stated_deadline", sa.DateTime(), nullable=True),
        sa.Column("follow_up", sa.Text(), nullable=True),
        sa.UniqueConstraint("change_id", "customer_id"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("target_id", sa.Integer(), sa.ForeignKey("change_targets.id"), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False, unique=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("rendered_for", sa.Date(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(16), nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("in_doubt_resends", sa.Integer(), nullable=False),
        sa.Column("refused_recipients", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False, server_default="notice"),
        sa.UniqueConstraint("target_id", "purpose", name="uq_outbox_target_purpose"),
    )
    op.create_index("ix_outbox_status", "outbox", ["status"])
    op.create_table(
        "outbox_payloads",
        sa.Column("outbox_id", sa.Integer(), sa.ForeignKey("outbox.id"), primary_key=True,
                  autoincrement=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("letter_source", sa.JSON(), nullable=False),
        sa.Column("mime", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "send_leases",
        sa.Column("sender", sa.String(64), primary_key=True),
        sa.Column("host", sa.Text(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "objections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("change_id", sa.Integer(), sa.ForeignKey("changes.id"), nullable=False),
        sa.Column("target_id", sa.Integer(), sa.ForeignKey("change_targets.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.Text(), nullable=False),
    )


def _audit_log() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=True),
        sa.Column("customer_key", sa.String(80), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )
    op.execute(sa.text("INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, '" + "0" * 64
                       + "')"))
    # The database itself refuses edits of the audit log; `dpa audit verify` catches the rest.
    if op.get_bind().dialect.name == "sqlite":
        for name in ("update", "delete"):
            op.execute(sa.text(_APPEND_ONLY_SQLITE.format(op=name, OP=name.upper())))
    else:
        for statement in _APPEND_ONLY_PG:
            op.execute(sa.text(statement))


def _web_app() -> None:
    op.create_table(
        "web_users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("web_users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "web_agreements",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("customer_name", sa.Text(), nullable=False),
        sa.Column("enterprise_number", sa.String(40), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("form", sa.JSON(), nullable=False),
        sa.Column("deal_yaml", sa.Text(), nullable=True),
        sa.Column("approvals_yaml", sa.Text(), nullable=True),
        sa.Column("legal_note", sa.Text(), nullable=True),
        sa.Column("docx", sa.LargeBinary(), nullable=True),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.Column("manifest", sa.Text(), nullable=True),
        sa.Column("draft_marking", sa.Boolean(), nullable=False),
        sa.Column("signed_pdf", sa.LargeBinary(), nullable=True),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def _customer_side() -> None:
    op.create_table(
        "portal_answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("change_id", sa.Integer(), sa.ForeignKey("changes.id"), nullable=False),
        sa.Column("target_id", sa.Integer(), sa.ForeignKey("change_targets.id"),
                  nullable=False, unique=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("receipt", sa.String(32), nullable=False, unique=True),
        sa.Column("recorded", sa.Boolean(), nullable=False),
        sa.Column("completing_until", sa.DateTime(), nullable=True),
        sa.Column("confirmation_sent_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "portal_refusals",
        sa.Column("address", sa.String(64), primary_key=True),
        sa.Column("window_started_at", sa.DateTime(), nullable=False),
        sa.Column("in_window", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("confirmation_sent_at", sa.DateTime(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("unsubscribed_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "subscription_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subscription_id", sa.Integer(), sa.ForeignKey("subscriptions.id"),
                  nullable=False),
        sa.Column("change_id", sa.Integer(), sa.ForeignKey("changes.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False, server_default="upcoming"),
        sa.UniqueConstraint("subscription_id", "change_id", "kind",
                            name="uq_subscription_delivery_kind"),
    )
