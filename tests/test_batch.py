"""Batch generation: every deal, failures isolated, a summary, a non-zero exit on failure."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dpa_engine.agreements.batch import SUMMARY_NAME, find_jobs, run_batch
from dpa_engine.errors import InputError
from dpa_engine.render import LibreOfficeConverter
from dpa_engine.render.pdf import uno_available
from tests.conftest import EXAMPLES

DPA = Path(sys.executable).parent / "dpa"


@pytest.fixture
def deals(tmp_path: Path) -> Path:
    folder = tmp_path / "deals"
    folder.mkdir()
    for path in EXAMPLES.glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    broken = (EXAMPLES / "deal-standard-nl.yaml").read_text(encoding="utf-8").replace(
        "0403.170.701", "0403.170.702")
    (folder / "deal-broken.yaml").write_text(broken, encoding="utf-8")
    return folder


def test_one_bad_deal_does_not_stop_the_others(deals: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = run_batch(deals, out, jobs=2)
    good = sorted(f"{p.stem}.docx" for p in EXAMPLES.glob("deal-*.yaml"))
    assert summary.total == len(good) + 1
    assert summary.succeeded == len(good) and summary.failed == 1
    failed = next(i for i in summary.items if i.status == "failed")
    assert failed.deal.endswith("deal-broken.yaml")
    assert failed.error is not None and "check digits" in failed.error
    assert sorted(p.name for p in out.glob("*.docx")) == good
    written = json.loads((out / SUMMARY_NAME).read_text(encoding="utf-8"))
    assert written["failed"] == 1 and len(written["items"]) == len(good) + 1


def test_the_cli_reports_failures_and_exits_non_zero(deals: Path, tmp_path: Path) -> None:
    run = subprocess.run([str(DPA), "batch", str(deals), "-o", str(tmp_path / "out"), "-j", "2"],
                         capture_output=True, text=True)
    assert run.returncode == 1
    good = len(list(EXAMPLES.glob("deal-*.yaml")))
    assert f"{good} of {good + 1} agreements" in run.stdout
    assert "deal-broken.yaml" in run.stdout and "Traceback" not in run.stderr


def test_a_csv_lists_deals_and_output_names(tmp_path: Path) -> None:
    listing = tmp_path / "deals.csv"
    listing.write_text(f"deal,output\n{EXAMPLES / 'deal-health-en.yaml'},medcare.docx\n"
                       f"{EXAMPLES / 'deal-standard-nl.yaml'},\n", encoding="utf-8")
    summary = run_batch(listing, tmp_path / "out", jobs=1)
    assert summary.succeeded == 2
    assert (tmp_path / "out" / "medcare.docx").is_file()
    assert (tmp_path / "out" / "deal-standard-nl.docx").is_file()


def test_a_csv_without_a_deal_column_is_refused(tmp_path: Path) -> None:
    listing = tmp_path / "deals.csv"
    listing.write_text("file\nx.yaml\n", encoding="utf-8")
    with pytest.raises(InputError, match="no 'deal' column"):
        find_jobs(listing, tmp_path / "out")


def test_provider_profiles_are_not_taken_for_deals(tmp_path: Path) -> None:
    jobs = find_jobs(EXAMPLES, tmp_path)
    assert "provider" not in {j.deal.stem for j in jobs}


@pytest.mark.libreoffice
def test_pdfs_come_from_a_warm_libreoffice(soffice: LibreOfficeConverter, tmp_path: Path) -> None:
    if not uno_available():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but python3-uno is missing (.ci/system-deps installs it)")
        pytest.skip("python3-uno not installed: apt-get install python3-uno")
    folder = tmp_path / "deals"
    folder.mkdir()
    for name in ("provider.yaml", "deal-standard-nl.yaml", "deal-health-en.yaml"):
        shutil.copy(EXAMPLES / name, folder / name)
    summary = run_batch(folder, tmp_path / "out", pdf=True, jobs=1)
    assert summary.succeeded == 2, [i.error for i in summary.items]
    assert summary.pdf_engine == "warm"
    for item in summary.items:
        assert item.pdf is not None and Path(item.pdf).read_bytes()[:5] == b"%PDF-"
