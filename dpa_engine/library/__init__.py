"""The clause library: its file format (schema) and strict loading (loader)."""

from .loader import Article, Library, LoadedClause, Problem, lint_library, load_library

__all__ = ["Article", "Library", "LoadedClause", "Problem", "lint_library", "load_library"]
