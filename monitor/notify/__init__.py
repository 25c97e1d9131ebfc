"""Alert delivery: formatting (pure), the outbox sender, Telegram, the subscriber bot, the console.

Modules, from pure to wired:

* `format`     alert text for Telegram HTML and plain text; long messages cut safely
* `ratelimit`  Telegram's limits as a rate governor, and the one backoff
* `telegram`   python-telegram-bot wiring and what each Bot API answer means
* `outbox`     the sender that drains the alerts table exactly once
* `commands`   /subscribe and friends, by long polling
* `console`    the sink without a token
* `delivery`   what the service drives (`build_delivery`)
"""

from monitor.notify.console import CONSOLE_CHAT
from monitor.notify.delivery import Delivery, TelegramDelivery, build_delivery
from monitor.notify.format import (
    AlertContent,
    BurstItem,
    SummaryPart,
    format_alert_html,
    format_alert_plain,
    format_burst_summary,
    snippet_around,
    split_message,
)
from monitor.notify.telegram import Reachability

__all__ = [
    "CONSOLE_CHAT",
    "AlertContent",
    "BurstItem",
    "Delivery",
    "Reachability",
    "SummaryPart",
    "TelegramDelivery",
    "build_delivery",
    "format_alert_html",
    "format_alert_plain",
    "format_burst_summary",
    "snippet_around",
    "split_message",
]
