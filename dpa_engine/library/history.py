"""Library history for legal: one clause as it stands (`dpa clauses show`) and what changed
between two versions of the library (`dpa clauses diff`), each given as a folder or a git ref.
"""

from __future__ import annotations

import difflib
import io
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ..errors import LibraryError, did_you_mean
from ..models import LANGUAGES, Language
from .loaded import Library, LoadedClause
from .loader import load_library
from .versions import content_hash


class ClauseView(BaseModel):
    """One clause for `dpa clauses show`."""

    model_config = ConfigDict(frozen=True)

    id: str
    version: int
    effective: str
    file: str
    line: int
    article: str
    satisfies: list[str]
    when: str | None
    parameters: dict[str, dict[str, str | bool]]
    content_sha256: str
    title: dict[Language, str]
    text: dict[Language, str]


def find_clause(library: Library, clause_id: str) -> LoadedClause:
    if clause_id not in library.clauses:
        raise LibraryError(f"no clause '{clause_id}' in the library", path=library.path,
                           fix=did_you_mean(clause_id, set(library.clauses))
                           or "list the ids with `dpa explain` or look in the clause files")
    return library.clauses[clause_id]


def show_clause(library: Library, clause_id: str) -> ClauseView:
    item = find_clause(library, clause_id)
    clause = item.clause
    article = next(a for a in library.articles if item in a.clauses)
    return ClauseView(
        id=clause.id, version=clause.version, effective=clause.effective.isoformat(),
        file=str(item.path), line=item.line, article=article.header.title["en"],
        satisfies=list(clause.satisfies), when=clause.when,
        parameters={n: {"default": str(s.default), "negotiable": s.negotiable}
                    for n, s in clause.parameters.items()},
        content_sha256=content_hash(clause), title=dict(clause.title), text=dict(clause.text))


# --- two versions of the library -------------------------------------------------------------

@contextmanager
def library_version(spec: str, *, library_folder: Path) -> Iterator[Path]:
    """A library folder for `spec`: an existing folder, or a git ref (commit, tag, branch) of
    the repository holding `library_folder`, checked out into a temporary folder."""
    as_path = Path(spec)
    if as_path.is_dir():
        yield as_path
        return
    folder = library_folder.resolve()
    try:
        top = subprocess.run(["git", "-C", str(folder), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        raise LibraryError(f"'{spec}' is neither a library folder nor a git ref (no git "
                           "repository here)", path=folder,
                           fix="give a folder, or run inside the git repository") from None
    inside = folder.relative_to(Path(top).resolve()).as_posix()
    result = subprocess.run(["git", "-C", top, "archive", "--format=tar", spec, "--", inside],
                            capture_output=True, check=False)
    if result.returncode != 0:
        detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise LibraryError(f"'{spec}' is neither a library folder nor a git ref with "
                           f"{inside}/" + (f" ({detail[-1]})" if detail else ""), path=folder,
                           fix="give a folder, a commit, a tag or a branch (git log --oneline)")
    with tempfile.TemporaryDirectory(prefix="dpa-library-") as work:
        with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
            archive.extractall(work, filter="data")
        yield Path(work) / inside


class TextChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str  # "title.fr", "text.nl", "when", "parameters", "satisfies", "effective"
    old: str | None
    new: str | None
    diff: list[str]  # unified diff lines (texts), empty for short values


class ClauseChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    status: Literal["added", "removed", "changed"]
    old_version: int | None
    new_version: int | None
    wording_changed: bool
    version_raised: bool
    changes: list[TextChange]


class LibraryDiff(BaseModel):
    model_config = ConfigDict(frozen=True)

    old: str
    new: str
    old_hash: str
    new_hash: str
    clauses: list[ClauseChange]
    labels: list[TextChange]


def _text_change(field: str, old: str | None, new: str | None) -> TextChange | None:
    if old == new:
        return None
    lines: list[str] = []
    if old is not None and new is not None and ("\n" in old.strip() or len(old) > 80):
        lines = [line.rstrip("\n") for line in difflib.unified_diff(
            old.splitlines(), new.splitlines(), f"old {field}", f"new {field}", lineterm="",
            n=0)]
    return TextChange(field=field, old=old, new=new, diff=lines)


def _clause_changes(old: LoadedClause, new: LoadedClause) -> list[TextChange]:
    a, b = old.clause, new.clause
    pairs: list[tuple[str, str | None, str | None]] = []
    for language in LANGUAGES:
        pairs.append((f"title.{language}", a.title[language], b.title[language]))
        pairs.append((f"text.{language}", a.text[language], b.text[language]))
    pairs += [
        ("when", a.when, b.when),
        ("parameters", _parameters(old), _parameters(new)),
        ("satisfies", ", ".join(a.satisfies), ", ".join(b.satisfies)),
        ("effective", a.effective.isoformat(), b.effective.isoformat()),
    ]
    return [c for f, o, n in pairs if (c := _text_change(f, o, n)) is not None]


def _parameters(item: LoadedClause) -> str:
    return ", ".join(f"{n}={s.default}{' (negotiable)' if s.negotiable else ''}"
                     for n, s in sorted(item.clause.parameters.items()))


def diff_libraries(old: Library, new: Library, *, old_name: str, new_name: str) -> LibraryDiff:
    changes: list[ClauseChange] = []
    for clause_id in sorted(old.clauses.keys() | new.clauses.keys()):
        before, after = old.clauses.get(clause_id), new.clauses.get(clause_id)
        if before is None and after is not None:
            changes.append(ClauseChange(id=clause_id, status="added", old_version=None,
                                        new_version=after.clause.version, wording_changed=True,
                                        version_raised=True, changes=[]))
        elif after is None and before is not None:
            changes.append(ClauseChange(id=clause_id, status="removed",
                                        old_version=before.clause.version, new_version=None,
                                        wording_changed=True, version_raised=False, changes=[]))
        elif before is not None and after is not None:
            fields = _clause_changes(before, after)
            if not fields:
                continue
            wording = content_hash(before.clause) != content_hash(after.clause)
            changes.append(ClauseChange(
                id=clause_id, status="changed", old_version=before.clause.version,
                new_version=after.clause.version, wording_changed=wording,
                version_raised=after.clause.version > before.clause.version, changes=fields))
    labels = [
        c for key in sorted(old.labels.keys() | new.labels.keys()) for language in LANGUAGES
        if (c := _text_change(f"{key}.{language}", old.labels.get(key, {}).get(language),
                              new.labels.get(key, {}).get(language))) is not None
    ]
    return LibraryDiff(old=old_name, new=new_name, old_hash=old.content_hash,
                       new_hash=new.content_hash, clauses=changes, labels=labels)


@contextmanager
def two_libraries(old: str, new: str, *, library_folder: Path
                  ) -> Iterator[tuple[Library, Library]]:
    with library_version(old, library_folder=library_folder) as old_path, \
            library_version(new, library_folder=library_folder) as new_path:
        yield load_library(old_path), load_library(new_path)
