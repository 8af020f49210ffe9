"""Account managers: the agreement list, the guided form, generation, downloads, signing."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from dpa_engine import DpaError, InputError, load_deal

from . import workflow
from .forms import STEPS, AgreementForm, enterprise_number_error, form_from_deal, slug_of, validation_errors
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
MAX_DEAL_FILE = 1_000_000


def _user(request: Request) -> User:
    login = current_login(request)
    assert login is not None  # authorize() let only logged-in users through
    return login.user


def _context(request: Request) -> WebContext:
    context: WebContext = request.app.state.web
    return context


def _row(session: Session, agreement_id: int) -> WebAgreementRow:
    row = session.get(WebAgreementRow, agreement_id)
    if row is None:
        raise HTTPException(404, "no such agreement")
    return row


def _see(agreement_id: int) -> RedirectResponse:
    return RedirectResponse(f"/agreements/{agreement_id}", status_code=303)


@router.get("")
@allow(AM)
async def agreements(request: Request) -> Response:
    query = request.query_params.get("q", "")
    status = request.query_params.get("status", "")
    language = request.query_params.get("language", "")
    with _context(request).db.transaction() as session:
        rows = workflow.find_agreements(session, query, status, language)
        items = [{"id": r.id, "customer": r.customer_name, "status": r.status,
                  "language": r.language, "version": r.version, "reference": r.reference,
                  "updated": r.updated_at, "draft": r.draft_marking} for r in rows]
    return render(request, "agreements.html", items=items, q=query, status_filter=status,
                  language=language, statuses=STATUSES, all_languages=LANGUAGES)


@router.post("")
@allow(AM)
async def new_agreement(request: Request) -> Response:
    with _context(request).db.transaction() as session:
        row = workflow.new_agreement(session, AgreementForm(), _user(request))
        agreement_id = row.id
    return RedirectResponse(f"/agreements/{agreement_id}/step/customer", status_code=303)


@router.post("/upload")
@allow(AM)
async def upload_deal(request: Request) -> Response:
    """Start from a deal file (the command line's format)."""
    posted = await request.form()
    upload = posted.get("deal")
    context = _context(request)
    error = None
    if not isinstance(upload, UploadFile) or not upload.filename:
        error = "choose a deal file (.yaml) to upload"
    else:
        data = await upload.read(MAX_DEAL_FILE + 1)
        if len(data) > MAX_DEAL_FILE or not upload.filename.endswith((".yaml", ".yml")):
            error = "a deal file is a .yaml file of at most 1 MB"
        else:
            try:
                form = await run_in_threadpool(_form_from_upload, context, data, upload.filename)
            except DpaError as exc:
                error = exc.message
            except UnicodeDecodeError:
                error = "the deal file is not UTF-8 text: save it as UTF-8 and upload it again"
    if error is not None:
        return await _list_with_error(request, error)
    with context.db.transaction() as session:
        row = workflow.new_agreement(session, form, _user(request))
        agreement_id = row.id
    return _see(agreement_id)


def _form_from_upload(context: WebContext, data: bytes, filename: str) -> AgreementForm:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    text = data.decode("utf-8")
    yaml = YAML(typ="rt")
    try:
        content = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise InputError(f"not valid YAML ({exc.problem})", path=Path(filename).name,
                         line=mark.line + 1 if mark else None,
                         fix="correct the deal file (compare with `dpa schema deal`)") from None
    if not isinstance(content, dict):
        raise InputError("a deal file must be a mapping of fields", path=Path(filename).name,
                         line=1, fix="start with 'provider:', 'customer:', 'language:' ...")
    if isinstance(content, dict):  # the deal's provider is this app's provider profile
        content["provider"] = str(context.provider_path)
    with tempfile.TemporaryDirectory(prefix="dpa-upload-") as folder:
        path = Path(folder) / Path(filename).name
        with path.open("w", encoding="utf-8") as handle:
            yaml.dump(content, handle)
        return form_from_deal(load_deal(path).deal)


async def _list_with_error(request: Request, error: str) -> Response:
    with _context(request).db.transaction() as session:
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
    context = _context(request)
    with context.db.transaction() as session:
        row = _row(session, agreement_id)
        form = AgreementForm.model_validate(row.form)
    page = await run_in_threadpool(step_context, context, agreement_id, form, step, {})
    return render(request, "step.html", **page)


@router.post("/{agreement_id}/step/{step}")
@allow(AM)
async def step_post(request: Request, agreement_id: int, step: str) -> Response:
    if step not in STEPS:
        raise HTTPException(404, "no such step")
    posted = await request.form()
    context = _context(request)
    with context.db.transaction() as session:
        row = _row(session, agreement_id)
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
    return _see(agreement_id)


@router.post("/{agreement_id}/preview/{step}")
@allow(AM)
async def preview(request: Request, agreement_id: int, step: str) -> Response:
    """The live explanation beside the form (htmx), for the form as typed, not saved."""
    posted = await request.form()
    context = _context(request)
    with context.db.transaction() as session:
        row = _row(session, agreement_id)
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
    context = _context(request)
    with context.db.transaction() as session:
        row = _row(session, agreement_id)
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
    context = _context(request)
    user = _user(request)

    def run() -> None:
        with context.db.transaction() as session:
            row = _row(session, agreement_id)
            workflow.generate(context, session, row, user)

    try:
        await run_in_threadpool(run)
    except DpaError as exc:
        return RedirectResponse(f"/agreements/{agreement_id}?upload_error="
                                + _quote(workflow.public_message(exc)), status_code=303)
    return _see(agreement_id)


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text[:300])


def _download(data: bytes | str | None, media_type: str, filename: str) -> Response:
    if data is None:
        raise HTTPException(404, "not generated yet")
    return Response(data, media_type=media_type,
                    headers={"content-disposition": f'attachment; filename="{filename}"'})


def _filename(row: WebAgreementRow, suffix: str) -> str:
    return f"{slug_of(row.reference or row.customer_name)}-v{row.version}{suffix}"


@router.get("/{agreement_id}/agreement.docx")
@allow(AM)
async def download_docx(request: Request, agreement_id: int) -> Response:
    with _context(request).db.transaction() as session:
        row = _row(session, agreement_id)
        return _download(row.docx, "application/vnd.openxmlformats-officedocument."
                         "wordprocessingml.document", _filename(row, ".docx"))


@router.get("/{agreement_id}/agreement.pdf")
@allow(AM)
async def download_pdf(request: Request, agreement_id: int) -> Response:
    """The PDF, converted by headless LibreOffice when first asked for."""
    context = _context(request)
    with context.db.transaction() as session:
        row = _row(session, agreement_id)
        docx, pdf, name = row.docx, row.pdf, _filename(row, ".pdf")
    if docx is None:
        raise HTTPException(404, "not generated yet")
    if pdf is None:
        pdf = await run_in_threadpool(_convert, docx)
        with context.db.transaction() as session:
            _row(session, agreement_id).pdf = pdf
    return _download(pdf, "application/pdf", name)


def _convert(docx: bytes) -> bytes:
    from dpa_engine.render import convert_to_pdf

    with tempfile.TemporaryDirectory(prefix="dpa-web-pdf-") as folder:
        source = Path(folder) / "agreement.docx"
        source.write_bytes(docx)
        target = source.with_suffix(".pdf")
        convert_to_pdf(source, target)
        return target.read_bytes()


@router.get("/{agreement_id}/deal.yaml")
@allow(AM)
async def download_deal(request: Request, agreement_id: int) -> Response:
    context = _context(request)
    with context.db.transaction() as session:
        row = _row(session, agreement_id)
        from .forms import deal_data, deal_yaml

        text = row.deal_yaml or deal_yaml(deal_data(AgreementForm.model_validate(row.form),
                                                    context.provider_ref))
        return _download(text, "application/yaml", _filename(row, ".yaml"))


@router.get("/{agreement_id}/manifest.json")
@allow(AM)
async def download_manifest(request: Request, agreement_id: int) -> Response:
    with _context(request).db.transaction() as session:
        row = _row(session, agreement_id)
        return _download(row.manifest, "application/json", _filename(row, ".manifest.json"))


@router.get("/{agreement_id}/signed.pdf")
@allow(AM)
async def download_signed(request: Request, agreement_id: int) -> Response:
    with _context(request).db.transaction() as session:
        row = _row(session, agreement_id)
        return _download(row.signed_pdf, "application/pdf", _filename(row, "-signed.pdf"))


@router.post("/{agreement_id}/signed")
@allow(AM)
async def upload_signed(request: Request, agreement_id: int) -> Response:
    """The signed PDF: size and type checked; the customer enters the notice register."""
    posted = await request.form()
    upload = posted.get("signed")
    context = _context(request)
    user = _user(request)
    data = await upload.read(workflow.MAX_SIGNED_PDF + 1) if isinstance(upload, UploadFile) else b""
    error = None
    if not data:
        error = "choose the signed PDF to upload"
    elif len(data) > workflow.MAX_SIGNED_PDF:
        error = "the signed PDF is larger than 10 MB: scan it at a lower resolution"
    elif not data.startswith(b"%PDF-"):
        error = "the file is not a PDF: upload the signed agreement as a PDF"
    with context.db.transaction() as session:
        row = _row(session, agreement_id)
        form, approvals, status = AgreementForm.model_validate(row.form), row.approvals_yaml, row.status
    if error is None and status != "final":
        error = "only a final agreement (without DRAFT marking) can be signed: generate it first"
    if error is None:
        try:
            form = await run_in_threadpool(workflow.register_signed, context, form, approvals, user)
        except DpaError as exc:
            error = workflow.public_message(exc)
    if error is not None:
        return RedirectResponse(f"/agreements/{agreement_id}?upload_error=" + _quote(error),
                                status_code=303)
    with context.db.transaction() as session:
        workflow.record_signed(context, _row(session, agreement_id), form, data)
    return _see(agreement_id)


@router.post("/{agreement_id}/new-version")
@allow(AM)
async def new_version(request: Request, agreement_id: int) -> Response:
    """A new version starts from the previous one (same customer, terms and processing)."""
    with _context(request).db.transaction() as session:
        previous = _row(session, agreement_id)
        form = AgreementForm.model_validate(previous.form)
        form = form.model_copy(update={"version": form.version + 1, "agreement_date": ""})
        row = workflow.new_agreement(session, form, _user(request), previous)
        new_id = row.id
    return RedirectResponse(f"/agreements/{new_id}/step/customer", status_code=303)
