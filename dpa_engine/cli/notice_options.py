"""What the notice command groups (customers, subprocessors, change, objection, audit) share:
the database and actor options, date and time parsing in Brussels time, table cells, the
audit checkpoint after a command that changes the log."""

from __future__ import annotations

import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from .. import notices
from ..agreements.engine import default_library_path, default_template_path
from ..audit import checkpoints
from ..errors import DpaError, RenderError
from ..notices.deadlines import BRUSSELS
from ..render import DocxRenderer
from ..storage import Database, open_database
from ..storage.database import check_database, database_file
from .common import (
    MAX_ID,
    err,
    option_text,
    out,
    renamed,
    required,
)

DbOption = Annotated[str | None, typer.Option(
    "--db", metavar="URL", help="Database URL or SQLite file (default: $DPA_DATABASE_URL, else "
    ".dpa/dpa.db in the current folder)")]
ChangeArgument = Annotated[int | None, typer.Argument(metavar="CHANGE", min=1, max=MAX_ID,
                                                      help="Change number [required]")]
OldChangeOption = Annotated[int | None, typer.Option("--change", min=1, max=MAX_ID, hidden=True)]
ActorOption = Annotated[str | None, typer.Option(
    "--actor", help="Who acts, for the audit log (default: $DPA_ACTOR, else user@host)")]


def open_db(option: str | None, *, create: bool = False) -> Database:
    check_database(option, create=create)
    return open_database(option)


def change_number(change: int | None, old: int | None, example: str) -> int:
    return required(renamed(change, old, "CHANGE", "--change"), "CHANGE", example)


def wants_json(as_json: bool, old: OutputFormat | None) -> bool:
    return as_json or renamed(None, old, "--json", "--format") is OutputFormat.json


def inputs_of(db: str | None, template: Path | None) -> list[tuple[str, Path]]:
    """Files a notice command reads, which its output must not replace."""
    files = [("base template", template or default_template_path())]
    database = database_file(db)
    return files + ([("register database", database)] if database else [])


def actor_name(option: str | None) -> str:
    return option_text(option, "--actor") if option else notices.default_actor()


def notice_texts(library: Path | None) -> notices.NoticeTexts:
    return notices.load_notice_texts(notices.default_notice_folder(library or default_library_path()))


def notice_renderer(template: Path | None) -> DocxRenderer:
    path = template or default_template_path()
    if not path.is_file():
        raise RenderError("base template not found", path=path,
                          fix="restore templates/agreement.docx or pass --template")
    return DocxRenderer(path)


def when(value: str, option: str) -> datetime.datetime:
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


def date_option(value: str, option: str) -> datetime.date:
    """A date as YYYY-MM-DD, or +N: N days after today (Brussels)."""
    if value.startswith("+") and value[1:].isdigit():
        return datetime.datetime.now(BRUSSELS).date() + datetime.timedelta(days=int(value[1:]))
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise DpaError(f"'{value}' is not a date", field=option,
                       fix="write YYYY-MM-DD, or +30 for 30 days from today") from None


# how the commands show moments (the library's wording, "-" for none)
brussels = notices.brussels_text
deadline_text = notices.deadline_text


def add_row(table: Table, *cells: str) -> None:
    """Table cells are data: never parsed as Rich markup."""
    table.add_row(*(Text(cell) for cell in cells))


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


OldFormatOption = Annotated[OutputFormat | None, typer.Option("--format", hidden=True)]


class ListFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    docx = "docx"


def sign_checkpoint(database: Database, *, quiet: bool = False) -> None:
    """Sign the audit log's head into the checkpoint file when $DPA_AUDIT_KEY is set."""
    checkpoint = checkpoints.write_checkpoint(database)
    if checkpoint is not None and not quiet:
        out.print(f"Audit checkpoint at record {checkpoint.seq} signed "
                  f"({checkpoints.checkpoint_file(database)})", markup=False)
