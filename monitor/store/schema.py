"""Database schema (SQLAlchemy Core) and its migrations.

Migrations are numbered functions applied in order inside one transaction; the
applied number lives in `schema_version`. To change the schema, append a
function to MIGRATIONS (never edit a released one).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    text,
)
from sqlalchemy.engine import Connection

metadata = MetaData()

schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))

feeds = Table(
    "feeds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", String(2000), nullable=False, unique=True),
    Column("name", String(300), nullable=False, default=""),
    Column("etag", String(1000)),
    Column("last_modified", String(200)),
    Column("last_polled_at", DateTime(timezone=True)),
    Column("last_success_at", DateTime(timezone=True)),
    Column("last_status", String(40)),  # ok, not_modified, error kind
    Column("last_error", Text),
    Column("error_streak", Integer, nullable=False, default=0),
    Column("broken_since", DateTime(timezone=True)),
    Column("failing_since", DateTime(timezone=True)),  # first error of the current streak (v3)
    Column("next_poll_at", DateTime(timezone=True)),
    Column("declared_interval", Float),  # what the feed asks (<ttl>, sy:updatePeriod, Cache-Control)
    Column("seeded", Boolean, nullable=False, default=False),  # first poll done (backfill silenced)
)

items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    Column("guid", String(2000)),
    Column("url", String(2000)),
    Column("canonical_url", String(2000)),
    Column("title", Text, nullable=False, default=""),
    Column("published_at", DateTime(timezone=True)),
    Column("fetched_at", DateTime(timezone=True), nullable=False),
    Column("body", Text, nullable=False, default=""),
    Column("body_source", String(20), nullable=False, default="feed"),
    Column("content_hash", String(64)),
    UniqueConstraint("feed_id", "guid", name="uq_items_feed_guid"),
    Index("ix_items_canonical_url", "canonical_url"),
    Index("ix_items_content_hash", "content_hash"),
    Index("ix_items_fetched_at", "fetched_at"),
)

matches = Table(
    "matches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("entity_id", String(200), nullable=False),
    Column("entity_name", String(300), nullable=False),
    Column("mention", String(500), nullable=False),
    Column("mention_start", Integer, nullable=False),
    Column("mention_end", Integer, nullable=False),
    Column("matched_at", DateTime(timezone=True), nullable=False),
    Index("ix_matches_entity", "entity_id", "matched_at"),
    Index("ix_matches_item", "item_id"),
)

# The outbox: a row per (item, destination chat), written in the item's transaction.
alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("chat_id", String(100), nullable=False),
    Column("text_html", Text, nullable=False),
    Column("text_plain", Text, nullable=False),
    Column("status", String(20), nullable=False, default="queued"),  # queued, sending, sent, failed, unknown
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("telegram_message_id", Integer),
    Column("error", Text),
    # Story edits (v4): the story revision the message on Telegram shows (NULL: not a
    # story's message, never edited), the edit in flight or why edits ended, the last edit.
    Column("shown_revision", Integer),
    Column("edit_status", String(20)),  # NULL (none in flight), editing, gone, failed
    Column("last_edited_at", DateTime(timezone=True)),
    Column("edits", Integer, nullable=False, default=0),  # edits Telegram applied
    UniqueConstraint("item_id", "chat_id", name="uq_alerts_item_chat"),
    Index("ix_alerts_due", "status", "next_attempt_at"),
    Index("ix_alerts_sent_at", "status", "sent_at"),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("chat_id", String(100), primary_key=True),
    Column("username", String(200)),
    Column("active", Boolean, nullable=False, default=True),
    Column("all_entities", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("deactivated_reason", Text),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("chat_id", String(100), ForeignKey("subscribers.chat_id", ondelete="CASCADE"), primary_key=True),
    Column("entity_id", String(200), primary_key=True),
)

# Small named values that must survive restarts (e.g. the getUpdates offset).
service_state = Table(
    "service_state",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
)


def _v1_initial(conn: Connection) -> None:
    metadata.create_all(conn, tables=[feeds, items, matches, alerts, subscribers, subscriptions, service_state])


# -- delivery bookkeeping ---------------------------------------------
# One row per send attempt of an outbox alert, written (committed) BEFORE the
# Bot API call and completed after it: the idempotency record. A row whose
# outcome is still NULL after a crash marks the lost-answer window.
delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("alert_id", Integer, ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("outcome", String(20)),  # sent, retry, failed, unknown; NULL while in flight
    Column("detail", Text),
    Column("action", String(10), nullable=False, default="send"),  # send, edit (v4)
    Index("ix_delivery_attempts_alert", "alert_id"),
)


def _v2_delivery_attempts(conn: Connection) -> None:
    metadata.create_all(conn, tables=[delivery_attempts])


def _v3_feed_failing_since(conn: Connection) -> None:
    # Databases created at v1/v2 lack the column; newer ones got it from create_all.
    if "failing_since" not in {c["name"] for c in inspect(conn).get_columns("feeds")}:
        conn.execute(text("ALTER TABLE feeds ADD COLUMN failing_since TIMESTAMP WITH TIME ZONE"))


def _v4_story_edits(conn: Connection) -> None:
    """What editing a story's messages needs: per alert the revision its message shows,
    the edit state and time; per delivery attempt whether it was a send or an edit."""
    inspector = inspect(conn)
    alert_columns = {c["name"] for c in inspector.get_columns("alerts")}
    for name, ddl in (
        ("shown_revision", "INTEGER"),
        ("edit_status", "VARCHAR(20)"),
        ("last_edited_at", "TIMESTAMP WITH TIME ZONE"),
        ("edits", "INTEGER NOT NULL DEFAULT 0"),
    ):
        if name not in alert_columns:
            conn.execute(text(f"ALTER TABLE alerts ADD COLUMN {name} {ddl}"))
    if "action" not in {c["name"] for c in inspector.get_columns("delivery_attempts")}:
        conn.execute(text("ALTER TABLE delivery_attempts ADD COLUMN action VARCHAR(10) NOT NULL DEFAULT 'send'"))
    if "ix_alerts_sent_at" not in {i["name"] for i in inspector.get_indexes("alerts")}:
        conn.execute(text("CREATE INDEX ix_alerts_sent_at ON alerts (status, sent_at)"))


MIGRATIONS: list[Callable[[Connection], None]] = [
    _v1_initial, _v2_delivery_attempts, _v3_feed_failing_since, _v4_story_edits
]


def migrate(conn: Connection) -> int:
    """Bring the schema to the newest version; returns that version."""
    schema_version.create(conn, checkfirst=True)
    current = conn.execute(text("SELECT version FROM schema_version")).scalar()
    if current is None:
        conn.execute(schema_version.insert().values(version=0))
        current = 0
    for number, step in enumerate(MIGRATIONS, start=1):
        if number > current:
            step(conn)
            conn.execute(schema_version.update().values(version=number))
    return len(MIGRATIONS)
