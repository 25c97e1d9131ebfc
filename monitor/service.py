"""The running monitor: feeds on a schedule, a sender draining the outbox, and a
clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from monitor.config import FeedConfig, Settings
from monitor.fetch import Fetcher
from monitor.logs import get_logger
from monitor.match import Matcher
from monitor.notify.console import deliver_to_console
from monitor.pipeline import PollOutcome, Runtime, poll_feed
from monitor.store import Store

log = get_logger("monitor.service")


@dataclass
class CycleReport:
    outcomes: list[PollOutcome] = field(default_factory=list)
    delivered: int = 0

    @property
    def new_items(self) -> int:
        return sum(o.new_items for o in self.outcomes)

    @property
    def alerts_queued(self) -> int:
        return sum(o.alerts_queued for o in self.outcomes)

    @property
    def failed_feeds(self) -> list[PollOutcome]:
        return [o for o in self.outcomes if o.status not in ("ok", "not_modified")]


def build_runtime(settings: Settings) -> Runtime:
    return Runtime(settings, Matcher.from_watchlist(settings.watchlist))


class Monitor:
    """Owns the store, the fetcher and the sink for the lifetime of the process."""

    def __init__(self, settings: Settings, store: Store | None = None):
        self.runtime = build_runtime(settings)
        self.store = store or Store(settings.config.storage.url)
        self.fetcher = Fetcher(settings.config.fetch)
        self._poll_slots = asyncio.Semaphore(settings.config.fetch.concurrency)
        self._deliver: Callable[[], Awaitable[int]] = self._deliver_console

    async def _deliver_console(self) -> int:
        return await asyncio.to_thread(deliver_to_console, self.store)

    async def poll(self, feed: FeedConfig) -> PollOutcome:
        async with self._poll_slots:
            return await poll_feed(self.runtime, self.store, self.fetcher, feed)

    async def run_once(self) -> CycleReport:
        """Poll every feed once, then deliver everything that is due."""
        feeds = self.runtime.settings.config.feeds
        outcomes = await asyncio.gather(*(self.poll(feed) for feed in feeds))
        report = CycleReport(list(outcomes))
        report.delivered = await self._deliver()
        return report

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        """Poll on each feed's interval and deliver continuously until `stop` or a signal."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        scheduler = AsyncIOScheduler(event_loop=loop)
        config = self.runtime.settings.config
        for feed in config.feeds:
            interval = config.feed_interval(feed)
            scheduler.add_job(
                self.poll,
                "interval",
                args=[feed],
                seconds=interval,
                jitter=min(interval * 0.1, 60),
                id=feed.url,
                max_instances=1,
                coalesce=True,
                next_run_time=_now(),
                misfire_grace_time=None,
            )
        scheduler.start()
        log.info("started", feeds=len(config.feeds), database=self.store.display_url)
        try:
            while not stop.is_set():
                try:
                    await self._deliver()
                except Exception as exc:  # noqa: BLE001 - the sender retries; the service stays up
                    log.error("delivery_failed", error=str(exc))
                try:
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                except asyncio.TimeoutError:
                    pass
        finally:
            scheduler.shutdown(wait=False)
            await self._deliver()
            log.info("stopped")

    async def aclose(self) -> None:
        await self.fetcher.aclose()
        self.store.close()


def _now():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)
