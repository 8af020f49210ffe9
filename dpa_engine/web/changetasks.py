"""Legal's remaining change tasks on the change's page (letters to post, an answer received
by e-mail or post, a late bounce, the evidence pack, telling subscribers again): which the
change's status allows, for which customers, and a library error placed at its form field."""

from __future__ import annotations

from typing import Any

from dpa_engine import DpaError
from dpa_engine.notices import ChangeStatus

ANSWER_KINDS: tuple[str, ...] = ("objection", "consent")
# The library names the command line's options (or its own field names); each form has its
# own field names, so that the change's page holds every form at once.
ANSWER_FIELDS = {"customer": "answer_customer", "received-at": "received_at",
                 "received_at": "received_at", "text": "answer_text",
                 "text-file": "answer_text", "objection text": "answer_text",
                 "kind": "answer_kind"}
BOUNCE_FIELDS = {"customer": "bounce_customer", "reason": "bounce_reason",
                 "bounce reason": "bounce_reason"}
_ANNOUNCE = ("planned", "sending", "sent", "withdrawn")


def task_actions(status: ChangeStatus) -> dict[str, Any]:
    """Which tasks the change's status allows (the library refuses the others anyway), and
    the customers each form offers."""
    state, targets = status.change.status, status.targets
    sent = state in ("sending", "sent", "closed")
    answerable = [(t.customer, t.name) for t in targets if t.kind != "informational"]
    notified = [(t.customer, t.name) for t in targets if t.status == "notified"]
    return {"letters": sent and bool(targets),
            "letters_unnotified": sent and any(t.status == "not-notified" for t in targets),
            "answer": sent and bool(answerable), "answer_customers": answerable,
            "bounce": state in ("sending", "sent") and bool(notified),
            "bounce_customers": notified,
            "announce": state in _ANNOUNCE}


def task_field(exc: DpaError, fields: dict[str, str]) -> str:
    """The form field a library error concerns ('' for the form as a whole)."""
    return fields.get((exc.field or "").lstrip("-"), "")


__all__ = ["ANSWER_FIELDS", "ANSWER_KINDS", "BOUNCE_FIELDS", "task_actions", "task_field"]
