"""What an HTTP answer says about time: its dates, how long it stays fresh
(Cache-Control max-age, Expires) and when to come back (Retry-After). Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

__all__ = ["cache_lifetime", "parse_http_date", "retry_after_seconds"]

_MAX_AGE = re.compile(r"(?:^|,)\s*(s-maxage|max-age)\s*=\s*\"?(\d+)\"?", re.IGNORECASE)


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP date (Expires, Date, Retry-After) as an aware UTC datetime, or None."""
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def cache_lifetime(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds a response says it stays fresh (Cache-Control max-age, else Expires - Date).

    None when the headers say nothing usable, or forbid caching (no-store,
    no-cache: those say nothing about how often to poll)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    control = lowered.get("cache-control", "")
    if re.search(r"\b(no-store|no-cache)\b", control, re.IGNORECASE):
        return None
    ages = {m.group(1).lower(): int(m.group(2)) for m in _MAX_AGE.finditer(control)}
    if "s-maxage" in ages or "max-age" in ages:
        age = ages.get("s-maxage", ages.get("max-age"))
        return float(age) if age and age > 0 else None
    expires = lowered.get("expires")
    if not expires:
        return None
    when = parse_http_date(expires)
    if when is None:
        return None
    reference = parse_http_date(lowered.get("date")) or now or datetime.now(timezone.utc)
    seconds = (when - reference).total_seconds()
    return seconds if seconds > 0 else None


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After is either delay-seconds or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    when = parse_http_date(value)
    return None if when is None else max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
