"""`monitor run --once` delivers alerts while other feeds are still being fetched: a
feed server trickling its answer must not hold back the alerts of the fast feeds.

Everything is watched from outside: `monitor run --once` runs as a subprocess against
a local feed server (one slow feed beside two fast ones) and, for Telegram, the fake
Bot API; the test records the order of what happens, never how long it took.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from conftest import REPO, write_config

pytestmark = pytest.mark.slow

CHANNEL_ID = -1001000000001
EMPTY_FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Slow</title></channel></rss>'
# Only a hang guard: the test waits for events, not for a duration.
HANG_GUARD_SECONDS = 60


def rss(guid: str, title: str) -> bytes:
    when = format_datetime(datetime.now(timezone.utc) - timedelta(minutes=3))
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title><item><title>{title}</title>'
        f"<guid>{guid}</guid><pubDate>{when}</pubDate><description>{title}, north of Baghdad, officials said."
        f"</description></item></channel></rss>"
    ).encode()


class Timeline:
    """What happened, in order, from the test's side of the processes."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self._lock = threading.Lock()

    def add(self, event: str) -> None:
        with self._lock:
            self.events.append(event)


class TricklingFeed:
    """Sends the headers, then one byte of the feed at a time (each well inside the read
    timeout) until released; then the rest. Records when its answer ended."""

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Length", str(len(EMPTY_FEED)))
        handler.end_headers()
        sent = 0
        self.started.set()
        try:
            while not self.release.wait(0.2) and sent < len(EMPTY_FEED) - 1:
                handler.wfile.write(EMPTY_FEED[sent : sent + 1])
                handler.wfile.flush()
                sent += 1
            handler.wfile.write(EMPTY_FEED[sent:])
            handler.wfile.flush()
        except OSError:
            pass
        self.timeline.add("slow feed ended")


def serve_feeds(site, timeline: Timeline) -> tuple[list[dict], TricklingFeed]:
    slow = TricklingFeed(timeline)
    site.routes["/slow.xml"] = slow
    site.add("/taji.xml", rss("t-1", "Rockets hit Camp Taji"), "application/rss+xml")
    site.add("/k1.xml", rss("k-1", "Drone strike near the K1 air base"), "application/rss+xml")
    feeds = [
        {"url": site.url("/slow.xml"), "name": "Slow"},
        {"url": site.url("/taji.xml"), "name": "Taji wire"},
        {"url": site.url("/k1.xml"), "name": "K1 wire"},
    ]
    return feeds, slow


def start_run_once(config) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config), "run", "--once"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(proc: subprocess.Popen, slow: TricklingFeed) -> tuple[str, str]:
    slow.release.set()
    try:
        return proc.communicate(timeout=HANG_GUARD_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


# Generous fetch deadlines: without the fix, the alerts would wait for the slow feed.
FETCH = {"allowed_networks": ["127.0.0.0/8"], "fetch_pages": False, "read_timeout": "30s", "total_timeout": "5m"}


def test_console_alerts_are_printed_while_a_slow_feed_is_still_answering(tmp_path, site):
    timeline = Timeline()
    feeds, slow = serve_feeds(site, timeline)
    proc = start_run_once(write_config(tmp_path, feeds, fetch=FETCH))
    lines: list[str] = []

    def read_stdout() -> None:
        for line in proc.stdout:
            lines.append(line)
            for title in ("Rockets hit Camp Taji", "Drone strike near the K1 air base"):
                if title in line and title not in "".join(lines[:-1]):
                    timeline.add("alert printed")

    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while timeline.events.count("alert printed") < 2 and "slow feed ended" not in timeline.events and time.monotonic() < deadline:
        time.sleep(0.05)
    assert slow.started.is_set()
    _out, err = finish(proc, slow)
    reader.join(10)
    assert proc.returncode == 0, err
    assert timeline.events == ["alert printed", "alert printed", "slow feed ended"], (timeline.events, "".join(lines), err)


def test_telegram_alerts_are_sent_while_a_slow_feed_is_still_answering(tmp_path, site, fake_telegram):
    fake_telegram.add_channel("@iraq_watch", CHANNEL_ID)
    timeline = Timeline()
    feeds, slow = serve_feeds(site, timeline)
    telegram = {"token": fake_telegram.token, "channel": "@iraq_watch", "api_base_url": fake_telegram.base_url, "commands": False}
    proc = start_run_once(write_config(tmp_path, feeds, fetch=FETCH, telegram=telegram))
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while len(fake_telegram.sent_messages()) < 2 and "slow feed ended" not in timeline.events and time.monotonic() < deadline:
        time.sleep(0.05)
    if len(fake_telegram.sent_messages()) == 2:
        timeline.add("alerts sent")
    _out, err = finish(proc, slow)
    assert proc.returncode == 0, err
    assert timeline.events == ["alerts sent", "slow feed ended"], (timeline.events, err)
    texts = [m.text for m in fake_telegram.sent_messages()]
    assert any("Camp Taji" in t for t in texts) and any("K1" in t for t in texts)
