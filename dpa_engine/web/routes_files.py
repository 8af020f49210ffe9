"""Account managers: the files of an agreement (downloads) and the signed PDF (upload)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from dpa_engine import DpaError
from dpa_engine.render import convert_to_pdf

from . import workflow
from .forms import AgreementForm, deal_data, deal_yaml, slug_of
from .library import WebAgreementRow
from .routes_agreements import AM, context_of, find_row, see_agreement, user_of
from .security import allow

router = APIRouter(prefix="/agreements")


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
    with context_of(request).db.transaction() as session:
        row = find_row(session, agreement_id)
        return _download(row.docx, "application/vnd.openxmlformats-officedocument."
                         "wordprocessingml.document", _filename(row, ".docx"))


@router.get("/{agreement_id}/agreement.pdf")
@allow(AM)
async def download_pdf(request: Request, agreement_id: int) -> Response:
    """The PDF, converted by headless LibreOffice when first asked for."""
    context = context_of(request)
    with context.db.transaction() as session:
        row = find_row(session, agreement_id)
        docx, pdf, name = row.docx, row.pdf, _filename(row, ".pdf")
    if docx is None:
        raise HTTPException(404, "not generated yet")
    if pdf is None:
        try:
            pdf = await run_in_threadpool(_convert, docx)
        except DpaError as exc:
            raise HTTPException(503, workflow.public_message(exc)) from None
        with context.db.transaction() as session:
            find_row(session, agreement_id).pdf = pdf
    return _download(pdf, "application/pdf", name)


def _convert(docx: bytes) -> bytes:
    with tempfile.TemporaryDirectory(prefix="dpa-web-pdf-") as folder:
        source = Path(folder) / "agreement.docx"
        source.write_bytes(docx)
        target = source.with_suffix(".pdf")
        convert_to_pdf(source, target)
        return target.read_bytes()


@router.get("/{agreement_id}/deal.yaml")
@allow(AM)
async def download_deal(request: Request, agreement_id: int) -> Response:
    context = context_of(request)
    with context.db.transaction() as session:
        row = find_row(session, agreement_id)
        text = row.deal_yaml or deal_yaml(deal_data(AgreementForm.model_validate(row.form),
                                                    context.provider_ref))
        return _download(text, "application/yaml", _filename(row, ".yaml"))


@router.get("/{agreement_id}/manifest.json")
@allow(AM)
async def download_manifest(request: Request, agreement_id: int) -> Response:
    with context_of(request).db.transaction() as session:
        row = find_row(session, agreement_id)
        return _download(row.manifest, "application/json", _filename(row, ".manifest.json"))


@router.get("/{agreement_id}/signed.pdf")
@allow(AM)
async def download_signed(request: Request, agreement_id: int) -> Response:
    with context_of(request).db.transaction() as session:
        row = find_row(session, agreement_id)
        return _download(row.signed_pdf, "application/pdf", _filename(row, "-signed.pdf"))


@router.post("/{agreement_id}/signed")
@allow(AM)
async def upload_signed(request: Request, agreement_id: int) -> Response:
    """The signed PDF: size and type checked; the customer enters the notice register."""
    posted = await request.form()
    upload = posted.get("signed")
    context = context_of(request)
    user = user_of(request)
    data = await upload.read(workflow.MAX_SIGNED_PDF + 1) if isinstance(upload, UploadFile) else b""
    error = None
    if not data:
        error = "choose the signed PDF to upload"
    elif len(data) > workflow.MAX_SIGNED_PDF:
        error = "the signed PDF is larger than 10 MB: scan it at a lower resolution"
    elif not data.startswith(b"%PDF-"):
        error = "the file is not a PDF: upload the signed agreement as a PDF"
    with context.db.transaction() as session:
        row = find_row(session, agreement_id)
        form, approvals, status = AgreementForm.model_validate(row.form), row.approvals_yaml, row.status
    if error is None and status != "final":
        error = "only a final agreement (without DRAFT marking) can be signed: generate it first"
    if error is None:
        try:
            form = await run_in_threadpool(workflow.register_signed, context, form, approvals, user)
        except DpaError as exc:
            error = workflow.public_message(exc)
    if error is not None:
        return see_agreement(agreement_id, error)
    with context.db.transaction() as session:
        workflow.record_signed(context, find_row(session, agreement_id), form, data)
    return see_agreement(agreement_id)
