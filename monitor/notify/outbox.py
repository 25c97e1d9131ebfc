"""The outbox sender: drains queued alerts to Telegram, oldest first, within rate limits.

Pieces, from pure to wired:

* `RateGovernor` (pure, injectable clock): per chat ~1 msg/s, per group or
  channel 20 msgs/min, 30 msgs/s overall, plus pauses from Telegram's
  retry_after. It is asked *before* every send, so 429s stay the exception.
* `Outbox` drains the `alerts` table through any sender with
  `async send(chat, html, plain) -> SendResult` (monitor.notify.telegram in
  production). State machine of one alert::

      queued --claim (committed before the call)--> sending
      sending --Message--> sent(message_id)
      sending --429 / 5xx / unreachable--> queued (next_attempt_at, retry_after honoured)
      sending --chat not found / blocked / kicked / rejected--> failed(reason)
      sending --answer lost (timeout, dropped connection)--> unknown (never resent)
      sending --process killed--> unknown at the next start (never resent)

* `build_delivery(settings, store)` returns what the service drives:
  `start()`, `deliver_due()`, `drain()`, `stop()`; a console sink without a token.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from sqlalchemy.exc import OperationalError

from monitor.ops.logs import get_logger
from monitor.notify.console import CONSOLE_CHAT, deliver_to_console
from monitor.notify.telegram import SendResult, is_group_chat
from monitor.store import OutboxRow, Store

log = get_logger("monitor.outbox")

STOP_GRACE_SECONDS = 3.0
# An idle sender looks at the outbox this often at least (alerts queued by another
# process, an operator's requeue); alerts of this process wake it at once.
IDLE_CHECK_SECONDS = 30.0
LOST_ANSWER = "answer lost: the process stopped while this alert was being sent; not resent (at-most-once window)"


# ---------------------------------------------------------------------------
# Rate governor
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Sending rates. Defaults follow Telegram's documented (approximate) limits.

    Bursts are 1 on purpose: Telegram tolerates short bursts but does not say
    how long, and a steady pace never earns a 429."""

    per_chat_per_second: float = 1.0
    per_group_per_minute: float = 20.0
    global_per_second: float = 30.0


class RateGovernor:
    """Spacing per chat, per group/channel and overall (GCRA with a burst of 1),
    plus pauses Telegram asks for. All times from `clock` (monotonic seconds)."""

    def __init__(self, limits: Limits = Limits(), clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._next: dict[str, float] = {}  # key -> earliest time of the next message
        self._paused_until: dict[str, float] = {}

    def _keys(self, chat_id: str) -> list[tuple[str, float]]:
        keys = [("global", 1.0 / self.limits.global_per_second), (f"chat:{chat_id}", 1.0 / self.limits.per_chat_per_second)]
        if is_group_chat(chat_id):
            keys.append((f"group:{chat_id}", 60.0 / self.limits.per_group_per_minute))
        return keys

    def wait_time(self, chat_id: str) -> float:
        """Seconds until a message to this chat may go (0: now)."""
        now = self.clock()
        ready = max(
            [self._next.get(key, now) for key, _ in self._keys(chat_id)]
            + [self._paused_until.get("global", now), self._paused_until.get(f"chat:{chat_id}", now)]
        )
        return max(0.0, ready - now)

    def take(self, chat_id: str) -> None:
        """Spend a slot for one message to this chat (call when wait_time() is 0)."""
        now = self.clock()
        for key, interval in self._keys(chat_id):
            # A sender that wakes a little late may catch up by that little (at most a
            # quarter interval, 50 ms), so loop latency does not pile up into lost rate.
            slack = min(interval * 0.25, 0.05)
            self._next[key] = max(self._next.get(key, now), now - slack) + interval

    def pause_chat(self, chat_id: str, seconds: float) -> None:
        self._pause(f"chat:{chat_id}", seconds)

    def pause_all(self, seconds: float) -> None:
        self._pause("global", seconds)

    def _pause(self, key: str, seconds: float) -> None:
        until = self.clock() + seconds
        self._paused_until[key] = max(self._paused_until.get(key, until), until)

    async def acquire(self, chat_id: str) -> None:
        """Wait for a slot and take it (for one-off sends such as command replies)."""
        while (wait := self.wait_time(chat_id)) > 0:
            await asyncio.sleep(wait)
        self.take(chat_id)


def backoff(attempt: int, base: float = 1.0, cap: float = 300.0) -> float:
    """Exponential backoff with full jitter: Telegram down for hours is probed every few minutes."""
    return random.uniform(base, min(cap, base * 2 ** min(attempt, 20)))


# ---------------------------------------------------------------------------
# Outbox
# ---------------------------------------------------------------------------


class Sender(Protocol):
    async def send(self, chat_id: str, text_html: str, text_plain: str) -> SendResult: ...


@dataclass
class DeliveryCounters:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    rate_limited: int = 0  # 429s received
    db_retries: int = 0


@dataclass
class Outbox:
    store: Store
    sender: Sender
    governor: RateGovernor = field(default_factory=RateGovernor)
    max_in_flight: int = 16
    batch: int = 200
    counters: DeliveryCounters = field(default_factory=DeliveryCounters)

    def __post_init__(self) -> None:
        self._in_flight: dict[str, asyncio.Task] = {}  # chat -> its one send in flight (keeps per-chat order)
        self._gone_logged: set[str] = set()
        self._transport_failures = 0

    # -- one pass ------------------------------------------------------------

    async def recover(self) -> list[int]:
        """At start: alerts a killed process left 'sending' are the lost-answer window."""
        ids = await self._db(self.store.outbox.recover_in_flight, LOST_ANSWER)
        if ids:
            log.warning("delivery_unknown_after_restart", alerts=ids, note="not resent: may or may not have reached Telegram")
        self.counters.unknown += len(ids)
        return ids

    async def pump(self) -> tuple[int, float | None]:
        """Start every send the governor allows right now.

        Returns (sends started, seconds until the next one could start or None
        when nothing is due)."""
        try:
            rows = await asyncio.to_thread(self.store.outbox.due, self.batch, exclude_chats=[CONSOLE_CHAT])
        except OperationalError as exc:  # database briefly locked: try again shortly
            log.warning("outbox_read_failed", error=str(exc.orig) if exc.orig else str(exc))
            self.counters.db_retries += 1
            return 0, 1.0
        started, soonest = 0, None
        seen_chats: set[str] = set()
        for row in rows:
            if row.chat_id in seen_chats or row.chat_id in self._in_flight:
                seen_chats.add(row.chat_id)  # later alerts of a chat wait behind its oldest
                continue
            seen_chats.add(row.chat_id)
            if len(self._in_flight) >= self.max_in_flight:
                soonest = 0.0 if soonest is None else soonest
                break
            wait = self.governor.wait_time(row.chat_id)
            if wait > 0:
                soonest = wait if soonest is None else min(soonest, wait)
                continue
            self.governor.take(row.chat_id)
            self._in_flight[row.chat_id] = asyncio.create_task(self._deliver_one(row))
            started += 1
        if self._in_flight and soonest is None:
            soonest = 0.0
        return started, soonest

    async def run_until_idle(self, deadline: float | None = None) -> int:
        """Deliver until nothing is due (or `deadline`, monotonic); returns alerts sent."""
        before = self.counters.sent
        while True:
            _, soonest = await self.pump()
            if soonest is None and not self._in_flight:
                break
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            await self._wait(soonest, remaining)
        if self._in_flight:  # never abandon a send half-way: its row would stay 'sending'
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)
        return self.counters.sent - before

    async def _wait(self, soonest: float | None, remaining: float | None) -> None:
        timeout = min(x for x in (soonest if soonest else 0.05, remaining, 1.0) if x is not None)
        if self._in_flight:
            await asyncio.wait(list(self._in_flight.values()), timeout=max(timeout, 0.001), return_when=asyncio.FIRST_COMPLETED)
        else:
            await asyncio.sleep(max(timeout, 0.001))

    async def wait_in_flight(self) -> None:
        if self._in_flight:
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    # -- one alert -----------------------------------------------------------

    async def _deliver_one(self, row: OutboxRow) -> None:
        try:
            await self._deliver_row(row)
        except Exception as exc:  # noqa: BLE001 - one alert must not stop the sender
            log.exception("delivery_error", alert=row.id, chat=row.chat_id, error=str(exc))
        finally:
            self._in_flight.pop(row.chat_id, None)

    async def _deliver_row(self, row: OutboxRow) -> None:
        try:
            attempt = await asyncio.to_thread(self.store.outbox.claim, row.id)
        except OperationalError as exc:
            # Nothing was written and nothing sent: the alert stays queued.
            log.warning("outbox_claim_failed", alert=row.id, error=str(exc.orig) if exc.orig else str(exc))
            self.counters.db_retries += 1
            self.governor.pause_all(0.5)
            return
        if attempt is None:
            return  # another sender took it
        result = await self.sender.send(row.chat_id, row.text_html, row.text_plain)
        await self._record(row, attempt, result)

    async def _record(self, row: OutboxRow, attempt: int, result: SendResult) -> None:
        store = self.store
        if result.kind == "sent":
            self.counters.sent += 1
            self._transport_failures = 0
            await self._db(store.outbox.finish_sent, row.id, attempt, result.message_id, result.reason or None)
            if result.plain_fallback:
                log.warning("alert_sent_as_plain_text", alert=row.id, chat=row.chat_id, reason=result.reason)
            return
        if result.kind == "retry":
            self.counters.retried += 1
            if result.retry_after is not None:
                self.counters.rate_limited += 1
                delay = result.retry_after
                self.governor.pause_chat(row.chat_id, delay)
                log.warning("telegram_flood_control", chat=row.chat_id, retry_after=delay)
            else:
                # Telegram or the network is down for everyone: pause the whole
                # sender (one probe per backoff step, not one per alert) and keep
                # the alert's place so the backlog goes out oldest first.
                self._transport_failures += 1
                delay = backoff(self._transport_failures)
                self.governor.pause_all(delay)
                log.warning("telegram_unavailable", reason=result.reason, retry_in=round(delay, 1), alert=row.id)
                delay = 0.0
            await self._db(store.outbox.finish_retry, row.id, attempt, delay, result.reason)
            return
        if result.kind == "failed":
            self.counters.failed += 1
            await self._db(store.outbox.finish_failed, row.id, attempt, result.reason)
            if result.chat_gone:
                await self._chat_gone(row.chat_id, result.reason)
            else:
                log.error("alert_rejected", alert=row.id, chat=row.chat_id, reason=result.reason)
            return
        self.counters.unknown += 1
        await self._db(store.outbox.finish_unknown, row.id, attempt, result.reason)
        log.warning("delivery_unknown", alert=row.id, chat=row.chat_id, reason=result.reason, note="not resent")

    async def _chat_gone(self, chat_id: str, reason: str) -> None:
        failed = await self._db(self.store.outbox.fail_queued_for_chat, chat_id, reason)
        if is_group_chat(chat_id):
            if chat_id not in self._gone_logged:  # once, not once per alert
                self._gone_logged.add(chat_id)
                log.error("alert_chat_unreachable", chat=chat_id, reason=reason, alerts_failed=failed + 1)
            return
        if await self._db(self.store.subscribers.deactivate, chat_id, reason):
            log.info("subscriber_deactivated", chat=chat_id, reason=reason, alerts_failed=failed + 1)

    async def _db(self, fn, *args, attempts: int = 60):
        """Outcomes must be recorded: a briefly locked database is waited out.

        If it stays locked for minutes the row stays 'sending' and becomes
        'unknown' at the next start — never marked sent without a Message."""
        delay = 0.1
        for n in range(attempts):
            try:
                return await asyncio.to_thread(fn, *args)
            except OperationalError as exc:
                if n == attempts - 1:
                    raise
                self.counters.db_retries += 1
                log.warning("outbox_write_retry", error=str(exc.orig) if exc.orig else str(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


# ---------------------------------------------------------------------------
# What the service drives
# ---------------------------------------------------------------------------


class ConsoleDelivery:
    """No token: alerts are printed (same outbox, same bookkeeping)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def start(self, *, commands: bool = True) -> None:
        return None

    async def deliver_due(self) -> int:
        return await asyncio.to_thread(deliver_to_console, self.store)

    async def drain(self, timeout: float | None = None) -> int:
        return await self.deliver_due()

    async def stop(self) -> None:
        return None


class TelegramDelivery:
    """The Telegram outbox sender plus (optionally) the subscriber commands."""

    def __init__(self, settings, store: Store, *, limits: Limits | None = None) -> None:
        from monitor.notify.telegram import TelegramSender, build_bot

        telegram = settings.config.telegram
        self.settings = settings
        self.store = store
        self.bot = build_bot(telegram.token, telegram.api_base_url)
        configured = telegram.rate_limits
        self.governor = RateGovernor(
            limits
            or Limits(configured.per_chat_per_second, configured.per_group_per_minute, configured.global_per_second)
        )
        self.outbox = Outbox(store, TelegramSender(self.bot, link_preview=telegram.link_preview), self.governor)
        self._initialized = False
        self._loop_task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._commands = None

    async def _ensure_ready(self) -> None:
        if self._initialized:
            return
        try:
            await self.bot.initialize()  # getMe; failure is fine, sends retry on their own
        except Exception as exc:  # noqa: BLE001
            log.warning("telegram_init_failed", error=type(exc).__name__)
        else:
            self._initialized = True
        await self.outbox.recover()

    async def start(self, *, commands: bool = True) -> None:
        """Recover the lost-answer window, then send continuously in the background."""
        await self._ensure_ready()
        self._loop_task = asyncio.create_task(self._run(), name="outbox-sender")
        if commands and self.settings.config.telegram.commands:
            from monitor.notify.commands import CommandBot

            self._commands = CommandBot(self.bot, self.store, self.settings, self.governor)
            await self._commands.start()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                _, soonest = await self.outbox.pump()
            except Exception as exc:  # noqa: BLE001 - the sender retries; the service stays up
                log.error("delivery_failed", error=str(exc))
                soonest = 1.0
            if self._stopping.is_set():
                break
            if soonest is None and not self.outbox._in_flight:
                # Nothing due: sleep until the service kicks us (a poll queued alerts) or
                # the next retry is due, at most IDLE_CHECK_SECONDS - not a fixed tick,
                # since every wake-up of an idle process costs CPU.
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=await self._idle_timeout())
                except asyncio.TimeoutError:
                    pass
            else:
                await self.outbox._wait(soonest, None)
        await self.outbox.wait_in_flight()

    async def _idle_timeout(self) -> float:
        try:
            due = await asyncio.to_thread(self.store.outbox.next_due, [CONSOLE_CHAT])
        except OperationalError:
            return 1.0
        if due is None:
            return IDLE_CHECK_SECONDS
        return min(max((due - datetime.now(timezone.utc)).total_seconds(), 0.01), IDLE_CHECK_SECONDS)

    async def deliver_due(self) -> int:
        """Called by the service when polls queued alerts (and as a slow check): wakes the background sender, or (not
        started, e.g. `run --once`) delivers what is due now."""
        if self._loop_task is not None:
            self._wake.set()
            return 0
        return await self.drain(timeout=0)

    async def drain(self, timeout: float | None = 120.0) -> int:
        """Deliver everything due, pacing by the governor, for at most `timeout` s
        (0: only what can go without waiting). Console alerts are printed too."""
        await self._ensure_ready()
        printed = await asyncio.to_thread(deliver_to_console, self.store)
        if timeout == 0:
            before = self.outbox.counters.sent
            await self.outbox.pump()
            await self.outbox.wait_in_flight()
            return printed + self.outbox.counters.sent - before
        deadline = None if timeout is None else time.monotonic() + timeout
        return printed + await self.outbox.run_until_idle(deadline)

    async def stop(self) -> None:
        """Stop taking new alerts, let sends in flight finish (their rows must not stay 'sending')."""
        self._stopping.set()
        self._wake.set()
        if self._commands is not None:
            await self._commands.stop()
            self._commands = None
        # The service must exit within 10 s of SIGTERM; a send still hanging after
        # this is left 'sending' and becomes 'unknown' at the next start (at-most-once).
        if self._loop_task is not None:
            try:
                await asyncio.wait_for(self._loop_task, timeout=STOP_GRACE_SECONDS)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._loop_task.cancel()
            self._loop_task = None
        try:
            await asyncio.wait_for(self.outbox.wait_in_flight(), timeout=STOP_GRACE_SECONDS)
        except asyncio.TimeoutError:
            log.warning("delivery_stop_timeout", detail="sends still in flight were abandoned")
        try:
            await self.bot.shutdown()
        except Exception:  # noqa: BLE001 - closing HTTP clients; nothing to save
            pass


    async def notify_admins(self, text: str) -> None:
        """Best-effort operational notice (broken feed, rejected config) to telegram.admins.

        Not queued in the outbox: these are about the service itself, and the same
        fact is in the logs and on /healthz if Telegram is unreachable."""
        for admin in self.settings.config.telegram.admins:
            try:
                await asyncio.wait_for(self.bot.send_message(admin, text[:4000]), timeout=10)
            except Exception as exc:  # noqa: BLE001 - a notice must never break the service
                log.warning("admin_notice_failed", chat=str(admin), error=type(exc).__name__)

    async def probe(self) -> bool:
        """Does the Bot API answer? (getMe) For /healthz."""
        try:
            await asyncio.wait_for(self.bot.get_me(), timeout=5)
        except Exception:  # noqa: BLE001 - any failure means "not reachable now"
            return False
        return True


def build_delivery(settings, store: Store) -> ConsoleDelivery | TelegramDelivery:
    """Console without a token, else the Telegram sender (telegram.api_base_url honoured)."""
    if settings.config.telegram.token:
        return TelegramDelivery(settings, store)
    return ConsoleDelivery(store)
