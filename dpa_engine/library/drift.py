"""Language drift: a clause whose wording changed in one language but not in the others.

`dpa clauses lock` also records, in `languages.lock`, a hash per language (title and text)
of every clause version. A clause version not locked yet is compared with the latest locked
earlier version: when some languages changed and others did not, lint reports
`language-drift`, so legal checks that the unchanged texts still say the same before locking
(a correction of one language only is then locked as it is).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import DpaError, LibraryError
from ..models import LANGUAGES
from ..yamlsource import YamlDocument, load_yaml
from .format import Clause
from .loaded import Library, Problem
from .versions import (
    LOCK_KEY,
    clause_line_cached,
    lock_file_text,
    lock_key,
    normalised,
    versions_in_lock,
)

LANGUAGE_LOCK_FILE = "languages.lock"
_HEADER = (
    "# sha256 of each language (title and text) of every clause version, written by\n"
    "# `dpa clauses lock`; `dpa clauses lint` uses it to report language drift.\n"
)
LanguageHashes = dict[str, str]


def language_hashes(clause: Clause) -> LanguageHashes:
    return {
        lang: hashlib.sha256(
            (normalised(clause.title[lang]) + "\n\n" + normalised(clause.text[lang]))
            .encode("utf-8")).hexdigest()[:16]
        for lang in LANGUAGES
    }


def read_language_lock(library_path: Path) -> dict[str, LanguageHashes]:
    path = library_path / LANGUAGE_LOCK_FILE
    if not path.is_file():
        return {}
    try:
        data = load_yaml(path, error=LibraryError).data or {}
    except DpaError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: {str(k): str(v) for k, v in value.items()} for key, value in data.items()
            if LOCK_KEY.match(str(key)) and isinstance(value, dict)}


def drift_problems(library: Library, locked_versions: set[str]) -> list[Problem]:
    """For every clause version not in versions.lock yet: the languages that changed alone."""
    entries = read_language_lock(library.path)
    documents: dict[Path, YamlDocument] = {}
    problems: list[Problem] = []
    for item in library.clauses.values():
        clause = item.clause
        if lock_key(clause) in locked_versions:
            continue
        earlier = [v for v in versions_in_lock(clause.id, entries) if v < clause.version]
        if not earlier:
            continue
        previous = max(earlier)
        old, new = entries[f"{clause.id}@{previous}"], language_hashes(clause)
        changed = [lang for lang in LANGUAGES if old.get(lang) != new[lang]]
        if not changed or len(changed) == len(LANGUAGES):
            continue
        same = [lang for lang in LANGUAGES if lang not in changed]
        line = clause_line_cached(item, documents, "text", changed[0])
        problems.append(Problem(
            "language-drift", item.path, line, f"{clause.id}.text",
            f"'{clause.id}' changed in {', '.join(changed)} but not in {', '.join(same)} "
            f"since version {previous}",
            f"bring the {', '.join(same)} text(s) in line with the change; if only "
            f"{', '.join(changed)} needed a correction, run `dpa clauses lock` once checked"))
    return problems


def updated_language_lock(library: Library) -> bytes:
    entries = read_language_lock(library.path)
    for item in library.clauses.values():
        entries.setdefault(lock_key(item.clause), language_hashes(item.clause))
    return lock_file_text(_HEADER, entries, flow=True)
