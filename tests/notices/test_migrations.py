"""Schema migrations keep the data: 0002 moves the outbox payloads to their own table."""

from __future__ import annotations

import datetime

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.exc import IntegrityError

from dpa_engine.storage import Database
from dpa_engine.storage.database import MIGRATIONS
from dpa_engine.storage.schema import OutboxPayloadRow, OutboxRow

AT = datetime.datetime(2026, 3, 25, 9, 0)
ROWS = [
    "INSERT INTO customers (id, key, name, enterprise_number, country, created_at) "
    "VALUES (1, 'c1', 'C1 BV', '0400.000.001', 'BE', :at)",
    "INSERT INTO agreements (id, customer_id, version, language, window_days, window_unit, "
    "authorisation, governing_law, holiday_country, remedy, services, notice_emails, "
    "clause_versions, source, source_hash, imported_at) VALUES (1, 1, 1, 'nl', 30, "
    "'calendar', 'general', 'BE', 'BE', 'terminate', '[]', '[]', '{}', 'x', 'h', :at)",
    "INSERT INTO changes (id, action, effective_on, status, base_list_number, proposed_at, "
    "proposed_by) VALUES (1, 'add', '2026-06-01', 'sent', 1, :at, 'me')",
    "INSERT INTO change_targets (id, change_id, customer_id, agreement_id, kind, reasons, "
    "language, recipients, status) VALUES (1, 1, 1, 1, 'objection', '[]', 'nl', '[]', "
    "'notified')",
    "INSERT INTO outbox (id, target_id, message_id, subject, body_text, body_html, letter, "
    "mime, rendered_for, status, attempts, in_doubt_resends, refused_recipients) VALUES "
    "(7, 1, '<m@x>', 'S', 'tekst', '<p>html</p>', :letter, :mime, '2026-03-25', 'sent', 1, 0, "
    "'[]')",
]


def _config(connection: object) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _at_0001_with_a_sent_notice(db_url: str) -> Engine:
    """A database at revision 0001 holding one customer, change and sent notice (id 7)."""
    engine = create_engine(db_url)
    with engine.begin() as connection:
        command.upgrade(_config(connection), "0001")
        for statement in ROWS:
            connection.execute(text(statement), {"at": AT, "letter": b"PK\x03\x04docx",
                                                 "mime": b"MIME-Version: 1.0\r\n"})
    return engine


class DescribeOutboxPayloadMigration:
    def it_moves_existing_payloads_and_keeps_the_constraints(self, db_url: str) -> None:
        _at_0001_with_a_sent_notice(db_url).dispose()
        db = Database(db_url)
        db.migrate()
        with db.transaction() as session:
            message = session.execute(select(OutboxRow)).scalar_one()
            payload = session.execute(select(OutboxPayloadRow)).scalar_one()
            assert (message.id, message.message_id, message.status) == (7, "<m@x>", "sent")
            assert payload.outbox_id == 7 and payload.letter == b"PK\x03\x04docx"
            assert (payload.body_text, payload.body_html, payload.mime) == (
                "tekst", "<p>html</p>", b"MIME-Version: 1.0\r\n")
        with pytest.raises(IntegrityError), db.engine.begin() as connection:  # still unique
            connection.execute(text(
                "INSERT INTO outbox (id, target_id, message_id, subject, rendered_for, status, "
                "attempts, in_doubt_resends, refused_recipients) VALUES (8, 1, '<n@x>', 'S', "
                "'2026-03-25', 'sent', 1, 0, '[]')"))
        with pytest.raises(IntegrityError), db.engine.begin() as connection:  # references outbox
            connection.execute(text(
                "INSERT INTO outbox_payloads (outbox_id, body_text, body_html, letter, mime) "
                "VALUES (99, '', '', :b, :b)"), {"b": b""})
        db.dispose()


class DescribeRenderWhenSentMigration:
    def it_allows_unrendered_entries_and_downgrades_only_without_them(self, db_url: str) -> None:
        engine = _at_0001_with_a_sent_notice(db_url)
        with engine.begin() as connection:
            command.upgrade(_config(connection), "head")
        unrender = "UPDATE outbox SET subject = NULL, rendered_for = NULL WHERE id = 7"
        with engine.begin() as connection:  # 0004: an entry queued, not rendered yet
            connection.execute(text(unrender))
        with pytest.raises(RuntimeError, match="1 queued notice"), engine.begin() as connection:
            command.downgrade(_config(connection), "0003")
        with engine.begin() as connection:  # refused and rolled back: still at 0004
            connection.execute(text("UPDATE outbox SET subject = 'S', "
                                    "rendered_for = '2026-03-25' WHERE id = 7"))
            command.downgrade(_config(connection), "0003")
        with pytest.raises(IntegrityError), engine.begin() as connection:  # required again
            connection.execute(text(unrender))
        with engine.connect() as connection:  # the payload is kept and still references it
            assert connection.execute(text(
                "SELECT mime FROM outbox_payloads WHERE outbox_id = 7")).scalar_one() == \
                b"MIME-Version: 1.0\r\n"
        engine.dispose()
        db = Database(db_url)  # (with SQLite's foreign key checks on, as the product runs)
        with pytest.raises(IntegrityError), db.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO outbox_payloads (outbox_id, body_text, body_html, letter, mime) "
                "VALUES (99, '', '', :b, :b)"), {"b": b""})
        db.dispose()
