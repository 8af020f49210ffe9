"""The `dpa` command line: the one place where every command group is registered.

Library errors (DpaError) become one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import os
import sys

import typer

from . import agreements, legal, notices
from .common import err

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Generate and run GDPR processor agreements (DPAs).")
agreements.register(app)
legal.register(app)
notices.register(app)


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
