"""Digests: items of digest-priority entities are collected, not alerted, and go out as
one silent message per chat at the configured times, grouped by entity, each line a
link; exactly once, also when a digest time passed while the service was down.

From outside: the service the CLI builds (`Monitor(load_settings(path))`, with the
Store's clock injected), the local feed server, the fake Bot API, the SQLite file. The
digest's cron job is fired by calling the job APScheduler holds, after moving the
injected clock to its time; nothing sleeps for time to pass.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from html import escape
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import ManualClock, REPO, running, write_config
from fake_telegram import CHANNEL, SUBSCRIBER, FakeTelegram, utf16_len
from monitor.notify import format_digest, latest_slot
from monitor.service import Monitor
from monitor.store import DigestEntry, Store
from test_bot import Conversation
from test_service import until

BAGHDAD = ZoneInfo("Asia/Baghdad")

WATCHLIST = """\
version: 1
entities:
  - id: camp-taji
    name: Camp Taji
    aliases: [Camp Taji]
    priority: digest
  - id: ain-al-asad
    name: Ain al-Asad
    aliases: [Ain al-Asad]
    priority: digest
  - id: k1-airbase
    name: K1 Air Base
    aliases: [K1 air base]
  - id: kataeb-hezbollah
    name: Kataeb Hezbollah
    aliases: [Kataeb Hezbollah]
    urgent: true
"""


def baghdad(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A moment of March 2025, Baghdad wall-clock time, as UTC."""
    return datetime(2025, 3, day, hour, minute, second, tzinfo=BAGHDAD).astimezone(timezone.utc)


class Wire:
    """The local feed: articles added by the test, newest first as feeds list them."""

    def __init__(self, site, clock: ManualClock) -> None:
        self.site, self.clock = site, clock
        self.items: list[tuple[str, str, datetime]] = []
        site.add("/wire.xml", self._body)

    def add(self, *titles: str) -> list[str]:
        urls = []
        for title in titles:
            n = len(self.items)
            self.items.append((f"wire-{n}", title, self.clock.now - timedelta(minutes=5)))
            urls.append(self.site.url(f"/news/{n}.html"))
        return urls

    def _body(self, handler):
        from conftest import Response

        entries = "".join(
            f"<item><title>{escape(title)}</title><guid>{guid}</guid><link>{self.site.url('/news/' + guid[5:] + '.html')}</link>"
            f"<pubDate>{format_datetime(published)}</pubDate><description>{escape(title)}. More about it.</description></item>"
            for guid, title, published in reversed(self.items)
        )
        body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>{entries}</channel></rss>'
        return Response(body.encode(), 200, {"Content-Type": "application/rss+xml"})


def digest_config(tmp_path: Path, site, fake: FakeTelegram, **sections) -> Path:
    (tmp_path / "watchlist.yaml").write_text(sections.pop("watchlist", WATCHLIST), encoding="utf-8")
    return write_config(
        tmp_path,
        [{"url": site.url("/wire.xml"), "name": "Wire", "interval": "0.3s"}],
        watchlist="watchlist.yaml",
        telegram={
            "token": fake.token, "channel": "@iraq_watch", "api_base_url": fake.base_url, "max_backoff": "0.5s",
            "rate_limits": {"per_chat_per_second": 100, "per_group_per_minute": 6000, "global_per_second": 100},
        },
        fetch={"fetch_pages": False},
        defaults={"jitter": 0},
        service={"startup_spread": 0.2, "shutdown_grace": 2},
        digest={"at": ["08:00", "18:00"], "timezone": "Asia/Baghdad"},
        **sections,
    )


async def fire(monitor: Monitor, job_id: str) -> None:
    """What APScheduler does when the job's time comes: run the job it holds."""
    job = monitor.jobs.timed_job(job_id)
    assert job is not None, f"no {job_id} job scheduled"
    await job.func(*job.args)


def statuses(db: Path, chat: int | str) -> list[str]:
    """The outbox rows of a chat, oldest first (the channel is stored as configured)."""
    chat = "@iraq_watch" if chat == CHANNEL else chat
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT status FROM alerts WHERE chat_id = ? ORDER BY id", (str(chat),))]


def links(message) -> list[str]:
    return [e["url"] for e in message.entities if e["type"] == "text_link"]


@pytest.fixture
def fake(fake_telegram: FakeTelegram) -> FakeTelegram:
    fake_telegram.add_chat(CHANNEL, "channel", username="iraq_watch")
    fake_telegram.set_rate_limits(None)
    return fake_telegram


async def test_a_digest_entity_arrives_only_in_the_digest_at_its_time_grouped_and_silent(tmp_path, site, fake):
    clock = ManualClock(baghdad(10, 7, 30))
    wire = Wire(site, clock)
    config = digest_config(tmp_path, site, fake)
    db = tmp_path / "monitor.db"
    talk = Conversation(fake)
    async with running(config, clock=clock, ready=True) as monitor:
        job = monitor.jobs.timed_job("digest")
        assert "hour='8'" in str(job.trigger) and "hour='18'" in str(job.trigger), str(job.trigger)
        assert all(str(t.timezone) == "Asia/Baghdad" for t in job.trigger.triggers)
        # A subscriber who wants K1 in the digest too.
        await talk.say(SUBSCRIBER, "/subscribe all")
        answer = await talk.say(SUBSCRIBER, "/priority K1 air base digest")
        assert "K1 Air Base: in the digest at 08:00, 18:00 Asia/Baghdad" in answer
        listing = await talk.say(SUBSCRIBER, "/priority")
        assert "Camp Taji" in listing and "Ain al-Asad" in listing and "K1 Air Base" in listing
        replies = len(fake.sent_messages(SUBSCRIBER))

        taji = wire.add("Rockets hit Camp Taji overnight", "Camp Taji: damage assessed", "Camp Taji & \"the army\"")
        k1 = wire.add("Drone seen near the K1 air base")
        asad = wire.add("Ain al-Asad hosts talks", "Ain al-Asad runway repaired")
        await until(lambda: len(fake.sent_messages(CHANNEL)) == 1)
        await until(lambda: len(statuses(db, CHANNEL)) == 6 and len(statuses(db, SUBSCRIBER)) == 6)

        # Only the immediate entity was alerted (to the channel), with a sound.
        [alert] = fake.sent_messages(CHANNEL)
        assert links(alert) == k1 and alert.disable_notification is False
        assert len(fake.sent_messages(SUBSCRIBER)) == replies  # K1 is a digest entity for them
        assert statuses(db, CHANNEL).count("digest") == 5 and statuses(db, SUBSCRIBER) == ["digest"] * 6

        # 07:59: the job's time has not come; the digest of 18:00 yesterday is empty.
        clock.now = baghdad(10, 7, 59)
        await fire(monitor, "digest")
        await asyncio.sleep(0.3)  # a wrongly queued digest would be sent within this
        assert len(fake.sent_messages(CHANNEL)) == 1

        clock.now = baghdad(10, 8, 0, 1)
        await fire(monitor, "digest")
        await until(lambda: len(fake.sent_messages(CHANNEL)) == 2 and len(fake.sent_messages(SUBSCRIBER)) == replies + 1)

        digest = fake.sent_messages(CHANNEL)[1]
        assert digest.disable_notification is True
        assert digest.text.splitlines() == [
            "Digest, 10 Mar 08:00 Asia/Baghdad: 5 articles",
            "",
            "Camp Taji (3)",
            "• Rockets hit Camp Taji overnight",
            "• Camp Taji: damage assessed",
            "• Camp Taji & \"the army\"",
            "",
            "Ain al-Asad (2)",
            "• Ain al-Asad hosts talks",
            "• Ain al-Asad runway repaired",
        ]
        assert links(digest) == taji + asad  # each line links its article, oldest first in its group

        private = fake.sent_messages(SUBSCRIBER)[-1]
        assert private.disable_notification is True
        assert private.text.startswith("Digest, 10 Mar 08:00 Asia/Baghdad: 6 articles")
        assert "K1 Air Base (1)" in private.text
        assert sorted(links(private)) == sorted(taji + k1 + asad)

        # Fired again (a second instance, a late duplicate): nothing is left to send.
        await fire(monitor, "digest")
        assert statuses(db, CHANNEL).count("digest") == 0
    sent = (len(fake.sent_messages(CHANNEL)), len(fake.sent_messages(SUBSCRIBER)))

    # A restart after the next digest time: nothing is sent again.
    clock.now = baghdad(10, 18, 5)
    async with running(config, clock=clock, ready=True):
        await asyncio.sleep(0.5)
    assert (len(fake.sent_messages(CHANNEL)), len(fake.sent_messages(SUBSCRIBER))) == sent
    assert statuses(db, CHANNEL).count("sent") == 2 and statuses(db, CHANNEL).count("digested") == 4


async def test_a_digest_due_while_the_service_was_down_goes_out_at_the_next_start(tmp_path, site, fake):
    clock = ManualClock(baghdad(11, 17, 0))
    wire = Wire(site, clock)
    config = digest_config(tmp_path, site, fake)
    db = tmp_path / "monitor.db"
    before = wire.add("Camp Taji quiet after the strike", "Ain al-Asad drill announced")
    async with running(config, clock=clock, ready=True):
        await until(lambda: len(statuses(db, CHANNEL)) == 2)
    assert fake.sent_messages(CHANNEL) == []

    # Down over the 18:00 digest; back at 19:30, with a new article waiting in the feed.
    clock.now = baghdad(11, 19, 30)
    after = wire.add("Camp Taji visited by ministers")
    async with running(config, clock=clock, ready=True):
        await until(lambda: len(fake.sent_messages(CHANNEL)) == 1)
        await until(lambda: len(statuses(db, CHANNEL)) == 3)
        [digest] = fake.sent_messages(CHANNEL)
        assert digest.text.startswith("Digest, 11 Mar 18:00 Asia/Baghdad: 2 articles")
        assert sorted(links(digest)) == sorted(before)
        # Collected after the missed time: waits for the next one. (The carrier is marked
        # sent once Telegram's answer is read, a moment after the fake recorded it.)
        await until(lambda: statuses(db, CHANNEL) == ["sent", "digested", "digest"])
    clock.now = baghdad(12, 8, 0, 1)
    async with running(config, clock=clock, ready=True):
        await until(lambda: len(fake.sent_messages(CHANNEL)) == 2)
    assert links(fake.sent_messages(CHANNEL)[1]) == after
    assert statuses(db, CHANNEL) == ["sent", "digested", "sent"]


async def test_an_empty_digest_sends_nothing(tmp_path, site, fake):
    clock = ManualClock(baghdad(12, 7, 0))
    wire = Wire(site, clock)
    wire.add("Drone seen near the K1 air base")  # immediate: an alert, nothing for the digest
    config = digest_config(tmp_path, site, fake)
    async with running(config, clock=clock, ready=True) as monitor:
        await until(lambda: len(fake.sent_messages(CHANNEL)) == 1)
        clock.now = baghdad(12, 8, 0, 5)
        await fire(monitor, "digest")
        await asyncio.sleep(0.3)
    assert len(fake.sent_messages(CHANNEL)) == 1
    assert not fake.calls_to("sendMessage", status=None)[1:]


def entry(n: int, entity: str = "camp-taji", title: str | None = None) -> DigestEntry:
    name = {"camp-taji": "Camp Taji", "k1-airbase": "K1 Air Base"}[entity]
    return DigestEntry(n, title or f"Report {n} on {name} " + "with a long headline " * 6, f"https://news.example/{entity}/{n}", entity, name)


def test_a_long_digest_is_cut_into_the_fewest_messages_each_line_whole():
    entries = [entry(n, "camp-taji" if n % 3 else "k1-airbase") for n in range(150)]
    parts = format_digest(entries, "08:00 Asia/Baghdad")
    assert len(parts) > 1
    total = sum(utf16_len(p.text_html) for p in parts)
    assert len(parts) <= total // 4096 + 2  # no part much emptier than needed
    for left, right in zip(parts, parts[1:]):
        lines = right.text_html.split("\n")
        moved = lines[1] if "(continued)" in lines[0] else lines[0]  # the line that did not fit
        assert utf16_len(left.text_html) + 1 + utf16_len(moved) > 4096
    for part in parts:
        assert utf16_len(part.text_html) <= 4096 and utf16_len(part.text_plain) <= 4096
    html_all = "\n".join(p.text_html for p in parts)
    for e in entries:
        assert html_all.count(f'href="{e.url}"') == 1
    assert parts[1].text_html.startswith("<b>") and "(continued)" in parts[1].text_html.split("\n")[0]


def test_titles_are_escaped_and_a_missing_link_leaves_the_title():
    [part] = format_digest(
        [DigestEntry(1, 'Taji <b>"raid"</b> & more', "", "camp-taji", "Camp <Taji>"),
         DigestEntry(2, "Second", "javascript:alert(1)", "camp-taji", "Camp <Taji>")],
        "18:00 UTC",
    )
    assert "<b>Camp &lt;Taji&gt;</b> (2)" in part.text_html
    assert "• Taji &lt;b&gt;\"raid\"&lt;/b&gt; &amp; more" in part.text_html
    assert "javascript" not in part.text_html and "• Second" in part.text_html
    assert format_digest([], "08:00 UTC") == []


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (baghdad(10, 8, 0), baghdad(10, 8, 0)),
        (baghdad(10, 7, 59), baghdad(9, 18, 0)),
        (baghdad(10, 23, 0), baghdad(10, 18, 0)),
        (baghdad(10, 0, 30), baghdad(9, 18, 0)),
    ],
)
def test_the_latest_digest_time(now, expected):
    assert latest_slot(now, ["08:00", "18:00"], BAGHDAD) == expected


def test_digest_times_keep_to_the_wall_clock_across_a_clock_change():
    berlin = ZoneInfo("Europe/Berlin")  # summer time from 30 March 2025, 02:00 -> 03:00
    after = datetime(2025, 3, 30, 9, 0, tzinfo=berlin)
    assert latest_slot(after, ["08:00"], berlin) == datetime(2025, 3, 30, 6, 0, tzinfo=timezone.utc)
    assert latest_slot(datetime(2025, 3, 29, 9, 0, tzinfo=berlin), ["08:00"], berlin) == datetime(2025, 3, 29, 7, 0, tzinfo=timezone.utc)


def check_config(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "check-config"],
                          capture_output=True, text=True, cwd=REPO, timeout=60)


@pytest.mark.parametrize(
    ("section", "field", "problem"),
    [
        ({"digest": {"at": ["25:00"]}}, "digest.at", "not a time of day"),
        ({"digest": {"at": "eight"}}, "digest.at", "list"),
        ({"digest": {"at": []}}, "digest.at", "at least 1"),
        ({"digest": {"timezone": "Mars/Olympus"}}, "digest.timezone", "unknown time zone"),
        ({"reports": {"weekly": {"at": "Someday 08:00"}}}, "reports.weekly.at", "e.g. 'Mon 08:00'"),
    ],
)
def test_bad_digest_and_report_settings_are_one_clear_line(tmp_path, section, field, problem):
    config = write_config(tmp_path, **section)
    result = check_config(config)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = next(line for line in result.stderr.splitlines() if field in line)
    assert line.startswith(f"{config}:") and problem in line


@pytest.mark.parametrize(
    ("entity", "problem"),
    [("priority: soon", "priority"), ("priority: digest\n    urgent: true", "urgent: true needs priority: immediate")],
)
def test_bad_priorities_in_the_watchlist_are_one_clear_line(tmp_path, entity, problem):
    (tmp_path / "watchlist.yaml").write_text(
        f"version: 1\nentities:\n  - id: camp-taji\n    name: Camp Taji\n    aliases: [Camp Taji]\n    {entity}\n",
        encoding="utf-8",
    )
    result = check_config(write_config(tmp_path, watchlist="watchlist.yaml"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert any("watchlist.yaml:" in line and problem in line for line in result.stderr.splitlines()), result.stderr


def test_the_example_configs_document_the_keys():
    monitor_yaml = (REPO / "config" / "monitor.yaml").read_text(encoding="utf-8")
    assert "digest:" in monitor_yaml and "weekly:" in monitor_yaml
    assert "priority:" in (REPO / "config" / "watchlist.yaml").read_text(encoding="utf-8")


@pytest.mark.postgres
def test_two_instances_building_the_same_digest_on_postgresql_list_each_item_once(postgres_url):
    """Two instances fire the digest at the same moment: the guarded transaction lets one
    of them queue the digest; the other finds nothing left."""
    import threading

    from monitor.store import FoundMention, NewItem, QueuedAlert

    clock = ManualClock(baghdad(10, 7, 0))
    stores = [Store(postgres_url, clock=clock), Store(postgres_url, clock=clock)]
    try:
        feed = stores[0].feeds.ensure("https://wire.example/rss", "Wire")
        for n in range(40):
            stores[0].items.add(
                NewItem(feed.id, f"g{n}", f"https://wire.example/{n}", f"https://wire.example/{n}", f"Camp Taji report {n}",
                        None, "", "feed", None),
                [FoundMention("camp-taji", "Camp Taji", "Camp Taji", 0, 9)],
                [QueuedAlert("@iraq_watch", "x", "x", status="digest", silent=True)],
            )
        clock.now = baghdad(10, 8, 0, 1)
        slot = latest_slot(clock.now, ["08:00"], BAGHDAD)
        start = threading.Barrier(2)
        queued: list[int] = []

        def build(store: Store) -> None:
            start.wait()
            queued.append(store.digests.build("@iraq_watch", slot, lambda entries: format_digest(entries, "08:00", max_length=1000)))

        threads = [threading.Thread(target=build, args=(s,)) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        same = [DigestEntry(n, f"Camp Taji report {n}", f"https://wire.example/{n}", "camp-taji", "Camp Taji") for n in range(40)]
        parts = len(format_digest(same, "08:00", max_length=1000))
        assert sorted(queued) == [0, parts] and parts > 1
        counts = stores[0].outbox.counts()
        assert counts == {"queued": parts, "digested": 40 - parts}
        html_all = "\n".join(row.text_html for row in stores[0].outbox.due(100))
        assert all(html_all.count(f'href="https://wire.example/{n}"') == 1 for n in range(40))
    finally:
        for store in stores:
            store.close()
