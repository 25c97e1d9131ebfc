"""Several instances on one PostgreSQL database, from outside: three `monitor run`
processes (each with its own config file, one database) over 60 feeds of the local
feed server, new matching articles appearing while they run, Telegram = the fake Bot
API. Asserted:

* every matching article is alerted exactly once (counted at the fake), also the
  article two feeds publish at the same moment;
* each feed is polled once per interval (requests counted at the feed server): no
  two polls of a feed closer than the interval, and no feed left waiting longer
  than interval + lease, also after an instance is SIGKILLed;
* one sender: no 409 Conflict between getUpdates pollers, no 429 from flood control;
  after the sender is SIGKILLed another instance takes the role and sends;
* /healthz and `monitor stats` show the instances, their feed claims and the sender.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from conftest import REPO, Response, write_config

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

FEEDS = 60
INTERVAL = 3.0  # seconds: the run stays short
LEASE = 6.0
HEARTBEAT = 1.0
CHANNEL_ID = -1001000000001


class NewsSite:
    """60 RSS feeds on the local feed server, answering conditional GETs (ETag) with 304,
    and recording when each feed was requested."""

    def __init__(self, site, feeds: int = FEEDS) -> None:
        self.site = site
        self.feeds = feeds
        self.lock = threading.Lock()
        self.entries: dict[int, list[str]] = {n: [] for n in range(feeds)}
        self.versions: dict[int, int] = {n: 0 for n in range(feeds)}
        self.polled: dict[int, list[float]] = defaultdict(list)
        self.articles: list[str] = []  # links of the matching articles published
        for n in range(feeds):
            site.add(f"/feeds/{n}.xml", self._route(n))
            self.publish([n], f"Local council in district {n} approves the budget", matching=False)

    def url(self, n: int) -> str:
        return self.site.url(f"/feeds/{n}.xml")

    def publish(self, feeds: list[int], title: str, *, matching: bool = True) -> str:
        """One article appearing in these feeds at the same moment (same link)."""
        with self.lock:
            serial = len(self.articles) + sum(len(e) for e in self.entries.values())
            link = self.site.url(f"/news/{serial}.html")
            body = (
                "Two rockets landed inside Camp Taji north of Baghdad overnight, the coalition said."
                if matching
                else "The council met on Tuesday and approved next year's spending plan."
            )
            now = format_datetime(datetime.now(timezone.utc))
            for n in feeds:
                self.entries[n].append(
                    f"<item><title>{title}</title><link>{link}</link><guid>feed{n}-item{serial}</guid>"
                    f"<pubDate>{now}</pubDate><description>{body}</description></item>"
                )
                self.versions[n] += 1
            if matching:
                self.articles.append(link)
        return link

    def _route(self, n: int):
        def answer(handler) -> Response:
            with self.lock:
                self.polled[n].append(time.monotonic())
                etag = f'"v{self.versions[n]}"'
                if handler.headers.get("If-None-Match") == etag:
                    return Response(b"", 304, {"ETag": etag})
                items = "".join(reversed(self.entries[n]))
            xml = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Outlet {n}</title>{items}</channel></rss>'
            return Response(xml.encode(), 200, {"Content-Type": "application/rss+xml", "ETag": etag})

        return answer

    def polls(self) -> dict[int, list[float]]:
        with self.lock:
            return {n: list(times) for n, times in self.polled.items()}


class Instance:
    """One `monitor run` process with its own config file and log."""

    def __init__(self, folder: Path, config: Path) -> None:
        self.log_path = folder / "monitor.log"
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.health_port: int | None = None

    def events(self) -> list[dict]:
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    found.append(json.loads(line))
                except ValueError:
                    pass
        return found

    def port(self) -> int | None:
        if self.health_port is None:
            for event in self.events():
                if event.get("event") == "health_listening":
                    self.health_port = int(event["port"])
        return self.health_port

    def healthz(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port()}/healthz", timeout=5) as response:
            return json.load(response)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode


def wait_until(predicate, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def instance_config(folder: Path, news: NewsSite, database: str, fake) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return write_config(
        folder,
        [{"url": news.url(n), "name": f"Outlet {n}"} for n in range(news.feeds)],
        storage={"url": database},
        telegram={
            "token": fake.token,
            "channel": "@iraq_watch",
            "api_base_url": fake.base_url,
            "commands": True,
            "rate_limits": {"per_chat_per_second": 10, "per_group_per_minute": 600, "global_per_second": 30},
        },
        fetch={"allowed_networks": ["127.0.0.0/8"], "fetch_pages": False},
        defaults={"interval": f"{INTERVAL}s", "jitter": 0},
        service={"health_port": 0, "log_format": "json", "state_flush": "1s", "startup_spread": "2s", "reload_check": "60s"},
        instances={"lease": f"{LEASE}s", "heartbeat": f"{HEARTBEAT}s"},
        stories={"enabled": False},  # one alert per article: the reports here are copies of one story
    )


def sender_of(database: str) -> str | None:
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT owner FROM leases WHERE name LIKE 'sender:%' AND expires_at > now()")).scalar()
    finally:
        engine.dispose()


def instance_ids(database: str) -> dict[int, str]:
    """pid -> instance id, from the registry."""
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            return {pid: instance_id for instance_id, pid in conn.execute(text("SELECT id, pid FROM instances"))}
    finally:
        engine.dispose()


def alerted(fake, link: str) -> int:
    return sum(1 for m in fake.sent_messages(CHANNEL_ID) if link in m.raw_text)


def test_three_instances_split_the_feeds_alert_once_and_survive_a_kill(tmp_path, site, fake_telegram, postgres_url):
    fake = fake_telegram
    fake.add_channel("@iraq_watch", CHANNEL_ID)
    fake.set_rate_limits({"per_chat_per_second": 10, "per_chat_burst": 3, "per_group_per_minute": 600, "global_per_second": 30})
    news = NewsSite(site)
    instances = [Instance(tmp_path / f"i{k}", instance_config(tmp_path / f"i{k}", news, postgres_url, fake)) for k in range(3)]
    try:
        assert wait_until(lambda: all(i.port() for i in instances) and len(instance_ids(postgres_url)) == 3, 60), [
            i.log_path.read_text()[-2000:] for i in instances
        ]
        assert wait_until(lambda: all(news.polls().get(n) for n in range(FEEDS)), 20), "every feed polled once"

        # Phase 1: three instances; matching articles appear, one of them in two feeds at once.
        started = time.monotonic()
        serial = 0
        while time.monotonic() - started < 4 * INTERVAL:
            news.publish([serial % FEEDS], f"Rockets hit Camp Taji base, report {serial}")
            serial += 1
            time.sleep(0.4)
        shared = news.publish([7, 41], "Rocket fire at Camp Taji reported by two outlets")
        assert wait_until(lambda: all(alerted(fake, link) for link in news.articles), 30)

        # Who does what, as /healthz and `monitor stats` show it.
        health = instances[0].healthz()
        assert health["status"] == "ok", health
        shown = health["checks"]["instances"]
        assert len(shown) == 3 and {i["pid"] for i in shown} == {i.process.pid for i in instances}
        assert sum(1 for i in shown if i["sender"]) == 1 and all(i["alive"] for i in shown)
        stats = subprocess.run(
            [sys.executable, "-m", "monitor", "--config", str(tmp_path / "i0" / "monitor.yaml"), "stats", "--json"],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )
        assert stats.returncode == 0, stats.stderr
        listed = json.loads(stats.stdout)["instances"]
        assert {i["pid"] for i in listed} == {i.process.pid for i in instances}
        assert sum(i["last_polled"] for i in listed) == FEEDS
        assert all(i["last_polled"] > 0 for i in listed), listed  # the feeds are split, not all on one
        assert not fake.calls_to("getUpdates", status=409), "two getUpdates pollers at once"

        # Phase 2: SIGKILL the sender; the others take its feeds and its role.
        ids = instance_ids(postgres_url)
        sender_id = sender_of(postgres_url)
        victim = next(i for i in instances if ids[i.process.pid] == sender_id)
        victim.process.kill()
        victim.process.wait()
        killed_at = time.monotonic()
        survivors = [i for i in instances if i is not victim]
        after_kill = []
        while time.monotonic() - killed_at < 3 * INTERVAL:
            after_kill.append(news.publish([serial % FEEDS], f"Rockets hit Camp Taji base, report {serial}"))
            serial += 1
            time.sleep(0.4)
        assert wait_until(lambda: all(alerted(fake, link) for link in news.articles), LEASE + 30)
        new_sender = sender_of(postgres_url)
        assert new_sender in {ids[i.process.pid] for i in survivors}
        ended = time.monotonic()
    finally:
        codes = [i.stop() for i in instances]

    # Every matching article exactly once, the shared one included.
    counts = {link: alerted(fake, link) for link in news.articles}
    assert all(n == 1 for n in counts.values()), {link: n for link, n in counts.items() if n != 1}
    assert counts[shared] == 1 and after_kill
    assert fake.count_429 == 0, "Telegram's limits were exceeded"
    assert codes[instances.index(victim)] == -signal.SIGKILL
    assert all(code == 0 for i, code in zip(instances, codes) if i is not victim), codes

    # Each feed once per interval: no two polls closer than the interval (the grid and the
    # server's clock allow a little less), and none waiting much longer, even across the kill.
    polls = news.polls()
    for n in range(FEEDS):
        times = [t for t in polls[n] if t <= ended]
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert min(gaps) >= INTERVAL - 0.3, (n, gaps)
        before_kill = [b - a for a, b in zip(times, times[1:]) if b < killed_at]
        # Liveness, with slack for a loaded machine (a poll's own duration adds to its gap):
        # no feed waits a lease beyond its interval, or two across the kill (the claims of
        # the killed instance run out within one, then the others' jobs find them due).
        assert max(before_kill) <= INTERVAL + LEASE, (n, before_kill)
        assert max(gaps) <= INTERVAL + 2 * LEASE + HEARTBEAT, (n, gaps)
    assert all(any(killed_at < t for t in polls[n]) for n in range(FEEDS)), "a feed of the killed instance was never taken over"
    moved = [e for i in survivors for e in i.events() if e.get("event") == "sender_elected"]
    assert any(e.get("instance") == new_sender for e in moved)
