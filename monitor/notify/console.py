"""The console sink: with no Telegram token, alerts are printed instead of sent.

It drains the same outbox as the Telegram sender, so switching a token on
later changes where alerts go, not how they are recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import html
import re

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from monitor.config import Settings
from monitor.notify.story_message import read_story, story_texts
from monitor.notify.telegram import SendResult
from monitor.ops import metrics
from monitor.store import Store

__all__ = ["CONSOLE_CHAT", "ConsoleDelivery", "deliver_to_console"]

CONSOLE_CHAT = "console"


def deliver_to_console(store: Store, console: Console | None = None, limit: int = 1000) -> int:
    """Print every due console alert, oldest first, then the story alerts whose story
    grew since they were printed (a terminal cannot edit: the message is printed again,
    as it now stands); returns how many alerts were printed."""
    printed = 0
    for alert in store.outbox.due(limit, chats=[CONSOLE_CHAT]):
        text, revision = alert.text_plain, None
        if alert.story_id is not None:  # the story may have grown while it waited
            story, names = read_story(store, alert.story_id)
            if story is not None:
                text, revision = story_texts(story, names, alert.item_id, alert.text_html, alert.text_plain)[1], story.revision
        # Built only when there is something to print.
        console = console or Console()
        # Printed before marked: a crash in between re-prints, which is harmless on a terminal.
        console.print(Panel(Text(text), title="alert", title_align="left", expand=False))
        store.outbox.mark_delivered_locally(alert.id, revision)
        metrics.ALERTS_SENT.inc()
        metrics.observe_publish_to_alert(alert.published_at)
        printed += 1
    for update in store.outbox.local_story_updates(CONSOLE_CHAT, limit):
        story, names = read_story(store, update.story_id)
        if story is None:
            continue
        console = console or Console()
        text = story_texts(story, names, update.item_id, update.text_html, update.text_plain)[1]
        console.print(Panel(Text(text), title=f"story {update.story_id} grew", title_align="left", expand=False))
        store.outbox.mark_shown_locally(update.id, story.revision)
    return printed


class ConsoleDelivery:
    """No token: alerts are printed (same outbox, same bookkeeping)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.delivered = 0  # alerts printed by this process
        self._may_send: Callable[[], bool] | None = None

    async def start(self, *, commands: bool = True) -> None:
        return None

    def coordinate(self, may_send: Callable[[], bool]) -> None:
        """Several instances: only the elected one prints (one terminal shows each alert)."""
        self._may_send = may_send

    async def become_sender(self, *, commands: bool = True) -> None:
        return None

    async def stop_sending(self) -> None:
        return None

    def reconfigure(self, settings: Settings) -> None:
        return None  # the console has nothing configurable

    async def deliver_due(self) -> int:
        if self._may_send is not None and not self._may_send():
            return 0
        printed = await asyncio.to_thread(deliver_to_console, self.store)
        self.delivered += printed
        return printed

    async def drain(self, timeout: float | None = None) -> int:
        return await self.deliver_due()

    async def stop(self) -> None:
        return None

    async def send_photo(self, chat_id: str, photo: bytes, caption_html: str, *, silent: bool = False) -> SendResult:
        """A report without Telegram: its caption is printed (the chart is not)."""
        caption = html.unescape(re.sub(r"<[^<>]*>", "", caption_html))
        Console().print(Panel(Text(caption), title="report (chart not shown on the console)", title_align="left", expand=False))
        return SendResult("sent")

    async def notify_admins(self, text: str) -> None:
        return None  # no Telegram: the service's log line is the notice

    async def telegram_health(self) -> None:
        return None  # Telegram is not configured
