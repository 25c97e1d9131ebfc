"""The running monitor: feeds on a schedule, a sender draining the outbox, live
config reloads, a health/metrics endpoint and a clean stop on SIGTERM/SIGINT.

Scheduling (see monitor/service/schedule.py for the policy):
* one APScheduler job per feed (id = feed URL, max_instances=1: never two polls
  of one feed at once). After every poll the job's next_run_time is set from
  the policy (interval + jitter, backoff, Retry-After, declared ttl, broken
  probing) and stored in feeds.next_poll_at, so it survives restarts. The
  job's own interval trigger is only a safety net;
* after its first poll, a feed's polls start on a grid (service.poll_tick), so
  polls due within the same few seconds share one wake-up of the process;
* a cap on concurrent polls overall (fetch.concurrency) and per host
  (fetch.per_host_concurrency).

Lifecycle: SIGTERM/SIGINT pause the scheduler, give in-flight polls
service.shutdown_grace seconds, cancel the rest (every store write is one
transaction, so a cancelled poll leaves nothing half-written), flush the
outbox for a few seconds and return; the CLI then closes the database. SIGHUP
reloads the configuration.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import sniffio

from monitor.ops import metrics
from monitor.config import ConfigError, FeedConfig, MonitorConfig, Settings, secrets_of
from monitor.ingest.fetch import Fetcher
from monitor.ops.health import Health, HealthServer, verdict
from monitor.service.lock import InstanceLock, PostgresInstanceLock, lock_database
from monitor.ops.logs import get_logger, redact
from monitor.match import Matcher
from monitor.notify import Delivery, Reachability, build_delivery
from monitor.service.pipeline import PollOutcome, Runtime, poll_feed
from monitor.service.reload import ConfigWatcher, RuntimeBuildError, load_runtime, restart_only_changes
from monitor.service.schedule import Decision, Policy, first_delay, next_delay, on_tick
from monitor.store import FeedState, Store, database_problem

log = get_logger("monitor.service.monitor")

# Budget of a stop, well inside the 10 s an operator (and systemd's default) expects.
STOP_DELIVERY_SECONDS = 2.5
# Delivery is woken by the polls that queue alerts; this slow check is only for
# alerts queued by someone else (an operator's requeue, another process).
DELIVERY_CHECK_SECONDS = 30.0


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


AdminNotifier = Callable[[str], Awaitable[None]]
TelegramProbe = Callable[[], Awaitable[Reachability | None]]  # None: Telegram not configured


class Monitor:
    """Owns the store, the fetcher and the sink for the lifetime of the process."""

    def __init__(self, settings: Settings, store: Store | None = None):
        config = settings.config
        # One instance per SQLite database; raises InstanceLocked (the CLI exits 1).
        self._lock: InstanceLock | PostgresInstanceLock | None = lock_database(config.storage.url) if config.service.single_instance else None
        try:
            self.runtime = build_runtime(settings)
            self.store = store or Store(config.storage.url)
        except BaseException:
            self._release_lock()
            raise
        self.fetcher = Fetcher(config.fetch)
        self._poll_slots = asyncio.Semaphore(config.fetch.concurrency)
        self._host_slots: dict[str, asyncio.Semaphore] = {}
        # The outbox sender (Telegram, or the console without a token).
        self.delivery: Delivery = build_delivery(settings, self.store)
        self._deliver: Callable[[], Awaitable[int]] = self.delivery.deliver_due
        # admin_notifier(text) tells telegram.admins (broken feeds, rejected config);
        # telegram_probe() says whether the Bot API answers (/healthz).
        self.admin_notifier: AdminNotifier | None = self.delivery.notify_admins
        self.telegram_probe: TelegramProbe = self.delivery.telegram_health
        self._scheduler: Any = None  # an AsyncIOScheduler while running (APScheduler has no types)
        self._in_flight: dict[str, asyncio.Task] = {}  # feed URL -> its running poll
        self._broken: set[str] = set()  # feed URLs known broken (reported once)
        self._config_ok = True
        self._watcher: ConfigWatcher | None = None
        self._reload_lock = asyncio.Lock()
        self._background: set[asyncio.Task] = set()
        self.health_server: HealthServer | None = None
        self._rng = random.Random()
        self._alerts_waiting = asyncio.Event()  # a poll queued alerts: deliver now
        self._feed_index: tuple[MonitorConfig | None, dict[str, FeedConfig]] = (None, {})

    # -- polling -------------------------------------------------------------

    def _host_slot(self, url: str) -> asyncio.Semaphore:
        host = (urlsplit(url).hostname or "").lower()
        slot = self._host_slots.get(host)
        if slot is None:
            slot = self._host_slots[host] = asyncio.Semaphore(self.runtime.settings.config.fetch.per_host_concurrency)
        return slot

    async def poll(self, feed: FeedConfig) -> PollOutcome:
        """One poll of one feed under the concurrency caps; records metrics, broken/recovered
        transitions and the feed's next poll time."""
        return (await self._poll(feed))[0]

    async def _poll(self, feed: FeedConfig) -> tuple[PollOutcome, float]:
        runtime = self.runtime  # one poll sees one config, even across a reload
        config = runtime.settings.config
        started = datetime.now(timezone.utc)
        policy = Policy.for_feed(config, feed)
        decided: list[Decision] = []

        def next_poll(status: str, state: FeedState, retry_after: float | None, lifetime: float | None) -> datetime:
            # Called by the store inside the poll's write: the next poll time is stored
            # with the outcome, in one statement.
            decision = self._decide(policy, status, state, retry_after, lifetime)
            decided.append(decision)
            return datetime.now(timezone.utc) + timedelta(seconds=decision.delay)

        # Host slot first: a poll waiting for a busy host must not hold a global slot.
        async with self._host_slot(feed.url), self._poll_slots:
            metrics.POLLS_IN_FLIGHT.inc()
            try:
                outcome = await poll_feed(runtime, self.store, self.fetcher, feed, next_poll)
            finally:
                metrics.POLLS_IN_FLIGHT.dec()
        metrics.observe_poll(outcome)
        if outcome.alerts_queued:
            self._alerts_waiting.set()
        delay = await self._after_poll(config, feed, outcome, started, policy, decided[-1] if decided else None)
        return outcome, delay

    def _decide(
        self, policy: Policy, status: str, state: FeedState, retry_after: float | None, lifetime: float | None
    ) -> Decision:
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

    async def _after_poll(
        self,
        config: MonitorConfig,
        feed: FeedConfig,
        outcome: PollOutcome,
        started: datetime,
        policy: Policy | None = None,
        decision: Decision | None = None,
    ) -> float:
        """Broken/recovered notices and the next poll time; returns the delay chosen.
        `decision` is the one already stored with the poll's outcome (see _poll)."""
        state = outcome.feed_state
        policy = policy or Policy.for_feed(config, feed)
        if state is None:
            return policy.interval
        name = feed.name or feed.url
        if state.broken_since is not None and state.broken_since >= started:
            self._broken.add(feed.url)
            await self.notify_admins(
                f"feed {name} ({feed.url}) broken since {state.broken_since:%Y-%m-%d %H:%M} UTC after "
                f"{state.error_streak} failures: {outcome.error}. Still probing every "
                f"{_human(max(policy.broken_retry, policy.interval))}.",
                event="feed_broken",
                feed=feed.url,
            )
        elif state.broken_since is None and feed.url in self._broken:
            self._broken.discard(feed.url)
            await self.notify_admins(f"feed {name} ({feed.url}) recovered: {outcome.status}.", event="feed_recovered", feed=feed.url)
        if decision is None:  # not stored with the outcome: store it now
            decision = self._decide(policy, outcome.status, state, outcome.retry_after, outcome.cache_lifetime)
            next_at = datetime.now(timezone.utc) + timedelta(seconds=decision.delay)
            await asyncio.to_thread(self.store.save_next_poll, state.id, next_at)
        if decision.reason == "retry_after":
            metrics.RETRY_AFTER.inc()
        if decision.reason in ("backoff", "retry_after", "broken"):
            log.info("poll_deferred", feed=feed.url, reason=decision.reason, delay=round(decision.delay, 1), streak=state.error_streak)
        return decision.delay

    async def run_once(self) -> CycleReport:
        """Poll every feed once, delivering alerts as their polls queue them (a slow feed
        holds back only its own), then deliver everything that is still due."""
        _declare_asyncio()
        feeds = self.runtime.settings.config.feeds
        await self.delivery.start(commands=False)
        before = self.delivery.delivered

        async def poll_and_deliver(feed: FeedConfig) -> PollOutcome:
            outcome = await self.poll(feed)
            if outcome.alerts_queued:
                await self.delivery.deliver_due()
            return outcome

        outcomes = await asyncio.gather(*(poll_and_deliver(feed) for feed in feeds))
        report = CycleReport(list(outcomes))
        await self._flush_polls()
        await self.delivery.drain()  # what is left, paced by the rate governor
        report.delivered = self.delivery.delivered - before
        return report

    # -- scheduling ----------------------------------------------------------

    def _add_job(self, feed: FeedConfig, delay: float) -> None:
        from apscheduler.triggers.interval import IntervalTrigger

        config = self.runtime.settings.config
        self._scheduler.add_job(
            self._poll_job,
            # A safety net only: after each poll the job's next run is set by the policy.
            IntervalTrigger(seconds=config.feed_interval(feed), timezone=timezone.utc),
            args=[feed.url],
            id=feed.url,
            name=feed.name or feed.url,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            # The first poll is not put on the grid: after a start (or a feed added by a
            # reload) it comes within the startup spread; from its end on, polls are.
            next_run_time=datetime.now(timezone.utc) + timedelta(seconds=delay),
            replace_existing=True,
        )

    async def _poll_job(self, url: str) -> None:
        """The scheduled job of one feed: poll it (the current config's version of it),
        then set its next run from the policy."""
        feed = self._feeds_by_url().get(url)
        if feed is None or url in self._in_flight:
            return  # removed by a reload, or (defensively) still polling
        task = asyncio.current_task()
        assert task is not None  # APScheduler runs the job as a task
        self._in_flight[url] = task
        delay = self.runtime.settings.config.feed_interval(feed)
        try:
            _outcome, delay = await self._poll(feed)
        except asyncio.CancelledError:
            # Only _stop cancels polls (past the grace period). Store writes are single
            # transactions, so nothing is half-written; end quietly, not as a job error.
            log.warning("poll_cancelled", feed=url, note="stopping; the feed is polled again after the restart")
            return
        except Exception as exc:  # noqa: BLE001 - e.g. the database is down: log, retry at the interval
            log.error("poll_crashed", feed=url, error=f"{type(exc).__name__}: {exc}")
        finally:
            self._in_flight.pop(url, None)
            self._reschedule(url, delay)

    def _run_time(self, url: str, delay: float) -> datetime:
        """When a poll `delay` seconds from now starts: on the polling grid (see on_tick)."""
        config = self.runtime.settings.config
        feed = self._feeds_by_url().get(url)
        interval = config.feed_interval(feed) if feed is not None else config.defaults.interval
        return datetime.fromtimestamp(on_tick(time.time() + delay, interval, config.service.poll_tick), timezone.utc)

    def _feeds_by_url(self) -> dict[str, FeedConfig]:
        config = self.runtime.settings.config
        if self._feed_index[0] is not config:
            self._feed_index = (config, {f.url: f for f in config.feeds})
        return self._feed_index[1]

    def _reschedule(self, url: str, delay: float) -> None:
        from apscheduler.jobstores.base import JobLookupError
        from apscheduler.schedulers.base import STATE_STOPPED

        scheduler = self._scheduler
        if scheduler is None or scheduler.state == STATE_STOPPED:
            return
        try:
            scheduler.modify_job(url, next_run_time=self._run_time(url, delay))
        except JobLookupError:
            pass  # the feed was removed while it was being polled

    def _apply_feed_changes(self, old: MonitorConfig, new: MonitorConfig) -> dict[str, list[str]]:
        """Add, remove and re-interval jobs after a reload."""
        from apscheduler.jobstores.base import JobLookupError
        from apscheduler.triggers.interval import IntervalTrigger

        before = {f.url: f for f in old.feeds}
        after = {f.url: f for f in new.feeds}
        added = [u for u in after if u not in before]
        removed = [u for u in before if u not in after]
        retimed = [u for u in after if u in before and old.feed_interval(before[u]) != new.feed_interval(after[u])]
        if self._scheduler is None:
            return {"added": added, "removed": removed, "interval_changed": retimed}
        for url in removed:
            try:
                self._scheduler.remove_job(url)
            except JobLookupError:
                pass
        for url in added:
            interval = new.feed_interval(after[url])
            self._add_job(after[url], self._rng.uniform(0, min(interval, new.service.startup_spread)))
        now = datetime.now(timezone.utc)
        for url in retimed:
            interval = new.feed_interval(after[url])
            job = self._scheduler.get_job(url)
            if job is None:
                continue
            # A shorter interval applies now; a longer one from the next poll on.
            sooner = now + timedelta(seconds=interval)
            next_run = min(job.next_run_time, sooner) if job.next_run_time else sooner
            job.modify(trigger=IntervalTrigger(seconds=interval, timezone=timezone.utc), next_run_time=next_run)
        metrics.FEEDS.set(len(after))
        return {"added": added, "removed": removed, "interval_changed": retimed}

    # -- live configuration --------------------------------------------------

    async def reload(self, reason: str = "requested") -> bool:
        """Build the new runtime completely, then swap it in; on any problem keep the old one."""
        async with self._reload_lock:
            old = self.runtime
            try:
                new = await asyncio.to_thread(load_runtime, old.settings.config_path)
            except (ConfigError, RuntimeBuildError) as exc:
                if self._watcher is not None:
                    self._watcher.rejected()
                self._config_ok = False
                metrics.RELOADS.labels("rejected").inc()
                metrics.CONFIG_OK.set(0)
                log.error("config_rejected", reason=reason, error=str(exc), keeping="previous configuration")
                await self.notify_admins(
                    f"config rejected ({reason}):\n{exc}\nThe previous configuration keeps running.", event="config_rejected"
                )
                return False
            needs_restart = restart_only_changes(old.settings, new.settings)
            # Old secrets stay redacted too: the old token is in use until a restart.
            redact.set_secrets([*secrets_of(old.settings.config), *secrets_of(new.settings.config)])
            self.runtime = new  # the swap: polls started from now on see the new config
            if self._watcher is not None:
                self._watcher.accepted(new.settings)
            changes = self._apply_feed_changes(old.settings.config, new.settings.config)
            self._config_ok = True
            metrics.RELOADS.labels("applied").inc()
            metrics.CONFIG_OK.set(1)
            log.info(
                "config_reloaded",
                reason=reason,
                feeds=len(new.settings.config.feeds),
                entities=len(new.settings.watchlist.entities),
                **{k: v for k, v in changes.items() if v},
            )
            if needs_restart:
                log.warning("config_needs_restart", sections=needs_restart, note="these sections keep their old values until a restart")
            return True

    def _on_sighup(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload("SIGHUP"))
        self._background.add(task)  # keep a reference until it is done
        task.add_done_callback(self._background.discard)

    async def _watch_config(self, stop: asyncio.Event) -> None:
        interval = self.runtime.settings.config.service.reload_check
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
                return
            except asyncio.TimeoutError:
                pass
            try:
                if self._watcher is not None and await asyncio.to_thread(self._watcher.changed):
                    await self.reload("file changed")
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive any one bad check
                log.error("config_watch_failed", error=f"{type(exc).__name__}: {exc}")

    # -- operator notices and health ----------------------------------------

    async def notify_admins(self, text: str, **fields) -> None:
        """A notice for the operators: always a log line; a Telegram message to the
        admins when `admin_notifier` is wired."""
        log.warning(fields.pop("event", "admin_notice"), notice=text, **fields)
        if self.admin_notifier is None:
            return
        try:
            await self.admin_notifier(text)
        except Exception as exc:  # noqa: BLE001 - a notice failing must not stop the service
            log.error("admin_notice_failed", error=f"{type(exc).__name__}: {exc}")

    async def health(self) -> Health:
        from apscheduler.schedulers.base import STATE_RUNNING

        feed_urls = [f.url for f in self.runtime.settings.config.feeds]

        async def telegram_check() -> Reachability | None:
            try:  # the probe has its own (shorter) timeout; this one is a guard
                return await asyncio.wait_for(self.telegram_probe(), timeout=4.0)
            except Exception as exc:  # noqa: BLE001
                return Reachability(False, redact(f"{type(exc).__name__}: {exc}")[:300])

        # Both at once: /healthz must answer within the container's 4 s check timeout.
        telegram_task = asyncio.ensure_future(telegram_check())
        try:
            broken = await asyncio.wait_for(asyncio.to_thread(self.store.count_broken, feed_urls), timeout=3.5)
            database_ok, database_error = True, None
        except Exception as exc:  # noqa: BLE001 - any failure here means "unreachable"
            broken, database_ok = 0, False
            database_error = redact(f"{type(exc).__name__}: {exc}")[:300]
        telegram = await telegram_task
        return verdict(
            scheduler_running=self._scheduler is not None and self._scheduler.state == STATE_RUNNING,
            database_ok=database_ok,
            database_error=database_error,
            telegram=telegram,
            feeds=len(feed_urls),
            broken_feeds=broken,
            degraded_share=self.runtime.settings.config.service.degraded_broken_share,
            config_ok=self._config_ok,
        )

    async def _refresh_metrics(self) -> None:
        feed_urls = [f.url for f in self.runtime.settings.config.feeds]
        await asyncio.wait_for(asyncio.to_thread(metrics.refresh_from_store, self.store, feed_urls), timeout=5.0)

    # -- the service ---------------------------------------------------------

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        """Poll on each feed's schedule and deliver continuously until `stop` or a signal."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        _declare_asyncio()
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = []
        for sig, handler in (
            (signal.SIGTERM, stop.set),
            (signal.SIGINT, stop.set),
            (signal.SIGHUP, self._on_sighup),
        ):
            try:
                loop.add_signal_handler(sig, handler)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        config = self.runtime.settings.config
        self._watcher = ConfigWatcher(self.runtime.settings)
        stored_next, broken = await asyncio.to_thread(self.store.schedule_state)
        self._broken = {url for url in broken if url in {f.url for f in config.feeds}}
        self._scheduler = AsyncIOScheduler(event_loop=loop, timezone=timezone.utc)
        now = datetime.now(timezone.utc)
        for feed in config.feeds:
            delay = first_delay(Policy.for_feed(config, feed), stored_next.get(feed.url), now, config.service.startup_spread, self._rng)
            self._add_job(feed, delay)
        self._scheduler.start()
        await self.delivery.start()  # background sender + subscriber commands
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
        watcher = loop.create_task(self._watch_config(stop))
        log.info("started", feeds=len(config.feeds), database=self.store.display_url)
        try:
            while not stop.is_set():
                self._alerts_waiting.clear()
                try:
                    await self._deliver()
                except Exception as exc:  # noqa: BLE001 - the sender retries; the service stays up
                    log.error("delivery_failed", error=str(exc))
                await self._flush_polls()
                # No fixed tick: each wake-up of an idle process costs CPU, so this loop
                # sleeps until a poll queues alerts, the bookkeeping is due, or a stop.
                flush_every = self.runtime.settings.config.service.state_flush or DELIVERY_CHECK_SECONDS
                timeout = min(DELIVERY_CHECK_SECONDS, flush_every)
                await _until_either(stop, self._alerts_waiting, timeout)
        finally:
            await self._stop(watcher)
            for sig in installed:
                loop.remove_signal_handler(sig)

    async def _flush_polls(self) -> None:
        """Write the batched poll bookkeeping (see Store.note_not_modified)."""
        if not self.store.pending_polls:
            return
        try:
            await asyncio.to_thread(self.store.flush_polls)
        except Exception as exc:  # noqa: BLE001 - kept for the next flush; the service stays up
            log.error("db_error", during="poll bookkeeping", error=redact(database_problem(exc)), pending=self.store.pending_polls)

    async def _stop(self, watcher: asyncio.Task) -> None:
        started = time.monotonic()
        grace = self.runtime.settings.config.service.shutdown_grace
        log.info("stopping", polls_in_flight=len(self._in_flight), grace=grace)
        watcher.cancel()
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.pause()  # no new polls; the running ones get the grace period
        running = [t for t in self._in_flight.values() if not t.done()]
        if running:
            _done, pending = await asyncio.wait(running, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("polls_cancelled", count=len(pending), grace=grace)
                await asyncio.wait(pending, timeout=1.0)
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        metrics.SCHEDULER_UP.set(0)
        await asyncio.gather(watcher, return_exceptions=True)
        # Flush what is deliverable now, within what is left of the budget.
        try:
            await asyncio.wait_for(self._deliver(), timeout=max(0.5, min(STOP_DELIVERY_SECONDS, 8.5 - (time.monotonic() - started))))
        except asyncio.TimeoutError:
            log.warning("delivery_flush_timed_out", note="queued alerts stay in the outbox for the next start")
        except Exception as exc:  # noqa: BLE001
            log.error("delivery_failed", error=str(exc))
        await self.delivery.stop()  # sends in flight finish before exit
        await self._flush_polls()
        if self.health_server is not None:
            await self.health_server.close()
        log.info("stopped", seconds=round(time.monotonic() - started, 2))

    async def aclose(self) -> None:
        try:
            await self.delivery.stop()  # idempotent
            await self._flush_polls()
            await self.fetcher.aclose()
            self.store.close()
        finally:
            self._release_lock()

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


# Kept here to leave monitor/store/repository.py to its owner; they only touch
# the scheduling columns.


def _declare_asyncio() -> None:
    """Tell sniffio, for this task and the tasks it starts, that the loop is asyncio.

    httpcore and anyio ask sniffio which async library runs several times per request;
    without this answer sniffio finds out through asyncio.current_task(), which on
    Python 3.11 makes a getpid(2) system call each time (8 of the ~35 a 304 poll made)."""
    sniffio.current_async_library_cvar.set("asyncio")


async def _until_either(first: asyncio.Event, second: asyncio.Event, timeout: float) -> None:
    """Wait until either event is set, at most `timeout` seconds."""
    waits = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


def _human(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
