"""Digest items: alerts collected for a chat's next digest (alerts rows in status
'digest', written in their item's transaction) and turning them into that digest.

A digest is built in ONE transaction per chat: the collected rows are read, the
digest's messages composed, and the rows change state together, guarded by their
status: the first rows (by id, so the parts keep their order in the outbox) carry
the digest's messages and become 'queued'; the others become 'digested'. So each
collected item is listed in exactly one digest, the digest exists iff its items are
marked, and a second builder (another instance, a restart) finds nothing left.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from monitor.store.database import Database
from monitor.store.schema import alerts, items, matches, subscribers, subscriptions

__all__ = ["DigestEntry", "DigestRepository", "DigestPart"]


@dataclass(frozen=True)
class DigestEntry:
    """One collected item of a chat's digest, under the entity it is listed by."""

    item_id: int
    title: str
    url: str
    entity_id: str
    entity_name: str


@dataclass(frozen=True)
class DigestPart:
    text_html: str
    text_plain: str


# The digest's messages from its entries (in the order collected); [] sends nothing.
ComposeDigest = Callable[[list[DigestEntry]], Sequence[DigestPart]]


class _Raced(Exception):
    """Another builder took some of the rows first: this transaction is rolled back."""


class DigestRepository:
    def __init__(self, database: Database):
        self._db = database

    def chats_waiting(self, collected_before: datetime) -> list[str]:
        """Chats with items collected before `collected_before` and not yet in a digest."""
        with self._db.read() as conn:
            return [
                r[0]
                for r in conn.execute(
                    select(alerts.c.chat_id)
                    .where(alerts.c.status == "digest", alerts.c.created_at < collected_before)
                    .group_by(alerts.c.chat_id)
                    .order_by(func.min(alerts.c.id))
                )
            ]

    def waiting(self) -> int:
        """Items collected for digests, all chats."""
        with self._db.read() as conn:
            return int(conn.execute(select(func.count()).where(alerts.c.status == "digest")).scalar() or 0)

    def build(
        self,
        chat_id: str,
        collected_before: datetime,
        compose: ComposeDigest,
        *,
        not_before: datetime | None = None,
    ) -> int:
        """Turn the chat's items collected before `collected_before` into its digest's
        messages (queued, silent, held until `not_before` if given), in one transaction.
        Returns the number of messages queued (0: nothing was collected, or another
        builder took it)."""
        now = self._db.now()
        try:
            with self._db.write() as conn:
                entries, row_of = self._entries(conn, chat_id, collected_before)
                if not entries:
                    return 0
                parts = list(compose(entries))
                rows = sorted(row_of.values())
                if len(parts) > len(rows):
                    raise ValueError(f"a digest of {len(rows)} items cannot take {len(parts)} messages")
                for row_id, part in zip(rows, parts, strict=False):
                    changed = conn.execute(
                        update(alerts)
                        .where(alerts.c.id == row_id, alerts.c.status == "digest")
                        .values(
                            status="queued", text_html=part.text_html, text_plain=part.text_plain, silent=True,
                            edit_status="not_story",  # a digest, not its item's story: never rendered with it nor edited
                            created_at=now, next_attempt_at=max(not_before, now) if not_before else now, error=None,
                        )
                    ).rowcount
                    if changed != 1:
                        raise _Raced
                rest = rows[len(parts) :]
                if rest:
                    changed = conn.execute(
                        update(alerts).where(alerts.c.id.in_(rest), alerts.c.status == "digest").values(status="digested")
                    ).rowcount
                    if changed != len(rest):
                        raise _Raced
                return len(parts)
        except _Raced:
            return 0

    def _entries(self, conn, chat_id: str, collected_before: datetime) -> tuple[list[DigestEntry], dict[int, int]]:
        """The collected entries, oldest first, each under the entity it names first
        among those the chat follows; and the alert row of each item."""
        followed: set[str] | None = None
        row = conn.execute(select(subscribers.c.all_entities).where(subscribers.c.chat_id == chat_id)).first()
        if row is not None and not row[0]:  # a subscriber following some entities (the channel: all)
            followed = {r[0] for r in conn.execute(select(subscriptions.c.entity_id).where(subscriptions.c.chat_id == chat_id))}
        query = (
            select(
                alerts.c.id, alerts.c.item_id, items.c.title, items.c.url,
                matches.c.entity_id, matches.c.entity_name, matches.c.mention_start,
            )
            .join(items, items.c.id == alerts.c.item_id)
            .join(matches, matches.c.item_id == alerts.c.item_id, isouter=True)
            .where(alerts.c.chat_id == chat_id, alerts.c.status == "digest", alerts.c.created_at < collected_before)
            .order_by(alerts.c.id, matches.c.mention_start, matches.c.id)
        )
        chosen: dict[int, DigestEntry] = {}
        row_of: dict[int, int] = {}
        for alert_id, item_id, title, url, entity_id, entity_name, _start in conn.execute(query):
            row_of[item_id] = alert_id
            current = chosen.get(item_id)
            relevant = entity_id is not None and (followed is None or entity_id in followed)
            if current is None or (relevant and current.entity_id not in (followed or {current.entity_id})):
                chosen[item_id] = DigestEntry(item_id, title or "", url or "", entity_id or "", entity_name or "")
        entries = sorted(chosen.values(), key=lambda e: row_of[e.item_id])
        return entries, row_of
