"""Objection deadlines: the end of the last day of the window, in Europe/Brussels.

This module is the single source of the counting rule the agreement states (clause
`subprocessors.general-authorisation`), for Belgian and Dutch law alike:
- the window runs from the day after dispatch (dies a quo non computatur);
- it ends at 24:00 Brussels time on its last day, so DST changes never shift it by an hour;
- a window in business days skips Saturdays, Sundays and the public holidays of the
  governing law's calendar (BE or NL, as kept by the `holidays` library);
- a calendar-day window whose last day is a Saturday, Sunday or public holiday ends on the
  next working day instead (Belgian Civil Code, book 1, art. 1.7; the Dutch Algemene
  termijnenwet, art. 1, gives the same result for Dutch law).

A deadline is stored as that exclusive end instant (e.g. 2026-04-02 00:00 CEST); an objection
received before it is on time. Notices print the last day with "23:59".
"""

from __future__ import annotations

import datetime
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import holidays
from pydantic import BaseModel, ConfigDict, Field

from .errors import NoticeError

BRUSSELS = ZoneInfo("Europe/Brussels")
WindowUnit = Literal["calendar", "business"]
HolidayCountry = Literal["BE", "NL"]


class Window(BaseModel):
    """An objection (or consent) window as agreed in one agreement version."""

    model_config = ConfigDict(frozen=True)

    days: int = Field(ge=1, le=90)
    unit: WindowUnit = "calendar"
    holiday_country: HolidayCountry = "BE"


@lru_cache(maxsize=64)
def _public_holidays(country: HolidayCountry, year: int) -> frozenset[datetime.date]:
    return frozenset(holidays.country_holidays(country, years=year).keys())


def is_business_day(day: datetime.date, country: HolidayCountry) -> bool:
    return day.weekday() < 5 and day not in _public_holidays(country, day.year)


def next_working_day(day: datetime.date, country: HolidayCountry) -> datetime.date:
    """`day` itself when it is a working day, otherwise the first working day after it."""
    while not is_business_day(day, country):
        day += datetime.timedelta(days=1)
    return day


def brussels_day(moment: datetime.datetime) -> datetime.date:
    """The calendar day in Brussels at `moment` (which must be timezone-aware)."""
    if moment.tzinfo is None:
        raise NoticeError("a moment without time zone cannot be placed in Brussels time",
                          fix="give the time with its offset, e.g. 2026-11-23T10:00+01:00")
    return moment.astimezone(BRUSSELS).date()


def on_brussels_day(moment: datetime.datetime, day: datetime.date) -> bool:
    """Whether `moment` (timezone-aware) falls on `day` in Brussels."""
    return brussels_day(moment) == day


def last_day_of_window(dispatch_day: datetime.date, window: Window) -> datetime.date:
    if window.unit == "calendar":
        return next_working_day(dispatch_day + datetime.timedelta(days=window.days),
                                window.holiday_country)
    day, counted = dispatch_day, 0
    while counted < window.days:
        day += datetime.timedelta(days=1)
        if is_business_day(day, window.holiday_country):
            counted += 1
    return day


def objection_deadline(dispatched_at: datetime.datetime, window: Window) -> datetime.datetime:
    """The exclusive end of the window: midnight (Brussels) after its last day, as an aware time."""
    last = last_day_of_window(brussels_day(dispatched_at), window)
    return datetime.datetime.combine(last + datetime.timedelta(days=1), datetime.time(0),
                                     tzinfo=BRUSSELS)


def brussels_text(moment: datetime.datetime | None, *, none: str = "-") -> str:
    """A moment as staff read it, e.g. '2026-11-30 23:59 CET' (`none` when there is none)."""
    return none if moment is None else f"{moment.astimezone(BRUSSELS):%Y-%m-%d %H:%M %Z}"


def deadline_text(deadline: datetime.datetime | None, *, none: str = "-") -> str:
    """A stored (exclusive) deadline as its last minute, e.g. '2026-11-30 23:59 CET'; a
    window closed at some other moment (by a withdrawal) as that moment."""
    if deadline is None:
        return none
    end_of_a_minute = deadline.second == 0 and deadline.microsecond == 0
    return brussels_text(deadline - datetime.timedelta(minutes=1) if end_of_a_minute
                         else deadline)

def last_day(deadline: datetime.datetime) -> datetime.date:
    """The last day on which an objection is on time, for a deadline from objection_deadline."""
    return deadline.astimezone(BRUSSELS).date() - datetime.timedelta(days=1)


def make_window(days: int, unit: str, holiday_country: str) -> Window:
    """A Window from stored values; 0 days or an unknown unit is a clear error."""
    if days < 1:
        raise NoticeError(f"a window of {days} days gives the customer no time to object",
                          field="objection_window_days",
                          fix="agree a window of at least 1 day in the deal's deviations")
    if unit not in ("calendar", "business"):
        raise NoticeError(f"unknown window unit '{unit}'", field="objection_window_unit",
                          fix="use calendar or business")
    if holiday_country not in ("BE", "NL"):
        raise NoticeError(f"no public-holiday calendar for '{holiday_country}'",
                          fix="use BE or NL")
    return Window(days=days, unit=unit, holiday_country=holiday_country)
