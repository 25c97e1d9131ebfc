"""The outbox: alerts waiting to be delivered and the record of every send attempt.

An alert goes queued -> sending (committed, with an open delivery_attempts row,
BEFORE the Bot API call) -> sent | queued (retry) | failed | unknown. Every
change is guarded by the statuses it may start from (`WHERE status IN (...)`):
outcomes are written only while the row is 'sending' (or 'unknown', which a
restarted instance may have stamped on a send another live instance is still
finishing), so a stale writer can never resurrect a finished alert. A sink that
cannot lose an answer (the console) goes straight from queued to sent.

A sent alert of a story is edited when the story grows (`shown_revision` below the
story's revision). Its edit state is a second, smaller machine beside `status`:
NULL --claim_edit (committed BEFORE the call)--> editing --> NULL (done, or to be
tried again) | gone (message deleted) | failed (refused); a digest's message is
'not_story' from the start (never rendered with its first item's story nor edited). An edit is idempotent by
content, so an edit left 'editing' by a stopped process simply goes back to NULL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from monitor.store.database import Database, aware, inserted_id
from monitor.store.schema import alerts, delivery_attempts, items, matches, stories

__all__ = ["EDIT_WINDOW", "EditRow", "OutboxRepository", "OutboxRow"]

# A story message sent longer ago than this is no longer edited: its story closed
# long before (stories take articles for at most `stories.max_story_age`, 72 h by
# default), and the bound keeps the due-edits query on recent rows.
EDIT_WINDOW = timedelta(days=7)

# Statuses an outcome may be written over (see the module docstring).
_IN_FLIGHT = ("sending", "unknown")
_WAITING = ("queued", "sending")


@dataclass(frozen=True)
class OutboxRow:
    id: int
    item_id: int
    chat_id: str
    text_html: str
    text_plain: str
    status: str
    attempts: int
    created_at: datetime
    published_at: datetime | None = None  # the item's, for the publish-to-alert latency
    silent: bool = False  # send with disable_notification (digests, alerts held by quiet hours)
    feedback_entity: str | None = None  # set: the message carries the feedback buttons about this entity
    story_id: int | None = None  # the item's story: the text is rendered with it at send time


@dataclass(frozen=True)
class EditRow:
    """A sent message of a story that shows an older revision than the story has."""

    id: int  # the alert
    item_id: int
    chat_id: str
    message_id: int
    story_id: int
    text_html: str  # the alert as first rendered (the story's lines are added to it)
    text_plain: str
    shown_revision: int
    revision: int  # the story's, when read
    feedback_entity: str | None = None  # the message's feedback buttons, kept by the edit


class OutboxRepository:
    def __init__(self, database: Database):
        self._db = database

    def due(self, limit: int = 200, *, chats: Iterable[str] | None = None, exclude_chats: Iterable[str] = ()) -> list[OutboxRow]:
        """Queued alerts whose time has come, oldest first: to `chats` only when given,
        never to `exclude_chats`."""
        query = (
            select(alerts, items.c.published_at, items.c.story_id)
            .join(items, items.c.id == alerts.c.item_id)
            .where(alerts.c.status == "queued", alerts.c.next_attempt_at <= self._db.now())
        )
        if chats is not None:
            query = query.where(alerts.c.chat_id.in_(list(chats)))
        excluded = list(exclude_chats)
        if excluded:
            query = query.where(alerts.c.chat_id.not_in(excluded))
        with self._db.read() as conn:
            rows = conn.execute(query.order_by(alerts.c.id).limit(limit)).mappings().all()
        return [
            OutboxRow(
                r["id"], r["item_id"], r["chat_id"], r["text_html"], r["text_plain"], r["status"], r["attempts"],
                aware(r["created_at"]), aware(r["published_at"]), bool(r["silent"]), r["feedback_entity"],
                r["story_id"] if r["edit_status"] is None else None,  # not_story: a digest's message
            )
            for r in rows
        ]

    def next_due(self, exclude_chats: Iterable[str] = ()) -> datetime | None:
        """When the earliest queued alert (not to `exclude_chats`) becomes due."""
        query = select(func.min(alerts.c.next_attempt_at)).where(
            alerts.c.status == "queued", alerts.c.chat_id.not_in(list(exclude_chats))
        )
        with self._db.read() as conn:
            return aware(conn.execute(query).scalar())

    def claim(self, alert_id: int) -> int | None:
        """queued -> sending plus an open attempt record, in one transaction.

        Returns the attempt id, or None when the alert is no longer queued
        (another sender claimed it first)."""
        with self._db.write() as conn:
            claimed = conn.execute(
                update(alerts)
                .where(alerts.c.id == alert_id, alerts.c.status == "queued")
                .values(status="sending", attempts=alerts.c.attempts + 1)
            ).rowcount
            if claimed != 1:
                return None
            return inserted_id(conn.execute(delivery_attempts.insert().values(alert_id=alert_id, started_at=self._db.now())))

    def finish_sent(
        self, alert_id: int, attempt_id: int, message_id: int | None, note: str | None = None, *, shown_revision: int | None = None
    ) -> bool:
        """`shown_revision`: the revision of the alert's story the sent text showed (None:
        not a story's message)."""
        return self._finish(
            alert_id, attempt_id, "sent", note, status="sent", sent_at=self._db.now(), telegram_message_id=message_id, error=note,
            shown_revision=shown_revision,
        )

    def finish_retry(self, alert_id: int, attempt_id: int, delay_seconds: float, reason: str) -> bool:
        return self._finish(
            alert_id,
            attempt_id,
            "retry",
            reason,
            status="queued",
            next_attempt_at=self._db.now() + timedelta(seconds=max(delay_seconds, 0.0)),
            error=reason[:2000],
        )

    def finish_failed(self, alert_id: int, attempt_id: int, reason: str) -> bool:
        return self._finish(alert_id, attempt_id, "failed", reason, status="failed", error=reason[:2000])

    def finish_unknown(self, alert_id: int, attempt_id: int, reason: str) -> bool:
        return self._finish(alert_id, attempt_id, "unknown", reason, status="unknown", error=reason[:2000])

    def _finish(self, alert_id: int, attempt_id: int, outcome: str, detail: str | None, **values: Any) -> bool:
        """The outcome of a claimed send: the alert changes only while it is in flight;
        the attempt record is completed either way. True when the alert changed."""
        with self._db.write() as conn:
            changed = conn.execute(
                update(alerts).where(alerts.c.id == alert_id, alerts.c.status.in_(_IN_FLIGHT)).values(**values)
            ).rowcount
            conn.execute(
                update(delivery_attempts)
                .where(delivery_attempts.c.id == attempt_id)
                .values(finished_at=self._db.now(), outcome=outcome, detail=detail[:2000] if detail else None)
            )
        return changed == 1

    def mark_delivered_locally(self, alert_id: int, shown_revision: int | None = None) -> bool:
        """queued -> sent for a sink that cannot lose an answer (the console): no claim,
        no attempt record. `shown_revision`: the story revision the printed text showed.
        True when the alert was still queued."""
        with self._db.write() as conn:
            return (
                conn.execute(
                    update(alerts)
                    .where(alerts.c.id == alert_id, alerts.c.status == "queued")
                    .values(status="sent", sent_at=self._db.now(), error=None, shown_revision=shown_revision)
                ).rowcount
                == 1
            )

    def story_revision(self, item_id: int) -> tuple[int, int] | None:
        """(story id, its revision) of an item placed in a story, else None."""
        query = select(stories.c.id, stories.c.revision).join(items, items.c.story_id == stories.c.id).where(items.c.id == item_id)
        with self._db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else (int(row[0]), int(row[1]))

    def local_story_updates(self, chat_id: str, limit: int = 200) -> list[EditRow]:
        """A local sink's (the console's) printed story messages whose story grew since:
        it cannot edit, so it prints them again. No batching: a terminal has no limits."""
        query = (
            select(alerts, items.c.story_id, stories.c.revision)
            .select_from(alerts.join(items, items.c.id == alerts.c.item_id).join(stories, stories.c.id == items.c.story_id))
            .where(
                alerts.c.chat_id == chat_id,
                alerts.c.status == "sent",
                alerts.c.sent_at >= self._db.now() - EDIT_WINDOW,
                alerts.c.shown_revision < stories.c.revision,
            )
            .order_by(alerts.c.id)
            .limit(limit)
        )
        return self._edit_rows(query)

    def mark_shown_locally(self, alert_id: int, revision: int) -> bool:
        """A local sink printed the story at `revision` (only ever forward)."""
        with self._db.write() as conn:
            return (
                conn.execute(
                    update(alerts).where(alerts.c.id == alert_id, alerts.c.shown_revision < revision).values(shown_revision=revision)
                ).rowcount
                == 1
            )

    def fail_queued_for_chat(self, chat_id: str, reason: str) -> int:
        """Every still-queued alert to a chat that can no longer receive anything -> failed."""
        with self._db.write() as conn:
            return conn.execute(
                update(alerts).where(alerts.c.chat_id == chat_id, alerts.c.status == "queued").values(status="failed", error=reason[:2000])
            ).rowcount

    # -- edits of sent story messages ----------------------------------------

    def _pending_edits(self, exclude_chats: Iterable[str]) -> Any:
        """Sent messages of a story whose revision rose since they were rendered, with
        no edit in flight and edits not ended (the filter of the two queries below)."""
        query = (
            alerts.join(items, items.c.id == alerts.c.item_id).join(stories, stories.c.id == items.c.story_id),
            [
                alerts.c.status == "sent",
                alerts.c.sent_at >= self._db.now() - EDIT_WINDOW,
                alerts.c.telegram_message_id.is_not(None),
                alerts.c.edit_status.is_(None),
                alerts.c.shown_revision < stories.c.revision,
            ],
        )
        excluded = list(exclude_chats)
        if excluded:
            query[1].append(alerts.c.chat_id.not_in(excluded))
        return query

    def due_edits(self, limit: int = 200, *, interval: float = 60.0, exclude_chats: Iterable[str] = ()) -> list[EditRow]:
        """Story messages to edit now, oldest alert first: out of date, and not edited in
        the last `interval` seconds (the batching of later reports)."""
        joined, conditions = self._pending_edits(exclude_chats)
        cutoff = self._db.now() - timedelta(seconds=interval)
        query = (
            select(alerts, items.c.story_id, stories.c.revision)
            .select_from(joined)
            .where(*conditions, (alerts.c.last_edited_at.is_(None)) | (alerts.c.last_edited_at <= cutoff))
            .order_by(alerts.c.id)
            .limit(limit)
        )
        return self._edit_rows(query)

    def _edit_rows(self, query: Any) -> list[EditRow]:
        """The rows of a query over alerts + their item's story_id + the story's revision."""
        with self._db.read() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            EditRow(
                r["id"], r["item_id"], r["chat_id"], r["telegram_message_id"], r["story_id"], r["text_html"], r["text_plain"],
                r["shown_revision"], r["revision"], r["feedback_entity"],
            )
            for r in rows
        ]

    def next_edit_due(self, interval: float = 60.0, exclude_chats: Iterable[str] = ()) -> datetime | None:
        """When the earliest out-of-date story message may be edited (None: none is)."""
        joined, conditions = self._pending_edits(exclude_chats)
        query = select(func.count(), func.count(alerts.c.last_edited_at), func.min(alerts.c.last_edited_at)).select_from(joined).where(*conditions)
        with self._db.read() as conn:
            pending, edited_before, last = conn.execute(query).one()
        if not pending:
            return None
        if pending > edited_before:
            return self._db.now()  # a first edit: at once
        return aware(last) + timedelta(seconds=interval)

    def entity_names(self, entity_ids: Iterable[str]) -> dict[str, str]:
        """Display names of entities as the matcher last named them (for story messages)."""
        names: dict[str, str] = {}
        with self._db.read() as conn:
            for entity_id in dict.fromkeys(entity_ids):  # a few per story; each one index lookup
                name = conn.execute(
                    select(matches.c.entity_name)
                    .where(matches.c.entity_id == entity_id)
                    .order_by(matches.c.matched_at.desc())
                    .limit(1)
                ).scalar()
                if name:
                    names[entity_id] = name
        return names

    def claim_edit(self, alert_id: int, revision: int) -> int | None:
        """No edit in flight -> 'editing' plus an open attempt record, in one transaction,
        while the message still shows less than `revision`. Returns the attempt id, or
        None when there is nothing to claim (another sender took it, or it is shown)."""
        with self._db.write() as conn:
            claimed = conn.execute(
                update(alerts)
                .where(
                    alerts.c.id == alert_id,
                    alerts.c.status == "sent",
                    alerts.c.telegram_message_id.is_not(None),
                    alerts.c.edit_status.is_(None),
                    alerts.c.shown_revision < revision,
                )
                .values(edit_status="editing")
            ).rowcount
            if claimed != 1:
                return None
            return inserted_id(
                conn.execute(delivery_attempts.insert().values(alert_id=alert_id, started_at=self._db.now(), action="edit"))
            )

    def finish_edit(self, alert_id: int, attempt_id: int, revision: int, *, applied: bool, note: str | None = None) -> bool:
        """The message now shows `revision` (`applied`: Telegram changed it; False: it
        answered "not modified", the text was already there)."""
        values: dict[str, Any] = {"edit_status": None, "shown_revision": revision, "last_edited_at": self._db.now()}
        if applied:
            values["edits"] = alerts.c.edits + 1
        return self._finish_edit(alert_id, attempt_id, "sent" if applied else "unchanged", note, **values)

    def finish_edit_later(self, alert_id: int, attempt_id: int, outcome: str, reason: str, *, wait_interval: bool) -> bool:
        """Not done, to be tried again: at once when the governor allows (a 429, an
        outage), or (`wait_interval`) after the edit interval, as if it had been made
        (an answer lost: it may have been applied; making it again is harmless)."""
        values: dict[str, Any] = {"edit_status": None}
        if wait_interval:
            values["last_edited_at"] = self._db.now()
        return self._finish_edit(alert_id, attempt_id, outcome, reason, **values)

    def finish_edit_ended(self, alert_id: int, attempt_id: int, status: str, reason: str) -> bool:
        """No more edits of this message: 'gone' (deleted by someone) or 'failed' (refused)."""
        return self._finish_edit(alert_id, attempt_id, "failed", reason, edit_status=status)

    def _finish_edit(self, alert_id: int, attempt_id: int, outcome: str, detail: str | None, **values: Any) -> bool:
        with self._db.write() as conn:
            changed = conn.execute(
                update(alerts).where(alerts.c.id == alert_id, alerts.c.edit_status == "editing").values(**values)
            ).rowcount
            conn.execute(
                update(delivery_attempts)
                .where(delivery_attempts.c.id == attempt_id)
                .values(finished_at=self._db.now(), outcome=outcome, detail=detail[:2000] if detail else None)
            )
        return changed == 1

    def recover_edits_in_flight(self, reason: str) -> list[int]:
        """Edits left 'editing' by a stopped process go back to be made again (an edit is
        idempotent by content); returns the alert ids."""
        with self._db.write() as conn:
            ids = [r[0] for r in conn.execute(select(alerts.c.id).where(alerts.c.edit_status == "editing")).all()]
            if ids:
                conn.execute(update(alerts).where(alerts.c.id.in_(ids), alerts.c.edit_status == "editing").values(edit_status=None))
                conn.execute(
                    update(delivery_attempts)
                    .where(delivery_attempts.c.alert_id.in_(ids), delivery_attempts.c.action == "edit", delivery_attempts.c.outcome.is_(None))
                    .values(outcome="unknown", finished_at=self._db.now(), detail=reason[:2000])
                )
        return ids

    def recover_in_flight(self, reason: str) -> list[int]:
        """Alerts left 'sending' by a stopped process -> 'unknown' (never resent); returns their ids."""
        with self._db.write() as conn:
            ids = [r[0] for r in conn.execute(select(alerts.c.id).where(alerts.c.status == "sending")).all()]
            if ids:
                conn.execute(update(alerts).where(alerts.c.id.in_(ids), alerts.c.status == "sending").values(status="unknown", error=reason[:2000]))
                conn.execute(
                    update(delivery_attempts)
                    .where(delivery_attempts.c.alert_id.in_(ids), delivery_attempts.c.outcome.is_(None))
                    .values(outcome="unknown", finished_at=self._db.now(), detail=reason[:2000])
                )
        return ids

    def counts(self) -> dict[str, int]:
        """Alerts by status."""
        with self._db.read() as conn:
            return {status: int(n) for status, n in conn.execute(select(alerts.c.status, func.count()).group_by(alerts.c.status))}

    def depth(self) -> tuple[int, datetime | None]:
        """Alerts waiting (queued or being sent) and when the oldest of them was queued."""
        with self._db.read() as conn:
            count, oldest = conn.execute(
                select(func.count(), func.min(alerts.c.created_at)).where(alerts.c.status.in_(_WAITING))
            ).one()
        return int(count), aware(oldest)
