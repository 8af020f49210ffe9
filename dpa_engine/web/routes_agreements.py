"""Account managers: the agreement list, the guided form, generation and new versions."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from dpa_engine import DpaError

from . import workflow
from .forms import STEPS, AgreementForm, enterprise_number_error, validation_errors
from .library import LANGUAGES, WebAgreementRow
from .pages import render
from .security import allow, current_login
from .steps import apply_step
from .users import Role, User
from .views import explanation_context, step_context
from .webform import text_field
from .workflow import STATUSES, WebContext

router = APIRouter(prefix="/agreements")
AM = Role.account_manager


def user_of(request: Request) -> User:
    login = current_login(request)
    assert login is not None  # authorize() let only logged-in users through
    return login.user


def context_of(request: Request) -> WebContext:
    context: WebContext = request.app.state.web
    return context


def find_row(session: Session, agreement_id: int) -> WebAgreementRow:
    row = session.get(WebAgreementRow, agreement_id)
    if row is None:
        raise HTTPException(404, "no such agreement")
    return row


def see_agreement(agreement_id: int, problem: str | None = None) -> RedirectResponse:
    """Back to the agreement's page (with a problem to show, if any)."""
    query = f"?upload_error={quote(problem[:300])}" if problem else ""
    return RedirectResponse(f"/agreements/{agreement_id}{query}", status_code=303)


@router.get("")
@allow(AM)
async def agreements(request: Request) -> Response:
    query = request.query_params.get("q", "")
    status = request.query_params.get("status", "")
    language = request.query_params.get("language", "")
    with context_of(request).db.transaction() as session:
        rows = workflow.find_agreements(session, query, status, language)
        items = [{"id": r.id, "customer": r.customer_name, "status": r.status,
                  "language": r.language, "version": r.version, "reference": r.reference,
                  "updated": r.updated_at, "draft": r.draft_marking} for r in rows]
    return render(request, "agreements.html", items=items, q=query, status_filter=status,
                  language=language, statuses=STATUSES, all_languages=LANGUAGES)


@router.post("")
@allow(AM)
async def new_agreement(request: Request) -> Response:
    with context_of(request).db.transaction() as session:
        row = workflow.new_agreement(session, AgreementForm(), user_of(request))
        agreement_id = row.id
    return RedirectResponse(f"/agreements/{agreement_id}/step/customer", status_code=303)


@router.post("/upload")
@allow(AM)
async def upload_deal(request: Request) -> Response:
    """Start from a deal file (the command line's format)."""
    posted = await request.form()
    upload = posted.get("deal")
    context = context_of(request)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _list_with_error(request, "choose a deal file (.yaml) to upload")
    data = await upload.read(workflow.MAX_DEAL_FILE + 1)
    try:
        form = await run_in_threadpool(workflow.form_from_upload, context, data, upload.filename)
    except DpaError as exc:
        return await _list_with_error(request, workflow.public_message(exc))
    with context.db.transaction() as session:
        row = workflow.new_agreement(session, form, user_of(request))
        agreement_id = row.id
    return see_agreement(agreement_id)


async def _list_with_error(request: Request, error: str) -> Response:
    with context_of(request).db.transaction() as session:
        rows = workflow.find_agreements(session)
        items = [{"id": r.id, "customer": r.customer_name, "status": r.status,
                  "language": r.language, "version": r.version, "reference": r.reference,
                  "updated": r.updated_at, "draft": r.draft_marking} for r in rows]
    return render(request, "agreements.html", status=422, items=items, q="", status_filter="",
                  language="", statuses=STATUSES, all_languages=LANGUAGES, upload_error=error)


@router.post("/check-enterprise")
@allow(AM)
async def check_enterprise(request: Request) -> Response:
    """As-you-type check of the enterprise number (htmx): the error, or nothing."""
    posted = await request.form()
    number = text_field(posted, "customer.enterprise_number")
    country = text_field(posted, "customer.country").strip().upper()
    error = enterprise_number_error(number, country) if number.strip() else None
    return render(request, "_field_error.html", error=error)


@router.get("/{agreement_id}/step/{step}")
@allow(AM)
async def step_page(request: Request, agreement_id: int, step: str) -> Response:
    if step not in STEPS:
        raise HTTPException(404, "no such step")
    context = context_of(request)
    with context.db.transaction() as session:
        row = find_row(session, agreement_id)
        form = AgreementForm.model_validate(row.form)
    page = await run_in_threadpool(step_context, context, agreement_id, form, step, {})
    return render(request, "step.html", **page)


@router.post("/{agreement_id}/step/{step}")
@allow(AM)
async def step_post(request: Request, agreement_id: int, step: str) -> Response:
    if step not in STEPS:
        raise HTTPException(404, "no such step")
    posted = await request.form()
    context = context_of(request)
    with context.db.transaction() as session:
        row = find_row(session, agreement_id)
        if row.status == "signed":
            return see_agreement(agreement_id, "a signed agreement does not change: start a new version")
        form = apply_step(AgreementForm.model_validate(row.form), step, posted, context.provider,
                          sorted(context.engine.library.negotiable))
        errors = validation_errors(form, context.provider, context.provider_ref, (step,))
        if not errors:
            workflow.save_form(row, form)
            if row.status != "draft":
                row.status, row.docx, row.pdf = "draft", None, None
    if errors:
        page = await run_in_threadpool(step_context, context, agreement_id, form, step, errors)
        return render(request, "step.html", status=422, **page)
    index = STEPS.index(step)
    if index + 1 < len(STEPS):
        return RedirectResponse(f"/agreements/{agreement_id}/step/{STEPS[index + 1]}",
                                status_code=303)
    return see_agreement(agreement_id)


@router.post("/{agreement_id}/preview/{step}")
@allow(AM)
async def preview(request: Request, agreement_id: int, step: str) -> Response:
    """The live explanation beside the form (htmx), for the form as typed, not saved."""
    posted = await request.form()
    context = context_of(request)
    with context.db.transaction() as session:
        row = find_row(session, agreement_id)
        form = AgreementForm.model_validate(row.form)
        approvals = row.approvals_yaml
    if step in STEPS:
        form = apply_step(form, step, posted, context.provider,
                          sorted(context.engine.library.negotiable))
    page = await run_in_threadpool(explanation_context, context, form, approvals)
    return render(request, "_explanation.html", **page)


@router.get("/{agreement_id}")
@allow(AM)
async def agreement(request: Request, agreement_id: int) -> Response:
    context = context_of(request)
    with context.db.transaction() as session:
        row = find_row(session, agreement_id)
        form = AgreementForm.model_validate(row.form)
        info = {"id": row.id, "status": row.status, "customer": row.customer_name,
                "version": row.version, "language": row.language, "reference": row.reference,
                "has_docx": row.docx is not None, "has_signed": row.signed_pdf is not None,
                "draft": row.draft_marking, "legal_note": row.legal_note,
                "previous_id": row.previous_id}
        approvals = row.approvals_yaml
    errors = validation_errors(form, context.provider, context.provider_ref)
    page = await run_in_threadpool(explanation_context, context, form, approvals) \
        if not errors else {"explanation": None, "problem": None}
    return render(request, "agreement.html", agreement=info, form=form, errors=errors,
                  steps=STEPS, upload_error=request.query_params.get("upload_error"), **page)


@router.post("/{agreement_id}/generate")
@allow(AM)
async def generate(request: Request, agreement_id: int) -> Response:
    context = context_of(request)
    user = user_of(request)

    def run() -> None:
        with context.db.transaction() as session:
            row = find_row(session, agreement_id)
            workflow.generate(context, session, row, user)

    try:
        await run_in_threadpool(run)
    except DpaError as exc:
        return see_agreement(agreement_id, workflow.public_message(exc))
    return see_agreement(agreement_id)


@router.post("/{agreement_id}/new-version")
@allow(AM)
async def new_version(request: Request, agreement_id: int) -> Response:
    """A new version starts from the previous one (same customer, terms and processing)."""
    with context_of(request).db.transaction() as session:
        previous = find_row(session, agreement_id)
        form = AgreementForm.model_validate(previous.form)
        form = form.model_copy(update={"version": form.version + 1, "agreement_date": ""})
        row = workflow.new_agreement(session, form, user_of(request), previous)
        new_id = row.id
    return RedirectResponse(f"/agreements/{new_id}/step/customer", status_code=303)
