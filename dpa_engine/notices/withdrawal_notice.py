"""The words of a withdrawal notice: a change announced to the customer will not take place.

Short, in the customer's language, from the same notice texts legal maintains
(`subject_withdrawal`, `withdrawal_intro`, `withdrawal_effect`); the same content becomes the
e-mail and the letter, like a change notice.
"""

from __future__ import annotations

import datetime

from .. import locale
from ..models import Language
from .changes import ChangeSummary
from .compose import NoticeContent
from .texts import NoticeTexts


def compose_withdrawal(texts: NoticeTexts, *, language: Language, change: ChangeSummary,
                       change_number: int, customer_name: str, provider_name: str,
                       agreement_reference: str, announced: datetime.date,
                       contact_name: str | None) -> NoticeContent:
    sub = change.subject
    contact = (contact_name or "").strip()
    values: dict[str, object] = {
        "customer_name": customer_name, "contact_name": contact,
        "provider_name": provider_name,
        "change_number": str(change_number), "subprocessor": sub.name,
        "agreement_reference": agreement_reference,
        "notified_date": locale.long_date(announced, language),
        "effective_date": locale.long_date(change.effective_on, language),
    }

    def say(key: str) -> str:
        return texts.render(key, language, **values)

    return NoticeContent(
        language=language, subject=say("subject_withdrawal"), title=say("letter_title"),
        reference=say("reference_line"),
        before=[say("greeting_named" if contact else "greeting"), say("withdrawal_intro")],
        details_heading=say("details_heading"),
        details=[(say("label_subprocessor"), sub.name),
                 (say("label_legal_entity"), sub.legal_entity),
                 (say("label_effective_date"), str(values["effective_date"]))],
        after=[say("withdrawal_effect"), say("closing")], page_label=say("letter_page"),
        page_of_label=say("letter_page_of"))


__all__ = ["compose_withdrawal"]
