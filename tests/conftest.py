"""Shared fixtures: the real clause library, the examples, generated agreements, LibreOffice."""

from __future__ import annotations

import datetime
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from dpa_engine import Engine
from dpa_engine.render import LibreOfficeConverter, find_soffice

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
LIBRARY = ROOT / "clauses"
TEMPLATE = ROOT / "templates" / "agreement.docx"
EXAMPLE_DEALS = sorted(EXAMPLES.glob("deal-*.yaml"))
FIXED_TIME = datetime.datetime(2026, 11, 23, 9, 30, tzinfo=datetime.UTC)

pytest_plugins = ["tests.scenario_plugin"]


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine.load(LIBRARY, TEMPLATE)


@pytest.fixture(scope="session")
def generated(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every example deal generated once: deal stem -> .docx path."""
    folder = tmp_path_factory.mktemp("generated")
    result = {}
    for deal in EXAMPLE_DEALS:
        target = folder / f"{deal.stem}.docx"
        engine.generate(deal, target, generated_at=FIXED_TIME)
        result[deal.stem] = target
    return result


@pytest.fixture(scope="session")
def soffice() -> Iterator[LibreOfficeConverter]:
    """Headless LibreOffice. Skipped with a reason when absent, except under CI=true."""
    if find_soffice() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but LibreOffice is not installed (.ci/system-deps installs it)")
        pytest.skip("LibreOffice (soffice) not installed: apt-get install libreoffice-writer-nogui")
    converter = LibreOfficeConverter()
    yield converter
    converter.close()


@pytest.fixture(scope="session")
def pdftotext() -> str:
    found = shutil.which("pdftotext")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but pdftotext (poppler-utils) is not installed")
        pytest.skip("pdftotext not installed: apt-get install poppler-utils")
    return found
