"""Planning a change tells the public list's subscribers about it: one library call for
`dpa change plan`, so the command stays a thin shell.

Subscribers are told when an SMTP server is configured ($DPA_SMTP_HOST, or settings passed
in) and the public address is known ($DPA_PUBLIC_URL: their e-mail links to the list and to
its one-click unsubscribe). Each subscriber gets one informational e-mail per change however
often the change is planned; it is never a notice and starts no objection window.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ..agreements.engine import default_library_path
from ..notices import Plan, SmtpSettings, plan_change
from ..notices.delivery.smtp import SMTP_ENV
from ..notices.links import PUBLIC_URL_ENV, public_url
from ..storage import Database
from .pagetexts import default_page_folder, load_page_texts
from .subscriptions import NotifyReport, notify_subscribers


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
    if smtp is None and not os.environ.get(SMTP_ENV["host"]):
        why = f"no SMTP server is configured (set {SMTP_ENV['host']})"
    elif base is None:
        why = f"the public address is not set (set {PUBLIC_URL_ENV})"
    else:
        texts = load_page_texts(default_page_folder(library or default_library_path()))
        report = notify_subscribers(db, change_id, texts=texts,
                                    settings=smtp or SmtpSettings.from_env(), base_url=base,
                                    now=now)
        return PlannedChange(plan=plan, subscribers=report)
    return PlannedChange(plan=plan, subscribers=None, not_told=why)


def announcement_line(planned: PlannedChange) -> str:
    """What `dpa change plan` says about the subscribers, in one line."""
    report = planned.subscribers
    if report is None:
        return f"Subscribers not told: {planned.not_told}."
    line = (f"Subscribers told: {len(report.sent)} e-mailed now, {report.already} had been "
            f"before")
    if report.in_doubt:
        line += (f"; {len(report.in_doubt)} sent again with the same Message-ID (an earlier run "
                 f"stopped while sending to them)")
    if report.failed:
        line += (f"; {len(report.failed)} not reached (plan again to retry: "
                 f"{'; '.join(f'{k}: {v}' for k, v in sorted(report.failed.items())[:3])})")
    return line + "."
