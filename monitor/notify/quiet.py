"""Quiet hours (pure): a daily window of local wall-clock time in which a subscriber's
alerts wait, and when a held alert may go.

Times are wall-clock times in the subscriber's IANA zone (zoneinfo), so a window
crossing midnight (22:00-07:00) and days when the clocks change (the window still
ends at 07:00 local time, whatever that is in UTC) work without special cases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.store import QuietSetting

__all__ = ["QuietHours", "parse_quiet_hours"]

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*(?:\s(\S+))?\s*$")


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    zone: ZoneInfo

    @classmethod
    def from_setting(cls, setting: QuietSetting) -> QuietHours:
        return cls(time.fromisoformat(setting.start), time.fromisoformat(setting.end), ZoneInfo(setting.timezone))

    def as_setting(self) -> QuietSetting:
        return QuietSetting(f"{self.start:%H:%M}", f"{self.end:%H:%M}", self.zone.key)

    def describe(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M} {self.zone.key}"

    def held_until(self, now: datetime) -> datetime | None:
        """When an alert queued at `now` (aware) may go: the end of the window it falls
        in (UTC), or None when `now` is outside the window."""
        local = now.astimezone(self.zone)
        wall, today = local.time().replace(tzinfo=None), local.date()
        if self.start < self.end:
            ends = today if self.start <= wall < self.end else None
        elif wall >= self.start:
            ends = today + timedelta(days=1)  # the window runs past midnight
        elif wall < self.end:
            ends = today
        else:
            ends = None
        if ends is None:
            return None
        until = _wall_time(ends, self.end, self.zone)
        return until if until > now else None


def _wall_time(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`at` on `day` in `zone`, as UTC. A time the clocks skip (spring forward) is read
    with the offset before the change, i.e. as the same moment after the jump."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(timezone.utc)


def parse_quiet_hours(text: str, default_zone: str = "UTC") -> QuietHours:
    """'22:00-07:00 Asia/Baghdad' (the zone defaults to `default_zone`) -> QuietHours;
    ValueError with one line for a person."""
    found = _WINDOW.match(text)
    if not found:
        raise ValueError("Give the window as HH:MM-HH:MM and a time zone, e.g. /quiet 22:00-07:00 Asia/Baghdad")
    h1, m1, h2, m2 = (int(found.group(n)) for n in range(1, 5))
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError("Times run from 00:00 to 23:59, e.g. /quiet 22:00-07:00 Asia/Baghdad")
    if (h1, m1) == (h2, m2):
        raise ValueError("The window starts and ends at the same time; give two different times, e.g. 22:00-07:00")
    zone_name = found.group(5) or default_zone
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Unknown time zone {zone_name!r}; use a name like Asia/Baghdad, Europe/Berlin or UTC") from None
    return QuietHours(time(h1, m1), time(h2, m2), zone)
