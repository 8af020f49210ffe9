"""Sets of texts legal maintains as data in the clause library, in nl, fr and en: the notice
texts (`clauses/notices/`, spec in `notices.texts`) and the customer's page texts
(`clauses/portal/`, spec in `customers.pagetexts`), through one strict loader.

Loaded strictly (file:line for every problem): every key of the set exactly once, in every
language, with the same placeholders in each language and, where the set names them, only
known placeholders. Texts are rendered in the clause sandbox (`clause_environment()`);
values are data, never template code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Template, TemplateError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict

from ..errors import LibraryError, did_you_mean
from ..models import LANGUAGES, Language
from ..yamlsource import load_yaml, validate
from .textenv import clause_environment


class TextFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    texts: dict[str, dict[Language, str]]


@dataclass(frozen=True)
class TextSetSpec:
    """What one set of texts must hold, and how its problems are named."""

    kind: str  # 'notice text', 'page text': how messages name one text
    keys: frozenset[str]
    placeholders: frozenset[str] | None  # None: any name, as long as the languages agree
    folder_name: str  # the folder of the clause library that holds them
    folder_fix: str  # what to do when the folder is missing
    placeholder_fix: str  # where the allowed placeholders are listed

    def folder_in(self, library: Path) -> Path:
        return library / self.folder_name

    def load(self, folder: Path) -> TextSet:
        """Load and check the texts in `folder`; the first problem raises LibraryError with
        file:line."""
        if not folder.is_dir():
            raise LibraryError(f"{self.kind} folder not found", path=folder, fix=self.folder_fix)
        env = clause_environment()
        templates: dict[str, dict[Language, Template]] = {}
        origin: dict[str, Path] = {}
        for path in sorted(folder.glob("*.yaml")):
            doc = load_yaml(path, error=LibraryError)
            parsed = validate(TextFile, doc, error=LibraryError)
            for key, texts in parsed.texts.items():
                line = doc.line_of(("texts", key))
                if key not in self.keys:
                    raise LibraryError(f"unknown {self.kind} '{key}'", path=path, line=line,
                                       field=key, fix=did_you_mean(key, set(self.keys))
                                       or "remove it")
                if key in origin:
                    raise LibraryError(f"{self.kind} '{key}' is also defined in {origin[key].name}",
                                       path=path, line=line, field=key, fix="keep one definition")
                origin[key] = path
                templates[key] = _compile(key, texts, env, path, line, self)
        missing = sorted(self.keys - set(templates))
        if missing:
            raise LibraryError(f"{self.kind}(s) missing: {', '.join(missing)}", path=folder,
                               fix="add them, in nl, fr and en, to a file in this folder")
        return TextSet(folder=folder, spec=self, templates=templates)


@dataclass(frozen=True)
class TextSet:
    """A set of texts, compiled: `render(key, language, **values)`."""

    folder: Path
    spec: TextSetSpec
    templates: dict[str, dict[Language, Template]]

    def render(self, key: str, language: Language, **values: object) -> str:
        try:
            return self.templates[key][language].render(values).strip()
        except TemplateError as exc:
            raise LibraryError(f"{self.spec.kind} '{key}' cannot be rendered: {exc}",
                               path=self.folder, field=f"{key}.{language}",
                               fix=self.spec.placeholder_fix) from None


def _compile(key: str, texts: dict[Language, str], env: ImmutableSandboxedEnvironment,
             path: Path, line: int | None, spec: TextSetSpec) -> dict[Language, Template]:
    kind = spec.kind
    compiled: dict[Language, Template] = {}
    used: dict[Language, frozenset[str]] = {}
    for language in LANGUAGES:
        text = texts.get(language)
        if not text or not text.strip():
            raise LibraryError(f"{kind} '{key}' has no '{language}' version", path=path,
                               line=line, field=f"{key}.{language}",
                               fix=f"add '{language}:' (every text exists in nl, fr and en)")
        try:
            names = frozenset(meta.find_undeclared_variables(env.parse(text)))
            compiled[language] = env.from_string(text)
        except TemplateError as exc:
            raise LibraryError(f"{kind} '{key}' ({language}) is not a valid template: {exc}",
                               path=path, line=line, field=f"{key}.{language}",
                               fix="write placeholders as {{ name }}") from None
        unknown = names - spec.placeholders if spec.placeholders is not None else set()
        if unknown:
            name = sorted(unknown)[0]
            raise LibraryError(f"{kind} '{key}' ({language}) uses unknown placeholder "
                               f"'{name}'", path=path, line=line, field=f"{key}.{language}",
                               fix=did_you_mean(name, set(spec.placeholders or ()))
                               or spec.placeholder_fix)
        used[language] = names
    if len(set(used.values())) > 1:
        detail = "; ".join(f"{lang}: {', '.join(sorted(n)) or '-'}" for lang, n in used.items())
        raise LibraryError(f"{kind} '{key}' uses different placeholders per language "
                           f"({detail})", path=path, line=line, field=key,
                           fix="use the same placeholders in nl, fr and en")
    return compiled
