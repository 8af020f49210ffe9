"""The time zone a customer reads its deadline in, by the country of its registered office.

Belgian customers read Belgian time, Dutch customers Dutch time (the same offset, but the
label must be theirs); everyone else reads the governing Brussels time, labelled as such.
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo

ZoneLabel = Literal["BE", "NL", "other"]

_ZONES: dict[str, tuple[ZoneInfo, ZoneLabel]] = {
    "BE": (ZoneInfo("Europe/Brussels"), "BE"), "NL": (ZoneInfo("Europe/Amsterdam"), "NL")}
_OTHER: tuple[ZoneInfo, ZoneLabel] = (ZoneInfo("Europe/Brussels"), "other")


def customer_zone(country: str) -> tuple[ZoneInfo, ZoneLabel]:
    """(the zone, which label names it: 'BE', 'NL' or 'other') for a customer's country."""
    return _ZONES.get(country.upper(), _OTHER)
