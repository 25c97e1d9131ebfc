"""The feeds on APScheduler: one job per feed, fired by a FeedTrigger that carries
the policy's decisions (monitor.service.schedule) onto the polling grid; plus the
timed jobs on the same scheduler (`add_timed`): digests and the weekly report at
wall-clock times in their time zone (CronTrigger), retries of the report (DateTrigger).

* job id = feed URL, max_instances=1: never two polls of one feed at once;
* the first poll after a start keeps what the last run decided (feeds.next_poll_at:
  backoff, Retry-After, a declared ttl), a due or new feed gets a random slot in
  the first min(interval, service.startup_spread) seconds;
* after its first poll, a feed's polls start on a grid (service.poll_tick), so
  polls due within the same few seconds share one wake-up of the process;
* with several instances on one PostgreSQL database, the job claims its feed first
  (`claim`) and, when another instance has it or polled it already, re-arms for when
  the feed is due again or the other's claim runs out.

Why the job re-arms its trigger after each poll instead of APScheduler asking the
trigger by itself: APScheduler 3 asks a trigger for the next fire time when it
*submits* a run, before the job has run (BaseScheduler._process_jobs), and the
policy's answer depends on the poll's outcome (success, backoff, Retry-After, a
declared ttl). So the poll hands the decided delay to the trigger when it ends
and reschedules the job with it (`Job.reschedule`); at submission the trigger
parks the job at the longest wait the policy can decide, a safety net that is
replaced as soon as the poll ends.

Besides the feeds, the scheduler runs retention (`Retention`, storage.retention): the
database's old rows pruned every `every`, a batch at a time, between the polls.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import FeedConfig, MonitorConfig, RetentionConfig
from monitor.ops import metrics
from monitor.ops.logs import get_logger
from monitor.service.schedule import Policy, first_delay, on_tick
from monitor.store import Store, database_problem

__all__ = ["FeedChanges", "FeedTrigger", "PollJobs", "Pruned", "Retention", "daily_trigger", "feed_changes", "retention_delay", "weekly_trigger"]

log = get_logger("monitor.service.jobs")

# Polls one feed with the current config; returns the delay the policy decided.
PollFeed = Callable[[FeedConfig], Awaitable[float]]
# Several instances: claims the feed before its poll; None when it is this instance's to
# poll now, else the seconds after which to ask again (monitor.service.instances).
ClaimFeed = Callable[[FeedConfig], Awaitable["float | None"]]

TimedJob = Callable[[], Awaitable[object]]


def daily_trigger(times: list[str], zone: str) -> BaseTrigger:
    """Every day at each HH:MM in `zone` (wall-clock time: DST changes keep it at 08:00 local)."""
    crons = [CronTrigger(hour=int(t[:2]), minute=int(t[3:]), timezone=zone) for t in times]
    return crons[0] if len(crons) == 1 else OrTrigger(crons)


def weekly_trigger(weekday: int, clock: str, zone: str) -> CronTrigger:
    """Once a week (0 = Monday) at HH:MM in `zone`."""
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[weekday]
    return CronTrigger(day_of_week=day, hour=int(clock[:2]), minute=int(clock[3:]), timezone=zone)


class FeedTrigger(BaseTrigger):
    """Fire times of one feed's job: `next_delay` seconds after it was (re)scheduled,
    on the polling grid from the second poll on; parked while a poll runs."""

    __slots__ = ("interval", "poll_tick", "parked_for", "next_delay", "on_grid")

    def __init__(self, policy: Policy, poll_tick: float, next_delay: float, *, on_grid: bool = False):
        self.interval = policy.interval
        self.parked_for = policy.longest_delay
        self.poll_tick = poll_tick
        self.next_delay = next_delay
        self.on_grid = on_grid

    def after_poll(self, delay: float) -> None:
        """The policy's decision for the poll that just ended."""
        self.next_delay, self.on_grid = delay, True

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
        if previous_fire_time is not None:
            # A run was just submitted; its poll decides (after_poll). Until then the job
            # is parked where the policy's longest wait would put it.
            return now + timedelta(seconds=self.parked_for)
        when = now.timestamp() + self.next_delay
        if self.on_grid:
            when = on_tick(when, self.interval, self.poll_tick)
        return datetime.fromtimestamp(when, timezone.utc)

    def __str__(self) -> str:
        return f"feed policy (interval {self.interval:g} s, grid {min(self.poll_tick, self.interval / 10):g} s)"


@dataclass(frozen=True)
class FeedChanges:
    added: list[str]
    removed: list[str]
    interval_changed: list[str]

    def as_fields(self) -> dict[str, list[str]]:
        """The non-empty lists, for a log line."""
        return {name: urls for name, urls in vars(self).items() if urls}


def feed_changes(old: MonitorConfig, new: MonitorConfig) -> FeedChanges:
    before = {f.url: f for f in old.feeds}
    after = {f.url: f for f in new.feeds}
    return FeedChanges(
        added=[u for u in after if u not in before],
        removed=[u for u in before if u not in after],
        interval_changed=[u for u in after if u in before and old.feed_interval(before[u]) != new.feed_interval(after[u])],
    )


class PollJobs:
    """The scheduler of the feeds' polls; `config()` is the running configuration."""

    def __init__(self, poll: PollFeed, config: Callable[[], MonitorConfig], rng: random.Random, claim: ClaimFeed | None = None):
        self._poll = poll
        self._claim = claim
        self._config = config
        self._rng = rng
        self._scheduler: AsyncIOScheduler | None = None
        self._in_flight: dict[str, asyncio.Task] = {}  # feed URL -> its running poll
        self._triggers: dict[str, FeedTrigger] = {}  # feed URL -> its job's trigger
        self._feed_index: tuple[MonitorConfig | None, dict[str, FeedConfig]] = (None, {})

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.state == STATE_RUNNING

    @property
    def polls_in_flight(self) -> int:
        return len(self._in_flight)

    def start(self, stored_next: Mapping[str, datetime], now: datetime) -> None:
        """One job per configured feed; `stored_next` is what the last run decided."""
        config = self._config()
        self._scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=timezone.utc)
        for feed in config.feeds:
            policy = Policy.for_feed(config, feed)
            self._add(feed, first_delay(policy, stored_next.get(feed.url), now, config.service.startup_spread, self._rng))
        self._scheduler.start()

    def next_runs(self) -> dict[str, datetime]:
        """When each feed's next poll starts, by URL (parked feeds are being polled)."""
        if self._scheduler is None:
            return {}
        return {
            job.id: job.next_run_time
            for job in self._scheduler.get_jobs()
            if job.next_run_time is not None and job.id in self._triggers
        }

    def add_periodic(self, job_id: str, run: Callable[[], Awaitable[object]], every: float, first_delay: float) -> None:
        """A housekeeping job beside the feeds' (no feed URL is `job_id`): first after
        `first_delay` seconds, then every `every`; never two runs at once."""
        assert self._scheduler is not None, "start() first"
        start = datetime.now(timezone.utc) + timedelta(seconds=first_delay)
        self._scheduler.add_job(
            run,
            IntervalTrigger(seconds=every, start_date=start, timezone=timezone.utc),
            id=job_id,
            name=job_id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            replace_existing=True,
        )

    def apply(self, changes: FeedChanges, config: MonitorConfig) -> None:
        """Add, remove and re-interval jobs after a reload (`config` is the new one)."""
        if self._scheduler is None:
            return
        for url in changes.removed:
            self._triggers.pop(url, None)
            try:
                self._scheduler.remove_job(url)
            except JobLookupError:
                pass
        feeds = {f.url: f for f in config.feeds}
        for url in changes.added:
            interval = config.feed_interval(feeds[url])
            self._add(feeds[url], self._rng.uniform(0, min(interval, config.service.startup_spread)))
        now = datetime.now(timezone.utc)
        for url in changes.interval_changed:
            job = self._scheduler.get_job(url)
            if job is None:
                continue
            policy = Policy.for_feed(config, feeds[url])
            if url in self._in_flight:  # parked: the poll's end schedules it with the new interval
                trigger = self._triggers[url] = FeedTrigger(policy, config.service.poll_tick, policy.interval, on_grid=True)
                job.modify(trigger=trigger)
                continue
            # A shorter interval applies now; a longer one from the next poll on.
            remaining = (job.next_run_time - now).total_seconds() if job.next_run_time else policy.interval
            trigger = self._triggers[url] = FeedTrigger(policy, config.service.poll_tick, max(0.0, min(remaining, policy.interval)))
            job.reschedule(trigger)

    def add_timed(self, job_id: str, run: TimedJob, trigger: BaseTrigger | None = None, *, delay: float | None = None) -> None:
        """A timed job on the feeds' scheduler: at `trigger`'s times, or once after `delay`
        seconds. Replaces a job of the same id (a reload, a retry). Late runs are not
        skipped (a busy loop must not lose a digest) and missed runs are folded into one."""
        if self._scheduler is None:
            return
        if trigger is None:
            trigger = DateTrigger(datetime.now(timezone.utc) + timedelta(seconds=delay or 0.0))
        self._scheduler.add_job(
            self._timed, trigger, args=[job_id, run], id=job_id, name=job_id,
            max_instances=1, coalesce=True, misfire_grace_time=None, replace_existing=True,
        )

    def remove_timed(self, job_id: str) -> None:
        if self._scheduler is None:
            return
        try:
            self._scheduler.remove_job(job_id)
        except JobLookupError:
            pass

    def timed_job(self, job_id: str):  # -> apscheduler Job | None (untyped library)
        """The scheduled job of that id, for /status and tests."""
        return None if self._scheduler is None else self._scheduler.get_job(job_id)

    @staticmethod
    async def _timed(job_id: str, run: TimedJob) -> None:
        try:
            await run()
        except asyncio.CancelledError:
            log.warning("timed_job_cancelled", job=job_id)
        except Exception as exc:  # noqa: BLE001 - e.g. the database is down: log; the next run tries again
            log.error("timed_job_failed", job=job_id, error=f"{type(exc).__name__}: {exc}")

    async def stop(self, grace: float) -> None:
        """No new polls; running ones get `grace` seconds, then they are cancelled (every
        store write is one transaction, so a cancelled poll leaves nothing half-written)."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.pause()
        running = [task for task in self._in_flight.values() if not task.done()]
        if running:
            _done, pending = await asyncio.wait(running, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                log.warning("polls_cancelled", count=len(pending), grace=grace)
                await asyncio.wait(pending, timeout=1.0)
        if scheduler is not None:
            scheduler.shutdown(wait=False)

    def _add(self, feed: FeedConfig, delay: float) -> None:
        assert self._scheduler is not None
        config = self._config()
        trigger = self._triggers[feed.url] = FeedTrigger(Policy.for_feed(config, feed), config.service.poll_tick, delay)
        self._scheduler.add_job(
            self._run,
            trigger,
            args=[feed.url],
            id=feed.url,
            name=feed.name or feed.url,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            replace_existing=True,
        )

    def _feeds_by_url(self) -> dict[str, FeedConfig]:
        config = self._config()
        if self._feed_index[0] is not config:
            self._feed_index = (config, {f.url: f for f in config.feeds})
        return self._feed_index[1]

    async def _run(self, url: str) -> None:
        """The job of one feed: poll it (the current config's version of it), then hand
        the policy's decision to its trigger."""
        feed = self._feeds_by_url().get(url)
        if feed is None or url in self._in_flight:
            return  # removed by a reload, or (defensively) still polling
        task = asyncio.current_task()
        assert task is not None
        self._in_flight[url] = task
        delay = self._config().feed_interval(feed)
        try:
            if self._claim is not None:
                try:
                    refused_for = await self._claim(feed)
                except Exception as exc:  # noqa: BLE001 - the database is down: ask again at the interval
                    log.warning("claim_failed", feed=url, error=str(exc)[:300])
                    return
                if refused_for is not None:
                    delay = refused_for  # another instance polls it, or polled it already
                    return
            delay = await self._poll(feed)
        except asyncio.CancelledError:
            # Only stop() cancels polls (past the grace period). Store writes are single
            # transactions, so nothing is half-written; end quietly, not as a job error.
            log.warning("poll_cancelled", feed=url, note="stopping; the feed is polled again after the restart")
            return
        except Exception as exc:  # noqa: BLE001 - e.g. the database is down: log, retry at the interval
            log.error("poll_crashed", feed=url, error=f"{type(exc).__name__}: {exc}")
        finally:
            self._in_flight.pop(url, None)
            self._rearm(url, delay)

    def _rearm(self, url: str, delay: float) -> None:
        scheduler, trigger = self._scheduler, self._triggers.get(url)
        if scheduler is None or trigger is None:
            return  # stopping, or the feed was removed while it was being polled
        trigger.after_poll(delay)
        scheduler.reschedule_job(url, trigger=trigger)


# -- retention ----------------------------------------------------------------------

# Rows per batch: each batch is one short write, so polls never wait long for the lock.
RETENTION_BATCH = 500
# When a database has never been pruned: the first run this soon after the start (or
# after `every`, when shorter), so a service restarted more often than `every` still prunes.
RETENTION_FIRST_DELAY = 60.0
# The time of the last finished pruning, in the service_state table.
RETENTION_LAST_RUN = "retention.last_run"


def retention_delay(last_run: datetime | None, now: datetime, every: float) -> float:
    """Seconds until the next pruning is due (0: due now)."""
    if last_run is None:
        return 0.0
    return max(0.0, (last_run + timedelta(seconds=every) - now).total_seconds())


@dataclass
class Pruned:
    """What one pruning deleted."""

    items: int = 0
    alerts: int = 0
    delivery_attempts: int = 0
    batches: int = 0
    complete: bool = True
    error: str | None = field(default=None, repr=False)


class Retention:
    """Prunes the store by storage.retention (monitor/store/retention.py), a batch per
    thread hop: the event loop and the polls run between two batches."""

    def __init__(self, store: Store, config: RetentionConfig):
        self._store = store
        self._config = config
        self._stopping = False
        self._running: asyncio.Task | None = None

    @property
    def enabled(self) -> bool:
        return self._config.enabled

    @property
    def every(self) -> float:
        return self._config.every

    async def seconds_until_due(self) -> float:
        stored = await asyncio.to_thread(self._store.values.get, RETENTION_LAST_RUN)
        last_run = datetime.fromisoformat(stored) if stored else None
        return retention_delay(last_run, self._store.database.now(), self._config.every)

    async def first_delay(self) -> float:
        """When the service's first pruning should run: when due, but not in the start's rush."""
        due = await self.seconds_until_due()
        return max(due, min(self._config.every, RETENTION_FIRST_DELAY))

    async def run_if_due(self) -> Pruned | None:
        """`run --once`: prune when `every` has passed since the last pruning."""
        if not self._config.enabled or await self.seconds_until_due() > 0:
            return None
        return await self.run()

    async def run(self) -> Pruned:
        """One pruning: unmatched identities, then finished alerts, a batch at a time.
        A database error ends it (logged); the next run starts over."""
        self._running = asyncio.current_task()
        started = time.monotonic()
        now = self._store.database.now()
        items_before = now - timedelta(seconds=self._config.unmatched_items)
        alerts_before = now - timedelta(seconds=self._config.alerts)
        pruned = Pruned()
        try:
            while not self._stopping:
                count = await asyncio.to_thread(self._store.retention.prune_unmatched_items, items_before, RETENTION_BATCH)
                pruned.batches += 1
                pruned.items += count
                metrics.RETENTION_PRUNED.labels("items").inc(count)
                if count < RETENTION_BATCH:
                    break
            while not self._stopping:
                count, attempts = await asyncio.to_thread(
                    self._store.retention.prune_finished_alerts, alerts_before, RETENTION_BATCH
                )
                pruned.batches += 1
                pruned.alerts += count
                pruned.delivery_attempts += attempts
                metrics.RETENTION_PRUNED.labels("alerts").inc(count)
                metrics.RETENTION_PRUNED.labels("delivery_attempts").inc(attempts)
                if count < RETENTION_BATCH:
                    break
            pruned.complete = not self._stopping
            if pruned.complete:
                await asyncio.to_thread(self._store.values.set, RETENTION_LAST_RUN, now.isoformat())
        except Exception as exc:  # noqa: BLE001 - e.g. the database is down: the next run starts over
            pruned.complete, pruned.error = False, database_problem(exc)
            log.error("retention_failed", error=pruned.error, items=pruned.items, alerts=pruned.alerts)
        finally:
            self._running = None
        log.info(
            "retention_pruned",
            items=pruned.items,
            alerts=pruned.alerts,
            delivery_attempts=pruned.delivery_attempts,
            batches=pruned.batches,
            complete=pruned.complete,
            seconds=round(time.monotonic() - started, 3),
            items_listed_before=items_before.isoformat(),
            alerts_before=alerts_before.isoformat(),
        )
        return pruned

    async def stop(self, timeout: float) -> None:
        """No new batch; a running one gets `timeout` seconds to finish its write."""
        self._stopping = True
        running = self._running
        if running is not None and not running.done() and running is not asyncio.current_task():
            await asyncio.wait([running], timeout=timeout)
