"""The `dpa` command line (thin: each command parses options, calls the library, prints)."""

from .app import app, main

__all__ = ["app", "main"]
