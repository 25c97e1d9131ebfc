"""The outbox sender: drains queued alerts to Telegram, oldest first, within rate limits.

`Outbox` drains the `alerts` table through any `Sender` (monitor.notify.telegram
in production). State machine of one alert::

    queued --claim (committed before the call)--> sending
    sending --Message--> sent(message_id)
    sending --429 / 5xx / unreachable--> queued, in its place (the pause: retry_after, backoff)
    sending --chat not found / blocked / kicked / rejected--> failed(reason)
    sending --answer lost (read timeout, dropped connection)--> unknown (never resent)
    sending --process killed--> unknown at the next start (never resent)

A sent message of a story is edited in place when the story grows (its revision
rises above the one the message shows): the first later report at once, further
ones at most once per `edit_interval` per message. The text is rendered from the
database when the edit goes (the alert as first rendered plus the story's lines,
monitor.notify.format), so an edit is idempotent by content: an edit made again
after a lost answer or a crash gets "message is not modified", which counts as
done. Edit state of a sent alert::

    none --claim_edit (committed before the call)--> editing
    editing --Message, or "message is not modified"--> none, shows the revision
    editing --429 / 5xx / unreachable--> none (tried again when the governor allows)
    editing --answer lost--> none (made again after edit_interval: harmless)
    editing --process killed--> none at the next start (made again)
    editing --message to edit not found / can't be edited--> gone (no more edits)
    editing --other refusal--> failed (no more edits)

Sends go before edits: a chat with an alert due takes no edit in that pass. A
queued alert of a story is rendered with the story as it is when it is sent.

While Telegram is down (5xx, unreachable, token refused) no alert is put at risk
to find out when it is back: the sender backs off and probes with getMe, and
after a good probe sends one alert alone before it sends in parallel again. So
an outage holds alerts in 'queued', where a crash cannot touch them; only a
send in flight at the moment of a kill can end 'unknown'.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar

from sqlalchemy.exc import OperationalError

from monitor.notify.console import CONSOLE_CHAT
from monitor.notify.ratelimit import RateGovernor, backoff, is_group_chat
from monitor.notify.story_message import read_story, story_texts
from monitor.notify.telegram import FeedbackButtons, Reachability, SendResult
from monitor.ops import metrics
from monitor.ops.logs import get_logger
from monitor.store import EditRow, OutboxRow, Store

__all__ = ["DeliveryCounters", "LOST_ANSWER", "Outbox", "Sender"]

log = get_logger("monitor.notify.outbox")

# An idle sender looks at the outbox this often at least (alerts queued by another
# process, an operator's requeue); alerts of this process wake it at once.
IDLE_CHECK_SECONDS = 30.0
LOST_ANSWER = "answer lost: the process stopped while this alert was being sent; not resent (at-most-once window)"
EDIT_INTERRUPTED = "the process stopped during this edit; made again (an edit is idempotent by content)"
# Later reports of a story edit its message at most this often (stories.edit_interval).
EDIT_INTERVAL_SECONDS = 60.0

T = TypeVar("T")
R = TypeVar("R", OutboxRow, EditRow)


def _always() -> bool:
    return True


class Sender(Protocol):
    async def send(
        self, chat_id: str, text_html: str, text_plain: str, *, silent: bool = False, feedback: FeedbackButtons | None = None
    ) -> SendResult: ...

    async def edit(
        self, chat_id: str, message_id: int, text_html: str, text_plain: str, *, feedback: FeedbackButtons | None = None
    ) -> SendResult: ...

    async def probe(self, timeout: float = 3.0) -> Reachability: ...


@dataclass
class DeliveryCounters:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    rate_limited: int = 0  # 429s received
    db_retries: int = 0
    edits: int = 0  # story messages edited (Telegram changed the text)
    edits_unchanged: int = 0  # edits made again that Telegram found already shown
    edits_failed: int = 0  # messages whose edits ended (deleted, refused)


@dataclass
class Outbox:
    store: Store
    sender: Sender
    governor: RateGovernor = field(default_factory=RateGovernor)
    max_in_flight: int = 16
    batch: int = 200
    counters: DeliveryCounters = field(default_factory=DeliveryCounters)
    # Seconds to wait after the n-th Telegram-wide failure in a row, before probing again.
    outage_backoff: Callable[[int], float] = backoff
    # Several instances: sends start only while this instance holds the sender role
    # (monitor.service.instances); asked again right before each send.
    may_send: Callable[[], bool] = _always
    # At most one edit of a story's message per this many seconds (the first at once).
    edit_interval: float = EDIT_INTERVAL_SECONDS

    def __post_init__(self) -> None:
        self._in_flight: dict[str, asyncio.Task[None]] = {}  # chat -> its one send in flight (keeps per-chat order)
        self._gone_logged: set[str] = set()
        self._failures = 0  # Telegram-wide failures in a row (sets the backoff)
        self._down: str | None = None  # why Telegram is taken as down (None: up)

    # -- what others may ask -------------------------------------------------

    @property
    def problem(self) -> str | None:
        """Why alerts are held (Telegram down or unreachable), or None while it answers."""
        return self._down

    async def check_reachable(self) -> Reachability:
        """Ask the Bot API (getMe) before sending; held alerts wait for a good answer."""
        reach = await self.sender.probe()
        if reach.ok:
            metrics.TELEGRAM_AVAILABLE.set(1)
        else:
            self._note_down(reach.reason)
        return reach

    # -- one pass ------------------------------------------------------------

    async def recover(self) -> list[int]:
        """At start: alerts a killed process left 'sending' are the lost-answer window."""
        ids: list[int] = await self._db(self.store.outbox.recover_in_flight, LOST_ANSWER)
        if ids:
            log.warning("delivery_unknown_after_restart", alerts=ids, note="not resent: may or may not have reached Telegram")
        self.counters.unknown += len(ids)
        metrics.ALERTS_UNKNOWN.inc(len(ids))
        edits: list[int] = await self._db(self.store.outbox.recover_edits_in_flight, EDIT_INTERRUPTED)
        if edits:
            log.info("story_edits_resumed_after_restart", alerts=edits, note="made again: the same text is 'not modified'")
        return ids

    async def pump(self) -> tuple[int, float | None]:
        """Start every send the governor allows right now.

        Returns (sends started, seconds until the next one could start or None
        when nothing is due)."""
        if not self.may_send():
            return 0, 1.0  # not (or no longer) the sender: nothing starts; asked again shortly
        if self._down is not None and (paused := self.governor.global_wait()) > 0:
            return 0, paused  # Telegram is down: not even the database is asked until the next probe
        try:
            rows, edits = await asyncio.to_thread(self._read_due)
        except OperationalError as exc:  # database briefly locked: try again shortly
            log.warning("outbox_read_failed", error=str(exc.orig) if exc.orig else str(exc))
            self.counters.db_retries += 1
            return 0, 1.0
        if not rows and not edits:
            return 0, (0.0 if self._in_flight else None)
        if self._down is not None:
            if self._in_flight:
                return 0, 0.0  # the one alert sent after a good probe is still out
            if not (await self.check_reachable()).ok:
                return 0, self.governor.global_wait()
        # After an outage one alert goes alone: many sends in flight would all be at risk.
        limit = 1 if self._down is not None else self.max_in_flight
        seen_chats: set[str] = set()
        started, soonest = self._start_per_chat(rows, self._deliver_one, seen_chats, limit, None)
        # Then edits, in the slots the sends left: a chat with an alert due (even one
        # waiting for the governor) takes no edit now, so a new story is never held
        # behind the update of an old one.
        started_edits, soonest = self._start_per_chat(edits, self._edit_one, seen_chats, limit, soonest)
        started += started_edits
        if self._in_flight and soonest is None:
            soonest = 0.0
        return started, soonest

    def _start_per_chat(
        self,
        rows: Sequence[R],
        begin: Callable[[R], Coroutine[Any, Any, None]],
        seen_chats: set[str],
        limit: int,
        soonest: float | None,
    ) -> tuple[int, float | None]:
        """Start `begin(row)` for the oldest row of each chat not in `seen_chats`, while
        fewer than `limit` are in flight and the governor allows the chat now. Returns
        (started, seconds until the next could start, folded into `soonest`)."""
        started = 0
        for row in rows:
            if row.chat_id in seen_chats or row.chat_id in self._in_flight:
                seen_chats.add(row.chat_id)  # later rows of a chat wait behind its oldest
                continue
            seen_chats.add(row.chat_id)
            if len(self._in_flight) >= limit:
                soonest = 0.0 if soonest is None else soonest
                break
            wait = self.governor.wait_time(row.chat_id)
            if wait > 0:
                soonest = wait if soonest is None else min(soonest, wait)
                continue
            self.governor.take(row.chat_id)
            self._in_flight[row.chat_id] = asyncio.create_task(begin(row))
            started += 1
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
            await self.wait(soonest, remaining)
        await self.wait_in_flight()  # never abandon a send half-way: its row would stay 'sending'
        return self.counters.sent - before

    async def serve(self, stop: asyncio.Event, wake: asyncio.Event) -> None:
        """Send continuously until `stop`: the background sender of the service.

        Nothing due: it sleeps until `wake` (a poll queued alerts) or the next retry
        is due, at most IDLE_CHECK_SECONDS - not a fixed tick, since every wake-up
        of an idle process costs CPU."""
        while not stop.is_set():
            try:
                _, soonest = await self.pump()
            except Exception as exc:  # noqa: BLE001 - the sender retries; the service stays up
                log.error("delivery_failed", error=str(exc))
                soonest = 1.0
            if stop.is_set():
                break
            if soonest is None and not self._in_flight:
                wake.clear()
                try:
                    await asyncio.wait_for(wake.wait(), timeout=await self._idle_timeout())
                except asyncio.TimeoutError:
                    pass
            else:
                await self.wait(soonest, None)
        await asyncio.shield(self.wait_in_flight())  # a stop that gives up waiting must not cancel sends half-way

    async def wait(self, soonest: float | None, remaining: float | None) -> None:
        """Sleep until a send finishes or the next one may start (at most a second)."""
        timeout = min(x for x in (soonest if soonest else 0.05, remaining, 1.0) if x is not None)
        if self._in_flight:
            await asyncio.wait(list(self._in_flight.values()), timeout=max(timeout, 0.001), return_when=asyncio.FIRST_COMPLETED)
        else:
            await asyncio.sleep(max(timeout, 0.001))

    async def wait_in_flight(self) -> None:
        if self._in_flight:
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    def _read_due(self) -> tuple[list[OutboxRow], list[EditRow]]:
        """Alerts due and story messages due for an edit (one thread hop for both)."""
        outbox = self.store.outbox
        rows = outbox.due(self.batch, exclude_chats=[CONSOLE_CHAT])
        try:
            edits = outbox.due_edits(self.batch, interval=self.edit_interval, exclude_chats=[CONSOLE_CHAT])
        except OperationalError as exc:
            # New alerts must not wait on the stories (a lock held on them, a slow
            # query): they go out, and the edits are looked for again next pass.
            log.warning("story_edits_read_failed", error=str(exc.orig) if exc.orig else str(exc))
            self.counters.db_retries += 1
            edits = []
        return rows, edits

    def _next_due(self) -> datetime | None:
        outbox = self.store.outbox
        times = [outbox.next_due([CONSOLE_CHAT]), outbox.next_edit_due(self.edit_interval, [CONSOLE_CHAT])]
        return min((t for t in times if t is not None), default=None)

    async def _idle_timeout(self) -> float:
        try:
            due = await asyncio.to_thread(self._next_due)
        except OperationalError:
            return 1.0
        if due is None:
            return IDLE_CHECK_SECONDS
        # The store's clock decides when an alert is due (a held one: quiet hours), so
        # the wait is measured on it too.
        return min(max((due - self.store.database.now()).total_seconds(), 0.01), IDLE_CHECK_SECONDS)

    # -- one alert -----------------------------------------------------------

    async def _deliver_one(self, row: OutboxRow) -> None:
        await self._one(self._deliver_row, row, "delivery_error")

    async def _one(self, work: Callable[[R], Coroutine[Any, Any, None]], row: R, failure_event: str) -> None:
        """One send or edit started for a chat; whatever it raises must not stop the sender."""
        try:
            await work(row)
        except Exception as exc:  # noqa: BLE001
            log.exception(failure_event, alert=row.id, chat=row.chat_id, error=str(exc))
        finally:
            self._in_flight.pop(row.chat_id, None)

    async def _claim(self, claim: Callable[..., int | None], *args: Any) -> int | None:
        """The attempt id of a claim (`claim(*args)`); None when another sender took the
        row, or the database refused (nothing written, nothing sent: it stays due)."""
        try:
            return await asyncio.to_thread(claim, *args)
        except OperationalError as exc:
            log.warning("outbox_claim_failed", alert=args[0], error=str(exc.orig) if exc.orig else str(exc))
            self.counters.db_retries += 1
            self.governor.pause_all(0.5)
            return None

    async def _deliver_row(self, row: OutboxRow) -> None:
        attempt = await self._claim(self.store.outbox.claim, row.id)
        if attempt is None:
            return
        if not self.may_send():  # the role was lost while claiming: nothing was sent
            await self._db(self.store.outbox.finish_retry, row.id, attempt, 0.0, "not sent: this instance stopped being the sender")
            return
        try:
            text_html, text_plain, revision = await asyncio.to_thread(self._alert_text, row)
        except OperationalError as exc:
            # Claimed but not sent: queued again, not left 'sending' (which a restart
            # would take for "maybe sent" and never send).
            await self._db(self.store.outbox.finish_retry, row.id, attempt, 1.0, f"story not read: {exc.orig or exc}")
            self.counters.db_retries += 1
            self.governor.pause_all(0.5)
            return
        # A subscriber's alert carries the feedback buttons (its id is in their data).
        feedback = FeedbackButtons(row.id, row.feedback_entity) if row.feedback_entity else None
        result = await self.sender.send(row.chat_id, text_html, text_plain, silent=row.silent, feedback=feedback)
        await self._record(row, attempt, result, revision)

    def _alert_text(self, row: OutboxRow) -> tuple[str, str, int | None]:
        """(HTML, plain text, story revision shown) of an alert as it goes out now: a
        story's may have grown since it was queued, and is sent as it now stands."""
        if row.story_id is None:
            return row.text_html, row.text_plain, None
        story, names = read_story(self.store, row.story_id)
        if story is None:
            return row.text_html, row.text_plain, None
        text_html, text_plain = story_texts(story, names, row.item_id, row.text_html, row.text_plain)
        return text_html, text_plain, story.revision

    # -- one edit of a story's message ------------------------------------------

    async def _edit_one(self, row: EditRow) -> None:
        await self._one(self._edit_row, row, "story_edit_error")

    async def _edit_row(self, row: EditRow) -> None:
        attempt = await self._claim(self.store.outbox.claim_edit, row.id, row.revision)
        if attempt is None:
            return  # (or it is shown already)
        try:
            story, names = await asyncio.to_thread(read_story, self.store, row.story_id)
            # An edit without reply_markup would take a subscriber's feedback buttons away,
            # and one without the reader's choice would take its tick away.
            chosen = await asyncio.to_thread(self.store.feedback.choice, row.id, row.chat_id) if row.feedback_entity else None
        except OperationalError as exc:
            await self._db(partial(self.store.outbox.finish_edit_later, wait_interval=False), row.id, attempt, "retry", f"story not read: {exc}")
            self.governor.pause_all(0.5)
            return
        if story is None:  # pruned meanwhile: nothing to show
            await self._db(self.store.outbox.finish_edit_ended, row.id, attempt, "failed", "the story is no longer stored")
            return
        if not self.may_send():  # the role was lost meanwhile: nothing was edited
            await self._db(partial(self.store.outbox.finish_edit_later, wait_interval=False), row.id, attempt, "retry", "not edited: this instance stopped being the sender")
            return
        text_html, text_plain = story_texts(story, names, row.item_id, row.text_html, row.text_plain)
        feedback = FeedbackButtons(row.id, row.feedback_entity, chosen) if row.feedback_entity else None
        result = await self.sender.edit(row.chat_id, row.message_id, text_html, text_plain, feedback=feedback)
        await self._record_edit(row, attempt, story.revision, result)

    async def _record_edit(self, row: EditRow, attempt: int, revision: int, result: SendResult) -> None:
        outbox = self.store.outbox
        if result.kind == "sent":
            self._note_up()
            await self._db(partial(outbox.finish_edit, applied=not result.unchanged, note=result.reason or None), row.id, attempt, revision)
            if result.unchanged:
                self.counters.edits_unchanged += 1
                log.info("story_edit_already_shown", alert=row.id, chat=row.chat_id, revision=revision)
            else:
                self.counters.edits += 1
                metrics.EDITS_SENT.inc()
                log.info("story_message_edited", alert=row.id, chat=row.chat_id, story=row.story_id, revision=revision)
            return
        if result.kind == "retry":
            if result.retry_after is not None:
                self.counters.rate_limited += 1
                self.governor.pause_chat(row.chat_id, result.retry_after)
                log.warning("telegram_flood_control", chat=row.chat_id, retry_after=result.retry_after, during="edit")
            else:
                self._note_down(result.reason)
            await self._db(partial(outbox.finish_edit_later, wait_interval=False), row.id, attempt, "retry", result.reason)
            return
        if result.kind == "unknown":
            await self._db(partial(outbox.finish_edit_later, wait_interval=True), row.id, attempt, "unknown", result.reason)
            log.info("story_edit_answer_lost", alert=row.id, chat=row.chat_id, reason=result.reason, note="made again later")
            return
        self._note_up()  # a refusal is an answer: Telegram is up
        self.counters.edits_failed += 1
        metrics.EDITS_FAILED.inc()
        await self._db(outbox.finish_edit_ended, row.id, attempt, "gone" if result.message_gone else "failed", result.reason)
        if result.message_gone:
            log.warning(
                "story_message_gone", alert=row.id, chat=row.chat_id, message=row.message_id, reason=result.reason,
                note="deleted in Telegram: its story is no longer shown there",
            )
        elif result.chat_gone:
            await self._chat_gone(row.chat_id, result.reason)
        else:
            log.error("story_edit_rejected", alert=row.id, chat=row.chat_id, reason=result.reason)

    def _note_down(self, reason: str) -> None:
        """Telegram (or the way to it) is down: pause the whole sender, one probe per backoff step."""
        self._failures += 1
        delay = self.outage_backoff(self._failures)
        self.governor.pause_all(delay)
        if self._down is None:
            log.warning("telegram_unavailable", reason=reason, note="alerts are held in the outbox until it answers")
        else:
            log.info("telegram_still_unavailable", reason=reason, failures=self._failures, retry_in=round(delay, 1))
        self._down = reason
        metrics.TELEGRAM_AVAILABLE.set(0)

    def _note_up(self) -> None:
        if self._down is not None:
            log.info("telegram_available_again", after_failures=self._failures)
        self._down = None
        self._failures = 0
        metrics.TELEGRAM_AVAILABLE.set(1)

    async def _record(self, row: OutboxRow, attempt: int, result: SendResult, revision: int | None = None) -> None:
        store = self.store
        if result.kind == "sent":
            self.counters.sent += 1
            self._note_up()
            finish = store.outbox.finish_sent if revision is None else partial(store.outbox.finish_sent, shown_revision=revision)
            await self._db(finish, row.id, attempt, result.message_id, result.reason or None)
            metrics.ALERTS_SENT.inc()
            metrics.observe_publish_to_alert(row.published_at)
            if result.plain_fallback:
                log.warning("alert_sent_as_plain_text", alert=row.id, chat=row.chat_id, reason=result.reason)
            return
        if result.kind == "retry":
            # The alert keeps its place (due now): the pause is the governor's, so the
            # chat's later alerts wait behind it and the backlog goes out oldest first.
            self.counters.retried += 1
            if result.retry_after is not None:
                self.counters.rate_limited += 1
                metrics.ALERT_RETRIES.labels("flood_control").inc()
                self.governor.pause_chat(row.chat_id, result.retry_after)
                log.warning("telegram_flood_control", chat=row.chat_id, retry_after=result.retry_after)
            else:
                metrics.ALERT_RETRIES.labels("telegram_unavailable").inc()
                self._note_down(result.reason)
            await self._db(store.outbox.finish_retry, row.id, attempt, 0.0, result.reason)
            return
        if result.kind == "failed":
            self.counters.failed += 1
            self._note_up()  # a refusal is an answer: Telegram is up
            await self._db(store.outbox.finish_failed, row.id, attempt, result.reason)
            metrics.ALERTS_FAILED.inc()
            if result.chat_gone:
                await self._chat_gone(row.chat_id, result.reason)
            else:
                log.error("alert_rejected", alert=row.id, chat=row.chat_id, reason=result.reason)
            return
        self.counters.unknown += 1
        await self._db(store.outbox.finish_unknown, row.id, attempt, result.reason)
        metrics.ALERTS_UNKNOWN.inc()
        log.warning("delivery_unknown", alert=row.id, chat=row.chat_id, reason=result.reason, note="not resent")

    async def _chat_gone(self, chat_id: str, reason: str) -> None:
        failed: int = await self._db(self.store.outbox.fail_queued_for_chat, chat_id, reason)
        metrics.ALERTS_FAILED.inc(failed)
        if is_group_chat(chat_id):
            if chat_id not in self._gone_logged:  # once, not once per alert
                self._gone_logged.add(chat_id)
                log.error("alert_chat_unreachable", chat=chat_id, reason=reason, alerts_failed=failed + 1)
            return
        if await self._db(self.store.subscribers.deactivate, chat_id, reason):
            log.info("subscriber_deactivated", chat=chat_id, reason=reason, alerts_failed=failed + 1)

    async def _db(self, fn: Callable[..., T], *args: object, attempts: int = 60) -> T:
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
        raise AssertionError("unreachable")  # the loop returns or raises
