"""Batched item work of a poll: known_entries (one query per feed) and store_items
(one thread hop per feed, still one transaction per item)."""

from __future__ import annotations

from monitor.store import NewItem, QueuedAlert, Store


def _item(feed_id: int, guid: str | None, url: str | None) -> NewItem:
    return NewItem(feed_id, guid, url, url, "t", None, "", "feed", None)


def test_known_entries_same_rules_as_is_known(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'm.db'}")
    a = store.ensure_feed("https://a.example/feed", "A")
    b = store.ensure_feed("https://b.example/feed", "B")
    store.store_item(_item(a.id, "g1", "https://x.example/1"), [], [])
    keys = [("g1", None), ("g1", "https://x.example/new"), (None, "https://x.example/1"), ("g2", "https://x.example/2"), (None, None)]
    assert store.known_entries(a.id, keys) == [True, True, True, False, False]
    # A GUID counts within its own feed only; a canonical URL anywhere.
    assert store.known_entries(b.id, keys) == [False, False, True, False, False]
    assert store.known_entries(a.id, keys) == [store.is_known(a.id, g, u, None) for g, u in keys]
    store.close()


def test_store_items_one_transaction_each_and_dedup_within_batch(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'm.db'}")
    feed = store.ensure_feed("https://a.example/feed", "A")
    batch = [
        (_item(feed.id, "g1", "https://x.example/1"), [], [QueuedAlert("console", "a", "a")]),
        (_item(feed.id, "g2", "https://x.example/1"), [], [QueuedAlert("console", "b", "b")]),  # same URL: known
        (_item(feed.id, "g3", "https://x.example/3"), [], []),
    ]
    results, error = store.store_items(batch)
    assert error is None
    assert isinstance(results[0], int) and results[1] is None and isinstance(results[2], int)
    assert store.alert_counts() == {"queued": 1}
    store.close()


def test_store_items_reports_a_database_error_and_keeps_what_was_committed(tmp_path, monkeypatch):
    from sqlalchemy.exc import OperationalError

    store = Store(f"sqlite:///{tmp_path / 'm.db'}")
    feed = store.ensure_feed("https://a.example/feed", "A")
    real = store._store_item

    def failing(conn, item, mentions, queued):
        if item.guid == "g2":
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        return real(conn, item, mentions, queued)

    monkeypatch.setattr(store, "_store_item", failing)
    batch = [(_item(feed.id, f"g{i}", f"https://x.example/{i}"), [], []) for i in (1, 2, 3)]
    results, error = store.store_items(batch)
    assert isinstance(error, OperationalError) and len(results) == 1 and isinstance(results[0], int)
    assert store.known_entries(feed.id, [("g1", None), ("g2", None), ("g3", None)]) == [True, False, False]
    store.close()
