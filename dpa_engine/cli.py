"""The `dpa` command line: parses arguments, calls the library, prints results.

Library errors (DpaError) become one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from .clauses import lint_library
from .engine import Engine, default_library_path
from .errors import DpaError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Generate and run GDPR processor agreements (DPAs).")
clauses_app = typer.Typer(no_args_is_help=True, help="Tools for legal: check the clause library.")
app.add_typer(clauses_app, name="clauses")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
F = TypeVar("F", bound=Callable[..., Any])

LibraryOption = Annotated[
    Path | None, typer.Option("--library", help="Clause library folder (default: ./clauses)")]
TemplateOption = Annotated[
    Path | None, typer.Option("--template", help="Base .docx template (default: templates/)")]


def _user_errors(func: F) -> F:
    """Turn library errors into one clear line and exit code 2."""
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DpaError as exc:
            err.print(f"[bold red]error:[/] {exc.message}", markup=True, soft_wrap=True,
                      highlight=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None
    return wrapper  # type: ignore[return-value]


@app.command()
@_user_errors
def generate(
    deal: Annotated[Path, typer.Argument(help="Deal file (YAML)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Agreement to write (.docx)")],
    pdf: Annotated[bool, typer.Option("--pdf", help="Also write a PDF (headless LibreOffice)")]
    = False,
    library: LibraryOption = None,
    template: TemplateOption = None,
) -> None:
    """Generate the Word agreement for a deal."""
    if output.suffix.lower() != ".docx":
        raise DpaError("the output must be a .docx file", path=output,
                       fix="give -o a name ending in .docx")
    engine = Engine.load(library, template)
    result = engine.generate(deal, output, pdf=pdf)
    status = "[bold yellow]DRAFT[/]" if result.draft else "[green]final[/]"
    out.print(f"Wrote {result.docx} ({status}, {len(result.clauses)} clauses)")
    if result.pdf:
        out.print(f"Wrote {result.pdf}")
    for deviation in result.deviations:
        out.print(f"  deviation: {deviation.parameter}: standard {deviation.standard}, "
                  f"agreed {deviation.agreed}")


@app.command()
@_user_errors
def explain(
    deal: Annotated[Path, typer.Argument(help="Deal file (YAML)")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    library: LibraryOption = None,
) -> None:
    """Explain which clauses a deal gets and why, and list its deviations."""
    from .engine import explain as explain_deal

    report = explain_deal(deal, library_path=library)
    if as_json:
        data = report.model_dump(mode="json", include={"clauses", "deviations", "facts"})
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"Clauses for {deal} ({report.language})")
    for column in ("", "clause", "rule", "facts used"):
        table.add_column(column)
    for clause in report.clauses:
        facts = ", ".join(f"{k}={v}" for k, v in clause.facts.items())
        table.add_row("✔" if clause.included else "✘", f"{clause.id} v{clause.version}",
                      clause.rule, facts)
    out.print(table)
    if not report.deviations:
        out.print("No deviations from the standard terms.")
    for deviation in report.deviations:
        out.print(f"[yellow]deviation[/] {deviation.parameter}: standard {deviation.standard} → "
                  f"agreed {deviation.agreed} (clauses: {', '.join(deviation.clauses) or '-'}) "
                  "— needs legal approval")


class SchemaName(StrEnum):
    deal = "deal"
    provider = "provider"
    clauses = "clauses"
    labels = "labels"


@app.command()
def schema(
    name: Annotated[SchemaName, typer.Argument(help="Which input format")] = SchemaName.deal,
) -> None:
    """Print the JSON Schema of an input format."""
    from .clauses.schema import ClauseFile, LabelsFile
    from .models import Deal, ProviderProfile

    models: dict[str, type[BaseModel]] = {
        "deal": Deal, "provider": ProviderProfile, "clauses": ClauseFile, "labels": LabelsFile}
    model = models[name.value]
    typer.echo(json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False))


@clauses_app.command("lint")
@_user_errors
def clauses_lint(
    path: Annotated[Path | None, typer.Argument(help="Library folder (default: ./clauses)")]
    = None,
) -> None:
    """Check the clause library; every problem with file:line and a fix. Exit 1 on problems."""
    folder = path or default_library_path()
    _, problems = lint_library(folder)
    for problem in problems:
        out.print(f"{problem.message}  [dim]({problem.code})[/]", soft_wrap=True)
    if problems:
        out.print(f"[red]{len(problems)} problem(s)[/] in {folder}")
        raise typer.Exit(1)
    out.print(f"[green]ok[/]: {folder} has no problems")


def main() -> None:
    if os.environ.get("DPA_DEBUG"):
        app()
        return
    try:
        app()
    except SystemExit:
        raise
    except Exception as exc:  # a bug, not a user error: one line, ask for a report
        err.print(f"internal error: {type(exc).__name__}: {exc} (rerun with DPA_DEBUG=1 for "
                  "details and report it)", markup=False)
        sys.exit(1)


