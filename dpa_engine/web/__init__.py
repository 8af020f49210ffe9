"""The web app for account managers and legal (`dpa serve`)."""

from .app import WebSettings, create_app

__all__ = ["WebSettings", "create_app"]
