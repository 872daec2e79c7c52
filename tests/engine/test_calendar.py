"""Tests for engine.calendar: Chinese working-day calendar and 24x7 calendar."""

import logging
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from engine.calendar import (
    BusinessCalendar,
    WorkingCalendar,
    add_working_days,
    add_working_duration,
    add_working_hours,
    get_calendar,
    point_at_fraction,
    statutory_holidays,
    working_hours_between,
)

SH = ZoneInfo("Asia/Shanghai")


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """Aware datetime in Asia/Shanghai."""
    return datetime(year, month, day, hour, minute, tzinfo=SH)


# --- calendar lookup ---------------------------------------------------------------------------


def test_get_calendar_returns_named_calendars() -> None:
    assert get_calendar("working").name == "working"
    assert get_calendar("24x7").name == "24x7"
    assert isinstance(get_calendar("working"), BusinessCalendar)


def test_unknown_calendar_names_itself_and_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown calendar 'nine-to-five'.*'24x7', 'working'"):
        get_calendar("nine-to-five")
    with pytest.raises(ValueError, match="nine-to-five"):
        add_working_hours(sh(2026, 11, 23, 10), 1, "nine-to-five")


# --- add_working_hours: "working" ----------------------------------------------------------------


def test_result_is_utc() -> None:
    result = add_working_hours(sh(2026, 11, 23, 10), 1, "working")
    assert result.tzinfo is UTC
    assert result == datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def test_friday_afternoon_skips_weekend() -> None:
    assert add_working_hours(sh(2026, 11, 20, 16), 4, "working") == sh(2026, 11, 23, 11)


def test_input_in_other_zone_is_converted() -> None:
    start = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # Friday 16:00 in Shanghai
    assert add_working_hours(start, 4, "working") == sh(2026, 11, 23, 11)
    start = datetime(2026, 11, 20, 3, 0, tzinfo=timezone(timedelta(hours=-5)))  # also 16:00 Shanghai
    assert add_working_hours(start, 4, "working") == sh(2026, 11, 23, 11)


def test_start_on_saturday_counts_from_monday_nine() -> None:
    assert add_working_hours(sh(2026, 11, 21, 10), 2, "working") == sh(2026, 11, 23, 11)
    assert add_working_hours(sh(2026, 11, 21, 10), 0, "working") == sh(2026, 11, 23, 9)


def test_start_before_opening_and_after_closing() -> None:
    assert add_working_hours(sh(2026, 11, 23, 7, 30), 1, "working") == sh(2026, 11, 23, 10)
    assert add_working_hours(sh(2026, 11, 23, 19), 1, "working") == sh(2026, 11, 24, 10)
    assert add_working_hours(sh(2026, 11, 23, 19), 0, "working") == sh(2026, 11, 24, 9)


def test_zero_hours_inside_working_time_is_unchanged() -> None:
    assert add_working_hours(sh(2026, 11, 23, 10, 17), 0, "working") == sh(2026, 11, 23, 10, 17)


def test_result_at_exactly_eighteen_stays_that_day() -> None:
    assert add_working_hours(sh(2026, 11, 23, 9), 9, "working") == sh(2026, 11, 23, 18)
    assert add_working_hours(sh(2026, 11, 23, 14), 4, "working") == sh(2026, 11, 23, 18)
    assert add_working_hours(sh(2026, 11, 20, 17), 1, "working") == sh(2026, 11, 20, 18)


def test_start_at_eighteen() -> None:
    # Zero hours from closing time is closing time; any real work continues next working morning.
    assert add_working_hours(sh(2026, 11, 23, 18), 0, "working") == sh(2026, 11, 23, 18)
    assert add_working_hours(sh(2026, 11, 23, 18), 0.5, "working") == sh(2026, 11, 24, 9, 30)


def test_fractional_hours() -> None:
    assert add_working_hours(sh(2026, 11, 23, 10), 0.25, "working") == sh(2026, 11, 23, 10, 15)
    assert add_working_hours(sh(2026, 11, 23, 17, 50), 0.25, "working") == sh(2026, 11, 24, 9, 5)
    assert add_working_hours(sh(2026, 11, 20, 17), 1.5, "working") == sh(2026, 11, 23, 9, 30)


def test_chained_additions_match_single_addition() -> None:
    first = add_working_hours(sh(2026, 11, 23, 14), 4, "working")
    assert add_working_hours(first, 5, "working") == add_working_hours(sh(2026, 11, 23, 14), 9, "working")
    assert add_working_hours(first, 5, "working") == sh(2026, 11, 24, 14)


def test_negative_and_non_finite_hours_rejected() -> None:
    with pytest.raises(ValueError, match="hours must be a finite number >= 0"):
        add_working_hours(sh(2026, 11, 23, 10), -1, "working")
    with pytest.raises(ValueError, match="hours"):
        add_working_hours(sh(2026, 11, 23, 10), float("nan"), "working")
    with pytest.raises(ValueError, match="days"):
        add_working_days(sh(2026, 11, 23, 10), -1, "working")


def test_scan_limit_stops_runaway_additions() -> None:
    with pytest.raises(ValueError, match="3660 days"):
        add_working_hours(sh(2026, 11, 23, 10), 1_000_000, "working")
    with pytest.raises(ValueError, match="3660"):
        add_working_hours(sh(2026, 11, 23, 10), 1_000_000, "24x7")
    with pytest.raises(ValueError, match="3660 days"):
        working_hours_between(sh(2026, 1, 1), sh(2046, 1, 1), "working")
    with pytest.raises(ValueError, match="too large"):
        add_working_hours(sh(2026, 11, 23, 10), 1e300, "working")


# --- holidays from chinese_calendar --------------------------------------------------------------


def test_national_day_2026_holiday_is_skipped() -> None:
    # chinese_calendar: 2026-10-01..10-07 off, Saturday 2026-10-10 a make-up workday.
    assert add_working_hours(sh(2026, 9, 30, 17), 2, "working") == sh(2026, 10, 8, 10)


def test_national_day_2026_makeup_saturday_is_a_workday() -> None:
    assert add_working_hours(sh(2026, 10, 9, 17), 2, "working") == sh(2026, 10, 10, 10)
    assert add_working_hours(sh(2026, 10, 10, 17), 2, "working") == sh(2026, 10, 12, 10)


def test_spring_festival_2026_with_makeup_days() -> None:
    # chinese_calendar: Saturday 02-14 and Saturday 02-28 are workdays, 02-15..02-23 are off.
    assert add_working_hours(sh(2026, 2, 13, 17), 2, "working") == sh(2026, 2, 14, 10)
    assert add_working_hours(sh(2026, 2, 14, 17), 2, "working") == sh(2026, 2, 24, 10)
    assert add_working_hours(sh(2026, 2, 27, 17), 2, "working") == sh(2026, 2, 28, 10)
    assert add_working_hours(sh(2026, 2, 28, 17), 2, "working") == sh(2026, 3, 2, 10)


# --- add_working_days ----------------------------------------------------------------------------


def test_three_working_days_keep_clock_time() -> None:
    assert add_working_days(sh(2026, 11, 23, 10), 3, "working") == sh(2026, 11, 26, 10)


def test_working_days_equal_nine_hours_each() -> None:
    start = sh(2026, 11, 19, 15, 30)
    assert add_working_days(start, 2, "working") == add_working_hours(start, 18, "working")
    assert add_working_days(start, 2, "working") == sh(2026, 11, 23, 15, 30)
    assert add_working_days(start, 0.5, "working") == sh(2026, 11, 20, 11)


def test_working_days_across_national_day() -> None:
    assert add_working_days(sh(2026, 9, 30, 11), 2, "working") == sh(2026, 10, 9, 11)


def test_24x7_days_are_calendar_days() -> None:
    assert add_working_days(sh(2026, 11, 21, 10), 1.5, "24x7") == sh(2026, 11, 22, 22)


# --- 24x7 ----------------------------------------------------------------------------------------


def test_24x7_counts_every_minute() -> None:
    assert add_working_hours(sh(2026, 11, 21, 23), 8, "24x7") == sh(2026, 11, 22, 7)
    assert add_working_hours(sh(2026, 11, 21, 23), 0, "24x7") == sh(2026, 11, 21, 23)
    assert working_hours_between(sh(2026, 11, 20, 18), sh(2026, 11, 23, 9), "24x7") == 63.0


def test_calendar_object_accepted() -> None:
    cal = get_calendar("24x7")
    assert add_working_hours(sh(2026, 10, 1, 12), 1.25, cal) == sh(2026, 10, 1, 13, 15)


# --- working_hours_between ------------------------------------------------------------------------


def test_hours_between_across_weekend() -> None:
    assert working_hours_between(sh(2026, 11, 20, 16), sh(2026, 11, 23, 11), "working") == 4.0


def test_hours_between_across_national_day() -> None:
    assert working_hours_between(sh(2026, 9, 30, 9), sh(2026, 10, 8, 18), "working") == 18.0
    assert working_hours_between(sh(2026, 9, 30, 17), sh(2026, 10, 10, 10), "working") == 20.0


def test_hours_between_partial_and_empty() -> None:
    assert working_hours_between(sh(2026, 11, 23, 9), sh(2026, 11, 23, 9, 15), "working") == 0.25
    assert working_hours_between(sh(2026, 11, 23, 19), sh(2026, 11, 24, 8), "working") == 0.0
    assert working_hours_between(sh(2026, 11, 23, 12), sh(2026, 11, 23, 12), "working") == 0.0
    assert working_hours_between(sh(2026, 11, 24, 12), sh(2026, 11, 23, 12), "working") == 0.0
    assert working_hours_between(sh(2026, 11, 24, 12), sh(2026, 11, 23, 12), "24x7") == 0.0


def test_hours_between_inverts_add_working_hours() -> None:
    start = sh(2026, 9, 29, 13, 20)
    end = add_working_hours(start, 31.75, "working")
    assert working_hours_between(start, end, "working") == 31.75


# --- point_at_fraction ---------------------------------------------------------------------------


def test_point_at_fraction_within_one_day() -> None:
    start, end = sh(2026, 11, 23, 10), sh(2026, 11, 23, 15)
    assert point_at_fraction(start, end, 0.8, "working") == sh(2026, 11, 23, 14)
    assert point_at_fraction(start, end, 1.5, "working") == sh(2026, 11, 23, 17, 30)
    assert point_at_fraction(start, end, 1.0, "working") == end


def test_point_at_fraction_over_a_week() -> None:
    start, end = sh(2026, 11, 23, 9), sh(2026, 11, 27, 18)  # 45 working hours
    assert point_at_fraction(start, end, 0.8, "working") == sh(2026, 11, 26, 18)
    assert point_at_fraction(start, end, 1.5, "working") == sh(2026, 12, 2, 13, 30)


def test_point_at_fraction_spanning_weekend() -> None:
    start, end = sh(2026, 11, 20, 16), sh(2026, 11, 23, 11)  # 4 working hours
    assert point_at_fraction(start, end, 0.8, "working") == sh(2026, 11, 23, 10, 12)
    assert point_at_fraction(start, end, 1.5, "working") == sh(2026, 11, 23, 13)


def test_point_at_fraction_24x7_and_edges() -> None:
    start, end = sh(2026, 11, 21, 22), sh(2026, 11, 22, 8)
    assert point_at_fraction(start, end, 0.8, "24x7") == sh(2026, 11, 22, 6)
    assert point_at_fraction(start, end, 1.5, "24x7") == sh(2026, 11, 22, 13)
    assert point_at_fraction(sh(2026, 11, 21, 10), sh(2026, 11, 23, 12), 0, "working") == sh(2026, 11, 23, 9)
    with pytest.raises(ValueError, match="fraction"):
        point_at_fraction(start, end, -0.1, "working")


# --- add_working_duration ------------------------------------------------------------------------


def test_duration_minutes() -> None:
    assert add_working_duration(sh(2026, 11, 23, 17, 50), "PT15M", "working") == sh(2026, 11, 24, 9, 5)


def test_duration_hours_and_days() -> None:
    assert add_working_duration(sh(2026, 11, 20, 16), "PT4H", "working") == sh(2026, 11, 23, 11)
    assert add_working_duration(sh(2026, 11, 23, 10), "P3D", "working") == sh(2026, 11, 26, 10)
    # One working day (9 h) plus 4 h = 13 working hours.
    assert add_working_duration(sh(2026, 11, 23, 10), "P1DT4H", "working") == sh(2026, 11, 24, 14)
    assert add_working_duration(sh(2026, 11, 23, 10), "PT1H30M45S", "working") == datetime(
        2026, 11, 23, 11, 30, 45, tzinfo=SH
    )
    assert add_working_duration(sh(2026, 11, 23, 10), "PT0.5H", "working") == sh(2026, 11, 23, 10, 30)


def test_duration_weeks() -> None:
    assert add_working_duration(sh(2026, 11, 23, 10), "P1W", "working") == sh(2026, 11, 30, 10)
    assert add_working_duration(sh(2026, 11, 23, 10), "P1W", "24x7") == sh(2026, 11, 30, 10)
    assert add_working_duration(sh(2026, 11, 23, 10), "P2D", "24x7") == sh(2026, 11, 25, 10)
    assert add_working_duration(sh(2026, 11, 21, 23), "P1DT4H", "24x7") == sh(2026, 11, 23, 3)


def test_duration_years_and_months_rejected() -> None:
    with pytest.raises(ValueError, match=r"'P1Y'.*years and months"):
        add_working_duration(sh(2026, 11, 23, 10), "P1Y", "working")
    with pytest.raises(ValueError, match=r"'P2M'.*years and months"):
        add_working_duration(sh(2026, 11, 23, 10), "P2M", "working")


@pytest.mark.parametrize("text", ["4 hours", "", "P", "PT", "P1DT", "PT4", "-PT4H", "pt4h", "P1H", "PT1D"])
def test_duration_bad_strings_rejected(text: str) -> None:
    with pytest.raises(ValueError, match=f"'{text}' is not an ISO-8601 duration"):
        add_working_duration(sh(2026, 11, 23, 10), text, "working")


# --- naive datetimes -----------------------------------------------------------------------------


def test_naive_datetimes_rejected_everywhere() -> None:
    naive = datetime(2026, 11, 23, 10)
    aware = sh(2026, 11, 23, 10)
    with pytest.raises(ValueError, match="needs a time zone offset"):
        add_working_hours(naive, 1, "working")
    with pytest.raises(ValueError, match="needs a time zone offset"):
        add_working_hours(naive, 1, "24x7")
    with pytest.raises(ValueError, match="needs a time zone offset"):
        add_working_days(naive, 1, "working")
    with pytest.raises(ValueError, match="end .* needs a time zone offset"):
        working_hours_between(aware, naive, "working")
    with pytest.raises(ValueError, match="start .* needs a time zone offset"):
        point_at_fraction(naive, aware, 0.8, "working")
    with pytest.raises(ValueError, match="needs a time zone offset"):
        add_working_duration(naive, "PT4H", "working")


# --- years not covered by chinese_calendar, admin overrides --------------------------------------


def test_uncovered_year_keeps_weekdays_but_statutory_holidays_and_says_so_once(
        caplog: pytest.LogCaptureFixture) -> None:
    cal = WorkingCalendar()
    with caplog.at_level(logging.INFO, logger="aftercare.calendar"):
        # 2027-01-01 is a Friday and New Year's Day: a statutory holiday even without official data.
        assert add_working_hours(sh(2026, 12, 31, 17), 2, cal) == sh(2027, 1, 4, 10)
        assert add_working_hours(sh(2027, 1, 7, 17), 2, cal) == sh(2027, 1, 8, 10)  # other weekdays work
        assert add_working_hours(sh(2027, 1, 8, 17), 2, cal) == sh(2027, 1, 11, 10)
        assert working_hours_between(sh(2027, 1, 8, 9), sh(2027, 1, 12, 9), cal) == 18.0
    notices = [r for r in caplog.records if r.name == "aftercare.calendar"]
    assert len(notices) == 1
    assert notices[0].levelno == logging.INFO  # information for the operator, not a fault
    assert "2027" in notices[0].getMessage() and "AFTERCARE_EXTRA_HOLIDAYS" in notices[0].getMessage()


def test_extra_holidays_and_workdays_for_uncovered_year() -> None:
    cal = WorkingCalendar(extra_holidays={date(2027, 1, 1)}, extra_workdays={date(2027, 1, 9)})
    assert add_working_hours(sh(2026, 12, 31, 17), 2, cal) == sh(2027, 1, 4, 10)
    assert add_working_hours(sh(2027, 1, 8, 17), 2, cal) == sh(2027, 1, 9, 10)
    assert cal.is_workday(date(2027, 1, 1)) is False
    assert cal.is_workday(date(2027, 1, 9)) is True


def test_extra_dates_override_library_data() -> None:
    cal = WorkingCalendar(extra_holidays={date(2026, 11, 23)}, extra_workdays={date(2026, 10, 1)})
    assert add_working_hours(sh(2026, 11, 20, 16), 4, cal) == sh(2026, 11, 24, 11)
    assert add_working_hours(sh(2026, 9, 30, 17), 2, cal) == sh(2026, 10, 1, 10)
    # The shared default calendar is unaffected.
    assert add_working_hours(sh(2026, 11, 20, 16), 4, "working") == sh(2026, 11, 23, 11)


def test_date_cannot_be_both_holiday_and_workday() -> None:
    with pytest.raises(ValueError, match="2027-01-01"):
        WorkingCalendar(extra_holidays={date(2027, 1, 1)}, extra_workdays={date(2027, 1, 1)})


@pytest.mark.parametrize("year", [2025, 2026])
def test_statutory_holidays_agree_with_the_official_schedule(year: int) -> None:
    import chinese_calendar

    days = statutory_holidays(year)
    assert len(days) == 13  # 1 + 4 + 1 + 2 + 1 + 1 + 3 days under the rules in force since 2025
    assert [d for d in sorted(days) if chinese_calendar.is_workday(d)] == []


def test_a_year_without_official_data_still_has_its_statutory_holidays(caplog: pytest.LogCaptureFixture) -> None:
    cal = WorkingCalendar()
    with caplog.at_level(logging.INFO):
        assert not cal.is_workday(date(2027, 1, 1))  # New Year's Day, a Friday
        assert not cal.is_workday(date(2027, 2, 8))  # the third day of the Spring Festival (初三), a Monday
        assert cal.is_workday(date(2027, 1, 4))
    assert "2027" in caplog.text
    # An inspection due on New Year's Eve afternoon plus one working day lands after the holiday weekend.
    assert add_working_days(sh(2026, 12, 31, 14), 1, cal) == sh(2027, 1, 4, 14)


def test_operators_add_next_years_schedule_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.settings import Settings

    monkeypatch.setenv("AFTERCARE_EXTRA_HOLIDAYS", "2027-02-09, 2027-02-10")
    monkeypatch.setenv("AFTERCARE_EXTRA_WORKDAYS", "2027-02-20")
    settings = Settings()
    assert settings.extra_holidays == [date(2027, 2, 9), date(2027, 2, 10)]
    cal = WorkingCalendar(settings.extra_holidays, settings.extra_workdays)
    assert not cal.is_workday(date(2027, 2, 9)) and cal.is_workday(date(2027, 2, 20))  # 2027-02-20 is a Saturday
