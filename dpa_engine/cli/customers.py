"""`dpa customers`: fill and list the register of customers and their agreements."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .. import notices
from ..agreements.engine import default_library_path
from ..library import load_library
from .common import (
    JsonOption,
    LibraryOption,
    echo_json,
    out,
    user_errors,
)
from .format import folded_table, keep_whole
from .notice_options import (
    ActorOption,
    DbOption,
    OldFormatOption,
    actor_name,
    add_row,
    open_db,
    wants_json,
)

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
    report = notices.import_deals(open_db(db, create=True), paths, lib, actor=actor_name(actor))
    if as_json:
        echo_json(report.model_dump(mode="json"))
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
    items = notices.list_customers(open_db(db))
    if wants_json(as_json, output_format):
        echo_json([c.model_dump(mode="json") for c in items])
        return
    table = folded_table("customer, agreement, notice e-mails", "terms", "services")
    for c in items:
        add_row(table, "\n".join([c.key, f"{c.reference or '-'} v{c.agreement_version}",
                               *c.notice_emails]),
             f"{c.language}, {c.window_days} {c.window_unit} days, {c.authorisation} "
             "authorisation", ", ".join(c.services))
    keep_whole(table, 0)
    out.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(customers_app, name="customers")
