"""Importing deal files again: changed notice addresses and a changed provider profile are
taken over and audited; an unchanged register records nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

from dpa_engine.audit.chain import records
from dpa_engine.library import Library
from dpa_engine.notices import import_deals
from dpa_engine.notices.provider import provider_snapshot
from dpa_engine.storage import Database

from .conftest import EXAMPLES, Clock
from .helpers import ACTOR

DEAL = "deal-standard-nl.yaml"
OLD_NOTICE = "privacy@bakkerijpeeters.example"
OLD_PRIVACY = "privacy@voxalis.example"


def _copied_examples(tmp_path: Path) -> Path:
    folder = tmp_path / "deals"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns("bad"))
    return folder


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def _events(db: Database, name: str) -> list[dict[str, object]]:
    with db.transaction() as session:
        return [{"customer": r.customer_key, **r.data} for r in records(session)
                if r.event == name]


class DescribeImportingAgain:
    def it_records_nothing_when_nothing_changed(self, db: Database, library: Library,
                                                clock: Clock, tmp_path: Path) -> None:
        folder = _copied_examples(tmp_path)
        import_deals(db, [folder], library, actor=ACTOR, now=clock())
        with db.transaction() as session:
            before = len(records(session))
        report = import_deals(db, [folder], library, actor=ACTOR, now=clock())
        assert {a.status for a in report.agreements} == {"unchanged"}
        with db.transaction() as session:
            assert len(records(session)) == before

    def it_takes_over_new_notice_addresses_and_audits_them(
            self, db: Database, library: Library, clock: Clock, tmp_path: Path) -> None:
        folder = _copied_examples(tmp_path)
        first = import_deals(db, [folder], library, actor=ACTOR, now=clock())
        customer = next(a.customer for a in first.agreements if a.name.startswith("Bakkerij"))
        _replace(folder / DEAL, OLD_NOTICE, "dpo@bakkerijpeeters.example")
        report = import_deals(db, [folder], library, actor=ACTOR, now=clock())
        statuses = {a.customer: a.status for a in report.agreements}
        assert statuses.pop(customer) == "contacts-updated"
        assert set(statuses.values()) == {"unchanged"}
        [event] = _events(db, "contacts-updated")
        assert event["customer"] == customer
        assert event["notice_emails"] == ["dpo@bakkerijpeeters.example"]

    def it_takes_over_a_changed_provider_privacy_address_and_audits_it(
            self, db: Database, library: Library, clock: Clock, tmp_path: Path) -> None:
        folder = _copied_examples(tmp_path)
        import_deals(db, [folder], library, actor=ACTOR, now=clock())
        assert _events(db, "provider-updated") == []
        _replace(folder / "provider.yaml", OLD_PRIVACY, "dpo@voxalis.example")
        import_deals(db, [folder], library, actor=ACTOR, now=clock())
        [event] = _events(db, "provider-updated")
        assert event["provider"]["privacy_email"] == "dpo@voxalis.example"  # type: ignore[index]
        with db.transaction() as session:
            assert provider_snapshot(session).privacy_email == "dpo@voxalis.example"
