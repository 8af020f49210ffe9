"""The web app: FastAPI with server-rendered pages on the same library and database as the CLI.

`create_app` loads the clause library, the template and the provider profile once per worker
process; every request reuses them.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

from dpa_engine import Engine
from dpa_engine.storage import open_database

from . import (
    public,
    routes_admin,
    routes_agreements,
    routes_auth,
    routes_batch,
    routes_change_actions,
    routes_change_tasks,
    routes_changes,
    routes_files,
    routes_legal,
)
from .pages import STATIC, render
from .security import Refused, authorize, security_middleware
from .workflow import WebContext

MAX_REQUEST_BYTES = 11_000_000  # a signed PDF of 10 MB plus the form around it


class WebSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    provider: Path
    database: str | None = None  # URL or SQLite path; default $DPA_DATABASE_URL, then .dpa/dpa.db
    library: Path | None = None
    template: Path | None = None


def create_app(settings: WebSettings, engine: Engine | None = None) -> FastAPI:
    """The app; `engine` lets several apps in one process share a loaded library."""
    engine = engine or Engine.load(settings.library, settings.template)
    context = WebContext.load(open_database(settings.database), engine, settings.provider)
    app = FastAPI(title="dpa-engine", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(authorize)])
    app.state.web = context
    app.middleware("http")(security_middleware(MAX_REQUEST_BYTES))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # (the change actions first: /legal/changes/new before /legal/changes/{change_id})
    for module in (routes_auth, routes_batch, routes_agreements, routes_files, routes_legal,
                   routes_change_actions, routes_change_tasks, routes_changes, routes_admin):
        app.include_router(module.router)
    # The customer's side: notice pages behind signed links, the public sub-processor page.
    app.include_router(public.router)
    public.configure(app, public.load_settings(db=context.db, library=settings.library))
    app.add_exception_handler(Refused, _refused)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    return app


async def _refused(request: Request, exc: Refused) -> Response:
    response: Response
    if exc.status == 401 and request.method == "GET":
        response = RedirectResponse("/login", status_code=303)
    else:
        response = render(request, "error.html", status=exc.status, message=exc.reason)
    response.headers["x-dpa-refused"] = exc.kind
    return response


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    return render(request, "error.html", status=exc.status_code, message=str(exc.detail))


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every route the app answers (through included routers too), for the access test."""
    found: list[APIRoute] = []

    def walk(routes: list[BaseRoute]) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                found.append(route)
            elif (inner := getattr(route, "original_router", None)) is not None:
                walk(inner.routes)

    walk(app.router.routes)
    return found
