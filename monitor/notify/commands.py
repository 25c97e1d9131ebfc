"""Subscriber commands in a private chat with the bot, and the presses on alert buttons.

/start, /help, /subscribe, /unsubscribe, /list, /entities, /recent [entity] (stories),
/priority, /quiet, /report, /unmute, /status (admins only). Subscriptions live in the database (subscribers,
subscriptions), so they survive restarts; the pipeline reads them when it queues
alerts.

A subscriber's alert carries feedback buttons (relevant / not relevant / mute the
entity for a day; monitor.notify.telegram). A press arrives as a callback_query
update in the same getUpdates loop: it is stored (monitor.store.feedback, one
current choice per alert and chat), answered at once (answerCallbackQuery: the
button stops spinning, a short text shows) and the message's buttons are edited to
tick the choice. A press on an alert the store no longer knows, or from another
chat, is answered politely and changes nothing.

Updates come by long polling (getUpdates) in our own small loop on the same
PTB Bot the outbox uses, rather than a PTB Application: the service already
owns the event loop and the lifecycle, and this keeps one HTTP client, one rate
governor and one place that knows the offset. The offset is stored in
service_state after each update is handled, so a restart neither loses nor
(beyond the one update in hand) repeats commands. Replies go straight out (not
through the outbox) but wait for the same rate governor as alerts.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError
from telegram import Bot, BotCommand, CallbackQuery, LinkPreviewOptions, Update
from telegram.error import BadRequest, Conflict, InvalidToken, TelegramError

from monitor.config import Settings
from monitor.notify.format import split_message
from monitor.notify.quiet import QuietHours, parse_quiet_hours
from monitor.notify.ratelimit import RateGovernor, backoff
from monitor.notify.telegram import classify, feedback_keyboard, parse_feedback_data, send_photo
from monitor.ops import metrics
from monitor.ops.logs import get_logger
from monitor.store import Press, Store, reports

__all__ = ["COMMANDS", "CommandBot", "MakeReport", "resolve_entities"]

log = get_logger("monitor.notify.commands")

OFFSET_KEY = "telegram.updates_offset"
MAX_REPLY = 4000  # under Telegram's 4096 with room for markup

COMMANDS: list[tuple[str, str]] = [
    ("start", "Start talking to the bot"),
    ("help", "What the bot can do"),
    ("subscribe", "Follow entities: /subscribe all, or ids or names"),
    ("unsubscribe", "Stop following: /unsubscribe all, or ids"),
    ("list", "What I follow"),
    ("entities", "What can be followed"),
    ("recent", "The latest alerts: /recent [entity]"),
    ("priority", "At once or in the digest: /priority [entity digest|immediate]"),
    ("quiet", "Quiet hours: /quiet 22:00-07:00 Asia/Baghdad, /quiet off"),
    ("report", "The last 7 days at a glance (chart and table)"),
    ("unmute", "Lift mutes early: /unmute all, or ids"),
    ("status", "Feeds and delivery health (admins)"),
]

HELP = (
    "I send news alerts about tracked entities (Iraq, coalition bases, armed groups).\n\n"
    "/subscribe all: every alert\n"
    "/subscribe kataeb-hezbollah taji-base: only these (ids or names, see /entities)\n"
    "/unsubscribe taji-base, or /unsubscribe all\n"
    "/list: what you follow\n"
    "/entities: what can be followed\n"
    "/recent [entity]: the latest alerts\n"
    "/priority: what comes at once and what in the digest; /priority taji-base digest (or immediate, default)\n"
    "/quiet 22:00-07:00 Asia/Baghdad: alerts wait until the end of the window, then arrive silently; "
    "/quiet off; /quiet urgent kataeb-hezbollah: these pass the quiet hours; /quiet shows them\n"
    "/report: the last 7 days at a glance\n"
    "/unmute taji-base, or /unmute all: lift mutes before their day is over\n"
    "/status: service health (admins only)\n\n"
    "Under each alert: 👍 relevant, 👎 not relevant (it helps tune the watchlist), "
    "🔕 mute that entity for a day."
)


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%H:%M} {zone.key}"


def _norm(text: str) -> str:
    return " ".join(text.replace("_", "-").casefold().split())


class _Alias(Protocol):
    text: str


class _Entity(Protocol):
    """What the bot needs of a watchlist entity (monitor.config's Entity has it)."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def aliases(self) -> Sequence[_Alias]: ...


class _User(NamedTuple):
    """Who wrote the command."""

    id: int
    username: str | None


Handler = Callable[[str, str, _User], Awaitable[None]]

# What /report sends: (caption in HTML within the caption limit, PNG chart).
MakeReport = Callable[[], Awaitable[tuple[str, bytes]]]
_PRIORITY_WORDS = {"digest": "digest", "immediate": "immediate", "now": "immediate", "default": None, "reset": None}


def resolve_entities(terms: str, entities: Sequence[_Entity]) -> tuple[list[str], list[str]]:
    """Entity ids meant by what the user typed, and the terms not understood.

    Accepts ids ("taji-base"), hashtag forms ("#taji_base"), display names and
    aliases, several at once separated by spaces or commas; a multi-word name
    ("Kataeb Hezbollah") is recognised before the words are split."""
    by_key: dict[str, str] = {}
    for entity in entities:
        by_key.setdefault(_norm(entity.id), entity.id)
        by_key.setdefault(_norm(entity.name), entity.id)
        for alias in entity.aliases:
            by_key.setdefault(_norm(alias.text), entity.id)
    found: list[str] = []
    unknown: list[str] = []
    for chunk in terms.replace("\n", ",").split(","):
        chunk = chunk.strip().lstrip("#")
        if not chunk:
            continue
        if (hit := by_key.get(_norm(chunk))) is not None:
            found.append(hit)
            continue
        words = chunk.split()
        i = 0
        while i < len(words):  # longest run of words that names an entity
            for j in range(len(words), i, -1):
                hit = by_key.get(_norm(" ".join(words[i:j]).lstrip("#")))
                if hit is not None:
                    found.append(hit)
                    i = j
                    break
            else:
                unknown.append(words[i])
                i += 1
    return list(dict.fromkeys(found)), unknown


class CommandBot:
    """Long-polls getUpdates and answers commands; start()/stop() from the service."""

    def __init__(
        self,
        bot: Bot,
        store: Store,
        settings: Settings,
        governor: RateGovernor,
        *,
        poll_timeout: int = 25,
        report: MakeReport | None = None,
        wake_sender: Callable[[], None] | None = None,
    ) -> None:
        self.bot = bot
        self.report = report
        self.wake_sender = wake_sender  # held alerts released (/quiet off): send them now
        self.store = store
        self.settings = settings
        self.governor = governor
        self.poll_timeout = poll_timeout
        self._task: asyncio.Task[None] | None = None
        self._handling = asyncio.Lock()

    @property
    def entities(self) -> Sequence[_Entity]:
        return self.settings.watchlist.entities

    @property
    def admins(self) -> set[int]:
        return set(self.settings.config.telegram.admins)

    async def start(self) -> None:
        try:
            await self.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS])
        except TelegramError as exc:  # not fatal: the commands still work when typed
            log.warning("set_my_commands_failed", error=type(exc).__name__)
        self._task = asyncio.create_task(self._poll(), name="telegram-commands")

    async def stop(self) -> None:
        if self._task is None:
            return
        async with self._handling:  # let a command in hand finish, then stop polling
            self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001
            pass
        self._task = None

    async def _poll(self) -> None:
        offset = int(await asyncio.to_thread(self.store.values.get, OFFSET_KEY) or 0)
        failures = 0
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=offset or None, timeout=self.poll_timeout, allowed_updates=["message", "callback_query"]
                )
                failures = 0
            except asyncio.CancelledError:
                raise
            except (Conflict, InvalidToken) as exc:
                failures += 1
                log.error("telegram_updates_refused", error=type(exc).__name__, reason=str(exc))
                await asyncio.sleep(backoff(failures, base=5.0))
                continue
            except TelegramError as exc:
                failures += 1
                await asyncio.sleep(backoff(failures, cap=60.0))
                if failures in (1, 10):
                    log.warning("telegram_updates_failed", error=type(exc).__name__)
                continue
            for update in updates:
                async with self._handling:
                    try:
                        await self.handle(update)
                    except Exception as exc:  # noqa: BLE001 - one bad command must not stop the bot
                        log.exception("command_failed", update=update.update_id, error=str(exc))
                    offset = update.update_id + 1
                    await asyncio.to_thread(self.store.values.set, OFFSET_KEY, str(offset))

    # -- commands ------------------------------------------------------------

    async def handle(self, update: Update) -> None:
        if update.callback_query is not None:
            await self._press(update.callback_query)
            return
        message = update.message
        if message is None or message.chat.type != "private" or not message.text:
            return  # commands are for private chats; the channel is read-only
        chat = str(message.chat.id)
        user_id = message.from_user.id if message.from_user else message.chat.id
        text = message.text.strip()
        if not text.startswith("/"):
            await self.reply(chat, "I only understand commands.\n\n" + html.escape(HELP))
            return
        head, _, args = text.partition(" ")
        command, _, addressed_to = head[1:].partition("@")
        if addressed_to and addressed_to.lower() != self._username().lower():
            return  # "/help@other_bot" in a shared chat
        command = command.lower()
        username = message.from_user.username if message.from_user else None
        handler: Handler | None = {
            "start": self._start,
            "help": self._help,
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "list": self._list,
            "entities": self._entities,
            "recent": self._recent,
            "priority": self._priority,
            "quiet": self._quiet,
            "report": self._report,
            "unmute": self._unmute,
            "status": self._status,
        }.get(command)
        if handler is None:
            await self.reply(chat, f"Unknown command /{html.escape(command)}.\n\n" + html.escape(HELP))
            return
        log.info("command", chat=chat, command=command)
        await handler(chat, args.strip(), _User(user_id, username))

    async def _start(self, chat: str, args: str, user: _User) -> None:
        await asyncio.to_thread(self.store.subscribers.register, chat, user.username)
        await self.reply(chat, "Welcome. " + html.escape(HELP))

    async def _help(self, chat: str, args: str, user: _User) -> None:
        await self.reply(chat, html.escape(HELP))

    async def _subscribe(self, chat: str, args: str, user: _User) -> None:
        if not args:
            await self.reply(chat, "Follow what? /subscribe all, or entity ids or names (see /entities).")
            return
        await asyncio.to_thread(self.store.subscribers.register, chat, user.username)
        if _norm(args) in ("all", "*", "everything"):
            await asyncio.to_thread(self.store.subscribers.subscribe, chat, (), all_entities=True)
            await self.reply(chat, "Subscribed to all alerts.")
            return
        found, unknown = resolve_entities(args, self.entities)
        if found:
            await asyncio.to_thread(self.store.subscribers.subscribe, chat, found)
        lines = []
        if found:
            lines.append("Subscribed to: " + html.escape(", ".join(self._name(e) for e in found)) + ".")
        if unknown:
            lines.append("Not known: " + html.escape(", ".join(unknown)) + ". See /entities.")
        await self.reply(chat, "\n".join(lines))

    async def _unsubscribe(self, chat: str, args: str, user: _User) -> None:
        state = await asyncio.to_thread(self.store.subscribers.subscription, chat)
        if state is None:
            await self.reply(chat, "You follow nothing yet. /subscribe to start.")
            return
        if not args or _norm(args) in ("all", "*", "everything"):
            await asyncio.to_thread(self.store.subscribers.unsubscribe, chat, None)
            await self.reply(chat, "Unsubscribed from everything.")
            return
        found, unknown = resolve_entities(args, self.entities)
        if found:
            await asyncio.to_thread(self.store.subscribers.unsubscribe, chat, found)
        lines = []
        if found:
            lines.append("Unsubscribed from: " + html.escape(", ".join(self._name(e) for e in found)) + ".")
            if state[1]:
                lines.append("You still receive all alerts: /unsubscribe all to stop.")
        if unknown:
            lines.append("Not known: " + html.escape(", ".join(unknown)) + ".")
        await self.reply(chat, "\n".join(lines))

    async def _list(self, chat: str, args: str, user: _User) -> None:
        state = await asyncio.to_thread(self.store.subscribers.subscription, chat)
        if state is None or (not state[1] and not state[2]):
            await self.reply(chat, "You follow nothing yet. /subscribe all, or see /entities.")
            return
        active, everything, followed = state
        lines = ["You follow <b>all</b> entities."] if everything else ["You follow:"]
        lines += [f"• {html.escape(self._name(e))} (<code>{html.escape(e)}</code>)" for e in followed]
        muted = await asyncio.to_thread(self.store.feedback.mutes, chat)
        if muted:
            lines.append("Muted for now (/unmute to lift):")
            lines += [f"• {html.escape(self._name(e))} until {until:%Y-%m-%d %H:%M} UTC" for e, until in muted]
        if not active:
            lines.append("Alerts are paused (the bot was blocked); send /start to resume.")
        await self.reply(chat, "\n".join(lines))

    async def _entities(self, chat: str, args: str, user: _User) -> None:
        lines = ["You can follow:"] + [
            f"• {html.escape(e.name)}: <code>{html.escape(e.id)}</code>" for e in self.entities
        ]
        await self.reply(chat, "\n".join(lines))

    async def _recent(self, chat: str, args: str, user: _User) -> None:
        entity_id = None
        if args:
            found, unknown = resolve_entities(args, self.entities)
            if not found:
                await self.reply(chat, f"Not known: {html.escape(args)}. See /entities.")
                return
            entity_id = found[0]
        stories = await asyncio.to_thread(self.store.stories.recent, 5, entity_id)
        if not stories:
            await self.reply(chat, "No alerts yet.")
            return
        lines = []
        for entry in stories:  # a story per line: its first report, how many reported it, who
            lead = entry.lead
            title = html.escape(lead.title or lead.url or "untitled")
            link = f'<a href="{html.escape(lead.url, quote=True)}">{title}</a>' if lead.url else title
            when = entry.latest.published_at.strftime("%Y-%m-%d %H:%M UTC")
            count = len(entry.articles)
            reported = f"{count} reports" if count > 1 else "1 report"
            outlets = ", ".join(entry.outlets[:5]) + (f" +{len(entry.outlets) - 5} more" if len(entry.outlets) > 5 else "")
            names = ", ".join(self._name(e) for e in entry.entities)
            lines.append(f"• {link}\n  {reported} · {html.escape(outlets)} · {when} · {html.escape(names)}")
        await self.reply(chat, "\n".join(lines))

    async def _unmute(self, chat: str, args: str, user: _User) -> None:
        unknown: list[str] = []
        if not args or _norm(args) in ("all", "*", "everything"):
            lifted = await asyncio.to_thread(self.store.feedback.unmute, chat, None)
        else:
            found, unknown = resolve_entities(args, self.entities)
            lifted = await asyncio.to_thread(self.store.feedback.unmute, chat, found) if found else []
        if lifted:
            lines = ["Mute lifted: " + html.escape(", ".join(self._name(e) for e in lifted)) + "."]
        else:
            lines = ["Nothing was muted."]
        if unknown:
            lines.append("Not known: " + html.escape(", ".join(unknown)) + ". See /entities.")
        await self.reply(chat, "\n".join(lines))

    # -- presses on alert buttons ---------------------------------------------

    async def _press(self, query: CallbackQuery) -> None:
        message = query.message  # None only for inline-mode messages, which the bot never sends
        chat = str(message.chat.id if message is not None else query.from_user.id)
        parsed = parse_feedback_data(query.data)
        if parsed is None:
            metrics.FEEDBACK_PRESSES.labels("ignored").inc()
            await self._answer(query, "This button is no longer in use.")
            return
        alert_id, choice = parsed
        try:
            press = await asyncio.to_thread(self.store.feedback.record, alert_id, chat, choice)
        except DBAPIError as exc:  # a locked or unreachable database: the reader may press again
            log.warning("feedback_not_stored", alert=alert_id, chat=chat, error=str(exc.orig or exc))
            await self._answer(query, "Sorry, that could not be saved just now. Please press again.")
            return
        if press is None:
            metrics.FEEDBACK_PRESSES.labels("ignored").inc()
            log.info("feedback_ignored", alert=alert_id, chat=chat, reason="no such alert with buttons in this chat")
            await self._answer(query, "Sorry, I no longer know this alert; nothing was changed.")
            return
        metrics.FEEDBACK_PRESSES.labels(choice).inc()
        log.info(
            "feedback", alert=alert_id, chat=chat, choice=choice, previous=press.previous,
            entity=press.entity_id, alias=press.alias, rule=press.rule,
        )
        await self._answer(query, self._thanks(press))
        if press.previous != press.choice and message is not None:
            await self._show_choice(chat, message.message_id, press)

    def _thanks(self, press: Press) -> str:
        if press.choice == "relevant":
            return "Thanks: marked relevant."
        if press.choice == "not_relevant":
            return "Thanks: marked not relevant. It helps tune the watchlist."
        assert press.muted_until is not None
        return f"{self._name(press.entity_id)} muted until {press.muted_until:%d %b %H:%M} UTC. /unmute to undo."[:200]

    async def _answer(self, query: CallbackQuery, text: str) -> None:
        """answerCallbackQuery at once (no governor: it is no message); Telegram refuses
        answers after about 15 s, which changes nothing for the stored press."""
        try:
            await self.bot.answer_callback_query(query.id, text=text)
        except TelegramError as exc:
            result = classify(exc)
            log.info("callback_answer_failed", query=query.id, outcome=result.kind, reason=result.reason)

    async def _show_choice(self, chat: str, message_id: int, press: Press) -> None:
        """Tick the chosen button on the alert (editMessageReplyMarkup), paced like a reply."""
        keyboard = feedback_keyboard(press.alert_id, self._name(press.entity_id), press.choice)
        await self.governor.acquire(chat)
        try:
            await self.bot.edit_message_reply_markup(chat_id=int(chat), message_id=message_id, reply_markup=keyboard)
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                log.warning("feedback_markup_not_edited", chat=chat, message=message_id, reason=exc.message)
        except TelegramError as exc:
            result = classify(exc)
            log.warning("feedback_markup_not_edited", chat=chat, message=message_id, outcome=result.kind, reason=result.reason)

    async def _status(self, chat: str, args: str, user: _User) -> None:
        if user.id not in self.admins and int(chat) not in self.admins:
            await self.reply(chat, "Sorry, /status is for the bot's administrators.")
            return
        stats = await asyncio.to_thread(reports.stats, self.store)
        depth, oldest = await asyncio.to_thread(self.store.outbox.depth)
        lines = [f"<b>Feeds</b> ({len(stats.feeds)})"]
        for f in stats.feeds:
            when = f.last_polled_at.strftime("%Y-%m-%d %H:%M") if f.last_polled_at else "never"
            status = html.escape(f.last_status or "not polled") + (" (broken)" if f.broken else "")
            error = f": {html.escape(f.last_error[:200])}" if f.last_error else ""
            lines.append(f"• {html.escape(f.name or f.url)}: {when}, {status}{error}")
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(stats.alerts_by_status.items())) or "none"
        lines.append(f"<b>Alerts</b> {html.escape(counts)}; queued now: {depth}")
        if oldest:
            lines.append(f"Oldest queued since {oldest.strftime('%Y-%m-%d %H:%M UTC')}")
        for failed_chat, reason in stats.failed_alerts[:5]:
            lines.append(f"failed to {html.escape(failed_chat)}: {html.escape(reason[:200])}")
        await self.reply(chat, "\n".join(lines))

    # -- priorities, quiet hours, the report ------------------------------------

    def _digest_times(self) -> str:
        digest = self.settings.config.digest
        return f"{', '.join(digest.at)} {digest.timezone}"

    async def _priority(self, chat: str, args: str, user: _User) -> None:
        """/priority: list; /priority ENTITY... digest|immediate|default: choose."""
        if not args:
            chosen = await asyncio.to_thread(self.store.preferences.priorities, chat)
            digest = [e for e in self.settings.watchlist.entities if chosen.get(e.id, e.priority) == "digest"]
            lines = [f"<b>In the digest</b> (sent at {html.escape(self._digest_times())}):"]
            lines += [f"• {html.escape(e.name)} (<code>{html.escape(e.id)}</code>)" for e in digest] or ["• nothing"]
            lines.append("Everything else arrives at once.")
            if chosen:
                lines.append("Your choices: " + html.escape(", ".join(f"{self._name(e)}: {p}" for e, p in chosen.items())))
            lines.append("Change with /priority taji-base digest (or immediate, or default).")
            await self.reply(chat, "\n".join(lines))
            return
        *terms, word = args.split()
        if word.casefold() not in _PRIORITY_WORDS or not terms:
            await self.reply(chat, "Say which entities and how: /priority taji-base digest (or immediate, or default).")
            return
        priority = _PRIORITY_WORDS[word.casefold()]
        found, unknown = resolve_entities(" ".join(terms), self.entities)
        lines = []
        if found:
            await asyncio.to_thread(self.store.subscribers.register, chat, user.username)
            await asyncio.to_thread(self.store.preferences.set_priority, chat, found, priority)
            names = html.escape(", ".join(self._name(e) for e in found))
            if priority == "digest":
                lines.append(f"{names}: in the digest at {html.escape(self._digest_times())}.")
            elif priority == "immediate":
                lines.append(f"{names}: alerts at once.")
            else:
                lines.append(f"{names}: as the watchlist says.")
        if unknown:
            lines.append("Not known: " + html.escape(", ".join(unknown)) + ". See /entities.")
        await self.reply(chat, "\n".join(lines))

    async def _quiet(self, chat: str, args: str, user: _User) -> None:
        """/quiet shows; /quiet HH:MM-HH:MM [zone] sets; /quiet off; /quiet urgent ENTITY... | none."""
        if not args:
            await self.reply(chat, await self._quiet_summary(chat))
            return
        head, _, rest = args.partition(" ")
        if head.casefold() == "off":
            moved = await asyncio.to_thread(self.store.preferences.set_quiet, chat, None, None)
            if moved and self.wake_sender is not None:
                self.wake_sender()
            note = f" {moved} held alert(s) go out now." if moved else ""
            await self.reply(chat, f"Quiet hours off.{note}")
            return
        if head.casefold() == "urgent":
            await self._quiet_urgent(chat, rest.strip(), user)
            return
        try:
            window = parse_quiet_hours(args, default_zone=self.settings.config.digest.timezone)
        except ValueError as exc:
            await self.reply(chat, html.escape(str(exc)))
            return
        await asyncio.to_thread(self.store.subscribers.register, chat, user.username)
        held_until = window.held_until(self.store.database.now())
        moved = await asyncio.to_thread(self.store.preferences.set_quiet, chat, window.as_setting(), held_until)
        if moved and held_until is None and self.wake_sender is not None:
            self.wake_sender()  # the new window is not on now: what the old one held goes
        await self.reply(chat, await self._quiet_summary(chat))

    async def _quiet_urgent(self, chat: str, terms: str, user: _User) -> None:
        if not terms:
            await self.reply(chat, "Which entities pass your quiet hours? /quiet urgent kataeb-hezbollah (or /quiet urgent none).")
            return
        found: list[str] = []
        unknown: list[str] = []
        if _norm(terms) not in ("none", "nothing", "off"):
            found, unknown = resolve_entities(terms, self.entities)
            if not found:
                await self.reply(chat, "Not known: " + html.escape(", ".join(unknown) or terms) + ". See /entities.")
                return
        await asyncio.to_thread(self.store.subscribers.register, chat, user.username)
        await asyncio.to_thread(self.store.preferences.set_urgent, chat, found)
        summary = await self._quiet_summary(chat)
        if unknown:
            summary += "\nNot known: " + html.escape(", ".join(unknown)) + "."
        await self.reply(chat, summary)

    async def _quiet_summary(self, chat: str) -> str:
        setting = await asyncio.to_thread(self.store.preferences.quiet, chat)
        urgent = set(await asyncio.to_thread(self.store.preferences.urgent, chat))
        urgent |= {e.id for e in self.settings.watchlist.entities if e.urgent}
        passing = ", ".join(sorted(self._name(e) for e in urgent)) or "none"
        if setting is None:
            return (
                "No quiet hours. Set them with /quiet 22:00-07:00 Asia/Baghdad.\n"
                f"Urgent entities (always at once): {html.escape(passing)}."
            )
        window = QuietHours.from_setting(setting)
        lines = [f"Quiet hours: <b>{html.escape(window.describe())}</b>. Alerts then wait and arrive silently at the end."]
        held_until = window.held_until(self.store.database.now())
        if held_until is not None:
            lines.append(f"Now quiet until {_local(held_until, window.zone)}.")
        lines.append(f"Passing them (urgent): {html.escape(passing)}. Change with /quiet urgent ENTITY..., or /quiet off.")
        return "\n".join(lines)

    async def _report(self, chat: str, args: str, user: _User) -> None:
        """/report: the weekly report's chart and table, for the last 7 days, now."""
        if self.report is None:
            await self.reply(chat, "Reports are not available here.")
            return
        try:
            caption, chart = await self.report()
        except Exception as exc:  # noqa: BLE001 - a failing report must not stop the bot
            log.exception("report_failed", chat=chat, error=str(exc))
            await self.reply(chat, "Sorry, the report could not be made just now.")
            return
        await self.governor.acquire(chat)
        result = await send_photo(self.bot, chat, chart, caption)
        if result.kind == "sent":
            return
        log.warning("report_reply_failed", chat=chat, outcome=result.kind, reason=result.reason)
        if result.chat_gone:
            await asyncio.to_thread(self.store.subscribers.deactivate, chat, result.reason)
        elif result.kind == "retry":
            await self.reply(chat, "Telegram did not take the report just now; please try /report again in a minute.")

    def _username(self) -> str:
        try:
            return self.bot.username or ""
        except RuntimeError:  # getMe never answered: accept any @suffix
            return ""

    def _name(self, entity_id: str) -> str:
        return next((e.name for e in self.entities if e.id == entity_id), entity_id)

    async def reply(self, chat: str, text_html: str) -> None:
        """Answer in the chat, paced by the governor, in parts under Telegram's limit.

        A 429 or an outage is waited out (three tries per part); a user who blocked
        the bot is deactivated; an answer lost in transit is not resent."""
        for part in split_message(text_html, MAX_REPLY):
            for attempt in range(1, 4):
                await self.governor.acquire(chat)
                try:
                    await self.bot.send_message(
                        int(chat), part, parse_mode="HTML", link_preview_options=LinkPreviewOptions(is_disabled=True)
                    )
                    break
                except TelegramError as exc:
                    result = classify(exc)
                if result.chat_gone:
                    await asyncio.to_thread(self.store.subscribers.deactivate, chat, result.reason)
                    return
                log.warning("reply_failed", chat=chat, outcome=result.kind, reason=result.reason, attempt=attempt)
                if result.kind in ("failed", "unknown") or attempt == 3:
                    return
                if result.retry_after is not None:
                    self.governor.pause_chat(chat, result.retry_after)
                else:
                    await asyncio.sleep(backoff(attempt))

