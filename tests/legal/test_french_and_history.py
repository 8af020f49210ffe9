"""French agreements end to end, and `dpa clauses show` / `dpa clauses diff`."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

from tests.conftest import LIBRARY, ROOT
from tests.docx_helpers import body_text
from tests.legal.conftest import dpa, edit


def test_a_french_agreement_uses_belgian_french_formats(generated: dict[str, Path]) -> None:
    xml = zipfile.ZipFile(generated["deal-standard-fr"]).read("word/document.xml").decode()
    # babel fr_BE: narrow no-break space as thousands separator, no-break space before €.
    assert "2\u202f500,00\u00a0€" in xml and "1\u202f000,00\u00a0€" in xml
    assert "23 novembre 2026" in xml
    text = body_text(generated["deal-standard-fr"])
    assert "Autorité de protection des données" in text
    assert "néerlandais" in text  # the Dutch text prevails, named in French
    assert "Librairie Dumont" in text and "Bruxelles" in text
    assert "Annexe IV" in text


def test_the_specific_authorisation_example_gets_its_clause(generated: dict[str, Path]) -> None:
    text = body_text(generated["deal-specific-authorisation-fr"])
    assert "Autorisation écrite spécifique préalable" in text
    assert "Autorisation écrite générale" not in text
    assert "Liège" in text


def test_show_prints_one_clause() -> None:
    run = dpa("clauses", "show", "liability.cap", "--lang", "fr", "--library", LIBRARY)
    assert run.returncode == 0, run.stderr
    assert "Limitation de responsabilité" in run.stdout and "version 2" in run.stdout
    assert "Limitation of liability" not in run.stdout
    data = json.loads(dpa("clauses", "show", "liability.cap", "--json", "--library",
                          LIBRARY).stdout)
    assert data["version"] == 2 and set(data["text"]) == {"nl", "fr", "en"}
    wrong = dpa("clauses", "show", "liability.caps", "--library", LIBRARY)
    assert wrong.returncode == 2 and "did you mean 'liability.cap'" in wrong.stderr


def test_diff_between_two_folders_names_languages_and_affected_deals(workspace: Path) -> None:
    import shutil

    old = workspace / "old-clauses"
    shutil.copytree(workspace / "clauses", old)
    edit(workspace / "clauses" / "breach.yaml", "  - id: breach.notification\n    version: 2",
         "  - id: breach.notification\n    version: 3")
    text = (workspace / "clauses" / "breach.yaml").read_text(encoding="utf-8")
    en_start = text.index("      en: |")
    en_line_end = text.index("\n", en_start + 12)
    en_text = text[en_start:en_line_end + 1]
    (workspace / "clauses" / "breach.yaml").write_text(
        text.replace(en_text, en_text.rstrip("\n") + " Changed.\n", 1), encoding="utf-8")
    run = dpa("clauses", "diff", old, workspace / "clauses", "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    data = json.loads(run.stdout)
    change = next(c for c in data["clauses"] if c["id"] == "breach.notification")
    assert change["old_version"] == 2 and change["new_version"] == 3
    assert [c["field"] for c in change["changes"]] == ["text.en"]
    impact = {Path(d["deal"]).name: d["status"] for d in data["deals"]}
    assert impact["deal-health-en.yaml"] == "changes"  # the only English example
    assert impact["deal-standard-nl.yaml"] == "unchanged"
    plain = dpa("clauses", "diff", old, workspace / "clauses").stdout
    assert "breach.notification changed (v2 → v3)" in plain
    assert "agreement changes: deal-health-en.yaml" in plain


def test_diff_against_a_git_ref() -> None:
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=False)
    if head.returncode != 0:
        import pytest

        pytest.skip("not a git checkout")
    run = dpa("clauses", "diff", "HEAD", "--library", LIBRARY, "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "clauses" in json.loads(run.stdout)
    bad = dpa("clauses", "diff", "no-such-ref-xyz", "--library", LIBRARY)
    assert bad.returncode == 2 and "neither a library folder nor a git ref" in bad.stderr
