"""Legal: the sub-processor changes and where each one stands per customer (read-only: what
`dpa change status` shows; the workflow itself stays in the `dpa change` commands)."""

from __future__ import annotations

import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from dpa_engine import notices
from dpa_engine.notices import ChangeStatus, NoticeError

from .pages import render
from .security import allow
from .users import Role, now_utc
from .workflow import WebContext

router = APIRouter(prefix="/legal")
LEGAL = Role.legal


def _context(request: Request) -> WebContext:
    context: WebContext = request.app.state.web
    return context


def brussels(moment: datetime.datetime | None) -> str:
    return notices.brussels_text(moment, none="")


@router.get("/changes")
@allow(LEGAL)
async def changes(request: Request) -> Response:
    db = _context(request).db
    items = await run_in_threadpool(notices.list_changes, db, now_utc())
    return render(request, "changes.html", items=items)


def target_rows(status: ChangeStatus) -> list[dict[str, Any]]:
    return [{"customer": t.customer, "name": t.name, "language": t.language, "kind": t.kind,
             "status": t.status, "delivery": t.message_status or "",
             "withdrawal": t.withdrawal_status or "", "notified": brussels(t.notified_at),
             "deadline": notices.deadline_text(t.deadline, none=""),
             "answers": [{"kind": o["kind"], "late": o["late"],
                          "received": brussels(datetime.datetime.fromisoformat(o["received_at"]))}
                         for o in t.objections],
             "outcome": t.outcome or "", "follow_up": t.follow_up or ""} for t in status.targets]


@router.get("/changes/{change_id}")
@allow(LEGAL)
async def change(request: Request, change_id: int) -> Response:
    db = _context(request).db
    try:
        status = await run_in_threadpool(notices.change_status, db, change_id)
    except NoticeError as exc:
        raise HTTPException(404, "no such change") from exc
    return render(request, "change.html", change=status.change, targets=target_rows(status))
