"""pydantic validation of a parsed YAML document: the first error names file:line, the
field as written, and how to fix it (with a did-you-mean for a misspelt key)."""

from __future__ import annotations

import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import DpaError, InputError, did_you_mean
from .parsing import Loc, YamlDocument

M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], doc: YamlDocument, *, error: type[DpaError] = InputError) -> M:
    """Validate a YAML document against a pydantic model; the first error names file:line."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise validation_error(exc, doc, model, error=error) from None


def _child(node: Any, part: int | str) -> tuple[bool, Any]:
    if isinstance(node, dict) and part in node:
        return True, node[part]
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return True, node[part]
    return False, None


def _data_loc(error: Any, data: Any) -> Loc:
    """The error's location without the union-member tags pydantic puts in it ('str',
    'constrained-str', 'dict[...]'): only the keys and indexes that exist in the data, plus
    the last key of a missing or unknown field."""
    loc: Loc = tuple(error["loc"])
    kept: list[str | int] = []
    node = data
    for part in loc:
        found, child = _child(node, part)
        if found:
            kept.append(part)
            node = child
    if error["type"] in ("missing", "extra_forbidden") and loc and (not kept or
                                                                   kept[-1] != loc[-1]):
        kept.append(loc[-1])
    return tuple(kept)


def validation_error(
    exc: ValidationError, doc: YamlDocument, model: type[BaseModel], *, error: type[DpaError]
) -> DpaError:
    errors = exc.errors()
    # A misspelt key also makes the real one "missing": name the unknown key first. Otherwise,
    # of the errors a union reports (one per member, e.g. a text or a text per language), the
    # one that reaches deepest into what was written is the one that explains it.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), None) or max(
        errors, key=lambda e: len(_data_loc(e, doc.data)))
    loc: Loc = _data_loc(first, doc.data)
    field = ".".join(str(p) for p in loc) or None
    kind = first["type"]
    msg = str(first["msg"])
    fix: str | None = None
    if kind == "extra_forbidden":
        name = str(loc[-1])
        allowed = _allowed_fields(model, loc[:-1], doc.data)
        hint = did_you_mean(name, allowed) if allowed else None
        what = f"unknown field '{name}'"
        fix = hint or (
            "remove it; allowed fields: " + ", ".join(sorted(allowed)) if allowed else "remove it"
        )
    elif kind == "missing":
        what = f"required field '{loc[-1]}' is missing"
        fix = f"add '{loc[-1]}:'"
    else:
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if " — fix: " in msg:
            msg, fix = msg.split(" — fix: ", 1)
        what = msg[0].lower() + msg[1:] if msg else "invalid value"
        if kind == "string_pattern_mismatch":
            what = f"'{first.get('input')}' does not have the expected format"
        if kind in {"model_type", "dict_type"}:
            what = "expected a mapping of fields here"
        fix = fix or _fix_for(kind, first.get("ctx") or {})
    return error(what, path=doc.path, line=doc.line_of(loc), field=field, fix=fix)


_PATTERN_FIXES = {
    "@": "write an e-mail address such as privacy@example.be",
    "[A-Z]{2}": "write a two-letter ISO country code in capitals, e.g. BE or NL",
    "[a-z0-9]": "write a lower-case id with letters, digits and dashes, e.g. customer-service",
}
_KIND_FIXES = {
    "int_parsing": "write a whole number, e.g. 7",
    "int_type": "write a whole number, e.g. 7",
    "int_from_float": "write a whole number, e.g. 7",
    "decimal_parsing": "write an amount as a number, e.g. 2500",
    "decimal_type": "write an amount as a number, e.g. 2500",
    "float_parsing": "write a number, e.g. 2500",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "string_type": "write text (quote it if it starts with a special character)",
    "list_type": "write a list, e.g. [first, second] or one '- item' per line",
    "model_type": "indent the fields under this key",
    "dict_type": "indent the fields under this key",
    "literal_error": "use one of the values listed",
    "enum": "use one of the values listed",
    "date_parsing": "write the date as YYYY-MM-DD",
    "date_from_datetime_parsing": "write the date as YYYY-MM-DD",
    "date_type": "write the date as YYYY-MM-DD",
    "too_short": "add at least one entry",
    "string_too_short": "fill in this value",
}


def _fix_for(kind: str, ctx: dict[str, Any]) -> str:
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return next((fix for key, fix in _PATTERN_FIXES.items() if key in pattern),
                    f"match the format {pattern}")
    if kind in {"greater_than_equal", "greater_than"}:
        return f"use a value of at least {ctx.get('ge', ctx.get('gt'))}"
    if kind in {"less_than_equal", "less_than"}:
        return f"use a value of at most {ctx.get('le', ctx.get('lt'))}"
    return _KIND_FIXES.get(kind, "correct the value")


def _allowed_fields(model: type[BaseModel], loc: Loc, data: Any) -> set[str]:
    """Field names allowed at `loc` inside `model` (best effort, for 'did you mean')."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return set()
        info = current.model_fields.get(str(part))
        if info is None:
            return set()
        current = _inner_model(info.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return {f.alias or n for n, f in current.model_fields.items()}
    return set()


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
