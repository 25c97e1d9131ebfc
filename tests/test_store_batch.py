"""Batched item work of a poll: known_entries (one query per feed) and add_many
(one thread hop per feed, still one transaction per item)."""

from __future__ import annotations

import sqlite3

from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from monitor.store import NewItem, QueuedAlert, Store


def _item(feed_id: int, guid: str | None, url: str | None, body: str = "") -> NewItem:
    return NewItem(feed_id, guid, url, url, "t", None, body, "feed", None)


def test_known_entries_by_guid_in_the_feed_or_canonical_url_anywhere(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'm.db'}")
    a = store.feeds.ensure("https://a.example/feed", "A")
    b = store.feeds.ensure("https://b.example/feed", "B")
    store.items.add(_item(a.id, "g1", "https://x.example/1"), [], [])
    keys = [("g1", None), ("g1", "https://x.example/new"), (None, "https://x.example/1"), ("g2", "https://x.example/2"), (None, None)]
    assert store.items.known_entries(a.id, keys) == [True, True, True, False, False]
    # A GUID counts within its own feed only; a canonical URL anywhere.
    assert store.items.known_entries(b.id, keys) == [False, False, True, False, False]
    # The same rule as storing: an entry said to be new is stored, a known one is not.
    assert store.items.add(_item(a.id, "g2", "https://x.example/2"), [], []) is not None
    assert store.items.add(_item(b.id, None, "https://x.example/1"), [], []) is None
    store.close()


def test_add_many_one_transaction_each_and_dedup_within_batch(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'm.db'}")
    feed = store.feeds.ensure("https://a.example/feed", "A")
    batch = [
        (_item(feed.id, "g1", "https://x.example/1"), [], [QueuedAlert("console", "a", "a")]),
        (_item(feed.id, "g2", "https://x.example/1"), [], [QueuedAlert("console", "b", "b")]),  # same URL: known
        (_item(feed.id, "g3", "https://x.example/3"), [], []),
    ]
    results, error = store.items.add_many(batch)
    assert error is None
    assert isinstance(results[0], int) and results[1] is None and isinstance(results[2], int)
    assert store.outbox.counts() == {"queued": 1}
    store.close()


def test_add_many_reports_a_database_error_and_keeps_what_was_committed(tmp_path):
    """The disk fills up at the second item (SQLite's max_page_count, as on a full disk):
    the first stays stored, the batch stops with the error, the rest is not attempted."""
    db = tmp_path / "m.db"
    store = Store(f"sqlite:///{db}")
    feed = store.feeds.ensure("https://a.example/feed", "A")
    with sqlite3.connect(db) as conn:
        room = conn.execute("PRAGMA page_count").fetchone()[0] + 8  # a few pages: a small item fits

    def nearly_full(dbapi_conn, _record):
        dbapi_conn.execute(f"PRAGMA max_page_count = {room}")

    event.listen(store.database.engine, "connect", nearly_full)
    store.database.engine.dispose()
    batch = [
        (_item(feed.id, "g1", "https://x.example/1"), [], []),
        (_item(feed.id, "g2", "https://x.example/2", body="x" * 1_000_000), [], []),  # needs hundreds of pages
        (_item(feed.id, "g3", "https://x.example/3"), [], []),
    ]
    results, error = store.items.add_many(batch)
    assert isinstance(error, OperationalError) and "full" in str(error)
    assert len(results) == 1 and isinstance(results[0], int)
    assert store.items.known_entries(feed.id, [("g1", None), ("g2", None), ("g3", None)]) == [True, False, False]
    store.close()
