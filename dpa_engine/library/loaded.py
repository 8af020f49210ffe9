"""The loaded clause library as the engine uses it: articles, clauses with their compiled
texts and conditions, labels and standard terms; and the problems loading reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Template
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import LibraryError
from ..models import Language
from .format import ArticleHeader, Clause

if TYPE_CHECKING:
    # rule_engine is imported where conditions are compiled (conditions.py): importing it
    # builds its parser, which every `dpa` command would pay at start
    import rule_engine

LABELS_FILE = "labels.yaml"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the library, as lint reports it."""

    code: str
    path: Path
    line: int | None
    field: str | None
    what: str
    fix: str | None = None

    def as_error(self) -> LibraryError:
        return LibraryError(self.what, path=self.path, line=self.line, field=self.field, fix=self.fix)

    @property
    def message(self) -> str:
        return self.as_error().message


@dataclass(frozen=True)
class LoadedClause:
    clause: Clause
    family: str
    path: Path
    line: int
    templates: dict[Language, Template]
    condition: rule_engine.Rule | None
    facts_used: tuple[str, ...]
    placeholders: frozenset[str]
    refs: frozenset[str]
    ref_lines: dict[str, int | None] = field(default_factory=dict)  # nl text: target -> line

    @property
    def id(self) -> str:
        return self.clause.id


@dataclass(frozen=True)
class Article:
    family: str
    header: ArticleHeader
    path: Path
    clauses: tuple[LoadedClause, ...]


@dataclass
class Library:
    path: Path
    articles: list[Article]
    labels: dict[str, dict[Language, str]]
    defaults: dict[str, Any]
    negotiable: frozenset[str]
    content_hash: str
    environment: ImmutableSandboxedEnvironment
    clauses: dict[str, LoadedClause] = field(default_factory=dict)
    # File name -> the bytes loaded (and hashed): what a manifest snapshots.
    sources: dict[str, bytes] = field(default_factory=dict)

    def label(self, key: str, language: Language) -> str:
        return self.labels[key][language]



class Collector:
    """The problems found while loading, in the order found."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, code: str, doc_path: Path, line: int | None, fld: str | None, what: str,
            fix: str | None = None) -> None:
        self.problems.append(Problem(code, doc_path, line, fld, what, fix))
