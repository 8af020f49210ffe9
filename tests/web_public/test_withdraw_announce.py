"""Withdrawing a change tells the public list's subscribers who were told of it: one short
informational e-mail each, in their language, with the one-click unsubscribe headers, exactly
once (claimed like the upcoming e-mail); nobody else. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime

import pytest
from sqlalchemy import select, update

from dpa_engine.customers.announce import (
    Announcement,
    WithdrawnChange,
    announce_line,
    withdraw_and_announce,
    withdrawal_line,
)
from dpa_engine.customers.pagetexts import load_page_texts
from dpa_engine.customers.subscriptions import (
    STALE_CLAIM,
    NotifyReport,
    confirm_subscription,
    notify_subscribers,
    notify_withdrawn,
    subscribe,
    unsubscribe,
)
from dpa_engine.locale import long_date
from dpa_engine.notices import NoticeError, WithdrawReport, change_status, withdraw_change
from dpa_engine.storage.schema import SubscriptionDeliveryRow, SubscriptionRow
from tests.notices.conftest import Received
from tests.notices.helpers import ACTOR

from .conftest import LIBRARY, World

PAGE_TEXTS = load_page_texts(LIBRARY / "portal")
TOLD = {"lezer@example.be": "nl", "lecteur@example.be": "fr", "reader@example.org": "en"}
SUBJECT_START = {"nl": "Gaat niet door: wijziging bij de subverwerkers van Voxalis: VoiceBot",
                 "fr": "Annulée : modification des sous-traitants ultérieurs de Voxalis : "
                       "VoiceBot",
                 "en": "Called off: change to the sub-processors of Voxalis: VoiceBot"}
WILL_NOT_HAPPEN = {"nl": "ze gaat niet door", "fr": "elle n'aura pas lieu",
                   "en": "it will not happen"}


def _confirmed(world: World, email: str, language: str) -> str:
    """Subscribe (double opt-in, the confirmation e-mail through the loopback server) and
    confirm; the subscriber's token."""
    subscribe(world.db, email, language, texts=PAGE_TEXTS, settings=world.smtp.settings(),
              base_url=world.base_url, now=world.clock())
    with world.db.transaction() as session:
        token = session.execute(select(SubscriptionRow.token).where(
            SubscriptionRow.email == email)).scalar_one()
    assert confirm_subscription(world.db, token)
    return token


def _list_mails(world: World, address: str) -> list[Received]:
    """The subscription e-mails (upcoming or withdrawn) the server received for `address`."""
    return [m for m in world.smtp.recorder.messages
            if address in m.recipients and "List-Unsubscribe" in m.message]


def _told_and_withdrawn(world: World) -> tuple[dict[str, Received], dict[str, str]]:
    """Three readers told of change 1 (nl, fr, en), one whose upcoming e-mail was refused, one
    who unsubscribed since and one who subscribed later; then change 1 is withdrawn. Each told
    reader's upcoming e-mail, and every reader's token."""
    tokens = {email: _confirmed(world, email, language) for email, language in TOLD.items()}
    tokens["refused@example.org"] = _confirmed(world, "refused@example.org", "en")
    tokens["gone@example.org"] = _confirmed(world, "gone@example.org", "nl")
    world.smtp.recorder.refuse = {"refused@example.org"}
    report = notify_subscribers(world.db, world.change_id, texts=PAGE_TEXTS,
                                settings=world.smtp.settings(), base_url=world.base_url,
                                now=world.clock())
    assert sorted(report.sent) == sorted([*TOLD, "gone@example.org"])
    assert list(report.failed) == ["refused@example.org"]
    world.smtp.recorder.refuse = set()
    assert unsubscribe(world.db, tokens["gone@example.org"])
    tokens["later@example.org"] = _confirmed(world, "later@example.org", "en")
    upcoming = {}
    for email in TOLD:
        [upcoming[email]] = _list_mails(world, email)
    return upcoming, tokens


def _withdraw(world: World) -> WithdrawnChange:
    return withdraw_and_announce(world.db, world.change_id, reason="another vendor chosen",
                                 actor=ACTOR, library=LIBRARY, smtp=world.smtp.settings(),
                                 base_url=world.base_url, now=world.clock())


class DescribeWithdrawingTellsTheSubscribersWhoWereTold:
    def it_mails_each_told_subscriber_once_in_their_language(self, world: World) -> None:
        upcoming, tokens = _told_and_withdrawn(world)
        before = len(world.smtp.recorder.messages)

        withdrawn = withdraw_and_announce(world.db, world.change_id, reason="another vendor",
                                          actor=ACTOR, library=LIBRARY,
                                          smtp=world.smtp.settings(), base_url=world.base_url,
                                          now=world.clock())

        assert withdrawn.withdrawal.status == "withdrawn" and withdrawn.withdrawal.to_tell
        assert withdrawn.subscribers is not None
        assert sorted(withdrawn.subscribers.sent) == sorted(TOLD)
        assert withdrawn.subscribers.already == 0 and not withdrawn.subscribers.failed
        assert withdrawal_line(withdrawn) == \
            "Subscribers told of the withdrawal: 3 e-mailed now, 0 had been before."
        new = world.smtp.recorder.messages[before:]
        assert sorted(r for m in new for r in m.recipients) == sorted(TOLD)  # nobody else
        for email, language in TOLD.items():
            [first, mail] = _list_mails(world, email)
            assert first is upcoming[email]
            message = mail.message
            assert str(message["Subject"]).startswith(SUBJECT_START[language])
            assert message["Content-Language"] == language
            body = message.get_body(("plain",))
            assert body is not None
            text = body.get_content()
            assert WILL_NOT_HAPPEN[language] in " ".join(text.split())
            assert f"{world.base_url}/subprocessors?lang={language}" in text
            unsubscribe_url = f"{world.base_url}/subprocessors/unsubscribe/{tokens[email]}"
            assert unsubscribe_url in text
            for header in ("List-Unsubscribe", "List-Unsubscribe-Post", "List-Id"):
                assert message[header] == first.message[header], header
            assert message["List-Unsubscribe"] == f"<{unsubscribe_url}>"
            assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            # its own Message-ID, stable, naming the upcoming e-mail it follows up
            assert message["Message-ID"] != first.message["Message-ID"]
            assert message["Message-ID"].startswith("<dpa-subscription-withdrawn.")
            assert message["References"] == first.message["Message-ID"]
            assert "X-DPA-Change" not in message  # never a notice

    def it_names_the_change_and_its_announced_date(self, world: World) -> None:
        _told_and_withdrawn(world)
        effective_on = change_status(world.db, world.change_id).change.effective_on
        _withdraw(world)
        [_, mail] = _list_mails(world, "lezer@example.be")
        body = mail.message.get_body(("plain",))
        assert body is not None
        text = " ".join(body.get_content().split())
        assert "Nieuw: VoiceBot (VoiceBot Inc.)" in text
        assert long_date(effective_on, "nl") in text
        assert "geen kennisgeving" in text

    def it_mails_nobody_who_was_not_told(self, world: World) -> None:
        _told_and_withdrawn(world)
        _withdraw(world)
        for untold in ("refused@example.org", "gone@example.org", "later@example.org"):
            subjects = [str(m.message["Subject"]) for m in _list_mails(world, untold)]
            assert not [s for s in subjects if s.startswith("Called off")
                        or s.startswith("Gaat niet door")], untold

    def it_sends_nothing_more_when_called_again(self, world: World) -> None:
        _told_and_withdrawn(world)
        _withdraw(world)
        before = len(world.smtp.recorder.messages)
        again = notify_withdrawn(world.db, world.change_id, texts=PAGE_TEXTS,
                                 settings=world.smtp.settings(), base_url=world.base_url)
        assert again.sent == [] and again.already == len(TOLD)
        assert len(world.smtp.recorder.messages) == before

    def it_retries_a_withdrawal_e_mail_that_failed(self, world: World) -> None:
        _told_and_withdrawn(world)
        world.smtp.recorder.refuse = {"reader@example.org"}
        first = _withdraw(world)
        assert first.subscribers is not None
        assert list(first.subscribers.failed) == ["reader@example.org"]
        assert (f"1 not reached (retry: dpa change announce {world.change_id}; "
                "reader@example.org: ") in withdrawal_line(first)
        world.smtp.recorder.refuse = set()
        again = notify_withdrawn(world.db, world.change_id, texts=PAGE_TEXTS,
                                 settings=world.smtp.settings(), base_url=world.base_url)
        assert again.sent == ["reader@example.org"] and again.already == 2
        assert len(_list_mails(world, "reader@example.org")) == 2

    def it_keeps_the_upcoming_e_mail_for_a_withdrawn_change_to_itself(
            self, world: World) -> None:
        _told_and_withdrawn(world)
        _withdraw(world)
        with pytest.raises(NoticeError, match="is withdrawn: it is no longer upcoming"):
            notify_subscribers(world.db, world.change_id, texts=PAGE_TEXTS,
                               settings=world.smtp.settings(), base_url=world.base_url)

    def it_refuses_to_announce_a_withdrawal_that_did_not_happen(self, world: World) -> None:
        with pytest.raises(NoticeError, match=f"change {world.change_id} is sent, not "
                                              "withdrawn"):
            notify_withdrawn(world.db, world.change_id, texts=PAGE_TEXTS,
                             settings=world.smtp.settings(), base_url=world.base_url)


class DescribeAWithdrawalWhileSubscribersAreBeingTold:
    def it_tells_nobody_else_of_the_change_and_tells_those_told_of_the_withdrawal(
            self, world: World) -> None:
        for email, language in TOLD.items():
            _confirmed(world, email, language)

        withdrawals: list[WithdrawReport] = []

        def withdraw_at_the_first(message_id: str) -> None:  # as the server takes its DATA
            if message_id.startswith("<dpa-subscription.") and not withdrawals:
                withdrawals.append(withdraw_change(world.db, world.change_id, actor=ACTOR,
                                                   reason="another vendor", now=world.clock()))

        world.smtp.recorder.on_data = withdraw_at_the_first
        report = notify_subscribers(world.db, world.change_id, texts=PAGE_TEXTS,
                                    settings=world.smtp.settings(), base_url=world.base_url,
                                    now=world.clock())
        world.smtp.recorder.on_data = None

        # the first subscriber was being told when the change was withdrawn; no one after
        assert [w.status for w in withdrawals] == ["withdrawn"]
        assert len(report.sent) == 1 and not report.failed
        assert report.stopped == (f"change {world.change_id} was withdrawn or closed "
                                  "meanwhile: the other 2 were not told")
        assert announce_line(Announcement(change=world.change_id, about="upcoming",
                                          subscribers=report)) == (
            "Subscribers told: 1 e-mailed now, 0 had been before; stopped: change "
            f"{world.change_id} was withdrawn or closed meanwhile: the other 2 were not told.")
        told = [m for m in world.smtp.recorder.messages
                if str(m.message["Message-ID"]).startswith("<dpa-subscription.")]
        assert [r for m in told for r in m.recipients] == report.sent
        withdrawn = notify_withdrawn(world.db, world.change_id, texts=PAGE_TEXTS,
                                     settings=world.smtp.settings(), base_url=world.base_url)
        assert withdrawn.sent == report.sent  # exactly the one who was told


class DescribeARunThatDiedWhileSendingTheWithdrawal:
    def it_resends_a_stale_claim_once_with_the_same_message_id(self, world: World) -> None:
        _told_and_withdrawn(world)
        _withdraw(world)
        [_, first] = _list_mails(world, "reader@example.org")

        def left_sending(age: datetime.timedelta) -> None:
            with world.db.transaction() as session:
                subscription = select(SubscriptionRow.id).where(
                    SubscriptionRow.email == "reader@example.org").scalar_subquery()
                session.execute(update(SubscriptionDeliveryRow).where(
                    SubscriptionDeliveryRow.kind == "withdrawn",
                    SubscriptionDeliveryRow.subscription_id == subscription).values(
                    status="sending", sent_at=None,
                    claimed_at=datetime.datetime.now(datetime.UTC) - age))

        def again() -> NotifyReport:
            return notify_withdrawn(world.db, world.change_id, texts=PAGE_TEXTS,
                                    settings=world.smtp.settings(), base_url=world.base_url)

        left_sending(datetime.timedelta(minutes=5))  # maybe still being sent: left alone
        fresh = again()
        assert fresh.sent == [] and fresh.in_doubt == []

        left_sending(STALE_CLAIM + datetime.timedelta(minutes=1))  # its run died
        stale = again()
        assert stale.sent == stale.in_doubt == ["reader@example.org"]
        [_, _, resent] = _list_mails(world, "reader@example.org")
        assert resent.message["Message-ID"] == first.message["Message-ID"]
        assert again().sent == []
        assert len(_list_mails(world, "reader@example.org")) == 3
        # the upcoming e-mail's own record was not touched
        with world.db.transaction() as session:
            kinds = sorted((kind, status) for kind, status in session.execute(
                select(SubscriptionDeliveryRow.kind, SubscriptionDeliveryRow.status)
                .join(SubscriptionRow,
                      SubscriptionRow.id == SubscriptionDeliveryRow.subscription_id)
                .where(SubscriptionRow.email == "reader@example.org")))
        assert kinds == [("upcoming", "sent"), ("withdrawn", "sent")]
