"""Clause versions: a content hash per clause version, kept in `versions.lock` in the library.

`dpa clauses lock` records `<id>@<version>: <sha256>` for every clause version; lint then
catches a clause whose wording changed while its `version:` did not (`edited-without-new-
version`), a version not recorded yet (`unlocked-version`) and a library without a lock file
(`lock-missing`). Old entries stay in the lock: it is the history of every published version.

The hash covers what changes the agreement's wording: titles, texts, the condition and the
parameters' standard values, per language, with line endings and trailing spaces normalised.
`satisfies:`, `effective:` and `negotiable:` may change without a new version.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from ..errors import DpaError, LibraryError
from ..models import LANGUAGES
from ..yamlsource import YamlDocument, load_yaml
from .format import Clause
from .loaded import Library, LoadedClause, Problem

LOCK_FILE = "versions.lock"
# A lock entry's key: <clause id>@<version>.
LOCK_KEY = re.compile(r"^([a-z0-9-]+\.[a-z0-9-]+)@([1-9][0-9]*)$")
_HEADER = (
    "# Content hash of every clause version (sha256), written by `dpa clauses lock`.\n"
    "# Do not edit by hand: when a clause's wording changes, raise its `version:` and run\n"
    "# `dpa clauses lock`; `dpa clauses lint` checks every clause against this file.\n"
)


def normalised(text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


def clause_content(clause: Clause) -> dict[str, Any]:
    """The parts of a clause that change the agreement's wording, normalised."""
    return {
        "id": clause.id,
        "title": {lang: normalised(clause.title[lang]) for lang in LANGUAGES},
        "text": {lang: normalised(clause.text[lang]) for lang in LANGUAGES},
        "when": normalised(clause.when) if clause.when is not None else None,
        "parameters": {name: str(spec.default) for name, spec in sorted(clause.parameters.items())},
    }


def content_hash(clause: Clause) -> str:
    data = json.dumps(clause_content(clause), sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def lock_key(clause: Clause) -> str:
    return f"{clause.id}@{clause.version}"


def versions_in_lock(clause_id: str, keys: Iterable[str]) -> list[int]:
    """The versions of `clause_id` among lock keys."""
    return [int(m.group(2)) for key in keys if (m := LOCK_KEY.match(key))
            and m.group(1) == clause_id]


def lock_file_text(header: str, entries: Mapping[str, Any], *, flow: bool) -> bytes:
    """A lock file: its header comment, then the entries by clause id and version number."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = None if flow else False
    yaml.width = 4096
    stream = io.StringIO()
    stream.write(header)
    yaml.dump({key: entries[key] for key in sorted(entries, key=_key_order)}, stream)
    return stream.getvalue().encode("utf-8")


def _key_order(key: str) -> tuple[str, int]:
    clause_id, version = key.rsplit("@", 1)
    return clause_id, int(version)


def clause_line_cached(item: LoadedClause, documents: dict[Path, YamlDocument],
                       *keys: str) -> int | None:
    """Line of `keys` inside the clause of `item`, each clause file parsed once per
    `documents`; the clause's own line when the keys are not found."""
    if item.path not in documents:
        documents[item.path] = load_yaml(item.path, error=LibraryError)
    return clause_line(documents[item.path], item.id, *keys) or item.line


def read_lock(library_path: Path) -> tuple[dict[str, str] | None, list[Problem]]:
    """The lock's entries (None when there is no lock file) and any problem reading it."""
    path = library_path / LOCK_FILE
    if not path.is_file():
        return None, []
    try:
        doc = load_yaml(path, error=LibraryError)
    except DpaError as exc:
        return {}, [Problem("lock-invalid", path, exc.line, None, exc.what,
                            f"restore {LOCK_FILE} from version control, or delete it and run "
                            "`dpa clauses lock`")]
    data = doc.data or {}
    problems: list[Problem] = []
    if not isinstance(data, dict):
        return {}, [Problem("lock-invalid", path, 1, None, "the lock file is not a mapping",
                            f"delete {LOCK_FILE} and run `dpa clauses lock`")]
    entries: dict[str, str] = {}
    for key, value in data.items():
        if not LOCK_KEY.match(key) or not isinstance(value, str) or not re.fullmatch(
                r"[0-9a-f]{64}", value):
            problems.append(Problem("lock-invalid", path, doc.line_of((key,)), key,
                                    f"'{key}: {value}' is not '<clause id>@<version>: <sha256>'",
                                    "remove the line and run `dpa clauses lock`"))
            continue
        entries[key] = value
    return entries, problems


def lock_problems(library: Library) -> list[Problem]:
    """Every clause checked against versions.lock."""
    entries, problems = read_lock(library.path)
    if entries is None:
        return [Problem("lock-missing", library.path / LOCK_FILE, None, None,
                        "the library has no version lock, so edited clauses cannot be detected",
                        f"run `dpa clauses lock {library.path}` and commit {LOCK_FILE}")]
    documents: dict[Path, YamlDocument] = {}
    for item in library.clauses.values():
        clause = item.clause
        key = lock_key(clause)
        line = clause_line_cached(item, documents, "version")
        locked = entries.get(key)
        if locked is None:
            problems.append(Problem(
                "unlocked-version", item.path, line, f"{clause.id}.version",
                f"version {clause.version} of '{clause.id}' is not in {LOCK_FILE}",
                "when the wording is final, run `dpa clauses lock` and commit "
                f"{LOCK_FILE}"))
        elif locked != content_hash(clause):
            problems.append(Problem(
                "edited-without-new-version", item.path, line, f"{clause.id}.version",
                f"'{clause.id}' was edited but is still version {clause.version} (its wording "
                f"differs from the version {clause.version} recorded in {LOCK_FILE})",
                f"raise 'version:' to {_next_version(clause.id, entries)} and update "
                "'effective:', then run `dpa clauses lock`; or undo the edit"))
    return problems


def _next_version(clause_id: str, entries: dict[str, str]) -> int:
    return max(versions_in_lock(clause_id, entries), default=0) + 1


def clause_line(doc: YamlDocument, clause_id: str, *keys: str) -> int | None:
    """Line of `keys` inside the clause `clause_id` of a clause file."""
    clauses = doc.data.get("clauses") if isinstance(doc.data, dict) else None
    for index, data in enumerate(clauses or []):
        if isinstance(data, dict) and data.get("id") == clause_id:
            return doc.line_of(("clauses", index, *keys))
    return None


def updated_lock(library: Library) -> tuple[bytes, list[str]]:
    """versions.lock with every clause version not yet recorded added, and the keys added.

    Refuses (LibraryError) when a recorded version's wording changed: that needs a new version.
    """
    entries, problems = read_lock(library.path)
    if problems:
        raise problems[0].as_error()
    entries = dict(entries or {})
    for problem in lock_problems(library):
        if problem.code == "edited-without-new-version":
            raise problem.as_error()
    added = []
    for item in library.clauses.values():
        key = lock_key(item.clause)
        if key not in entries:
            entries[key] = content_hash(item.clause)
            added.append(key)
    return lock_file_text(_HEADER, entries, flow=False), sorted(added, key=_key_order)
