"""The store on real databases: a SQLite file, and PostgreSQL at 127.0.0.1:5432 when reachable."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from monitor.store import FoundMention, NewItem, QueuedAlert, Store
from monitor.store import reports
from monitor.store.schema import MIGRATIONS


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    s = Store(url)
    yield s
    s.close()


def item(feed_id: int, guid: str | None = "g1", url: str | None = "https://x.example/a", content_hash: str | None = None) -> NewItem:
    return NewItem(feed_id, guid, url, url, "Rockets hit Camp Taji", None, "body text", "page", content_hash)


MENTION = FoundMention("taji-base", "Taji base", "Camp Taji", 12, 21)


def test_item_matches_and_alerts_are_stored_together(store):
    feed = store.ensure_feed("https://x.example/rss", "X")
    item_id = store.store_item(item(feed.id), [MENTION], [QueuedAlert("console", "<b>a</b>", "a")])
    assert item_id is not None
    [due] = store.due_alerts()
    assert due.item_id == item_id and due.text_html == "<b>a</b>"
    assert store.queue_depth()[0] == 1


@pytest.mark.parametrize(
    "duplicate",
    [
        dict(guid="g1", url="https://x.example/other", content_hash=None),  # same GUID in the feed
        dict(guid="g2", url="https://x.example/a", content_hash=None),  # same canonical URL
        dict(guid="g3", url="https://y.example/b", content_hash="h1"),  # same content
    ],
)
def test_an_item_is_new_once(store, duplicate):
    feed = store.ensure_feed("https://x.example/rss", "X")
    assert store.store_item(item(feed.id, content_hash="h1"), [MENTION], [QueuedAlert("console", "a", "a")]) is not None
    assert store.is_known(feed.id, duplicate["guid"], duplicate["url"], duplicate["content_hash"])
    assert store.store_item(item(feed.id, **duplicate), [MENTION], [QueuedAlert("console", "b", "b")]) is None
    assert len(store.due_alerts()) == 1  # the duplicate queued nothing


def test_same_guid_in_another_feed_is_a_different_item(store):
    a = store.ensure_feed("https://x.example/rss", "X")
    b = store.ensure_feed("https://y.example/rss", "Y")
    assert store.store_item(item(a.id, url=None), [], []) is not None
    assert store.store_item(item(b.id, url=None), [], []) is not None


def test_concurrent_writers_store_one_copy(store):
    feed = store.ensure_feed("https://x.example/rss", "X")
    results = []

    def write():
        results.append(store.store_item(item(feed.id), [MENTION], [QueuedAlert("console", "a", "a")]))

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1
    assert len(store.due_alerts()) == 1


def test_poll_outcomes_build_an_error_streak_and_success_resets_it(store):
    from datetime import timedelta

    feed = store.ensure_feed("https://x.example/rss", "X")
    for _ in range(3):
        state = store.record_poll(feed.id, status="timeout", error="timed out", broken_after=timedelta(0))
    assert state.error_streak == 3 and state.broken_since is not None
    state = store.record_poll(feed.id, status="ok", etag='"v2"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT")
    assert state.error_streak == 0 and state.broken_since is None and state.etag == '"v2"'
    state = store.record_poll(feed.id, status="not_modified")
    assert state.etag == '"v2"'  # a 304 keeps the validators


def test_retry_later_and_failures_show_in_stats(store):
    feed = store.ensure_feed("https://x.example/rss", "X")
    store.store_item(item(feed.id), [MENTION], [QueuedAlert("@chan", "a", "a"), QueuedAlert("42", "a", "a")])
    first, second = store.due_alerts()
    store.retry_later(first.id, 3600, "429 retry after 3600")
    store.mark_failed(second.id, "Forbidden: bot was blocked by the user")
    assert store.due_alerts() == []
    result = reports.stats(store)
    assert result.alerts_by_status == {"queued": 1, "failed": 1}
    assert result.failed_alerts == [("42", "Forbidden: bot was blocked by the user")]


def test_state_values_survive_reopening(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    s = Store(url)
    s.set_state("telegram.offset", "17")
    s.set_state("telegram.offset", "18")
    s.close()
    assert Store(url).get_state("telegram.offset") == "18"


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
    s = Store.__new__(Store)
    s.url = "postgresql+psycopg://monitor:s3cret@db.example/monitor"
    assert "s3cret" not in s.display_url


def test_a_feed_that_never_worked_is_marked_broken_once_it_failed_long_enough(store):
    import time
    from datetime import timedelta

    feed = store.ensure_feed("https://x.example/never", "Never")
    state = store.record_poll(feed.id, status="network", error="refused", broken_after=timedelta(seconds=1))
    assert state.broken_since is None  # one failure is not "broken"
    time.sleep(0.2)
    state = store.record_poll(feed.id, status="network", error="refused", broken_after=timedelta(seconds=1))
    assert state.broken_since is None
    time.sleep(1.0)
    # Polled more often than broken_after, yet the streak started 1.2 s ago.
    state = store.record_poll(feed.id, status="network", error="refused", broken_after=timedelta(seconds=1))
    assert state.broken_since is not None and state.error_streak == 3


# -- batched 304 bookkeeping ---------------------------------------------------------


def _feed_row(store: Store, feed_id: int) -> dict:
    from sqlalchemy import select

    from monitor.store.schema import feeds

    with store.engine.connect() as conn:
        return dict(conn.execute(select(feeds).where(feeds.c.id == feed_id)).mappings().one())


def test_a_304_from_a_healthy_feed_is_written_with_the_next_flush(store):
    from datetime import datetime, timedelta, timezone

    feed = store.ensure_feed("https://x.example/rss", "X")
    store.record_poll(feed.id, status="ok", etag='"v1"')
    next_at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=5)
    state = store.note_not_modified(feed.id, lambda s: next_at)
    assert state is not None and state.etag == '"v1"' and state.error_streak == 0
    assert store.pending_polls == 1
    assert _feed_row(store, feed.id)["last_status"] == "ok"  # not written yet

    assert store.flush_polls() == 1 and store.pending_polls == 0
    row = _feed_row(store, feed.id)
    assert row["last_status"] == "not_modified" and row["etag"] == '"v1"' and row["error_streak"] == 0
    assert row["next_poll_at"].replace(tzinfo=timezone.utc) == next_at
    assert store.flush_polls() == 0  # nothing left


def test_a_304_that_changes_the_feeds_state_is_not_deferred(store):
    from datetime import timedelta

    failing = store.ensure_feed("https://x.example/failing", "F")
    store.record_poll(failing.id, status="timeout", error="timed out", broken_after=timedelta(hours=1))
    assert store.note_not_modified(failing.id) is None  # the streak must be reset: record_poll it
    assert store.note_not_modified(10_000) is None  # a feed this Store never saw
    assert store.pending_polls == 0


def test_a_late_flush_never_overwrites_a_newer_poll(store):
    feed = store.ensure_feed("https://x.example/rss", "X")
    store.record_poll(feed.id, status="ok", etag='"v1"')
    store.note_not_modified(feed.id)
    noted = dict(store._pending_polls)
    # A failure recorded after the 304 was noted, while a flush (in another thread)
    # already holds the older note: the flush must not undo the newer outcome.
    store.record_poll(feed.id, status="http_status", error="HTTP 500")
    store._pending_polls.update(noted)
    store.flush_polls()
    row = _feed_row(store, feed.id)
    assert row["last_status"] == "http_status" and row["error_streak"] == 1 and row["last_error"] == "HTTP 500"


def test_a_flush_the_database_refuses_keeps_the_notes_for_the_next_one(tmp_path):
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    s = Store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        feed = s.ensure_feed("https://x.example/rss", "X")
        s.record_poll(feed.id, status="ok")
        s.note_not_modified(feed.id)

        def read_only(dbapi_conn, _record):
            dbapi_conn.execute("PRAGMA query_only = ON")

        event.listen(s.engine, "connect", read_only)
        s.engine.dispose()  # new connections get the pragma
        with pytest.raises(OperationalError):
            s.flush_polls()
        assert s.pending_polls == 1
        event.remove(s.engine, "connect", read_only)
        s.engine.dispose()
        assert s.flush_polls() == 1
        assert _feed_row(s, feed.id)["last_status"] == "not_modified"
    finally:
        s.close()
