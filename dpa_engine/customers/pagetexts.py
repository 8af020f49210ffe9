"""Texts of the customer's side of the web app (notice page, public list, their e-mails):
`clauses/portal/*.yaml`, in nl, fr and en, data legal can edit.

Loaded strictly like the notice texts: every key in `PAGE_TEXT_KEYS` exactly once, in every
language, with the same placeholders in each language. Rendered in the clause sandbox (undefined
names are errors); values are plain text, escaped by the HTML templates that show them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Template, TemplateError, meta
from pydantic import BaseModel, ConfigDict

from ..errors import LibraryError, did_you_mean
from ..library.textenv import clause_environment
from ..models import LANGUAGES, Language
from ..yamlsource import load_yaml, validate

PAGE_TEXT_KEYS = frozenset({
    "skip_link", "notice_title", "notice_for", "current_list_heading", "resulting_list_heading",
    "deadline_label", "deadline_value", "tz_BE", "tz_NL", "tz_other", "answer_heading",
    "object_intro", "consent_intro", "acknowledge_intro", "reason_label", "comment_label",
    "reason_missing", "button_object", "button_consent", "button_refuse", "button_acknowledge",
    "confirm_title", "confirm_object", "confirm_consent", "confirm_refuse",
    "confirm_acknowledge", "button_confirm", "button_back", "receipt_title", "receipt_text",
    "receipt_mail", "receipt_late", "answer_object", "answer_consent", "answer_refuse",
    "answer_acknowledge", "change_by_email", "outcome_heading", "outcome_deemed-approved",
    "outcome_objected", "outcome_consented", "outcome_refused", "outcome_no-consent",
    "outcome_informed", "outcome_not-notified", "outcome_pending", "refused_title",
    "refused_text", "too_many", "form_expired", "greeting_named", "greeting_anonymous",
    "mail_answer_subject", "mail_answer_body", "mail_closing", "pub_title", "pub_intro",
    "pub_current", "pub_upcoming", "pub_upcoming_none", "pub_change_add", "pub_change_replace",
    "pub_change_remove", "pub_archive", "pub_version", "pub_added", "pub_removed",
    "pub_changed", "pub_first", "pub_feeds", "sub_heading", "sub_email_label", "sub_button",
    "sub_note", "sub_bad_email", "sub_sent_title", "sub_sent_text", "sub_confirm_title",
    "sub_confirm_text", "sub_confirm_button", "sub_confirmed_title", "sub_confirmed_text",
    "unsub_title", "unsub_text", "unsub_button", "unsub_done_title", "unsub_done_text",
    "sub_invalid", "pub_unpublished_title", "pub_unpublished", "mail_sub_confirm_subject",
    "mail_sub_confirm_body", "mail_upcoming_subject",
    "mail_upcoming_body", "mail_unsubscribe",
})


class PageTextFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    texts: dict[str, dict[Language, str]]


@dataclass(frozen=True)
class PageTexts:
    """Every page text, compiled: `render(key, language, **values)`."""

    folder: Path
    templates: dict[str, dict[Language, Template]]

    def render(self, key: str, language: Language, **values: object) -> str:
        try:
            return self.templates[key][language].render(values).strip()
        except TemplateError as exc:
            raise LibraryError(f"page text '{key}' cannot be rendered: {exc}", path=self.folder,
                               field=f"{key}.{language}",
                               fix="use only the placeholders the other languages use") from None


def default_page_folder(library: Path) -> Path:
    return library / "portal"


def load_page_texts(folder: Path) -> PageTexts:
    """Load and check every page text; the first problem raises LibraryError with file:line."""
    if not folder.is_dir():
        raise LibraryError("page text folder not found", path=folder,
                           fix="restore clauses/portal/ or point --library at the clause library")
    env = clause_environment()
    templates: dict[str, dict[Language, Template]] = {}
    for path in sorted(folder.glob("*.yaml")):
        doc = load_yaml(path, error=LibraryError)
        parsed = validate(PageTextFile, doc, error=LibraryError)
        for key, texts in parsed.texts.items():
            line = doc.line_of(("texts", key))
            if key not in PAGE_TEXT_KEYS:
                raise LibraryError(f"unknown page text '{key}'", path=path, line=line, field=key,
                                   fix=did_you_mean(key, set(PAGE_TEXT_KEYS)) or "remove it")
            if key in templates:
                raise LibraryError(f"page text '{key}' is defined twice", path=path, line=line,
                                   field=key, fix="keep one definition")
            compiled: dict[Language, Template] = {}
            used: set[frozenset[str]] = set()
            for language in LANGUAGES:
                text = texts.get(language)
                if not text or not text.strip():
                    raise LibraryError(f"page text '{key}' has no '{language}' version", path=path,
                                       line=line, field=f"{key}.{language}",
                                       fix=f"add '{language}:' (every text exists in nl, fr and en)")
                try:
                    used.add(frozenset(meta.find_undeclared_variables(env.parse(text))))
                    compiled[language] = env.from_string(text)
                except TemplateError as exc:
                    raise LibraryError(f"page text '{key}' ({language}) is not a valid template: "
                                       f"{exc}", path=path, line=line, field=f"{key}.{language}",
                                       fix="write placeholders as {{ name }}") from None
            if len(used) > 1:
                raise LibraryError(f"page text '{key}' uses different placeholders per language",
                                   path=path, line=line, field=key,
                                   fix="use the same placeholders in nl, fr and en")
            templates[key] = compiled
    missing = sorted(PAGE_TEXT_KEYS - set(templates))
    if missing:
        raise LibraryError(f"page text(s) missing: {', '.join(missing)}", path=folder,
                           fix="add them, in nl, fr and en, to a file in this folder")
    return PageTexts(folder=folder, templates=templates)
