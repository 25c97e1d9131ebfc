"""Retention (storage.retention): old unmatched identities and old finished alerts are
pruned, a batch at a time; what a feed still lists, matched items and alerts still to be
sent are kept.

The service as the CLI builds it (`Monitor(load_settings(...))`), with the one injection
the store offers (its clock, to let months pass), against a local feed server and a real
database: SQLite, and PostgreSQL in a database of its own when one is reachable.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from conftest import ManualClock, REPO, Response, database_rows, running, write_config
from monitor.config import load_settings
from monitor.ops import metrics
from monitor.service import Monitor
from monitor.store import FoundMention, NewItem, QueuedAlert, Store
from test_service import until

DAY = 86400


def printed(capsys) -> str:
    """What the process printed: the console sink's alerts and the service's log lines."""
    captured = capsys.readouterr()
    return captured.out + captured.err


def pruned(kind: str) -> float:
    return metrics.REGISTRY.get_sample_value("monitor_retention_pruned_total", {"kind": kind}) or 0.0


STORIES = {
    "u1": "Tram fares to rise in Basra next spring",
    "u2": "New container cranes arrive at Umm Qasr",
    "u3": "Date growers expect a record harvest",
    "u4": "Water pipeline reaches the eastern districts",
    "u5": "University opens a new library wing",
    "m1": "Rockets hit Camp Taji overnight, coalition says",
}


def rss(site, guids: list[str], clock: ManualClock) -> bytes:
    entries = "".join(
        f"<item><title>{STORIES[g]}</title><link>{site.url('/news/' + g)}</link><guid isPermaLink='false'>{g}</guid>"
        f"<pubDate>{format_datetime(clock.now - timedelta(minutes=5))}</pubDate><description>{STORIES[g]}.</description></item>"
        for g in guids
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>{entries}</channel></rss>'.encode()


def serve_unchanging(site, path: str, body: bytes) -> None:
    """A feed that answers 304 to its ETag from now on: it never changes again."""
    def answer(handler):
        if handler.headers.get("If-None-Match") == '"v1"':
            return Response(b"", 304, {"ETag": '"v1"'})
        return Response(body, 200, {"Content-Type": "application/rss+xml", "ETag": '"v1"'})

    site.routes[path] = answer


async def cycle(config, url: str, clock: ManualClock) -> None:
    """One `run --once`, its store on the test's clock."""
    monitor = Monitor(load_settings(config), store=Store(url, clock=clock))
    try:
        await monitor.run_once()
    finally:
        await monitor.aclose()


async def test_identities_no_feed_lists_any_more_are_forgotten_and_the_rest_is_kept(tmp_path, site, database_url, capsys):
    clock = ManualClock(datetime.now(timezone.utc).replace(microsecond=0))
    site.add("/desk.xml", rss(site, ["m1", "u4", "u3", "u2", "u1"], clock), "application/rss+xml")
    serve_unchanging(site, "/still.xml", rss(site, ["u5"], clock))
    config = write_config(
        tmp_path,
        [{"url": site.url("/desk.xml"), "name": "Desk"}, {"url": site.url("/still.xml"), "name": "Still"}],
        storage={"url": database_url},
        fetch={"fetch_pages": False, "allowed_networks": ["127.0.0.0/8"]},
    )
    await cycle(config, database_url, clock)
    assert "Camp Taji" in capsys.readouterr().out  # the alert, on the console
    assert database_rows(database_url, "SELECT status FROM alerts") == [("sent",)]

    # A month later the desk feed no longer lists u1 and u2; the other feed never changed.
    clock.advance(31 * DAY)
    before = pruned("items")
    site.add("/desk.xml", rss(site, ["m1", "u4", "u3"], clock), "application/rss+xml")
    await cycle(config, database_url, clock)
    assert {g for (g,) in database_rows(database_url, "SELECT guid FROM items")} == {"m1", "u3", "u4", "u5"}
    assert pruned("items") - before == 2
    assert "retention_pruned" in printed(capsys)
    # The kept identities still work: nothing is new, nothing is alerted again.
    assert database_rows(database_url, "SELECT count(*) FROM alerts") == [(1,)]

    # Three months after it was sent, the alert goes (its item, a match, stays).
    clock.advance(60 * DAY)
    before_alerts = pruned("alerts")
    await cycle(config, database_url, clock)
    assert database_rows(database_url, "SELECT count(*) FROM alerts") == [(0,)]
    assert pruned("alerts") - before_alerts == 1
    assert {g for (g,) in database_rows(database_url, "SELECT guid FROM items")} == {"m1", "u3", "u4", "u5"}
    assert database_rows(database_url, "SELECT count(*) FROM matches m JOIN items i ON i.id = m.item_id WHERE i.guid = 'm1'")[0][0] > 0
    assert "Camp Taji" not in capsys.readouterr().out


async def test_run_once_prunes_only_when_every_has_passed(tmp_path, site, capsys):
    clock = ManualClock(datetime.now(timezone.utc).replace(microsecond=0))
    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    site.add("/desk.xml", rss(site, ["u1", "u2"], clock), "application/rss+xml")
    config = write_config(tmp_path, [{"url": site.url("/desk.xml")}], fetch={"fetch_pages": False, "allowed_networks": ["127.0.0.0/8"]},
                          storage={"url": url, "retention": {"every": "12h"}})
    await cycle(config, url, clock)
    assert printed(capsys).count("retention_pruned") == 1  # never pruned before: due
    clock.advance(6 * 3600)
    await cycle(config, url, clock)
    assert "retention_pruned" not in printed(capsys)
    clock.advance(6 * 3600)
    await cycle(config, url, clock)
    assert printed(capsys).count("retention_pruned") == 1


def add_alerts(store: Store, chats: int, guid: str = "m1") -> list[int]:
    """A matched item with an alert to each of `chats` chats; returns the alert ids."""
    item = NewItem(1, guid, f"https://news.example/{guid}", f"https://news.example/{guid}", "Rockets hit Camp Taji",
                   None, "Rockets hit Camp Taji.", "feed", None)
    store.feeds.ensure("https://news.example/rss", "Example")
    store.items.add(item, [FoundMention("taji-base", "Camp Taji", "Camp Taji", 12, 21)],
                    [QueuedAlert(str(1000 + n), "<b>x</b>", "x") for n in range(chats)])
    return [r[0] for r in database_rows(store.database.url, "SELECT id FROM alerts ORDER BY id")]


async def test_finished_alerts_go_with_their_attempts_and_unsent_ones_stay(tmp_path, database_url):
    from monitor.config import RetentionConfig
    from monitor.service.jobs import RETENTION_BATCH, Retention

    clock = ManualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    store = Store(database_url, clock=clock)
    try:
        queued, sending, sent, failed, unknown, *rest = add_alerts(store, 5 + 2 * RETENTION_BATCH + 3)
        for alert_id in (sending, sent, failed, unknown):
            store.outbox.claim(alert_id)
        attempts = dict(database_rows(database_url, "SELECT alert_id, id FROM delivery_attempts"))
        store.outbox.finish_sent(sent, attempts[sent], 77)
        store.outbox.finish_failed(failed, attempts[failed], "Forbidden: bot was blocked by the user")
        store.outbox.finish_unknown(unknown, attempts[unknown], "read timeout")
        for alert_id in rest:
            store.outbox.mark_delivered_locally(alert_id)
        clock.advance(91 * DAY)
        before = pruned("alerts"), pruned("delivery_attempts")

        result = await Retention(store, RetentionConfig()).run()

        assert (result.alerts, result.delivery_attempts) == (3 + len(rest), 3)
        assert result.batches >= 4  # more alerts than two batches: three alert batches, one of items
        assert sorted(database_rows(database_url, "SELECT id, status FROM alerts")) == [(queued, "queued"), (sending, "sending")]
        assert database_rows(database_url, "SELECT alert_id FROM delivery_attempts") == [(sending,)]
        assert database_rows(database_url, "SELECT count(*) FROM items") == [(1,)]
        assert (pruned("alerts") - before[0], pruned("delivery_attempts") - before[1]) == (3 + len(rest), 3)
    finally:
        store.close()


async def test_alerts_younger_than_the_retention_stay(tmp_path):
    from monitor.config import RetentionConfig
    from monitor.service.jobs import Retention

    clock = ManualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    store = Store(f"sqlite:///{tmp_path / 'monitor.db'}", clock=clock)
    try:
        (alert_id,) = add_alerts(store, 1)
        store.outbox.mark_delivered_locally(alert_id)
        clock.advance(89 * DAY)
        result = await Retention(store, RetentionConfig()).run()
        assert (result.alerts, result.items) == (0, 0)
        assert database_rows(store.database.url, "SELECT status FROM alerts") == [("sent",)]
    finally:
        store.close()


async def test_the_service_prunes_on_its_schedule(tmp_path, site):
    """`monitor run`: retention is a job on the scheduler; a database never pruned is
    pruned shortly after the start (here `every: 1s`), without stopping the polls."""
    url = f"sqlite:///{tmp_path / 'monitor.db'}"
    old = ManualClock(datetime.now(timezone.utc) - timedelta(days=120))
    store = Store(url, clock=old)
    (alert_id,) = add_alerts(store, 1)
    store.outbox.mark_delivered_locally(alert_id)
    store.close()
    site.add("/desk.xml", rss(site, ["u1"], ManualClock()), "application/rss+xml")
    config = write_config(tmp_path, [{"url": site.url("/desk.xml"), "interval": "1s"}], fetch={"fetch_pages": False, "allowed_networks": ["127.0.0.0/8"]},
                          storage={"url": url, "retention": {"every": "1s"}})
    async with running(config):
        await until(lambda: database_rows(url, "SELECT count(*) FROM alerts") == [(0,)], timeout=20)
        polls = site.hits("/desk.xml")
        await until(lambda: site.hits("/desk.xml") > polls, timeout=20)
    assert database_rows(url, "SELECT value FROM service_state WHERE key = 'retention.last_run'")


@pytest.mark.parametrize(
    ("retention", "field", "problem"),
    [
        ({"unmatched_items": "2h"}, "storage.retention.unmatched_items", "at least 1d"),
        ({"alerts": "12h"}, "storage.retention.alerts", "at least 1d"),
        ({"every": "soon"}, "storage.retention.every", "duration"),
        ({"keep": "forever"}, "storage.retention.keep", ""),
    ],
)
def test_bad_retention_settings_are_refused_with_the_field_named(tmp_path, retention, field, problem):
    config = write_config(tmp_path, storage={"url": f"sqlite:///{tmp_path / 'm.db'}", "retention": retention})
    result = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "check-config"],
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 2
    line = next(line for line in result.stderr.splitlines() if field in line)
    assert line.startswith(f"{config}:") and problem in line
    assert "Traceback" not in result.stderr


def test_the_example_config_documents_retention():
    text_ = (REPO / "config" / "monitor.yaml").read_text(encoding="utf-8")
    assert "retention:" in text_ and "unmatched_items:" in text_


async def test_a_stop_during_retention_is_clean(tmp_path):
    """A stop between two batches ends the pruning at once; what is left is pruned next time."""
    from monitor.config import RetentionConfig
    from monitor.service.jobs import Retention

    clock = ManualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    store = Store(f"sqlite:///{tmp_path / 'monitor.db'}", clock=clock)
    try:
        for alert_id in add_alerts(store, 1200):
            store.outbox.mark_delivered_locally(alert_id)
        clock.advance(91 * DAY)
        retention = Retention(store, RetentionConfig())
        task = asyncio.create_task(retention.run())
        await asyncio.sleep(0)
        await retention.stop(timeout=5)
        result = await task
        assert not result.complete and result.alerts < 1200
        assert database_rows(store.database.url, "SELECT value FROM service_state WHERE key = 'retention.last_run'") == []
        result = await Retention(store, RetentionConfig()).run()
        assert result.complete and database_rows(store.database.url, "SELECT count(*) FROM alerts") == [(0,)]
    finally:
        store.close()


async def test_a_story_message_still_being_edited_is_kept(tmp_path, database_url):
    """A story's first message is edited by the story's later reports: one edited within
    the retention, or with an edit in flight, is still in use, however old its send."""
    from monitor.config import RetentionConfig
    from monitor.service.jobs import Retention

    clock = ManualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    store = Store(database_url, clock=clock)
    try:
        edited, editing, done = add_alerts(store, 3)
        for alert_id in (edited, editing, done):
            store.outbox.finish_sent(alert_id, store.outbox.claim(alert_id), 100 + alert_id, shown_revision=1)
        clock.advance(80 * DAY)
        attempt = store.outbox.claim_edit(edited, 2)
        store.outbox.finish_edit(edited, attempt, 2, applied=True)  # edited 80 days after its send
        clock.advance(11 * DAY)
        store.outbox.claim_edit(editing, 2)  # an edit in flight now
        result = await Retention(store, RetentionConfig()).run()
        assert result.alerts == 1
        assert sorted(r[0] for r in database_rows(database_url, "SELECT id FROM alerts")) == sorted([edited, editing])
    finally:
        store.close()
