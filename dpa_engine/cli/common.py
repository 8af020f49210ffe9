"""What every `dpa` command module shares: consoles, option types, the error boundary.

Library errors (DpaError) become one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import DpaError
from ..safetext import xml_safe_text

if TYPE_CHECKING:
    from rich.progress import Progress

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

LibraryOption = Annotated[Path | None, typer.Option(
    "--library", metavar="DIR",
    help="Clause library folder (default: $DPA_LIBRARY, else ./clauses, else the standard one)")]
TemplateOption = Annotated[Path | None, typer.Option(
    "--template", metavar="FILE",
    help="Base .docx template (default: $DPA_TEMPLATE, else ./templates/agreement.docx, else "
         "the standard one)")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output: JSON on stdout")]


def echo_json(data: Any) -> None:
    """One JSON document on stdout (what --json prints)."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def renamed(new: T | None, old: T | None, new_name: str, old_name: str) -> T | None:
    """The value of an option whose old spelling (a hidden alias, kept for one release) may
    have been used instead. Silent: scripts written for the old spelling keep their output."""
    if old is None:
        return new
    if new is not None and new != old:
        raise DpaError(f"{new_name} and {old_name} are the same option, given different values",
                       field=new_name, fix=f"give only {new_name}")
    return old


def required(value: T | None, name: str, example: str) -> T:
    """A required value that may come from an old spelling (see `renamed`)."""
    if value is None:
        raise DpaError(f"missing {name}", field=name, fix=f"e.g. {example}")
    return value


# How `dpa ... --help` names a value, instead of an internal type name such as <list[Path]>.
VALUE_NAMES = {"str": "TEXT", "int": "N", "float": "NUMBER", "path": "PATH", "Path": "PATH",
               "list[Path]": "PATH", "list[str]": "TEXT", "datetime": "DATETIME"}


def _no_type(ctx: Any) -> None:
    return None


def tidy_help(command: Any) -> None:
    """Help without internal type names: a flag shows no type, an argument its name in
    capitals, an option a short value name (PATH, TEXT, N) or its choices. Recursive."""
    ctx = typer.Context(command)
    params = list(command.params)
    help_option = command.get_help_option(ctx)
    if help_option is not None:
        params.append(help_option)
    for param in params:
        if param.param_type_name == "argument":
            param.metavar = param.metavar or (param.name or "value").upper()
            if hasattr(param, "display_type"):  # typer's <int> / <list[Path]> column
                param.display_type_rich = _no_type
        elif param.metavar is not None:
            continue
        elif getattr(param, "is_flag", False):
            param.metavar = ""
        elif hasattr(param, "display_type"):  # typer's own help types (<str>, <path>, ...)
            label = str(param.display_type(ctx)).strip("<>")
            param.metavar = VALUE_NAMES.get(label, label)
    if getattr(command, "help", None):
        command.help = reflowed(command.help)
    for sub in getattr(command, "commands", {}).values():
        tidy_help(sub)


def reflowed(text: str) -> str:
    """A docstring's paragraphs each as one line, so the terminal wraps them at its width
    (typer keeps a docstring's line breaks); a list item or an indented line keeps its own."""
    paragraphs = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        lines: list[str] = []
        for line in paragraph.split("\n"):
            if lines and not line.startswith(("- ", "* ", " ")):
                lines[-1] += " " + line.strip()
            else:
                lines.append(line)
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)

# Record numbers fit a 32-bit column in every database (SQLite and PostgreSQL).
MAX_ID = 2**31 - 1
ChangeIdArgument = Annotated[int, typer.Argument(metavar="CHANGE", min=1, max=MAX_ID,
                                                 help="Change number")]


def progress_bar() -> Progress:
    """The bar long commands show on stderr: description, bar, done of total, the task's
    `rate` and (in red) `problems` fields, elapsed time and ETA."""
    # imported here, for start-up time: most commands show no progress bar
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TextColumn("[red]{task.fields[problems]}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=False)


def user_errors(func: F) -> F:
    """Turn library errors into one clear line and exit code 2."""
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DpaError as exc:
            err.print(f"[bold red]error:[/] {escape(exc.message)}", markup=True, soft_wrap=True,
                      highlight=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None
    return wrapper  # type: ignore[return-value]


def require_docx(output: Path) -> None:
    if output.suffix.lower() != ".docx":
        raise DpaError("the output must be a .docx file", path=output,
                       fix="give -o a name ending in .docx")


def option_text(value: str, option: str) -> str:
    """A free-text option (an objection text, an actor, a reason) checked like YAML text: a
    character no document, e-mail or database can hold is refused, naming the option."""
    return xml_safe_text(value, field=option)


