"""The clause library: its file format (schema), the loaded library (loaded) and its strict
loading (loader)."""

from .loaded import Article, Library, LoadedClause, Problem
from .loader import lint_library, load_library

__all__ = ["Article", "Library", "LoadedClause", "Problem", "lint_library", "load_library"]
