"""Retention: deleting what the database no longer needs, a batch at a time.

* Unmatched items keep only their identity (GUID, URLs), which dedup needs as long as a
  feed may list the entry: an identity forgotten too early makes the entry "new" again
  at the next poll. So an unmatched item is deleted only when no feed has listed it
  since the cut-off (items.last_listed_at) AND its own feed's latest content no longer
  holds it (last_listed_at older than feeds.listed_since, the time from which every
  entry of that content was marked listed). A feed that stopped changing (304 for
  months) or broke keeps the identities of its last content.
* Finished alerts (sent, failed, unknown; never queued or sending) are deleted with
  their delivery attempts once their last send was planned before the cut-off
  (alerts.next_attempt_at, which is never earlier than their creation) and their
  message was not edited since (a story's message is edited by its later reports)
  nor is being edited.
* Matched items, their matches and everything about feeds and subscribers stay.

Each batch is a read (which rows) and one short write that deletes them, re-checking
the conditions, so a poll never waits long for the write lock and a row that changed
in between (an entry listed again, an alert requeued) is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, exists, or_, select

from monitor.store.database import Database
from monitor.store.schema import alerts, delivery_attempts, feeds, items, matches

__all__ = ["FINISHED_ALERTS", "RetentionRepository"]

# Alert statuses that will never change again (store/outbox.py).
FINISHED_ALERTS = ("sent", "failed", "unknown")


class RetentionRepository:
    def __init__(self, database: Database):
        self._db = database

    def prune_unmatched_items(self, listed_before: datetime, limit: int) -> int:
        """Delete up to `limit` unmatched items that no feed listed since `listed_before`
        and that their feed's latest content no longer holds; returns how many."""
        conditions = _prunable_items(listed_before)
        with self._db.read() as conn:
            ids = list(conn.execute(select(items.c.id).where(*conditions).limit(limit)).scalars())
        if not ids:
            return 0
        with self._db.write() as conn:
            return int(conn.execute(delete(items).where(items.c.id.in_(ids), *conditions)).rowcount)

    def prune_finished_alerts(self, finished_before: datetime, limit: int) -> tuple[int, int]:
        """Delete up to `limit` finished alerts last planned before `finished_before`, with
        their delivery attempts; returns (alerts, attempts) deleted."""
        conditions = (
            alerts.c.status.in_(FINISHED_ALERTS),
            alerts.c.next_attempt_at < finished_before,
            # A story's message edited lately is still in use (its later reports edit it).
            or_(alerts.c.last_edited_at.is_(None), alerts.c.last_edited_at < finished_before),
            or_(alerts.c.edit_status.is_(None), alerts.c.edit_status != "editing"),
        )
        with self._db.read() as conn:
            ids: Sequence[int] = list(conn.execute(select(alerts.c.id).where(*conditions).limit(limit)).scalars())
        if not ids:
            return 0, 0
        with self._db.write() as conn:
            # Only the alerts still finished (re-checked under the lock) lose their attempts.
            still = list(conn.execute(select(alerts.c.id).where(alerts.c.id.in_(ids), *conditions)).scalars())
            if not still:
                return 0, 0
            attempts = conn.execute(delete(delivery_attempts).where(delivery_attempts.c.alert_id.in_(still))).rowcount
            deleted = conn.execute(delete(alerts).where(alerts.c.id.in_(still))).rowcount
        return int(deleted), int(attempts)


def _prunable_items(listed_before: datetime) -> tuple:
    # body = '' first: unmatched items keep no text, and the partial index
    # ix_items_unmatched_listed (schema v10) covers exactly those.
    feed_listed_since = select(feeds.c.listed_since).where(feeds.c.id == items.c.feed_id).scalar_subquery()
    return (
        items.c.body == "",
        items.c.last_listed_at < listed_before,
        items.c.last_listed_at < feed_listed_since,
        ~exists().where(matches.c.item_id == items.c.id),
        ~exists().where(alerts.c.item_id == items.c.id),
    )
