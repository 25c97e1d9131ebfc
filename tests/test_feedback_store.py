"""The feedback repository and its migration (5) on SQLite and on the real PostgreSQL: marks
with what fired, one current choice per alert and chat, mutes that expire by the
store's clock, the recipients of an alert honouring them, and an existing database
from before it brought up to date with its rows kept."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import inspect, text

from conftest import ManualClock
from monitor.store import FoundMention, NewItem, QueuedAlert, Store, reports
from monitor.store.schema import MIGRATIONS


def _alert(store: Store, chat: str = "42") -> int:
    feed = store.feeds.ensure("https://wire.example/rss", "Wire")
    text_ = "Taji market traders expect a record harvest"
    item_id = store.items.add(
        NewItem(feed.id, "g1", "https://wire.example/1", None, text_, None, text_, "feed", None),
        [FoundMention("camp-taji", "Camp Taji", "Taji", 0, 4, "Taji", "alias")],
        [QueuedAlert("@chan", "<b>a</b>", "a"), QueuedAlert(chat, "<b>a</b>", "a", feedback_entity="camp-taji")],
    )
    assert item_id is not None
    [row] = [r for r in store.outbox.due() if r.chat_id == chat]
    assert row.feedback_entity == "camp-taji"
    return row.id


def test_marks_mutes_and_recipients(database_url):
    clock = ManualClock()
    store = Store(database_url, clock=clock)
    try:
        alert = _alert(store)
        [channel_row] = [r for r in store.outbox.due() if r.chat_id == "@chan"]
        assert channel_row.feedback_entity is None  # the channel's alert has no buttons
        store.subscribers.register("42", None)
        store.subscribers.subscribe("42", ["camp-taji", "kataeb-hezbollah"])

        assert store.feedback.record(alert + 1000, "42", "relevant") is None  # no such alert
        assert store.feedback.record(alert, "43", "relevant") is None  # another chat
        assert store.feedback.record(channel_row.id, "@chan", "relevant") is None  # no buttons

        press = store.feedback.record(alert, "42", "not_relevant")
        assert press is not None and (press.entity_id, press.alias, press.rule, press.previous) == ("camp-taji", "Taji", "alias", None)
        press = store.feedback.record(alert, "42", "mute")
        assert press is not None and press.previous == "not_relevant"
        assert press.muted_until == clock.now + timedelta(days=1)
        assert store.feedback.choice(alert, "42") == "mute"

        # Muted: an item about Camp Taji alone goes to nobody here; with Kataeb Hezbollah it goes.
        assert store.subscribers.recipients(["camp-taji"]) == {}
        assert store.subscribers.recipients(["camp-taji", "kataeb-hezbollah"]) == {"42": ["kataeb-hezbollah"]}
        assert [e for e, _ in store.feedback.mutes("42")] == ["camp-taji"]
        clock.advance(24 * 3600 - 1)
        assert store.subscribers.recipients(["camp-taji"]) == {}
        clock.advance(1)  # the day is over: the mute ended by itself
        assert store.subscribers.recipients(["camp-taji"]) == {"42": ["camp-taji"]}
        assert store.feedback.mutes("42") == []

        # A mute replaced by another choice on the same alert is lifted; /unmute lifts early.
        store.feedback.record(alert, "42", "mute")
        assert store.subscribers.recipients(["camp-taji"]) == {}
        store.feedback.record(alert, "42", "relevant")
        assert store.subscribers.recipients(["camp-taji"]) == {"42": ["camp-taji"]}
        store.feedback.record(alert, "42", "mute")
        assert store.feedback.unmute("42", ["kataeb-hezbollah"]) == []
        assert store.feedback.unmute("42") == ["camp-taji"]
        assert store.subscribers.recipients(["camp-taji"]) == {"42": ["camp-taji"]}
        with store.database.read() as conn:
            assert conn.execute(text("SELECT count(*) FROM feedback")).scalar() == 1

        # The counts behind `monitor stats --feedback` (only sent alerts count as sent).
        store.outbox.finish_sent(alert, store.outbox.claim(alert) or 0, 11)
        store.feedback.record(alert, "42", "not_relevant")
        stats = reports.feedback_stats(store, min_marks=1)
        [entity] = stats.entities
        assert (entity.entity_id, entity.sent, entity.relevant, entity.not_relevant, entity.muted) == ("camp-taji", 1, 0, 1, 0)
        [alias] = stats.aliases
        assert (alias.alias, alias.sent, alias.not_relevant) == ("Taji", 1, 1)
        [suggestion] = stats.suggestions
        assert suggestion.alias == "Taji" and {"market", "traders", "harvest"} <= {w for w, _ in suggestion.words}
    finally:
        store.close()


def test_an_older_database_gains_the_feedback_schema_and_keeps_its_rows(database_url):
    store = Store(database_url)
    alert = _alert(store)
    # Back to what the database looked like before the feedback migration.
    before_feedback = next(n for n, step in enumerate(MIGRATIONS) if step.__name__.endswith("_feedback"))
    with store.database.engine.begin() as conn:
        conn.execute(text("DROP TABLE feedback"))
        conn.execute(text("DROP TABLE mutes"))
        for table, column in (("matches", "alias"), ("matches", "rule"), ("alerts", "feedback_entity")):
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        conn.execute(text(f"UPDATE schema_version SET version = {before_feedback}"))
    store.close()

    store = Store(database_url)
    try:
        with store.database.engine.connect() as conn:
            assert conn.execute(text("SELECT version FROM schema_version")).scalar() == len(MIGRATIONS)
            columns = {c["name"] for c in inspect(conn).get_columns("alerts")}
            assert "feedback_entity" in columns and {"alias", "rule"} <= {c["name"] for c in inspect(conn).get_columns("matches")}
            assert {"feedback", "mutes"} <= set(inspect(conn).get_table_names())
        [row] = [r for r in store.outbox.due() if r.id == alert]
        assert row.feedback_entity is None  # queued before the migration: sent without buttons
        assert store.feedback.record(alert, "42", "relevant") is None
    finally:
        store.close()
