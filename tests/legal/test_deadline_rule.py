"""The objection window as the agreement counts it: from the day after dispatch, to 24:00
Brussels time, moved to the next working day of the governing law's calendar."""

from __future__ import annotations

import datetime

import pytest

from dpa_engine.notices.deadlines import BRUSSELS, Window, last_day, objection_deadline


def sent(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, 10, 0, tzinfo=BRUSSELS)


@pytest.mark.parametrize(("dispatch", "days", "country", "expected_last_day"), [
    # Monday 2 March 2026 + 5 days = Saturday 7 March -> Monday 9 March.
    ((2026, 3, 2), 5, "BE", datetime.date(2026, 3, 9)),
    # + 6 days = Sunday 8 March -> Monday 9 March.
    ((2026, 3, 2), 6, "BE", datetime.date(2026, 3, 9)),
    # Monday 30 March + 7 = Easter Monday 6 April 2026 -> Tuesday 7 April (both calendars).
    ((2026, 3, 30), 7, "BE", datetime.date(2026, 4, 7)),
    ((2026, 3, 30), 7, "NL", datetime.date(2026, 4, 7)),
    # Monday 20 April + 7 = King's Day, Monday 27 April 2026: a holiday in NL only.
    ((2026, 4, 20), 7, "NL", datetime.date(2026, 4, 28)),
    ((2026, 4, 20), 7, "BE", datetime.date(2026, 4, 27)),
    # An ordinary Wednesday stays.
    ((2026, 3, 25), 7, "BE", datetime.date(2026, 4, 1)),
])
def test_a_window_ending_on_a_non_working_day_runs_to_the_next_working_day(
        dispatch: tuple[int, int, int], days: int, country: str,
        expected_last_day: datetime.date) -> None:
    window = Window(days=days, unit="calendar", holiday_country=country)  # type: ignore[arg-type]
    deadline = objection_deadline(sent(*dispatch), window)
    assert last_day(deadline) == expected_last_day
    assert deadline == datetime.datetime.combine(
        expected_last_day + datetime.timedelta(days=1), datetime.time(0), BRUSSELS)


def test_an_objection_on_the_monday_after_a_saturday_deadline_is_on_time() -> None:
    deadline = objection_deadline(sent(2026, 3, 2), Window(days=5))
    monday_evening = datetime.datetime(2026, 3, 9, 23, 59, tzinfo=BRUSSELS)
    tuesday = datetime.datetime(2026, 3, 10, 0, 0, tzinfo=BRUSSELS)
    assert monday_evening < deadline <= tuesday


def test_business_day_windows_never_end_on_a_holiday() -> None:
    # Friday 3 April 2026 + 1 business day skips the weekend and Easter Monday.
    deadline = objection_deadline(sent(2026, 4, 3), Window(days=1, unit="business"))
    assert last_day(deadline) == datetime.date(2026, 4, 7)
