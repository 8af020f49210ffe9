"""What the web app does with an agreement, through the same library calls as the CLI: the
deal file is written to a private folder and handed to the Engine exactly as `dpa generate`,
`dpa explain`, `dpa approve` and `dpa customers import` receive it."""

from __future__ import annotations

import datetime
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from dpa_engine import (
    DpaError,
    Engine,
    Explanation,
    GenerationResult,
    InputError,
    ProviderProfile,
    load_deal,
)
from dpa_engine.notices import import_deals
from dpa_engine.storage import Database

from .forms import AgreementForm, deal_data, deal_yaml, form_from_deal
from .library import (
    RedlineModel,
    WebAgreementRow,
    append_event,
    approval_status,
    approvals_path,
    approve,
    load_provider,
    redline_model,
)
from .security import LoginThrottle
from .users import User, now_utc

STATUSES = ("draft", "awaiting-approval", "approved", "final", "signed")
MAX_SIGNED_PDF = 10_000_000
MAX_DEAL_FILE = 1_000_000


@dataclass
class WebContext:
    """What every request shares: loaded once per worker process."""

    db: Database
    engine: Engine
    provider_path: Path
    provider: ProviderProfile
    throttle: LoginThrottle = field(default_factory=LoginThrottle)

    @classmethod
    def load(cls, db: Database, engine: Engine, provider_path: Path) -> WebContext:
        provider_path = provider_path.resolve()
        provider, _doc = load_provider(provider_path)
        return cls(db=db, engine=engine, provider_path=provider_path, provider=provider)

    @property
    def provider_ref(self) -> str:
        """How a downloaded deal file names the profile: next to it, by file name."""
        return self.provider_path.name

    @contextmanager
    def deal_file(self, form: AgreementForm, approvals: str | None = None) -> Iterator[Path]:
        """The form as a deal file in a private folder (with its approvals file, if any)."""
        with tempfile.TemporaryDirectory(prefix="dpa-web-") as folder:
            path = Path(folder) / "deal.yaml"
            path.write_text(deal_yaml(deal_data(form, str(self.provider_path))), encoding="utf-8")
            if approvals:
                approvals_path(path).write_text(approvals, encoding="utf-8")
            yield path

    def explain(self, form: AgreementForm, approvals: str | None = None) -> Explanation:
        with self.deal_file(form, approvals) as path:
            return self.engine.explain(path)

    def redline(self, form: AgreementForm, approvals: str | None = None) -> RedlineModel:
        with self.deal_file(form, approvals) as path:
            loaded = load_deal(path, self.engine.providers)
            return redline_model(loaded, self.engine.library, generated_at=now_utc())


_PRIVATE_FOLDER = re.compile(r"\S*/dpa-(?:web|upload|web-pdf)-[^/\s]+/")


def public_message(exc: DpaError) -> str:
    """A library error for the page, without the private working folder's path."""
    return _PRIVATE_FOLDER.sub("", exc.message)


def _form(row: WebAgreementRow) -> AgreementForm:
    return AgreementForm.model_validate(row.form)


def save_form(row: WebAgreementRow, form: AgreementForm) -> None:
    row.form = form.model_dump(mode="json")
    row.customer_name = form.field("name")
    row.enterprise_number = form.field("enterprise_number")
    row.language = form.language or "-"
    row.version = form.version
    row.reference = form.reference or None
    row.updated_at = now_utc()


def new_agreement(session: Session, form: AgreementForm, user: User,
                  previous: WebAgreementRow | None = None) -> WebAgreementRow:
    moment = now_utc()
    row = WebAgreementRow(status="draft", form={}, customer_name="", enterprise_number="",
                          language="-", version=form.version, draft_marking=False,
                          previous_id=previous.id if previous else None, created_by=user.email,
                          created_at=moment, updated_at=moment)
    save_form(row, form)
    session.add(row)
    session.flush()
    return row


def find_agreements(session: Session, query: str = "", status: str = "", language: str = ""
                    ) -> list[WebAgreementRow]:
    statement = select(WebAgreementRow).order_by(WebAgreementRow.updated_at.desc(),
                                                 WebAgreementRow.id.desc())
    if query.strip():
        like = f"%{query.strip()}%"
        statement = statement.where(or_(WebAgreementRow.customer_name.ilike(like),
                                        WebAgreementRow.enterprise_number.ilike(like),
                                        WebAgreementRow.reference.ilike(like)))
    if status in STATUSES:
        statement = statement.where(WebAgreementRow.status == status)
    if language:
        statement = statement.where(WebAgreementRow.language == language)
    return list(session.scalars(statement))


def generate(context: WebContext, session: Session, row: WebAgreementRow, user: User
             ) -> GenerationResult:
    """Generate the .docx (and manifest) of the agreement as it stands; store both."""
    form = _form(row)
    with context.deal_file(form, row.approvals_yaml) as path:
        output = path.with_name("agreement.docx")
        result = context.engine.generate(path, output)
        row.docx = output.read_bytes()
        row.manifest = result.manifest.read_text(encoding="utf-8") if result.manifest else None
    row.deal_yaml = deal_yaml(deal_data(form, context.provider_ref))
    row.pdf = None
    row.draft_marking = result.draft
    row.status = "awaiting-approval" if result.draft else "final"
    row.legal_note = None if result.draft else row.legal_note
    row.updated_at = now_utc()
    append_event(session, "web-agreement-generated", actor=user.email, at=now_utc(),
                 data={"agreement": row.id, "customer": row.customer_name,
                       "version": row.version, "draft": result.draft})
    return result


def decide_approval(context: WebContext, session: Session, row: WebAgreementRow, user: User,
                    *, approved: bool, note: str) -> None:
    """Legal's decision on the deviations, by the logged-in user, in the audit log."""
    form = _form(row)
    if approved:
        with context.deal_file(form, row.approvals_yaml) as path:
            decision = context.engine.decide(load_deal(path, context.engine.providers))
            record = approve(path, decision, by=user.email, note=note)
            row.approvals_yaml = approvals_path(path).read_text(encoding="utf-8")
        row.status = "approved"
        data = {"agreement": row.id, "deviations_sha256": record.deviations_sha256, "note": note}
    else:
        row.status = "draft"
        data = {"agreement": row.id, "note": note}
    row.legal_note = note or None
    row.updated_at = now_utc()
    append_event(session, "web-deviations-approved" if approved else "web-deviations-rejected",
                 actor=user.email, at=now_utc(), data=data)


def is_approved(context: WebContext, row: WebAgreementRow) -> bool:
    with context.deal_file(_form(row), row.approvals_yaml) as path:
        decision = context.engine.decide(load_deal(path, context.engine.providers))
        return approval_status(path, decision).approved


def register_signed(context: WebContext, form: AgreementForm, approvals: str | None,
                    user: User) -> AgreementForm:
    """The customer enters the notice register with the signed terms (what `dpa customers
    import` does with the deal file). Runs in its own transaction: call it outside one."""
    if not form.agreement_date:
        form = form.model_copy(update={"agreement_date": datetime.date.today().isoformat()})
    with context.deal_file(form, approvals) as path:
        import_deals(context.db, [path], context.engine.library, actor=user.email)
    return form


def record_signed(context: WebContext, row: WebAgreementRow, form: AgreementForm,
                  signed_pdf: bytes) -> None:
    save_form(row, form)
    row.signed_pdf = signed_pdf
    row.status = "signed"
    row.deal_yaml = deal_yaml(deal_data(form, context.provider_ref))
    row.updated_at = now_utc()


def form_from_upload(context: WebContext, data: bytes, filename: str) -> AgreementForm:
    """An uploaded deal file (the command line's format) as the guided form, checked by
    `load_deal` as `dpa generate` checks it; its provider is this app's provider profile."""
    name = Path(filename).name
    if len(data) > MAX_DEAL_FILE or not name.lower().endswith((".yaml", ".yml")):
        raise InputError("a deal file is a .yaml file of at most 1 MB", path=name or None,
                         fix="upload the deal's .yaml file (see `dpa schema deal`)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the deal file is not UTF-8 text", path=name,
                         fix="save it as UTF-8 and upload it again") from None
    yaml = YAML(typ="rt")
    try:
        content = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise InputError(f"not valid YAML ({exc.problem})", path=name,
                         line=mark.line + 1 if mark else None,
                         fix="correct the deal file (compare with `dpa schema deal`)") from None
    if not isinstance(content, dict):
        raise InputError("a deal file must be a mapping of fields", path=name, line=1,
                         fix="start with 'provider:', 'customer:', 'language:' ...")
    content["provider"] = str(context.provider_path)
    with tempfile.TemporaryDirectory(prefix="dpa-upload-") as folder:
        path = Path(folder) / name
        try:
            with path.open("w", encoding="utf-8") as handle:
                yaml.dump(content, handle)
        except (OSError, ValueError):
            raise InputError("the file name cannot be used", path="deal.yaml",
                             fix="rename the file to a short plain name ending in .yaml") from None
        return form_from_deal(load_deal(path).deal)


@dataclass(frozen=True)
class Generated:
    """An agreement made and generated from an uploaded deal file."""

    agreement_id: int
    customer: str
    status: str  # "final", or "awaiting-approval" (DRAFT: deviations wait for legal)


def add_generated(context: WebContext, form: AgreementForm, user: User) -> Generated:
    """A new agreement from `form`, generated at once: what an upload followed by *Generate*
    makes (a deal with deviations waits for legal's approval, its .docx marked DRAFT). One
    transaction: when generation fails, nothing is kept."""
    with context.db.transaction() as session:
        row = new_agreement(session, form, user)
        generate(context, session, row, user)
        session.flush()
        return Generated(agreement_id=row.id, customer=row.customer_name, status=row.status)


def awaiting_approval(session: Session) -> list[WebAgreementRow]:
    return list(session.scalars(select(WebAgreementRow)
                                .where(WebAgreementRow.status == "awaiting-approval")
                                .order_by(WebAgreementRow.updated_at)))
