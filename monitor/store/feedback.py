"""Readers' feedback on their alerts, and the mutes it sets.

A subscriber's alert carries three buttons (monitor.notify.telegram): relevant, not
relevant, mute this entity for a day. A press is stored here with what the alert was
about (its entity, and the alias and rule of that entity's first mention in the item),
one current choice per (alert, chat): a second press replaces the first. A mute keeps
that entity's alerts from that chat until its end time (the pipeline asks
`SubscriberRepository.recipients`, which honours it); it expires by itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from sqlalchemy import Connection, delete, select, update

from monitor.store.database import Database, aware
from monitor.store.schema import alerts, feedback, matches, mutes

__all__ = ["CHOICES", "MUTE_FOR", "Choice", "FeedbackRepository", "Press"]

Choice = Literal["relevant", "not_relevant", "mute"]
CHOICES: tuple[Choice, ...] = get_args(Choice)
MUTE_FOR = timedelta(days=1)


@dataclass(frozen=True)
class Press:
    """A stored press: what it was about and what it changed."""

    alert_id: int
    chat_id: str
    choice: Choice
    entity_id: str
    alias: str | None
    rule: str | None
    previous: Choice | None  # the choice it replaced (None: the first press)
    muted_until: datetime | None  # set by a mute press


class FeedbackRepository:
    def __init__(self, database: Database):
        self._db = database

    def record(self, alert_id: int, chat_id: str, choice: Choice, *, mute_for: timedelta = MUTE_FOR) -> Press | None:
        """Store a press on alert `alert_id` in `chat_id`, in one transaction.

        None, and nothing written, when there is no such alert with buttons in that
        chat (deleted, never had buttons, or a press from another chat). A mute press
        mutes the alert's entity for `mute_for`; a later other choice on the same
        alert lifts that mute again (the press it replaces is undone)."""
        if choice not in CHOICES:
            raise ValueError(f"unknown feedback choice {choice!r}")
        now = self._db.now()
        with self._db.write() as conn:
            alert = conn.execute(
                select(alerts.c.item_id, alerts.c.feedback_entity).where(alerts.c.id == alert_id, alerts.c.chat_id == chat_id)
            ).first()
            if alert is None or alert.feedback_entity is None:
                return None
            entity = alert.feedback_entity
            mention = conn.execute(
                select(matches.c.alias, matches.c.rule, matches.c.mention_start, matches.c.mention_end)
                .where(matches.c.item_id == alert.item_id, matches.c.entity_id == entity)
                .order_by(matches.c.mention_start, matches.c.id)
                .limit(1)
            ).first()
            values = {
                "item_id": alert.item_id,
                "choice": choice,
                "entity_id": entity,
                "alias": mention.alias if mention else None,
                "rule": mention.rule if mention else None,
                "mention_start": mention.mention_start if mention else None,
                "mention_end": mention.mention_end if mention else None,
                "pressed_at": now,
            }
            previous = conn.execute(
                select(feedback.c.choice).where(feedback.c.alert_id == alert_id, feedback.c.chat_id == chat_id)
            ).scalar()
            if previous is None:
                conn.execute(feedback.insert().values(alert_id=alert_id, chat_id=chat_id, **values))
            else:
                conn.execute(
                    update(feedback).where(feedback.c.alert_id == alert_id, feedback.c.chat_id == chat_id).values(**values)
                )
            muted_until = None
            if choice == "mute":
                muted_until = now + mute_for
                self._mute(conn, chat_id, entity, muted_until, now)
            elif previous == "mute":
                conn.execute(delete(mutes).where(mutes.c.chat_id == chat_id, mutes.c.entity_id == entity))
        return Press(alert_id, chat_id, choice, entity, values["alias"], values["rule"], previous, muted_until)

    def choice(self, alert_id: int, chat_id: str) -> Choice | None:
        """The current choice on an alert in a chat, if any."""
        with self._db.read() as conn:
            return conn.execute(
                select(feedback.c.choice).where(feedback.c.alert_id == alert_id, feedback.c.chat_id == chat_id)
            ).scalar()

    def mute(self, chat_id: str, entity_id: str, until: datetime) -> None:
        with self._db.write() as conn:
            self._mute(conn, chat_id, entity_id, until, self._db.now())

    def _mute(self, conn: Connection, chat_id: str, entity_id: str, until: datetime, now: datetime) -> None:
        where = (mutes.c.chat_id == chat_id, mutes.c.entity_id == entity_id)
        if conn.execute(update(mutes).where(*where).values(until=until, created_at=now)).rowcount == 0:
            conn.execute(mutes.insert().values(chat_id=chat_id, entity_id=entity_id, until=until, created_at=now))

    def mutes(self, chat_id: str) -> list[tuple[str, datetime]]:
        """A chat's mutes still in force: (entity id, until), soonest end first."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(mutes.c.entity_id, mutes.c.until)
                .where(mutes.c.chat_id == chat_id, mutes.c.until > self._db.now())
                .order_by(mutes.c.until, mutes.c.entity_id)
            ).all()
        return [(entity, aware(until)) for entity, until in rows]

    def unmute(self, chat_id: str, entity_ids: Iterable[str] | None = None) -> list[str]:
        """Lift a chat's mutes (of these entities; None: all) before they end; returns
        the entity ids whose mute was still in force. Expired rows go too."""
        lifted = [entity for entity, _ in self.mutes(chat_id)]
        query = delete(mutes).where(mutes.c.chat_id == chat_id)
        if entity_ids is not None:
            wanted = list(entity_ids)
            query = query.where(mutes.c.entity_id.in_(wanted))
            lifted = [e for e in lifted if e in wanted]
        with self._db.write() as conn:
            conn.execute(query)
        return lifted
