"""Deadlines: end of the last day of the window, Brussels time, from the moment of dispatch."""

from __future__ import annotations

import datetime

import pytest
from pydantic import ValidationError

from dpa_engine.notices.deadlines import (
    BRUSSELS,
    Window,
    last_day,
    make_window,
    objection_deadline,
    on_brussels_day,
)
from dpa_engine.notices.errors import NoticeError

UTC = datetime.UTC


def at(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=BRUSSELS)


class DescribeCalendarWindow:
    def it_ends_at_midnight_after_the_last_day_across_the_spring_dst_change(self) -> None:
        # 25 March (CET, +01:00) + 7 days = 1 April (CEST, +02:00): still midnight local time.
        deadline = objection_deadline(at(2026, 3, 25, 10, 0), Window(days=7))
        assert deadline == at(2026, 4, 2, 0, 0)
        assert deadline.astimezone(UTC) == datetime.datetime(2026, 4, 1, 22, 0, tzinfo=UTC)
        assert last_day(deadline) == datetime.date(2026, 4, 1)

    def it_ends_at_midnight_after_the_last_day_across_the_autumn_dst_change(self) -> None:
        # 20 October (CEST) + 7 days = 27 October (CET, after the change on 25 October).
        deadline = objection_deadline(at(2026, 10, 20, 16, 45), Window(days=7))
        assert deadline.astimezone(UTC) == datetime.datetime(2026, 10, 27, 23, 0, tzinfo=UTC)
        assert last_day(deadline) == datetime.date(2026, 10, 27)

    def it_counts_from_the_brussels_day_of_dispatch_not_the_utc_day(self) -> None:
        # 23:30 UTC on 28 March is already 29 March (the DST switch day) in Brussels; + 7 days
        # is Easter Sunday 5 April, so the window runs to Tuesday 7 April (art. 1.7 BW).
        sent = datetime.datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
        assert last_day(objection_deadline(sent, Window(days=7))) == datetime.date(2026, 4, 7)

    def it_does_not_depend_on_the_hour_of_dispatch(self) -> None:
        early = objection_deadline(at(2026, 10, 25, 0, 5), Window(days=14))
        late = objection_deadline(at(2026, 10, 25, 23, 55), Window(days=14))
        # 25 October + 14 days = Sunday 8 November: the window runs to Monday 9 November.
        assert early == late == at(2026, 11, 10, 0, 0)

    def it_refuses_a_moment_without_time_zone(self) -> None:
        with pytest.raises(NoticeError, match="time zone"):
            objection_deadline(datetime.datetime(2026, 3, 25, 10, 0), Window(days=7))


class DescribeOnBrusselsDay:
    @pytest.mark.parametrize(("day", "hours"), [(datetime.date(2026, 3, 29), 23),
                                                (datetime.date(2026, 10, 25), 25),
                                                (datetime.date(2026, 7, 1), 24),
                                                (datetime.date(2026, 12, 31), 24)])
    def it_counts_a_moment_on_the_day_from_its_brussels_midnight_for_the_days_length(
            self, day: datetime.date, hours: int) -> None:
        # DST days last 23 and 25 hours; moments given in UTC or in Brussels time alike
        midnight = datetime.datetime.combine(day, datetime.time(), BRUSSELS).astimezone(UTC)
        tick = datetime.timedelta(microseconds=1)
        for elapsed, expected in [(-tick, False), (datetime.timedelta(0), True),
                                  (datetime.timedelta(hours=hours) - tick, True),
                                  (datetime.timedelta(hours=hours), False)]:
            moment = midnight + elapsed
            for given in (moment, moment.astimezone(BRUSSELS)):
                assert on_brussels_day(given, day) is expected, given

    def it_refuses_a_moment_without_time_zone(self) -> None:
        with pytest.raises(NoticeError, match="time zone"):
            on_brussels_day(datetime.datetime(2026, 3, 25, 10, 0), datetime.date(2026, 3, 25))


class DescribeBusinessDayWindow:
    def it_skips_weekends_and_belgian_public_holidays(self) -> None:
        # Thu 2 April 2026: Fri 3 (1), Easter Monday 6 April is a holiday, Tue 7 (2), Wed 8 (3).
        window = Window(days=3, unit="business", holiday_country="BE")
        assert last_day(objection_deadline(at(2026, 4, 2, 11, 0), window)) == \
            datetime.date(2026, 4, 8)

    def it_uses_the_dutch_calendar_for_dutch_agreements(self) -> None:
        # In the Netherlands Good Friday (3 April) is a holiday too: one day later.
        window = Window(days=3, unit="business", holiday_country="NL")
        assert last_day(objection_deadline(at(2026, 4, 2, 11, 0), window)) == \
            datetime.date(2026, 4, 9)

    def it_knows_kings_day_in_the_netherlands_only(self) -> None:
        # Fri 24 April + 1 business day: Mon 27 April is King's Day in NL, not in BE.
        dispatch = at(2026, 4, 24, 9, 0)
        be = Window(days=1, unit="business", holiday_country="BE")
        nl = Window(days=1, unit="business", holiday_country="NL")
        assert last_day(objection_deadline(dispatch, be)) == datetime.date(2026, 4, 27)
        assert last_day(objection_deadline(dispatch, nl)) == datetime.date(2026, 4, 28)

    def it_crosses_the_autumn_dst_change_on_business_days(self) -> None:
        # Fri 23 October + 2 business days = Tue 27 October, after the switch to CET.
        deadline = objection_deadline(at(2026, 10, 23, 9, 0),
                                      Window(days=2, unit="business", holiday_country="BE"))
        assert deadline.astimezone(UTC) == datetime.datetime(2026, 10, 27, 23, 0, tzinfo=UTC)


class DescribeWindowValidation:
    def it_refuses_a_window_of_zero_days(self) -> None:
        with pytest.raises(NoticeError, match="0 days"):
            make_window(0, "calendar", "BE")
        with pytest.raises(ValidationError):
            Window(days=0)

    def it_refuses_an_unknown_unit_or_calendar(self) -> None:
        with pytest.raises(NoticeError, match="unit"):
            make_window(7, "weeks", "BE")
        with pytest.raises(NoticeError, match="holiday"):
            make_window(7, "business", "FR")
