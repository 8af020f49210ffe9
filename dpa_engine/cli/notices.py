"""`dpa customers|subprocessors|change|objection|audit`: the sub-processor notice workflow.

Thin: parses options, calls `dpa_engine.notices`, prints. Library errors (DpaError) become
one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import datetime
import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .. import notices
from ..agreements.engine import default_library_path, default_template_path
from ..customers.announce import announcement_line, plan_and_announce
from ..errors import DpaError, InputError, RenderError
from ..files import write_atomically
from ..library import load_library
from ..models import SubProcessor
from ..notices import checkpoints
from ..notices.deadlines import BRUSSELS
from ..storage import Database, open_database
from ..storage.database import check_database, database_file
from ..yamlsource import load_yaml, read_input, validate
from .common import (
    MAX_ID,
    ChangeIdArgument,
    JsonOption,
    LibraryOption,
    TemplateOption,
    check_seconds,
    check_seconds_settings,
    err,
    option_text,
    out,
    progress_bar,
    renamed,
    required,
    user_errors,
)
from .format import folded_table, keep_whole

DbOption = Annotated[str | None, typer.Option(
    "--db", metavar="URL", help="Database URL or SQLite file (default: $DPA_DATABASE_URL, else "
    ".dpa/dpa.db in the current folder)")]
ChangeArgument = Annotated[int | None, typer.Argument(metavar="CHANGE", min=1, max=MAX_ID,
                                                      help="Change number [required]")]
OldChangeOption = Annotated[int | None, typer.Option("--change", min=1, max=MAX_ID, hidden=True)]
ActorOption = Annotated[str | None, typer.Option(
    "--actor", help="Who acts, for the audit log (default: $DPA_ACTOR, else user@host)")]


def _db(option: str | None, *, create: bool = False) -> Database:
    check_database(option, create=create)
    return open_database(option)


def _change(change: int | None, old: int | None, example: str) -> int:
    return required(renamed(change, old, "CHANGE", "--change"), "CHANGE", example)


def _wants_json(as_json: bool, old: OutputFormat | None) -> bool:
    return as_json or renamed(None, old, "--json", "--format") is OutputFormat.json


def _inputs(db: str | None, template: Path | None) -> list[tuple[str, Path]]:
    """Files a notice command reads, which its output must not replace."""
    files = [("base template", template or default_template_path())]
    database = database_file(db)
    return files + ([("register database", database)] if database else [])


def _actor(option: str | None) -> str:
    return option_text(option, "--actor") if option else notices.default_actor()


def _texts(library: Path | None) -> notices.NoticeTexts:
    return notices.load_notice_texts(notices.default_notice_folder(library or default_library_path()))


def _renderer(template: Path | None) -> Any:
    path = template or default_template_path()
    if not path.is_file():
        raise RenderError("base template not found", path=path,
                          fix="restore templates/agreement.docx or pass --template")
    return notices.load_renderer(path)


def _moment(value: str, option: str) -> datetime.datetime:
    """An ISO date and time (Brussels time unless it has an offset), or `now`."""
    if value.strip().lower() == "now":
        return datetime.datetime.now(BRUSSELS)
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise DpaError(f"'{value}' is not a date and time", field=option,
                       fix="write e.g. 2026-11-23T14:30 (Brussels time), 2026-11-23T13:30Z or "
                           "now") from None
    if moment.tzinfo:
        return moment
    local = moment.replace(tzinfo=BRUSSELS)
    if local.astimezone(datetime.UTC).astimezone(BRUSSELS).replace(tzinfo=None) != moment:
        raise DpaError(f"{value} does not exist in Brussels (the clocks skip that hour when "
                       "summer time starts)", field=option,
                       fix="give the time after the change (e.g. 03:30 instead of 02:30) or an "
                           "offset such as +01:00")
    if local.replace(fold=1).utcoffset() != local.utcoffset():
        err.print(f"warning: {option} {value} happens twice in Brussels (summer time ends); "
                  f"taken as the first, {local:%H:%M %Z} (give an offset to choose)",
                  markup=False, soft_wrap=True)
    return local


def _day(value: str, option: str) -> datetime.date:
    """A date as YYYY-MM-DD, or +N: N days after today (Brussels)."""
    if value.startswith("+") and value[1:].isdigit():
        return datetime.datetime.now(BRUSSELS).date() + datetime.timedelta(days=int(value[1:]))
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise DpaError(f"'{value}' is not a date", field=option,
                       fix="write YYYY-MM-DD, or +30 for 30 days from today") from None


def _brussels(moment: datetime.datetime | None) -> str:
    return "-" if moment is None else f"{moment.astimezone(BRUSSELS):%Y-%m-%d %H:%M %Z}"


def _deadline(moment: datetime.datetime | None) -> str:
    """A stored (exclusive) deadline as its last minute, e.g. '2026-11-30 23:59 CET'."""
    if moment is None:
        return "-"
    return _brussels(moment - datetime.timedelta(minutes=1))


def _row(table: Table, *cells: str) -> None:
    """Table cells are data: never parsed as Rich markup."""
    table.add_row(*(Text(cell) for cell in cells))


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


OldFormatOption = Annotated[OutputFormat | None, typer.Option("--format", hidden=True)]


class ListFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    docx = "docx"


# --- customers --------------------------------------------------------------------------------

customers_app = typer.Typer(no_args_is_help=True, help="The register of customers and agreements.")


@customers_app.command("import")
@user_errors
def customers_import(
    paths: Annotated[list[Path], typer.Argument(help="Deal files, or folders with deal-*.yaml")],
    db: DbOption = None, library: LibraryOption = None, actor: ActorOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register customers and the agreement versions they signed (all or nothing; an entry of a
    folder that cannot be read is reported as failed, exit 1)."""
    lib = load_library(library or default_library_path())
    report = notices.import_deals(_db(db, create=True), paths, lib, actor=_actor(actor))
    if as_json:
        _echo_json(report.model_dump(mode="json"))
        raise typer.Exit(1 if report.failed else 0)
    for item in report.agreements:
        out.print(f"{item.customer} v{item.version} ({item.status}): {item.language}, "
                  f"{item.authorisation} authorisation, {item.window}; services: "
                  f"{', '.join(item.services)}", markup=False)
    for note in report.notes:
        out.print("[yellow]note:[/]" + escape(f" {note}"))
    for failure in report.failed:
        out.print(f"[red]failed[/] {escape(failure.error)}", soft_wrap=True)
    out.print(f"Register of {report.provider}: {len(report.agreements)} agreement(s) processed",
              markup=False)
    if report.failed:
        raise typer.Exit(1)


@customers_app.command("list")
@user_errors
def customers_list(
    db: DbOption = None,
    as_json: JsonOption = False,
    output_format: OldFormatOption = None,
) -> None:
    """The registered customers with the terms of their current agreement."""
    items = notices.list_customers(_db(db))
    if _wants_json(as_json, output_format):
        _echo_json([c.model_dump(mode="json") for c in items])
        return
    table = folded_table("customer, agreement, notice e-mails", "terms", "services")
    for c in items:
        _row(table, "\n".join([c.key, f"{c.reference or '-'} v{c.agreement_version}",
                               *c.notice_emails]),
             f"{c.language}, {c.window_days} {c.window_unit} days, {c.authorisation} "
             "authorisation", ", ".join(c.services))
    keep_whole(table, 0)
    out.print(table)


# --- sub-processors -------------------------------------------------------------------------------

subprocessors_app = typer.Typer(no_args_is_help=True, help="The published sub-processor list.")


@subprocessors_app.command("list")
@user_errors
def subprocessors_list(
    customer: Annotated[str | None, typer.Option(
        "--customer", help="The list for this customer, in its language")] = None,
    output_format: Annotated[ListFormat, typer.Option(
        "--format", help="table, csv, json or docx (docx needs -o)")] = ListFormat.table,
    as_json: Annotated[bool, typer.Option("--json", help="The same as --format json")] = False,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", metavar="FILE", help="Write to this file")] = None,
    language: Annotated[str | None, typer.Option(
        "--language", help="nl, fr or en (default: the customer's, else en)")] = None,
    db: DbOption = None, library: LibraryOption = None, template: TemplateOption = None,
) -> None:
    """The current list a customer may ask for (or the whole list), as table, CSV, JSON or .docx."""
    if language is not None and language not in ("nl", "fr", "en"):
        raise DpaError(f"unknown language '{language}'", field="--language", fix="use nl, fr or en")
    if as_json:
        output_format = ListFormat.json
    texts = _texts(library)
    view = notices.subprocessor_list(_db(db), texts, customer_ref=customer,
                                     language=language)  # type: ignore[arg-type]
    if output_format is ListFormat.docx:
        if output is None or output.suffix.lower() != ".docx":
            raise DpaError("a .docx list needs an output file", field="--output",
                           fix="add -o list.docx")
        write_atomically(output, notices.list_docx(view, texts, _renderer(template)),
                         inputs=_inputs(db, template))
        out.print(f"Wrote {output}", markup=False)
        return
    if output_format is ListFormat.table:
        table = folded_table(*(view.headings[column] for column in (
            "name", "legal_entity", "country", "locations", "services", "engagement", "transfer",
            "status")), title=f"{view.title} – {view.subtitle}")
        for row in view.rows:
            _row(table, row.name, row.legal_entity, row.country, ", ".join(row.locations),
                          ", ".join(row.services), row.engagement, row.transfer,
                          view.headings[row.status])
        out.print(table if view.rows else Text(view.empty_note))
        return
    text = notices.list_csv(view) if output_format is ListFormat.csv else notices.list_json(view)
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomically(output, text.encode("utf-8"), inputs=_inputs(db, template))
        out.print(f"Wrote {output}", markup=False)


@subprocessors_app.command("feed")
@user_errors
def subprocessors_feed(
    output_dir: Annotated[Path | None, typer.Option(
        "--output-dir", metavar="DIR", help="Folder for the feed files [required]")] = None,
    old_output: Annotated[Path | None, typer.Option("-o", "--output", hidden=True)] = None,
    language: Annotated[str, typer.Option("--language", help="Language of the purposes")] = "en",
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="Where the files will be published (for the feed's links)")] = None,
    db: DbOption = None,
) -> None:
    """Write subprocessors.json and subprocessors.atom: every list version with its diff."""
    if language not in ("nl", "fr", "en"):
        raise DpaError(f"unknown language '{language}'", field="--language", fix="use nl, fr or en")
    output = required(renamed(output_dir, old_output, "--output-dir", "-o/--output"),
                      "--output-dir", "dpa subprocessors feed --output-dir public/")
    for path in notices.write_feed(_db(db), output, language=language,  # type: ignore[arg-type]
                                   base_url=base_url):
        out.print(f"Wrote {path}", markup=False)


# --- changes --------------------------------------------------------------------------------

change_app = typer.Typer(no_args_is_help=True, help="Propose, plan, send and close a change.")


def _transfer(value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    kind, _, rest = value.partition(":")
    if kind == "scc":
        module, _, detail = rest.partition(":")
        if module not in ("2", "3"):
            raise DpaError(f"'{value}' names no SCC module", field="--transfer",
                           fix="write scc:3 (processor to processor) or scc:2")
        return {"kind": "scc", "scc_module": int(module), "detail": detail or None}
    if kind in ("adequacy", "bcr"):
        return {"kind": kind, "detail": rest or None}
    raise DpaError(f"unknown transfer mechanism '{value}'", field="--transfer",
                   fix="use scc:3, scc:2, adequacy or bcr (optionally ':detail')")


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _from_file(path: Path) -> SubProcessor:
    doc = load_yaml(path)
    return validate(SubProcessor, doc, error=InputError)


@change_app.command("propose")
@user_errors
def change_propose(
    effective: Annotated[str, typer.Option(
        "--effective", metavar="DATE", help="Effective date: YYYY-MM-DD, or +N for N days from today")],
    add: Annotated[bool, typer.Option("--add", help="Add a new sub-processor")] = False,
    replace: Annotated[str | None, typer.Option(
        "--replace", help="Id of the sub-processor the new one replaces")] = None,
    remove: Annotated[str | None, typer.Option(
        "--remove", help="Id of the sub-processor to remove")] = None,
    from_file: Annotated[Path | None, typer.Option(
        "--from-file", help="The new sub-processor as YAML (provider profile format)")] = None,
    sub_id: Annotated[str | None, typer.Option("--id", help="Id of the new sub-processor")] = None,
    name: Annotated[str | None, typer.Option("--name")] = None,
    entity: Annotated[str | None, typer.Option("--entity", help="Legal entity")] = None,
    country: Annotated[str | None, typer.Option("--country", help="Country of establishment")]
    = None,
    locations: Annotated[str | None, typer.Option(
        "--locations", help="Where data is processed, comma-separated ISO codes")] = None,
    purpose: Annotated[str | None, typer.Option("--purpose", help="Purpose, one text")] = None,
    purpose_nl: Annotated[str | None, typer.Option("--purpose-nl")] = None,
    purpose_fr: Annotated[str | None, typer.Option("--purpose-fr")] = None,
    purpose_en: Annotated[str | None, typer.Option("--purpose-en")] = None,
    services: Annotated[str | None, typer.Option(
        "--services", help="Services that use it, comma-separated ids")] = None,
    engagement: Annotated[str, typer.Option(
        "--engagement", help="systematic or incidental")] = "systematic",
    transfer: Annotated[str | None, typer.Option(
        "--transfer", help="scc:3[:detail], scc:2, adequacy[:detail] or bcr")] = None,
    db: DbOption = None, actor: ActorOption = None, as_json: JsonOption = False,
) -> None:
    """Propose adding, replacing or removing a sub-processor."""
    chosen = [flag for flag, on in (("--add", add), ("--replace", replace is not None),
                                    ("--remove", remove is not None)) if on]
    if len(chosen) != 1:
        raise DpaError("say what the change is", field="--add/--replace/--remove",
                       fix="give exactly one of --add, --replace OLD_ID, --remove ID")
    effective_on = _day(effective, "--effective")
    action: Literal["add", "replace", "remove"] = (
        "add" if add else "replace" if replace else "remove")
    sub: SubProcessor | None = None
    if action != "remove":
        if from_file is not None:
            sub = _from_file(from_file)
        else:
            per_language = {k: v for k, v in (("nl", purpose_nl), ("fr", purpose_fr),
                                              ("en", purpose_en)) if v}
            values = {"id": sub_id, "name": name, "legal_entity": entity, "country": country,
                      "locations": _split(locations), "purpose": purpose or per_language or None,
                      "services": _split(services), "engagement": engagement,
                      "transfer": _transfer(transfer)}
            missing = [f"--{k.replace('legal_entity', 'entity').replace('_', '-')}"
                       for k, v in values.items() if v is None and k != "transfer"]
            if missing:
                raise DpaError(f"missing {', '.join(missing)}", field="change propose",
                               fix="describe the new sub-processor, or give --from-file")
            sub = notices.parse_subprocessor({k: v for k, v in values.items() if v is not None})
    proposal = notices.Proposal(action=action, subprocessor=sub, target=replace or remove,
                                effective_on=effective_on)
    change = notices.propose_change(_db(db), proposal, actor=_actor(actor))
    if as_json:  # "change": the number every later command takes, as in the other reports
        _echo_json({"change": change.id, **change.model_dump(mode="json")})
        return
    out.print(f"Proposed change {change.id}: {change.action} {change.subject.name} "
              f"({change.subject.id}), effective {change.effective_on}", markup=False)
    out.print(f"Next: dpa change plan {change.id}", markup=False)


@change_app.command("plan")
@user_errors
def change_plan(
    change_id: ChangeIdArgument,
    at: Annotated[str | None, typer.Option(
        "--at", help="Show deadlines as if sent at this moment (default: now)")] = None,
    as_json: JsonOption = False,
    output_format: OldFormatOption = None,
    db: DbOption = None, actor: ActorOption = None,
) -> None:
    """Which customers are affected and why (via their services), and each one's deadline."""
    planned = plan_and_announce(_db(db), change_id, actor=_actor(actor),
                                dispatch_at=_moment(at, "--at") if at else None)
    plan = planned.plan
    if _wants_json(as_json, output_format):
        _echo_json(plan.model_dump(mode="json"))
        return
    change = plan.change
    out.print(f"Change {change.id}: {change.action} {change.subject.name} ({change.subject.id}, "
              f"{change.subject.engagement}), effective {change.effective_on}", markup=False)
    table = folded_table("customer, agreement, to", "notice, window, deadline", "why",
                         title=f"Affected customers (deadlines if sent "
                               f"{_brussels(plan.dispatch_at)})")
    keep_whole(table, 0)
    for e in plan.affected:
        why = "\n".join(f"{r.service} uses {r.subprocessor} ({r.role})" for r in e.reasons)
        window = f"{e.window_days} {e.window_unit} days" if e.window_days else "no window"
        _row(table, "\n".join([e.customer, f"{e.reference or '-'} v{e.agreement_version}",
                               *e.recipients]),
             f"{e.kind} ({e.language})\n{window}\n{_deadline(e.deadline_if_sent)}", why)
    out.print(table)
    for e in plan.affected:
        for warning in e.warnings:
            out.print("[yellow]warning[/]" + escape(f" {e.customer}: {warning}"))
    if plan.unaffected:
        out.print("Not affected: " + ", ".join(
            f"{u.customer} ({', '.join(u.services)})" for u in plan.unaffected), markup=False)
    out.print(announcement_line(planned), markup=False)
    out.print(f"Next: dpa change send {change.id}", markup=False)


@change_app.command("send")
@user_errors
def change_send(
    change_id: ChangeIdArgument,
    smtp_host: Annotated[str | None, typer.Option("--smtp-host", help="$DPA_SMTP_HOST")] = None,
    smtp_port: Annotated[int | None, typer.Option("--smtp-port", min=1, max=65535,
                                                   help="$DPA_SMTP_PORT")] = None,
    smtp_security: Annotated[str | None, typer.Option(
        "--smtp-security", help="none, starttls or tls ($DPA_SMTP_SECURITY)")] = None,
    smtp_user: Annotated[str | None, typer.Option(
        "--smtp-user", help="$DPA_SMTP_USER (password only via $DPA_SMTP_PASSWORD)")] = None,
    smtp_from: Annotated[str | None, typer.Option(
        "--smtp-from", help="Sender address ($DPA_SMTP_FROM; default: provider privacy e-mail)")]
    = None,
    max_attempts: Annotated[int | None, typer.Option(
        "--max-attempts", help="Tries per notice in this run ($DPA_SMTP_MAX_ATTEMPTS, 5)")] = None,
    backoff: Annotated[float | None, typer.Option(
        "--backoff", help="First retry delay in seconds, doubling ($DPA_SMTP_BACKOFF, 2)")] = None,
    connections: Annotated[int | None, typer.Option(
        "--connections", help="Parallel SMTP connections (fewer if the server refuses some); "
        "also the most notices a crash can leave in doubt ($DPA_SMTP_CONNECTIONS, 8)")] = None,
    db: DbOption = None, actor: ActorOption = None, library: LibraryOption = None,
    as_json: JsonOption = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Send nothing: write each message as <customer>.eml in --output-dir "
        "(records nothing, touches no audit record)")] = False,
    output_dir: Annotated[Path | None, typer.Option(
        "--output-dir", metavar="DIR", help="Folder for the --dry-run messages")] = None,
) -> None:
    """Send every notice of a planned change exactly once (safe to rerun after a crash).

    Exit code 0 when every notice is delivered (also when nothing was left to send), 1 when
    some are deferred (rerun) or were refused (follow up)."""
    check_seconds_settings()
    check_seconds(backoff, "DPA_SMTP_BACKOFF", "--backoff")
    settings = notices.SmtpSettings.from_env(
        host=smtp_host, port=smtp_port, security=smtp_security, username=smtp_user,
        from_address=smtp_from, max_attempts=max_attempts, backoff_seconds=backoff,
        connections=connections)
    database = _db(db)
    if dry_run or output_dir is not None:
        if not dry_run:
            raise DpaError("--output-dir is only used with --dry-run", field="--output-dir",
                           fix="add --dry-run to write the messages instead of sending them")
        folder = required(output_dir, "--output-dir",
                          f"dpa change send {change_id} --dry-run --output-dir outbox/")
        written = notices.dry_run(database, change_id, folder, settings=settings,
                                  texts=_texts(library), inputs=_inputs(db, None))
        if as_json:
            _echo_json({"change": change_id, "dry_run": [str(p) for p in written]})
        else:
            out.print(f"Dry run: {len(written)} message(s) written to {folder}, nothing sent "
                      "and nothing recorded", markup=False)
        return
    state = notices.change_status(database, change_id).change.status
    if state in ("sent", "closed"):  # a rerun after the last notice went out: nothing to do
        if as_json:
            _echo_json({"change": change_id, "status": state, "nothing_left_to_send": True})
        else:
            out.print(f"Change {change_id}: nothing left to send (every notice went out). "
                      f"See: dpa change status {change_id}", markup=False)
        return
    try:
        report = _send_with_progress(database, change_id, settings, _texts(library), _actor(actor))
    except notices.SmtpUnreachable as exc:  # nothing lost: the notices stay queued, exit 1
        if as_json:
            _echo_json({"change": change_id, "complete": False, "smtp_unreachable": exc.message})
        err.print(f"error: {exc.message}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    _checkpoint(database, quiet=as_json)
    if as_json:
        _echo_json(report.model_dump(mode="json"))
        raise typer.Exit(0 if report.complete and not report.failed else 1)
    if report.connection_limit is not None:
        out.print(f"note: the SMTP server refused connections beyond "
                  f"{report.connection_limit} of the {settings.connections} asked for; the "
                  f"run used {report.connection_limit} (set --connections "
                  f"{report.connection_limit} to stop asking)", markup=False)
    for key in report.sent:
        out.print("[green]sent[/]" + escape(f" {key}"))
    for key in report.already_sent:
        out.print(f"already sent: {key}", markup=False)
    for key in report.in_doubt_resent:
        out.print("[yellow]in doubt[/]" + escape(
            f" {key}: resent with the same Message-ID (the previous run died while the server "
            "was answering)"))
    for failed in report.failed:
        out.print("[red]NOT notified[/]" + escape(
            f" {failed.customer}: {failed.error}; follow-up: {failed.follow_up}"), soft_wrap=True)
    for deferred in report.deferred:
        out.print("[yellow]deferred[/]" + escape(
            f" {deferred.customer} after {deferred.attempts} attempt(s): {deferred.error}"),
            soft_wrap=True)
    if not report.complete:
        out.print(f"Not finished: rerun 'dpa change send {change_id}' to retry the deferred "
                  "notices", markup=False)
        raise typer.Exit(1)
    out.print(f"Change {change_id}: every notice is delivered or recorded as failed. "
              f"Next: dpa change status {change_id}", markup=False)
    if report.failed:
        raise typer.Exit(1)


def _send_with_progress(db: Database, change_id: int, settings: notices.SmtpSettings,
                        texts: notices.NoticeTexts, actor: str) -> notices.SendReport:
    """send_change with a progress bar on stderr: count, rate, failures, ETA."""
    with progress_bar() as progress:
        task = progress.add_task("notices", total=None, rate="", problems="")
        started: list[float] = []

        def show(state: notices.SendProgress) -> None:
            if state.stage == "queueing":
                progress.update(task, description="queueing notices in the outbox")
                return
            if not started:
                started.append(time.perf_counter())
            done = state.sent + state.failed
            rate = state.sent / max(time.perf_counter() - started[0], 1e-9)
            problems = ", ".join(text for count, text in (
                (state.failed, f"{state.failed} not notified"),
                (state.deferred, f"{state.deferred} deferred")) if count)
            progress.update(task, description="notices sent", total=state.total,
                            completed=done, rate=f"{rate:.0f}/s", problems=problems)

        try:
            return notices.send_change(db, change_id, settings=settings, texts=texts,
                                       actor=actor, progress=show, stop_if_unreachable=True)
        except notices.SmtpUnreachable:
            progress.remove_task(task)  # the error alone, on one line
            raise


@change_app.command("status")
@user_errors
def change_status(
    change_id: ChangeIdArgument,
    as_json: JsonOption = False,
    output_format: OldFormatOption = None,
    db: DbOption = None,
) -> None:
    """Per customer: notice, delivery, deadline, objections, outcome and follow-up."""
    status = notices.change_status(_db(db), change_id)
    if _wants_json(as_json, output_format):
        _echo_json(status.model_dump(mode="json"))
        return
    change = status.change
    out.print(f"Change {change.id} ({change.status}): {change.action} {change.subject.name}",
              markup=False)
    table = folded_table("customer", "notice, delivery", "notified, deadline",
                         "objections, outcome")
    keep_whole(table, 0)
    for t in status.targets:
        objections = ", ".join(f"{o['kind']}{' (late)' if o['late'] else ''}"
                               for o in t.objections) or "no objection"
        _row(table, t.customer, f"{t.kind}\n{t.message_status or '-'}",
             f"{_brussels(t.notified_at)}\n{_deadline(t.deadline)}",
             f"{objections}\n{t.outcome or '-'}")
    out.print(table)
    for t in status.follow_ups:
        out.print("[yellow]follow-up[/]" + escape(f" {t.customer}: {t.follow_up}"), soft_wrap=True)


@change_app.command("close")
@user_errors
def change_close(
    change_id: ChangeIdArgument,
    db: DbOption = None, actor: ActorOption = None, as_json: JsonOption = False,
) -> None:
    """After every deadline: record each outcome (silence under general authorisation = approval)."""
    database = _db(db)
    report = notices.close_change(database, change_id, actor=_actor(actor))
    _checkpoint(database, quiet=as_json)
    if as_json:
        _echo_json(report.model_dump(mode="json"))
        return
    for key, outcome in report.outcomes.items():
        out.print(f"{outcome:>16}  {key}", markup=False)
    for key, note in report.follow_ups.items():
        out.print("[yellow]follow-up[/]" + escape(f" {key}: {note}"), soft_wrap=True)
    out.print(f"Change {change_id} closed; sub-processor list version {report.list_version}",
              markup=False)


@change_app.command("bounce")
@user_errors
def change_bounce(
    change_id: ChangeIdArgument,
    customer: Annotated[str, typer.Option("--customer")],
    reason: Annotated[str, typer.Option("--reason", help="The bounce message")],
    db: DbOption = None, actor: ActorOption = None,
) -> None:
    """Record a bounce received after sending: the customer was NOT notified."""
    notices.record_bounce(_db(db), change_id, option_text(customer, "--customer"),
                          reason=option_text(reason, "--reason"), actor=_actor(actor))
    out.print(f"Recorded: {customer} was not notified of change {change_id}; its window does "
              "not run. See the follow-up in: dpa change status", markup=False)


@change_app.command("letters")
@user_errors
def change_letters(
    change_id: ChangeIdArgument,
    output_dir: Annotated[Path | None, typer.Option(
        "--output-dir", metavar="DIR", help="Folder for the letters [required]")] = None,
    old_output: Annotated[Path | None, typer.Option("-o", "--output", hidden=True)] = None,
    unnotified: Annotated[bool, typer.Option(
        "--unnotified", help="Only customers that were not notified")] = False,
    db: DbOption = None, template: TemplateOption = None, library: LibraryOption = None,
) -> None:
    """Write each customer's notice as a .docx letter (e.g. for the fallback contact); a
    notice not sent yet is written as it would be sent now."""
    output = required(renamed(output_dir, old_output, "--output-dir", "-o/--output"),
                      "--output-dir", f"dpa change letters {change_id} --output-dir letters/")
    for path in notices.letters(_db(db), change_id, output, renderer=_renderer(template),
                                texts=_texts(library),
                                settings=notices.SmtpSettings.from_env(),
                                only_unnotified=unnotified):
        out.print(f"Wrote {path}", markup=False)


# --- objections -------------------------------------------------------------------------------

objection_app = typer.Typer(no_args_is_help=True, help="Record customers' objections and consents.")

CustomerOption = Annotated[str, typer.Option("--customer", help="Customer key or number")]
ReceivedOption = Annotated[str, typer.Option(
    "--received-at", metavar="WHEN",
    help="When it arrived: e.g. 2026-11-25T10:12 (Brussels), with an offset, or now")]
TextOption = Annotated[str | None, typer.Option("--text", help="The customer's message")]
TextFileOption = Annotated[Path | None, typer.Option("--text-file", help="...or a file with it")]


def _message_text(text: str | None, text_file: Path | None) -> str:
    if text_file is not None:
        return option_text(read_input(text_file, what="UTF-8 text file"), "--text-file")
    return option_text(text or "", "--text")


def _record(kind: str, change: int, customer: str, received_at: str, text: str | None,
            text_file: Path | None, db: str | None, actor: str | None, as_json: bool) -> None:
    report = notices.record_objection(
        _db(db), change, option_text(customer, "--customer"),
        received_at=_moment(received_at, "--received-at"),
        text=_message_text(text, text_file), actor=_actor(actor), kind=kind)  # type: ignore[arg-type]
    if as_json:
        _echo_json(report.model_dump(mode="json"))
        return
    flag = "[bold yellow]LATE[/] " if report.late else ""
    out.print(flag + escape(f"Recorded {report.kind} of {report.customer} on change "
                            f"{report.change} (deadline {_deadline(report.deadline)}): "
                            f"{report.note}"), soft_wrap=True)


@objection_app.command("record")
@user_errors
def objection_record(customer: CustomerOption, received_at: ReceivedOption,
                     change: ChangeArgument = None, text: TextOption = None,
                     text_file: TextFileOption = None, db: DbOption = None,
                     actor: ActorOption = None, as_json: JsonOption = False,
                     old_change: OldChangeOption = None) -> None:
    """Record an objection (or, under specific authorisation, a refusal); late ones are flagged."""
    number = _change(change, old_change, "dpa objection record 1 --customer KEY --received-at ...")
    _record("objection", number, customer, received_at, text, text_file, db, actor, as_json)


@objection_app.command("consent")
@user_errors
def objection_consent(customer: CustomerOption, received_at: ReceivedOption,
                      change: ChangeArgument = None, text: TextOption = None,
                      text_file: TextFileOption = None, db: DbOption = None,
                      actor: ActorOption = None, as_json: JsonOption = False,
                      old_change: OldChangeOption = None) -> None:
    """Record a customer's consent (specific authorisation only)."""
    number = _change(change, old_change, "dpa objection consent 1 --customer KEY --received-at ...")
    _record("consent", number, customer, received_at, text, text_file, db, actor, as_json)


# --- audit --------------------------------------------------------------------------------------

audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log and evidence pack.")


def _checkpoint(database: Database, *, quiet: bool = False) -> None:
    """Sign the audit log's head into the checkpoint file when $DPA_AUDIT_KEY is set."""
    checkpoint = checkpoints.write_checkpoint(database)
    if checkpoint is not None and not quiet:
        out.print(f"Audit checkpoint at record {checkpoint.seq} signed "
                  f"({checkpoints.checkpoint_file(database)})", markup=False)


@audit_app.command("verify")
@user_errors
def audit_verify(
    db: DbOption = None,
    checkpoint: Annotated[Path | None, typer.Option(
        "--checkpoint", help="A copy of the signed checkpoint file, kept outside the database")]
    = None,
    public_key: Annotated[str | None, typer.Option(
        "--public-key", help="Trusted public key (hex) for --checkpoint (default: the public "
                             "half of $DPA_AUDIT_KEY)")] = None,
    witness: Annotated[list[Path] | None, typer.Option(
        "--witness", help="A notice as received (.eml); its audit-head header is checked",
        metavar="MESSAGE.eml")] = None,
    as_json: JsonOption = False,
) -> None:
    """Recompute the hash chain and check it against external anchors; exit 1 on any problem."""
    database = _db(db)
    result = notices.verify_audit(database)
    anchors: list[tuple[str, checkpoints.CheckpointVerification]] = []
    if result.ok and checkpoint is not None:
        anchors.append((f"checkpoints in {checkpoint}",
                        checkpoints.verify_checkpoint_file(database, checkpoint, public_key)))
    if result.ok:
        anchors += [(f"witness in {message}", checkpoints.verify_witness_file(database, message))
                    for message in witness or []]
    ok = result.ok and all(verification.ok for _, verification in anchors)
    if as_json:
        _echo_json({**result.model_dump(mode="json"), "ok": ok,
                    "anchors": [{"anchor": label, **verification.model_dump(mode="json")}
                                for label, verification in anchors]})
        raise typer.Exit(0 if ok else 1)
    if not result.ok:
        for problem in result.problems or [f"at record {result.first_bad_seq}: {result.problem}"]:
            out.print("[bold red]BROKEN[/]" + escape(f" {problem}"), soft_wrap=True)
        raise typer.Exit(1)
    out.print("[green]ok[/]" + escape(
        f": {result.records} records, chain intact (last hash {result.last_hash[:16]}…); "
        f"{result.notices_checked} sent notice(s) match the digests recorded when sent; "
        "deadlines and statuses match the log"))
    for label, verification in anchors:
        if verification.ok:
            out.print("[green]ok[/]" + escape(f": {label} ({verification.checkpoints} checked)"))
        else:
            out.print("[bold red]BROKEN[/]" + escape(f": {label}: {verification.problem}"),
                      soft_wrap=True)
    if not ok:
        raise typer.Exit(1)


@audit_app.command("keygen")
@user_errors
def audit_keygen(
    path: Annotated[Path, typer.Argument(help="Where to write the private key (PEM, mode 0600)",
                                         metavar="KEY_FILE")],
) -> None:
    """Create the Ed25519 key that signs audit checkpoints; keep it outside the database."""
    public = checkpoints.generate_key(path)
    out.print(f"Wrote {path}. Set {checkpoints.KEY_VARIABLE}={path} for `change send` and "
              f"`change close`; public key (for --public-key): {public}", markup=False,
              soft_wrap=True)


@audit_app.command("export")
@user_errors
def audit_export(
    output: Annotated[Path, typer.Option("-o", "--output", metavar="FILE",
                                         help="Evidence pack to write (.zip)")],
    change: Annotated[int | None, typer.Argument(
        metavar="CHANGE", min=1, max=MAX_ID,
        help="Only this change's notices (default: every change)")] = None,
    db: DbOption = None, template: TemplateOption = None,
    old_change: OldChangeOption = None,
) -> None:
    """Write the evidence pack: audit log + verification, lists, register, notices as sent."""
    change = renamed(change, old_change, "CHANGE", "--change")
    if output.suffix.lower() != ".zip":
        raise DpaError("the evidence pack is a .zip file", path=output, fix="end -o with .zip")
    pack, verification = notices.export_checked(_db(db), output, change_id=change,
                                                renderer=_renderer(template))
    out.print(f"Wrote {pack}", markup=False)
    if not verification.ok:  # the pack says so too: its texts are not proven
        out.print(f"BROKEN: {verification.problem} (the pack records the failed verification)",
                  markup=False, soft_wrap=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Attach the notice workflow's sub-commands to the main `dpa` app."""
    app.add_typer(customers_app, name="customers")
    app.add_typer(subprocessors_app, name="subprocessors")
    app.add_typer(change_app, name="change")
    app.add_typer(objection_app, name="objection")
    app.add_typer(audit_app, name="audit")
