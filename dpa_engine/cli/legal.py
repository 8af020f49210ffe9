"""Commands for legal: coverage, show, diff and lock of the clause library; deviation approvals;
regeneration from a manifest; redlines against the standard agreement.

Registered on the main `dpa` app by `register` (cli/app.py). Every command is a library
call; DpaError becomes one line and exit code 2.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..agreements.approvals import approvals_path
from ..agreements.approvals import approve as record_approval
from ..agreements.deals import load_deal
from ..agreements.engine import Engine, default_library_path, default_template_path
from ..agreements.manifest import regenerate as regenerate_agreement
from ..agreements.rules import decide
from ..errors import LibraryError, RenderError
from ..legal.coverage import coverage
from ..legal.impact import deal_impact
from ..legal.lint import default_examples_path, example_deals, lint, lock_library
from ..library import load_library
from ..library.history import diff_libraries, show_clause, two_libraries
from ..library.versions import LOCK_FILE
from ..render import DocxRenderer
from ..resources import packaged_library
from .common import (
    JsonOption,
    LibraryOption,
    TemplateOption,
    echo_json,
    out,
    renamed,
    require_docx,
    user_errors,
)
from .format import deviation_text

ExamplesOption = Annotated[
    Path | None, typer.Option("--examples", help="Folder of example deals (default: the "
                                                 "examples/ folder next to the library)")]

clauses_app = typer.Typer(no_args_is_help=True, help="Tools for legal: check the clause library.")


OldPathArgument = Annotated[Path | None, typer.Argument(
    hidden=True, help="Library folder (old spelling of --library)")]


@clauses_app.command("lint")
@user_errors
def clauses_lint(
    path: OldPathArgument = None,
    library: LibraryOption = None,
    examples: Annotated[Path | None, typer.Option(
        "--examples", metavar="DIR", help="Example deals that exercise the conditions (default: "
        "the examples/ folder next to the library)")] = None,
    as_json: JsonOption = False,
) -> None:
    """Check the clause library; every problem with file:line and a fix.

    Exit code 1 when there are problems."""
    folder = renamed(library, path, "--library", "the PATH argument") or default_library_path()
    report = lint(folder, examples=examples)
    problems = report.problems
    if as_json:
        echo_json({"library": str(folder), "ok": not problems, "notes": report.notes,
                   "problems": [{"code": p.code, "file": str(p.path), "line": p.line,
                                 "field": p.field, "what": p.what, "fix": p.fix,
                                 "message": p.message} for p in problems]})
        raise typer.Exit(1 if problems else 0)
    for note in report.notes:
        out.print(f"[dim]note: {escape(note)}[/]", soft_wrap=True)
    for problem in problems:
        out.print(f"{escape(problem.message)}  [dim]({problem.code})[/]", soft_wrap=True)
    if problems:
        out.print(f"[red]{len(problems)} problem(s)[/] in {escape(str(folder))}")
        raise typer.Exit(1)
    out.print(f"[green]ok[/]: {escape(str(folder))} has no problems")


def approve(
    deal: Annotated[Path, typer.Argument(help="Deal file (YAML)")],
    by: Annotated[str, typer.Option("--by", help="Who approves (name of the lawyer)")],
    note: Annotated[str, typer.Option("--note", help="Why / on what conditions")],
    library: LibraryOption = None,
) -> None:
    """Record legal's approval of the deal's current deviations (stored next to the deal)."""
    decision = decide(load_deal(deal), load_library(library or default_library_path()))
    record = record_approval(deal, decision, by=by, note=note)
    out.print(f"Approved by {escape(record.approved_by)}:")
    for deviation in decision.deviations:
        out.print("  " + escape(deviation_text(deviation, decision.language)), soft_wrap=True)
    out.print(f"Recorded in {escape(str(approvals_path(deal)))} "
              f"(deviation set sha256 {record.deviations_sha256[:12]}…)")


def clauses_coverage(
    deal: Annotated[Path | None, typer.Argument(help="A deal file; omit for the whole library")]
    = None,
    as_json: JsonOption = False,
    library: LibraryOption = None,
) -> None:
    """Which clauses satisfy each GDPR / 2021/915 requirement. Exit 1 on any gap."""
    lib = load_library(library or default_library_path())
    decision = decide(load_deal(deal), lib) if deal is not None else None
    report = coverage(lib, decision, scope=str(deal) if deal is not None else "library")
    if as_json:
        typer.echo(json.dumps({**report.model_dump(mode="json"),
                               "gaps": [row.reference for row in report.gaps]},
                              indent=2, ensure_ascii=False))
    else:
        table = Table(title=f"Coverage: {escape(report.scope)}")
        for column in ("", "requirement", "satisfied by"):
            table.add_column(column)
        marks = {"covered": "[green]✔[/]", "gap": "[red]✘ gap[/]", "not-applicable": "[dim]n/a[/]"}
        for row in report.rows:
            clauses = ", ".join(f"{c.id} v{c.version}" + (f" [dim](when {escape(c.when)})[/]"
                                                          if c.when and deal is None else "")
                                for c in row.clauses)
            table.add_row(marks[row.status], escape(f"{row.source} {row.title}"), clauses or "-")
        out.print(table)
        if report.gaps:
            out.print(f"[red]{len(report.gaps)} gap(s)[/]: "
                      + ", ".join(escape(row.reference) for row in report.gaps)
                      + " — fix: add a clause whose `satisfies:` lists each, or correct the "
                        "`satisfies:` of the clause that covers it")
        else:
            out.print("[green]ok[/]: every requirement is covered")
    if report.gaps:
        raise typer.Exit(1)


def clauses_lock(
    path: OldPathArgument = None,
    library: LibraryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record the content hash of every new clause version in versions.lock."""
    folder = renamed(library, path, "--library", "the PATH argument") or default_library_path()
    if folder == packaged_library():
        raise LibraryError("the standard clause library inside the installed package is not "
                           "yours to lock", path=folder,
                           fix="make your own copy with `dpa init DIR --with-library` and run "
                               "this command in DIR, or give --library")
    added = lock_library(folder)
    if as_json:
        echo_json({"lock_file": str(folder / LOCK_FILE), "added": list(added)})
        return
    for key in added:
        out.print(f"locked {escape(key)}")
    out.print(f"{escape(str(folder / LOCK_FILE))}: {len(added)} new version(s) recorded")


def regenerate(
    manifest: Annotated[Path, typer.Argument(
        help="A .manifest.json written by dpa generate, or the agreement (.docx) itself")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Agreement to write (.docx)")],
    template: TemplateOption = None,
) -> None:
    """Make an agreement again from its manifest: same clause versions, data and text, even
    after the clause library moved on."""
    require_docx(output)
    template_path = template or default_template_path()
    if not template_path.is_file():
        raise RenderError("base template not found", path=template_path,
                          fix="restore templates/agreement.docx or pass --template")
    result = regenerate_agreement(manifest, output, DocxRenderer(template_path))
    status = "[bold yellow]DRAFT[/]" if result.draft else "[green]final[/]"
    out.print(f"Wrote {escape(str(result.docx))} ({status}, {len(result.clauses)} clauses, "
              "as recorded in the manifest)")


class ShowLanguage(StrEnum):
    nl = "nl"
    fr = "fr"
    en = "en"


def clauses_show(
    clause_id: Annotated[str, typer.Argument(metavar="ID", help="Clause id, e.g. liability.cap")],
    language: Annotated[ShowLanguage | None, typer.Option(
        "--language", help="Only this language")] = None,
    lang: Annotated[ShowLanguage | None, typer.Option("--lang", hidden=True)] = None,
    as_json: JsonOption = False,
    library: LibraryOption = None,
) -> None:
    """One clause: version, effective date, legal references, condition, parameters, texts."""
    chosen = renamed(language, lang, "--language", "--lang")
    view = show_clause(load_library(library or default_library_path()), clause_id)
    languages = [chosen.value] if chosen else ["nl", "fr", "en"]
    if as_json:
        data = view.model_dump(mode="json")
        for key in ("title", "text"):
            data[key] = {k: v for k, v in data[key].items() if k in languages}
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    out.print(f"[bold]{escape(view.id)}[/] version {view.version}, effective {view.effective} "
              f"({escape(view.file)}:{view.line}; article: {escape(view.article)})")
    out.print(f"satisfies: {escape(', '.join(view.satisfies)) or '-'}")
    out.print(f"when: {escape(view.when or 'always')}")
    for name, spec in view.parameters.items():
        out.print(f"parameter {escape(name)}: default {escape(str(spec['default']))}"
                  + (", negotiable" if spec["negotiable"] else ""))
    out.print(f"content sha256: {view.content_sha256}")
    for code in languages:
        out.print(f"\n[bold]{code}: {escape(view.title[code])}[/]")  # type: ignore[index]
        out.print(escape(view.text[code].rstrip()), soft_wrap=True)  # type: ignore[index]


def clauses_diff(
    old: Annotated[str, typer.Argument(help="Old library: a folder or a git ref (e.g. HEAD~3)")],
    new: Annotated[str, typer.Argument(help="New library: a folder or a git ref")] = ".",
    examples: ExamplesOption = None,
    as_json: JsonOption = False,
    library: LibraryOption = None,
) -> None:
    """What changed per clause and language between two library versions, and which example
    deals' agreements change as a result. NEW defaults to the working library."""
    folder = library or default_library_path()
    new_spec = str(folder) if new == "." else new
    with two_libraries(old, new_spec, library_folder=folder) as (old_lib, new_lib):
        diff = diff_libraries(old_lib, new_lib, old_name=old, new_name=new_spec)
        examples_folder = examples or default_examples_path(folder)
        deals = example_deals(examples_folder) if examples_folder else []
        impact = deal_impact(old_lib, new_lib, deals)
    if as_json:
        typer.echo(json.dumps({**diff.model_dump(mode="json"),
                               "deals": [i.model_dump(mode="json") for i in impact]},
                              indent=2, ensure_ascii=False))
        return
    if not diff.clauses and not diff.labels:
        out.print("No clause or label changes.")
    for change in diff.clauses:
        versions = f"v{change.old_version or '-'} → v{change.new_version or '-'}"
        warning = ("  [red]wording changed without a new version[/]"
                   if change.wording_changed and not change.version_raised else "")
        out.print(f"[bold]{escape(change.id)}[/] {change.status} ({versions}){warning}")
        for item in change.changes:
            out.print(f"  {escape(item.field)}:")
            if item.diff:
                for line in item.diff[2:]:
                    colour = "green" if line.startswith("+") else "red" if line.startswith(
                        "-") else "dim"
                    out.print(f"    [{colour}]{escape(line)}[/]", soft_wrap=True)
            else:
                out.print(f"    [red]- {escape(str(item.old))}[/]", soft_wrap=True)
                out.print(f"    [green]+ {escape(str(item.new))}[/]", soft_wrap=True)
    for item in diff.labels:
        out.print(f"label {escape(item.field)}: [red]{escape(str(item.old))}[/] → "
                  f"[green]{escape(str(item.new))}[/]", soft_wrap=True)
    if not deals:
        out.print("[dim]no example deals to compare (pass --examples DIR)[/]")
    for result in impact:
        name = Path(result.deal).name
        if result.status == "changes":
            out.print(f"[yellow]agreement changes[/]: {escape(name)} "
                      f"({escape(', '.join(result.clauses)) or 'labels'})")
        elif result.status == "fails":
            out.print(f"[red]agreement fails[/]: {escape(name)}: {escape(result.error or '')}",
                      soft_wrap=True)
        else:
            out.print(f"unchanged: {escape(name)}")


def redline(
    deal: Annotated[Path, typer.Argument(help="Deal file (YAML)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Redline to write (.docx)")],
    library: LibraryOption = None,
    template: TemplateOption = None,
) -> None:
    """A Word document with tracked changes from the standard agreement to the negotiated one."""
    require_docx(output)
    model = Engine.load(library, template).redline(deal, output)
    changes = sum(1 for r in model.revisions if r.change != "equal")
    out.print(f"Wrote {escape(str(output))} ({changes} changed block(s) against the standard "
              "agreement, as tracked changes)" if changes else
              f"Wrote {escape(str(output))} (no deviations: identical to the standard agreement)")


def register(app: typer.Typer) -> None:
    app.add_typer(clauses_app, name="clauses")
    app.command("approve")(user_errors(approve))
    app.command("redline")(user_errors(redline))
    app.command("regenerate")(user_errors(regenerate))
    clauses_app.command("show")(user_errors(clauses_show))
    clauses_app.command("diff")(user_errors(clauses_diff))
    clauses_app.command("lock")(user_errors(clauses_lock))
    clauses_app.command("coverage")(user_errors(clauses_coverage))
