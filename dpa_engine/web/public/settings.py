"""What the customer-facing routes need: the database, texts, SMTP settings, public URL and
the link secret. The app that includes the router sets them with `configure(app, ...)`; without
that they come from the environment, as for the CLI."""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request

from ...agreements.engine import default_library_path
from ...notices import NoticeTexts, SmtpSettings, default_notice_folder, load_notice_texts
from ...customers.pagetexts import PageTexts, default_page_folder, load_page_texts
from ...notices.links import portal_secret, public_url
from ...notices.register import now_utc
from ...storage import Database, open_database


@dataclass
class PublicSettings:
    db: Database
    notice_texts: NoticeTexts
    page_texts: PageTexts
    smtp: SmtpSettings
    base_url: str
    secret: str
    clock: Callable[[], datetime.datetime] = field(default=now_utc)


def load_settings(*, db: Database | None = None, library: Path | None = None,
                  smtp: SmtpSettings | None = None, base_url: str | None = None,
                  clock: Callable[[], datetime.datetime] | None = None) -> PublicSettings:
    database = db or open_database()
    folder = library or default_library_path()
    return PublicSettings(
        db=database, notice_texts=load_notice_texts(default_notice_folder(folder)),
        page_texts=load_page_texts(default_page_folder(folder)),
        smtp=smtp or SmtpSettings.from_env(),
        base_url=public_url(base_url) or "http://localhost:8000",
        secret=portal_secret(database), clock=clock or now_utc)


def configure(app: FastAPI, settings: PublicSettings) -> None:
    app.state.dpa_public = settings


def public_settings(request: Request) -> PublicSettings:
    """FastAPI dependency: the app's settings, loaded from the environment on first use."""
    settings: PublicSettings | None = getattr(request.app.state, "dpa_public", None)
    if settings is None:
        settings = load_settings()
        configure(request.app, settings)
    return settings
