"""Planning a change tells the public list's subscribers about it, and withdrawing it tells
those who were told: one library call each for `dpa change plan` and `dpa change withdraw`,
so the commands stay thin shells.

Subscribers are told when an SMTP server is configured ($DPA_SMTP_HOST, or settings passed
in) and the public address is known ($DPA_PUBLIC_URL: their e-mail links to the list and to
its one-click unsubscribe). Each subscriber gets one informational e-mail per change however
often the change is planned, and one more if it is withdrawn; neither is ever a notice or
starts an objection window.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ..agreements.engine import default_library_path
from ..mail import SMTP_ENV
from ..notices import Plan, SmtpSettings, WithdrawReport, plan_change, withdraw_change
from ..notices.changes import get_change
from ..notices.links import PUBLIC_URL_ENV, public_url
from ..storage import Database
from .pagetexts import PageTexts, default_page_folder, load_page_texts
from .subscriptions import NotifyReport, notify_subscribers, notify_withdrawn


class PlannedChange(BaseModel):
    model_config = ConfigDict(frozen=True)
    plan: Plan
    subscribers: NotifyReport | None  # None: subscribers were not told (see `not_told`)
    not_told: str | None = None  # why not, in a sentence with the setting that is missing


def plan_and_announce(db: Database, change_id: int, *, actor: str,
                      dispatch_at: datetime.datetime | None = None,
                      library: Path | None = None, smtp: SmtpSettings | None = None,
                      base_url: str | None = None, now: datetime.datetime | None = None,
                      force: bool = False) -> PlannedChange:
    """`plan_change` (`force`: see there), then an informational e-mail to each confirmed
    subscriber who has not had one for this change (when SMTP and the public URL are
    configured)."""
    plan = plan_change(db, change_id, actor=actor, now=now, dispatch_at=dispatch_at,
                       force=force)
    base = public_url(base_url)
    why = _not_told(smtp, base)
    if why is not None or base is None:
        return PlannedChange(plan=plan, subscribers=None, not_told=why)
    report = notify_subscribers(db, change_id, texts=_texts(library),
                                settings=smtp or SmtpSettings.from_env(), base_url=base, now=now)
    return PlannedChange(plan=plan, subscribers=report)


class WithdrawnChange(BaseModel):
    model_config = ConfigDict(frozen=True)
    withdrawal: WithdrawReport
    subscribers: NotifyReport | None  # None: subscribers were not told (see `not_told`)
    not_told: str | None = None  # why not, in a sentence with the setting that is missing


def withdraw_and_announce(db: Database, change_id: int, *, reason: str, actor: str,
                          library: Path | None = None, smtp: SmtpSettings | None = None,
                          base_url: str | None = None, now: datetime.datetime | None = None
                          ) -> WithdrawnChange:
    """`withdraw_change`, then an informational e-mail to each confirmed subscriber who was
    told of the change, saying it will not happen (when SMTP and the public URL are
    configured)."""
    settings = smtp or SmtpSettings.from_env()
    base = public_url(base_url)  # settings and texts first: a withdrawal is not done twice
    why = _not_told(smtp, base)
    texts = _texts(library) if why is None else None
    withdrawal = withdraw_change(db, change_id, reason=reason, actor=actor, settings=settings,
                                 now=now)
    if texts is None or base is None:
        return WithdrawnChange(withdrawal=withdrawal, subscribers=None, not_told=why)
    report = notify_withdrawn(db, change_id, texts=texts, settings=settings, base_url=base,
                              now=now)
    return WithdrawnChange(withdrawal=withdrawal, subscribers=report)


class Announcement(BaseModel):
    model_config = ConfigDict(frozen=True)
    change: int
    about: Literal["upcoming", "withdrawn"]  # what the subscribers are told
    subscribers: NotifyReport | None  # None: subscribers were not told (see `not_told`)
    not_told: str | None = None  # why not, in a sentence with the setting that is missing


def announce_change(db: Database, change_id: int, *, library: Path | None = None,
                    smtp: SmtpSettings | None = None, base_url: str | None = None,
                    now: datetime.datetime | None = None) -> Announcement:
    """E-mail the subscribers not reached before about the change: that it is upcoming, or,
    once it is withdrawn, that it will not happen. The way to retry what `dpa change plan` or
    `dpa change withdraw` could not send (each subscriber still gets each e-mail once)."""
    with db.transaction() as session:
        withdrawn = get_change(session, change_id).status == "withdrawn"
    about: Literal["upcoming", "withdrawn"] = "withdrawn" if withdrawn else "upcoming"
    base = public_url(base_url)
    why = _not_told(smtp, base)
    if why is not None or base is None:
        return Announcement(change=change_id, about=about, subscribers=None, not_told=why)
    notify = notify_withdrawn if withdrawn else notify_subscribers
    report = notify(db, change_id, texts=_texts(library),
                    settings=smtp or SmtpSettings.from_env(), base_url=base, now=now)
    return Announcement(change=change_id, about=about, subscribers=report)


def _not_told(smtp: SmtpSettings | None, base: str | None) -> str | None:
    """Why subscribers cannot be e-mailed (a setting is missing), or None when they can."""
    if smtp is None and not os.environ.get(SMTP_ENV["host"]):
        return f"no SMTP server is configured (set {SMTP_ENV['host']})"
    if base is None:
        return f"the public address is not set (set {PUBLIC_URL_ENV})"
    return None


def _texts(library: Path | None) -> PageTexts:
    return load_page_texts(default_page_folder(library or default_library_path()))


def announcement_line(planned: PlannedChange) -> str:
    """What `dpa change plan` says about the subscribers, in one line."""
    if planned.subscribers is None:
        return f"Subscribers not told: {planned.not_told}."
    return _told_line("Subscribers told", planned.subscribers)


def withdrawal_line(withdrawn: WithdrawnChange) -> str:
    """What `dpa change withdraw` says about the subscribers who had been told of the change,
    in one line."""
    if withdrawn.subscribers is None:
        return f"Subscribers not told of the withdrawal: {withdrawn.not_told}."
    return _told_line("Subscribers told of the withdrawal", withdrawn.subscribers)


def announce_line(announcement: Announcement) -> str:
    """What `dpa change announce` says, in one line."""
    start = ("Subscribers told of the withdrawal" if announcement.about == "withdrawn"
             else "Subscribers told")
    if announcement.subscribers is None:
        return f"{start.replace('told', 'not told', 1)}: {announcement.not_told}."
    return _told_line(start, announcement.subscribers)


def _told_line(start: str, report: NotifyReport) -> str:
    line = f"{start}: {len(report.sent)} e-mailed now, {report.already} had been before"
    if report.in_doubt:
        line += (f"; {len(report.in_doubt)} sent again with the same Message-ID (an earlier run "
                 f"stopped while sending to them)")
    if report.stopped:
        line += f"; stopped: {report.stopped}"
    if report.failed:
        retry = f"retry: dpa change announce {report.change}; "
        line += (f"; {len(report.failed)} not reached ({retry}"
                 f"{'; '.join(f'{k}: {v}' for k, v in sorted(report.failed.items())[:3])})")
    return line + "."
