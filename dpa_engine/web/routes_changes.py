"""Legal: the sub-processor changes and where each one stands per customer (what
`dpa change status` shows), with the actions the change's status allows (routes_change_actions)."""

from __future__ import annotations

import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dpa_engine import notices
from dpa_engine.customers.subscriptions import NotifyReport
from dpa_engine.notices import ChangeStatus, NoticeError

from .changetasks import task_actions
from .pages import render
from .security import allow, current_login
from .users import Role, now_utc
from .workflow import WebContext

router = APIRouter(prefix="/legal")
LEGAL = Role.legal
# what each finished action says on the change's page (?done=...), said only while the change
# has the status the action leaves it in (a link cannot make the page claim otherwise)
DONE = {"proposed": ("proposed",), "planned": ("planned",), "withdrawn": ("withdrawn",),
        "letter": ("sending", "sent"), "closed": ("closed",),
        "answer": ("sending", "sent", "closed"), "bounce": ("sending", "sent"),
        "announced": ("planned", "sending", "sent", "withdrawn")}
SUBSCRIBERS = ("told", "not-told", "failed")
FINAL_DELIVERY = ("sent", "failed", "bounced")


def web_context(request: Request) -> WebContext:
    context: WebContext = request.app.state.web
    return context


def actor_of(request: Request) -> str:
    """The logged-in user's e-mail address: the audit actor of a change action."""
    login = current_login(request)
    assert login is not None  # @allow(LEGAL) let the request through
    return login.user.email


def done_redirect(change_id: int, done: str, **extra: object) -> RedirectResponse:
    """Back to the change's page, which says what was just done."""
    query = "&".join([f"done={done}", *(f"{k}={v}" for k, v in extra.items())])
    return RedirectResponse(f"/legal/changes/{change_id}?{query}", status_code=303)


def subscribers_outcome(report: NotifyReport | None) -> str:
    """Whether the public list's subscribers were told: not-told, failed or told."""
    if report is None:
        return "not-told"
    return "failed" if report.failed else "told"


def brussels(moment: datetime.datetime | None) -> str:
    return notices.brussels_text(moment, none="")


@router.get("/changes")
@allow(LEGAL)
async def changes(request: Request) -> Response:
    db = web_context(request).db
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


def allowed_actions(status: ChangeStatus) -> dict[str, bool]:
    """Which actions the change's status allows (the library refuses the others anyway)."""
    state = status.change.status
    withdrawals_waiting = any(t.withdrawal_status and t.withdrawal_status not in FINAL_DELIVERY
                              for t in status.targets)
    return {"plan": state in ("proposed", "planned"),
            "send": state in ("planned", "sending") or (state == "withdrawn"
                                                        and withdrawals_waiting),
            "letter": state in ("sending", "sent")
            and any(t.status == "not-notified" for t in status.targets),
            "close": state == "sent",
            "withdraw": state not in ("closed", "withdrawn")}


async def change_page(request: Request, change_id: int, *, status_code: int = 200,
                      errors: dict[str, str] | None = None, problem: str | None = None,
                      values: dict[str, str] | None = None) -> Response:
    """The change's page; after a refused action, with the library's message next to the
    field it concerns (`errors`) or above the actions (`problem`), and the values as typed."""
    db = web_context(request).db
    try:
        status = await run_in_threadpool(notices.change_status, db, change_id)
    except NoticeError as exc:
        raise HTTPException(404, "no such change") from exc
    query = request.query_params
    done = query.get("done", "") if request.method == "GET" else ""
    done = done if status.change.status in DONE.get(done, ()) else ""
    list_version = query.get("list", "")
    return render(request, "change.html", status=status_code, change=status.change,
                  targets=target_rows(status), can=allowed_actions(status),
                  tasks=task_actions(status),
                  letter_customers=[(t.customer, t.name) for t in status.targets
                                    if t.status == "not-notified"],
                  errors=errors or {}, problem=problem, values=values or {},
                  done=done, subscribers=query.get("subscribers", "") if done
                  and query.get("subscribers", "") in SUBSCRIBERS else "",
                  list_version=int(list_version) if list_version.isdigit()
                  and len(list_version) < 10 else None)


@router.get("/changes/{change_id}")
@allow(LEGAL)
async def change(request: Request, change_id: int) -> Response:
    return await change_page(request, change_id)
