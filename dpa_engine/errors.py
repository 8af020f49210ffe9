"""One exception hierarchy. Every message says what is wrong, where, and how to fix it."""

from __future__ import annotations

import difflib
from pathlib import Path


class DpaError(Exception):
    """Base class: an error the user can fix. The CLI prints it on one line, exit code 2."""

    def __init__(
        self,
        what: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.what = what
        self.path = Path(path) if path is not None else None
        self.line = line
        self.field = field
        self.fix = fix
        super().__init__(self.message)

    @property
    def where(self) -> str:
        if self.path is None:
            return ""
        return f"{self.path}:{self.line}" if self.line else str(self.path)

    @property
    def message(self) -> str:
        parts = []
        if self.where:
            parts.append(f"{self.where}:")
        if self.field:
            parts.append(f"{self.field}:")
        parts.append(self.what)
        text = " ".join(parts)
        if self.fix:
            text += f" — fix: {self.fix}"
        return text


class InputError(DpaError):
    """A deal file or provider profile is unreadable or invalid."""


class LibraryError(DpaError):
    """The clause library is invalid."""


class RuleError(DpaError):
    """The deal's facts contradict what a rule requires (e.g. no Annex III special measures)."""


class RenderError(DpaError):
    """The document could not be produced (template, LibreOffice, file system)."""


def did_you_mean(name: str, candidates: list[str] | set[str]) -> str | None:
    """A 'did you mean' suggestion for a misspelt name, or None."""
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None
