"""The forms of legal's change actions: what was posted, kept as typed so a refused value is
shown back, turned into the library's inputs (`notices.Proposal`, a moment in Brussels time),
and a library error placed next to the field it concerns."""

from __future__ import annotations

import datetime
from typing import Literal

from pydantic import BaseModel, Field
from starlette.datastructures import FormData

from dpa_engine import DpaError, notices
from dpa_engine.notices import BRUSSELS, Proposal

from .webform import text_field, text_list

ACTIONS: tuple[str, ...] = ("add", "replace", "remove")
TRANSFERS: tuple[str, ...] = ("", "scc:3", "scc:2", "adequacy", "bcr")
REQUIRED = "required — fill this in"
# The library names the command line's options; the form's fields have their own names.
_FIELDS = {"add/--replace/--remove": "action", "action": "action", "effective": "effective",
           "replace": "target", "remove": "target", "target": "target", "id": "id",
           "name": "name", "entity": "entity", "legal-entity": "entity", "country": "country",
           "locations": "locations", "purpose": "purpose", "services": "services",
           "engagement": "engagement", "transfer": "transfer", "reason": "reason",
           "sent-at": "sent_at", "sent_at": "sent_at", "customer": "customer", "at": "at"}


class ProposalForm(BaseModel):
    """The proposal form as typed (every value text until the library has checked it)."""

    action: str = "add"
    effective: str = ""
    target: str = ""
    id: str = ""
    name: str = ""
    entity: str = ""
    country: str = ""
    locations: str = ""
    purpose: dict[str, str] = Field(default_factory=lambda: {"nl": "", "fr": "", "en": ""})
    services: list[str] = Field(default_factory=list)
    engagement: str = "systematic"
    transfer: str = ""
    transfer_detail: str = ""

    @classmethod
    def posted(cls, form: FormData) -> ProposalForm:
        return cls(action=text_field(form, "action"), effective=text_field(form, "effective"),
                   target=text_field(form, "target"), id=text_field(form, "id").strip(),
                   name=text_field(form, "name").strip(),
                   entity=text_field(form, "entity").strip(),
                   country=text_field(form, "country").strip(),
                   locations=text_field(form, "locations").strip(),
                   purpose={lang: text_field(form, f"purpose_{lang}").strip()
                            for lang in ("nl", "fr", "en")},
                   services=text_list(form, "services"),
                   engagement=text_field(form, "engagement") or "systematic",
                   transfer=text_field(form, "transfer"),
                   transfer_detail=text_field(form, "transfer_detail").strip())

    @property
    def needs_new(self) -> bool:
        return self.action in ("add", "replace")

    def missing(self) -> dict[str, str]:
        """Every required field left empty (the library reports one problem at a time)."""
        wanted = {"effective": self.effective, "action": self.action}
        if self.action in ("replace", "remove"):
            wanted["target"] = self.target
        if self.needs_new:
            wanted |= {"id": self.id, "name": self.name, "entity": self.entity,
                       "country": self.country, "locations": self.locations,
                       "services": ",".join(self.services),
                       **{f"purpose_{k}": v for k, v in self.purpose.items()}}
        return {name: REQUIRED for name, value in wanted.items() if not value.strip()}

    def proposal(self) -> Proposal:
        """The library's proposal; a DpaError (with its field) when a value is refused."""
        if self.action not in ACTIONS:
            raise DpaError("say what the change is", field="action",
                           fix="choose add, replace or remove")
        try:
            effective_on = datetime.date.fromisoformat(self.effective.strip())
        except ValueError:
            raise DpaError(f"'{self.effective}' is not a date", field="--effective",
                           fix="write YYYY-MM-DD") from None
        transfer = self.transfer
        if transfer and self.transfer_detail:
            transfer += ":" + self.transfer_detail
        sub = notices.subprocessor_from_options({
            "id": self.id, "name": self.name, "entity": self.entity, "country": self.country,
            "locations": self.locations, "purpose-nl": self.purpose["nl"],
            "purpose-fr": self.purpose["fr"], "purpose-en": self.purpose["en"],
            "services": ",".join(self.services), "engagement": self.engagement,
            "transfer": transfer or None}) if self.needs_new else None
        action: Literal["add", "replace", "remove"] = (
            "add" if self.action == "add" else "replace" if self.action == "replace" else "remove")
        return Proposal(action=action, subprocessor=sub,
                        target=self.target or None if action != "add" else None,
                        effective_on=effective_on)


def form_field(exc: DpaError) -> str:
    """The form field a library error concerns ('' for the form as a whole)."""
    return _FIELDS.get((exc.field or "").lstrip("-"), "")


def field_message(exc: DpaError) -> str:
    """The library's message without the command-line option it starts with (the page shows
    it next to the field instead)."""
    return exc.what + (f" — fix: {exc.fix}" if exc.fix else "")


def brussels_moment(text: str, field: str) -> datetime.datetime:
    """A date and time typed in a form (datetime-local: YYYY-MM-DDTHH:MM) in Brussels time."""
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise DpaError(f"'{text}' is not a date and time", field=field,
                       fix="give a date and a time, e.g. 2026-11-23 14:30 (Brussels time)"
                       ) from None
    if moment.tzinfo is not None:
        return moment
    local = moment.replace(tzinfo=BRUSSELS)
    if local.astimezone(datetime.UTC).astimezone(BRUSSELS).replace(tzinfo=None) != moment:
        raise DpaError(f"{text} does not exist in Brussels (the clocks skip that hour when "
                       "summer time starts)", field=field,
                       fix="give the time after the change, e.g. 03:30 instead of 02:30")
    return local


__all__ = ["ACTIONS", "REQUIRED", "TRANSFERS", "ProposalForm", "brussels_moment", "field_message",
           "form_field"]
