"""The service's timed work besides polling: digests and the weekly report.

Both are fired by cron triggers on the feeds' scheduler (monitor.service.jobs) and run
once more at every start, so a time missed while the service was down is made up:

* `Digests.run()` queues, for every chat, the items collected before the latest digest
  time (digest.at in digest.timezone) as that chat's digest (store/digests.py: one
  transaction per chat, each item in exactly one digest). Run at any moment it sends
  what is due and nothing twice, so the start-up run and the cron run need no
  bookkeeping of their own. Digests go out silently (disable_notification) and are not
  held by quiet hours (a silent message wakes nobody).
* `WeeklyReport.run()` sends the week's chart and table to the channel as a photo
  (sendPhoto, caption within 1024 characters) when a weekly time passed since the last
  one sent (service_state `reports.weekly.sent`). Not through the outbox (a photo, not
  an alert): Telegram down or unreachable -> retried with backoff (a one-off job) and
  at the next start; refused (400) -> an error log line and an admin notice; an answer
  lost on the wire -> not resent (at most once, like alerts), logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.config import Settings
from monitor.notify import Delivery, format_digest, latest_slot
from monitor.notify.ratelimit import backoff
from monitor.ops.logs import get_logger
from monitor.report.render import telegram_caption
from monitor.report.summary import parse_period, summarise
from monitor.service.notices import AdminNotices
from monitor.store import DigestEntry, DigestPart, Store
from monitor.store.mentions import matched_articles

__all__ = ["Digests", "ReportMaker", "WeeklyReport", "latest_weekly_slot"]

log = get_logger("monitor.service.scheduled")

WEEKLY_SENT_KEY = "reports.weekly.sent"
REPORT_PERIOD = "7d"
# While Telegram is down the weekly report is tried again after 1, 2, 4 ... minutes, at most this long.
REPORT_RETRY_CAP_SECONDS = 1800.0


class Digests:
    """Queues the digests due now; `wake` tells the sender there is something to send."""

    def __init__(self, store: Store, settings: Callable[[], Settings], wake: Callable[[], None]) -> None:
        self.store = store
        self.settings = settings
        self.wake = wake

    async def run(self) -> int:
        """Queue every chat's digest of the items collected before the latest digest time;
        returns the messages queued (0: nothing was collected)."""
        digest = self.settings().config.digest
        zone = ZoneInfo(digest.timezone)
        slot = latest_slot(self.store.database.now(), digest.at, zone)
        when = f"{slot.astimezone(zone):%d %b %H:%M} {zone.key}"

        def compose(entries: list[DigestEntry]) -> list[DigestPart]:
            return format_digest(entries, when)

        chats = await asyncio.to_thread(self.store.digests.chats_waiting, slot)
        messages = 0
        for chat in chats:
            queued = await asyncio.to_thread(self.store.digests.build, chat, slot, compose)
            messages += queued
            if queued:
                log.info("digest_queued", chat=chat, messages=queued, collected_before=slot.isoformat())
        if messages:
            self.wake()
        return messages


class ReportMaker:
    """The period report as a Telegram photo: the chart (PNG) and the table as its caption."""

    def __init__(self, store: Store, settings: Callable[[], Settings]) -> None:
        self.store = store
        self.settings = settings

    def build(self, until: datetime) -> tuple[str, bytes]:
        """Caption (HTML, within the caption limit) and chart of the 7 days up to `until`.
        An empty database gives a short caption and a chart saying so."""
        from monitor.report.chart import daily_mentions_png  # loads matplotlib: only when a report is made

        settings = self.settings()
        zone = ZoneInfo(settings.config.reports.weekly.timezone)
        since, until = parse_period(REPORT_PERIOD).bounds(until, zone)
        articles = matched_articles(self.store.database.engine, since, until)
        report = summarise(articles, since, until, names={e.id: e.name for e in settings.watchlist.entities}, zone=zone)
        return telegram_caption(report), daily_mentions_png(report)

    async def now(self) -> tuple[str, bytes]:
        """For /report: the last 7 days, now (chart drawn in a thread)."""
        return await asyncio.to_thread(self.build, self.store.database.now())


def latest_weekly_slot(now: datetime, weekday: int, clock: str, zone: ZoneInfo) -> datetime:
    """The latest weekly time (weekday 0 = Monday, HH:MM in `zone`) at or before `now`."""
    local = now.astimezone(zone)
    hour, minute = int(clock[:2]), int(clock[3:])
    for back in range(8):
        day = local.date() - timedelta(days=back)
        if day.weekday() != weekday:
            continue
        slot = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        if slot <= now:
            return slot.astimezone(ZoneInfo("UTC"))
    raise AssertionError("a week always holds one weekly time")  # pragma: no cover


class WeeklyReport:
    """Sends the weekly report to the channel once per weekly time (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        settings: Callable[[], Settings],
        maker: ReportMaker,
        delivery: Delivery,
        notices: AdminNotices,
        retry: Callable[[float], None],
        may_send: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.maker = maker
        self.delivery = delivery
        self.notices = notices  # log line + Telegram to the admins
        self.retry = retry  # run again in so many seconds
        self.may_send = may_send  # several instances: only the elected sender sends the report
        self.failures = 0

    def due(self, last_sent: str | None) -> datetime | None:
        weekly = self.settings().config.reports.weekly
        slot = latest_weekly_slot(self.store.database.now(), weekly.weekday, weekly.time, ZoneInfo(weekly.timezone))
        if last_sent is not None and datetime.fromisoformat(last_sent) >= slot:
            return None
        return slot

    async def run(self) -> bool:
        """Send the report of the latest weekly time if it has not gone yet; True if sent.

        The first run ever (nothing recorded) records the latest weekly time as the
        baseline: enabling the report sends the next one, not a backlog."""
        settings = self.settings()
        weekly = settings.config.reports.weekly
        if not weekly.enabled or (self.may_send is not None and not self.may_send()):
            return False
        last_sent = await asyncio.to_thread(self.store.values.get, WEEKLY_SENT_KEY)
        slot = self.due(last_sent)
        if slot is None:
            return False
        if last_sent is None:
            await asyncio.to_thread(self.store.values.set, WEEKLY_SENT_KEY, slot.isoformat())
            log.info("weekly_report_baseline", next_after=slot.isoformat())
            return False
        caption, chart = await asyncio.to_thread(self.maker.build, slot)
        channel = settings.config.telegram.channel or "console"
        result = await self.delivery.send_photo(channel, chart, caption)
        if result.kind == "retry":
            self.failures += 1
            delay = backoff(self.failures, base=60.0, cap=REPORT_RETRY_CAP_SECONDS)
            log.warning("weekly_report_delayed", reason=result.reason, retry_in=round(delay), week_until=slot.isoformat())
            self.retry(delay)
            return False
        self.failures = 0
        await asyncio.to_thread(self.store.values.set, WEEKLY_SENT_KEY, slot.isoformat())
        if result.kind == "sent":
            log.info("weekly_report_sent", chat=channel, week_until=slot.isoformat(), chart_bytes=len(chart), caption_chars=len(caption))
            return True
        if result.kind == "unknown":
            log.warning("weekly_report_unknown", chat=channel, reason=result.reason, note="not resent: it may have arrived")
        else:
            await self.notices.send(
                f"The weekly report could not be sent to {channel}: {result.reason}",
                event="weekly_report_refused", chat=channel,
            )
        return False
