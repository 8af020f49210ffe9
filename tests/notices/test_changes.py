"""What each kind of change means for each customer, and bad input that writes nothing."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from dpa_engine.errors import DpaError
from dpa_engine.library import Library
from dpa_engine.notices import (
    NoticeError,
    NoticeTexts,
    close_change,
    plan_change,
    record_objection,
    send_change,
)
from dpa_engine.render import DocxRenderer
from dpa_engine.storage import Database

from .conftest import Clock, SmtpServer, write_deal
from .helpers import ACTOR, propose, proposed_and_planned, register, voicebot
from .test_workflow import audit_count


class DescribePlans:
    def it_sends_only_information_for_an_incidental_sub_processor(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts, renderer: DocxRenderer) -> None:
        register(db, library, clock)
        plan = proposed_and_planned(db, clock, voicebot(engagement="incidental"))
        assert {e.kind for e in plan.affected} == {"informational"}
        assert all(e.deadline_if_sent is None for e in plan.affected)
        send_change(db, plan.change.id, settings=smtp.settings(), texts=texts,
                    actor=ACTOR, clock=clock)
        closed = close_change(db, plan.change.id, actor=ACTOR, now=clock())  # no window to wait for
        assert set(closed.outcomes.values()) == {"informed"}

    def it_explains_a_replacement_per_customer_through_its_services(
            self, db: Database, library: Library, clock: Clock) -> None:
        register(db, library, clock)
        new = voicebot(id="mailjet", name="MailJet", country="FR", locations=["FR"], transfer=None,
                       services=["customer-service"])
        plan = proposed_and_planned(db, clock, new, action="replace", target="mailrelay")
        entries = {e.customer: e for e in plan.affected}
        peeters = entries["bakkerij-peeters"]
        assert peeters.kind == "objection"
        assert {(r.subprocessor, r.role) for r in peeters.reasons} == {
            ("mailjet", "new"), ("mailrelay", "replaced")}
        # MedCare uses MailRelay (appointment desk) but gains nothing new: information only.
        assert entries["medcare-clinics"].kind == "informational"
        assert "hopital-saint-lambert" in {u.customer for u in plan.unaffected}

    def it_treats_a_removal_as_information(self, db: Database, library: Library,
                                           clock: Clock) -> None:
        register(db, library, clock)
        plan = proposed_and_planned(db, clock, action="remove", target="transcribe-us")
        assert [(e.customer, e.kind) for e in plan.affected] == [("medcare-clinics", "informational")]

    def it_warns_when_a_forced_plan_has_the_effective_date_inside_a_window(
            self, db: Database, library: Library, clock: Clock) -> None:
        register(db, library, clock)
        change = propose(db, clock, voicebot(), effective_on=datetime.date(2026, 3, 30))
        plan = plan_change(db, change.id, actor=ACTOR, now=clock(), force=True)
        assert any("inside the window" in w for e in plan.affected for w in e.warnings)


class DescribeSpecificAuthorisation:
    def it_needs_consent_and_records_it(self, db: Database, library: Library, clock: Clock,
                                        smtp: SmtpServer, texts: NoticeTexts,
                                        renderer: DocxRenderer, tmp_path: Path) -> None:
        deals = [write_deal(tmp_path, 1, deviations={"subprocessor_authorisation": "specific"}),
                 write_deal(tmp_path, 2, deviations={"subprocessor_authorisation": "specific"}),
                 write_deal(tmp_path, 3, language="fr",
                            deviations={"objection_window_days": 5,
                                        "objection_window_unit": "business"})]
        register(db, library, clock, *deals)
        plan = proposed_and_planned(db, clock)
        kinds = {e.customer: (e.kind, e.window_days, e.window_unit) for e in plan.affected}
        assert kinds == {"customer-1-bv": ("consent", 7, "calendar"),
                         "customer-2-bv": ("consent", 7, "calendar"),
                         "customer-3-bv": ("objection", 5, "business")}
        # 25 March + 5 Belgian business days: 26, 27, 30, 31 March, 1 April.
        third = next(e for e in plan.affected if e.customer == "customer-3-bv")
        assert third.deadline_if_sent is not None
        assert third.deadline_if_sent.date() == datetime.date(2026, 4, 2)
        send_change(db, plan.change.id, settings=smtp.settings(), texts=texts,
                    actor=ACTOR, clock=clock)
        record_objection(db, plan.change.id, "customer-1-bv", kind="consent", text="Akkoord.",
                         received_at=clock.advance(days=1), actor=ACTOR, now=clock())
        with pytest.raises(NoticeError, match="no consent is needed"):
            record_objection(db, plan.change.id, "customer-3-bv", kind="consent", text="ok",
                             received_at=clock(), actor=ACTOR, now=clock())
        closed = close_change(db, plan.change.id, actor=ACTOR, now=clock.advance(days=10))
        assert closed.outcomes == {"customer-1-bv": "consented", "customer-2-bv": "no-consent",
                                   "customer-3-bv": "deemed-approved"}


class DescribeBadInput:
    def it_refuses_them_with_a_clear_error_and_writes_nothing(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts, renderer: DocxRenderer, tmp_path: Path) -> None:
        register(db, library, clock)
        before = audit_count(db)
        cases = [
            (lambda: propose(db, clock, voicebot(transfer=None)), "no transfer mechanism"),
            (lambda: propose(db, clock, voicebot(id="nordhost")), "already on the list"),
            (lambda: propose(db, clock, voicebot(services=["payroll"])), "unknown service"),
            (lambda: propose(db, clock, voicebot(purpose={"nl": "x"})), "no 'fr' text"),
            (lambda: propose(db, clock, action="remove", target="nope"), "not on the sub-processor list"),
            (lambda: propose(db, clock, voicebot(), effective_on=datetime.date(2020, 1, 1)), "in the past"),
            (lambda: plan_change(db, 99, actor=ACTOR), "there is no change 99"),
        ]
        for call, message in cases:
            with pytest.raises(DpaError, match=message):
                call()
        assert audit_count(db) == before

        plan = proposed_and_planned(db, clock)
        send_change(db, plan.change.id, settings=smtp.settings(), texts=texts,
                    actor=ACTOR, clock=clock)
        before = audit_count(db)
        for call, message in [
            (lambda: record_objection(db, plan.change.id, "nobody", text="x", actor=ACTOR,
                                      received_at=clock(), now=clock()), "unknown customer"),
            (lambda: record_objection(db, plan.change.id, "bakkerij-peeters", text=" ",
                                      actor=ACTOR, received_at=clock(), now=clock()), "empty"),
            (lambda: send_change(db, plan.change.id, settings=smtp.settings(), texts=texts,
                                 actor=ACTOR, clock=clock), "already sent"),
            (lambda: propose(db, clock, voicebot(id="voicebot")), "already concerns"),
        ]:
            with pytest.raises(DpaError, match=message):
                call()
        assert audit_count(db) == before

    def it_refuses_a_window_of_zero_days_in_a_deal(self, db: Database, library: Library,
                                                   clock: Clock, tmp_path: Path) -> None:
        good = write_deal(tmp_path, 1)
        bad = write_deal(tmp_path, 2, deviations={"objection_window_days": 0})
        with pytest.raises(DpaError, match="objection_window_days"):
            register(db, library, clock, good, bad)
        with pytest.raises(DpaError, match="register is empty"):
            propose(db, clock, voicebot())

    def it_refuses_a_bad_e_mail_address(self, db: Database, library: Library, clock: Clock,
                                        tmp_path: Path) -> None:
        bad = write_deal(tmp_path, 1, emails=["not-an-address"])
        with pytest.raises(DpaError, match="notice_emails"):
            register(db, library, clock, bad)
        from dpa_engine.notices import SmtpSettings

        with pytest.raises(DpaError, match="from_address"):
            SmtpSettings.from_env(from_address="nobody")
