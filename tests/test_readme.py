"""The README stays true: every ```bash block of README.md runs, in order, as a newcomer would
run it (an installed `dpa`, an empty folder holding a copy of examples/, a local SMTP server).

- A block preceded by `<!-- not run -->` is skipped (e.g. `make test`).
- A block preceded by `<!-- exit N -->` must end with exit code N (default: every command
  must succeed, `set -e`).
- A ```text block right after a bash block is output that must appear (line by line).

Dates in the examples must be relative (`--effective +30`, `--received-at now`): a fixed
date goes stale and the example is refused, which this test then reports.
DPA_README_UNDER_TEST=path runs another file's blocks (e.g. a draft of the README).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.notices.conftest import SmtpServer, smtp  # noqa: F401 (the fixture)

README = Path(os.environ.get("DPA_README_UNDER_TEST", ROOT / "README.md"))
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
MARKER = re.compile(r"<!--\s*(not run|exit (\d+))\s*-->\s*$")


@dataclass
class Block:
    line: int
    code: str
    skip: bool
    exit_code: int
    expected: list[str]


def bash_blocks(text: str) -> list[Block]:
    fences = list(FENCE.finditer(text))
    blocks = []
    for index, fence in enumerate(fences):
        if fence.group(1) != "bash":
            continue
        before = text[:fence.start()].rstrip().splitlines()
        marker = MARKER.search(before[-1]) if before else None
        expected: list[str] = []
        following = fences[index + 1] if index + 1 < len(fences) else None
        if (following is not None and following.group(1) == "text"
                and not text[fence.end():following.start()].strip()):
            expected = [line for line in following.group(2).splitlines() if line.strip()]
        blocks.append(Block(
            line=text[:fence.start()].count("\n") + 1, code=fence.group(2),
            skip=marker is not None and marker.group(1) == "not run",
            exit_code=int(marker.group(2)) if marker is not None and marker.group(2) else 0,
            expected=expected))
    return blocks


def test_the_block_parser_reads_markers_and_expected_output() -> None:
    text = ("<!-- not run -->\n```bash\nmake test\n```\n\n```bash\ndpa --version\n```\n"
            "<!-- exit 2 -->\n```bash\ndpa generate bad.yaml -o x.docx\n```\n```text\n"
            "error: bad.yaml:7: …\n```\n```sh\nnot bash\n```\n")
    blocks = bash_blocks(text)
    assert [(b.skip, b.exit_code, b.code) for b in blocks] == [
        (True, 0, "make test\n"), (False, 0, "dpa --version\n"),
        (False, 2, "dpa generate bad.yaml -o x.docx\n")]
    assert blocks[2].expected == ["error: bad.yaml:7: …"]


def test_every_bash_block_of_the_readme_runs(smtp: SmtpServer, tmp_path: Path) -> None:  # noqa: F811
    blocks = [b for b in bash_blocks(README.read_text(encoding="utf-8")) if not b.skip]
    if not blocks:
        pytest.skip(f"{README.name} has no ```bash blocks yet (the README text with them is in "
                    "the cli helper's notes)")
    work = tmp_path / "newcomer"
    work.mkdir()
    shutil.copytree(ROOT / "examples", work / "examples")
    venv_bin = Path(sys.executable).parent
    (work / ".venv").mkdir()
    (work / ".venv" / "bin").symlink_to(venv_bin)  # for blocks written as .venv/bin/dpa
    env = {k: v for k, v in os.environ.items() if not k.startswith("DPA_")}
    env.update({"PATH": f"{venv_bin}{os.pathsep}{env.get('PATH', '')}", "COLUMNS": "100",
                "DPA_SMTP_HOST": "127.0.0.1", "DPA_SMTP_PORT": str(smtp.port),
                "DPA_SMTP_FROM": "notices@voxalis.example", "DPA_SMTP_BACKOFF": "0",
                "DPA_ACTOR": "readme-test"})
    for block in blocks:
        script = ("set -e -o pipefail\n" if block.exit_code == 0 else "") + block.code
        result = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True,
                                text=True, timeout=300)
        where = f"{README.name}:{block.line}:\n{block.code}"
        assert result.returncode == block.exit_code, (
            f"{where}exit {result.returncode}, expected {block.exit_code}\n"
            f"{result.stdout[-1500:]}{result.stderr[-1500:]}")
        output = " ".join((result.stdout + result.stderr).split())
        for line in block.expected:
            assert " ".join(line.split()) in output, f"{where}missing output: {line}\n{output}"
