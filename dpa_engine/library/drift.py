"""Language drift: a clause whose wording changed in one language but not in the others.

`dpa clauses lock` also records, in `languages.lock`, a hash per language (title and text)
of every clause version. A clause version not locked yet is compared with the latest locked
earlier version: when some languages changed and others did not, lint reports
`language-drift`, so legal checks that the unchanged texts still say the same before locking
(a correction of one language only is then locked as it is).
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

from ruamel.yaml import YAML

from ..errors import DpaError, LibraryError
from ..models import LANGUAGES
from ..yamlsource import YamlDocument, load_yaml
from .format import Clause
from .loaded import Library, Problem
from .versions import clause_line, lock_key, normalised

LANGUAGE_LOCK_FILE = "languages.lock"
_KEY = re.compile(r"^([a-z0-9-]+\.[a-z0-9-]+)@([1-9][0-9]*)$")
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
            if _KEY.match(str(key)) and isinstance(value, dict)}


def drift_problems(library: Library, locked_versions: set[str]) -> list[Problem]:
    """For every clause version not in versions.lock yet: the languages that changed alone."""
    entries = read_language_lock(library.path)
    documents: dict[Path, YamlDocument] = {}
    problems: list[Problem] = []
    for item in library.clauses.values():
        clause = item.clause
        if lock_key(clause) in locked_versions:
            continue
        earlier = [int(m.group(2)) for key in entries if (m := _KEY.match(key))
                   and m.group(1) == clause.id and int(m.group(2)) < clause.version]
        if not earlier:
            continue
        previous = max(earlier)
        old, new = entries[f"{clause.id}@{previous}"], language_hashes(clause)
        changed = [lang for lang in LANGUAGES if old.get(lang) != new[lang]]
        if not changed or len(changed) == len(LANGUAGES):
            continue
        same = [lang for lang in LANGUAGES if lang not in changed]
        if item.path not in documents:
            documents[item.path] = load_yaml(item.path, error=LibraryError)
        line = clause_line(documents[item.path], clause.id, "text", changed[0]) or item.line
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

    def order(key: str) -> tuple[str, int]:
        clause_id, version = key.rsplit("@", 1)
        return clause_id, int(version)

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = None
    yaml.width = 4096
    stream = io.StringIO()
    stream.write(_HEADER)
    yaml.dump({key: entries[key] for key in sorted(entries, key=order)}, stream)
    return stream.getvalue().encode("utf-8")
