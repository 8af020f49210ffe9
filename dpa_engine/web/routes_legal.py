"""Legal: the approval queue with redlines, the clause browser and the coverage matrix."""

from __future__ import annotations

import difflib
import re
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from dpa_engine import DpaError, Library, load_library

from . import workflow
from .forms import AgreementForm
from .library import (
    LANGUAGES,
    ClauseView,
    RedlineModel,
    WebAgreementRow,
    coverage,
    library_version,
    show_clause,
)
from .pages import render
from .security import allow, current_login
from .users import Role
from .webform import text_field
from .workflow import WebContext

router = APIRouter(prefix="/legal")
LEGAL = Role.legal
_WORDS = re.compile(r"\s+|[^\s]+")


def _context(request: Request) -> WebContext:
    context: WebContext = request.app.state.web
    return context


@router.get("/approvals")
@allow(LEGAL)
async def approvals(request: Request) -> Response:
    with _context(request).db.transaction() as session:
        items = [{"id": r.id, "customer": r.customer_name, "version": r.version,
                  "language": r.language, "reference": r.reference, "by": r.created_by,
                  "updated": r.updated_at} for r in workflow.awaiting_approval(session)]
    return render(request, "approvals.html", items=items)


def redline_paragraphs(model: RedlineModel) -> list[dict[str, Any]]:
    """The changed paragraphs of a redline, as (change, text) pieces for the page."""
    shown = []
    for revision in model.revisions:
        if revision.change == "equal" or revision.kind != "paragraph":
            continue
        number = revision.paragraph.number or ""
        title = revision.paragraph.title or ""
        if revision.change == "modify":
            pieces = [(s.change, _runs_text(s.runs)) for s in revision.segments]
        else:
            pieces = [(revision.change, _runs_text(revision.paragraph.runs))]
        shown.append({"change": revision.change, "heading": f"{number} {title}".strip(),
                      "pieces": pieces})
    return shown


def _runs_text(runs: list[Any]) -> str:
    return "".join(r.text if r.kind == "text" else r.number for r in runs)


@router.get("/approvals/{agreement_id}")
@allow(LEGAL)
async def approval(request: Request, agreement_id: int) -> Response:
    context = _context(request)
    with context.db.transaction() as session:
        row = session.get(WebAgreementRow, agreement_id)
        if row is None:
            raise HTTPException(404, "no such agreement")
        form = AgreementForm.model_validate(row.form)
        info = {"id": row.id, "customer": row.customer_name, "version": row.version,
                "language": row.language, "status": row.status, "by": row.created_by,
                "note": row.legal_note}
        approvals_text = row.approvals_yaml
    explanation = await run_in_threadpool(context.explain, form, approvals_text)
    redline = await run_in_threadpool(context.redline, form, approvals_text)
    return render(request, "approval.html", agreement=info, explanation=explanation,
                  paragraphs=redline_paragraphs(redline))


@router.post("/approvals/{agreement_id}")
@allow(LEGAL)
async def decide(request: Request, agreement_id: int) -> Response:
    posted = await request.form()
    decision, note = text_field(posted, "decision"), text_field(posted, "note").strip()
    context = _context(request)
    login = current_login(request)
    assert login is not None
    if decision not in ("approve", "reject"):
        raise HTTPException(422, "choose approve or reject")
    if decision == "reject" and not note:
        return RedirectResponse(f"/legal/approvals/{agreement_id}?error=note", status_code=303)

    def run() -> None:
        with context.db.transaction() as session:
            row = session.get(WebAgreementRow, agreement_id)
            if row is None or row.status != "awaiting-approval":
                raise HTTPException(409, "this agreement is not awaiting approval")
            workflow.decide_approval(context, session, row, login.user,
                                     approved=decision == "approve", note=note)

    await run_in_threadpool(run)
    return RedirectResponse("/legal/approvals", status_code=303)


# --- clause browser --------------------------------------------------------------------------

def _matches(item: Any, query: str) -> bool:
    clause = item.clause
    haystack = " ".join([clause.id, *clause.title.values(), *clause.text.values()]).lower()
    return all(word in haystack for word in query.lower().split())


@router.get("/clauses")
@allow(LEGAL)
async def clauses(request: Request) -> Response:
    library: Library = _context(request).engine.library
    family = request.query_params.get("family", "")
    article = request.query_params.get("article", "").strip()
    query = request.query_params.get("q", "").strip()
    language = request.query_params.get("language", "en")
    language = language if language in LANGUAGES else "en"
    items = []
    for part in library.articles:
        for item in part.clauses:
            if family and item.family != family:
                continue
            if article and not any(ref.startswith(article) for ref in item.clause.satisfies):
                continue
            if query and not _matches(item, query):
                continue
            items.append({"id": item.id, "version": item.clause.version, "family": item.family,
                          "title": item.clause.title[language], "when": item.clause.when,
                          "satisfies": item.clause.satisfies})
    references = sorted({ref for a in library.articles for i in a.clauses
                         for ref in i.clause.satisfies})
    return render(request, "clauses.html", items=items, families=[a.family for a in library.articles],
                  references=references, family=family, article=article, q=query,
                  language=language, all_languages=LANGUAGES)


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """Word-level differences: ("equal" | "delete" | "insert", text) pieces."""
    a, b = _WORDS.findall(old), _WORDS.findall(new)
    pieces: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            pieces.append(("delete", "".join(a[i1:i2])))
        if op in ("insert", "replace"):
            pieces.append(("insert", "".join(b[j1:j2])))
        if op == "equal":
            pieces.append(("equal", "".join(a[i1:i2])))
    return pieces


def _lock_history(library: Library, clause_id: str) -> list[dict[str, str]]:
    lock = library.path / "versions.lock"
    if not lock.is_file():
        return []
    entries = []
    for line in lock.read_text(encoding="utf-8").splitlines():
        key, _, digest = line.partition(":")
        if key.startswith(clause_id + "@"):
            entries.append({"version": key.rsplit("@", 1)[1], "sha256": digest.strip()})
    return entries


def _compare(library: Library, clause_id: str, against: str) -> tuple[ClauseView | None, str | None]:
    """The clause in another version of the library (a git ref or a folder)."""
    try:
        with library_version(against, library_folder=library.path) as folder:
            other = load_library(folder)
        if clause_id not in other.clauses:
            return None, f"clause {clause_id} is not in the library at '{against}'"
        return show_clause(other, clause_id), None
    except DpaError as exc:
        return None, exc.message


@router.get("/clauses/{clause_id}")
@allow(LEGAL)
async def clause(request: Request, clause_id: str) -> Response:
    library: Library = _context(request).engine.library
    if clause_id not in library.clauses:
        raise HTTPException(404, "no such clause")
    view = show_clause(library, clause_id)
    item = library.clauses[clause_id]
    against = request.query_params.get("against", "").strip()
    diffs: dict[str, list[tuple[str, str]]] = {}
    compare_error = None
    other = None
    if against:
        other, compare_error = await run_in_threadpool(_compare, library, clause_id, against)
        if other is not None:
            diffs = {lang: word_diff(other.text[lang], view.text[lang]) for lang in LANGUAGES}
    return render(request, "clause.html", clause=view, refs=sorted(item.refs),
                  history=_lock_history(library, clause_id), all_languages=LANGUAGES,
                  against=against, other=other, diffs=diffs, compare_error=compare_error)


@router.get("/coverage")
@allow(LEGAL)
async def coverage_matrix(request: Request) -> Response:
    report = coverage(_context(request).engine.library)
    return render(request, "coverage.html", report=report)
