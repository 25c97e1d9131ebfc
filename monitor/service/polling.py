"""One poll of one feed under the concurrency caps, and what follows from its outcome:
the metrics, the next poll time (the policy in schedule.py, stored with the
outcome), and a notice when the feed turns broken or recovers."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from monitor.config import FeedConfig, FetchConfig
from monitor.ingest.fetch import Fetcher
from monitor.ops import metrics
from monitor.ops.logs import get_logger
from monitor.service.notices import AdminNotices
from monitor.service.pipeline import PollOutcome, Runtime, poll_feed
from monitor.service.schedule import Decision, Policy, next_delay
from monitor.store import Clock, FeedState, Store

__all__ = ["PollResult", "Poller"]

log = get_logger("monitor.service.polling")


@dataclass(frozen=True)
class PollResult:
    outcome: PollOutcome
    delay: float  # seconds until the feed's next poll, as the policy decided


class Poller:
    """At most `fetch.concurrency` polls at once, and `fetch.per_host_concurrency` per host.

    `on_alerts()` is called when a poll queued alerts or grew a story (the service then delivers or edits at
    once); `rng` draws the jitter; `clock` is the store's."""

    def __init__(
        self,
        store: Store,
        fetcher: Fetcher,
        fetch: FetchConfig,
        notices: AdminNotices,
        *,
        on_alerts: Callable[[], None],
        rng: random.Random,
        clock: Clock,
    ):
        self._store = store
        self._fetcher = fetcher
        self._notices = notices
        self._on_alerts = on_alerts
        self._rng = rng
        self._clock = clock
        self._slots = asyncio.Semaphore(fetch.concurrency)
        self._per_host = fetch.per_host_concurrency
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        self._broken: set[str] = set()  # feed URLs known broken (reported once)

    def known_broken(self, urls: Iterable[str]) -> None:
        """Feeds marked broken before this process started: not reported again."""
        self._broken = set(urls)

    async def poll(self, runtime: Runtime, feed: FeedConfig) -> PollResult:
        """One poll with the config of `runtime` (a reload during the poll does not change it)."""
        config = runtime.settings.config
        started = self._clock()
        policy = Policy.for_feed(config, feed)
        decided: list[Decision] = []

        def plan(status: str, state: FeedState, retry_after: float | None, lifetime: float | None) -> datetime:
            # Called by the store inside the poll's write: the next poll time is stored
            # with the outcome, in one statement.
            decision = self._decide(policy, status, state, retry_after, lifetime)
            decided.append(decision)
            return self._clock() + timedelta(seconds=decision.delay)

        # Host slot first: a poll waiting for a busy host must not hold a global slot.
        async with self._host_slot(feed.url), self._slots:
            metrics.POLLS_IN_FLIGHT.inc()
            try:
                outcome = await poll_feed(runtime, self._store, self._fetcher, feed, plan)
            finally:
                metrics.POLLS_IN_FLIGHT.dec()
        metrics.observe_poll(outcome)
        if outcome.alerts_queued or outcome.stories_grown:  # new alerts, or story messages to edit
            self._on_alerts()
        state = outcome.feed_state
        if state is None or not decided:  # nothing stored (e.g. the database refused): retry at the interval
            return PollResult(outcome, policy.interval)
        await self._report_transition(feed, outcome, state, started, policy)
        decision = decided[-1]
        if decision.reason == "retry_after":
            metrics.RETRY_AFTER.inc()
        if decision.reason in ("backoff", "retry_after", "broken"):
            log.info("poll_deferred", feed=feed.url, reason=decision.reason, delay=round(decision.delay, 1), streak=state.error_streak)
        return PollResult(outcome, decision.delay)

    def _host_slot(self, url: str) -> asyncio.Semaphore:
        host = (urlsplit(url).hostname or "").lower()
        slot = self._host_slots.get(host)
        if slot is None:
            slot = self._host_slots[host] = asyncio.Semaphore(self._per_host)
        return slot

    def _decide(self, policy: Policy, status: str, state: FeedState, retry_after: float | None, lifetime: float | None) -> Decision:
        declared = max((d for d in (state.declared_interval, lifetime) if d), default=None)
        return next_delay(
            policy,
            status=status,
            error_streak=state.error_streak,
            broken=state.broken_since is not None,
            retry_after=retry_after,
            declared_interval=declared,
            rng=self._rng,
        )

    async def _report_transition(self, feed: FeedConfig, outcome: PollOutcome, state: FeedState, started: datetime, policy: Policy) -> None:
        """A notice when this poll made the feed broken, or ended its broken spell."""
        name = feed.name or feed.url
        if state.broken_since is not None and state.broken_since >= started:
            self._broken.add(feed.url)
            await self._notices.send(
                f"feed {name} ({feed.url}) broken since {state.broken_since:%Y-%m-%d %H:%M} UTC after "
                f"{state.error_streak} failures: {outcome.error}. Still probing every "
                f"{_human(max(policy.broken_retry, policy.interval))}.",
                event="feed_broken",
                feed=feed.url,
            )
        elif state.broken_since is None and feed.url in self._broken:
            self._broken.discard(feed.url)
            await self._notices.send(f"feed {name} ({feed.url}) recovered: {outcome.status}.", event="feed_recovered", feed=feed.url)


def _human(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
