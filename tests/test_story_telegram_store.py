"""The story-edit migration on a database written by an older version (SQLite and
PostgreSQL): columns added, rows kept, nothing of an old alert is ever edited."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import MetaData, Table, create_engine, inspect, select, text

from monitor.store import Store
from monitor.store.schema import MIGRATIONS, alerts, delivery_attempts, feeds, items

V4_ALERT_COLUMNS = {"shown_revision", "edit_status", "last_edited_at", "edits"}


def _old_schema(url: str) -> None:
    """The tables as version 3 wrote them, with one sent alert."""
    old = MetaData()
    old_tables = []
    for table, dropped in ((feeds, set()), (items, set()), (alerts, V4_ALERT_COLUMNS), (delivery_attempts, {"action"})):
        columns = [c._copy() for c in table.columns if c.name not in dropped]
        old_tables.append(Table(table.name, old, *columns))
    engine = create_engine(url)
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    with engine.begin() as conn:
        old.create_all(conn)
        conn.execute(text("CREATE TABLE schema_version (version INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO schema_version VALUES (3)"))
        conn.execute(old_tables[0].insert().values(id=1, url="https://wire.example/rss", name="Wire", error_streak=0, seeded=True))
        conn.execute(old_tables[1].insert().values(id=1, feed_id=1, title="Rockets hit Camp Taji", fetched_at=now, body="", body_source="feed"))
        conn.execute(
            old_tables[2].insert().values(
                id=1, item_id=1, chat_id="@iraq_watch", text_html="x", text_plain="x", status="sent", attempts=1,
                created_at=now, next_attempt_at=now, sent_at=now, telegram_message_id=7,
            )
        )
        conn.execute(old_tables[3].insert().values(id=1, alert_id=1, started_at=now, finished_at=now, outcome="sent"))
    engine.dispose()


def _migrated(url: str) -> None:
    _old_schema(url)
    store = Store(url)
    try:
        inspector = inspect(store.database.engine)
        assert V4_ALERT_COLUMNS <= {c["name"] for c in inspector.get_columns("alerts")}
        assert "action" in {c["name"] for c in inspector.get_columns("delivery_attempts")}
        with store.database.read() as conn:
            assert conn.execute(text("SELECT version FROM schema_version")).scalar() == len(MIGRATIONS)
            row = conn.execute(select(alerts)).mappings().one()
            assert (row["status"], row["telegram_message_id"], row["shown_revision"], row["edits"]) == ("sent", 7, None, 0)
            assert conn.execute(select(delivery_attempts.c.action)).scalar() == "send"
        # An alert sent before stories existed shows no revision: never edited.
        assert store.outbox.claim_edit(1, revision=5) is None
    finally:
        store.close()
    Store(url).close()  # opening again changes nothing


def test_migration_on_an_existing_sqlite_database(tmp_path):
    _migrated(f"sqlite:///{tmp_path / 'old.db'}")


def test_migration_on_an_existing_postgres_database(postgres_url):
    _migrated(postgres_url)


def test_a_growing_story_wakes_the_sender_of_any_instance_on_postgres(postgres_url):
    """The sender (maybe another instance) LISTENs for queued alerts; a story that grows
    queues none but has messages to edit, so its revision update notifies the same channel."""
    import psycopg

    from monitor.store.schema import ALERTS_CHANNEL, stories

    store = Store(postgres_url)
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    try:
        with store.database.write() as conn:
            conn.execute(feeds.insert().values(id=1, url="https://wire.example/rss", name="Wire", error_streak=0, seeded=True))
            conn.execute(items.insert().values(id=1, feed_id=1, title="Rockets hit Camp Taji", fetched_at=now, body="", body_source="feed"))
            conn.execute(
                stories.insert().values(
                    id=1, lead_item_id=1, created_at=now, updated_at=now, first_published_at=now, last_published_at=now,
                    article_count=1, entities="[]", revision=1,
                )
            )
        with psycopg.connect(postgres_url.replace("postgresql+psycopg", "postgresql"), autocommit=True) as listener:
            listener.execute(f"LISTEN {ALERTS_CHANNEL}")
            with store.database.write() as conn:
                conn.execute(stories.update().where(stories.c.id == 1).values(revision=stories.c.revision + 1))
            heard = [n.channel for n in listener.notifies(timeout=5, stop_after=1)]
        assert heard == [ALERTS_CHANNEL]
    finally:
        store.close()


def test_a_digest_built_on_a_story_item_is_never_rendered_with_the_story_nor_edited(tmp_path):
    """A digest's message hangs on its first listed item, which may be a story's: it is
    a digest, not that story's message."""
    from monitor.store import DigestPart
    from monitor.store.schema import stories

    store = Store(f"sqlite:///{tmp_path / 'monitor.db'}")
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    try:
        with store.database.write() as conn:
            conn.execute(feeds.insert().values(id=1, url="https://wire.example/rss", name="Wire", error_streak=0, seeded=True))
            for item_id in (1, 2):
                conn.execute(
                    items.insert().values(
                        id=item_id, feed_id=1, title=f"Report {item_id} on Camp Taji", fetched_at=now, body="", body_source="feed", story_id=1
                    )
                )
            conn.execute(
                stories.insert().values(
                    id=1, lead_item_id=1, created_at=now, updated_at=now, first_published_at=now, last_published_at=now,
                    article_count=2, entities="[]", revision=2,
                )
            )
            conn.execute(
                alerts.insert().values(
                    item_id=1, chat_id="4242", text_html="x", text_plain="x", status="digest", attempts=0, created_at=now, next_attempt_at=now,
                )
            )
        built = store.digests.build("4242", datetime(2030, 1, 1, tzinfo=timezone.utc), lambda entries: [DigestPart("<b>Digest</b>", "Digest")])
        assert built == 1
        [row] = store.outbox.due()
        assert row.story_id is None  # sent as the digest it is
        attempt = store.outbox.claim(row.id)
        assert attempt is not None
        store.outbox.finish_sent(row.id, attempt, 99)
        assert store.outbox.due_edits() == [] and store.outbox.claim_edit(row.id, revision=5) is None
    finally:
        store.close()
