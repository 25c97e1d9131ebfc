"""Stories in Telegram, through the assembled service: later reports of a story edit
its first alert (channel and subscribers' copies) instead of sending new messages.

The service is the object the CLI builds (`Monitor(load_settings(path))`; where the
batching interval matters, with a Store on a manual clock) or the CLI itself in a
subprocess that is SIGKILLed; around it only the local news site and the fake Bot
API, which keeps every message's edit history. The articles are written for these
tests, modelled on wire reports of a rocket attack.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from html import escape
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text

from conftest import ManualClock, REPO, Response, running, write_config
from fake_telegram import CHANNEL, SUBSCRIBER, FakeTelegram, RateLimits
from monitor.store import Store
from test_service import until


# One event told by three outlets (the third adds a suspect), and another event.
TAJI = {
    "Tigris Wire": ("Rockets hit Camp Taji north of Baghdad",
                    "Three rockets struck Camp Taji north of Baghdad on Sunday evening, Iraqi security officials said. "
                    "No casualties were reported at the base."),
    "Gulf Daily": ("Three rockets strike Iraq's Camp Taji",
                   "Camp Taji, a base north of Baghdad, was hit by three rockets on Sunday, according to Iraqi security "
                   "sources, who said nobody was hurt."),
    "Levant Post": ("Camp Taji targeted by three rockets",
                    "Three rockets landed inside Camp Taji north of Baghdad on Sunday evening. No one was injured; "
                    "officials suspect Kataeb Hezbollah."),
}
OTHER = ("Drone downed near Kataeb Hezbollah post",
         "A drone was shot down near a Kataeb Hezbollah position in Anbar province on Sunday, the group said.")


class Newsroom:
    """Outlets publishing on the local site, one RSS feed each; articles appear when published."""

    def __init__(self, site) -> None:
        self.site = site
        self.articles: dict[str, list[tuple[str, str, str]]] = {}

    def slug(self, outlet: str) -> str:
        return outlet.lower().replace(" ", "-")

    def feed(self, outlet: str) -> dict:
        path = f"/{self.slug(outlet)}.xml"
        self.articles.setdefault(outlet, [])
        self.site.routes[path] = lambda handler: Response(self._rss(outlet), 200, {"Content-Type": "application/rss+xml"})
        return {"url": self.site.url(path), "name": outlet, "interval": "0.3s"}

    def publish(self, outlet: str, title: str, text: str) -> str:
        """Publishes an article; returns its URL."""
        n = len(self.articles[outlet]) + 1
        self.articles[outlet].append((f"{self.slug(outlet)}-{n}", title, text))
        return self.url(outlet, n)

    def url(self, outlet: str, n: int) -> str:
        return f"https://{self.slug(outlet)}.example/news/{n}"

    def _rss(self, outlet: str) -> bytes:
        when = format_datetime(datetime.now(timezone.utc) - timedelta(minutes=2))
        body = "".join(
            f"<item><title>{escape(title)}</title><guid>{guid}</guid><link>{self.url(outlet, n)}</link>"
            f"<pubDate>{when}</pubDate><description>{escape(text)}</description></item>"
            for n, (guid, title, text) in enumerate(self.articles[outlet], 1)
        )
        return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{outlet}</title>{body}</channel></rss>'.encode()


def configure(
    tmp_path: Path, fake: FakeTelegram, feeds: list[dict], *, fast: bool = True, edit_interval: str = "0.2s", storage: str | None = None
) -> Path:
    telegram = {"token": fake.token, "channel": "@iraq_watch", "api_base_url": fake.base_url, "commands": False, "max_backoff": "0.5s"}
    if fast:  # scaled-up limits, as in the other wiring tests
        telegram["rate_limits"] = {"per_chat_per_second": 100, "per_group_per_minute": 6000, "global_per_second": 100}
    return write_config(
        tmp_path,
        feeds,
        telegram=telegram,
        fetch={"allowed_networks": ["127.0.0.0/8"], "fetch_pages": False},
        service={"startup_spread": 0.2, "shutdown_grace": 2},
        defaults={"jitter": 0},
        stories={"edit_interval": edit_interval},
        storage={"url": storage or f"sqlite:///{tmp_path / 'monitor.db'}"},
    )


def subscribe_all(url: str, chat: int) -> None:
    store = Store(url)
    store.subscribers.register(str(chat), None)
    store.subscribers.subscribe(str(chat), (), all_entities=True)
    store.close()


def story_messages(fake: FakeTelegram, chat: int, word: str = "Taji") -> list:
    return [m for m in fake.sent_messages(chat) if word in m.versions[0]]


def edits_of(fake: FakeTelegram, chat: int, *, status: int | None = 200) -> list:
    """Edits of messages in `chat` the Bot API answered with `status` (None: any)."""
    return [c for c in fake.calls_to("editMessageText", status=status) if c.chat_id == chat]


def sends_to(fake: FakeTelegram, chat: int) -> list:
    return [c for c in fake.calls_to("sendMessage") if c.chat_id == chat]


def alert_rows(db: Path | str) -> list[dict]:
    """The outbox as it is in the database (a SQLite file, or a database URL)."""
    if isinstance(db, Path):
        try:  # read-only: never creates the file the service is about to create
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                conn.row_factory = sqlite3.Row
                return [dict(r) for r in conn.execute("SELECT * FROM alerts ORDER BY id")]
        except sqlite3.OperationalError:
            return []  # not created (or not migrated) yet
    engine = create_engine(db)
    try:
        with engine.connect() as conn:
            return [dict(r) for r in conn.execute(text("SELECT * FROM alerts ORDER BY id")).mappings()]
    finally:
        engine.dispose()


# -- three outlets, one story; another story apart ----------------------------------------


async def test_later_reports_edit_the_first_alert_and_another_story_gets_its_own(tmp_path, site, fake, database_url):
    news = Newsroom(site)
    feeds = [news.feed(outlet) for outlet in (*TAJI, "Anbar Monitor")]
    config = configure(tmp_path, fake, feeds, storage=database_url)
    subscribe_all(database_url, SUBSCRIBER)
    async with running(config):
        news.publish("Tigris Wire", *TAJI["Tigris Wire"])
        await until(lambda: len(fake.sent_messages(CHANNEL)) == 1 and len(fake.sent_messages(SUBSCRIBER)) == 1)

        gulf = news.publish("Gulf Daily", *TAJI["Gulf Daily"])
        await until(lambda: all("Gulf Daily" in m.text for m in fake.sent_messages(CHANNEL) + fake.sent_messages(SUBSCRIBER)))

        news.publish("Anbar Monitor", *OTHER)
        await until(lambda: len(fake.sent_messages(CHANNEL)) == 2 and len(fake.sent_messages(SUBSCRIBER)) == 2)

        # Telegram's front end fails the next edit with nginx's 502 page: tried again, not lost.
        fake.add_fault("502", method="editMessageText")
        levant = news.publish("Levant Post", *TAJI["Levant Post"])
        await until(lambda: all("Levant Post" in m.text for m in story_messages(fake, CHANNEL) + story_messages(fake, SUBSCRIBER)), timeout=20)

    for chat in (CHANNEL, SUBSCRIBER):
        taji, other = fake.sent_messages(chat)
        assert len(sends_to(fake, chat)) == 2  # one message per story
        assert taji.versions[0].startswith("Rockets hit Camp Taji north of Baghdad")
        assert taji.text.startswith(taji.versions[0])  # the first alert, kept, with the story below it
        added = taji.text.removeprefix(taji.versions[0]).strip().splitlines()
        assert added == ["Also reported by Gulf Daily, Levant Post", "3 reports in this story", "Now also about: Kataeb Hezbollah"]
        links = [e["url"] for e in taji.entities if e["type"] == "text_link"]
        assert links[-2:] == [gulf, levant]
        assert len(taji.versions) == 3  # sent, edited by Gulf Daily's report, edited by Levant Post's
        assert "Also reported by" not in other.text and other.text.startswith("Drone downed")
    assert len(fake.calls_to("editMessageText", status=502)) == 1  # the failed edit, made again afterwards
    rows = alert_rows(tmp_path / "monitor.db" if database_url.startswith("sqlite") else database_url)
    assert len(rows) == 4 and {(r["status"], r["edit_status"]) for r in rows} == {("sent", None)}


# -- a restart, and a SIGKILL during an edit, change nothing --------------------------------


def start_service(config: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    with (config.parent / "service.log").open("a") as log:  # a file: an unread pipe would fill and block the service
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"], stdout=log, stderr=subprocess.STDOUT, env=env
        )


def stop_service(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


@pytest.mark.slow
async def test_a_kill_between_the_copies_and_one_during_an_edit_change_nothing(tmp_path, site, fake):
    news = Newsroom(site)
    config = configure(tmp_path, fake, [news.feed(outlet) for outlet in TAJI])
    db = tmp_path / "monitor.db"
    news.publish("Tigris Wire", *TAJI["Tigris Wire"])
    proc = start_service(config)
    try:
        await until(lambda: [r["status"] for r in alert_rows(db)] == ["sent"], timeout=40)
        kill(proc)  # between the first report and the second (its alert delivered and recorded)

        news.publish("Gulf Daily", *TAJI["Gulf Daily"])
        proc = start_service(config)
        await until(lambda: "Gulf Daily" in fake.sent_messages(CHANNEL)[0].text, timeout=40)

        # The next edit reaches Telegram, which applies it but holds its answer; the
        # service is killed in that window.
        fake.add_fault("delay", method="editMessageText", delay=60)
        news.publish("Levant Post", *TAJI["Levant Post"])
        await until(lambda: "Levant Post" in fake.sent_messages(CHANNEL)[0].text, timeout=40)
        await until(lambda: alert_rows(db)[0]["edit_status"] == "editing")
        kill(proc)

        proc = start_service(config)  # finds the edit in doubt and makes it again
        await until(lambda: alert_rows(db)[0]["edit_status"] is None, timeout=40)
    finally:
        stop_service(proc)

    [message] = fake.sent_messages(CHANNEL)
    assert len(sends_to(fake, CHANNEL)) == 1  # no duplicate across two kills
    assert len(message.versions) == 3 and "3 reports in this story" in message.text  # each report changed it once
    attempts = [(c.status, c.description) for c in fake.calls_to("editMessageText", status=None)]
    assert attempts[-1][0] == 400 and attempts[-1][1].startswith("Bad Request: message is not modified")
    [row] = alert_rows(db)
    assert (row["status"], row["shown_revision"], row["edits"]) == ("sent", 3, 1)
    # (edits counts what this database saw applied: the held one is known only by Telegram's "not modified")


# -- a burst: one message, few edits, within Telegram's limits --------------------------------

BURST_OUTLETS = [
    "Baghdad Herald", "Mosul Courier", "Basra Times", "Zagros Ledger", "Najaf Bulletin",
    "Sulaymaniyah Post", "Euphrates News", "Dijla Press", "Anbar Review", "Karbala Daily",
]


def stories_of(db: Path) -> dict[int, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT story_id, count(*) FROM items WHERE story_id IS NOT NULL GROUP BY story_id"))


async def test_a_burst_of_thirty_copies_is_one_message_and_few_edits(tmp_path, site, fake):
    fake.set_rate_limits(RateLimits())  # Telegram's own flood control: any excess would be a 429
    news = Newsroom(site)
    feeds = [news.feed(outlet) for outlet in ("Tigris Wire", *BURST_OUTLETS, "Anbar Monitor")]
    config = configure(tmp_path, fake, feeds, fast=False, edit_interval="60s")  # the default pace and interval
    db = tmp_path / "monitor.db"
    clock = ManualClock(datetime.now(timezone.utc))
    title, text = TAJI["Tigris Wire"]
    async with running(config, store=Store(f"sqlite:///{db}", clock=clock)):
        news.publish("Tigris Wire", title, text)
        await until(lambda: len(fake.sent_messages(CHANNEL)) == 1, timeout=20)
        # 30 reprints of the wire story, three per outlet.
        for n in range(3):
            for outlet in BURST_OUTLETS:
                news.publish(outlet, title, f"{text} ({outlet}, edition {n + 1})")
        await until(lambda: list(stories_of(db).values()) == [31], timeout=30)
        await until(lambda: len(edits_of(fake, CHANNEL)) == 1, timeout=20)  # the first later report: at once
        # Another story afterwards: once it is out, the sender has looked at every copy.
        news.publish("Anbar Monitor", *OTHER)
        await until(lambda: len(fake.sent_messages(CHANNEL)) == 2, timeout=20)
        assert len(edits_of(fake, CHANNEL)) == 1  # the rest wait for the interval

        clock.advance(61)
        news.publish("Tigris Wire", title, f"{text} (updated)")  # one more copy; the edit is due now
        await until(lambda: "32 reports in this story" in fake.sent_messages(CHANNEL)[0].text, timeout=20)

    taji = fake.sent_messages(CHANNEL)[0]
    assert len(sends_to(fake, CHANNEL)) == 2  # one per story
    assert len(edits_of(fake, CHANNEL)) == 2 and len(taji.versions) == 3
    assert fake.count_429 == 0
    [outlets] = [line.removeprefix("Also reported by ") for line in taji.text.splitlines() if line.startswith("Also reported by ")]
    assert sorted(outlets.split(", ")) == sorted(BURST_OUTLETS)  # each outlet once, in the order they reported
    assert "Now also about" not in taji.text


# -- a message deleted in Telegram ----------------------------------------------------


@pytest.fixture
def json_logs():
    from monitor.ops.logs import configure_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_a_deleted_message_ends_its_edits_with_a_log_line_and_the_rest_goes_on(tmp_path, site, fake, json_logs):
    news = Newsroom(site)
    config = configure(tmp_path, fake, [news.feed(outlet) for outlet in (*TAJI, "Anbar Monitor")])
    subscribe_all(f"sqlite:///{tmp_path / 'monitor.db'}", SUBSCRIBER)
    async with running(config):
        news.publish("Tigris Wire", *TAJI["Tigris Wire"])
        await until(lambda: len(fake.sent_messages(CHANNEL)) == 1 and len(fake.sent_messages(SUBSCRIBER)) == 1)
        fake.delete_message(CHANNEL, fake.sent_messages(CHANNEL)[0].message_id)  # a channel admin removed it

        news.publish("Gulf Daily", *TAJI["Gulf Daily"])
        await until(lambda: "Gulf Daily" in fake.sent_messages(SUBSCRIBER)[0].text)
        await until(lambda: len(edits_of(fake, CHANNEL, status=400)) == 1)
        news.publish("Levant Post", *TAJI["Levant Post"])
        await until(lambda: "Levant Post" in fake.sent_messages(SUBSCRIBER)[0].text)
        news.publish("Anbar Monitor", *OTHER)
        await until(lambda: len(fake.sent_messages(CHANNEL)) == 1 and fake.sent_messages(CHANNEL)[0].text.startswith("Drone downed"))

    assert len(edits_of(fake, CHANNEL, status=None)) == 1  # no edit tried again on a message that is gone
    gone = [json.loads(line) for line in json_logs.getvalue().splitlines() if '"story_message_gone"' in line]
    assert len(gone) == 1 and gone[0]["chat"] == "@iraq_watch" and "message to edit not found" in gone[0]["reason"].lower()
    channel_row = next(r for r in alert_rows(tmp_path / "monitor.db") if r["chat_id"] == "@iraq_watch")
    assert channel_row["edit_status"] == "gone"


# -- an alert still queued when its story grows ------------------------------------------


async def test_an_alert_held_in_an_outage_goes_out_with_the_reports_that_came_meanwhile(tmp_path, site, fake):
    news = Newsroom(site)
    config = configure(tmp_path, fake, [news.feed(outlet) for outlet in TAJI])
    fake.set_outage(502)  # Telegram's front end is down: the first report's alert waits in the outbox
    async with running(config):
        news.publish("Tigris Wire", *TAJI["Tigris Wire"])
        await until(lambda: len(alert_rows(tmp_path / "monitor.db")) == 1)  # stored, its alert queued
        news.publish("Gulf Daily", *TAJI["Gulf Daily"])
        await until(lambda: len(alert_rows(tmp_path / "monitor.db")) == 1 and stories_of(tmp_path / "monitor.db") == {1: 2})
        fake.set_outage(None)
        await until(lambda: len(fake.sent_messages(CHANNEL)) == 1, timeout=20)

    [message] = fake.sent_messages(CHANNEL)
    assert message.versions == [message.text]  # sent once, never edited ...
    assert "Also reported by Gulf Daily\n2 reports in this story" in message.text  # ... as the story stood when it went
    assert fake.calls_to("editMessageText", status=None) == []
    [row] = alert_rows(tmp_path / "monitor.db")
    assert (row["status"], row["shown_revision"]) == ("sent", 2)


# -- the story cannot be read when its alert is claimed ------------------------------------


async def test_an_alert_whose_story_cannot_be_read_is_queued_again_not_lost(tmp_path, site, fake, postgres_url):
    """A lock held on the stories table (a stuck migration, an admin's session) makes
    reading the story time out after the sender claimed the alert: it must go back to
    the queue, not stay 'sending' (which a restart takes for "maybe sent", never resent)."""
    import psycopg

    news = Newsroom(site)
    config = configure(tmp_path, fake, [news.feed("Tigris Wire")], storage=postgres_url)
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    settings["storage"]["statement_timeout"] = "1s"
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    fake.set_outage(502)  # the alert waits in the outbox until the lock is taken
    async with running(config):
        news.publish("Tigris Wire", *TAJI["Tigris Wire"])
        await until(lambda: [r["status"] for r in alert_rows(postgres_url)] == ["queued"], timeout=20)
        with psycopg.connect(postgres_url.replace("+psycopg", "")) as locker:
            locker.execute("LOCK TABLE stories IN ACCESS EXCLUSIVE MODE")
            fake.set_outage(None)
            await until(lambda: any("story not read" in (r["error"] or "") for r in alert_rows(postgres_url)), timeout=20)
            assert fake.sent_messages(CHANNEL) == []
            locker.rollback()  # the lock is released
        await until(lambda: [r["status"] for r in alert_rows(postgres_url)] == ["sent"], timeout=20)
    assert len(sends_to(fake, CHANNEL)) == 1
