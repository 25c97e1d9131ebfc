"""When to poll a feed next: pure policy, no I/O, no clock of its own.

The service asks `next_delay(...)` after every poll and stores the answer in
feeds.next_poll_at, so backoff and Retry-After survive restarts; the feed's
job on APScheduler (monitor.service.jobs.FeedTrigger) fires at that time, on
the polling grid (`on_tick`). `first_delay` places the first poll after a start.

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
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.notify.ratelimit import doubled  # the one backoff growth, shared with delivery

if TYPE_CHECKING:
    from monitor.config import FeedConfig, MonitorConfig

__all__ = ["Decision", "Policy", "base_delay", "first_delay", "next_delay", "on_tick", "with_jitter"]

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
    def for_feed(cls, config: MonitorConfig, feed: FeedConfig) -> Policy:
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

    @property
    def longest_delay(self) -> float:
        """The longest wait any of the rules can decide, jitter included."""
        return max(self.interval, self.max_backoff, self.broken_retry, self.max_declared, self.max_retry_after) + MAX_JITTER_SECONDS


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
        # The interval after the first failure, doubling with each further one.
        delay, reason = doubled(interval, max(1, error_streak) - 1, max(policy.max_backoff, interval)), "backoff"
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
    if stored_next is not None:
        remaining = (stored_next - now).total_seconds()
        if remaining > 0:
            # A longer wait was decided for a reason (backoff, Retry-After, ttl): keep it.
            return remaining
    return (rng or random).uniform(0, max(0.0, min(policy.interval, spread)))
