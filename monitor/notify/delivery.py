"""What the service drives: the Telegram sender (with the subscriber commands) or the console.

`build_delivery(settings, store)` returns a `Delivery`: `start()` the background
sender, `deliver_due()` when a poll queued alerts, `drain()` to deliver what is
due and return (the end of `run --once`), `stop()`, plus the operator's side:
`notify_admins()` and `telegram_health()` for /healthz.

Several instances on one PostgreSQL database (`coordinate(may_send)`): only the
elected sender sends and answers commands. `become_sender()` when the role is won
(it settles what the previous sender left 'sending', then starts), `stop_sending()`
when it is lost; the others' alerts stay queued for the sender.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from telegram import Bot

from monitor.config import Settings
from monitor.notify.commands import CommandBot, MakeReport
from monitor.notify.console import ConsoleDelivery, deliver_to_console
from monitor.notify.outbox import Outbox
from monitor.notify.ratelimit import Limits, RateGovernor, backoff
from monitor.notify.telegram import Reachability, SendResult, TelegramSender, build_bot
from monitor.ops.logs import get_logger
from monitor.store import Store

__all__ = ["Delivery", "TelegramDelivery", "build_delivery"]

log = get_logger("monitor.notify.delivery")

# The service must exit within 10 s of SIGTERM; a send still hanging after this is
# left 'sending' and becomes 'unknown' at the next start (at-most-once).
STOP_GRACE_SECONDS = 3.0
# /healthz must answer within the container's 4 s health-check timeout.
PROBE_TIMEOUT_SECONDS = 3.0


class Delivery(Protocol):
    """Where alerts go; the service needs nothing else of it."""

    @property
    def delivered(self) -> int:
        """Alerts this process delivered so far."""
        ...

    async def start(self, *, commands: bool = True) -> None: ...

    def coordinate(self, may_send: Callable[[], bool]) -> None:
        """Several instances: deliver only while `may_send()` (this one is the sender)."""
        ...

    async def become_sender(self, *, commands: bool = True) -> None:
        """Elected: settle the previous sender's sends in flight, then start."""
        ...

    async def stop_sending(self) -> None:
        """The role is lost: no new sends, no commands; sends in flight finish."""
        ...

    def reconfigure(self, settings: Settings) -> None:
        """A reloaded config: what can change in place applies to the next send (what
        cannot is named by monitor.service.reload.restart_only_changes)."""
        ...

    async def deliver_due(self) -> int: ...

    async def drain(self, timeout: float | None = 120.0) -> int: ...

    async def stop(self) -> None: ...

    async def notify_admins(self, text: str) -> None: ...

    async def send_photo(self, chat_id: str, photo: bytes, caption_html: str, *, silent: bool = False) -> SendResult:
        """A photo with its caption (the weekly report), sent now, not through the outbox."""
        ...

    async def telegram_health(self) -> Reachability | None:
        """None: Telegram is not configured."""
        ...


class TelegramDelivery:
    """The Telegram outbox sender plus (optionally) the subscriber commands."""

    def __init__(
        self, settings: Settings, store: Store, *, limits: Limits | None = None, report: MakeReport | None = None
    ) -> None:
        telegram = settings.config.telegram
        self.store = store
        self.bot: Bot = build_bot(telegram.token, telegram.api_base_url)
        self._fixed_limits = limits  # a caller's limits (tests) stay; else the config's, reloaded live
        self.governor = RateGovernor(limits or Limits())
        self.sender = TelegramSender(self.bot, entity_name=self._entity_name)
        self.outbox = Outbox(store, self.sender, self.governor)
        self._printed = 0
        self._ready = False
        self._serving: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._commands: CommandBot | None = None
        self._may_send: Callable[[], bool] | None = None  # set when several instances share the database
        self._report = report  # what /report sends (the service's report builder)
        self.reconfigure(settings)

    def reconfigure(self, settings: Settings) -> None:
        """Rate limits, link previews, the outage backoff, the story edit interval, the
        admins and the watchlist (names on buttons, what the commands offer) apply to the
        next send; the token, the Bot API address and commands on/off need a restart."""
        self.settings = settings
        telegram = settings.config.telegram
        configured = telegram.rate_limits
        self.governor.limits = self._fixed_limits or Limits(
            configured.per_chat_per_second, configured.per_group_per_minute, configured.global_per_second
        )
        self._names = {entity.id: entity.name for entity in settings.watchlist.entities}
        self.sender.link_preview = telegram.link_preview
        cap = telegram.max_backoff
        self.outbox.outage_backoff = lambda failures: backoff(failures, cap=cap)
        self.outbox.edit_interval = settings.config.stories.edit_interval
        if self._commands is not None:
            self._commands.settings = settings

    def _entity_name(self, entity_id: str) -> str:
        return self._names.get(entity_id, entity_id)

    @property
    def delivered(self) -> int:
        return self.outbox.counters.sent + self._printed

    async def _ensure_ready(self) -> None:
        """Once per process: is the Bot API there (alerts are held if not), and which
        alerts did a killed process leave in the lost-answer window."""
        if self._ready:
            return
        self._ready = True
        try:  # opens the HTTP clients (closed by stop()) and calls getMe; a hanging Bot API must not hold the start
            await asyncio.wait_for(self.bot.initialize(), timeout=PROBE_TIMEOUT_SECONDS + 1)
        except Exception:  # noqa: BLE001 - the probe below says why, and holds the alerts
            pass
        await self.outbox.check_reachable()
        if self._may_send is None:  # alone on its database: what a killed run left 'sending' is ours to settle
            await self.outbox.recover()

    def coordinate(self, may_send: Callable[[], bool]) -> None:
        self._may_send = self.outbox.may_send = may_send

    def _allowed(self) -> bool:
        return self._may_send is None or self._may_send()

    async def become_sender(self, *, commands: bool = True) -> None:
        await self._ensure_ready()
        # Only the instance taking the role over settles the previous sender's sends in
        # flight ('sending' -> 'unknown'): that sender stopped starting sends half a lease
        # before its lease ran out, so none of them is still under way.
        await self.outbox.recover()
        await self.start(commands=commands)

    async def stop_sending(self) -> None:
        if self._commands is not None:
            await self._commands.stop()
            self._commands = None
        await self._stop_serving()
        try:
            # Shielded: a send whose outcome cannot be written yet (the database is down)
            # keeps trying in the background instead of being cancelled half-way.
            await asyncio.wait_for(asyncio.shield(self.outbox.wait_in_flight()), timeout=STOP_GRACE_SECONDS)
        except asyncio.TimeoutError:
            log.warning("delivery_stop_timeout", detail="sends still in flight finish in the background")

    async def start(self, *, commands: bool = True) -> None:
        """Send continuously in the background (and answer subscriber commands)."""
        await self._ensure_ready()
        self._stopping.clear()
        self._serving = asyncio.create_task(self.outbox.serve(self._stopping, self._wake), name="outbox-sender")
        if commands and self.settings.config.telegram.commands:
            self._commands = CommandBot(
                self.bot, self.store, self.settings, self.governor, report=self._report, wake_sender=self._wake.set
            )
            await self._commands.start()

    async def deliver_due(self) -> int:
        """A poll queued alerts: wake the background sender, or (not started) deliver
        what can go without waiting."""
        if self._serving is not None:
            self._wake.set()
            return 0
        if not self._allowed():
            return 0  # another instance sends: the alerts wait in the outbox for it
        return await self.drain(timeout=0)

    async def drain(self, timeout: float | None = 120.0) -> int:
        """Deliver everything due, pacing by the governor, for at most `timeout` s
        (0: only what can go without waiting), then return; a background sender
        is stopped first. Console alerts (queued before a token was set) are printed too.
        Not the sender (several instances): nothing, the sender delivers them."""
        if not self._allowed():
            return 0
        await self._ensure_ready()
        await self._stop_serving()
        before = self.delivered
        self._printed += await asyncio.to_thread(deliver_to_console, self.store)
        if timeout == 0:
            await self.outbox.pump()
            await self.outbox.wait_in_flight()
        else:
            await self.outbox.run_until_idle(None if timeout is None else time.monotonic() + timeout)
        return self.delivered - before

    async def _stop_serving(self) -> None:
        if self._serving is None:
            return
        self._stopping.set()
        self._wake.set()
        try:
            await asyncio.wait_for(self._serving, timeout=STOP_GRACE_SECONDS)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            self._serving.cancel()
        self._serving = None

    async def stop(self) -> None:
        """Stop taking new alerts, let sends in flight finish (their rows must not stay 'sending')."""
        await self.stop_sending()
        try:
            await self.bot.shutdown()
        except Exception:  # noqa: BLE001 - closing HTTP clients; nothing to save
            pass

    async def notify_admins(self, text: str) -> None:
        """Best-effort operational notice (broken feed, rejected config) to telegram.admins.

        Not queued in the outbox: these are about the service itself, and the same
        fact is in the logs and on /healthz if Telegram is unreachable."""

        async def send(admin: int) -> None:
            await self.governor.acquire(str(admin))  # within the limits the alerts keep
            await self.bot.send_message(admin, text[:4000])

        for admin in self.settings.config.telegram.admins:
            try:
                await asyncio.wait_for(send(admin), timeout=10)
            except Exception as exc:  # noqa: BLE001 - a notice must never break the service
                log.warning("admin_notice_failed", chat=str(admin), error=type(exc).__name__)

    async def send_photo(self, chat_id: str, photo: bytes, caption_html: str, *, silent: bool = False) -> SendResult:
        """sendPhoto within the rate limits; the answer classified like an alert's."""
        await self._ensure_ready()
        await self.governor.acquire(chat_id)
        return await self.sender.send_photo(chat_id, photo, caption_html, silent=silent)

    async def telegram_health(self) -> Reachability:
        """For /healthz: does the Bot API answer now (getMe), and do the sends go through?"""
        reach = await self.sender.probe(PROBE_TIMEOUT_SECONDS)
        if reach.ok and (held := self.outbox.problem) is not None:
            return Reachability(False, f"alerts held since the last send failed: {held}")
        return reach


def build_delivery(settings: Settings, store: Store, *, report: MakeReport | None = None) -> Delivery:
    """Console without a token, else the Telegram sender (telegram.api_base_url honoured);
    `report` makes what /report sends."""
    if settings.config.telegram.token:
        return TelegramDelivery(settings, store, report=report)
    return ConsoleDelivery(store)
