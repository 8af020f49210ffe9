"""The guided form filled in over HTTP, step by step, as a browser posts it."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

CUSTOMER = {
    "customer.name": "Bakkerij Peeters", "customer.legal_form": "BV",
    "customer.country": "BE", "customer.enterprise_number": "0403.170.701",
    "customer.vat_number": "", "customer.street": "Grote Markt 12",
    "customer.postal_code": "9000", "customer.city": "Gent",
    "customer.signatory_name": "An Peeters", "customer.signatory_title": "zaakvoerder",
    "customer.notice_emails": "privacy@bakkerijpeeters.example",
}


def new_agreement(client: Any) -> int:
    response = client.post("/agreements")
    assert response.status_code == 303, response.text
    return int(response.headers["location"].split("/")[2])


def post_step(client: Any, agreement_id: int, step: str, data: dict[str, Any]) -> Any:
    return client.post(f"/agreements/{agreement_id}/step/{step}", data)


def fill_in(client: Any, *, customer: dict[str, str] | None = None, language: str = "nl",
            services: tuple[str, ...] = ("customer-service",),
            deviations: dict[str, str] | None = None) -> int:
    """Every step with the provider's pre-filled processing kept as it is."""
    agreement_id = new_agreement(client)
    steps: list[tuple[str, dict[str, Any]]] = [
        ("customer", {**CUSTOMER, **(customer or {})}),
        ("language", {"language": language, "reference": "DPA-WEB-1", "agreement_date": ""}),
        ("services", {"services": list(services)}),
    ]
    for step, data in steps:
        response = post_step(client, agreement_id, step, data)
        assert response.status_code == 303, response.text
    page = client.get(f"/agreements/{agreement_id}/step/processing").text
    response = post_step(client, agreement_id, "processing", prefilled(page))
    assert response.status_code == 303, response.text
    response = post_step(client, agreement_id, "deviations",
                         {f"deviations.{k}": v for k, v in (deviations or {}).items()})
    assert response.status_code == 303, response.text
    return agreement_id


class _Fields(HTMLParser):
    """The named fields of a page with the values it shows (inputs, textareas, selects)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        name = found.get("name", "")
        if tag == "input" and name and found.get("type") not in ("checkbox", "radio"):
            self.values[name] = found.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = ""
        elif tag == "select" and name:
            self._select = name
            self.values[name] = ""
        elif tag == "option" and self._select and "selected" in found:
            self.values[self._select] = found.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.values[self._textarea] += data


def prefilled(html: str) -> dict[str, str]:
    """The processing step's fields as the page pre-fills them."""
    parser = _Fields()
    parser.feed(html)
    return {k: v for k, v in parser.values.items() if k.startswith("processing.")}
