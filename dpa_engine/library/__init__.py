"""The clause library: its file format (schema), the loaded library (loaded), its strict
loading (loader), and the sets of texts kept beside the clauses (texts)."""

from .loaded import Article, Library, LoadedClause, Problem
from .loader import lint_library, load_library

__all__ = ["Article", "Library", "LoadedClause", "Problem", "lint_library", "load_library"]
