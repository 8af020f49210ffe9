"""Texts of the customer's side of the web app (notice page, public list, their e-mails):
`clauses/portal/*.yaml`, in nl, fr and en, data legal can edit.

Loaded by the clause library's text loader (`library.texts`): every key in `PAGE_TEXT_KEYS`
exactly once, in every language, with the same placeholders in each language. Rendered in the
clause sandbox (undefined names are errors); values are plain text, escaped by the HTML templates
that show them.
"""

from __future__ import annotations

from ..library.texts import TextSet, TextSetSpec

PAGE_TEXT_KEYS = frozenset({
    "skip_link", "notice_title", "notice_for", "current_list_heading", "resulting_list_heading",
    "deadline_label", "deadline_value", "tz_BE", "tz_NL", "tz_other", "answer_heading",
    "object_intro", "consent_intro", "acknowledge_intro", "reason_label", "comment_label",
    "reason_missing", "button_object", "button_consent", "button_refuse", "button_acknowledge",
    "confirm_title", "confirm_object", "confirm_consent", "confirm_refuse",
    "confirm_acknowledge", "button_confirm", "button_back", "receipt_title", "receipt_text",
    "receipt_mail", "receipt_late", "answer_object", "answer_consent", "answer_refuse",
    "answer_acknowledge", "change_by_email", "outcome_heading", "outcome_deemed-approved",
    "outcome_objected", "outcome_consented", "outcome_refused", "outcome_no-consent",
    "outcome_informed", "outcome_not-notified", "outcome_pending", "outcome_withdrawn",
    "refused_title",
    "refused_text", "too_many", "form_expired", "greeting_named", "greeting_anonymous",
    "mail_answer_subject", "mail_answer_body", "mail_closing", "pub_title", "pub_intro",
    "pub_current", "pub_upcoming", "pub_upcoming_none", "pub_change_add", "pub_change_replace",
    "pub_change_remove", "pub_archive", "pub_version", "pub_added", "pub_removed",
    "pub_changed", "pub_first", "pub_feeds", "sub_heading", "sub_email_label", "sub_button",
    "sub_note", "sub_bad_email", "sub_sent_title", "sub_sent_text", "sub_confirm_title",
    "sub_confirm_text", "sub_confirm_button", "sub_confirmed_title", "sub_confirmed_text",
    "unsub_title", "unsub_text", "unsub_button", "unsub_done_title", "unsub_done_text",
    "sub_invalid", "pub_unpublished_title", "pub_unpublished", "mail_sub_confirm_subject",
    "mail_sub_confirm_body", "mail_upcoming_subject",
    "mail_upcoming_body", "mail_unsubscribe", "mail_withdrawn_subject", "mail_withdrawn_body",
})


PageTexts = TextSet
PAGE_TEXTS = TextSetSpec(
    kind="page text", keys=PAGE_TEXT_KEYS, placeholders=None, folder_name="portal",
    folder_fix="restore clauses/portal/ or point --library at the clause library",
    placeholder_fix="use only the placeholders the other languages use")
default_page_folder = PAGE_TEXTS.folder_in  # library -> its clauses/portal folder
load_page_texts = PAGE_TEXTS.load  # LibraryError with file:line for the first problem
