"""Strict loading of the clause library: every problem names file:line, field and fix.

`load_library` stops at the first problem (the engine never runs on a broken library);
`lint_library` returns them all (for `dpa clauses lint`).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Template, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import TemplateAssertionError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import ValidationError

from ..errors import DpaError, LibraryError, did_you_mean
from ..models import LANGUAGES, TERM_NAMES, Language, TermOverrides, Terms
from ..yamlsource import YamlDocument, parse_yaml, read_input, validation_error
from .facts import FACTS, PARTY_FIELDS, TEXT_NAMES, FactSpec
from .format import (
    LABEL_KEYS,
    LEGAL_REFERENCES,
    OPTIONAL_LABEL_KEYS,
    ArticleHeader,
    Clause,
    ClauseFile,
    LabelsFile,
)
from .ruleparser import import_rule_engine
from .textenv import clause_environment

if TYPE_CHECKING:
    # rule_engine is imported where conditions are compiled (through import_rule_engine):
    # importing it builds its parser, which every `dpa` command would pay at start
    import rule_engine

LABELS_FILE = "labels.yaml"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the library, as lint reports it."""

    code: str
    path: Path
    line: int | None
    field: str | None
    what: str
    fix: str | None = None

    def as_error(self) -> LibraryError:
        return LibraryError(self.what, path=self.path, line=self.line, field=self.field, fix=self.fix)

    @property
    def message(self) -> str:
        return self.as_error().message


@dataclass(frozen=True)
class LoadedClause:
    clause: Clause
    family: str
    path: Path
    line: int
    templates: dict[Language, Template]
    condition: rule_engine.Rule | None
    facts_used: tuple[str, ...]
    placeholders: frozenset[str]
    refs: frozenset[str]
    ref_lines: dict[str, int | None] = field(default_factory=dict)  # nl text: target -> line

    @property
    def id(self) -> str:
        return self.clause.id


@dataclass(frozen=True)
class Article:
    family: str
    header: ArticleHeader
    path: Path
    clauses: tuple[LoadedClause, ...]


@dataclass
class Library:
    path: Path
    articles: list[Article]
    labels: dict[str, dict[Language, str]]
    defaults: dict[str, Any]
    negotiable: frozenset[str]
    content_hash: str
    environment: ImmutableSandboxedEnvironment
    clauses: dict[str, LoadedClause] = field(default_factory=dict)
    # File name -> the bytes loaded (and hashed): what a manifest snapshots.
    sources: dict[str, bytes] = field(default_factory=dict)

    def label(self, key: str, language: Language) -> str:
        return self.labels[key][language]


@functools.cache
def rule_context() -> rule_engine.Context:
    """The rule-engine context that types every fact a condition may use."""
    import_rule_engine()
    import rule_engine

    types = {
        "text": rule_engine.DataType.STRING,
        "number": rule_engine.DataType.FLOAT,
        "boolean": rule_engine.DataType.BOOLEAN,
        "text-list": rule_engine.DataType.ARRAY(rule_engine.DataType.STRING),
    }
    return rule_engine.Context(type_resolver=rule_engine.type_resolver_from_dict(
        {name: types[spec.type] for name, spec in FACTS.items()}))


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, code: str, doc_path: Path, line: int | None, fld: str | None, what: str,
            fix: str | None = None) -> None:
        self.problems.append(Problem(code, doc_path, line, fld, what, fix))


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


def _load(path: Path) -> tuple[Library, list[Problem]]:
    if not path.is_dir():
        raise LibraryError("clause library folder not found", path=path,
                           fix="point --library at the folder holding the clause YAML files")
    files = sorted(path.glob("*.yaml"))
    if not files:
        raise LibraryError("no *.yaml clause files in the library folder", path=path,
                           fix="add the clause files (see clauses/README.md)")
    out = _Collector()
    env = clause_environment()
    digest = hashlib.sha256()
    articles: list[Article] = []
    labels: dict[str, dict[Language, str]] = {}
    seen_ids: dict[str, tuple[Path, int | None]] = {}
    defaults: dict[str, tuple[Any, str]] = {}
    negotiable: set[str] = set()
    pending_refs: list[tuple[LoadedClause, int | None]] = []

    sources: dict[str, bytes] = {}
    for file in files:
        try:
            text = read_input(file, error=LibraryError, what="clause file")
            sources[file.name] = text.encode("utf-8")
            digest.update(file.name.encode() + b"\0" + sources[file.name] + b"\0")
            doc = parse_yaml(file, text, error=LibraryError)
        except DpaError as exc:
            out.add("yaml", file, exc.line, exc.field, exc.what, exc.fix)
            continue
        if file.name == LABELS_FILE:
            labels = _load_labels(doc, out)
            continue
        if not isinstance(doc.data, dict) or "article" not in doc.data:
            out.add("format", file, 1, None, "not a clause file (no 'article:' key)",
                    f"start the file with 'article:' and 'clauses:', or name it {LABELS_FILE}"
                    " for labels")
            continue
        try:
            parsed = ClauseFile.model_validate(doc.data)
        except ValidationError as exc:
            err = validation_error(exc, doc, ClauseFile, error=LibraryError)
            out.add("schema", file, err.line, err.field, err.what, err.fix)
            continue
        loaded: list[LoadedClause] = []
        for index, clause in enumerate(parsed.clauses):
            base = ("clauses", index)
            line = doc.line_of((*base, "id")) or 1
            if clause.id in seen_ids:
                other = seen_ids[clause.id]
                out.add("duplicate-id", file, line, "id", f"clause id '{clause.id}' is used twice "
                        f"(also at {other[0].name}:{other[1]})",
                        "give the clause a new id; never reuse an id")
                continue
            seen_ids[clause.id] = (file, line)
            item = _load_clause(clause, file.stem, doc, base, env, out, defaults, negotiable)
            if item is not None:
                loaded.append(item)
                pending_refs.append((item, doc.line_of((*base, "text", "nl"))))
        articles.append(Article(file.stem, parsed.article, file,
                                tuple(loaded)))

    all_ids = set(seen_ids)
    for item, text_line in pending_refs:
        for target in sorted(item.refs - all_ids):
            out.add("unknown-ref", item.path, item.ref_lines.get(target) or text_line, f"{item.id}.text",
                    f"ref(\"{target}\") points to no clause",
                    did_you_mean(target, all_ids) or "use the id of an existing clause")
    for name in TERM_NAMES:
        if name not in defaults and Terms.model_fields[name].is_required():
            out.add("no-default", path, None, name,
                    f"no clause declares the parameter '{name}', so it has no standard value",
                    f"declare '{name}: {{default: ..., negotiable: ...}}' under 'parameters:' "
                    "of the clause that uses it")
    if not labels and not any(p.path.name == LABELS_FILE for p in out.problems):
        out.add("labels", path / LABELS_FILE, None, None, "labels file missing",
                f"add {LABELS_FILE} with every document label in nl, fr and en")

    articles.sort(key=lambda a: (a.header.order, a.family))
    library = Library(
        path=path,
        articles=articles,
        labels=labels,
        defaults={k: v for k, (v, _) in defaults.items()},
        negotiable=frozenset(negotiable),
        content_hash=digest.hexdigest(),
        environment=env,
        clauses={c.id: c for a in articles for c in a.clauses},
        sources=sources,
    )
    return library, out.problems


def _load_labels(doc: YamlDocument, out: _Collector) -> dict[str, dict[Language, str]]:
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


def _load_clause(
    clause: Clause,
    family: str,
    doc: YamlDocument,
    base: tuple[str | int, ...],
    env: ImmutableSandboxedEnvironment,
    out: _Collector,
    defaults: dict[str, tuple[Any, str]],
    negotiable: set[str],
) -> LoadedClause | None:
    path = doc.path
    problems_before = len(out.problems)

    def line(*loc: str | int) -> int | None:
        return doc.line_of((*base, *loc))

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
            negotiable.add(name)

    condition, facts_used = _compile_condition(clause, path, line("when"), out)

    templates: dict[Language, Template] = {}
    placeholders: dict[Language, frozenset[str]] = {}
    refs: dict[Language, frozenset[str]] = {}
    ref_lines: dict[str, int | None] = {}
    for language in LANGUAGES:
        where = line("text", language)
        compiled = _compile_text(clause.text[language], env, path, where,
                                 f"text.{language}", out)
        if compiled is None:
            continue
        templates[language], placeholders[language], found_refs = compiled
        refs[language] = frozenset(found_refs)
        if language == "nl":
            ref_lines = found_refs
    if len(placeholders) == len(LANGUAGES):
        _same_across_languages(clause, placeholders, "placeholders", path,
                               lambda lang: line("text", lang), out)
        _same_across_languages(clause, refs, "references", path, lambda lang: line("text", lang),
                               out)
        used = set().union(*placeholders.values()) | set(facts_used)
        for name in clause.parameters:
            if name in TERM_NAMES and name not in used:
                out.add("unused-parameter", path, line("parameters", name), f"parameters.{name}",
                        f"parameter '{name}' is declared but neither its text nor its condition "
                        "uses it", f"use {{{{ {name} }}}} in the text, or remove the declaration")
    if len(out.problems) > problems_before or len(templates) != len(LANGUAGES):
        return None
    return LoadedClause(
        clause=clause, family=family, path=path, line=line("id") or 1, templates=templates,
        condition=condition, facts_used=facts_used,
        placeholders=placeholders["nl"], refs=refs["nl"], ref_lines=ref_lines,
    )


def _same_across_languages(clause: Clause, per_language: dict[Language, frozenset[str]],
                           what: str, path: Path, line: Callable[[Language], int | None],
                           out: _Collector) -> None:
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


def _compile_condition(clause: Clause, path: Path, line: int | None, out: _Collector
                       ) -> tuple[rule_engine.Rule | None, tuple[str, ...]]:
    import_rule_engine()  # its parser tables read from a file, not computed (ruleparser.py)
    import rule_engine
    import rule_engine.ast as rast

    if clause.when is None:
        return None, ()
    fld = f"{clause.id}.when"
    try:
        rule = rule_engine.Rule(clause.when, context=rule_context())
    except rule_engine.SymbolResolutionError as exc:
        out.add("unknown-fact", path, line, fld, f"unknown fact '{exc.symbol_name}'",
                did_you_mean(exc.symbol_name, set(FACTS)) or "see the facts in clauses/README.md")
        return None, ()
    except rule_engine.RuleSyntaxError as exc:
        out.add("condition-syntax", path, line, fld, f"condition does not parse: {exc.message}",
                "write e.g. governing_law == \"NL\" and has_transfers")
        return None, ()
    except rule_engine.EngineError as exc:
        out.add("condition-type", path, line, fld, f"condition does not type-check: "
                f"{getattr(exc, 'message', exc)}", "compare facts with values of their own type")
        return None, ()
    expression = rule.statement.expression
    if expression.result_type not in (rule_engine.DataType.BOOLEAN, rule_engine.DataType.UNDEFINED):
        out.add("condition-type", path, line, fld,
                "condition is not a yes/no question", "compare the fact, e.g. language == \"nl\"")
        return None, ()
    symbols: list[str] = []
    for node in _walk(expression):
        if isinstance(node, rast.SymbolExpression) and node.name not in symbols:
            symbols.append(node.name)
        if isinstance(node, rast.ComparisonExpression):
            _check_comparison(node, path, line, fld, out)
    return rule, tuple(symbols)


def _check_comparison(node: Any, path: Path, line: int | None, fld: str, out: _Collector) -> None:
    import rule_engine.ast as rast

    sides = (node.left, node.right)
    for symbol, other in (sides, sides[::-1]):
        if not isinstance(symbol, rast.SymbolExpression):
            continue
        spec: FactSpec = FACTS[symbol.name]
        if isinstance(other, rast.StringExpression):
            if spec.type != "text":
                out.add("condition-type", path, line, fld,
                        f"'{symbol.name}' is a {spec.type} fact, compared with text",
                        "compare it with a value of its own type")
            elif spec.values and other.value not in spec.values:
                out.add("condition-value", path, line, fld,
                        f"'{symbol.name}' is never \"{other.value}\"",
                        f"use one of: {', '.join(spec.values)}")
        elif isinstance(other, rast.FloatExpression) and spec.type != "number":
            out.add("condition-type", path, line, fld,
                    f"'{symbol.name}' is a {spec.type} fact, compared with a number",
                    "compare it with a value of its own type")


def _walk(node: Any) -> list[Any]:
    import rule_engine.ast as rast

    found = [node]
    for value in vars(node).values():
        if isinstance(value, rast.ExpressionBase):
            found.extend(_walk(value))
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, rast.ExpressionBase):
                    found.extend(_walk(item))
    return found


def _compile_text(text: str, env: ImmutableSandboxedEnvironment, path: Path, line: int | None,
                  fld: str, out: _Collector
                  ) -> tuple[Template, frozenset[str], dict[str, int | None]] | None:
    # Block scalars start on the line after the key.
    offset = (line or 0)
    try:
        tree = env.parse(text)
    except TemplateSyntaxError as exc:
        limited = "not allowed" in (exc.message or "") or "nested too deeply" in (exc.message or "")
        out.add("text-syntax", path, offset + (exc.lineno or 0) if line else None, fld,
                f"placeholder syntax error: {exc.message}",
                "a clause text may hold {{ placeholders }} and {% if %} ... {% else %} ... "
                "{% endif %} only" if limited else
                "write placeholders as {{ name }} and close every {% if %} with {% endif %}")
        return None
    try:
        names = set(meta.find_undeclared_variables(tree))  # compiles: unknown filters fail here
    except TemplateAssertionError as exc:
        out.add("text-syntax", path, offset + (exc.lineno or 0) if line else None, fld,
                exc.message or "invalid placeholder",
                "use only the filters listed in clauses/README.md (money)")
        return None
    ok = True
    for name in sorted(names - set(TEXT_NAMES)):
        first = next((n for n in tree.find_all(nodes.Name) if n.name == name), None)
        out.add("unknown-placeholder", path,
                offset + first.lineno if line and first is not None else line, fld,
                f"unknown placeholder '{{{{ {name} }}}}'",
                did_you_mean(name, set(TEXT_NAMES)) or "see the placeholders in clauses/README.md")
        ok = False
    for node in tree.find_all(nodes.Getattr):
        if (isinstance(node.node, nodes.Name) and node.node.name in ("customer", "provider")
                and node.attr not in PARTY_FIELDS):
            out.add("unknown-placeholder", path, offset + node.lineno if line else None, fld,
                    f"unknown field '{node.node.name}.{node.attr}'",
                    did_you_mean(node.attr, set(PARTY_FIELDS))
                    or "use one of " + ", ".join(PARTY_FIELDS))
            ok = False
    for access in tree.find_all((nodes.Getattr, nodes.Getitem)):
        attr: Any = getattr(access, "attr", None) or getattr(getattr(access, "arg", None), "value", "")
        if isinstance(attr, str) and attr.startswith("_"):
            out.add("unsafe-placeholder", path, offset + access.lineno if line else None, fld,
                    f"access to the internal attribute '{attr}' is not allowed",
                    "use only the placeholders listed in clauses/README.md")
            ok = False
    refs: dict[str, int | None] = {}
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name == "ref":
            if len(call.args) != 1 or not isinstance(call.args[0], nodes.Const) or not isinstance(
                    call.args[0].value, str):
                out.add("bad-ref", path, offset + call.lineno if line else None, fld,
                        "ref() takes one clause id in quotes", 'write {{ ref("family.name") }}')
                ok = False
            else:
                refs.setdefault(call.args[0].value, offset + call.lineno if line else None)
    if not ok:
        return None
    try:
        template = env.from_string(tree)
    except TemplateAssertionError as exc:
        out.add("text-syntax", path, offset + (exc.lineno or 0) if line else None, fld,
                exc.message or "invalid placeholder", "use only the filters listed in the README")
        return None
    return template, frozenset(names - {"ref"}), refs
