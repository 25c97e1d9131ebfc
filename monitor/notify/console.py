"""The console sink: with no Telegram token, alerts are printed instead of sent.

It drains the same outbox as the Telegram sender, so switching a token on
later changes where alerts go, not how they are recorded.
"""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from monitor.store import Store

CONSOLE_CHAT = "console"


def deliver_to_console(store: Store, console: Console | None = None, limit: int = 1000) -> int:
    """Print every due console alert, oldest first; returns how many were printed."""
    printed = 0
    for alert in store.outbox.due(limit, chats=[CONSOLE_CHAT]):
        # Built only when there is something to print: the service calls this every second.
        console = console or Console()
        # Printed before marked: a crash in between re-prints, which is harmless on a terminal.
        console.print(Panel(Text(alert.text_plain), title="alert", title_align="left", expand=False))
        store.outbox.mark_delivered_locally(alert.id)
        printed += 1
    return printed
