"""Burst guard: a poll of one feed with more new matching items than `alerts.burst_limit`
(a feed republishing its archive) queues one summary per chat instead of an alert each.

Everything from outside: `monitor run --once` / `monitor run` as subprocesses, a local
feed server, the fake Bot API, the SQLite file.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from conftest import REPO, write_config
from fake_telegram import DEFAULT_TOKEN, FakeTelegram, control, utf16_len
from test_crash_delivery import kill_all, messages, start_fake, start_service, wait_until

CHANNEL_ID = -1001000000001
SUBSCRIBER = 7001
LIMIT = 4096
HANG_GUARD_SECONDS = 120


def archive_feed(site, count: int, *, first: int = 0) -> list[str]:
    """Serve /archive.xml with `count` matching reports (newest first, as feeds list them);
    every fifth is about K1, the others about Taji. Returns the links oldest first."""
    now = datetime.now(timezone.utc)
    numbers = range(first, first + count)
    entries = []
    for n in numbers:
        if n % 5 == 0:
            title = f"Drone strike near the K1 air base &amp; Kirkuk, report {n}"
        else:
            title = f"Rockets hit Camp Taji &amp; &quot;the airfield&quot;, report {n}"
        entries.append(
            f"<item><title>{title}</title><link>{site.url(f'/news/{n}.html')}</link><guid>archive-{n}</guid>"
            f"<pubDate>{format_datetime(now - timedelta(minutes=first + count - n))}</pubDate>"
            f"<description>Report {n} from the archive, republished by the site.</description></item>"
        )
    entries.reverse()
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Archive</title>{"".join(entries)}</channel></rss>'
    site.add("/archive.xml", body, "application/rss+xml")
    return [site.url(f"/news/{n}.html") for n in numbers]


def run_once(config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "run", "--once"],
        capture_output=True, text=True, env=env, timeout=HANG_GUARD_SECONDS, cwd=REPO,
    )


def links(message_entities: list[dict]) -> list[str]:
    return [e["url"] for e in message_entities if e["type"] == "text_link"]


def assert_fewest_parts(texts: list[str]) -> None:
    """Each part within the limit, and no two neighbours would have fitted one message."""
    assert all(utf16_len(t) <= LIMIT for t in texts)
    for left, right in zip(texts, texts[1:]):
        assert utf16_len(left) + 1 + utf16_len(right) > LIMIT


def subscribe_to_k1(db: Path) -> None:
    from monitor.store import Store

    store = Store(f"sqlite:///{db}")
    store.subscribers.register(str(SUBSCRIBER), None)
    store.subscribers.subscribe(str(SUBSCRIBER), ("k1-airbase",))
    store.close()


def statuses(db: Path) -> list[str]:
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return [r[0] for r in conn.execute("SELECT status FROM alerts ORDER BY id")]
    except sqlite3.OperationalError:  # the service has not created its tables yet
        return []


@pytest.fixture
def fake(fake_telegram: FakeTelegram) -> FakeTelegram:
    fake_telegram.add_chat(CHANNEL_ID, "channel", username="iraq_watch")
    fake_telegram.add_chat(SUBSCRIBER, "private")
    fake_telegram.set_rate_limits(None)
    return fake_telegram


def telegram_config(tmp_path: Path, site, base_url: str, token: str, **sections) -> Path:
    return write_config(
        tmp_path,
        [{"url": site.url("/archive.xml"), "name": "Archive <Wire>", "interval": "1h"}],
        telegram={"token": token, "channel": "@iraq_watch", "api_base_url": base_url, "commands": False,
                  "rate_limits": {"per_chat_per_second": 100, "per_group_per_minute": 6000, "global_per_second": 100}},
        fetch={"fetch_pages": False},
        service={"log_format": "json"},
        **{"stories": {"enabled": False}, **sections},  # one alert per report, not per story (tests/test_story_*.py)
    )


def test_a_republished_archive_of_200_items_is_one_summary_per_chat(tmp_path, site, fake):
    urls = archive_feed(site, 200)
    config = telegram_config(tmp_path, site, fake.base_url, fake.token)
    db = tmp_path / "monitor.db"
    subscribe_to_k1(db)

    result = run_once(config)
    assert result.returncode == 0, result.stderr

    channel = fake.sent_messages(CHANNEL_ID)
    assert 1 < len(channel) < 10  # the few messages 4096 characters allow, not 200 alerts
    assert_fewest_parts([m.raw_text for m in channel])
    assert channel[0].text.startswith("200 new items from Archive <Wire>\n")
    assert "burst limit of 10" in channel[0].text
    # Every link exactly once, in publication order, with its title escaped and intact.
    assert [url for m in channel for url in links(m.entities)] == urls
    assert 'Rockets hit Camp Taji & "the airfield", report 1' in channel[0].text
    assert "&amp;" in channel[0].raw_text and "&quot;" in channel[0].raw_text

    # The subscriber following K1 gets the summary of the K1 items only.
    private = fake.sent_messages(SUBSCRIBER)
    assert 1 <= len(private) <= 2
    assert_fewest_parts([m.raw_text for m in private])
    assert private[0].text.startswith("40 new items from Archive <Wire>\n")
    assert "found 200 new matching items" in private[0].text
    assert [url for m in private for url in links(m.entities)] == urls[::5]

    # The items are stored as usual, matched and searchable; only the alerts were summarised.
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(DISTINCT item_id) FROM matches").fetchone()[0] == 200
        statuses = conn.execute("SELECT status, count(*) FROM alerts GROUP BY status").fetchall()
    assert statuses == [("sent", len(channel) + len(private))]
    search = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "search", "report 137"],
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert search.returncode == 0 and "report 137" in search.stdout

    # One structured line says why.
    burst = [json.loads(line) for line in result.stderr.splitlines() + result.stdout.splitlines()
             if '"burst_summarised"' in line]
    assert len(burst) == 1, result.stderr
    assert burst[0]["feed"] == site.url("/archive.xml") and burst[0]["items"] == 200 and burst[0]["burst_limit"] == 10


def test_exactly_burst_limit_items_are_alerted_one_by_one(tmp_path, site, fake):
    urls = archive_feed(site, 10)
    config = telegram_config(tmp_path, site, fake.base_url, fake.token)

    result = run_once(config)
    assert result.returncode == 0, result.stderr

    channel = fake.sent_messages(CHANNEL_ID)
    assert [links(m.entities) for m in channel] == [[url] for url in urls]
    assert not any("new items from" in m.text for m in channel)
    assert "burst_summarised" not in result.stderr + result.stdout


def test_console_prints_single_alerts_up_to_the_limit_and_a_summary_beyond(tmp_path, site):
    archive_feed(site, 3)
    config = write_config(tmp_path, [{"url": site.url("/archive.xml"), "name": "Archive", "interval": "1h"}],
                          fetch={"fetch_pages": False}, alerts={"burst_limit": 3})
    first = run_once(config)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("new items from") == 0
    assert first.stdout.count("╭─ alert") == 3  # three alerts, one per item

    archive_feed(site, 4, first=3)  # the next poll finds four new ones: more than 3
    second = run_once(config)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("╭─ alert") == 1
    assert second.stdout.count("4 new items from Archive") == 1
    for n in range(3, 7):
        assert f"report {n}" in second.stdout
    assert "report 2" not in second.stdout


def test_the_backfill_window_still_decides_what_counts(tmp_path, site, fake):
    """On a feed's first poll only recent entries are alerted on: 30 old ones plus 5
    recent ones are five single alerts, not a burst."""
    now = datetime.now(timezone.utc)
    entries = [
        f"<item><title>Rockets hit Camp Taji, report {n}</title><link>{site.url(f'/news/{n}.html')}</link>"
        f"<guid>g-{n}</guid><pubDate>{format_datetime(now - (timedelta(days=10) if n < 30 else timedelta(minutes=40 - n)))}"
        f"</pubDate></item>"
        for n in reversed(range(35))  # newest first, as feeds list them
    ]
    site.add("/archive.xml", f'<?xml version="1.0"?><rss version="2.0"><channel><title>A</title>{"".join(entries)}'
             "</channel></rss>", "application/rss+xml")
    config = telegram_config(tmp_path, site, fake.base_url, fake.token)
    assert run_once(config).returncode == 0
    channel = fake.sent_messages(CHANNEL_ID)
    assert [links(m.entities) for m in channel] == [[site.url(f"/news/{n}.html")] for n in range(30, 35)]
    with sqlite3.connect(tmp_path / "monitor.db") as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 35


@pytest.mark.parametrize(("value", "problem"), [(0, "greater than 0"), (-3, "greater than 0"), ("many", "integer")])
def test_burst_limit_must_be_a_positive_integer(tmp_path, value, problem):
    config = write_config(tmp_path, alerts={"burst_limit": value})
    result = subprocess.run([sys.executable, "-m", "monitor", "--config", str(config), "check-config"],
                            capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 2
    line = next(line for line in result.stderr.splitlines() if "burst_limit" in line)
    assert line.startswith(f"{config}:") and "alerts.burst_limit" in line and problem in line
    assert "Traceback" not in result.stderr


def test_the_example_config_documents_the_key(tmp_path):
    text = (REPO / "config" / "monitor.yaml").read_text(encoding="utf-8")
    assert "burst_limit:" in text


@pytest.mark.slow
def test_a_sigkill_while_the_summary_goes_out_delivers_it_exactly_once(tmp_path, site):
    fake, url, state = start_fake(tmp_path)
    # One message a second to the channel, so the kill lands between two parts.
    control(url, "set_rate_limits", limits=None)
    urls = archive_feed(site, 200)
    config = write_config(
        tmp_path, [{"url": site.url("/archive.xml"), "name": "Archive", "interval": "1h"}],
        telegram={"token": DEFAULT_TOKEN, "channel": "@iraq_watch", "api_base_url": f"{url}/bot",
                  "commands": False, "rate_limits": {"per_group_per_minute": 60}},
        fetch={"fetch_pages": False},
    )
    db = tmp_path / "monitor.db"
    log = open(tmp_path / "service.log", "ab")
    service = None
    try:
        service = start_service(config, log)
        # Killed once the first part is recorded sent, while the next waits for its turn.
        assert wait_until(lambda: statuses(db).count("sent") >= 1, 60), (tmp_path / "service.log").read_text()
        service.send_signal(signal.SIGKILL)
        service.wait()
        with sqlite3.connect(db) as conn:
            parts = conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
        assert len(messages(state)) < parts  # killed in the middle of the summary

        service = start_service(config, log)
        assert wait_until(lambda: len(messages(state)) >= parts, 60), (tmp_path / "service.log").read_text()
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=30) == 0
    finally:
        kill_all(*(p for p in (service, fake) if p is not None))
        log.close()

    sent = messages(state)
    assert statuses(db) == ["sent"] * parts
    assert len(sent) == parts  # each part once
    assert_fewest_parts([m["raw_text"] for m in sent])
    assert [link for m in sent for link in links(m["entities"])] == urls
