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

from ..agreements.engine import Engine
from ..agreements.engine import explain as explain_deal
from ..library.format import ClauseFile, LabelsFile
from ..models import Deal, ProviderProfile
from .common import (
    JsonOption,
    LibraryOption,
    TemplateOption,
    echo_json,
    out,
    progress_bar,
    renamed,
    require_docx,
    required,
    user_errors,
)
from .format import add_text_row, deviation_text, folded_table, keep_whole

app = typer.Typer()


@app.command()
@user_errors
def generate(
    deal: Annotated[Path, typer.Argument(help="Deal file (YAML)")],
    output: Annotated[Path, typer.Option("-o", "--output", metavar="FILE",
                                         help="Agreement to write (.docx)")],
    pdf: Annotated[bool, typer.Option("--pdf", help="Also write a PDF (headless LibreOffice)")]
    = False,
    library: LibraryOption = None,
    template: TemplateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Generate the Word agreement for a deal."""
    require_docx(output)
    engine = Engine.load(library, template)
    result = engine.generate(deal, output, pdf=pdf)
    if as_json:
        echo_json(result.model_dump(mode="json"))
        return
    status = "[bold yellow]DRAFT[/]" if result.draft else "[green]final[/]"
    out.print(f"Wrote {escape(str(result.docx))} ({status}, {len(result.clauses)} clauses)")
    if result.pdf:
        out.print(f"Wrote {escape(str(result.pdf))}")
    for deviation in result.deviations:
        out.print(escape(f"  deviation {deviation_text(deviation, result.language)}"),
                  soft_wrap=True)
    for warning in result.warnings:
        out.print(f"  [yellow]warning[/] {escape(warning)}", soft_wrap=True)


@app.command()
@user_errors
def batch(
    source: Annotated[Path, typer.Argument(help="Folder of deal files, or a CSV with a 'deal' column")],
    output_dir: Annotated[Path | None, typer.Option(
        "--output-dir", metavar="DIR", help="Folder for the agreements [required]")] = None,
    old_output: Annotated[Path | None, typer.Option("-o", "--output", hidden=True)] = None,
    pdf: Annotated[bool, typer.Option("--pdf", help="Also write PDFs (warm headless LibreOffice)")]
    = False,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", min=1,
                                             help="Worker processes (default: all cores)")] = None,
    library: LibraryOption = None,
    template: TemplateOption = None,
    as_json: JsonOption = False,
) -> None:
    """Generate many agreements at once; failures are isolated and summarised.

    Exit code 1 if any agreement failed (see batch-summary.json)."""
    # imported here, for start-up time: worker processes and pools that `dpa generate` and
    # the other commands of this group need not load
    from ..agreements.batch import SUMMARY_NAME, BatchItem, run_batch

    folder = required(renamed(output_dir, old_output, "--output-dir", "-o/--output"),
                      "--output-dir", "dpa batch examples/ --output-dir out/")
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
        summary = run_batch(source, folder, pdf=pdf, jobs=jobs, library=library,
                            template=template, on_start=on_start, on_item=on_item)
    finally:
        progress.stop()
    if as_json:
        echo_json(summary.model_dump(mode="json"))
        raise typer.Exit(1 if summary.failed else 0)
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
    as_json: JsonOption = False,
    library: LibraryOption = None,
) -> None:
    """Explain which clauses a deal gets and why, and list its deviations."""
    report = explain_deal(deal, library_path=library)
    if as_json:
        data = report.model_dump(mode="json",
                                 include={"clauses", "deviations", "facts", "approval",
                                          "warnings"})
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    table = folded_table("", "clause", "rule (facts used)",
                         title=f"Clauses for {deal} ({report.language})")
    for clause in report.clauses:
        facts = "".join(f"\n  {k} = {v}" for k, v in clause.facts.items())
        add_text_row(table, "✔" if clause.included else "✘", f"{clause.id} v{clause.version}",
                     clause.rule + facts)
    keep_whole(table, 1)
    out.print(table)
    if not report.deviations:
        out.print("No deviations from the standard terms.")
    for deviation in report.deviations:
        detail = deviation_text(deviation, report.language)
        approved = report.approval is not None and report.approval.approved
        out.print(f"[yellow]deviation[/] {escape(detail)}"
                  + ("" if approved else " — needs legal approval"))
    if report.approval is not None and report.deviations:
        colour = "green" if report.approval.approved else "yellow"
        out.print(f"[{colour}]approval[/] {report.approval.state}: "
                  f"{escape(report.approval.message)}", soft_wrap=True)
    for warning in report.warnings:
        out.print(f"[yellow]warning[/] {escape(warning)}", soft_wrap=True)


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
