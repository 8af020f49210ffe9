"""`when:` conditions: compiled with rule-engine and type-checked against the declared facts."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import did_you_mean
from .facts import FACTS, FactSpec
from .format import Clause
from .loaded import Collector
from .ruleparser import import_rule_engine

if TYPE_CHECKING:
    import rule_engine

# rule_engine is imported inside the functions below, for start-up time: importing it builds
# its expression parser unless import_rule_engine() offers the stored tables first, and
# `import dpa_engine.library` (done by commands that never compile a condition) must not pay.


@functools.cache
def rule_context() -> rule_engine.Context:
    """The rule-engine context that types every fact a condition may use."""
    import_rule_engine()
    import rule_engine  # start-up time: see the top of this module

    types = {
        "text": rule_engine.DataType.STRING,
        "number": rule_engine.DataType.FLOAT,
        "boolean": rule_engine.DataType.BOOLEAN,
        "text-list": rule_engine.DataType.ARRAY(rule_engine.DataType.STRING),
    }
    return rule_engine.Context(type_resolver=rule_engine.type_resolver_from_dict(
        {name: types[spec.type] for name, spec in FACTS.items()}))


def holds(condition: str, facts: dict[str, Any]) -> bool:
    """Whether a condition (in the language of `when:`) holds for these facts."""
    import_rule_engine()
    import rule_engine  # start-up time: see the top of this module

    return bool(rule_engine.Rule(condition, context=rule_context()).matches(facts))


def compile_condition(clause: Clause, path: Path, line: int | None, out: Collector
                      ) -> tuple[rule_engine.Rule | None, tuple[str, ...]]:
    import_rule_engine()  # its parser tables read from a file, not computed (ruleparser.py)
    import rule_engine  # start-up time: see the top of this module
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


def _check_comparison(node: Any, path: Path, line: int | None, fld: str, out: Collector) -> None:
    import rule_engine.ast as rast  # start-up time: see the top of this module

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
    import rule_engine.ast as rast  # start-up time: see the top of this module

    found = [node]
    for value in vars(node).values():
        if isinstance(value, rast.ExpressionBase):
            found.extend(_walk(value))
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, rast.ExpressionBase):
                    found.extend(_walk(item))
    return found
