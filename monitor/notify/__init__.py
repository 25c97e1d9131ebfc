"""Alert delivery: formatting (pure), the outbox sender, Telegram, the subscriber bot, the console.

Modules, from pure to wired:

* `format`     alert text for Telegram HTML and plain text; long messages cut safely
* `ratelimit`  Telegram's limits as a rate governor, and the one backoff
* `telegram`   python-telegram-bot wiring and what each Bot API answer means
* `outbox`     the sender that drains the alerts table exactly once
* `commands`   /subscribe and friends, by long polling
* `console`    the sink without a token
* `delivery`   what the service drives (`build_delivery`)
* `priority`   where one chat's alert goes: now, held by quiet hours, or the digest (pure)
* `quiet`      quiet hours: parsing, when a held alert may go (pure)
* `digest`     when digests are due and their text (pure)
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
from monitor.notify.digest import format_digest, latest_slot
from monitor.notify.priority import EntityRule, Route, entity_rules, route
from monitor.notify.quiet import QuietHours, parse_quiet_hours
from monitor.notify.telegram import Reachability

__all__ = [
    "CONSOLE_CHAT",
    "AlertContent",
    "BurstItem",
    "Delivery",
    "EntityRule",
    "QuietHours",
    "Reachability",
    "Route",
    "SummaryPart",
    "TelegramDelivery",
    "build_delivery",
    "entity_rules",
    "format_alert_html",
    "format_alert_plain",
    "format_burst_summary",
    "format_digest",
    "latest_slot",
    "parse_quiet_hours",
    "route",
    "snippet_around",
    "split_message",
]
