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
        app()
    except SystemExit:
        raise
    except Exception as exc:  # a bug, not a user error: one line, ask for a report
        err.print(f"internal error: {type(exc).__name__}: {exc} (rerun with DPA_DEBUG=1 for "
                  "details and report it)", markup=False, soft_wrap=True)
        sys.exit(1)


