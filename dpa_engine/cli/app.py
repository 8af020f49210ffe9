"""The `dpa` command line: the one place where every command is registered.

Each command lives in a module (agreements.py, legal.py, change.py, setup.py, ...) with a
`register(app)` function. The modules are imported only when one of their commands runs, so
`dpa --help` loads none of them and `dpa generate` never loads SQLAlchemy or Alembic: the
table below gives each command's module and the one-line help that `dpa --help` lists (a
test checks it against the command's own help). To add commands, add rows.

Library errors (DpaError) become one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from ..version import __version__
from .common import err, tidy_help

AGREEMENTS = "Agreements"
LEGAL = "For legal"
NOTICES = "Sub-processor change notices"
WEB = "Web app"
SETUP = "Setup"


@dataclass(frozen=True)
class Entry:
    name: str
    module: str  # under dpa_engine.cli
    help: str
    panel: str


COMMANDS: tuple[Entry, ...] = (
    Entry("init", "setup", "Write a starter folder: a provider profile to fill in and an "
          "example deal.", SETUP),
    Entry("generate", "agreements", "Generate the Word agreement for a deal.", AGREEMENTS),
    Entry("explain", "agreements", "Explain which clauses a deal gets and why, and list its "
          "deviations.", AGREEMENTS),
    Entry("batch", "agreements", "Generate many agreements at once; failures are isolated and "
          "summarised.", AGREEMENTS),
    Entry("schema", "agreements", "Print the JSON Schema of an input format.", AGREEMENTS),
    Entry("clauses", "legal", "Tools for legal: check the clause library.", LEGAL),
    Entry("approve", "legal", "Record legal's approval of the deal's current deviations (stored "
          "next to the deal).", LEGAL),
    Entry("redline", "legal", "A Word document with tracked changes from the standard agreement "
          "to the negotiated one.", LEGAL),
    Entry("regenerate", "legal", "Make an agreement again from its manifest: same clause "
          "versions, data and text, even after the clause library moved on.", LEGAL),
    Entry("customers", "customers", "The register of customers and agreements.", NOTICES),
    Entry("subprocessors", "subprocessors", "The published sub-processor list.", NOTICES),
    Entry("change", "change", "Propose, plan, send and close (or withdraw) a change.", NOTICES),
    Entry("objection", "objection", "Record customers' objections and consents.", NOTICES),
    Entry("audit", "audit", "The hash-chained audit log and evidence pack.", NOTICES),
    Entry("serve", "web", "Start the web app for account managers and legal.", WEB),
    Entry("users", "web", "Users of the web app.", WEB),
)


class LazyGroup(TyperGroup):
    """The root group: lists COMMANDS from the table, imports a module when it runs."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._loaded: dict[str, typer.core.TyperGroup] = {}
        self._listing = False
        for entry in COMMANDS:  # stand-ins: names for "did you mean", help for the listing
            self.commands[entry.name] = TyperCommand(entry.name, help=entry.help,
                                                     rich_help_panel=entry.panel)
        tidy_help(self)

    def list_commands(self, ctx: Any) -> list[str]:
        return [entry.name for entry in COMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = next((e for e in COMMANDS if e.name == cmd_name), None)
        if entry is None or self._listing:
            return self.commands.get(cmd_name)
        return self.module_group(entry.module).get_command(ctx, cmd_name)

    def module_group(self, module: str) -> TyperGroup:
        """The commands a module registers, as a click group (imported on first use)."""
        if module not in self._loaded:
            # Imported here, not at the top: startup time (see the module docstring).
            imported = importlib.import_module(f"{__package__}.{module}")
            holder = typer.Typer()
            imported.register(holder)
            group = typer.main.get_group(holder)
            tidy_help(group)
            self._loaded[module] = group
        return self._loaded[module]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"dpa {__version__}")
        raise typer.Exit()


app = typer.Typer(cls=LazyGroup, no_args_is_help=True, add_completion=False,
                  help="Generate and run GDPR processor agreements (DPAs).")


@app.callback()
def root(
    version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_show_version, help="Print the version and exit.")]
    = False,
) -> None:
    """Generate and run GDPR processor agreements (DPAs)."""


def main() -> None:
    if os.environ.get("DPA_DEBUG"):
        app()
        return
    try:
        code = app(standalone_mode=False)
    except SystemExit:
        raise
    except typer.Abort:
        err.print("interrupted")
        sys.exit(130)
    except typer.TyperException as exc:  # a usage error: one line, not Typer's box
        sys.exit(usage_error(exc))
    except Exception as exc:  # a bug, not a user error: one line, ask for a report
        err.print(f"internal error: {internal_error(exc)} (rerun with DPA_DEBUG=1 for details "
                  "and report it)", markup=False, soft_wrap=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def usage_error(exc: typer.TyperException) -> int:
    """Print a command-line usage error as one line; its exit code (2)."""
    context = getattr(exc, "ctx", None)
    format_message = getattr(exc, "format_message", None)
    message = " ".join((format_message() if callable(format_message) else str(exc)).split())
    if not message or message.startswith("Usage:"):  # `dpa` alone: the help was shown
        return int(getattr(exc, "exit_code", 2))
    command = context.command_path if context is not None else "dpa"
    err.print(f"error: {command}: {message} — fix: see '{command} --help'", markup=False,
              soft_wrap=True)
    return int(getattr(exc, "exit_code", 2))


# A database driver's message quotes the SQL and its parameters (customer names, objection
# texts): an error line never shows them.
_QUIET_MODULES = ("sqlalchemy", "psycopg", "sqlite3", "alembic")


def internal_error(exc: Exception) -> str:
    """The one line shown for a bug: the type, and the message unless it may hold data."""
    if type(exc).__module__.startswith(_QUIET_MODULES):
        return f"database error {type(exc).__name__}"
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"
