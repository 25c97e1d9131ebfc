"""Where an alert for one chat goes (pure): out now, held by quiet hours, or into the
digest; decided when the alert is queued, in its item's transaction.

For one chat, only the matched entities it follows count (the channel follows all):
* the alert is immediate when at least one of them is immediate for this chat (the
  subscriber's /priority choice, else the watchlist's `priority`); otherwise it is
  collected for the chat's digest;
* an immediate alert inside the chat's quiet hours waits in the outbox until the
  window ends and then goes silently, unless one of those immediate entities is
  urgent (the watchlist's `urgent: true`, or the subscriber's /quiet urgent list).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from monitor.config import Watchlist
from monitor.notify.quiet import QuietHours
from monitor.store import ChatPreferences

__all__ = ["EntityRule", "Route", "entity_rules", "route"]

Priority = Literal["immediate", "digest"]


@dataclass(frozen=True)
class EntityRule:
    priority: Priority = "immediate"
    urgent: bool = False


@dataclass(frozen=True)
class Route:
    kind: Literal["alert", "digest"]
    not_before: datetime | None = None  # held by quiet hours until then
    silent: bool = False


def entity_rules(watchlist: Watchlist) -> dict[str, EntityRule]:
    """The watchlist's delivery rules by entity id (entities left out are immediate)."""
    return {e.id: EntityRule(e.priority, e.urgent) for e in watchlist.entities if e.priority != "immediate" or e.urgent}


def route(
    entity_ids: Sequence[str], rules: Mapping[str, EntityRule], prefs: ChatPreferences | None, now: datetime
) -> Route:
    """Where the alert about an item naming `entity_ids` goes for one chat; `prefs` is
    None for the channel (no choices of its own)."""
    relevant = list(entity_ids)
    if prefs is not None and prefs.followed is not None:
        relevant = [e for e in entity_ids if e in prefs.followed] or relevant
    chosen = prefs.priorities if prefs is not None else {}
    immediate = [e for e in relevant if chosen.get(e, rules.get(e, EntityRule()).priority) == "immediate"]
    if not immediate:
        return Route("digest")
    if prefs is None or prefs.quiet is None:
        return Route("alert")
    if any(rules.get(e, EntityRule()).urgent or e in prefs.urgent for e in immediate):
        return Route("alert")
    try:
        held_until = QuietHours.from_setting(prefs.quiet).held_until(now)
    except (ValueError, KeyError):  # a stored zone this system no longer knows: never hold an alert forever
        return Route("alert")
    if held_until is None:
        return Route("alert")
    return Route("alert", not_before=held_until, silent=True)
