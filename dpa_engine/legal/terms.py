"""Lint rules on the wording, per language:

- `defined-term-unused`: a term the definitions clause defines that no other clause uses;
- `term-used-undefined`: a capitalised term used in a clause text that is neither defined
  (definitions clause, or a “(hereinafter) ...” definition in a text) nor a known proper name;
- `numbers-differ`: the languages of one clause do not contain the same numbers (amounts,
  days, article numbers), after placeholders are removed.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import LibraryError
from ..library import Library, Problem
from ..library.loaded import LoadedClause
from ..library.versions import clause_line
from ..models import LANGUAGES, Language
from ..yamlsource import YamlDocument, load_yaml

DEFINITIONS_CLAUSE = "definitions.terms"

_QUOTED = re.compile(r"[“«]\s*([^”»]+?)\s*[”»]")
_BULLET_TERM = re.compile(r"^- [“«]\s*([^”»]+?)\s*[”»]\s*:", re.MULTILINE)
_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_ARTICLES = re.compile(r"^(?:de|het|een|le|la|les|l'|une|un|the|a|an)\s+", re.IGNORECASE)
_WORD = r"[A-ZÀ-Ý][\w'’-]*"
_CAPITALISED = re.compile(rf"(?<![\w.])({_WORD}(?:\s+{_WORD})*)")
_SENTENCE_START = re.compile(r"(?:^|[.;:!?]\s+|\n\s*(?:- )?|[“«(]\s*)$")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_ZERO_MINUTES = re.compile(r"[.:,]00$")

# Capitalised words that are names, abbreviations or titles, not defined terms.
KNOWN_NAMES: dict[Language, frozenset[str]] = {
    "nl": frozenset({
        "AVG", "EER", "Bijlage", "Europese", "Unie", "Unierecht", "Europees", "Parlement",
        "Raad", "Verordening", "Algemene", "Gegevensbescherming", "Belgisch", "Nederlands",
        "Brusselse", "Uitvoeringsbesluit", "Commissie", "EU", "I", "II", "III", "IV",
        "Economische", "Ruimte",
    }),
    "fr": frozenset({
        "RGPD", "EEE", "Annexe", "Union", "Parlement", "Conseil", "européen", "Européenne",
        "Bruxelles", "UE", "I", "II", "III", "IV", "État", "Espace", "Commission",
    }),
    "en": frozenset({
        "GDPR", "EEA", "Annex", "Article", "Articles", "European", "Union", "Parliament",
        "Council", "Regulation", "General", "Data", "Protection", "Member", "State", "Belgian",
        "Dutch", "Brussels", "Act", "July", "Implementing", "Decision", "Commission", "EU",
        "I", "II", "III", "IV", "April", "Economic", "Area", "Saturday", "Sunday", "Chapter",
    }),
}


def _plain(text: str) -> str:
    return _TEMPLATE.sub(" ", text)


def _stem(word: str) -> str:
    """A defined plural also covers its singular: Diensten -> Dienst, Services -> Service."""
    for ending in ("en", "s"):
        if len(word) > 5 and word.endswith(ending) and word[:-len(ending)][-1:].islower():
            return word[: -len(ending)]
    return word


def _term_pattern(term: str) -> re.Pattern[str]:
    """The term with inflected endings allowed on each word (Subverwerkers, Jours ouvrables)."""
    words = [re.escape(_stem(w)) + r"[a-zà-ÿ]{0,2}" for w in term.split()]
    return re.compile(r"(?<![\w-])" + r"\s+".join(words) + r"(?![\w-])")


def defined_terms(library: Library, language: Language) -> list[str]:
    item = library.clauses.get(DEFINITIONS_CLAUSE)
    if item is None:
        return []
    return [_ARTICLES.sub("", t) for t in _BULLET_TERM.findall(item.clause.text[language])]


def _inline_definitions(library: Library, language: Language) -> set[str]:
    found: set[str] = set()
    for item in library.clauses.values():
        for quoted in _QUOTED.findall(_plain(item.clause.text[language])):
            term = _ARTICLES.sub("", quoted)
            if term[:1].isupper():
                found.add(term)
    return found


def _line(item: LoadedClause, documents: dict[Path, YamlDocument], *keys: str) -> int | None:
    if item.path not in documents:
        documents[item.path] = load_yaml(item.path, error=LibraryError)
    return clause_line(documents[item.path], item.id, "text", *keys) or item.line


def term_problems(library: Library) -> list[Problem]:
    documents: dict[Path, YamlDocument] = {}
    problems: list[Problem] = []
    definitions = library.clauses.get(DEFINITIONS_CLAUSE)
    for language in LANGUAGES:
        defined = defined_terms(library, language)
        others = "\n".join(_plain(i.clause.text[language]) for i in library.clauses.values()
                           if i.id != DEFINITIONS_CLAUSE)
        if definitions is not None:
            for term in defined:
                if not _term_pattern(term).search(others):
                    problems.append(Problem(
                        "defined-term-unused", definitions.path,
                        _line(definitions, documents, language),
                        f"{DEFINITIONS_CLAUSE}.text.{language}",
                        f"“{term}” is defined but no clause uses it ({language})",
                        "use the term where it is meant, or remove its definition"))
        terms = sorted({*defined, *_inline_definitions(library, language)}, key=len, reverse=True)
        known = [_term_pattern(t) for t in terms]  # longest first: "Incidental Sub-processor"
        names = KNOWN_NAMES[language]
        for item in library.clauses.values():
            undefined = _undefined_terms(_plain(item.clause.text[language]), known, names)
            for term in sorted(undefined):
                problems.append(Problem(
                    "term-used-undefined", item.path, _line(item, documents, language),
                    f"{item.id}.text.{language}",
                    f"“{term}” is capitalised like a defined term but is not defined ({language})",
                    f"define it in {DEFINITIONS_CLAUSE}, write it in lower case, or (for a "
                    "name) add it to KNOWN_NAMES in dpa_engine/legal/terms.py"))
    return problems


def _undefined_terms(text: str, known: list[re.Pattern[str]], names: frozenset[str]) -> set[str]:
    for pattern in known:
        text = pattern.sub(" ", text)
    found: set[str] = set()
    for match in _CAPITALISED.finditer(text):
        if _SENTENCE_START.search(text[:match.start()]):
            continue
        words = [w for w in match.group(1).split() if w not in names and not w.isupper()]
        if words:
            found.add(" ".join(words))
    return found


def number_problems(library: Library) -> list[Problem]:
    documents: dict[Path, YamlDocument] = {}
    problems: list[Problem] = []
    for item in library.clauses.values():
        numbers = {lang: sorted(_ZERO_MINUTES.sub("", n) for n in _NUMBER.findall(
            _plain(item.clause.text[lang]).replace("\u00a0", ""))) for lang in LANGUAGES}
        if numbers["nl"] == numbers["fr"] == numbers["en"]:
            continue
        detail = "; ".join(f"{lang}: {', '.join(n) or '-'}" for lang, n in numbers.items())
        problems.append(Problem(
            "numbers-differ", item.path, _line(item, documents), f"{item.id}.text",
            f"the languages of '{item.id}' do not state the same numbers ({detail})",
            "make every language state the same amounts, periods and article numbers"))
    return problems
