"""People who talk to the bot privately, and the entities each of them follows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from monitor.store.database import Database
from monitor.store.schema import mutes, subscribers, subscriptions

__all__ = ["SubscriberRepository", "Subscription"]

# (active, follows all entities, followed entity ids)
Subscription = tuple[bool, bool, list[str]]


class SubscriberRepository:
    def __init__(self, database: Database):
        self._db = database

    def register(self, chat_id: str, username: str | None) -> bool:
        """Create or re-activate a subscriber (a user who blocked and came back). True if new."""
        with self._db.write() as conn:
            row = conn.execute(select(subscribers.c.chat_id).where(subscribers.c.chat_id == chat_id)).first()
            if row is None:
                try:
                    conn.execute(
                        subscribers.insert().values(
                            chat_id=chat_id, username=username, active=True, all_entities=False, created_at=self._db.now()
                        )
                    )
                    return True
                except IntegrityError:
                    pass
            conn.execute(
                update(subscribers)
                .where(subscribers.c.chat_id == chat_id)
                .values(active=True, deactivated_reason=None, **({"username": username} if username else {}))
            )
            return False

    def subscribe(self, chat_id: str, entity_ids: Iterable[str] = (), *, all_entities: bool = False) -> None:
        with self._db.write() as conn:
            if all_entities:
                conn.execute(update(subscribers).where(subscribers.c.chat_id == chat_id).values(all_entities=True))
            have = {r[0] for r in conn.execute(select(subscriptions.c.entity_id).where(subscriptions.c.chat_id == chat_id))}
            new = [e for e in dict.fromkeys(entity_ids) if e not in have]
            if new:
                conn.execute(subscriptions.insert(), [{"chat_id": chat_id, "entity_id": e} for e in new])

    def unsubscribe(self, chat_id: str, entity_ids: Iterable[str] | None = None) -> None:
        """Stop following these entities; None: stop following everything."""
        with self._db.write() as conn:
            query = subscriptions.delete().where(subscriptions.c.chat_id == chat_id)
            if entity_ids is None:
                conn.execute(update(subscribers).where(subscribers.c.chat_id == chat_id).values(all_entities=False))
            else:
                query = query.where(subscriptions.c.entity_id.in_(list(entity_ids)))
            conn.execute(query)

    def subscription(self, chat_id: str) -> Subscription | None:
        """(active, all entities, followed entity ids) of a subscriber, or None if unknown."""
        with self._db.read() as conn:
            row = conn.execute(
                select(subscribers.c.active, subscribers.c.all_entities).where(subscribers.c.chat_id == chat_id)
            ).first()
            if row is None:
                return None
            followed = [
                r[0]
                for r in conn.execute(
                    select(subscriptions.c.entity_id).where(subscriptions.c.chat_id == chat_id).order_by(subscriptions.c.entity_id)
                )
            ]
        return bool(row[0]), bool(row[1]), followed

    def deactivate(self, chat_id: str, reason: str) -> bool:
        """A user who blocked the bot gets no more alerts (until they /start again)."""
        with self._db.write() as conn:
            return (
                conn.execute(
                    update(subscribers)
                    .where(subscribers.c.chat_id == chat_id, subscribers.c.active.is_(True))
                    .values(active=False, deactivated_reason=reason[:2000])
                ).rowcount
                == 1
            )

    def recipients(self, entity_ids: Sequence[str]) -> dict[str, list[str]]:
        """Who gets an alert about an item matching `entity_ids`: chat id -> the ones of
        those entities the active subscriber follows and has not muted (a reader's
        "mute for a day", monitor.store.feedback), in the order given. A chat left with
        none is not listed: an alert matching a muted entity still goes when it also
        matches another followed, unmuted one."""
        wanted = list(dict.fromkeys(entity_ids))
        if not wanted:
            return {}
        now = self._db.now()
        with self._db.read() as conn:
            chats = conn.execute(
                select(subscribers.c.chat_id, subscribers.c.all_entities)
                .where(
                    subscribers.c.active.is_(True),
                    or_(
                        subscribers.c.all_entities.is_(True),
                        select(subscriptions.c.entity_id)
                        .where(subscriptions.c.chat_id == subscribers.c.chat_id, subscriptions.c.entity_id.in_(wanted))
                        .exists(),
                    ),
                )
                .order_by(subscribers.c.chat_id)
            ).all()
            followed: dict[str, set[str]] = {}
            for chat, entity in conn.execute(
                select(subscriptions.c.chat_id, subscriptions.c.entity_id).where(subscriptions.c.entity_id.in_(wanted))
            ):
                followed.setdefault(chat, set()).add(entity)
            muted: dict[str, set[str]] = {}
            for chat, entity in conn.execute(
                select(mutes.c.chat_id, mutes.c.entity_id).where(mutes.c.entity_id.in_(wanted), mutes.c.until > now)
            ):
                muted.setdefault(chat, set()).add(entity)
        found: dict[str, list[str]] = {}
        for chat, everything in chats:
            mine = [
                e for e in wanted if (everything or e in followed.get(chat, ())) and e not in muted.get(chat, ())
            ]
            if mine:
                found[chat] = mine
        return found
