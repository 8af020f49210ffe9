"""dpa-engine: GDPR processor agreements from a clause library and a deal file."""

from .clauses import Library, lint_library, load_library
from .deals import LoadedDeal, load_deal
from .engine import Engine, Explanation, GenerationResult, explain, generate
from .errors import DpaError, InputError, LibraryError, RenderError, RuleError
from .models import Deal, ProviderProfile
from .rules import Decision, decide

__version__ = "0.1.0"

__all__ = [
    "Deal", "Decision", "DpaError", "Engine", "Explanation", "GenerationResult", "InputError",
    "Library", "LibraryError", "LoadedDeal", "ProviderProfile", "RenderError", "RuleError",
    "decide", "explain", "generate", "lint_library", "load_deal", "load_library",
]
