"""The customer-facing routes: the notice page (answer, confirm, receipt) and the public
sub-processor page (list, feeds, subscription). Thin: each route checks its input, calls one
library function, renders a template."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from ...errors import DpaError
from ...models import LANGUAGES, Language
from ...customers.answermail import send_confirmation
from ...notices.feed import feed_documents, list_published
from ...mail import MailError
from ...customers.noticepage import NoticePage, cached_notice_page
from ...customers.portal import (
    ACTIONS,
    REFUSAL_LIMIT,
    LinkRefused,
    NoticeRef,
    NoticeState,
    count_refusal,
    notice_access,
    read_token,
    record_answer,
)
from ...customers.publicpage import public_page
from ...customers.subscriptions import (
    confirm_subscription,
    normalised_email,
    subscribe,
    subscription_status,
    unsubscribe,
)
from ..security import allow
from .security import client_address, form_nonce, form_token, form_token_valid, same_origin
from .settings import PublicSettings, public_settings

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
STYLE = (HERE / "static" / "style.css").read_bytes()
NO_STORE = {"Cache-Control": "no-store"}

router = APIRouter()
log = logging.getLogger(__name__)
Settings = Annotated[PublicSettings, Depends(public_settings)]


def _page(request: Request, name: str, settings: PublicSettings, language: Language,
          status: int = 200, headers: dict[str, str] | None = None, **context: Any
          ) -> HTMLResponse:
    texts = settings.page_texts

    def t(key: str, **values: object) -> str:
        return texts.render(key, language, **values)

    return templates.TemplateResponse(
        request, name, {"t": t, "lang": language, **context}, status_code=status,
        headers={**NO_STORE, **(headers or {})})


def _refused(request: Request, settings: PublicSettings, *, status: int = 403,
             key: str = "refused_text") -> HTMLResponse:
    """The same plain page for every bad, expired or foreign link: in the three languages, as
    the link does not say whose it is."""
    texts = settings.page_texts
    lines = [(lang, texts.render("refused_title", lang), texts.render(key, lang))
             for lang in LANGUAGES]
    return templates.TemplateResponse(request, "refused.html", {"lines": lines},
                                      status_code=status, headers=NO_STORE)


class Access:
    """A valid link's notice and its state (see portal.notice_access)."""

    def __init__(self, ref: NoticeRef, state: NoticeState) -> None:
        self.ref, self.state = ref, state


def _notice_ref(request: Request, settings: PublicSettings, token: str) -> Access | HTMLResponse:
    """The notice a link names, or the refusal page (counted; 429 once an address has had too
    many refusals)."""
    try:
        ref = read_token(settings.secret, token, now=settings.clock())
        limited, state = notice_access(settings.db, ref, client_address(request),
                                       now=settings.clock())
    except LinkRefused:
        return _refuse_link(request, settings)
    if limited:
        return _refused(request, settings, status=429, key="too_many")
    return Access(ref, state)


def _refuse_link(request: Request, settings: PublicSettings) -> HTMLResponse:
    if count_refusal(settings.db, client_address(request), now=settings.clock()) > REFUSAL_LIMIT:
        return _refused(request, settings, status=429, key="too_many")
    return _refused(request, settings)


def _page_of(settings: PublicSettings, access: Access) -> NoticePage:
    return cached_notice_page(settings.db, access.ref, access.state, settings.notice_texts,
                              settings.page_texts, now=settings.clock())


# The plain notice page (no error, nothing typed yet) rendered once per page version and link,
# with stand-ins for the form's nonce and token, which are put in for each response.
_NONCE, _CSRF = f"n{secrets.token_hex(16)}", f"c{secrets.token_hex(16)}"
_HTML: dict[tuple[str, str, str], str] = {}


def _notice(request: Request, settings: PublicSettings, token: str, access: Access,
            status: int = 200, error: str | None = None, reason: str = "") -> HTMLResponse:
    page = _page_of(settings, access)
    nonce = form_nonce()
    csrf = form_token(settings.secret, token, nonce)
    if error is not None or reason:
        return _page(request, "notice.html", settings, page.language, status=status, page=page,
                     token=token, nonce=nonce, csrf=csrf, error=error, reason=reason)
    key = (page.version, token, str(request.base_url))
    blank = _HTML.get(key)
    if blank is None:
        texts = settings.page_texts
        blank = templates.get_template("notice.html").render(
            request=request, lang=page.language, page=page, token=token, nonce=_NONCE,
            csrf=_CSRF, error=None, reason="",
            t=lambda key, **values: texts.render(key, page.language, **values))
        if len(_HTML) >= 10_000:
            _HTML.clear()
        _HTML[key] = blank
    return HTMLResponse(blank.replace(_NONCE, nonce).replace(_CSRF, csrf), status_code=status,
                        headers=NO_STORE)


@router.get("/notice/{token}", response_class=HTMLResponse)
@allow("customer")
async def notice(request: Request, token: str, settings: Settings) -> HTMLResponse:
    """The hot path runs on the event loop, not in the thread pool: its work is one short
    read (the page itself is cached), and the hop to a thread and back cost more than it
    (measured: 571 -> 708 req/s, p99 63 -> 33 ms with 2 workers). Every route that writes or
    sends mail stays in the thread pool (so does counting a refused link)."""
    try:
        ref = read_token(settings.secret, token, now=settings.clock())
        limited, state = notice_access(settings.db, ref, client_address(request),
                                       now=settings.clock())
    except LinkRefused:
        return await run_in_threadpool(_refuse_link, request, settings)
    if limited:
        return _refused(request, settings, status=429, key="too_many")
    return _notice(request, settings, token, Access(ref, state))


def _form_ok(request: Request, settings: PublicSettings, token: str, nonce: str, csrf: str
             ) -> bool:
    return same_origin(request) and form_token_valid(settings.secret, token, nonce, csrf)


@router.post("/notice/{token}/confirm", response_class=HTMLResponse)
@allow("customer")
def confirm_answer(request: Request, token: str, settings: Settings,
                   action: Annotated[str, Form()], nonce: Annotated[str, Form()],
                   csrf: Annotated[str, Form()], reason: Annotated[str, Form()] = ""
                   ) -> HTMLResponse:
    access = _notice_ref(request, settings, token)
    if isinstance(access, HTMLResponse):
        return access
    if not _form_ok(request, settings, token, nonce, csrf):
        return _refused(request, settings, status=400, key="form_expired")
    page = _page_of(settings, access)
    if action not in page.actions:  # answered already, closed, or not this notice's answer
        return RedirectResponse(request.url_for("notice", token=token), status_code=303)  # type: ignore[return-value]
    if action == "object" and not reason.strip():
        return _notice(request, settings, token, access, status=422,
                       error=settings.page_texts.render("reason_missing", page.language))
    return _page(request, "confirm.html", settings, page.language, page=page, token=token,
                 action=action, reason=reason.strip(), nonce=nonce, csrf=csrf)


@router.post("/notice/{token}/answer")
@allow("customer")
def answer(request: Request, token: str, settings: Settings, action: Annotated[str, Form()],
           nonce: Annotated[str, Form()], csrf: Annotated[str, Form()],
           reason: Annotated[str, Form()] = "") -> Response:
    access = _notice_ref(request, settings, token)
    if isinstance(access, HTMLResponse):
        return access
    ref = access.ref
    if not _form_ok(request, settings, token, nonce, csrf):
        return _refused(request, settings, status=400, key="form_expired")
    if action not in {a for actions in ACTIONS.values() for a in actions}:
        return _refused(request, settings, status=400, key="form_expired")
    try:
        record_answer(settings.db, ref, action, reason,
                      actor=f"customer on the notice page ({client_address(request)})",
                      now=settings.clock())
    except LinkRefused:
        return _refused(request, settings)
    except DpaError:  # not an answer this notice takes (or no reason): back to the page
        return RedirectResponse(request.url_for("notice", token=token), status_code=303)
    try:
        send_confirmation(settings.db, ref, settings.page_texts, settings.smtp,
                          now=settings.clock())
    except MailError as exc:  # the answer is on record; the receipt page says no e-mail went out
        log.warning("answer confirmation not sent: %s", exc)
    return RedirectResponse(request.url_for("receipt", token=token), status_code=303)


@router.get("/notice/{token}/receipt", response_class=HTMLResponse)
@allow("customer")
def receipt(request: Request, token: str, settings: Settings) -> Response:
    access = _notice_ref(request, settings, token)
    if isinstance(access, HTMLResponse):
        return access
    page = _page_of(settings, access)
    if page.answer is None:
        return RedirectResponse(request.url_for("notice", token=token), status_code=303)
    return _page(request, "receipt.html", settings, page.language, page=page, token=token)


# --- the public sub-processor page ------------------------------------------------------------

def _language(lang: str | None) -> Language:
    return lang if lang in LANGUAGES else "en"


def _public(request: Request, settings: PublicSettings, language: Language, *,
            status: int = 200, error: str | None = None, email: str = "") -> HTMLResponse:
    page = public_page(settings.db, settings.notice_texts, settings.page_texts, language,
                       now=settings.clock())
    nonce = form_nonce()
    return _page(request, "subprocessors.html", settings, language, status=status,
                 headers={"Cache-Control": "no-cache"}, page=page, nonce=nonce,
                 csrf=form_token(settings.secret, "subscribe", nonce), error=error,
                 email=email, languages=LANGUAGES)


@router.get("/subprocessors", response_class=HTMLResponse)
@allow("customer")
def subprocessors(request: Request, settings: Settings, lang: str | None = None) -> HTMLResponse:
    language = _language(lang)
    if not list_published(settings.db):
        return _unpublished(request, settings, language)
    return _public(request, settings, language)


def _unpublished(request: Request, settings: PublicSettings, language: Language) -> HTMLResponse:
    return _page(request, "message.html", settings, language, status=404,
                 title=_t(settings, "pub_unpublished_title", language),
                 text=_t(settings, "pub_unpublished", language))


@router.get("/subprocessors.json")
@allow("customer")
def subprocessors_json(settings: Settings, lang: str | None = None) -> Response:
    if not list_published(settings.db):
        return Response(status_code=404)
    body, _ = feed_documents(settings.db, language=_language(lang), base_url=settings.base_url)
    return Response(body, media_type="application/json")


@router.get("/subprocessors.atom")
@allow("customer")
def subprocessors_atom(settings: Settings, lang: str | None = None) -> Response:
    if not list_published(settings.db):
        return Response(status_code=404)
    _, body = feed_documents(settings.db, language=_language(lang), base_url=settings.base_url)
    return Response(body, media_type="application/atom+xml")


@router.post("/subprocessors/subscribe", response_class=HTMLResponse)
@allow("customer")
def subscribe_form(request: Request, settings: Settings, email: Annotated[str, Form()],
                   nonce: Annotated[str, Form()], csrf: Annotated[str, Form()],
                   lang: Annotated[str, Form()] = "en") -> HTMLResponse:
    language = _language(lang)
    if not _form_ok(request, settings, "subscribe", nonce, csrf):
        return _refused(request, settings, status=400, key="form_expired")
    try:
        normalised_email(email)
    except DpaError:
        return _public(request, settings, language, status=422, email=email,
                       error=settings.page_texts.render("sub_bad_email", language))
    try:
        subscribe(settings.db, email, language, texts=settings.page_texts, settings=settings.smtp,
                  base_url=settings.base_url, now=settings.clock())
    except MailError as exc:  # the visitor is told the same: nothing about the address leaks
        log.warning("subscription confirmation not sent: %s", exc)
    return _page(request, "message.html", settings, language, title=_t(settings, "sub_sent_title",
                 language), text=_t(settings, "sub_sent_text", language))


def _t(settings: PublicSettings, key: str, language: Language) -> str:
    return settings.page_texts.render(key, language)


# what each subscription link does when posted, and the page texts of its result
SUBSCRIPTION_ACTIONS = {"confirm": (confirm_subscription, "sub_confirmed"),
                        "unsubscribe": (unsubscribe, "unsub_done")}


def _invalid_subscription(request: Request, settings: PublicSettings, language: Language
                          ) -> HTMLResponse:
    return _page(request, "message.html", settings, language, status=404,
                 title=_t(settings, "refused_title", language),
                 text=_t(settings, "sub_invalid", language))


def _subscription_page(request: Request, settings: PublicSettings, token: str, kind: str,
                       lang: str | None) -> HTMLResponse:
    language = _language(lang)
    status = subscription_status(settings.db, token)
    if status is None or (kind == "confirm" and status == "unsubscribed"):
        return _invalid_subscription(request, settings, language)
    prefix = "sub_confirm" if kind == "confirm" else "unsub"
    return _page(request, "subscription.html", settings, language, token=token, kind=kind,
                 title=_t(settings, f"{prefix}_title", language),
                 text=_t(settings, f"{prefix}_text", language),
                 button=_t(settings, f"{prefix}_button", language))


def _subscription_post(request: Request, settings: PublicSettings, token: str, kind: str,
                       lang: str) -> HTMLResponse:
    language = _language(lang)
    act, done = SUBSCRIPTION_ACTIONS[kind]
    if not act(settings.db, token, now=settings.clock()):
        return _invalid_subscription(request, settings, language)
    return _page(request, "message.html", settings, language,
                 title=_t(settings, f"{done}_title", language),
                 text=_t(settings, f"{done}_text", language))


@router.get("/subprocessors/confirm/{token}", response_class=HTMLResponse)
@allow("customer")
def confirm_page(request: Request, token: str, settings: Settings, lang: str | None = None
                 ) -> HTMLResponse:
    return _subscription_page(request, settings, token, "confirm", lang)


@router.post("/subprocessors/confirm/{token}", response_class=HTMLResponse)
@allow("customer")
def confirm_post(request: Request, token: str, settings: Settings,
                 lang: Annotated[str, Form()] = "en") -> HTMLResponse:
    return _subscription_post(request, settings, token, "confirm", lang)


@router.get("/subprocessors/unsubscribe/{token}", response_class=HTMLResponse)
@allow("customer")
def unsubscribe_page(request: Request, token: str, settings: Settings, lang: str | None = None
                     ) -> HTMLResponse:
    return _subscription_page(request, settings, token, "unsubscribe", lang)


@router.post("/subprocessors/unsubscribe/{token}", response_class=HTMLResponse)
@allow("customer")
def unsubscribe_post(request: Request, token: str, settings: Settings,
                     lang: Annotated[str, Form()] = "en") -> HTMLResponse:
    """One click, also straight from a mail client (RFC 8058: a POST with
    List-Unsubscribe=One-Click and no cookies; the token in the URL is the authority)."""
    return _subscription_post(request, settings, token, "unsubscribe", lang)


@router.get("/public-static/style.css")
@allow("customer")
def style() -> Response:
    return Response(STYLE, media_type="text/css",
                    headers={"Cache-Control": "public, max-age=3600"})
