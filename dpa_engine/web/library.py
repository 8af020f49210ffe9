"""The one place the web app reaches library functionality that `dpa_engine` does not export
(what only the web's pages need). Everything else comes through
`from dpa_engine import ...`, `dpa_engine.notices` and `dpa_engine.storage`."""

from __future__ import annotations

from ..agreements.approvals import ApprovalStatus, approval_status, approvals_path, approve
from ..agreements.deals import load_provider
from ..agreements.engine import default_library_path, default_template_path
from ..agreements.redline import redline_model
from ..audit.chain import append_event
from ..audit.checkpoints import write_checkpoint
from ..document import RedlineModel
from ..legal.coverage import CoverageReport, coverage
from ..library.history import ClauseView, library_version, show_clause
from ..models import (
    LANGUAGES,
    TERM_NAMES,
    Language,
    LocalizedText,
    RetentionRule,
    Terms,
    belgian_enterprise_number,
    dutch_kvk_number,
    text_in,
)
from ..notices.downloads import Pack, evidence_pack, letters_pack
from ..notices.planning import inside_windows
from ..notices.preview import ProposalChoices, preview_plan, proposal_choices
from ..storage.schema import WebAgreementRow, WebSessionRow, WebUserRow

__all__ = [
    "LANGUAGES", "TERM_NAMES", "ApprovalStatus", "ClauseView", "CoverageReport", "Language",
    "LocalizedText", "Pack", "ProposalChoices", "RedlineModel", "RetentionRule", "Terms",
    "WebAgreementRow", "WebSessionRow", "WebUserRow", "append_event",
    "approval_status", "approvals_path", "approve", "belgian_enterprise_number", "coverage",
    "default_library_path", "default_template_path", "dutch_kvk_number", "evidence_pack",
    "inside_windows", "letters_pack",
    "library_version", "load_provider", "preview_plan", "proposal_choices",
    "redline_model", "show_clause", "text_in", "write_checkpoint",
]
