"""The notice texts (`clauses/notices/`): which keys the set holds and which placeholders
they may use. Loaded and rendered by the clause library's text loader (`library.texts`).
"""

from __future__ import annotations

from ..library.texts import TextSet, TextSetSpec

PLACEHOLDERS = frozenset({
    "customer_name", "provider_name", "change_number", "subprocessor", "legal_entity",
    "replaced", "services", "effective_date", "deadline_date", "deadline_time", "window",
    "window_days", "contact_email", "agreement_reference", "list_date", "scc_module",
    # the customer's side (web): its notice page, its contact's name, its time-zone label
    "notice_url", "contact_name", "time_zone",
    # a withdrawal notice: the day the change was announced to the customer
    "notified_date",
})

TEXT_KEYS = frozenset({
    # change notice
    "subject_objection", "subject_consent", "subject_informational", "letter_title",
    "reference_line", "greeting", "intro_add", "intro_replace", "intro_remove",
    "incidental_note", "details_heading", "label_subprocessor", "label_legal_entity",
    "label_country", "label_locations", "label_purpose", "label_services", "label_transfer",
    "label_effective_date", "label_replaces", "transfer_none", "transfer_adequacy",
    "transfer_scc", "transfer_bcr", "window_calendar", "window_business", "action_objection",
    "silence_objection", "action_consent", "silence_consent", "remedy_terminate-service",
    "remedy_terminate-either", "action_informational", "list_offer", "closing", "letter_page",
    "letter_page_of", "notice_link_objection", "notice_link_consent",
    "notice_link_informational", "greeting_named", "time_zone_BE", "time_zone_NL",
    "time_zone_other",
    # withdrawal of a change already announced
    "subject_withdrawal", "withdrawal_intro", "withdrawal_effect",
    # sub-processor list
    "list_title", "list_subtitle_customer", "list_subtitle_general", "label_engagement",
    "engagement_systematic", "engagement_incidental", "label_status", "status_active",
    "status_blocked", "list_empty",
})


NoticeTexts = TextSet
NOTICE_TEXTS = TextSetSpec(
    kind="notice text", keys=TEXT_KEYS, placeholders=PLACEHOLDERS, folder_name="notices",
    folder_fix="restore clauses/notices/ or point --library at the clause library",
    placeholder_fix="use only the placeholders listed in clauses/notices/README.md")
default_notice_folder = NOTICE_TEXTS.folder_in  # library -> its clauses/notices folder
load_notice_texts = NOTICE_TEXTS.load  # LibraryError with file:line for the first problem
