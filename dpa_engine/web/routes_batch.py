"""Account managers: several deal files (or a .zip of them) uploaded at once, each made into
an agreement and generated; the result page lists every file; the .docx as one .zip."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from dpa_engine import DpaError

from . import batchupload, workflow
from .batchupload import MAX_BATCH_FILES, DealUpload
from .library import WebAgreementRow
from .pages import render
from .routes_agreements import AM, context_of, user_of
from .security import allow

router = APIRouter(prefix="/agreements/batch")
MAX_ZIP_UPLOAD = 11_000_000  # the app's request limit bounds it anyway


@router.post("")
@allow(AM)
async def upload_batch(request: Request) -> Response:
    """Several deal files, or .zip files of them: every file's outcome on one page."""
    posted = await request.form()
    uploads = [u for u in posted.getlist("deals") if isinstance(u, UploadFile) and u.filename]
    if len(uploads) > MAX_BATCH_FILES:
        return _refused(request, f"more than {MAX_BATCH_FILES} deal files in one batch — "
                                 f"fix: {batchupload.LIMIT_FIX}; split the rest into another batch")
    files = []
    for upload in uploads:
        name = upload.filename or ""
        limit = MAX_ZIP_UPLOAD if name.lower().endswith(".zip") else workflow.MAX_DEAL_FILE
        files.append(DealUpload(name, await upload.read(limit + 1)))
    try:
        outcomes = await run_in_threadpool(batchupload.run, context_of(request), files,
                                           user_of(request))
    except DpaError as exc:
        return _refused(request, workflow.public_message(exc))
    made = [o.agreement_id for o in outcomes if o.agreement_id is not None]
    return render(request, "batch.html", outcomes=outcomes, error=None,
                  ids=",".join(str(i) for i in made),
                  counts={r: sum(1 for o in outcomes if o.result == r)
                          for r in ("final", "awaiting-approval", "refused")})


def _refused(request: Request, error: str) -> Response:
    return render(request, "batch.html", status=422, outcomes=[], error=error, ids="",
                  counts={})


@router.get("/agreements.zip")
@allow(AM)
async def download_zip(request: Request) -> Response:
    """The generated .docx of the agreements `?ids=1,2,3` (a batch's), as one .zip."""
    ids = _ids(request.query_params.get("ids", ""))
    with context_of(request).db.transaction() as session:
        rows = list(session.scalars(select(WebAgreementRow).where(WebAgreementRow.id.in_(ids))
                                    .order_by(WebAgreementRow.id))) if ids else []
        documents = [(batchupload.docx_stem(r), r.docx) for r in rows if r.docx is not None]
    if not documents:
        raise HTTPException(404, "no generated agreement in this batch")
    data = await run_in_threadpool(batchupload.docx_zip, documents)
    return Response(data, media_type="application/zip",
                    headers={"content-disposition": 'attachment; filename="agreements.zip"'})


def _ids(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",")[:MAX_BATCH_FILES]]
    return [int(p) for p in parts if p.isdigit() and len(p) < 12]
