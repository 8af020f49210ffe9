"""Issue 17 point 6: an entry of a deals folder that cannot be read fails alone; bad batch
paths and CSV files are one clear error."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from dpa_engine.agreements.batch import find_jobs, run_batch
from dpa_engine.errors import InputError
from tests.conftest import EXAMPLES, LIBRARY, TEMPLATE


@pytest.fixture
def hostile_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "deals"
    folder.mkdir()
    shutil.copy(EXAMPLES / "provider.yaml", folder / "provider.yaml")
    shutil.copy(EXAMPLES / "deal-standard-nl.yaml", folder / "deal-standard-nl.yaml")
    (folder / "dir.yaml").mkdir()
    (folder / "dangling.yaml").symlink_to(folder / "gone.yaml")
    (folder / "loop-a.yaml").symlink_to(folder / "loop-b.yaml")
    (folder / "loop-b.yaml").symlink_to(folder / "loop-a.yaml")
    os.mkfifo(folder / "pipe.yaml")
    (folder / "latin1.yaml").write_bytes("customer:\n  name: Caf\xe9\n".encode("latin-1"))
    return folder


def test_each_unreadable_entry_is_one_failure(hostile_folder: Path, tmp_path: Path) -> None:
    summary = run_batch(hostile_folder, tmp_path / "out", jobs=1, library=LIBRARY,
                        template=TEMPLATE)
    by_name = {Path(item.deal).name: item for item in summary.items}
    assert by_name["deal-standard-nl.yaml"].status == "ok"
    assert (tmp_path / "out" / "deal-standard-nl.docx").is_file()
    expected = {"dir.yaml": "folder", "dangling.yaml": "does not exist",
                "loop-a.yaml": "cannot read", "loop-b.yaml": "cannot read",
                "pipe.yaml": "not a regular file", "latin1.yaml": "UTF-8"}
    for name, fragment in expected.items():
        item = by_name[name]
        assert item.status == "failed" and item.error is not None
        assert fragment in item.error and "internal error" not in item.error
    assert summary.failed == len(expected) and summary.succeeded == 1


def test_the_output_folder_must_not_be_a_file(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_text("a file", encoding="utf-8")
    with pytest.raises(InputError, match="output folder is a file"):
        run_batch(EXAMPLES, target, jobs=1, library=LIBRARY, template=TEMPLATE)
    assert target.read_text(encoding="utf-8") == "a file"


@pytest.mark.parametrize(("content", "fragment"), [
    ("deal\nd\xe9al.yaml\n".encode("latin-1"), "UTF-8"),
    (b"deal\nx.yaml\x00\n", "U+0000"),
    (b'deal\n"unclosed\n', "cannot be read"),
])
def test_a_bad_csv_is_one_clear_error(tmp_path: Path, content: bytes, fragment: str) -> None:
    listing = tmp_path / "deals.csv"
    listing.write_bytes(content)
    with pytest.raises(InputError) as caught:
        find_jobs(listing, tmp_path / "out")
    assert fragment in caught.value.message or "CSV" in caught.value.message
    assert "deals.csv" in caught.value.message
