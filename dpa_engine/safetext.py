"""Text every document can hold: the one check applied to text where it enters the product.

A .docx part, an Atom feed and a notice e-mail are XML or MIME; XML 1.0 cannot hold control
characters other than tab, line feed and carriage return, nor the non-characters U+FFFE and
U+FFFF, nor lone surrogates. Such a character makes Word refuse the whole file, so it is
refused where the text comes in (a YAML file, a command option, a web form), naming the field.
DEL (U+007F) is refused too: it is invisible and never meant.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from .errors import DpaError, InputError

# Everything outside XML 1.0's Char production, plus DEL.
XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def describe_character(char: str) -> str:
    """'U+0007 (BEL)' for a message: the code point and, when it has one, its name."""
    names = {0: "NUL", 7: "BEL", 8: "BACKSPACE", 0x1B: "ESC", 0x7F: "DEL"}
    code = ord(char)
    name = names.get(code) or unicodedata.name(char, "")
    if not name:
        name = "non-character" if code in (0xFFFE, 0xFFFF) else (
            "surrogate" if 0xD800 <= code <= 0xDFFF else "control character")
    return f"U+{code:04X} ({name})"


def unsafe_character(text: str) -> tuple[int, str] | None:
    """Position and description of the first character XML cannot hold, or None."""
    match = XML_UNSAFE.search(text)
    return None if match is None else (match.start(), describe_character(match.group()))


def unsafe_message(text: str) -> str | None:
    """The 'what' of an error for `text`, or None when the text is safe."""
    found = unsafe_character(text)
    if found is None:
        return None
    position, described = found
    return (f"contains the invisible character {described} at position {position + 1}, "
            "which no document can hold")


UNSAFE_FIX = "retype the text without it (tab and line breaks are fine)"


def xml_safe_text(value: str, *, field: str, error: type[DpaError] = InputError) -> str:
    """`value` unchanged when every document can hold it; else a one-line error naming `field`.
    For command options and form fields (YAML files are checked when they load)."""
    what = unsafe_message(value)
    if what is not None:
        raise error(what, field=field, fix=UNSAFE_FIX)
    return value


def safe_fields(fields: dict[str, str | None], *, error: type[DpaError] = InputError) -> None:
    """Free text a library function records (a reason, an objection, who acted), checked
    whoever calls it (command line, web form, customer portal, a script): the first text no
    document can hold is a one-line error naming its field. None is skipped."""
    for field, value in fields.items():
        if value is not None:
            xml_safe_text(value, field=field, error=error)


def first_unsafe(data: Any, loc: tuple[int | str, ...] = ()
                 ) -> tuple[tuple[int | str, ...], str] | None:
    """Location and message of the first unsafe string (key or value) in plain YAML data."""
    if isinstance(data, str):
        what = unsafe_message(data)
        return None if what is None else (loc, what)
    if isinstance(data, dict):
        for key, value in data.items():
            what = unsafe_message(str(key))
            if what is not None:
                return (*loc, str(key)), "the key " + what
            found = first_unsafe(value, (*loc, str(key)))
            if found is not None:
                return found
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found = first_unsafe(item, (*loc, index))
            if found is not None:
                return found
    return None
