"""The app bench_public.py serves with uvicorn (2 workers): the public router in a bare
FastAPI app with the security headers, configured from the environment as `dpa serve` would
(DPA_DATABASE_URL, DPA_PUBLIC_URL, DPA_SECRET_KEY, DPA_SMTP_*)."""

from __future__ import annotations

from fastapi import FastAPI

from dpa_engine.web.public import router, security_headers


def create() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    security_headers(app)
    app.include_router(router)
    return app
