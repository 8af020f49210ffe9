"""`dpa change send`: every notice of a planned change exactly once, or (--dry-run) as .eml
files; also sends the withdrawal notices of a change withdrawn after it went out. Registered
on `change_app` by change.py."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .. import notices
from ..errors import DpaError
from ..storage import Database
from .common import (
    ChangeIdArgument,
    JsonOption,
    LibraryOption,
    echo_json,
    err,
    out,
    progress_bar,
    required,
    user_errors,
)
from .notice_options import (
    ActorOption,
    DbOption,
    actor_name,
    inputs_of,
    notice_texts,
    open_db,
    sign_checkpoint,
)


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
    settings = notices.SmtpSettings.from_env(
        host=smtp_host, port=smtp_port, security=smtp_security, username=smtp_user,
        from_address=smtp_from, max_attempts=max_attempts, backoff_seconds=backoff,
        connections=connections)
    database = open_db(db)
    if dry_run or output_dir is not None:
        if not dry_run:
            raise DpaError("--output-dir is only used with --dry-run", field="--output-dir",
                           fix="add --dry-run to write the messages instead of sending them")
        _dry_run(database, change_id, output_dir, settings=settings, library=library, db=db,
                 as_json=as_json)
        return
    if _nothing_left(database, change_id, as_json=as_json):
        return
    try:
        report = _send_with_progress(database, change_id, settings, notice_texts(library),
                                     actor_name(actor))
    except notices.SmtpUnreachable as exc:  # nothing lost: the notices stay queued, exit 1
        if as_json:
            echo_json({"change": change_id, "complete": False, "smtp_unreachable": exc.message})
        err.print(f"error: {exc.message}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    sign_checkpoint(database, quiet=as_json)
    if as_json:
        echo_json(report.model_dump(mode="json"))
        raise typer.Exit(0 if report.complete and not report.failed else 1)
    _print_report(report, change_id, asked_connections=settings.connections)


def _nothing_left(database: Database, change_id: int, *, as_json: bool) -> bool:
    """A rerun after the last notice went out: says so, and there is nothing to do."""
    status = notices.change_status(database, change_id)
    if not status.nothing_to_send:
        return False
    if as_json:
        echo_json({"change": change_id, "status": status.change.status,
                   "nothing_left_to_send": True})
    else:
        out.print(f"Change {change_id}: nothing left to send (every notice went out). "
                  f"See: dpa change status {change_id}", markup=False)
    return True


def _dry_run(database: Database, change_id: int, output_dir: Path | None, *,
             settings: notices.SmtpSettings, library: Path | None, db: str | None,
             as_json: bool) -> None:
    """--dry-run: each message as <customer>.eml in the folder; nothing sent or recorded."""
    folder = required(output_dir, "--output-dir",
                      f"dpa change send {change_id} --dry-run --output-dir outbox/")
    written = notices.dry_run(database, change_id, folder, settings=settings,
                              texts=notice_texts(library), inputs=inputs_of(db, None))
    if as_json:
        echo_json({"change": change_id, "dry_run": [str(p) for p in written]})
    else:
        out.print(f"Dry run: {len(written)} message(s) written to {folder}, nothing sent "
                  "and nothing recorded", markup=False)


def _print_report(report: notices.SendReport, change_id: int, *, asked_connections: int
                  ) -> None:
    """The run's outcome per customer; exit 1 when something is deferred or refused."""
    if report.connection_limit is not None:
        out.print(f"note: the SMTP server refused connections beyond "
                  f"{report.connection_limit} of the {asked_connections} asked for; the "
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


__all__ = ["change_send"]
