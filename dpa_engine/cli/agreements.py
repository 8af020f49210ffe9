"""Agreement commands: generate, batch, explain, schema."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel
from rich.markup import escape
from rich.table import Table

from ..agreements.batch import SUMMARY_NAME, BatchItem, run_batch
from ..agreements.engine import Engine
from ..agreements.engine import explain as explain_deal
from ..library.format import ClauseFile, LabelsFile
from ..models import Deal, ProviderProfile
from .common import LibraryOption, TemplateOption, out, progress_bar, require_docx, user_errors

app = typer.Typer()


@app.command()
@user_errors
def generate(
    deal: Annotated[Path, typer.Argument(help="Deal file (YAML)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Agreement to write (.docx)")],
    pdf: Annotated[bool, typer.Option("--pdf", help="Also write a PDF (headless LibreOffice)")]
    = False,
    library: LibraryOption = None,
    template: TemplateOption = None,
) -> None:
    """Generate the Word agreement for a deal."""
    require_docx(output)
    engine = Engine.load(library, template)
    result = engine.generate(deal, output, pdf=pdf)
    status = "[bold yellow]DRAFT[/]" if result.draft else "[green]final[/]"
    out.print(f"Wrote {escape(str(result.docx))} ({status}, {len(result.clauses)} clauses)")
    if result.pdf:
        out.print(f"Wrote {escape(str(result.pdf))}")
    for deviation in result.deviations:
        out.print(escape(f"  deviation: {deviation.parameter}: standard {deviation.standard}, "
                         f"agreed {deviation.agreed}"))


@app.command()
@user_errors
def batch(
    source: Annotated[Path, typer.Argument(help="Folder of deal files, or a CSV with a 'deal' column")],
    output_dir: Annotated[Path, typer.Option("-o", "--output-dir", help="Where the agreements go")],
    pdf: Annotated[bool, typer.Option("--pdf", help="Also write PDFs (warm headless LibreOffice)")]
    = False,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1,
                                             help="Worker processes (default: all cores)")] = None,
    library: LibraryOption = None,
    template: TemplateOption = None,
) -> None:
    """Generate many agreements at once; failures are isolated and summarised. Exit 1 if any failed."""
    failures = 0
    # The bar starts once the inputs are checked: a bad path is one line, without a bar.
    progress = progress_bar()
    task = progress.add_task("agreements", total=None, rate="", problems="")
    started: list[float] = []

    def on_start(total: int) -> None:
        progress.start()
        started.append(time.perf_counter())
        progress.update(task, total=total)

    def on_item(item: BatchItem) -> None:
        nonlocal failures
        failures += item.status == "failed"
        done = progress.tasks[0].completed + 1
        rate = done / max(time.perf_counter() - started[0], 1e-9)
        progress.update(task, advance=1, rate=f"{rate:.1f}/s",
                        problems=f"{failures} failed" if failures else "")

    try:
        summary = run_batch(source, output_dir, pdf=pdf, jobs=jobs, library=library,
                            template=template, on_start=on_start, on_item=on_item)
    finally:
        progress.stop()
    out.print(f"{summary.succeeded} of {summary.total} agreements in {summary.seconds:.1f} s "
              f"({summary.per_second:.1f}/s, {summary.jobs} jobs"
              f"{', PDF ' + summary.pdf_engine if summary.pdf else ''})")
    for item in summary.items:
        if item.status == "failed":
            out.print(f"[red]failed[/] {escape(item.error or item.deal)}", soft_wrap=True)
    drafts = sum(1 for i in summary.items if i.draft)
    out.print(f"{drafts} draft(s) with unapproved deviations. Summary: "
              + escape(f"{summary.output_dir}/{SUMMARY_NAME}"), soft_wrap=True)
    if summary.failed:
        raise typer.Exit(1)


@app.command()
@user_errors
def explain(
    deal: Annotated[Path, typer.Argument(help="Deal file (YAML)")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    library: LibraryOption = None,
) -> None:
    """Explain which clauses a deal gets and why, and list its deviations."""
    report = explain_deal(deal, library_path=library)
    if as_json:
        data = report.model_dump(mode="json",
                                 include={"clauses", "deviations", "facts", "approval"})
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"Clauses for {deal} ({report.language})")
    for column in ("", "clause", "rule", "facts used"):
        table.add_column(column)
    for clause in report.clauses:
        facts = ", ".join(f"{k}={v}" for k, v in clause.facts.items())
        table.add_row("✔" if clause.included else "✘", f"{clause.id} v{clause.version}",
                      escape(clause.rule), escape(facts))
    out.print(table)
    if not report.deviations:
        out.print("No deviations from the standard terms.")
    for deviation in report.deviations:
        detail = (f"{deviation.parameter}: standard {deviation.standard} → agreed "
                  f"{deviation.agreed} (clauses: {', '.join(deviation.clauses) or '-'})")
        approved = report.approval is not None and report.approval.approved
        out.print(f"[yellow]deviation[/] {escape(detail)}"
                  + ("" if approved else " — needs legal approval"))
    if report.approval is not None and report.deviations:
        colour = "green" if report.approval.approved else "yellow"
        out.print(f"[{colour}]approval[/] {report.approval.state}: "
                  f"{escape(report.approval.message)}", soft_wrap=True)


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
    models: dict[str, type[BaseModel]] = {
        "deal": Deal, "provider": ProviderProfile, "clauses": ClauseFile, "labels": LabelsFile}
    model = models[name.value]
    typer.echo(json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False))


def register(root: typer.Typer) -> None:
    root.registered_commands.extend(app.registered_commands)
