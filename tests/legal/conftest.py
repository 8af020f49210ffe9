"""Fixtures for the legal tooling tests: a private copy of the library and of the examples."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, LIBRARY

DPA = Path(sys.executable).parent / "dpa"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """tmp/clauses (the real library) and tmp/examples (the real examples), side by side."""
    shutil.copytree(LIBRARY, tmp_path / "clauses", ignore=shutil.ignore_patterns("*.md"))
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path.name} changed: {old!r} no longer occurs once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def dpa(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DPA_DEBUG", "DPA_LIBRARY"}}
    env.update(NO_COLOR="1", COLUMNS="200", TERM="dumb")
    return subprocess.run([str(DPA), *map(str, args)], capture_output=True, text=True,
                          timeout=180, check=False, env=env)
