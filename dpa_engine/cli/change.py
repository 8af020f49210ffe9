"""`dpa change`: propose, plan, send, follow and close (or withdraw) a sub-processor change."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape

from .. import notices
from ..customers.announce import (
    announce_change,
    announce_line,
    announcement_line,
    plan_and_announce,
    withdraw_and_announce,
    withdrawal_line,
)
from ..errors import DpaError
from .common import (
    ChangeIdArgument,
    JsonOption,
    LibraryOption,
    TemplateOption,
    echo_json,
    option_text,
    out,
    renamed,
    required,
    user_errors,
)
from .format import folded_table, keep_whole
from .notice_options import (
    ActorOption,
    DbOption,
    OldFormatOption,
    actor_name,
    add_row,
    brussels,
    date_option,
    deadline_text,
    notice_renderer,
    notice_texts,
    open_db,
    sign_checkpoint,
    wants_json,
    when,
)
from .send import change_send

change_app = typer.Typer(no_args_is_help=True,
                         help="Propose, plan, send and close (or withdraw) a change.")


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
    effective_on = date_option(effective, "--effective")
    action: Literal["add", "replace", "remove"] = (
        "add" if add else "replace" if replace else "remove")
    sub = None
    if action != "remove":
        sub = notices.subprocessor_from_file(from_file) if from_file is not None else \
            notices.subprocessor_from_options({
                "id": sub_id, "name": name, "entity": entity, "country": country,
                "locations": locations, "purpose": purpose, "purpose-nl": purpose_nl,
                "purpose-fr": purpose_fr, "purpose-en": purpose_en, "services": services,
                "engagement": engagement, "transfer": transfer})
    proposal = notices.Proposal(action=action, subprocessor=sub, target=replace or remove,
                                effective_on=effective_on)
    change = notices.propose_change(open_db(db), proposal, actor=actor_name(actor))
    if as_json:  # "change": the number every later command takes, as in the other reports
        echo_json({"change": change.id, **change.model_dump(mode="json")})
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
    force: Annotated[bool, typer.Option(
        "--force", help="Plan even if the effective date falls inside a customer's objection "
        "window (recorded in the audit log)")] = False,
    as_json: JsonOption = False,
    output_format: OldFormatOption = None,
    db: DbOption = None, actor: ActorOption = None,
) -> None:
    """Which customers are affected and why (via their services), and each one's deadline.

    Refused when the effective date falls inside a customer's objection window, unless
    --force."""
    planned = plan_and_announce(open_db(db), change_id, actor=actor_name(actor),
                                dispatch_at=when(at, "--at") if at else None, force=force)
    plan = planned.plan
    if wants_json(as_json, output_format):
        echo_json(plan.model_dump(mode="json"))
        return
    change = plan.change
    out.print(f"Change {change.id}: {change.action} {change.subject.name} ({change.subject.id}, "
              f"{change.subject.engagement}), effective {change.effective_on}", markup=False)
    table = folded_table("customer, agreement, to", "notice, window, deadline", "why",
                         title=f"Affected customers (deadlines if sent "
                               f"{brussels(plan.dispatch_at)})")
    keep_whole(table, 0)
    for e in plan.affected:
        why = "\n".join(f"{r.service} uses {r.subprocessor} ({r.role})" for r in e.reasons)
        window = f"{e.window_days} {e.window_unit} days" if e.window_days else "no window"
        add_row(table, "\n".join([e.customer, f"{e.reference or '-'} v{e.agreement_version}",
                               *e.recipients]),
             f"{e.kind} ({e.language})\n{window}\n{deadline_text(e.deadline_if_sent)}", why)
    out.print(table)
    for e in plan.affected:
        for warning in e.warnings:
            out.print("[yellow]warning[/]" + escape(f" {e.customer}: {warning}"))
    if plan.unaffected:
        out.print("Not affected: " + ", ".join(
            f"{u.customer} ({', '.join(u.services)})" for u in plan.unaffected), markup=False)
    out.print(announcement_line(planned), markup=False)
    out.print(f"Next: dpa change send {change.id}", markup=False)


change_app.command("send")(change_send)  # (its own module: send.py)


@change_app.command("status")
@user_errors
def change_status(
    change_id: ChangeIdArgument,
    as_json: JsonOption = False,
    output_format: OldFormatOption = None,
    db: DbOption = None,
) -> None:
    """Per customer: notice, delivery, deadline, objections, outcome and follow-up."""
    status = notices.change_status(open_db(db), change_id)
    if wants_json(as_json, output_format):
        echo_json(status.model_dump(mode="json"))
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
        withdrawal = f"\nwithdrawal {t.withdrawal_status}" if t.withdrawal_status else ""
        add_row(table, t.customer, f"{t.kind}\n{t.message_status or '-'}{withdrawal}",
             f"{brussels(t.notified_at)}\n{deadline_text(t.deadline)}",
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
    database = open_db(db)
    report = notices.close_change(database, change_id, actor=actor_name(actor))
    sign_checkpoint(database, quiet=as_json)
    if as_json:
        echo_json(report.model_dump(mode="json"))
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
    notices.record_bounce(open_db(db), change_id, option_text(customer, "--customer"),
                          reason=option_text(reason, "--reason"), actor=actor_name(actor))
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
    written = notices.letters(open_db(db), change_id, output, renderer=notice_renderer(template),
                              texts=notice_texts(library), settings=notices.SmtpSettings.from_env(),
                              only_unnotified=unnotified)
    for path in written:
        out.print(f"Wrote {path}", markup=False)
    if not written:
        out.print(f"Change {change_id}: every customer was notified; no letter to write.",
                  markup=False)


@change_app.command("letter-sent")
@user_errors
def change_letter_sent(
    change_id: ChangeIdArgument,
    customer: Annotated[str, typer.Option("--customer", help="Customer key or number")],
    sent_at: Annotated[str, typer.Option(
        "--sent-at", metavar="WHEN",
        help="When the letter went out: e.g. 2026-11-25T16:00 (Brussels), with an offset, or "
             "now")],
    db: DbOption = None, actor: ActorOption = None, as_json: JsonOption = False,
) -> None:
    """Record a notice sent by post: the customer's objection window runs from then.

    For a customer the e-mail did not reach (see 'dpa change letters CHANGE --unnotified')."""
    report = notices.record_letter_sent(open_db(db), change_id, option_text(customer, "--customer"),
                                        sent_at=when(sent_at, "--sent-at"),
                                        actor=actor_name(actor))
    if as_json:
        echo_json(report.model_dump(mode="json"))
        return
    out.print(f"Recorded: the letter to {report.customer} went out {brussels(report.sent_at)}; "
              f"deadline {deadline_text(report.deadline)}", markup=False)


@change_app.command("withdraw")
@user_errors
def change_withdraw(
    change_id: ChangeIdArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why, for the audit log")],
    db: DbOption = None, actor: ActorOption = None, as_json: JsonOption = False,
) -> None:
    """Withdraw a change (audited with the reason); it no longer blocks a new proposal.

    After it went out: notices not sent yet are cancelled, the objection windows close, and
    each customer notified gets a short withdrawal notice in its language, sent (exactly once)
    by 'dpa change send CHANGE'. Subscribers to the public list who were told of the change
    get one e-mail saying it will not happen. A closed change cannot be withdrawn."""
    withdrawn = withdraw_and_announce(open_db(db), change_id,
                                      reason=option_text(reason, "--reason"),
                                      actor=actor_name(actor))
    report = withdrawn.withdrawal
    if as_json:
        echo_json({**report.model_dump(mode="json"),
                   "subscribers": withdrawn.model_dump(mode="json")["subscribers"],
                   "subscribers_not_told": withdrawn.not_told})
        return
    out.print(f"Change {change_id} withdrawn (it was {report.was}).", markup=False)
    if report.to_tell:
        out.print(f"{len(report.to_tell)} customer(s) to tell: {', '.join(report.to_tell)}. "
                  f"Next: dpa change send {change_id}", markup=False, soft_wrap=True)
    out.print(withdrawal_line(withdrawn), markup=False, soft_wrap=True)


@change_app.command("announce")
@user_errors
def change_announce(change_id: ChangeIdArgument, db: DbOption = None,
                    library: LibraryOption = None, as_json: JsonOption = False) -> None:
    """E-mail the public list's subscribers not reached before about a change: that it is
    coming or, once withdrawn, that it will not happen (each gets each e-mail once).

    'change plan' and 'change withdraw' do this themselves; run it to retry after a mail
    server failure. Exit code 1 when some subscribers were still not reached."""
    announcement = announce_change(open_db(db), change_id, library=library)
    if as_json:
        echo_json(announcement.model_dump(mode="json"))
    else:
        out.print(announce_line(announcement), markup=False, soft_wrap=True)
    if announcement.subscribers is not None and announcement.subscribers.failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(change_app, name="change")
