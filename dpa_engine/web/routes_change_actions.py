"""Legal runs the sub-processor change workflow: propose a change, plan it (after seeing who
would get which notice and why), withdraw it, record a letter posted to a customer the
e-mail did not reach, close it after its deadlines. Each action calls the library function
the `dpa change` command calls, with the logged-in user as the audit log's actor. Sending
stays with operators (`dpa change send`: long-running, with the SMTP settings)."""

from __future__ import annotations

import datetime
from typing import Any, cast

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from dpa_engine import DpaError, notices
from dpa_engine.customers.announce import plan_and_announce, withdraw_and_announce
from dpa_engine.notices import NoticeError, Plan

from .changeforms import TRANSFERS, ProposalForm, brussels_moment, field_message, form_field
from .library import (
    Language,
    ProposalChoices,
    inside_windows,
    preview_plan,
    proposal_choices,
    text_in,
    write_checkpoint,
)
from .pages import language_of, render
from .routes_changes import (
    LEGAL,
    actor_of,
    brussels,
    change_page,
    done_redirect,
    subscribers_outcome,
    web_context,
)
from .security import allow
from .webform import text_field

router = APIRouter(prefix="/legal")


async def _refused(request: Request, change_id: int, exc: DpaError,
                   values: dict[str, str]) -> Response:
    """The change's page again, the library's message next to its field (or above)."""
    field = form_field(exc)
    if field:
        return await change_page(request, change_id, status_code=422,
                                 errors={field: field_message(exc)}, values=values)
    return await change_page(request, change_id, status_code=409, problem=exc.message,
                             values=values)


# --- propose ---------------------------------------------------------------------------------

def _choices(request: Request, choices: ProposalChoices) -> dict[str, Any]:
    language = cast(Language, language_of(request))
    return {"current": [(s.id, s.name) for s in choices.subprocessors],
            "services": [(key, text_in(name, language) or key)
                         for key, name in choices.services.items()],
            "transfers": TRANSFERS, "list_version": choices.list_version}


async def _proposal_page(request: Request, form: ProposalForm, errors: dict[str, str],
                         problem: str | None = None, status: int = 200) -> Response:
    try:
        choices = await run_in_threadpool(proposal_choices, web_context(request).db)
    except NoticeError as exc:  # the register is empty: nothing to change yet
        return render(request, "change_new.html", status=409, form=form, errors={},
                      problem=exc.message, current=[], services=[], transfers=TRANSFERS,
                      list_version=None)
    return render(request, "change_new.html", status=status, form=form, errors=errors,
                  problem=problem, **_choices(request, choices))


@router.get("/changes/new")
@allow(LEGAL)
async def new_change(request: Request) -> Response:
    return await _proposal_page(request, ProposalForm(), {})


@router.post("/changes/new")
@allow(LEGAL)
async def propose(request: Request) -> Response:
    form = ProposalForm.posted(await request.form())
    if missing := form.missing():
        return await _proposal_page(request, form, missing, status=422)
    actor = actor_of(request)

    def run() -> int:
        return notices.propose_change(web_context(request).db, form.proposal(), actor=actor).id

    try:
        change_id = await run_in_threadpool(run)
    except DpaError as exc:
        field = form_field(exc)
        if field:
            return await _proposal_page(request, form, {field: field_message(exc)}, status=422)
        return await _proposal_page(request, form, {}, problem=exc.message, status=409)
    return done_redirect(change_id, "proposed")


# --- plan ------------------------------------------------------------------------------------

def plan_rows(plan: Plan) -> list[dict[str, Any]]:
    """Who would get which notice and why: what `dpa change plan` prints, per customer."""
    return [{"customer": e.customer, "name": e.name,
             "agreement": f"{e.reference or '-'} v{e.agreement_version}",
             "recipients": e.recipients, "kind": e.kind, "language": e.language,
             "window_days": e.window_days, "window_unit": e.window_unit,
             "deadline": notices.deadline_text(e.deadline_if_sent, none=""),
             "reasons": [(r.service, r.subprocessor, r.role) for r in e.reasons],
             "warnings": e.warnings} for e in plan.affected]


async def _plan_page(request: Request, change_id: int, at_text: str, *, status: int = 200,
                     errors: dict[str, str] | None = None, problem: str | None = None,
                     changed: bool = False) -> Response:
    errors = dict(errors or {})
    dispatch_at = None
    if at_text.strip():
        try:
            dispatch_at = brussels_moment(at_text, "at")
        except DpaError as exc:
            errors["at"], status = field_message(exc), 422
    db = web_context(request).db
    try:
        plan = await run_in_threadpool(lambda: preview_plan(db, change_id, dispatch_at=dispatch_at))
    except NoticeError as exc:
        if exc.field == "change":
            raise HTTPException(404, "no such change") from exc
        return await change_page(request, change_id, status_code=409, problem=exc.message)
    return render(request, "change_plan.html", status=status, change=plan.change,
                  dispatch_at=brussels(plan.dispatch_at), at=at_text, rows=plan_rows(plan),
                  unaffected=plan.unaffected, inside=len(inside_windows(plan)),
                  plan_hash=plan.plan_hash, changed=changed, errors=errors, problem=problem)


@router.get("/changes/{change_id}/plan")
@allow(LEGAL)
async def plan_preview(request: Request, change_id: int) -> Response:
    return await _plan_page(request, change_id, request.query_params.get("at", ""))


@router.post("/changes/{change_id}/plan")
@allow(LEGAL)
async def plan(request: Request, change_id: int) -> Response:
    """Record the plan legal saw (`plan_hash`: the preview's); if the register changed since,
    the new preview is shown instead, to be confirmed again."""
    posted = await request.form()
    at_text, force = text_field(posted, "at"), text_field(posted, "force") == "yes"
    seen = text_field(posted, "plan_hash")
    actor = actor_of(request)
    db = web_context(request).db
    try:
        dispatch_at = brussels_moment(at_text, "at") if at_text.strip() else None
        current = await run_in_threadpool(lambda: preview_plan(db, change_id,
                                                               dispatch_at=dispatch_at))
        if current.plan_hash != seen:
            return await _plan_page(request, change_id, at_text, status=409, changed=True)
        planned = await run_in_threadpool(lambda: plan_and_announce(
            db, change_id, actor=actor, dispatch_at=dispatch_at, force=force))
    except DpaError as exc:
        if exc.field == "change":
            raise HTTPException(404, "no such change") from exc
        field = form_field(exc)
        return await _plan_page(request, change_id, at_text, status=422 if field else 409,
                                errors={field: field_message(exc)} if field else None,
                                problem=None if field else exc.message)
    return done_redirect(change_id, "planned", subscribers=subscribers_outcome(planned.subscribers))


# --- withdraw, letter posted, close ----------------------------------------------------------

@router.post("/changes/{change_id}/withdraw")
@allow(LEGAL)
async def withdraw(request: Request, change_id: int) -> Response:
    reason = text_field(await request.form(), "reason")
    actor = actor_of(request)
    db = web_context(request).db
    try:
        withdrawn = await run_in_threadpool(lambda: withdraw_and_announce(
            db, change_id, reason=reason, actor=actor))
    except DpaError as exc:
        return await _refused(request, change_id, exc, {"reason": reason})
    if withdrawn.withdrawal.was == "proposed":  # subscribers hear of a change once planned
        return done_redirect(change_id, "withdrawn")
    return done_redirect(change_id, "withdrawn", subscribers=subscribers_outcome(withdrawn.subscribers))


@router.post("/changes/{change_id}/letter")
@allow(LEGAL)
async def letter_sent(request: Request, change_id: int) -> Response:
    posted = await request.form()
    customer, sent_text = text_field(posted, "customer"), text_field(posted, "sent_at")
    actor = actor_of(request)
    db = web_context(request).db

    def run() -> None:
        sent_at: datetime.datetime = brussels_moment(sent_text, "sent_at")
        notices.record_letter_sent(db, change_id, customer, sent_at=sent_at, actor=actor)

    try:
        await run_in_threadpool(run)
    except DpaError as exc:
        return await _refused(request, change_id, exc,
                              {"customer": customer, "sent_at": sent_text})
    return done_redirect(change_id, "letter")


@router.post("/changes/{change_id}/close")
@allow(LEGAL)
async def close(request: Request, change_id: int) -> Response:
    actor = actor_of(request)
    db = web_context(request).db

    def run() -> int:
        report = notices.close_change(db, change_id, actor=actor)
        write_checkpoint(db)  # as `dpa change close`: sign the log's head when a key is set
        return report.list_version

    try:
        list_version = await run_in_threadpool(run)
    except DpaError as exc:
        return await _refused(request, change_id, exc, {})
    return done_redirect(change_id, "closed", list=list_version)
