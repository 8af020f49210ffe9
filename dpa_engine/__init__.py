"""dpa-engine: GDPR processor agreements from a clause library and a deal file.

The public API: load a clause library and a deal, decide which clauses apply and why,
generate the agreement. The command line (dpa_engine.cli) and any front end call these.
The change-notice workflow has its own public API in `dpa_engine.notices`.
"""

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
from .version import __version__

__all__ = [
    "ClauseDecision", "Deal", "Decision", "Deviation", "DocumentModel", "DpaError", "Engine",
    "Explanation", "GenerationResult", "InputError", "Library", "LibraryError", "LoadedDeal",
    "ProviderCache", "ProviderProfile", "RenderError", "RuleError", "__version__", "decide",
    "default_library_path", "default_template_path", "explain", "generate", "lint_library",
    "load_deal", "load_library",
]
