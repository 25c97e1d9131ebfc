"""What each subscriber chose about delivery: priorities per entity, quiet hours, and the
entities that pass them. Read in bulk when alerts are queued (`for_chats`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update

from monitor.store.database import Database
from monitor.store.schema import alerts, entity_priorities, quiet_hours, subscribers, subscriptions, urgent_entities

__all__ = ["ChatPreferences", "PreferenceRepository", "QuietSetting"]


@dataclass(frozen=True)
class QuietSetting:
    """Quiet hours as stored: local wall-clock times and an IANA zone name."""

    start: str  # HH:MM
    end: str  # HH:MM
    timezone: str


@dataclass(frozen=True)
class ChatPreferences:
    """One subscriber's delivery choices, as the pipeline needs them."""

    followed: frozenset[str] | None = None  # None: every entity
    priorities: dict[str, str] = field(default_factory=dict)  # entity id -> immediate | digest
    quiet: QuietSetting | None = None
    urgent: frozenset[str] = frozenset()


class PreferenceRepository:
    def __init__(self, database: Database):
        self._db = database

    # -- priorities ----------------------------------------------------------

    def set_priority(self, chat_id: str, entity_ids: Iterable[str], priority: str | None) -> None:
        """This subscriber's priority for these entities; None: back to the watchlist's."""
        wanted = list(dict.fromkeys(entity_ids))
        with self._db.write() as conn:
            conn.execute(
                entity_priorities.delete().where(
                    entity_priorities.c.chat_id == chat_id, entity_priorities.c.entity_id.in_(wanted)
                )
            )
            if priority is not None and wanted:
                conn.execute(
                    entity_priorities.insert(), [{"chat_id": chat_id, "entity_id": e, "priority": priority} for e in wanted]
                )

    def priorities(self, chat_id: str) -> dict[str, str]:
        with self._db.read() as conn:
            rows = conn.execute(
                select(entity_priorities.c.entity_id, entity_priorities.c.priority)
                .where(entity_priorities.c.chat_id == chat_id)
                .order_by(entity_priorities.c.entity_id)
            ).all()
        return {entity_id: priority for entity_id, priority in rows}

    # -- quiet hours ---------------------------------------------------------

    def set_quiet(self, chat_id: str, setting: QuietSetting | None, held_until: datetime | None) -> int:
        """Set (None: clear) quiet hours, and move the alerts they hold to the new
        window's end (`held_until`; None: release them now), in one transaction.
        Returns how many held alerts moved."""
        now = self._db.now()
        with self._db.write() as conn:
            conn.execute(quiet_hours.delete().where(quiet_hours.c.chat_id == chat_id))
            if setting is not None:
                conn.execute(
                    quiet_hours.insert().values(
                        chat_id=chat_id, start_at=setting.start, end_at=setting.end, timezone=setting.timezone
                    )
                )
            return conn.execute(
                update(alerts)
                .where(alerts.c.chat_id == chat_id, alerts.c.status == "queued", alerts.c.next_attempt_at > now)
                .values(next_attempt_at=held_until or now)
            ).rowcount

    def quiet(self, chat_id: str) -> QuietSetting | None:
        with self._db.read() as conn:
            row = conn.execute(
                select(quiet_hours.c.start_at, quiet_hours.c.end_at, quiet_hours.c.timezone).where(
                    quiet_hours.c.chat_id == chat_id
                )
            ).first()
        return QuietSetting(*row) if row is not None else None

    def set_urgent(self, chat_id: str, entity_ids: Sequence[str]) -> None:
        """The entities whose alerts pass this subscriber's quiet hours (replaces the list)."""
        with self._db.write() as conn:
            conn.execute(urgent_entities.delete().where(urgent_entities.c.chat_id == chat_id))
            if entity_ids:
                conn.execute(urgent_entities.insert(), [{"chat_id": chat_id, "entity_id": e} for e in dict.fromkeys(entity_ids)])

    def urgent(self, chat_id: str) -> list[str]:
        with self._db.read() as conn:
            return [
                r[0]
                for r in conn.execute(
                    select(urgent_entities.c.entity_id)
                    .where(urgent_entities.c.chat_id == chat_id)
                    .order_by(urgent_entities.c.entity_id)
                )
            ]

    # -- what the pipeline reads -----------------------------------------------

    def for_chats(self, chat_ids: Sequence[str]) -> dict[str, ChatPreferences]:
        """Delivery choices of these subscribers, a few queries for all of them."""
        chats = list(chat_ids)
        if not chats:
            return {}
        with self._db.read() as conn:
            everything = {
                chat: bool(all_entities)
                for chat, all_entities in conn.execute(
                    select(subscribers.c.chat_id, subscribers.c.all_entities).where(subscribers.c.chat_id.in_(chats))
                )
            }
            followed: dict[str, set[str]] = {}
            for chat, entity_id in conn.execute(
                select(subscriptions.c.chat_id, subscriptions.c.entity_id).where(subscriptions.c.chat_id.in_(chats))
            ):
                followed.setdefault(chat, set()).add(entity_id)
            priorities: dict[str, dict[str, str]] = {}
            for chat, entity_id, priority in conn.execute(
                select(entity_priorities.c.chat_id, entity_priorities.c.entity_id, entity_priorities.c.priority).where(
                    entity_priorities.c.chat_id.in_(chats)
                )
            ):
                priorities.setdefault(chat, {})[entity_id] = priority
            quiet = {
                chat: QuietSetting(start, end, zone)
                for chat, start, end, zone in conn.execute(
                    select(quiet_hours.c.chat_id, quiet_hours.c.start_at, quiet_hours.c.end_at, quiet_hours.c.timezone).where(
                        quiet_hours.c.chat_id.in_(chats)
                    )
                )
            }
            urgent: dict[str, set[str]] = {}
            for chat, entity_id in conn.execute(
                select(urgent_entities.c.chat_id, urgent_entities.c.entity_id).where(urgent_entities.c.chat_id.in_(chats))
            ):
                urgent.setdefault(chat, set()).add(entity_id)
        return {
            chat: ChatPreferences(
                followed=None if everything.get(chat, False) else frozenset(followed.get(chat, ())),
                priorities=priorities.get(chat, {}),
                quiet=quiet.get(chat),
                urgent=frozenset(urgent.get(chat, ())),
            )
            for chat in chats
        }
