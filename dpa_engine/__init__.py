"""dpa-engine: GDPR processor agreements from a clause library and a deal file.

The public API: load a clause library and a deal, decide which clauses apply and why,
generate the agreement. The command line (dpa_engine.cli) and any front end call these.
The change-notice workflow has its own public API in `dpa_engine.notices`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .agreements.deals import LoadedDeal, ProviderCache, load_deal
    from .agreements.engine import (
        Engine,
        Explanation,
        GenerationResult,
        default_library_path,
        default_template_path,
        explain,
        generate,
    )
    from .agreements.rules import ClauseDecision, Decision, Deviation, decide
    from .document import DocumentModel
    from .errors import DpaError, InputError, LibraryError, RenderError, RuleError
    from .library import Library, lint_library, load_library
    from .models import Deal, ProviderProfile

# Names resolved on first use (PEP 562): `import dpa_engine.cli` must not load the whole
# library, or every `dpa` command would pay for docxtpl, rule-engine and the rest.
_MODULES = {
    "LoadedDeal": "agreements.deals", "ProviderCache": "agreements.deals",
    "load_deal": "agreements.deals",
    "Engine": "agreements.engine", "Explanation": "agreements.engine",
    "GenerationResult": "agreements.engine", "default_library_path": "agreements.engine",
    "default_template_path": "agreements.engine", "explain": "agreements.engine",
    "generate": "agreements.engine",
    "ClauseDecision": "agreements.rules", "Decision": "agreements.rules",
    "Deviation": "agreements.rules", "decide": "agreements.rules",
    "DocumentModel": "document",
    "DpaError": "errors", "InputError": "errors", "LibraryError": "errors",
    "RenderError": "errors", "RuleError": "errors",
    "Library": "library", "lint_library": "library", "load_library": "library",
    "Deal": "models", "ProviderProfile": "models",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'dpa_engine' has no attribute '{name}'")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "ClauseDecision", "Deal", "Decision", "Deviation", "DocumentModel", "DpaError", "Engine",
    "Explanation", "GenerationResult", "InputError", "Library", "LibraryError", "LoadedDeal",
    "ProviderCache", "ProviderProfile", "RenderError", "RuleError", "__version__", "decide",
    "default_library_path", "default_template_path", "explain", "generate", "lint_library",
    "load_deal", "load_library",
]
