"""Business calendars for SLA deadlines: Chinese working days 09:00-18:00 Asia/Shanghai, or 24x7."""

import functools
import logging
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
from lunardate import LunarDate

logger = logging.getLogger("aftercare.calendar")

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY_START = time(9, 0)
DAY_END = time(18, 0)
# Ten years of scanning is far beyond any SLA; hitting it means bad input, not a real deadline.
MAX_SCAN_DAYS = 3660

_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)
_NUMBER = r"([0-9]+(?:[.,][0-9]+)?)"
_DURATION = re.compile(
    rf"P(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}W)?(?:{_NUMBER}D)?"
    rf"(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?"
)


class BusinessCalendar(ABC):
    """A named rule for which moments count as working time."""

    name: str
    day_length: timedelta  # working time in one working day
    days_per_week: int  # working days in one week

    @abstractmethod
    def advance(self, start: datetime, amount: timedelta) -> datetime:
        """Return the UTC instant after consuming `amount` of working time from aware `start`."""

    @abstractmethod
    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """Return the working time in [start, end) for aware datetimes."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


@functools.cache
def statutory_holidays(year: int) -> frozenset[date]:
    """The days off the law fixes for `year` (全国年节及纪念日放假办法, as amended for 2025 on): New Year's Day,
    the Spring Festival eve and its first three days, Qingming, May 1-2, the Dragon Boat and Mid-Autumn festivals,
    October 1-3. The State Council's yearly schedule adds bridge days and make-up workdays (调休) on top; those only
    come from chinese_calendar or the operator's extra dates."""
    new_year = LunarDate(year, 1, 1).to_solar_date()
    [qingming] = [day for day, name in chinese_calendar.get_solar_terms(date(year, 4, 1), date(year, 4, 10))
                  if name == "清明"]
    days = {date(year, 1, 1), qingming, date(year, 5, 1), date(year, 5, 2),
            LunarDate(year, 5, 5).to_solar_date(), LunarDate(year, 8, 15).to_solar_date(),
            date(year, 10, 1), date(year, 10, 2), date(year, 10, 3)}
    days |= {new_year + timedelta(days=n) for n in range(-1, 3)}
    return frozenset(days)


class WorkingCalendar(BusinessCalendar):
    """Chinese working days (public holidays and make-up workdays) from 09:00 to 18:00 Asia/Shanghai."""

    days_per_week = 5

    def __init__(
        self,
        extra_holidays: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
        name: str = "working",
    ) -> None:
        self.name = name
        self.extra_holidays = frozenset(extra_holidays)
        self.extra_workdays = frozenset(extra_workdays)
        clash = self.extra_holidays & self.extra_workdays
        if clash:
            days = ", ".join(sorted(d.isoformat() for d in clash))
            raise ValueError(f"dates cannot be both extra holidays and extra workdays: {days}")
        self.day_length = datetime.combine(date.min, DAY_END) - datetime.combine(date.min, DAY_START)
        self._warned_years: set[int] = set()

    def is_workday(self, day: date) -> bool:
        """Tell whether `day` is a working day: admin overrides, then chinese_calendar, else Mon-Fri."""
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            self._warn_uncovered(day.year)
            return day.weekday() < 5 and day not in statutory_holidays(day.year)

    def _warn_uncovered(self, year: int) -> None:
        """Say once per year, as information, how a year without the official schedule is counted."""
        if year in self._warned_years:
            return
        self._warned_years.add(year)
        logger.info(
            "calendar %r, %d: the official holiday schedule is not in chinese_calendar yet, so the statutory "
            "holidays (元旦, 春节, 清明, 劳动节, 端午, 中秋, 国庆) and Monday-Friday are used; once the State Council "
            "publishes the schedule, add its days off and make-up workdays with AFTERCARE_EXTRA_HOLIDAYS / "
            "AFTERCARE_EXTRA_WORKDAYS (or upgrade chinese-calendar)",
            self.name,
            year,
        )

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        """Return the working window of local `day` in UTC, or None on a day off."""
        if not self.is_workday(day):
            return None
        # Arithmetic is done in UTC because aware datetimes sharing a tzinfo subtract by wall clock.
        opens = datetime.combine(day, DAY_START, tzinfo=SHANGHAI).astimezone(UTC)
        closes = datetime.combine(day, DAY_END, tzinfo=SHANGHAI).astimezone(UTC)
        return opens, closes

    def advance(self, start: datetime, amount: timedelta) -> datetime:
        """Return the UTC instant after consuming `amount` of working time from aware `start`."""
        start = start.astimezone(UTC)
        remaining = amount
        day = start.astimezone(SHANGHAI).date()
        for _ in range(MAX_SCAN_DAYS):
            window = self._window(day)
            if window is not None:
                cursor = max(start, window[0])
                # `<=` keeps a result that ends exactly at closing time on that day.
                if cursor <= window[1]:
                    if remaining <= window[1] - cursor:
                        return cursor + remaining
                    remaining -= window[1] - cursor
            day += _ONE_DAY
        raise ValueError(f"no working time found within {MAX_SCAN_DAYS} days of {start.isoformat()}")

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """Return the working time in [start, end) for aware datetimes."""
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return _ZERO
        day, last = start.astimezone(SHANGHAI).date(), end.astimezone(SHANGHAI).date()
        if (last - day).days > MAX_SCAN_DAYS:
            raise ValueError(f"span {start.isoformat()} .. {end.isoformat()} exceeds {MAX_SCAN_DAYS} days")
        total = _ZERO
        while day <= last:
            window = self._window(day)
            if window is not None:
                total += max(min(end, window[1]) - max(start, window[0]), _ZERO)
            day += _ONE_DAY
        return total


class AroundTheClockCalendar(BusinessCalendar):
    """Every minute of every day counts."""

    name = "24x7"
    day_length = timedelta(days=1)
    days_per_week = 7

    def advance(self, start: datetime, amount: timedelta) -> datetime:
        """Return the UTC instant `amount` after aware `start`."""
        if amount > timedelta(days=MAX_SCAN_DAYS):
            raise ValueError(f"{amount} exceeds the {MAX_SCAN_DAYS}-day limit")
        return start.astimezone(UTC) + amount

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """Return the elapsed time in [start, end)."""
        return max(end.astimezone(UTC) - start.astimezone(UTC), _ZERO)


_CALENDARS: dict[str, BusinessCalendar] = {
    cal.name: cal for cal in (WorkingCalendar(), AroundTheClockCalendar())
}


def configure(extra_holidays: Iterable[date] = (), extra_workdays: Iterable[date] = ()) -> None:
    """Set the operator's own days off and make-up workdays on the shared `working` calendar (a year's official
    schedule before chinese_calendar has it, or a company holiday)."""
    holidays, workdays = frozenset(extra_holidays), frozenset(extra_workdays)
    current = _CALENDARS["working"]
    if isinstance(current, WorkingCalendar) and (current.extra_holidays, current.extra_workdays) == (
            holidays, workdays):
        return
    _CALENDARS["working"] = WorkingCalendar(holidays, workdays)


def get_calendar(name: str) -> BusinessCalendar:
    """Return the shared calendar registered under `name`."""
    try:
        return _CALENDARS[name]
    except KeyError:
        known = ", ".join(repr(n) for n in sorted(_CALENDARS))
        raise ValueError(f"unknown calendar {name!r}; known calendars: {known}") from None


def _resolve(calendar: str | BusinessCalendar) -> BusinessCalendar:
    """Accept a calendar object or its registered name."""
    if isinstance(calendar, BusinessCalendar):
        return calendar
    if isinstance(calendar, str):
        return get_calendar(calendar)
    raise TypeError(f"calendar must be a name or a BusinessCalendar, not {type(calendar).__name__}")


def _to_utc(value: datetime, label: str) -> datetime:
    """Reject naive datetimes: guessing a zone would silently shift deadlines by hours."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{label} {value.isoformat()} needs a time zone offset, e.g. +08:00")
    return value.astimezone(UTC)


def _amount(value: float, unit: timedelta, label: str) -> timedelta:
    """Turn a non-negative count of `unit` into a timedelta (microsecond precision)."""
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{label} must be a finite number >= 0, got {value!r}")
    try:
        return unit * value
    except OverflowError:
        raise ValueError(f"{label} {value!r} is too large") from None


def add_working_hours(start: datetime, hours: float, calendar: str | BusinessCalendar) -> datetime:
    """Return the UTC instant `hours` working hours after `start`."""
    cal = _resolve(calendar)
    return cal.advance(_to_utc(start, "start"), _amount(hours, timedelta(hours=1), "hours"))


def add_working_days(start: datetime, days: float, calendar: str | BusinessCalendar) -> datetime:
    """Return the UTC instant `days` working days after `start`, at the same working clock time."""
    cal = _resolve(calendar)
    return cal.advance(_to_utc(start, "start"), _amount(days, cal.day_length, "days"))


def working_hours_between(start: datetime, end: datetime, calendar: str | BusinessCalendar) -> float:
    """Return the working hours in [start, end); 0 when end <= start."""
    cal = _resolve(calendar)
    spent = cal.working_time(_to_utc(start, "start"), _to_utc(end, "end"))
    return spent / timedelta(hours=1)


def point_at_fraction(
    start: datetime, end: datetime, fraction: float, calendar: str | BusinessCalendar
) -> datetime:
    """Return the UTC instant when `fraction` of the working time from start to end has passed."""
    cal = _resolve(calendar)
    begin = _to_utc(start, "start")
    total = cal.working_time(begin, _to_utc(end, "end"))
    return cal.advance(begin, _amount(fraction, total, "fraction"))


def _parse_duration(text: str, cal: BusinessCalendar) -> timedelta:
    """Convert an ISO-8601 duration to working time: D = working day, W = working week."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    # The regex alone would accept "P", "PT" and "P1DT", which name no duration.
    if match is None or text.endswith(("P", "T")):
        raise ValueError(f"{text!r} is not an ISO-8601 duration such as PT4H, PT15M, P3D or P1DT4H")
    if match.group(1) is not None or match.group(2) is not None:
        raise ValueError(f"{text!r}: years and months have no fixed working length; use W, D, H, M or S")
    numbers = (float(g.replace(",", ".")) if g else 0.0 for g in match.groups()[2:])
    weeks, days, hours, minutes, seconds = numbers
    try:
        clock = timedelta(hours=hours, minutes=minutes, seconds=seconds)
        return cal.day_length * (weeks * cal.days_per_week + days) + clock
    except OverflowError:
        raise ValueError(f"{text!r} is too large") from None


def add_working_duration(start: datetime, iso_duration: str, calendar: str | BusinessCalendar) -> datetime:
    """Return the UTC instant an ISO-8601 duration of working time after `start`."""
    cal = _resolve(calendar)
    return cal.advance(_to_utc(start, "start"), _parse_duration(iso_duration, cal))
