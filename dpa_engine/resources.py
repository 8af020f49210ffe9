"""Files shipped inside the package: the standard clause library, the base template and the
example deals (`dpa_engine/data/`, which links to the repository's `clauses/`, `templates/`
and `examples/` folders, the places legal and developers edit).

The package is always installed as plain files (a wheel is unpacked, an editable install
points at the source tree), so a packaged path is a real path.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def packaged(*parts: str) -> Path:
    """A file or folder under dpa_engine/data, e.g. packaged("clauses")."""
    return Path(str(files("dpa_engine").joinpath("data", *parts)))


def packaged_library() -> Path:
    return packaged("clauses")


def packaged_template() -> Path:
    return packaged("templates", "agreement.docx")


def packaged_examples() -> Path:
    return packaged("examples")
