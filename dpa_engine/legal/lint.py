"""The full library lint behind `dpa clauses lint`: the loader's checks, plus the checks that
need more than the library itself.

- `no-legal-reference`: a clause whose `satisfies:` is empty;
- `condition-never-true` / `condition-always-true`: a `when:` that holds for none, or for
  all, of the example deals (`examples/deal-*.yaml`): a conditional clause must be exercised
  both ways by the examples — when it is not, add an example deal rather than drop the check;
- `example-invalid`: an example deal that cannot be decided with this library;
- `defined-term-unused`, `term-used-undefined`, `numbers-differ`: see legal/terms.py;
- `language-drift`: see library/drift.py;
- `lock-missing`, `lock-invalid`, `unlocked-version`, `edited-without-new-version`: see
  clauses/versions.py.

The loader's checks stop the engine; these do not (a library being edited can still
generate), but `make test` runs the lint, so they stop a commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..agreements.deals import ProviderCache, load_deal
from ..agreements.rules import decide
from ..errors import DpaError, LibraryError
from ..files import write_atomically
from ..library import Library, Problem, load_library
from ..library.drift import LANGUAGE_LOCK_FILE, drift_problems, updated_language_lock
from ..library.facts import FactValue
from ..library.loader import load_with_problems
from ..library.versions import LOCK_FILE, clause_line, lock_problems, read_lock, updated_lock
from ..yamlsource import YamlDocument, load_yaml
from .terms import number_problems, term_problems

EXAMPLE_PATTERN = "deal-*.yaml"


@dataclass
class LintReport:
    library_path: Path
    problems: list[Problem]
    examples: list[Path] = field(default_factory=list)  # example deals the conditions met
    notes: list[str] = field(default_factory=list)  # what was not checked, and why


def default_examples_path(library_path: Path) -> Path | None:
    """The examples/ folder next to the library folder, when there is one."""
    candidate = library_path.resolve().parent / "examples"
    return candidate if candidate.is_dir() else None


def lint(library_path: Path, *, examples: Path | None = None) -> LintReport:
    """Every problem in the library: load-time checks first, then the checks above."""
    # Clauses that load despite problems elsewhere are still checked below.
    library, problems = load_with_problems(library_path)
    report = LintReport(library_path=library_path, problems=list(problems))
    report.problems.extend(legal_reference_problems(library))
    report.problems.extend(lock_problems(library))
    report.problems.extend(term_problems(library))
    report.problems.extend(number_problems(library))
    entries, _ = read_lock(library.path)
    report.problems.extend(drift_problems(library, set(entries or {})))
    folder = examples or default_examples_path(library_path)
    if folder is None:
        report.notes.append("conditions not checked against example deals: no examples/ folder "
                            "next to the library (pass --examples DIR)")
    elif problems:
        report.notes.append("conditions not checked against example deals: fix the problems "
                            "above first")
    else:
        facts, example_problems = example_facts(folder, library)
        report.examples = [path for path, _ in facts]
        report.problems.extend(example_problems)
        report.problems.extend(condition_problems(library, facts))
    return report


def legal_reference_problems(library: Library) -> list[Problem]:
    documents: dict[Path, YamlDocument] = {}
    problems = []
    for item in library.clauses.values():
        if item.clause.satisfies:
            continue
        doc = documents.setdefault(item.path, load_yaml(item.path, error=LibraryError))
        problems.append(Problem(
            "no-legal-reference", item.path, clause_line(doc, item.id, "satisfies") or item.line,
            f"{item.id}.satisfies", f"clause '{item.id}' names no legal reference",
            "list what it fulfils under 'satisfies:', e.g. [\"28(3)(a)\", \"2021/915 7.1\"] "
            "or [\"terms 2\"] (see clauses/README.md)"))
    return problems


def example_deals(folder: Path) -> list[Path]:
    """The example deals in `folder` (deal-*.yaml, not their approval records)."""
    return sorted(p for p in folder.glob(EXAMPLE_PATTERN)
                  if not p.name.endswith(".approvals.yaml"))


def example_facts(folder: Path, library: Library
                  ) -> tuple[list[tuple[Path, dict[str, FactValue]]], list[Problem]]:
    """The facts of every example deal in `folder`, and a problem per deal that fails."""
    results: list[tuple[Path, dict[str, FactValue]]] = []
    problems: list[Problem] = []
    providers = ProviderCache()
    for path in example_deals(folder):
        try:
            decision = decide(load_deal(path, providers), library)
        except DpaError as exc:
            problems.append(Problem("example-invalid", exc.path or path, exc.line, exc.field,
                                    f"example deal {path.name} cannot be decided: {exc.what}",
                                    exc.fix or "correct the example deal"))
            continue
        results.append((path, decision.facts))
    return results, problems


def condition_problems(library: Library, examples: list[tuple[Path, dict[str, FactValue]]]
                       ) -> list[Problem]:
    if not examples:
        return []
    documents: dict[Path, YamlDocument] = {}
    problems = []
    names = [path.name for path, _ in examples]
    for item in library.clauses.values():
        if item.condition is None:
            continue
        holds = [bool(item.condition.matches(facts)) for _, facts in examples]
        if any(holds) and not all(holds):
            continue
        doc = documents.setdefault(item.path, load_yaml(item.path, error=LibraryError))
        line = clause_line(doc, item.id, "when") or item.line
        if all(holds):
            problems.append(Problem(
                "condition-always-true", item.path, line, f"{item.id}.when",
                f"condition '{item.clause.when}' holds for every example deal "
                f"({', '.join(names)}), so the examples never test the clause being left out",
                "add an example deal (examples/deal-*.yaml) for which it does not hold; or, if "
                "the clause applies to every deal, remove 'when:'"))
        else:
            problems.append(Problem(
                "condition-never-true", item.path, line, f"{item.id}.when",
                f"condition '{item.clause.when}' holds for no example deal "
                f"({', '.join(names)}), so the clause is never tested in an agreement",
                "add an example deal (examples/deal-*.yaml) for which it holds; or correct the "
                "condition"))
    return problems


def lock_library(library_path: Path) -> list[str]:
    """`dpa clauses lock`: record every new clause version in versions.lock; the keys added."""
    library = load_library(library_path)
    data, added = updated_lock(library)
    target = library_path / LOCK_FILE
    if added or not target.is_file():
        write_atomically(target, data)
    languages = updated_language_lock(library)
    target = library_path / LANGUAGE_LOCK_FILE
    if not target.is_file() or target.read_bytes() != languages:
        write_atomically(target, languages)
    return added
