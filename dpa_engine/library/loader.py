"""Strict loading of the clause library: every problem names file:line, field and fix.

`load_library` stops at the first problem (the engine never runs on a broken library);
`lint_library` returns them all (for `dpa clauses lint`). The library's types are in
`loaded`, the checks of a clause's condition in `conditions`, of its texts in `textcompile`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Template
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import ValidationError

from ..errors import DpaError, LibraryError, did_you_mean
from ..models import LANGUAGES, TERM_NAMES, Language, TermOverrides, Terms
from ..yamlsource import YamlDocument, parse_yaml, read_input, validation_error
from .conditions import compile_condition
from .format import LABEL_KEYS, LEGAL_REFERENCES, OPTIONAL_LABEL_KEYS, Clause, ClauseFile, LabelsFile
from .loaded import LABELS_FILE, Article, Collector, Library, LoadedClause, Problem
from .textcompile import compile_text
from .textenv import clause_environment


def load_library(path: Path) -> Library:
    """Load and check the whole library; raise LibraryError on the first problem."""
    library, problems = _load(path)
    if problems:
        raise problems[0].as_error()
    return library


def lint_library(path: Path) -> tuple[Library | None, list[Problem]]:
    """Every problem in the library (empty list = clean)."""
    library, problems = _load(path)
    return (None if problems else library), problems


def load_with_problems(path: Path) -> tuple[Library, list[Problem]]:
    """The library as far as it loads (clauses with problems left out) and every problem."""
    return _load(path)



@dataclass
class _Scan:
    """What loading has gathered so far, across the library's files."""

    out: Collector = field(default_factory=Collector)
    env: ImmutableSandboxedEnvironment = field(default_factory=clause_environment)
    digest: Any = field(default_factory=hashlib.sha256)
    sources: dict[str, bytes] = field(default_factory=dict)
    articles: list[Article] = field(default_factory=list)
    labels: dict[str, dict[Language, str]] = field(default_factory=dict)
    seen_ids: dict[str, tuple[Path, int | None]] = field(default_factory=dict)
    defaults: dict[str, tuple[Any, str]] = field(default_factory=dict)
    negotiable: set[str] = field(default_factory=set)
    pending_refs: list[tuple[LoadedClause, int | None]] = field(default_factory=list)


def _load(path: Path) -> tuple[Library, list[Problem]]:
    scan = _Scan()
    for file in _library_files(path):
        doc = _read(file, scan)
        if doc is None:
            continue
        if file.name == LABELS_FILE:
            scan.labels = _load_labels(doc, scan.out)
            continue
        article = _load_article(file, doc, scan)
        if article is not None:
            scan.articles.append(article)
    _check_library(path, scan)
    articles = sorted(scan.articles, key=lambda a: (a.header.order, a.family))
    library = Library(
        path=path,
        articles=articles,
        labels=scan.labels,
        defaults={k: v for k, (v, _) in scan.defaults.items()},
        negotiable=frozenset(scan.negotiable),
        content_hash=scan.digest.hexdigest(),
        environment=scan.env,
        clauses={c.id: c for a in articles for c in a.clauses},
        sources=scan.sources,
    )
    return library, scan.out.problems


def _library_files(path: Path) -> list[Path]:
    if not path.is_dir():
        raise LibraryError("clause library folder not found", path=path,
                           fix="point --library at the folder holding the clause YAML files")
    files = sorted(path.glob("*.yaml"))
    if not files:
        raise LibraryError("no *.yaml clause files in the library folder", path=path,
                           fix="add the clause files (see clauses/README.md)")
    return files


def _read(file: Path, scan: _Scan) -> YamlDocument | None:
    """The file parsed, its bytes kept and hashed; None (a problem) when it cannot be read."""
    try:
        text = read_input(file, error=LibraryError, what="clause file")
        scan.sources[file.name] = text.encode("utf-8")
        scan.digest.update(file.name.encode() + b"\0" + scan.sources[file.name] + b"\0")
        return parse_yaml(file, text, error=LibraryError)
    except DpaError as exc:
        scan.out.add("yaml", file, exc.line, exc.field, exc.what, exc.fix)
        return None


def _load_article(file: Path, doc: YamlDocument, scan: _Scan) -> Article | None:
    out = scan.out
    if not isinstance(doc.data, dict) or "article" not in doc.data:
        out.add("format", file, 1, None, "not a clause file (no 'article:' key)",
                f"start the file with 'article:' and 'clauses:', or name it {LABELS_FILE}"
                " for labels")
        return None
    try:
        parsed = ClauseFile.model_validate(doc.data)
    except ValidationError as exc:
        err = validation_error(exc, doc, ClauseFile, error=LibraryError)
        out.add("schema", file, err.line, err.field, err.what, err.fix)
        return None
    loaded: list[LoadedClause] = []
    for index, clause in enumerate(parsed.clauses):
        base = ("clauses", index)
        line = doc.line_of((*base, "id")) or 1
        if clause.id in scan.seen_ids:
            other = scan.seen_ids[clause.id]
            out.add("duplicate-id", file, line, "id", f"clause id '{clause.id}' is used twice "
                    f"(also at {other[0].name}:{other[1]})",
                    "give the clause a new id; never reuse an id")
            continue
        scan.seen_ids[clause.id] = (file, line)
        item = _load_clause(clause, file.stem, doc, base, scan)
        if item is not None:
            loaded.append(item)
            scan.pending_refs.append((item, doc.line_of((*base, "text", "nl"))))
    return Article(file.stem, parsed.article, file, tuple(loaded))


def _check_library(path: Path, scan: _Scan) -> None:
    """What only the whole library shows: references to no clause, terms without a standard
    value, a missing labels file."""
    out = scan.out
    all_ids = set(scan.seen_ids)
    for item, text_line in scan.pending_refs:
        for target in sorted(item.refs - all_ids):
            out.add("unknown-ref", item.path, item.ref_lines.get(target) or text_line, f"{item.id}.text",
                    f"ref(\"{target}\") points to no clause",
                    did_you_mean(target, all_ids) or "use the id of an existing clause")
    for name in TERM_NAMES:
        if name not in scan.defaults and Terms.model_fields[name].is_required():
            out.add("no-default", path, None, name,
                    f"no clause declares the parameter '{name}', so it has no standard value",
                    f"declare '{name}: {{default: ..., negotiable: ...}}' under 'parameters:' "
                    "of the clause that uses it")
    if not scan.labels and not any(p.path.name == LABELS_FILE for p in out.problems):
        out.add("labels", path / LABELS_FILE, None, None, "labels file missing",
                f"add {LABELS_FILE} with every document label in nl, fr and en")


def _load_labels(doc: YamlDocument, out: Collector) -> dict[str, dict[Language, str]]:
    try:
        parsed = LabelsFile.model_validate(doc.data)
    except ValidationError as exc:
        err = validation_error(exc, doc, LabelsFile, error=LibraryError)
        out.add("schema", doc.path, err.line, err.field, err.what, err.fix)
        return {}
    for key, texts in parsed.labels.items():
        missing = [lang for lang in LANGUAGES if not texts.get(lang)]
        if missing:
            out.add("missing-translation", doc.path, doc.line_of(("labels", key)), key,
                    f"label '{key}' has no {', '.join(missing)} text",
                    "add the missing language; there is no fallback")
        if key not in LABEL_KEYS and key not in OPTIONAL_LABEL_KEYS:
            out.add("unknown-label", doc.path, doc.line_of(("labels", key)), key,
                    f"unknown label '{key}'", did_you_mean(key, set(LABEL_KEYS)) or "remove it")
    for key in LABEL_KEYS:
        if key not in parsed.labels:
            out.add("missing-label", doc.path, doc.line_of(("labels",)), key,
                    f"label '{key}' is missing", f"add '{key}:' with nl, fr and en texts")
    return dict(parsed.labels)



def _load_clause(clause: Clause, family: str, doc: YamlDocument, base: tuple[str | int, ...],
                 scan: _Scan) -> LoadedClause | None:
    path, out = doc.path, scan.out
    problems_before = len(out.problems)

    def line(*loc: str | int) -> int | None:
        return doc.line_of((*base, *loc))

    _check_identity(clause, family, path, line, out)
    _check_parameters(clause, path, line, scan)
    condition, facts_used = compile_condition(clause, path, line("when"), out)
    templates, placeholders, refs, ref_lines = _compile_texts(clause, path, line, scan)
    if len(placeholders) == len(LANGUAGES):
        _same_across_languages(clause, placeholders, "placeholders", path,
                               lambda lang: line("text", lang), out)
        _same_across_languages(clause, refs, "references", path, lambda lang: line("text", lang),
                               out)
        _check_used(clause, set().union(*placeholders.values()) | set(facts_used), path, line,
                    out)
    if len(out.problems) > problems_before or len(templates) != len(LANGUAGES):
        return None
    return LoadedClause(
        clause=clause, family=family, path=path, line=line("id") or 1, templates=templates,
        condition=condition, facts_used=facts_used,
        placeholders=placeholders["nl"], refs=refs["nl"], ref_lines=ref_lines,
    )


_Line = Callable[..., int | None]


def _check_identity(clause: Clause, family: str, path: Path, line: _Line, out: Collector) -> None:
    """The id's family is the file's; every legal reference is a known one."""
    if not clause.id.startswith(family + "."):
        out.add("id-family", path, line("id"), "id",
                f"clause id '{clause.id}' does not start with its file's family '{family}.'",
                f"rename it '{family}.{clause.id.split('.', 1)[-1]}' or move it to "
                f"{clause.id.split('.', 1)[0]}.yaml")
    for i, reference in enumerate(clause.satisfies):
        if reference not in LEGAL_REFERENCES:
            out.add("unknown-reference", path, line("satisfies", i), "satisfies",
                    f"unknown legal reference '{reference}'",
                    did_you_mean(reference, set(LEGAL_REFERENCES))
                    or "use a reference listed in clauses/README.md")


def _check_parameters(clause: Clause, path: Path, line: _Line, scan: _Scan) -> None:
    """Each declared parameter is a term, with a valid standard value that agrees with the one
    other clauses declare."""
    out, defaults = scan.out, scan.defaults
    for name, spec in clause.parameters.items():
        where = line("parameters", name)
        if name not in TERM_NAMES:
            out.add("unknown-parameter", path, where, f"parameters.{name}",
                    f"unknown parameter '{name}'",
                    did_you_mean(name, set(TERM_NAMES)) or "use one of " + ", ".join(TERM_NAMES))
            continue
        try:
            value = getattr(TermOverrides.model_validate({name: spec.default}), name)
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"]
            out.add("bad-default", path, where, f"parameters.{name}.default",
                    f"default {spec.default!r} is not valid: {msg}", "give a valid value")
            continue
        if name in defaults and defaults[name][0] != value:
            out.add("conflicting-default", path, where, f"parameters.{name}.default",
                    f"default {spec.default!r} differs from {defaults[name][0]!r} declared by "
                    f"{defaults[name][1]}", "use the same standard value in both clauses")
            continue
        defaults.setdefault(name, (value, clause.id))
        if spec.negotiable:
            scan.negotiable.add(name)


def _compile_texts(clause: Clause, path: Path, line: _Line, scan: _Scan
                   ) -> tuple[dict[Language, Template], dict[Language, frozenset[str]],
                              dict[Language, frozenset[str]], dict[str, int | None]]:
    """The texts that compile, their placeholders and references per language, and the line
    of each reference in the nl text."""
    templates: dict[Language, Template] = {}
    placeholders: dict[Language, frozenset[str]] = {}
    refs: dict[Language, frozenset[str]] = {}
    ref_lines: dict[str, int | None] = {}
    for language in LANGUAGES:
        where = line("text", language)
        compiled = compile_text(clause.text[language], scan.env, path, where,
                                f"text.{language}", scan.out)
        if compiled is None:
            continue
        templates[language], placeholders[language], found_refs = compiled
        refs[language] = frozenset(found_refs)
        if language == "nl":
            ref_lines = found_refs
    return templates, placeholders, refs, ref_lines


def _check_used(clause: Clause, used: set[str], path: Path, line: _Line, out: Collector) -> None:
    for name in clause.parameters:
        if name in TERM_NAMES and name not in used:
            out.add("unused-parameter", path, line("parameters", name), f"parameters.{name}",
                    f"parameter '{name}' is declared but neither its text nor its condition "
                    "uses it", f"use {{{{ {name} }}}} in the text, or remove the declaration")


def _same_across_languages(clause: Clause, per_language: dict[Language, frozenset[str]],
                           what: str, path: Path, line: Callable[[Language], int | None],
                           out: Collector) -> None:
    reference = per_language["nl"]
    for language in LANGUAGES[1:]:
        if per_language[language] != reference:
            only_nl = sorted(reference - per_language[language])
            only_other = sorted(per_language[language] - reference)
            detail = "; ".join(
                part for part in (
                    f"only in nl: {', '.join(only_nl)}" if only_nl else "",
                    f"only in {language}: {', '.join(only_other)}" if only_other else "",
                ) if part
            )
            out.add(f"{what}-differ", path, line(language), f"{clause.id}.text.{language}",
                    f"{what} differ between nl and {language} ({detail})",
                    "use the same placeholders and references in every language")
