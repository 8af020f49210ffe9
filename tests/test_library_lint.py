"""`dpa clauses lint`: every lint rule fires on a minimal mutation of the real library.

Each case copies clauses/ into tmp_path and applies a small text edit to one file, so the bad
libraries stay in sync with the real one. The lint must report a problem with the case's code,
in the edited file, on a line inside the edited area (or on the YAML key that holds it), with a
fix; `dpa clauses lint` must exit 1 and print file:line; `load_library` must refuse the copy.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import dpa_engine.library.conditions as conditions_module
import dpa_engine.library.loader as loader_module
import dpa_engine.library.textcompile as textcompile_module
from dpa_engine.errors import LibraryError
from dpa_engine.library import Problem, lint_library, load_library
from tests.conftest import LIBRARY

DPA = Path(sys.executable).parent / "dpa"


@dataclass(frozen=True)
class Mutation:
    code: str
    name: str  # test id
    file: str  # file in clauses/ to edit (or delete)
    edits: tuple[tuple[str, str], ...] = ()  # (old, new); each old must occur exactly once
    delete: bool = False  # delete the file instead of editing it
    key: str | None = None  # the problem may also point at this YAML key above the edit
    at: str = "change"  # "change": file:line in the edited area; "file": the file, no line;
    #                     "folder": the library folder (a problem of the library as a whole)


def m(code: str, name: str, file: str, old: str, new: str, *, key: str | None = None,
      at: str = "change") -> Mutation:
    return Mutation(code, name, file, ((old, new),), key=key, at=at)


CAP_SATISFIES = '      en: Limitation of liability\n    satisfies: ["terms 11"]\n'

MUTATIONS = [
    m("yaml", "duplicate-key", "liability.yaml", "  - id: liability.cap\n    version: 2\n",
      "  - id: liability.cap\n    version: 2\n    version: 3\n"),
    m("yaml", "tab", "liability.yaml", "  - id: liability.cap\n    version: 2\n",
      "  - id: liability.cap\n\tversion: 2\n"),
    m("yaml", "unclosed-quote", "liability.yaml", CAP_SATISFIES, CAP_SATISFIES.replace('11"]', "11]")),
    m("format", "no-article-key", "breach.yaml", "article:\n", "artikel:\n"),
    m("schema", "unknown-clause-key", "scope.yaml", "  - id: scope.subject-matter\n    version: 1\n",
      "  - id: scope.subject-matter\n    version: 1\n    owner: legal\n"),
    m("schema", "missing-title-language", "liability.yaml", "      en: Limitation of liability\n", "",
      key="title:"),
    m("schema", "unknown-label-language", "labels.yaml", "    en: Reference\n",
      "    en: Reference\n    de: Referenz\n"),
    m("duplicate-id", "duplicate-id", "liability.yaml", "  - id: liability.processor\n",
      "  - id: liability.cap\n"),
    m("id-family", "id-family", "breach.yaml", "  - id: breach.notification\n",
      "  - id: incident.notification\n"),
    m("unknown-reference", "unknown-reference", "liability.yaml", CAP_SATISFIES,
      CAP_SATISFIES.replace('"terms 11"', '"terms 11", "terms 99"')),
    m("unknown-parameter", "unknown-parameter", "liability.yaml",
      "      liability_cap_other: {default: 1000", "      liability_cap_others: {default: 1000"),
    m("bad-default", "bad-default", "liability.yaml", "liability_cap_total: {default: 2500,",
      "liability_cap_total: {default: -5,"),
    m("conflicting-default", "conflicting-default", "subprocessors.yaml",
      "'subprocessor_authorisation == \"specific\"'\n    parameters:\n"
      "      subprocessor_authorisation: {default: general, negotiable: true}\n"
      "      objection_window_days: {default: 7,",
      "'subprocessor_authorisation == \"specific\"'\n    parameters:\n"
      "      subprocessor_authorisation: {default: general, negotiable: true}\n"
      "      objection_window_days: {default: 14,"),
    m("unused-parameter", "unused-parameter", "liability.yaml",
      "      liability_cap_other: {default: 1000, negotiable: true}\n",
      "      liability_cap_other: {default: 1000, negotiable: true}\n"
      "      audit_costs: {default: customer, negotiable: true}\n"),
    m("unknown-fact", "unknown-fact", "security.yaml",
      "when: has_special_categories or has_criminal_data\n",
      "when: has_special_categories or has_criminal_records\n"),
    m("condition-syntax", "condition-syntax", "security.yaml",
      "when: has_special_categories or has_criminal_data\n",
      "when: has_special_categories or or has_criminal_data\n"),
    m("condition-type", "boolean-compared-with-text", "transfers.yaml", "    when: has_transfers\n",
      "    when: 'has_transfers == \"yes\"'\n"),
    m("condition-type", "not-yes-no", "transfers.yaml", "    when: has_transfers\n",
      "    when: customer_country\n"),
    m("condition-value", "condition-value", "final.yaml", "when: 'governing_law == \"BE\"'\n",
      "when: 'governing_law == \"FR\"'\n"),
    m("text-syntax", "unclosed-placeholder", "liability.yaml",
      "Klant: tot {{ liability_cap_other | money }};", "Klant: tot {{ liability_cap_other | money };"),
    m("text-syntax", "unknown-filter", "liability.yaml",
      "maximum de {{ liability_cap_total | money }}", "maximum de {{ liability_cap_total | monnaie }}"),
    m("text-syntax", "unclosed-if", "subprocessors.yaml",
      "{% if objection_window_unit == \"business\" %}Werkdagen{% else %}dagen{% endif %} na die",
      "{% if objection_window_unit == \"business\" %}Werkdagen{% else %}dagen na die"),
    m("unknown-placeholder", "unknown-name", "liability.yaml",
      "maximum van {{ liability_cap_total | money }}", "maximum van {{ liability_cap_totaal | money }}"),
    m("unknown-placeholder", "unknown-party-field", "parties.yaml",
      "{{ customer.name }}, {{ customer.legal_form }}, met {{ customer.register_label }}",
      "{{ customer.nam }}, {{ customer.legal_form }}, met {{ customer.register_label }}"),
    m("unsafe-placeholder", "unsafe-placeholder", "final.yaml",
      "uitsluitende bevoegdheid van de hoven en rechtbanken van {{ courts_city }}",
      "uitsluitende bevoegdheid van de hoven en rechtbanken van {{ courts_city.__class__ }}"),
    m("bad-ref", "bad-ref", "liability.yaml", 'artikel {{ ref("liability.cap") }}',
      'artikel {{ ref("liability.cap", 2) }}'),
    m("placeholders-differ", "placeholders-differ", "liability.yaml",
      "Customer's behalf: to {{ liability_cap_other | money }};", "Customer's behalf: to EUR 1,000;",
      key="en:"),
    m("references-differ", "references-differ", "liability.yaml",
      'clause {{ ref("liability.cap") }}', 'clause {{ ref("liability.indemnity") }}', key="en:"),
    Mutation("unknown-ref", "unknown-ref", "liability.yaml", (
        ('artikel {{ ref("liability.cap") }}', 'artikel {{ ref("liability.caps") }}'),
        ('article {{ ref("liability.cap") }}', 'article {{ ref("liability.caps") }}'),
        ('clause {{ ref("liability.cap") }}', 'clause {{ ref("liability.caps") }}'))),
    m("no-default", "no-default", "liability.yaml",
      "      liability_cap_other: {default: 1000, negotiable: true}\n", "", at="folder"),
    m("missing-translation", "missing-translation", "labels.yaml",
      "  reference:\n    nl: Referentie\n    fr: Référence\n",
      "  reference:\n    nl: Referentie\n", key="reference:"),
    m("missing-label", "missing-label", "labels.yaml",
      "  reference:\n    nl: Referentie\n    fr: Référence\n    en: Reference\n", "", key="labels:"),
    m("unknown-label", "unknown-label", "labels.yaml", "  reference:\n    nl: Referentie\n",
      "  referense:\n    nl: Referentie\n"),
    Mutation("labels", "labels-file-missing", "labels.yaml", delete=True, at="file"),
]


def _codes_in_loader() -> set[str]:
    modules = (loader_module, conditions_module, textcompile_module)
    source = "".join(Path(m.__file__ or "").read_text(encoding="utf-8") for m in modules)
    codes = set(re.findall(r"out\.add\(\s*\"([a-z-]+)\"", source))
    if '{what}-differ' in source:
        codes |= {"placeholders-differ", "references-differ"}
    return codes


def _lines(text: str) -> list[str]:
    return text.splitlines()


def _apply(mutation: Mutation, tmp_path: Path) -> tuple[Path, range | None]:
    """Copy the library, apply the mutation; return the copy and the accepted line numbers."""
    copy = tmp_path / "clauses"
    shutil.copytree(LIBRARY, copy, ignore=shutil.ignore_patterns("*.md"))
    target = copy / mutation.file
    if mutation.delete:
        target.unlink()
        return copy, None
    before = target.read_text(encoding="utf-8")
    after = before
    for old, new in mutation.edits:
        assert after.count(old) == 1, f"{mutation.file} changed: {old!r} no longer occurs once"
        after = after.replace(old, new)
    target.write_text(after, encoding="utf-8")
    old_lines, new_lines = _lines(before), _lines(after)
    changed: list[int] = []  # 1-based lines of the mutated file
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(a=old_lines, b=new_lines).get_opcodes():
        if tag in ("replace", "insert"):
            changed.extend(range(j1 + 1, j2 + 1))
        elif tag == "delete":
            changed.extend([j1, j1 + 1])  # the lines around the removed ones
    assert changed, "the mutation changed nothing"
    first, last = min(changed), max(changed)
    if mutation.key is not None:
        first = next(n for n in range(first, 0, -1)
                     if new_lines[n - 1].strip().startswith(mutation.key))
    return copy, range(first, last + 1)


def _matching(problems: list[Problem], code: str) -> list[Problem]:
    return [p for p in problems if p.code == code]


def _describe(problems: list[Problem]) -> str:
    return "\n".join(f"  {p.code}: {p.message}" for p in problems) or "  (no problems)"


def test_every_lint_code_has_a_case() -> None:
    assert _codes_in_loader() - {case.code for case in MUTATIONS} == set()


def test_real_library_lints_clean() -> None:
    library, problems = lint_library(LIBRARY)
    assert problems == [], _describe(problems)
    assert library is not None
    result = subprocess.run([str(DPA), "clauses", "lint", str(LIBRARY)], capture_output=True,
                            text=True, timeout=120, check=False, env=_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no problems" in result.stdout


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[f"{c.code}:{c.name}" for c in MUTATIONS])
def test_lint_reports_problem(mutation: Mutation, tmp_path: Path) -> None:
    copy, accepted = _apply(mutation, tmp_path)
    _, problems = lint_library(copy)
    found = _matching(problems, mutation.code)
    assert found, f"no '{mutation.code}' problem; lint reported:\n{_describe(problems)}"
    expected_path = copy if mutation.at == "folder" else copy / mutation.file
    at_path = [p for p in found if p.path == expected_path]
    assert at_path, f"'{mutation.code}' not reported in {expected_path}:\n{_describe(found)}"
    if mutation.at == "change":
        assert accepted is not None
        lines = [p.line for p in at_path]
        assert any(line in accepted for line in lines), (
            f"'{mutation.code}' at line(s) {lines}, expected within {accepted.start}-"
            f"{accepted.stop - 1}:\n{_describe(found)}")
    assert all(p.fix for p in at_path), f"no fix:\n{_describe(at_path)}"


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[f"{c.code}:{c.name}" for c in MUTATIONS])
def test_load_library_refuses(mutation: Mutation, tmp_path: Path) -> None:
    copy, _ = _apply(mutation, tmp_path)
    _, problems = lint_library(copy)
    with pytest.raises(LibraryError) as raised:
        load_library(copy)
    assert raised.value.message == problems[0].message


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DPA_DEBUG", "DPA_LIBRARY", "FORCE_COLOR"}}
    env.update(NO_COLOR="1", COLUMNS="60", TERM="dumb")
    return env


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[f"{c.code}:{c.name}" for c in MUTATIONS])
def test_cli_lint_prints_file_line(mutation: Mutation, tmp_path: Path) -> None:
    copy, accepted = _apply(mutation, tmp_path)
    result = subprocess.run([str(DPA), "clauses", "lint", str(copy)], capture_output=True,
                            text=True, timeout=120, check=False, env=_env())
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "internal error" not in output, output
    assert result.returncode == 1, f"exit code {result.returncode}:\n{output}"
    lines = [line for line in result.stdout.splitlines() if f"({mutation.code})" in line]
    assert lines, f"no '({mutation.code})' line in:\n{output}"
    if mutation.at == "folder":
        assert any(line.startswith(f"{copy}:") for line in lines), output
    elif accepted is None:
        assert any(line.startswith(f"{copy / mutation.file}:") for line in lines), output
    else:
        where = re.compile(re.escape(f"{copy / mutation.file}:") + r"(\d+):")
        numbers = [int(found.group(1)) for line in lines if (found := where.match(line))]
        assert numbers, f"no {mutation.file}:line in:\n{output}"
        assert any(n in accepted for n in numbers), (
            f"printed line(s) {numbers}, expected within {accepted.start}-{accepted.stop - 1}")
    assert "fix:" in "\n".join(lines)


def test_lint_output_is_printed_verbatim(tmp_path: Path) -> None:
    """Text from the library that looks like console markup must not break or vanish."""
    copy, _ = _apply(m("unknown-reference", "markup", "liability.yaml", CAP_SATISFIES,
                       CAP_SATISFIES.replace('"terms 11"', '"terms 11", "[/b]"')), tmp_path)
    result = subprocess.run([str(DPA), "clauses", "lint", str(copy)], capture_output=True,
                            text=True, timeout=120, check=False, env=_env())
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "unknown legal reference '[/b]'" in result.stdout, output


def test_lint_of_a_folder_without_clause_files(tmp_path: Path) -> None:
    result = subprocess.run([str(DPA), "clauses", "lint", str(tmp_path)], capture_output=True,
                            text=True, timeout=120, check=False, env=_env())
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(tmp_path) in result.stderr and "fix:" in result.stderr
    assert "Traceback" not in result.stderr
