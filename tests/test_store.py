"""The store on real databases: a SQLite file, and PostgreSQL at 127.0.0.1:5432 when
reachable. Time is a ManualClock injected into the Store: nothing here sleeps."""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from monitor.store import FoundMention, NewItem, QueuedAlert, Store, display_url, reports
from monitor.store.schema import MIGRATIONS, feeds


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path, manual_clock):
    url = f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    s = Store(url, clock=manual_clock)
    yield s
    s.close()


def item(feed_id: int, guid: str | None = "g1", url: str | None = "https://x.example/a", content_hash: str | None = None) -> NewItem:
    return NewItem(feed_id, guid, url, url, "Rockets hit Camp Taji", None, "body text", "page", content_hash)


MENTION = FoundMention("taji-base", "Taji base", "Camp Taji", 12, 21)


def feed_row(store: Store, feed_id: int) -> dict:
    with store.database.read() as conn:
        return dict(conn.execute(select(feeds).where(feeds.c.id == feed_id)).mappings().one())


# -- items and dedup -------------------------------------------------------------------


def test_item_matches_and_alerts_are_stored_together(store):
    feed = store.feeds.ensure("https://x.example/rss", "X")
    item_id = store.items.add(item(feed.id), [MENTION], [QueuedAlert("console", "<b>a</b>", "a")])
    assert item_id is not None
    [due] = store.outbox.due()
    assert due.item_id == item_id and due.text_html == "<b>a</b>"
    assert store.outbox.depth() == (1, store.database.now())


@pytest.mark.parametrize(
    "duplicate",
    [
        dict(guid="g1", url="https://x.example/other", content_hash=None),  # same GUID in the feed
        dict(guid="g2", url="https://x.example/a", content_hash=None),  # same canonical URL
        dict(guid="g3", url="https://y.example/b", content_hash="h1"),  # same content
    ],
)
def test_an_item_is_new_once(store, duplicate):
    feed = store.feeds.ensure("https://x.example/rss", "X")
    assert store.items.add(item(feed.id, content_hash="h1"), [MENTION], [QueuedAlert("console", "a", "a")]) is not None
    assert store.items.add(item(feed.id, **duplicate), [MENTION], [QueuedAlert("console", "b", "b")]) is None
    assert len(store.outbox.due()) == 1  # the duplicate queued nothing


def test_same_guid_in_another_feed_is_a_different_item(store):
    a = store.feeds.ensure("https://x.example/rss", "X")
    b = store.feeds.ensure("https://y.example/rss", "Y")
    assert store.items.add(item(a.id, url=None), [], []) is not None
    assert store.items.add(item(b.id, url=None), [], []) is not None


def test_concurrent_writers_store_one_copy(store):
    feed = store.feeds.ensure("https://x.example/rss", "X")
    results = []

    def write():
        results.append(store.items.add(item(feed.id), [MENTION], [QueuedAlert("console", "a", "a")]))

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1
    assert len(store.outbox.due()) == 1


# -- feeds -----------------------------------------------------------------------------


def test_poll_outcomes_build_an_error_streak_and_success_resets_it(store):
    feed = store.feeds.ensure("https://x.example/rss", "X")
    for _ in range(3):
        state = store.feeds.record_poll(feed.id, status="timeout", error="timed out", broken_after=timedelta(0))
    assert state.error_streak == 3 and state.broken_since is not None
    state = store.feeds.record_poll(feed.id, status="ok", etag='"v2"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT")
    assert state.error_streak == 0 and state.broken_since is None and state.etag == '"v2"'
    state = store.feeds.record_poll(feed.id, status="not_modified")
    assert state.etag == '"v2"'  # a 304 keeps the validators


def test_a_feed_that_never_worked_is_marked_broken_once_it_failed_long_enough(store, manual_clock):
    feed = store.feeds.ensure("https://x.example/never", "Never")
    refused = dict(status="network", error="refused", broken_after=timedelta(seconds=60))
    assert store.feeds.record_poll(feed.id, **refused).broken_since is None  # one failure is not "broken"
    manual_clock.advance(20)
    assert store.feeds.record_poll(feed.id, **refused).broken_since is None
    manual_clock.advance(40)
    # Polled more often than broken_after, yet the streak started 60 s ago.
    state = store.feeds.record_poll(feed.id, **refused)
    assert state.broken_since == manual_clock.now and state.error_streak == 3


def test_the_next_poll_time_is_stored_with_the_outcome(store, manual_clock):
    feed = store.feeds.ensure("https://x.example/rss", "X")
    store.feeds.record_poll(feed.id, status="http_status", error="HTTP 503", next_poll=lambda state: manual_clock.now + timedelta(minutes=state.error_streak))
    next_polls, broken = store.feeds.schedule_state()
    assert next_polls == {"https://x.example/rss": manual_clock.now + timedelta(minutes=1)} and broken == set()


# -- the outbox ------------------------------------------------------------------------


def test_an_alert_retried_later_is_due_again_only_then_and_failures_show_in_stats(store, manual_clock):
    feed = store.feeds.ensure("https://x.example/rss", "X")
    store.items.add(item(feed.id), [MENTION], [QueuedAlert("@chan", "a", "a"), QueuedAlert("42", "a", "a")])
    first, second = store.outbox.due()
    assert store.outbox.finish_retry(first.id, store.outbox.claim(first.id), 3600, "429 retry after 3600")
    assert store.outbox.finish_failed(second.id, store.outbox.claim(second.id), "Forbidden: bot was blocked by the user")
    assert store.outbox.due() == []
    assert store.outbox.next_due() == manual_clock.now + timedelta(hours=1)
    result = reports.stats(store)
    assert result.alerts_by_status == {"queued": 1, "failed": 1}
    assert result.failed_alerts == [("42", "Forbidden: bot was blocked by the user")]
    manual_clock.advance(3600)
    assert [row.id for row in store.outbox.due()] == [first.id]


def test_a_finished_alert_is_never_revived_by_a_stale_writer(store):
    feed = store.feeds.ensure("https://x.example/rss", "X")
    store.items.add(item(feed.id), [], [QueuedAlert("@chan", "a", "a")])
    [row] = store.outbox.due()
    attempt = store.outbox.claim(row.id)
    assert attempt is not None and store.outbox.claim(row.id) is None  # one sender only
    assert store.outbox.finish_sent(row.id, attempt, message_id=7)
    assert not store.outbox.finish_retry(row.id, attempt, 0, "late timeout")  # too late: stays sent
    assert not store.outbox.mark_delivered_locally(row.id)
    assert store.outbox.counts() == {"sent": 1} and store.outbox.due() == []


def test_sends_cut_short_by_a_stop_become_unknown_never_resent(store):
    feed = store.feeds.ensure("https://x.example/rss", "X")
    store.items.add(item(feed.id), [], [QueuedAlert("@chan", "a", "a"), QueuedAlert("console", "a", "a")])
    telegram, console = sorted(store.outbox.due(), key=lambda row: row.chat_id == "console")
    store.outbox.claim(telegram.id)  # ...and the process died here
    assert store.outbox.recover_in_flight("answer lost") == [telegram.id]
    assert [row.id for row in store.outbox.due(exclude_chats=["console"])] == []
    assert [row.id for row in store.outbox.due(chats=["console"])] == [console.id]
    assert store.outbox.mark_delivered_locally(console.id)
    assert store.outbox.counts() == {"unknown": 1, "sent": 1}
    assert store.outbox.depth() == (0, None)


# -- subscribers and stored values -----------------------------------------------------


def test_subscribers_follow_entities_and_leave(store):
    assert store.subscribers.register("42", "analyst") is True
    store.subscribers.subscribe("42", ["taji-base", "taji-base"])
    assert store.subscribers.subscription("42") == (True, False, ["taji-base"])
    assert list(store.subscribers.recipients(["taji-base", "k1-airbase"])) == ["42"]
    assert store.subscribers.deactivate("42", "blocked") and list(store.subscribers.recipients(["taji-base"])) == []
    assert store.subscribers.register("42", None) is False  # came back
    store.subscribers.unsubscribe("42")
    assert store.subscribers.subscription("42") == (True, False, [])
    assert store.subscribers.subscription("7") is None


def test_values_survive_reopening(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    s = Store(url)
    s.values.set("telegram.offset", "17")
    s.values.set("telegram.offset", "18")
    s.close()
    assert Store(url).values.get("telegram.offset") == "18"


# -- the database ----------------------------------------------------------------------


def test_sqlite_runs_in_wal_mode(tmp_path):
    Store(f"sqlite:///{tmp_path / 'w.db'}").close()
    with sqlite3.connect(tmp_path / "w.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrations_are_recorded_and_idempotent(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    Store(url).close()
    Store(url).close()
    with sqlite3.connect(tmp_path / "m.db") as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(len(MIGRATIONS),)]


def test_display_url_hides_the_password():
    shown = display_url("postgresql+psycopg://monitor:s3cret@db.example/monitor")
    assert "s3cret" not in shown and "db.example/monitor" in shown


# -- batched 304 bookkeeping -----------------------------------------------------------


def test_a_304_from_a_healthy_feed_is_written_with_the_next_flush(store, manual_clock):
    feed = store.feeds.ensure("https://x.example/rss", "X")
    store.feeds.record_poll(feed.id, status="ok", etag='"v1"')
    manual_clock.advance(60)
    next_at = manual_clock.now + timedelta(minutes=5)
    state = store.feeds.note_not_modified(feed.id, lambda s: next_at)
    assert state is not None and state.etag == '"v1"' and state.error_streak == 0
    assert store.feeds.pending_polls == 1
    assert feed_row(store, feed.id)["last_status"] == "ok"  # not written yet

    assert store.feeds.flush_polls() == 1 and store.feeds.pending_polls == 0
    row = feed_row(store, feed.id)
    assert row["last_status"] == "not_modified" and row["etag"] == '"v1"' and row["error_streak"] == 0
    assert store.feeds.schedule_state()[0] == {"https://x.example/rss": next_at}
    assert store.feeds.flush_polls() == 0  # nothing left


def test_a_304_that_changes_the_feeds_state_is_not_deferred(store):
    failing = store.feeds.ensure("https://x.example/failing", "F")
    store.feeds.record_poll(failing.id, status="timeout", error="timed out", broken_after=timedelta(hours=1))
    assert store.feeds.note_not_modified(failing.id) is None  # the streak must be reset: record_poll it
    assert store.feeds.note_not_modified(10_000) is None  # a feed this Store never saw
    assert store.feeds.pending_polls == 0


def test_a_late_flush_never_overwrites_a_newer_poll(store, manual_clock):
    """A 304 noted by one writer is flushed after another one recorded a newer outcome
    of the same feed (a flush runs later, in another thread): the newer one stands."""
    feed = store.feeds.ensure("https://x.example/rss", "X")
    store.feeds.record_poll(feed.id, status="ok", etag='"v1"')
    manual_clock.advance(10)
    store.feeds.note_not_modified(feed.id)
    other = Store(store.database.url, clock=manual_clock)
    try:
        manual_clock.advance(10)
        other.feeds.record_poll(feed.id, status="http_status", error="HTTP 500")
    finally:
        other.close()
    assert store.feeds.flush_polls() == 1
    row = feed_row(store, feed.id)
    assert row["last_status"] == "http_status" and row["error_streak"] == 1 and row["last_error"] == "HTTP 500"


def test_a_flush_the_database_refuses_keeps_the_notes_for_the_next_one(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        feed = s.feeds.ensure("https://x.example/rss", "X")
        s.feeds.record_poll(feed.id, status="ok")
        s.feeds.note_not_modified(feed.id)

        def read_only(dbapi_conn, _record):
            dbapi_conn.execute("PRAGMA query_only = ON")

        engine = s.database.engine
        event.listen(engine, "connect", read_only)
        engine.dispose()  # new connections get the pragma
        with pytest.raises(OperationalError):
            s.feeds.flush_polls()
        assert s.feeds.pending_polls == 1
        event.remove(engine, "connect", read_only)
        engine.dispose()
        assert s.feeds.flush_polls() == 1
        assert feed_row(s, feed.id)["last_status"] == "not_modified"
    finally:
        s.close()
