"""`dpa init`: a starter folder a newcomer can generate an agreement from at once.

It holds a provider profile to fill in, an example deal that uses it, a .gitignore for
what the commands write, and (on request) a copy of the standard clause library with the
example deals its lint checks run on, so that legal owns and versions that copy.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .errors import InputError
from .files import write_atomically
from .resources import packaged_examples, packaged_library

StarterLanguage = Literal["nl", "fr", "en"]

# The example deal each language starts from (the standard terms where there is one).
EXAMPLE_DEALS: dict[StarterLanguage, str] = {
    "nl": "deal-standard-nl.yaml",
    "fr": "deal-standard-fr.yaml",
    "en": "deal-health-en.yaml",
}

PROFILE_HEADER = """\
# Your provider profile: replace the example company (Voxalis) below with your own
# company's identity, privacy contact, services, sub-processors and security measures.
# `dpa schema provider` prints every field; every deal file names the profile it uses.
"""

GITIGNORE = """\
# written by dpa commands
.dpa/
out/
letters/
public/
evidence*.zip
*.docx.tmp
.~lock*
"""


@dataclass
class Starter:
    """What `dpa init` wrote, relative to its folder."""

    folder: Path
    files: list[str] = field(default_factory=list)


def create_starter(folder: Path, *, language: StarterLanguage = "nl",
                   with_library: bool = False) -> Starter:
    """Write the starter folder; refuse (writing nothing) if any of its files already exist."""
    planned = ["provider.yaml", "deal-example.yaml", ".gitignore"]
    if with_library:
        planned += ["clauses", "examples"]
    if folder.exists() and not folder.is_dir():
        raise InputError("is a file, not a folder", path=folder,
                         fix="give `dpa init` a new or existing folder")
    existing = [name for name in planned if (folder / name).exists()]
    if existing:
        raise InputError(f"already has {', '.join(existing)}", path=folder,
                         fix="choose a new folder, or move those files away first")
    examples = packaged_examples()
    profile = (examples / "provider.yaml").read_text(encoding="utf-8")
    deal = (examples / EXAMPLE_DEALS[language]).read_text(encoding="utf-8")
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / "provider.yaml", (PROFILE_HEADER + _without_first_comment(profile))
                     .encode("utf-8"))
    write_atomically(folder / "deal-example.yaml", deal.encode("utf-8"))
    write_atomically(folder / ".gitignore", GITIGNORE.encode("utf-8"))
    if with_library:
        _copy_folder(packaged_library(), folder / "clauses")
        _copy_folder(examples, folder / "examples")
    return Starter(folder=folder, files=planned)


def _without_first_comment(text: str) -> str:
    """The example profile without its leading comment lines (the header replaces them)."""
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    return "".join(lines)


def _copy_folder(source: Path, target: Path) -> None:
    """Copy through a temporary sibling and rename: never a half-copied library."""
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        shutil.copytree(source, partial, ignore=shutil.ignore_patterns("__pycache__", ".*"))
        partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
