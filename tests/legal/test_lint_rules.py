"""The lint rules beyond loading: legal reference, conditions over the example deals, and the
version lock. Each rule fires on a minimal bad edit of a copy of the real library, with
file:line and a fix, and `dpa clauses lint` exits 1."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dpa_engine.legal.lint import lint
from tests.conftest import LIBRARY
from tests.legal.conftest import dpa, edit


def _line_of(path: Path, needle: str) -> int:
    """The line holding `needle`; "A >> B": the first line holding B after the one holding A."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = 0
    if " >> " in needle:
        first, needle = needle.split(" >> ")
        start = next(i for i, line in enumerate(lines) if first in line)
    return next(i for i, line in enumerate(lines[start:], start=start + 1) if needle in line)


def _check(workspace: Path, code: str, file: str, needle: str) -> None:
    """The problem is reported by the library call and by the CLI, at file:line, with a fix."""
    library = workspace / "clauses"
    report = lint(library)
    found = [p for p in report.problems if p.code == code]
    assert found, [p.message for p in report.problems]
    expected_line = _line_of(library / file, needle)
    assert any(p.path == library / file and p.line == expected_line for p in found), \
        [p.message for p in found]
    assert all(p.fix for p in found)
    run = dpa("clauses", "lint", library)
    assert run.returncode == 1, run.stdout + run.stderr
    assert re.search(re.escape(f"{library / file}:{expected_line}:") + r".*fix:.*\(" + code + r"\)",
                     run.stdout), run.stdout


def test_the_real_library_and_examples_lint_clean() -> None:
    report = lint(LIBRARY)
    assert report.problems == [], [p.message for p in report.problems]
    assert len(report.examples) >= 5  # the conditions really were evaluated
    assert dpa("clauses", "lint", LIBRARY).returncode == 0


def test_no_legal_reference(workspace: Path) -> None:
    edit(workspace / "clauses" / "liability.yaml", 'satisfies: ["terms 11"]\n    parameters:',
         "satisfies: []\n    parameters:")
    _check(workspace, "no-legal-reference", "liability.yaml", "satisfies: []")


def test_condition_never_true_over_the_examples(workspace: Path) -> None:
    (workspace / "examples" / "deal-specific-authorisation-fr.yaml").unlink()
    _check(workspace, "condition-never-true", "subprocessors.yaml",
           "when: 'subprocessor_authorisation == \"specific\"'")


def test_condition_always_true_over_the_examples(workspace: Path) -> None:
    (workspace / "examples" / "deal-negotiated-nl.yaml").unlink()
    _check(workspace, "condition-always-true", "final.yaml", "when: 'governing_law == \"BE\"'")


def test_an_example_that_cannot_be_decided(workspace: Path) -> None:
    edit(workspace / "examples" / "deal-standard-fr.yaml", "services: [customer-service]",
         "services: [customer-service]\ndeviations:\n  governing_law: FR")
    report = lint(workspace / "clauses")
    assert any(p.code == "example-invalid" and "deal-standard-fr.yaml" in str(p.path)
               for p in report.problems), [p.message for p in report.problems]


def test_edited_without_new_version(workspace: Path) -> None:
    edit(workspace / "clauses" / "liability.yaml", "Le Prestataire ne répare que",
         "Le Prestataire n'indemnise que")
    _check(workspace, "edited-without-new-version", "liability.yaml",
           "- id: liability.cap >> version: 2")


def test_a_new_version_must_be_locked_and_lock_records_it(workspace: Path) -> None:
    clauses = workspace / "clauses"
    edit(clauses / "liability.yaml", "Le Prestataire ne répare que", "Le Prestataire n'indemnise que")
    edit(clauses / "liability.yaml", "  - id: liability.cap\n    version: 2",
         "  - id: liability.cap\n    version: 3")
    _check(workspace, "unlocked-version", "liability.yaml", "    version: 3")
    run = dpa("clauses", "lock", clauses)
    assert run.returncode == 0 and "liability.cap@3" in run.stdout, run.stdout + run.stderr
    lock = (clauses / "versions.lock").read_text(encoding="utf-8")
    assert "liability.cap@1:" in lock and "liability.cap@3:" in lock  # history kept
    assert lint(clauses).problems == []


def test_lock_refuses_an_edit_without_a_new_version(workspace: Path) -> None:
    edit(workspace / "clauses" / "liability.yaml", "Le Prestataire ne répare que",
         "Le Prestataire n'indemnise que")
    run = dpa("clauses", "lock", workspace / "clauses")
    assert run.returncode == 2 and "raise 'version:' to 3" in run.stderr, run.stderr


def test_lock_missing(workspace: Path) -> None:
    (workspace / "clauses" / "versions.lock").unlink()
    report = lint(workspace / "clauses")
    assert [p.code for p in report.problems] == ["lock-missing"]
    assert dpa("clauses", "lint", workspace / "clauses").returncode == 1


@pytest.mark.parametrize("whitespace", ["\r\n", "   \n"])
def test_layout_only_changes_are_not_edits(workspace: Path, whitespace: str) -> None:
    path = workspace / "clauses" / "liability.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("permet.\n", "permet." + whitespace, 1), encoding="utf-8")
    assert lint(workspace / "clauses").problems == []


def test_without_examples_the_conditions_are_skipped_with_a_note(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(LIBRARY, tmp_path / "lib")
    report = lint(tmp_path / "lib")
    assert report.problems == [] and report.notes
    run = dpa("clauses", "lint", tmp_path / "lib")
    assert run.returncode == 0 and "note:" in run.stdout


def test_a_defined_term_no_clause_uses(workspace: Path) -> None:
    edit(workspace / "clauses" / "definitions.yaml",
         "        - “EER”: de Europese Economische Ruimte;",
         "        - “EER”: de Europese Economische Ruimte;\n"
         "        - “Verwerkingsregister”: het register van verwerkingsactiviteiten;")
    _check(workspace, "defined-term-unused", "definitions.yaml",
           "- id: definitions.terms >> nl: |")


def test_a_capitalised_term_that_is_not_defined(workspace: Path) -> None:
    edit(workspace / "clauses" / "breach.yaml",
         "it notifies the Customer without undue delay",
         "it notifies the Customer's Security Officer without undue delay")
    _check(workspace, "term-used-undefined", "breach.yaml", "- id: breach.notification >> en: |")
    report = lint(workspace / "clauses")
    assert any("“Security Officer”" in p.message and "(en)" in p.message
               for p in report.problems if p.code == "term-used-undefined")


def test_languages_that_state_different_numbers(workspace: Path) -> None:
    edit(workspace / "clauses" / "termination.yaml",
         "binnen dertig dagen na het einde", "binnen 30 dagen na het einde")
    _check(workspace, "numbers-differ", "termination.yaml",
           "- id: termination.return-deletion >> text:")


def test_the_real_library_has_no_wording_problems() -> None:
    report = lint(LIBRARY)
    codes = {"defined-term-unused", "term-used-undefined", "numbers-differ", "language-drift"}
    assert [p.message for p in report.problems if p.code in codes] == []


def test_a_new_version_changed_in_one_language_only_drifts_until_locked(workspace: Path) -> None:
    clauses = workspace / "clauses"
    edit(clauses / "liability.yaml", "Le Prestataire ne répare que", "Le Prestataire n'indemnise que")
    edit(clauses / "liability.yaml", "  - id: liability.cap\n    version: 2",
         "  - id: liability.cap\n    version: 3")
    _check(workspace, "language-drift", "liability.yaml", "- id: liability.cap >> fr: |")
    report = lint(clauses)
    drift = [p for p in report.problems if p.code == "language-drift"]
    assert "changed in fr but not in nl, en since version 2" in drift[0].message
    # Once legal has checked the other languages, locking the version records it.
    assert dpa("clauses", "lock", clauses).returncode == 0
    assert lint(clauses).problems == []


def test_a_new_version_changed_in_every_language_does_not_drift(workspace: Path) -> None:
    clauses = workspace / "clauses"
    edit(clauses / "liability.yaml", "Le Prestataire ne répare que", "Le Prestataire n'indemnise que")
    edit(clauses / "liability.yaml", "De Dienstverlener vergoedt enkel", "De Dienstverlener vergoedt slechts")
    edit(clauses / "liability.yaml", "The Provider compensates only", "The Provider only compensates")
    edit(clauses / "liability.yaml", "  - id: liability.cap\n    version: 2",
         "  - id: liability.cap\n    version: 3")
    assert not [p for p in lint(clauses).problems if p.code == "language-drift"]
