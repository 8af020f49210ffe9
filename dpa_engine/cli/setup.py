"""`dpa init`: a starter folder to generate a first agreement from."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ..starter import create_starter
from .common import out, user_errors


class StarterLanguage(StrEnum):
    nl = "nl"
    fr = "fr"
    en = "en"


@user_errors
def init(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="Folder to create or fill")],
    language: Annotated[StarterLanguage, typer.Option(
        "--language", help="Language of the example deal")] = StarterLanguage.nl,
    with_library: Annotated[bool, typer.Option(
        "--with-library", help="Also copy the standard clause library (clauses/, with the "
        "example deals its lint checks use in examples/) for legal to own and version")]
    = False,
) -> None:
    """Write a starter folder: a provider profile to fill in and an example deal."""
    starter = create_starter(folder, language=language.value, with_library=with_library)
    for name in starter.files:
        out.print(f"Wrote {escape(str(folder / name))}" + ("/" if name in ("clauses", "examples")
                                                             else ""))
    out.print("Next: fill in provider.yaml, then\n"
              f"  cd {escape(str(folder))}\n"
              "  dpa generate deal-example.yaml -o out/agreement.docx\n"
              "  dpa explain deal-example.yaml")
    if with_library:
        out.print("clauses/ is now your library (used instead of the standard one when you run "
                  "dpa in this folder); check it with: dpa clauses lint")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
