"""`dpa serve` (the web app) and `dpa users add` (its users)."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from .common import LibraryOption, TemplateOption, out, user_errors

PROVIDER_ENV = "DPA_PROVIDER"
DbOption = Annotated[str | None, typer.Option(
    "--db", metavar="URL", help="Database URL or SQLite file (default: $DPA_DATABASE_URL, else "
    ".dpa/dpa.db in the current folder)")]


class RoleName(StrEnum):
    account_manager = "account-manager"
    legal = "legal"
    admin = "admin"


def serve(
    provider: Annotated[Path | None, typer.Option(
        "--provider", help="Provider profile (default: $DPA_PROVIDER, else ./provider.yaml)")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on")] = 8000,
    db: DbOption = None,
    library: LibraryOption = None,
    template: TemplateOption = None,
) -> None:
    """Start the web app for account managers and legal."""
    # imported here: FastAPI and uvicorn cost ~0.3 s that other commands need not pay
    import uvicorn

    from ..web import WebSettings, create_app

    profile = provider or Path(os.environ.get(PROVIDER_ENV, "provider.yaml"))
    if not profile.is_file():
        raise InputError("provider profile not found", path=profile, field="--provider",
                         fix="pass --provider examples/provider.yaml or set $DPA_PROVIDER")
    app = create_app(WebSettings(provider=profile, database=db, library=library,
                                 template=template))
    out.print(f"dpa-engine web app on http://{host}:{port}/ (Ctrl+C stops it)")
    uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="info")


def users_add(
    email: Annotated[str, typer.Argument(help="The user's e-mail address (their login)")],
    role: Annotated[RoleName, typer.Option("--role", help="account-manager, legal or admin")],
    password: Annotated[str, typer.Option(
        "--password", prompt=True, hide_input=True, confirmation_prompt=True,
        envvar="DPA_NEW_PASSWORD", help="At least 12 characters (prompted when omitted)")],
    language: Annotated[str, typer.Option("--language", help="nl, fr or en")] = "en",
    db: DbOption = None,
) -> None:
    """Create a user of the web app."""
    # imported here: SQLAlchemy and the web app cost what other commands need not pay
    from ..storage import open_database
    from ..web.users import Role, add_user

    with open_database(db).transaction() as session:
        user = add_user(session, email, password, Role(role.value), language)
    out.print(f"Added {user.email} ({user.role.value})", markup=False)


def register(app: typer.Typer) -> None:
    app.command("serve")(user_errors(serve))
    users_app = typer.Typer(no_args_is_help=True, help="Users of the web app.")
    users_app.command("add")(user_errors(users_add))
    app.add_typer(users_app, name="users")
