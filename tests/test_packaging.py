"""The package a newcomer installs: a wheel with the clause library and template inside,
installed into a fresh virtual environment, used from an empty folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from dpa_engine import __version__
from dpa_engine.resources import packaged_examples, packaged_library, packaged_template
from tests.conftest import ROOT


def run(*args: str | Path, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The wheel, built as a user would (pip wheel, verbose so build warnings show)."""
    folder = tmp_path_factory.mktemp("wheel")
    built = run(sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "-v", "-w", folder)
    assert built.returncode == 0, built.stderr[-2000:]
    (path,) = folder.glob("dpa_engine-*.whl")
    return path, built.stdout + built.stderr


@pytest.fixture(scope="module")
def installed(wheel: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the wheel and its dependencies: the folder of its `dpa`."""
    venv = tmp_path_factory.mktemp("venv")
    created = run(sys.executable, "-m", "venv", venv)
    assert created.returncode == 0, created.stderr
    pip = run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel[0])
    assert pip.returncode == 0, pip.stderr[-2000:]
    return venv / "bin"


def test_the_wheel_ships_the_library_the_notice_texts_and_the_template(
        wheel: tuple[Path, str]) -> None:
    names = set(zipfile.ZipFile(wheel[0]).namelist())
    for expected in ("dpa_engine/data/clauses/subprocessors.yaml",
                     "dpa_engine/data/clauses/labels.yaml",
                     "dpa_engine/data/clauses/versions.lock",
                     "dpa_engine/data/clauses/notices/change-notice.yaml",
                     "dpa_engine/data/templates/agreement.docx",
                     "dpa_engine/data/examples/provider.yaml",
                     "dpa_engine/storage/migrations/env.py"):
        assert expected in names
    shipped = {n.removeprefix("dpa_engine/data/clauses/") for n in names
               if n.startswith("dpa_engine/data/clauses/")}
    in_repo = {str(p.relative_to(ROOT / "clauses")) for p in (ROOT / "clauses").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert shipped == in_repo


def test_building_prints_no_setuptools_deprecation(wheel: tuple[Path, str]) -> None:
    assert "SetuptoolsDeprecationWarning" not in wheel[1]


def test_installed_anywhere_init_generate_and_version_work(installed: Path,
                                                           tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DPA_")}
    empty = tmp_path / "anywhere"
    empty.mkdir()
    dpa = installed / "dpa"
    version = run(dpa, "--version", cwd=empty, env=env)
    assert version.returncode == 0 and version.stdout.strip() == f"dpa {__version__}"
    init = run(dpa, "init", "starter", cwd=empty, env=env)
    assert init.returncode == 0, init.stderr
    starter = empty / "starter"
    assert {p.name for p in starter.iterdir()} == {"provider.yaml", "deal-example.yaml",
                                                   ".gitignore"}
    generated = run(dpa, "generate", "deal-example.yaml", "-o", "out/agreement.docx",
                    cwd=starter, env=env)
    assert generated.returncode == 0, generated.stderr
    assert (starter / "out" / "agreement.docx").read_bytes()[:2] == b"PK"
    explained = run(dpa, "explain", "deal-example.yaml", "--json", cwd=starter, env=env)
    assert explained.returncode == 0, explained.stderr
    assert json.loads(explained.stdout)["clauses"]
    # the notice texts come from the packaged library too
    texts = run(installed / "python", "-c", "from dpa_engine import default_library_path; "
                "print((default_library_path() / 'notices' / 'change-notice.yaml').is_file())",
                cwd=empty, env=env)
    assert texts.stdout.strip() == "True", texts.stderr
    # PostgreSQL is an extra: the plain install has no driver
    driver = run(installed / "python", "-c", "import importlib.util; "
                 "print(importlib.util.find_spec('psycopg') is None)", cwd=empty, env=env)
    assert driver.stdout.strip() == "True"
    postgres = run(dpa, "customers", "list", "--db", "postgresql://dpa@127.0.0.1/dpa",
                   cwd=empty, env=env)
    assert postgres.returncode == 2
    assert "pip install 'dpa-engine[postgres]'" in postgres.stderr
    assert "Traceback" not in postgres.stderr


def test_init_with_library_gives_legal_a_copy_that_lints_clean(tmp_path: Path) -> None:
    dpa = Path(sys.executable).parent / "dpa"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DPA_")}
    result = run(dpa, "init", tmp_path / "firm", "--with-library", "--language", "fr", env=env)
    assert result.returncode == 0, result.stderr
    firm = tmp_path / "firm"
    assert (firm / "clauses" / "versions.lock").read_text() == (
        ROOT / "clauses" / "versions.lock").read_text()
    assert "language: fr" in (firm / "deal-example.yaml").read_text()
    lint = run(dpa, "clauses", "lint", cwd=firm, env=env)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert str(firm / "clauses") in lint.stdout  # the copy, not the packaged library


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    dpa = Path(sys.executable).parent / "dpa"
    (tmp_path / "provider.yaml").write_text("mine\n")
    result = run(dpa, "init", tmp_path)
    assert result.returncode == 2
    assert "already has provider.yaml" in result.stderr and "fix:" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["provider.yaml"]
    assert (tmp_path / "provider.yaml").read_text() == "mine\n"


def test_packaged_paths_are_the_repository_folders() -> None:
    assert packaged_library().resolve() == (ROOT / "clauses").resolve()
    assert packaged_template().resolve() == (ROOT / "templates" / "agreement.docx").resolve()
    assert packaged_examples().resolve() == (ROOT / "examples").resolve()


def test_postgres_is_an_extra_and_the_license_an_spdx_string() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert not any(d.startswith("psycopg") for d in project["dependencies"])
    assert any(d.startswith("psycopg") for d in project["optional-dependencies"]["postgres"])
    assert "dpa-engine[postgres]" in project["optional-dependencies"]["dev"]


def test_the_packaged_library_is_not_locked_in_place(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DPA_")}
    before = (ROOT / "clauses" / "versions.lock").read_bytes()
    result = run(Path(sys.executable).parent / "dpa", "clauses", "lock", cwd=tmp_path, env=env)
    assert result.returncode == 2 and "dpa init DIR --with-library" in result.stderr
    assert (ROOT / "clauses" / "versions.lock").read_bytes() == before
