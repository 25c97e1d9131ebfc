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
    # Several instances on PostgreSQL (v6): the instance polling the feed now and until
    # when its claim holds (database server time), and who polled it last.
    Column("lease_owner", String(64)),
    Column("lease_until", DateTime(timezone=True)),
    Column("last_polled_by", String(64)),
    # Every entry of the feed's latest content (its last 200 answer) was marked listed
    # (items.last_listed_at) at or after this time: retention keeps what a feed still lists (v10).
    Column("listed_since", DateTime(timezone=True)),
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
    # --- stories (v5; see `stories` below) ---
    Column("lang", String(20)),  # language of the article when known (feed config, feed, script)
    # The story the item belongs to (items with a tracked entity only) and how it got
    # there: layer new / copy / same-language / evidence, the deciding similarity, and
    # the story article that decided it. A foreign key to stories.id on PostgreSQL
    # (SQLite cannot add one to an existing table; v5 explains).
    Column("story_id", Integer),
    Column("story_layer", String(20)),
    Column("story_score", Float),
    Column("story_joined_with", Integer),
    # When a feed last listed this entry (refreshed at most hourly): retention prunes
    # unmatched identities no feed has listed for storage.retention.unmatched_items (v10).
    Column("last_listed_at", DateTime(timezone=True)),
    UniqueConstraint("feed_id", "guid", name="uq_items_feed_guid"),
    # The dedup rule (same canonical URL or same content hash anywhere: known) held by
    # the database, not by luck: two instances storing one article at the same moment
    # get one row; the loser's IntegrityError means "already known" (v6).
    Index("ux_items_canonical_url", "canonical_url", unique=True),
    Index("ux_items_content_hash", "content_hash", unique=True),
    Index("ix_items_fetched_at", "fetched_at"),
    Index("ix_items_story", "story_id"),
)

# Retention's scan: unmatched items (they keep no text, body = '') by when they were last
# listed. Partial, so the matched items, kept forever, are never scanned (v10).
ix_items_unmatched_listed = Index(
    "ix_items_unmatched_listed",
    items.c.last_listed_at,
    sqlite_where=items.c.body == "",
    postgresql_where=items.c.body == "",
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
    # What found the mention (Mention.alias / Mention.rule): reader feedback is traced to it (v8).
    Column("alias", String(500)),
    Column("rule", String(500)),
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
    # queued, sending, sent, failed, unknown; digest: collected for the chat's next digest,
    # digested: listed in a digest (whose message rides on another row of it, v7)
    Column("status", String(20), nullable=False, default="queued"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("telegram_message_id", Integer),
    Column("error", Text),
    # Story edits (v4): the story revision the message on Telegram shows (NULL: not a
    # story's message, never edited), the edit in flight or why edits ended, the last edit.
    Column("shown_revision", Integer),
    Column("edit_status", String(20)),  # NULL (none in flight), editing, gone, failed, not_story (a digest)
    Column("last_edited_at", DateTime(timezone=True)),
    Column("edits", Integer, nullable=False, default=0),  # edits Telegram applied
    # Sent with disable_notification (digests, alerts held by quiet hours) (v7).
    Column("silent", Boolean, nullable=False, default=False, server_default=text("false")),
    # The entity a subscriber's alert is about: set, the message carries the feedback
    # buttons (relevant / not relevant / mute it for a day); NULL for the channel (v8).
    Column("feedback_entity", String(200)),
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


# -- stories (issue 14) ------------------------------------------------
# One row per story: articles of one event across outlets and languages
# (monitor.stories decides; docs/STORIES.md). Its id is the item id of the article
# that opened it (lead_item_id), which is also the story's id inside the assigner.
# `revision` starts at 1 and goes up by one in the transaction that stores each
# article joining the story: a message of the story (an alert row whose item has
# this story_id) rendered at an older revision is out of date.
stories = Table(
    "stories",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("lead_item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("first_published_at", DateTime(timezone=True), nullable=False),
    Column("last_published_at", DateTime(timezone=True), nullable=False),
    Column("article_count", Integer, nullable=False, default=1),
    Column("entities", Text, nullable=False, default="[]"),  # JSON list of entity ids, in order of arrival
    Column("revision", Integer, nullable=False, default=1),
    Index("ix_stories_last_published", "last_published_at"),
)

_V5_ITEM_COLUMNS = {
    "lang": "VARCHAR(20)",
    "story_id": "INTEGER",
    "story_layer": "VARCHAR(20)",
    "story_score": "FLOAT",
    "story_joined_with": "INTEGER",
}


def _v5_stories(conn: Connection) -> None:
    metadata.create_all(conn, tables=[stories])
    # Databases created before v5 lack the item columns; newer ones got them from create_all.
    present = {c["name"] for c in inspect(conn).get_columns("items")}
    for name, sql_type in _V5_ITEM_COLUMNS.items():
        if name not in present:
            conn.execute(text(f"ALTER TABLE items ADD COLUMN {name} {sql_type}"))
    if "ix_items_story" not in {i["name"] for i in inspect(conn).get_indexes("items")}:
        conn.execute(text("CREATE INDEX ix_items_story ON items (story_id)"))
    # items is created before stories (v1), so the foreign key is added here; SQLite
    # cannot add a constraint to an existing table, and there the column stays plain
    # (stories are never deleted while their items exist).
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("ALTER TABLE items ADD CONSTRAINT fk_items_story FOREIGN KEY (story_id) REFERENCES stories (id) ON DELETE SET NULL")
        )


# -- several instances on one PostgreSQL database (v6) ---------------------
# Each running instance: its row is renewed every instances.heartbeat; a row whose
# heartbeat is older than instances.lease belongs to a dead instance.
instances = Table(
    "instances",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
)

# Named roles held by one instance at a time (the sender of a bot token), renewed by
# its heartbeat and taken over once expired. Times are the database server's.
leases = Table(
    "leases",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# PostgreSQL tells the sender at once when alerts are queued (LISTEN monitor_alerts):
# a NOTIFY at the commit of every transaction that inserted alerts, whoever wrote them.
ALERTS_CHANNEL = "monitor_alerts"
_PG_ALERTS_NOTIFY = (
    "CREATE OR REPLACE FUNCTION monitor_alerts_queued() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN PERFORM pg_notify('{ALERTS_CHANNEL}', ''); RETURN NULL; END $$",
    "DROP TRIGGER IF EXISTS alerts_queued ON alerts",
    "CREATE TRIGGER alerts_queued AFTER INSERT ON alerts FOR EACH STATEMENT EXECUTE FUNCTION monitor_alerts_queued()",
)


def _v6_instances(conn: Connection) -> None:
    metadata.create_all(conn, tables=[instances, leases])
    inspector = inspect(conn)
    present = {c["name"] for c in inspector.get_columns("feeds")}
    for column, kind in (("lease_owner", "VARCHAR(64)"), ("lease_until", "TIMESTAMP WITH TIME ZONE"), ("last_polled_by", "VARCHAR(64)")):
        if column not in present:
            conn.execute(text(f"ALTER TABLE feeds ADD COLUMN {column} {kind}"))
    indexes = {i["name"] for i in inspector.get_indexes("items")}
    for old, new, column in (
        ("ix_items_canonical_url", "ux_items_canonical_url", "canonical_url"),
        ("ix_items_content_hash", "ux_items_content_hash", "content_hash"),
    ):
        if new in indexes:
            continue
        # Duplicates a race of old versions may have stored: the first item keeps the
        # identity, later copies keep their row (and alerts) without it.
        conn.execute(
            text(
                f"UPDATE items SET {column} = NULL WHERE {column} IS NOT NULL AND id > "
                f"(SELECT MIN(first.id) FROM items AS first WHERE first.{column} = items.{column})"
            )
        )
        if old in indexes:
            conn.execute(text(f"DROP INDEX {old}"))
        conn.execute(text(f"CREATE UNIQUE INDEX {new} ON items ({column})"))
    if conn.dialect.name == "postgresql":
        for statement in _PG_ALERTS_NOTIFY:
            conn.execute(text(statement))


# -- priorities, digests and quiet hours (v7) ---------------------------
# Keyed by the subscriber's chat id without a foreign key: subscribers are never
# deleted (only deactivated), and the migration must not depend on that table.
# A subscriber's own choice of priority for an entity (the watchlist's otherwise).
entity_priorities = Table(
    "entity_priorities",
    metadata,
    Column("chat_id", String(100), primary_key=True),
    Column("entity_id", String(200), primary_key=True),
    Column("priority", String(20), nullable=False),  # immediate, digest
)

# A subscriber's quiet hours: alerts in [start_at, end_at) local time wait until end_at.
quiet_hours = Table(
    "quiet_hours",
    metadata,
    Column("chat_id", String(100), primary_key=True),
    Column("start_at", String(5), nullable=False),  # HH:MM
    Column("end_at", String(5), nullable=False),
    Column("timezone", String(64), nullable=False),  # IANA name
)

# Entities whose alerts pass a subscriber's quiet hours.
urgent_entities = Table(
    "urgent_entities",
    metadata,
    Column("chat_id", String(100), primary_key=True),
    Column("entity_id", String(200), primary_key=True),
)


def _v7_priorities_digests_quiet_hours(conn: Connection) -> None:
    if "silent" not in {c["name"] for c in inspect(conn).get_columns("alerts")}:
        conn.execute(text("ALTER TABLE alerts ADD COLUMN silent BOOLEAN NOT NULL DEFAULT FALSE"))
    metadata.create_all(conn, tables=[entity_priorities, quiet_hours, urgent_entities])
    # The digest collects rows by chat and status.
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_alerts_chat_status ON alerts (chat_id, status)"))


# -- reader feedback -------------------------------------------------------
# One current choice per (alert, chat): a second press replaces the first. No foreign
# key to alerts: the marks (with the entity, alias and rule copied at press time) are
# the history `monitor stats --feedback` counts, and outlive deleted alerts.
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("alert_id", Integer, nullable=False),
    Column("item_id", Integer),
    Column("chat_id", String(100), nullable=False),
    Column("choice", String(20), nullable=False),  # relevant, not_relevant, mute
    Column("entity_id", String(200), nullable=False),
    Column("alias", String(500)),
    Column("rule", String(500)),
    Column("mention_start", Integer),  # the mention the mark is about, in the item's matched text
    Column("mention_end", Integer),
    Column("pressed_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("alert_id", "chat_id", name="uq_feedback_alert_chat"),
    Index("ix_feedback_entity", "entity_id"),
)

# A subscriber's "mute this entity": no alerts of it to that chat until `until`.
mutes = Table(
    "mutes",
    metadata,
    Column("chat_id", String(100), primary_key=True),
    Column("entity_id", String(200), primary_key=True),
    Column("until", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def _v8_feedback(conn: Connection) -> None:
    # Databases created before v8 lack the columns; newer ones got them from create_all.
    inspector = inspect(conn)
    present = set(inspector.get_table_names())
    columns = {table: {c["name"] for c in inspector.get_columns(table)} for table in ("matches", "alerts") if table in present}
    for table, column, kind in (
        ("matches", "alias", "VARCHAR(500)"),
        ("matches", "rule", "VARCHAR(500)"),
        ("alerts", "feedback_entity", "VARCHAR(200)"),
    ):
        if table in columns and column not in columns[table]:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {kind}"))
    metadata.create_all(conn, tables=[feedback, mutes])


def _v9_story_growth_notify(conn: Connection) -> None:
    """A story that grows has messages to edit: on PostgreSQL the sender (maybe another
    instance) hears of it as of queued alerts, at the commit of the article's transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("DROP TRIGGER IF EXISTS stories_grown ON stories"))
        conn.execute(
            text(
                "CREATE TRIGGER stories_grown AFTER UPDATE OF revision ON stories "
                "FOR EACH STATEMENT EXECUTE FUNCTION monitor_alerts_queued()"
            )
        )


def _v10_retention(conn: Connection) -> None:
    """What retention needs: when each item was last listed, since when a feed's latest
    content is all marked listed, and the index of the unmatched items' scan."""
    inspector = inspect(conn)
    if "last_listed_at" not in {c["name"] for c in inspector.get_columns("items")}:
        conn.execute(text("ALTER TABLE items ADD COLUMN last_listed_at TIMESTAMP WITH TIME ZONE"))
        # Existing items count as listed when they were stored; feeds get listed_since at
        # their next 200 answer, and until then none of their items is pruned.
        conn.execute(text("UPDATE items SET last_listed_at = fetched_at"))
    if "listed_since" not in {c["name"] for c in inspector.get_columns("feeds")}:
        conn.execute(text("ALTER TABLE feeds ADD COLUMN listed_since TIMESTAMP WITH TIME ZONE"))
    ix_items_unmatched_listed.create(conn, checkfirst=True)


MIGRATIONS: list[Callable[[Connection], None]] = [
    _v1_initial,
    _v2_delivery_attempts,
    _v3_feed_failing_since,
    _v4_story_edits,
    _v5_stories,
    _v6_instances,
    _v7_priorities_digests_quiet_hours,
    _v8_feedback,
    _v9_story_growth_notify,
    _v10_retention,
]


# Instances starting together on one PostgreSQL database migrate one after the other:
# a transaction-scoped advisory lock (any fixed 64-bit key), released at the commit.
_MIGRATION_LOCK_KEY = 0x1AA9_4A7C_4D0E_1702


def migrate(conn: Connection) -> int:
    """Bring the schema to the newest version; returns that version."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
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
