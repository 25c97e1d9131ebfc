"""The running monitor: it owns the store, the fetcher and the sink for the life of
the process, starts the polls (monitor.service.jobs), delivers alerts as polls
queue them, reloads its configuration live (monitor.service.reload), answers
/healthz and /metrics, and stops cleanly.

Lifecycle: SIGTERM/SIGINT pause the scheduler, give in-flight polls
service.shutdown_grace seconds, cancel the rest (every store write is one
transaction, so a cancelled poll leaves nothing half-written), flush the outbox
for a few seconds and return; `aclose()` then closes the database. SIGHUP
reloads the configuration.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from monitor.config import FeedConfig, MonitorConfig, Settings
from monitor.ingest.fetch import Fetcher
from monitor.match import Matcher
from monitor.notify import Delivery, build_delivery
from monitor.ops import metrics
from monitor.ops.health import Health, HealthServer
from monitor.ops.logs import get_logger, redact
from monitor.service.instances import Coordinator, sender_role
from monitor.service.jobs import PollJobs, Retention, daily_trigger, feed_changes, weekly_trigger
from monitor.service.lock import InstanceLock, lock_database
from monitor.service.notices import AdminNotifier, AdminNotices
from monitor.service.pipeline import PollOutcome, Runtime
from monitor.service.polling import Poller
from monitor.service.reload import Reloader
from monitor.service.scheduled import Digests, ReportMaker, WeeklyReport
from monitor.service.status import TelegramProbe, assemble_health, refresh_metrics
from monitor.service.stories import StoryKeeper
from monitor.store import Store, database_problem

__all__ = ["CycleReport", "Monitor"]

log = get_logger("monitor.service.lifecycle")

# A stop ends well inside the 10 s an operator (and systemd's default) expects: the
# outbox is flushed for at most STOP_DELIVERY_SECONDS, and for less when the polls'
# grace period already used most of STOP_BUDGET_SECONDS.
STOP_BUDGET_SECONDS = 8.5
STOP_DELIVERY_SECONDS = 2.5
# Delivery is woken by the polls that queue alerts; this slow check is only for
# alerts queued by someone else (an operator's requeue, another process).
DELIVERY_CHECK_SECONDS = 30.0
# Timed jobs on the feeds' scheduler (feed jobs are named by their URLs).
DIGEST_JOB = "digest"
WEEKLY_JOB = "weekly-report"
WEEKLY_RETRY_JOB = "weekly-report-retry"


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


class Monitor:
    """What `monitor run` runs. `store` replaces the database of the config (e.g. one
    with its own clock); `admin_notifier` replaces the Telegram notices to the admins."""

    def __init__(self, settings: Settings, store: Store | None = None, *, admin_notifier: AdminNotifier | None = None):
        config = settings.config
        # One instance per SQLite database; raises InstanceLocked (the CLI exits 1).
        # PostgreSQL: no lock, the instances share the database (self.coordinator).
        self._lock: InstanceLock | None = lock_database(config.storage.url) if config.service.single_instance else None
        try:
            self.runtime = Runtime(settings, Matcher.from_watchlist(settings.watchlist))
            self.store = store or Store(config.storage.url, statement_timeout=config.storage.statement_timeout)
        except BaseException:
            self._release_lock()
            raise
        # Story assignment: one assigner per process, rebuilt from the database on the
        # first placement, kept across reloads (which may change its thresholds).
        self.stories = StoryKeeper(self.store.stories, config.stories, self.store.database.clock)
        self.runtime.stories = self.stories if config.stories.enabled else None
        self.fetcher = Fetcher(config.fetch)
        self.reports = ReportMaker(self.store, lambda: self.runtime.settings)
        # The outbox sender (Telegram, or the console without a token); /report sends what reports makes.
        self.delivery: Delivery = build_delivery(settings, self.store, report=self.reports.now)
        # With Telegram: notices also go to telegram.admins; telegram_probe() says whether
        # the Bot API answers (/healthz; None without Telegram).
        self.notices = AdminNotices(admin_notifier or self.delivery.notify_admins)
        self.telegram_probe: TelegramProbe = self.delivery.telegram_health
        self.health_server: HealthServer | None = None
        self._alerts_waiting = asyncio.Event()  # a poll queued alerts: deliver now
        self.ready = asyncio.Event()  # run_forever is up: jobs scheduled, missed digests/reports made up
        # Several instances on one PostgreSQL database: feeds are claimed before their
        # polls and one elected instance sends (monitor.service.instances).
        self.coordinator: Coordinator | None = None
        if self.store.database.engine.dialect.name == "postgresql":
            self.coordinator = Coordinator(
                self.store,
                config.instances,
                sender_role(config.telegram),
                on_sender=self._sender_changed,
                on_alerts=self._alerts_waiting.set,
            )
            self.delivery.coordinate(self.coordinator.may_send)
        self._sender_commands = True  # `run` answers subscriber commands while it sends; `run --once` does not
        rng = random.Random()
        self.poller = Poller(
            self.store, self.fetcher, config.fetch, self.notices, on_alerts=self._alerts_waiting.set, rng=rng, clock=self.store.database.clock
        )
        self.jobs = PollJobs(
            self._poll_for_job, lambda: self.runtime.settings.config, rng, claim=self.coordinator.claim if self.coordinator else None
        )
        # storage.retention: old rows pruned on the scheduler (run) or when due (run --once).
        self.retention = Retention(self.store, config.storage.retention)
        self.reloader = Reloader(lambda: self.runtime, self._swap, self.notices)
        self.digests = Digests(self.store, lambda: self.runtime.settings, self._alerts_waiting.set)
        self.weekly_report = WeeklyReport(
            self.store, lambda: self.runtime.settings, self.reports, self.delivery, self.notices,
            retry=lambda delay: self.jobs.add_timed(WEEKLY_RETRY_JOB, self.weekly_report.run, delay=delay),
            may_send=self.coordinator.may_send if self.coordinator else None,
        )

    # -- polls ---------------------------------------------------------------

    async def poll(self, feed: FeedConfig) -> PollOutcome:
        """One poll of one feed with the running config, under the concurrency caps."""
        return (await self.poller.poll(self.runtime, feed)).outcome

    async def _poll_for_job(self, feed: FeedConfig) -> float:
        return (await self.poller.poll(self.runtime, feed)).delay

    async def _sender_changed(self, sending: bool) -> None:
        """The coordinator elected this instance the sender, or it lost the role."""
        if sending:
            await self.delivery.become_sender(commands=self._sender_commands)
            self._alerts_waiting.set()  # what the others queued meanwhile
            # A weekly report due while no instance was the sender goes out now.
            self.jobs.add_timed(WEEKLY_RETRY_JOB, self.weekly_report.run, delay=0)
        else:
            await self.delivery.stop_sending()

    async def _start_delivery(self, *, commands: bool) -> None:
        """Alone: start the sender. Several instances: register, and send if elected."""
        self._sender_commands = commands
        if self.coordinator is None:
            await self.delivery.start(commands=commands)
        else:
            await self.coordinator.start()

    async def run_once(self) -> CycleReport:
        """Poll every feed once, delivering alerts as the polls queue them (a slow feed
        does not hold back the others' alerts), then deliver everything that is due.
        With several instances every feed is polled (no claims), and the alerts are
        delivered only when no other instance is the sender (else it sends them)."""
        await self._start_delivery(commands=False)  # the sender runs while the feeds are polled
        before = self.delivery.delivered
        polling = asyncio.gather(*(self.poll(feed) for feed in self.runtime.settings.config.feeds))
        polled = asyncio.Event()
        polling.add_done_callback(lambda _: polled.set())
        await self._deliver_until(polled)
        report = CycleReport(list(await polling))
        await self._flush_polls()
        await self._catch_up()  # a cron-driven `run --once` sends the digests and the report due too
        await self.delivery.drain()  # what is left, paced by the rate governor
        report.delivered = self.delivery.delivered - before
        await self.retention.run_if_due()  # a `run --once` from cron prunes too
        return report

    # -- live configuration --------------------------------------------------

    async def reload(self, reason: str = "requested") -> bool:
        """Build the new runtime completely, then swap it in; on any problem keep the old one."""
        return await self.reloader.reload(reason)

    def _swap(self, old: Runtime, new: Runtime) -> dict[str, list[str]]:
        self.stories.configure(new.settings.config.stories)
        self.delivery.reconfigure(new.settings)
        new.stories = self.stories if new.settings.config.stories.enabled else None
        self.runtime = new  # polls started from now on see the new config
        changes = feed_changes(old.settings.config, new.settings.config)
        self.jobs.apply(changes, new.settings.config)
        if (old.settings.config.digest, old.settings.config.reports) != (new.settings.config.digest, new.settings.config.reports):
            self._schedule_timed(new.settings.config)
        metrics.FEEDS.set(len(new.settings.config.feeds))
        return changes.as_fields()

    # -- health --------------------------------------------------------------

    async def health(self) -> Health:
        config = self.runtime.settings.config
        return await assemble_health(
            self.store,
            [f.url for f in config.feeds],
            scheduler_running=self.jobs.running,
            config_ok=self.reloader.config_ok,
            degraded_share=config.service.degraded_broken_share,
            telegram_probe=self.telegram_probe,
            instances_probe=self.coordinator.overview if self.coordinator else None,
            this_instance=self.coordinator.id if self.coordinator else None,
        )

    async def _refresh_metrics(self) -> None:
        await refresh_metrics(self.store, [f.url for f in self.runtime.settings.config.feeds])

    # -- the service ---------------------------------------------------------

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        """Poll on each feed's schedule and deliver continuously until `stop` or a signal."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = _handle_signals(loop, {signal.SIGTERM: stop.set, signal.SIGINT: stop.set, signal.SIGHUP: self.reloader.on_sighup})
        config = self.runtime.settings.config
        stored_next, broken = await asyncio.to_thread(self.store.feeds.schedule_state)
        self.poller.known_broken(url for url in broken if url in {f.url for f in config.feeds})
        await self._start_delivery(commands=True)  # background sender + subscriber commands (if elected)
        self.jobs.start(stored_next, self.store.database.now())
        self._schedule_timed(config)
        await self._catch_up()
        if self.retention.enabled:
            self.jobs.add_periodic("retention", self.retention.run, self.retention.every, await self.retention.first_delay())
        metrics.SCHEDULER_UP.set(1)
        metrics.FEEDS.set(len(config.feeds))
        metrics.CONFIG_OK.set(1)
        if config.service.health_port is not None:
            server = HealthServer(config.service.health_host, config.service.health_port, self.health, self._refresh_metrics)
            try:
                await server.start()
                self.health_server = server  # set once it listens: its port is the real one
            except OSError as exc:
                log.error("health_unavailable", host=config.service.health_host, port=config.service.health_port, error=str(exc))
        watcher = loop.create_task(self.reloader.watch(stop))
        self.ready.set()
        log.info("started", feeds=len(config.feeds), database=self.store.display_url)
        try:
            await self._deliver_until(stop)
        finally:
            await self._stop(watcher)
            for sig in installed:
                loop.remove_signal_handler(sig)

    async def _catch_up(self) -> None:
        """A digest or weekly report due while the service was down goes out now."""
        for catch_up in (self.digests.run, self.weekly_report.run):
            try:
                await catch_up()
            except Exception as exc:  # noqa: BLE001 - e.g. the database is down: the next run tries again
                log.error("catch_up_failed", job=catch_up.__qualname__, error=f"{type(exc).__name__}: {exc}")

    def _schedule_timed(self, config: MonitorConfig) -> None:
        """The digest job at digest.at, and the weekly report's when it is enabled."""
        self.jobs.add_timed(DIGEST_JOB, self.digests.run, daily_trigger(config.digest.at, config.digest.timezone))
        weekly = config.reports.weekly
        if weekly.enabled:
            self.jobs.add_timed(WEEKLY_JOB, self.weekly_report.run, weekly_trigger(weekly.weekday, weekly.time, weekly.timezone))
        else:
            self.jobs.remove_timed(WEEKLY_JOB)
            self.jobs.remove_timed(WEEKLY_RETRY_JOB)

    async def _deliver_until(self, done: asyncio.Event) -> int:
        """Deliver whenever a poll queued alerts, and write the batched poll bookkeeping,
        until `done`; returns the alerts delivered here (a started sender delivers in the
        background and counts its own)."""
        delivered = 0
        while not done.is_set():
            self._alerts_waiting.clear()
            try:
                delivered += await self.delivery.deliver_due()
            except Exception as exc:  # noqa: BLE001 - the sender retries; the service stays up
                log.error("delivery_failed", error=str(exc))
            await self._flush_polls()
            # No fixed tick: each wake-up of an idle process costs CPU, so this loop
            # sleeps until a poll queues alerts, the bookkeeping is due, or `done`.
            flush_every = self.runtime.settings.config.service.state_flush or DELIVERY_CHECK_SECONDS
            await _until_either(done, self._alerts_waiting, min(DELIVERY_CHECK_SECONDS, flush_every))
        return delivered

    async def _flush_polls(self) -> None:
        """Write the batched poll bookkeeping (see FeedRepository.note_not_modified)."""
        feeds = self.store.feeds
        if not feeds.pending_polls:
            return
        try:
            await asyncio.to_thread(feeds.flush_polls)
        except Exception as exc:  # noqa: BLE001 - kept for the next flush; the service stays up
            log.error("db_error", during="poll bookkeeping", error=redact(database_problem(exc)), pending=feeds.pending_polls)

    async def _stop(self, watcher: asyncio.Task) -> None:
        started = time.monotonic()
        grace = self.runtime.settings.config.service.shutdown_grace
        log.info("stopping", polls_in_flight=self.jobs.polls_in_flight, grace=grace)
        watcher.cancel()
        await asyncio.gather(self.jobs.stop(grace), self.retention.stop(grace))
        metrics.SCHEDULER_UP.set(0)
        await asyncio.gather(watcher, return_exceptions=True)
        # Flush what is deliverable now, within what is left of the budget.
        budget = max(0.5, min(STOP_DELIVERY_SECONDS, STOP_BUDGET_SECONDS - (time.monotonic() - started)))
        try:
            await asyncio.wait_for(self.delivery.deliver_due(), timeout=budget)
        except asyncio.TimeoutError:
            log.warning("delivery_flush_timed_out", note="queued alerts stay in the outbox for the next start")
        except Exception as exc:  # noqa: BLE001
            log.error("delivery_failed", error=str(exc))
        await self.delivery.stop()  # sends in flight finish before exit
        await self._flush_polls()
        if self.coordinator is not None:
            await self.coordinator.stop()  # the role and the feed claims go back at once
        if self.health_server is not None:
            await self.health_server.close()
        log.info("stopped", seconds=round(time.monotonic() - started, 2))

    async def aclose(self) -> None:
        try:
            await self.delivery.stop()  # idempotent
            await self._flush_polls()
            if self.coordinator is not None:
                await self.coordinator.stop()  # idempotent
            await self.fetcher.aclose()
            self.store.close()
        finally:
            self._release_lock()

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def _handle_signals(loop: asyncio.AbstractEventLoop, handlers: dict[signal.Signals, Callable[[], None]]) -> list[signal.Signals]:
    """Install what the platform allows; returns the signals handled."""
    installed = []
    for sig, handler in handlers.items():
        try:
            loop.add_signal_handler(sig, handler)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    return installed


async def _until_either(first: asyncio.Event, second: asyncio.Event, timeout: float) -> None:
    """Wait until either event is set, at most `timeout` seconds."""
    waits = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
