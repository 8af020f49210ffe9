"""`dpa objection`: record a customer's objection or consent to a change."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .. import notices
from ..yamlsource import read_input
from .common import (
    JsonOption,
    echo_json,
    option_text,
    out,
    user_errors,
)
from .notice_options import (
    ActorOption,
    ChangeArgument,
    DbOption,
    OldChangeOption,
    actor_name,
    change_number,
    deadline_text,
    open_db,
    when,
)

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
        open_db(db), change, option_text(customer, "--customer"),
        received_at=when(received_at, "--received-at"),
        text=_message_text(text, text_file), actor=actor_name(actor), kind=kind)  # type: ignore[arg-type]
    if as_json:
        echo_json(report.model_dump(mode="json"))
        return
    flag = "[bold yellow]LATE[/] " if report.late else ""
    out.print(flag + escape(f"Recorded {report.kind} of {report.customer} on change "
                            f"{report.change} (deadline {deadline_text(report.deadline)}): "
                            f"{report.note}"), soft_wrap=True)


@objection_app.command("record")
@user_errors
def objection_record(customer: CustomerOption, received_at: ReceivedOption,
                     change: ChangeArgument = None, text: TextOption = None,
                     text_file: TextFileOption = None, db: DbOption = None,
                     actor: ActorOption = None, as_json: JsonOption = False,
                     old_change: OldChangeOption = None) -> None:
    """Record an objection (or, under specific authorisation, a refusal); late ones are flagged."""
    number = change_number(change, old_change, "dpa objection record 1 --customer KEY --received-at ...")
    _record("objection", number, customer, received_at, text, text_file, db, actor, as_json)


@objection_app.command("consent")
@user_errors
def objection_consent(customer: CustomerOption, received_at: ReceivedOption,
                      change: ChangeArgument = None, text: TextOption = None,
                      text_file: TextFileOption = None, db: DbOption = None,
                      actor: ActorOption = None, as_json: JsonOption = False,
                      old_change: OldChangeOption = None) -> None:
    """Record a customer's consent (specific authorisation only)."""
    number = change_number(change, old_change, "dpa objection consent 1 --customer KEY --received-at ...")
    _record("consent", number, customer, received_at, text, text_file, db, actor, as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(objection_app, name="objection")
