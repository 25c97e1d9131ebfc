"""When to poll a feed next: pure policy, no I/O, no clock of its own.

The service asks `next_delay(...)` after every poll and stores the answer in
feeds.next_poll_at, so backoff and Retry-After survive restarts.

Rules, in order:

* a broken feed (failing for longer than `broken_after`) is probed every
  `broken_retry`, never dropped; the first success clears it;
* a failure waits interval x 2^(streak-1), at least the interval and at most
  max(max_backoff, interval);
* a publisher's Retry-After (429/503, or any error carrying one) is honoured
  when it is longer, up to `max_retry_after` (a hostile "come back in ten
  years" does not silence a feed);
* a success waits the interval, or longer when the feed asks for it (<ttl>,
  sy:updatePeriod, Cache-Control max-age / Expires), up to
  `max_declared_interval`, unless the config says not to respect it;
* every delay gets a random extra of up to `jitter` x delay (at most 60 s), so
  hundreds of feeds on one interval spread out; the extra is never negative,
  so a feed is never polled sooner than it asked.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

MAX_JITTER_SECONDS = 60.0
SUCCESS = frozenset({"ok", "not_modified"})


@dataclass(frozen=True)
class Policy:
    interval: float
    jitter: float = 0.1
    max_backoff: float = 3600.0
    broken_retry: float = 7200.0
    respect_declared: bool = True
    max_declared: float = 86400.0
    max_retry_after: float = 86400.0

    @classmethod
    def for_feed(cls, config, feed) -> "Policy":
        """The policy of one feed from a MonitorConfig and its FeedConfig."""
        d = config.defaults
        return cls(
            interval=config.feed_interval(feed),
            jitter=d.jitter,
            max_backoff=d.max_backoff,
            broken_retry=d.broken_retry,
            respect_declared=config.feed_respects_ttl(feed),
            max_declared=d.max_declared_interval,
            max_retry_after=d.max_retry_after,
        )


@dataclass(frozen=True)
class Decision:
    delay: float  # seconds from now, jitter included
    reason: str  # interval, declared, backoff, retry_after, broken


def base_delay(
    policy: Policy,
    *,
    status: str,
    error_streak: int = 0,
    broken: bool = False,
    retry_after: float | None = None,
    declared_interval: float | None = None,
) -> Decision:
    """The delay before jitter."""
    interval = policy.interval
    if status in SUCCESS:
        if policy.respect_declared and declared_interval and declared_interval > interval:
            return Decision(min(declared_interval, max(policy.max_declared, interval)), "declared")
        return Decision(interval, "interval")
    if broken:
        delay, reason = max(policy.broken_retry, interval), "broken"
    else:
        streak = max(1, error_streak)
        ceiling = max(policy.max_backoff, interval)
        # 2**streak overflows floats only past ~1000 failures; min() first keeps it finite.
        delay, reason = min(interval * 2.0 ** min(streak - 1, 60), ceiling), "backoff"
    if retry_after is not None and retry_after > delay:
        delay, reason = min(retry_after, max(policy.max_retry_after, delay)), "retry_after"
    return Decision(delay, reason)


def with_jitter(delay: float, share: float, rng: random.Random | None = None) -> float:
    spread = min(delay * share, MAX_JITTER_SECONDS)
    if spread <= 0:
        return delay
    return delay + (rng or random).uniform(0, spread)


def next_delay(
    policy: Policy,
    *,
    status: str,
    error_streak: int = 0,
    broken: bool = False,
    retry_after: float | None = None,
    declared_interval: float | None = None,
    rng: random.Random | None = None,
) -> Decision:
    base = base_delay(
        policy,
        status=status,
        error_streak=error_streak,
        broken=broken,
        retry_after=retry_after,
        declared_interval=declared_interval,
    )
    return Decision(with_jitter(base.delay, policy.jitter, rng), base.reason)


def on_tick(when: float, interval: float, poll_tick: float) -> float:
    """`when` (epoch seconds) moved forward to the next point of the polling grid.

    The grid's step is poll_tick, but at most a tenth of the feed's interval, so
    short intervals (and tests) keep their precision; being on one grid, polls due
    within the same step start together. Never earlier than asked."""
    step = min(poll_tick, interval / 10)
    if step <= 0:
        return when
    return math.ceil(when / step) * step


def first_delay(
    policy: Policy,
    stored_next: datetime | None,
    now: datetime,
    spread: float,
    rng: random.Random | None = None,
) -> float:
    """Delay of the first poll after a start: what the last run decided (backoff,
    Retry-After, declared ttl) still holds; a feed that is due (or new) gets a
    random slot in the first min(interval, spread) seconds."""
    draw = rng or random
    if stored_next is not None:
        remaining = (stored_next - now).total_seconds()
        if remaining > 0:
            # A longer wait was decided for a reason (backoff, Retry-After, ttl): keep it.
            return remaining
    return draw.uniform(0, max(0.0, min(policy.interval, spread)))


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


def cache_lifetime(headers: dict[str, str], now: datetime | None = None) -> float | None:
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
