"""Strict YAML loading that remembers line numbers, and pydantic validation that reports them.

Every input file (deal, provider profile, clause file) goes through here, so every error
names file:line and field: `reading` reads the file safely, `parsing` parses it strictly,
`validation` checks it against a pydantic model.
"""

from __future__ import annotations

from .parsing import Loc, YamlDocument, load_yaml, parse_yaml
from .reading import MAX_INPUT_BYTES, read_input
from .validation import validate, validation_error

__all__ = ["MAX_INPUT_BYTES", "Loc", "YamlDocument", "load_yaml", "parse_yaml", "read_input",
           "validate", "validation_error"]
