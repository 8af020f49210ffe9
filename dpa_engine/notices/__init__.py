"""The sub-processor change-notice workflow.

Register customers and the agreements they signed (`import_deals`), propose a change to the
sub-processor list (`propose_change`), see who is affected and why (`plan_change`), send
each customer its notice exactly once through a transactional outbox (`send_change`),
record objections and consents (`record_objection`), close after the deadlines
(`close_change`), and prove it all with a hash-chained audit log (`verify_audit`,
`export_evidence`) and a published list feed (`write_feed`).
"""

from __future__ import annotations

import getpass
import os
import socket

from ..audit.chain import AuditRecord, AuditVerification
from ..audit.crosscheck import verify_audit
from ..mail import SmtpSettings
from .answers import (
    LetterReport,
    ObjectionReport,
    record_bounce,
    record_letter_sent,
    record_objection,
)
from .changes import (
    ChangeSummary,
    Proposal,
    propose_change,
    subprocessor_from_file,
    subprocessor_from_options,
)
from .closing import CloseReport, close_change
from .deadlines import BRUSSELS, Window, brussels_text, deadline_text, objection_deadline
from .delivery import SendProgress, SendReport, dry_run, letters, send_change
from .errors import NoticeError, SmtpUnreachable
from .evidence import export_checked, export_evidence
from .feed import write_feed
from .importing import ImportReport, import_deals
from .listing import SubprocessorListView, list_csv, list_docx, list_json, subprocessor_list
from .planning import Plan, PlanEntry, plan_change
from .register import CustomerSummary, list_customers
from .status import ChangeOverview, ChangeStatus, change_status, list_changes
from .texts import NoticeTexts, default_notice_folder, load_notice_texts
from .withdrawal import WithdrawReport, withdraw_change


def default_actor() -> str:
    """Who is acting, for the audit log: $DPA_ACTOR, else user@host."""
    if os.environ.get("DPA_ACTOR"):
        return os.environ["DPA_ACTOR"]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


__all__ = [
    "BRUSSELS",
    "AuditRecord",
    "AuditVerification",
    "ChangeOverview",
    "ChangeStatus",
    "ChangeSummary",
    "CloseReport",
    "CustomerSummary",
    "ImportReport",
    "LetterReport",
    "NoticeError",
    "NoticeTexts",
    "ObjectionReport",
    "Plan",
    "PlanEntry",
    "Proposal",
    "SendProgress",
    "SendReport",
    "SmtpSettings",
    "SmtpUnreachable",
    "SubprocessorListView",
    "Window",
    "WithdrawReport",
    "brussels_text",
    "change_status",
    "close_change",
    "deadline_text",
    "default_actor",
    "default_notice_folder",
    "dry_run",
    "export_checked",
    "export_evidence",
    "import_deals",
    "letters",
    "list_changes",
    "list_csv",
    "list_customers",
    "list_docx",
    "list_json",
    "load_notice_texts",
    "objection_deadline",
    "plan_change",
    "propose_change",
    "record_bounce",
    "record_letter_sent",
    "record_objection",
    "send_change",
    "subprocessor_from_file",
    "subprocessor_from_options",
    "subprocessor_list",
    "verify_audit",
    "withdraw_change",
    "write_feed",
]
