"""The database side of several instances, on the real PostgreSQL: two Stores (two
engines, as two processes would have) racing for the same feed, the same role and the
same article. Whoever asks at the same moment, exactly one wins."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import create_engine, text

from conftest import ManualClock
from monitor.store import ClaimRefused, FeedState, NewItem, QueuedAlert, Store

pytestmark = pytest.mark.postgres


@pytest.fixture
def clocks():
    return ManualClock(), ManualClock()


@pytest.fixture
def two_stores(postgres_url, clocks):
    first, second = Store(postgres_url, clock=clocks[0]), Store(postgres_url, clock=clocks[1])
    first.feeds.owner, second.feeds.owner = "instance-a", "instance-b"
    yield first, second
    first.close()
    second.close()


def at_once(*calls):
    """Run the calls in threads released together; their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_a_due_feed_is_claimed_by_exactly_one_instance(two_stores):
    a, b = two_stores
    for n in range(20):
        url = f"https://news.example/{n}.xml"
        got = at_once(partial(a.feeds.claim, url, "Outlet", 60), partial(b.feeds.claim, url, "Outlet", 60))
        assert sum(isinstance(g, FeedState) for g in got) == 1, got
        refused = next(g for g in got if isinstance(g, ClaimRefused))
        assert refused.holder in ("instance-a", "instance-b") and 50 < refused.retry_in < 61  # server time


def test_the_polls_outcome_releases_the_claim_until_the_feed_is_due_again(two_stores, clocks):
    a, b = two_stores
    url = "https://news.example/wire.xml"
    state = a.feeds.claim(url, "Wire", 60)
    assert isinstance(state, FeedState)
    a.feeds.record_poll(state.id, status="ok", etag='"v1"', next_poll=lambda s: clocks[0]() + timedelta(seconds=300))
    refused = b.feeds.claim(url, "Wire", 60)
    assert isinstance(refused, ClaimRefused) and refused.holder is None and refused.retry_in == 300
    clocks[1].advance(300)
    taken = b.feeds.claim(url, "Wire", 60)
    assert isinstance(taken, FeedState) and taken.etag == '"v1"'  # the other instance's validators, not a stale copy

    # A 304 noted in memory keeps the claim until the batch is written, which releases it.
    assert b.feeds.note_not_modified(taken.id, lambda s: clocks[1]() + timedelta(seconds=300)) is not None
    clocks[0].advance(600)
    assert isinstance(a.feeds.claim(url, "Wire", 60), ClaimRefused)  # still b's: its outcome is not written yet
    assert b.feeds.flush_polls() == 1
    assert isinstance(a.feeds.claim(url, "Wire", 60), FeedState)


def test_a_dead_instances_claim_runs_out_after_the_lease(two_stores):
    a, b = two_stores
    url = "https://news.example/slow.xml"
    assert isinstance(a.feeds.claim(url, "Slow", 1.0), FeedState)  # then a dies mid-poll
    assert isinstance(b.feeds.claim(url, "Slow", 1.0), ClaimRefused)
    time.sleep(1.2)  # the lease runs on the database server's clock, which no test can move
    assert isinstance(b.feeds.claim(url, "Slow", 1.0), FeedState)


def test_one_sender_per_role_and_takeover_when_its_lease_runs_out(two_stores):
    a, b = two_stores
    for n in range(10):
        role = f"sender:{n}"
        grants = at_once(partial(a.instances.acquire, role, "instance-a", 60), partial(b.instances.acquire, role, "instance-b", 60))
        assert sum(g.held for g in grants) == 1, grants
        holder = next(g.owner for g in grants if g.held)
        assert all(g.owner == holder for g in grants)
    assert a.instances.acquire("sender:x", "instance-a", 1.0).held
    assert a.instances.acquire("sender:x", "instance-a", 1.0).held  # a renewal
    refused = b.instances.acquire("sender:x", "instance-b", 1.0)
    assert not refused.held and refused.owner == "instance-a" and 0 < refused.expires_in <= 1.0
    time.sleep(1.2)  # the lease runs on the database server's clock
    assert b.instances.acquire("sender:x", "instance-b", 1.0).held
    assert not a.instances.acquire("sender:x", "instance-a", 1.0).held


def test_the_same_article_found_by_two_instances_at_once_is_stored_and_alerted_once(two_stores, postgres_url):
    a, b = two_stores
    feed_a = a.feeds.ensure("https://one.example/rss", "One").id
    feed_b = b.feeds.ensure("https://two.example/rss", "Two").id
    for n in range(15):
        link = f"https://wire.example/story/{n}"
        same = {"url": link, "canonical_url": link, "title": f"Rockets hit Camp Taji, report {n}", "published_at": None,
                "body": "", "body_source": "feed", "content_hash": None}
        alert = [QueuedAlert("@iraq_watch", f"<b>report {n}</b>", f"report {n}")]
        ids = at_once(
            partial(a.items.add, NewItem(feed_id=feed_a, guid=f"one-{n}", **same), [], alert),
            partial(b.items.add, NewItem(feed_id=feed_b, guid=f"two-{n}", **same), [], alert),
        )
        assert sum(i is not None for i in ids) == 1, ids  # the loser's IntegrityError: "already known"
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM items")).scalar() == 15
            assert conn.execute(text("SELECT count(*) FROM alerts")).scalar() == 15
    finally:
        engine.dispose()


def test_an_old_database_with_duplicates_is_migrated(postgres_url):
    """Copies an older version stored in a race keep their rows; the first keeps the identity."""
    from monitor.store.schema import MIGRATIONS

    engine = create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE schema_version (version INTEGER NOT NULL)"))
            conn.execute(text("INSERT INTO schema_version VALUES (0)"))
            before = next(n for n, step in enumerate(MIGRATIONS) if step.__name__.endswith("_instances"))
            for step in MIGRATIONS[:before]:  # the schema as it was before the instances' migration
                step(conn)
            conn.execute(text(f"UPDATE schema_version SET version = {before}"))
            conn.execute(text("DROP INDEX ux_items_canonical_url"))
            conn.execute(text("CREATE INDEX ix_items_canonical_url ON items (canonical_url)"))
            conn.execute(text("INSERT INTO feeds (url, name, error_streak, seeded) VALUES ('https://a.example/rss', 'A', 0, false)"))
            for guid in ("1", "2"):
                conn.execute(
                    text(
                        "INSERT INTO items (feed_id, guid, canonical_url, title, fetched_at, body, body_source) "
                        "VALUES (1, :guid, 'https://wire.example/x', 'Twice', now(), '', 'feed')"
                    ),
                    {"guid": guid},
                )
    finally:
        engine.dispose()
    store = Store(postgres_url)
    try:
        with store.database.read() as conn:
            rows = conn.execute(text("SELECT guid, canonical_url FROM items ORDER BY id")).all()
    finally:
        store.close()
    assert [tuple(r) for r in rows] == [("1", "https://wire.example/x"), ("2", None)]
