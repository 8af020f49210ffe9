"""Legal's remaining change tasks, without a terminal: download the .docx letters to post
(`dpa change letters`), record an answer received by e-mail or post (`dpa objection record`
/ `consent`), record a bounce that came after the server had accepted the notice
(`dpa change bounce`), download the change's evidence pack (`dpa audit export CHANGE`), and
tell the public list's subscribers again (`dpa change announce`). Each calls the library
function the command calls, with the logged-in user as the audit log's actor."""

from __future__ import annotations

import datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from dpa_engine import DpaError, notices
from dpa_engine.customers.announce import announce_change
from dpa_engine.notices import NoticeError

from .changeforms import brussels_moment, field_message
from .changetasks import ANSWER_FIELDS, ANSWER_KINDS, BOUNCE_FIELDS, task_field
from .library import Pack, evidence_pack, letters_pack
from .public import public_settings
from .routes_changes import LEGAL, actor_of, change_page, done_redirect, subscribers_outcome, web_context
from .security import allow
from .webform import text_field

router = APIRouter(prefix="/legal")
ZIP = "application/zip"


def _zip(pack: Pack) -> Response:
    # the name is the library's safe file name: letters, digits, '.', '_' and '-' only
    return Response(pack.data, media_type=ZIP, headers={
        "content-disposition": f'attachment; filename="{pack.filename}"',
        "cache-control": "no-store"})


async def _refused(request: Request, change_id: int, exc: DpaError, fields: dict[str, str],
                   values: dict[str, str]) -> Response:
    """The change's page again, the library's message next to its field (or above)."""
    if exc.field == "change":
        raise HTTPException(404, "no such change") from exc
    field = task_field(exc, fields)
    if field:
        return await change_page(request, change_id, status_code=422,
                                 errors={field: field_message(exc)}, values=values)
    return await change_page(request, change_id, status_code=409, problem=exc.message,
                             values=values)


# --- downloads -------------------------------------------------------------------------------

@router.get("/changes/{change_id}/letters.zip")
@allow(LEGAL)
async def letters_zip(request: Request, change_id: int) -> Response:
    """Every customer's letter, or (`?who=not-notified`) those the e-mail did not reach."""
    only_unnotified = request.query_params.get("who", "") == "not-notified"
    context, settings = web_context(request), public_settings(request)
    try:
        pack = await run_in_threadpool(lambda: letters_pack(
            context.db, change_id, renderer=context.engine.renderer,
            texts=settings.notice_texts, settings=settings.smtp,
            only_unnotified=only_unnotified))
    except DpaError as exc:
        return await _refused(request, change_id, exc, {}, {})
    return _zip(pack)


@router.get("/changes/{change_id}/evidence.zip")
@allow(LEGAL)
async def evidence_zip(request: Request, change_id: int) -> Response:
    """The change's evidence pack; one whose log does not verify says so (BROKEN) inside and
    in the `x-dpa-verification` header."""
    context = web_context(request)
    try:
        pack, verification = await run_in_threadpool(lambda: evidence_pack(
            context.db, change_id, renderer=context.engine.renderer))
    except DpaError as exc:
        return await _refused(request, change_id, exc, {}, {})
    response = _zip(pack)
    response.headers["x-dpa-verification"] = "intact" if verification.ok else "broken"
    return response


# --- answer received, bounce, tell subscribers again ------------------------------------------

@router.post("/changes/{change_id}/answer")
@allow(LEGAL)
async def answer(request: Request, change_id: int) -> Response:
    posted = await request.form()
    values = {name: text_field(posted, name)
              for name in ("answer_customer", "answer_kind", "received_at", "answer_text")}
    actor = actor_of(request)
    db = web_context(request).db

    def run() -> None:
        kind = values["answer_kind"]
        if kind not in ANSWER_KINDS:
            raise NoticeError(f"'{kind}' is not a kind of answer", field="kind",
                              fix="choose objection (or refusal) or consent")
        received_at: datetime.datetime = brussels_moment(values["received_at"], "received_at")
        notices.record_objection(db, change_id, values["answer_customer"],
                                 received_at=received_at, text=values["answer_text"],
                                 actor=actor, kind="consent" if kind == "consent" else "objection")

    try:
        await run_in_threadpool(run)
    except DpaError as exc:
        return await _refused(request, change_id, exc, ANSWER_FIELDS, values)
    return done_redirect(change_id, "answer")


@router.post("/changes/{change_id}/bounce")
@allow(LEGAL)
async def bounce(request: Request, change_id: int) -> Response:
    posted = await request.form()
    values = {name: text_field(posted, name) for name in ("bounce_customer", "bounce_reason")}
    actor = actor_of(request)
    db = web_context(request).db

    def run() -> None:
        if not values["bounce_reason"].strip():
            raise NoticeError("the bounce message is empty", field="reason",
                              fix="paste the bounce message the mail server sent back")
        notices.record_bounce(db, change_id, values["bounce_customer"],
                              reason=values["bounce_reason"], actor=actor)

    try:
        await run_in_threadpool(run)
    except DpaError as exc:
        return await _refused(request, change_id, exc, BOUNCE_FIELDS, values)
    return done_redirect(change_id, "bounce")


@router.post("/changes/{change_id}/announce")
@allow(LEGAL)
async def announce(request: Request, change_id: int) -> Response:
    """E-mail the public list's subscribers not reached before (each gets each e-mail once)."""
    db = web_context(request).db
    try:
        announcement = await run_in_threadpool(lambda: announce_change(db, change_id))
    except DpaError as exc:
        return await _refused(request, change_id, exc, {}, {})
    return done_redirect(change_id, "announced",
                         subscribers=subscribers_outcome(announcement.subscribers))
