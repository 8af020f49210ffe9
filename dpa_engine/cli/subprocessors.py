"""`dpa subprocessors`: the published sub-processor list (for a customer, or whole) and its feed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from .. import notices
from ..errors import DpaError
from ..files import write_atomically
from .common import (
    LibraryOption,
    TemplateOption,
    out,
    renamed,
    required,
    user_errors,
)
from .format import folded_table
from .notice_options import (
    DbOption,
    ListFormat,
    add_row,
    inputs_of,
    notice_renderer,
    notice_texts,
    open_db,
)

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
    texts = notice_texts(library)
    view = notices.subprocessor_list(open_db(db), texts, customer_ref=customer,
                                     language=language)  # type: ignore[arg-type]
    if output_format is ListFormat.docx:
        if output is None or output.suffix.lower() != ".docx":
            raise DpaError("a .docx list needs an output file", field="--output",
                           fix="add -o list.docx")
        write_atomically(output, notices.list_docx(view, texts, notice_renderer(template)),
                         inputs=inputs_of(db, template))
        out.print(f"Wrote {output}", markup=False)
        return
    if output_format is ListFormat.table:
        table = folded_table(*(view.headings[column] for column in (
            "name", "legal_entity", "country", "locations", "services", "engagement", "transfer",
            "status")), title=f"{view.title} – {view.subtitle}")
        for row in view.rows:
            add_row(table, row.name, row.legal_entity, row.country, ", ".join(row.locations),
                          ", ".join(row.services), row.engagement, row.transfer,
                          view.headings[row.status])
        out.print(table if view.rows else Text(view.empty_note))
        return
    text = notices.list_csv(view) if output_format is ListFormat.csv else notices.list_json(view)
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomically(output, text.encode("utf-8"), inputs=inputs_of(db, template))
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
    for path in notices.write_feed(open_db(db), output, language=language,  # type: ignore[arg-type]
                                   base_url=base_url):
        out.print(f"Wrote {path}", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(subprocessors_app, name="subprocessors")
