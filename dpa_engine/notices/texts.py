"""Notice texts as data legal can edit: `clauses/notices/*.yaml`, in nl, fr and en.

Loaded strictly (file:line for every problem): every key in `TEXT_KEYS` exactly once, in
every language, with the same placeholders in each language and only known placeholders.
Texts are rendered in the clause sandbox (`clause_environment()`); values are data, never
template code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Template, TemplateError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict

from ..errors import LibraryError, did_you_mean
from ..library.textenv import clause_environment
from ..models import LANGUAGES, Language
from ..yamlsource import load_yaml, validate

PLACEHOLDERS = frozenset({
    "customer_name", "provider_name", "change_number", "subprocessor", "legal_entity",
    "replaced", "services", "effective_date", "deadline_date", "deadline_time", "window",
    "window_days", "contact_email", "agreement_reference", "list_date", "scc_module",
    # the customer's side (web): its notice page, its contact's name, its time-zone label
    "notice_url", "contact_name", "time_zone",
    # a withdrawal notice: the day the change was announced to the customer
    "notified_date",
})

TEXT_KEYS = frozenset({
    # change notice
    "subject_objection", "subject_consent", "subject_informational", "letter_title",
    "reference_line", "greeting", "intro_add", "intro_replace", "intro_remove",
    "incidental_note", "details_heading", "label_subprocessor", "label_legal_entity",
    "label_country", "label_locations", "label_purpose", "label_services", "label_transfer",
    "label_effective_date", "label_replaces", "transfer_none", "transfer_adequacy",
    "transfer_scc", "transfer_bcr", "window_calendar", "window_business", "action_objection",
    "silence_objection", "action_consent", "silence_consent", "remedy_terminate-service",
    "remedy_terminate-either", "action_informational", "list_offer", "closing", "letter_page",
    "letter_page_of", "notice_link", "greeting_named", "time_zone_BE", "time_zone_NL",
    "time_zone_other",
    # withdrawal of a change already announced
    "subject_withdrawal", "withdrawal_intro", "withdrawal_effect",
    # sub-processor list
    "list_title", "list_subtitle_customer", "list_subtitle_general", "label_engagement",
    "engagement_systematic", "engagement_incidental", "label_status", "status_active",
    "status_blocked", "list_empty",
})


class NoticeTextFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    texts: dict[str, dict[Language, str]]


@dataclass(frozen=True)
class NoticeTexts:
    """All notice texts, compiled: `render(key, language, **values)`."""

    folder: Path
    templates: dict[str, dict[Language, Template]]
    # the placeholders each text uses (the same in every language), sorted
    placeholders: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # rendered texts by (key, language, values of the placeholders the text uses): a fan-out
    # renders the same labels and sentences for thousands of customers
    _memo: dict[tuple[object, ...], str] = field(default_factory=dict, compare=False,
                                                  repr=False)

    def render(self, key: str, language: Language, **values: object) -> str:
        names = self.placeholders.get(key)
        memo_key = None if names is None else (key, language, *(values.get(n) for n in names))
        if memo_key is not None:
            done = self._memo.get(memo_key)
            if done is not None:
                return done
        template = self.templates[key][language]
        try:
            text = template.render(values).strip()
        except TemplateError as exc:
            raise LibraryError(f"notice text '{key}' cannot be rendered: {exc}", path=self.folder,
                               field=f"{key}.{language}",
                               fix="use only the placeholders listed in clauses/notices/README.md"
                               ) from None
        if memo_key is not None:
            if len(self._memo) > MEMO_LIMIT:
                self._memo.clear()
            self._memo[memo_key] = text
        return text


MEMO_LIMIT = 50_000


def default_notice_folder(library: Path) -> Path:
    return library / "notices"


def load_notice_texts(folder: Path) -> NoticeTexts:
    """Load and check every notice text; the first problem raises LibraryError with file:line."""
    if not folder.is_dir():
        raise LibraryError("notice text folder not found", path=folder,
                           fix="restore clauses/notices/ or point --library at the clause library")
    env = clause_environment()
    templates: dict[str, dict[Language, Template]] = {}
    placeholders: dict[str, tuple[str, ...]] = {}
    origin: dict[str, Path] = {}
    for path in sorted(folder.glob("*.yaml")):
        doc = load_yaml(path, error=LibraryError)
        parsed = validate(NoticeTextFile, doc, error=LibraryError)
        for key, texts in parsed.texts.items():
            line = doc.line_of(("texts", key))
            if key not in TEXT_KEYS:
                raise LibraryError(f"unknown notice text '{key}'", path=path, line=line, field=key,
                                   fix=did_you_mean(key, set(TEXT_KEYS)) or "remove it")
            if key in origin:
                raise LibraryError(f"notice text '{key}' is also defined in {origin[key].name}",
                                   path=path, line=line, field=key, fix="keep one definition")
            origin[key] = path
            templates[key], placeholders[key] = _compile(key, texts, env, path, line)
    missing = sorted(TEXT_KEYS - set(templates))
    if missing:
        raise LibraryError(f"notice text(s) missing: {', '.join(missing)}", path=folder,
                           fix="add them, in nl, fr and en, to a file in this folder")
    return NoticeTexts(folder=folder, templates=templates, placeholders=placeholders)


def _compile(key: str, texts: dict[Language, str], env: ImmutableSandboxedEnvironment,
             path: Path, line: int | None) -> tuple[dict[Language, Template], tuple[str, ...]]:
    compiled: dict[Language, Template] = {}
    used: dict[Language, frozenset[str]] = {}
    for language in LANGUAGES:
        text = texts.get(language)
        if not text or not text.strip():
            raise LibraryError(f"notice text '{key}' has no '{language}' version", path=path,
                               line=line, field=f"{key}.{language}",
                               fix=f"add '{language}:' (every notice text exists in nl, fr and en)")
        try:
            names = frozenset(meta.find_undeclared_variables(env.parse(text)))
            compiled[language] = env.from_string(text)
        except TemplateError as exc:
            raise LibraryError(f"notice text '{key}' ({language}) is not a valid template: {exc}",
                               path=path, line=line, field=f"{key}.{language}",
                               fix="write placeholders as {{ name }}") from None
        unknown = names - PLACEHOLDERS
        if unknown:
            name = sorted(unknown)[0]
            raise LibraryError(f"notice text '{key}' ({language}) uses unknown placeholder "
                               f"'{name}'", path=path, line=line, field=f"{key}.{language}",
                               fix=did_you_mean(name, set(PLACEHOLDERS))
                               or "use one of the placeholders in clauses/notices/README.md")
        used[language] = names
    if len(set(used.values())) > 1:
        detail = "; ".join(f"{lang}: {', '.join(sorted(n)) or '-'}" for lang, n in used.items())
        raise LibraryError(f"notice text '{key}' uses different placeholders per language "
                           f"({detail})", path=path, line=line, field=key,
                           fix="use the same placeholders in nl, fr and en")
    return compiled, tuple(sorted(next(iter(used.values()))))
