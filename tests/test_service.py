"""`monitor run` as a service, through real local HTTP servers and real SQLite files:
scheduling, conditional GET, Retry-After, backoff and recovery, concurrency caps,
the single-instance lock, and a SIGTERM'd subprocess exiting 0 in time.

Intervals are tiny (0.2-1 s) so the tests stay quick. Time is asserted only as
what the policy promises never to undercut (a lower bound on the gap between two
requests) or as the decision the service stored with a poll (feeds.next_poll_at
against feeds.last_polled_at, written in one statement); waits are for events,
with a generous guard against hangs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from conftest import REPO, Response, running, write_config
from monitor.ops import metrics
from monitor.config import load_settings
from monitor.service.lock import InstanceLocked
from monitor.service import Monitor

WATCHLIST_YAML = """\
version: 1
entities:
  - id: camp-taji
    name: Camp Taji
    aliases: [Camp Taji]
"""


def rss(items: list[tuple[str, str]], **channel) -> bytes:
    now = format_datetime(datetime.now(timezone.utc) - timedelta(minutes=1))
    extra = "".join(f"<{k}>{v}</{k}>" for k, v in channel.items())
    body = "".join(
        f"<item><title>{title}</title><guid>{guid}</guid><link>http://127.0.0.1:9/{guid}</link>"
        f"<pubDate>{now}</pubDate><description>{title}. More text about it.</description></item>"
        for guid, title in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{extra}{body}</channel></rss>'.encode()


def config_for(tmp_path: Path, feeds: list[dict], **sections) -> Path:
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST_YAML, encoding="utf-8")
    fetch = {"allowed_networks": ["127.0.0.0/8"], "fetch_pages": False, **sections.pop("fetch", {})}
    service = {"startup_spread": 0.2, "shutdown_grace": 2, **sections.pop("service", {})}
    return write_config(tmp_path, feeds, watchlist="watchlist.yaml", fetch=fetch, service=service, **sections)


async def until(condition, timeout: float = 15.0, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(step)


def feed_row(db: Path, url: str) -> dict:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return dict(conn.execute("SELECT * FROM feeds WHERE url = ?", (url,)).fetchone())


def decided_delay(db: Path, url: str) -> float:
    """Seconds between a feed's last poll and the next one the service decided on."""
    row = feed_row(db, url)
    return (datetime.fromisoformat(row["next_poll_at"]) - datetime.fromisoformat(row["last_polled_at"])).total_seconds()


def counter(name: str) -> float:
    return metrics.REGISTRY.get_sample_value(name) or 0.0


class Timeline:
    """A route that records when it was hit and answers from a replaceable handler."""

    def __init__(self, answer):
        self.answer = answer
        self.times: list[float] = []
        self.headers: list[dict[str, str]] = []

    def __call__(self, handler):
        self.times.append(time.monotonic())
        self.headers.append({k.lower(): v for k, v in handler.headers.items()})
        return self.answer(handler)

    @property
    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.times, self.times[1:], strict=False)]


async def test_scheduled_polls_use_conditional_get_and_remember_it(tmp_path, site):
    body = rss([("a-1", "Football results")])

    def conditional(handler):
        if handler.headers.get("If-None-Match") == '"v1"' or handler.headers.get("If-Modified-Since"):
            return Response(b"", 304, {"ETag": '"v1"'})
        return Response(body, 200, {"Content-Type": "application/rss+xml", "ETag": '"v1"', "Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT"})

    route = site.routes["/c.xml"] = Timeline(conditional)
    url = site.url("/c.xml")
    config = config_for(tmp_path, [{"url": url, "interval": "0.3s"}], defaults={"jitter": 0})
    before = counter("monitor_not_modified_total")
    async with running(config):
        await until(lambda: len(route.times) >= 3)
    assert "if-none-match" not in route.headers[0]
    assert all(h.get("if-none-match") == '"v1"' for h in route.headers[1:])
    assert counter("monitor_not_modified_total") - before >= 2
    row = feed_row(tmp_path / "monitor.db", url)
    assert row["last_status"] == "not_modified" and row["etag"] == '"v1"' and row["next_poll_at"]

    # Remembered across a restart: the first poll of the new process is conditional too.
    route.times.clear(), route.headers.clear()
    async with running(config):
        await until(lambda: len(route.times) >= 1)
    assert route.headers[0].get("if-none-match") == '"v1"'


async def test_routine_304_bookkeeping_reaches_the_database_while_running(tmp_path, site):
    # A 304 from a healthy feed is written in batches (service.state_flush), not per
    # poll; it must still land while the service runs, not only at its stop.
    def conditional(handler):
        if handler.headers.get("If-None-Match") == '"v1"':
            return Response(b"", 304, {"ETag": '"v1"'})
        return Response(rss([("n-1", "Quiet news")]), 200, {"Content-Type": "application/rss+xml", "ETag": '"v1"'})

    route = site.routes["/n.xml"] = Timeline(conditional)
    url = site.url("/n.xml")
    config = config_for(tmp_path, [{"url": url, "interval": "0.2s"}], defaults={"jitter": 0}, service={"state_flush": "0.3s"})
    async with running(config):
        await until(lambda: len(route.times) >= 3)
        await until(lambda: feed_row(tmp_path / "monitor.db", url)["last_status"] == "not_modified", timeout=5)
        polled = [feed_row(tmp_path / "monitor.db", url)["last_polled_at"]]
        await until(lambda: feed_row(tmp_path / "monitor.db", url)["last_polled_at"] != polled[0], timeout=5)


async def test_alerts_go_out_as_soon_as_a_poll_queues_them(tmp_path, site):
    # The delivery loop has no fixed tick: it sleeps until a poll queues alerts. Its
    # fallback checks are 30 s (alerts queued by others) and service.state_flush (1 h
    # here) away, beyond the wait's hang guard: the alert must be woken out.
    site.add("/news.xml", rss([("a-1", "Rockets hit Camp Taji")]), "application/rss+xml")
    config = config_for(tmp_path, [{"url": site.url("/news.xml"), "interval": "1h"}], service={"state_flush": "1h"})
    db = tmp_path / "monitor.db"

    def sent() -> int:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM alerts WHERE status = 'sent'").fetchone()[0]

    async with running(config):
        await until(lambda: db.exists() and site.hits("/news.xml") >= 1)
        await until(lambda: sent() == 1, timeout=20)


async def test_polls_are_scheduled_on_the_polling_grid(tmp_path, site):
    site.add("/g1.xml", rss([("g1", "Quiet")]), "application/rss+xml")
    site.add("/g2.xml", rss([("g2", "Calm")]), "application/rss+xml")
    urls = [site.url("/g1.xml"), site.url("/g2.xml")]
    # Grid step: min(poll_tick, interval / 10) = 1 s.
    config = config_for(tmp_path, [{"url": u, "interval": "10s"} for u in urls], service={"poll_tick": "1s", "startup_spread": "3s"})
    def on_the_grid(monitor) -> bool:
        runs = monitor.jobs.next_runs()
        return all(u in runs and abs(runs[u].timestamp() - round(runs[u].timestamp())) < 1e-6 for u in urls)

    async with running(config) as monitor:
        # The first polls come at random times of the startup spread; the next ones on the grid.
        await until(lambda: all(site.hits(p) >= 1 for p in ("/g1.xml", "/g2.xml")))
        await until(lambda: on_the_grid(monitor))


async def test_retry_after_from_a_publisher_is_honoured(tmp_path, site):
    answers = iter([Response(b"slow down", 429, {"Retry-After": "2"})])

    def answer(handler):
        return next(answers, None) or Response(rss([("x", "Quiet news")]), 200, {"Content-Type": "application/rss+xml"})

    route = site.routes["/r.xml"] = Timeline(answer)
    url = site.url("/r.xml")
    config = config_for(tmp_path, [{"url": url, "interval": "0.2s"}], defaults={"jitter": 0})
    async with running(config):
        await until(lambda: len(route.times) >= 3)
    # 429 + Retry-After: 2 -> the next request waits at least that long, then the
    # normal (much shorter) interval resumes.
    assert route.gaps[0] >= 2.0
    assert feed_row(tmp_path / "monitor.db", url)["last_status"] == "ok"
    assert decided_delay(tmp_path / "monitor.db", url) < 0.3


async def test_failing_feed_backs_off_is_reported_once_and_recovers(tmp_path, site):
    state = {"mode": "ok"}

    def answer(handler):
        if state["mode"] == "ok":
            return Response(rss([("f-1", "Quiet news")]), 200, {"Content-Type": "application/rss+xml"})
        return Response(b"down", 500, {"Content-Type": "text/plain"})

    route = site.routes["/f.xml"] = Timeline(answer)
    url = site.url("/f.xml")
    config = config_for(
        tmp_path,
        [{"url": url, "name": "Flaky", "interval": "0.2s"}],
        defaults={"jitter": 0, "max_backoff": "0.8s", "broken_after": "1s", "broken_retry": "1s"},
    )
    notices: list[str] = []
    db = tmp_path / "monitor.db"
    async with running(config, notices):
        await until(lambda: len(route.times) >= 1)
        state["mode"] = "fail"
        first_fail = len(route.times)
        await until(lambda: any("broken since" in n for n in notices))
        row = feed_row(db, url)
        assert row["broken_since"] is not None and row["error_streak"] >= 3
        assert 1.0 <= decided_delay(db, url) < 1.1  # broken: probed every broken_retry
        await until(lambda: len(route.times) > first_fail + 6)
        assert sum("broken since" in n for n in notices) == 1  # reported once, still probed
        # Exponential backoff between failed polls: never sooner than 0.2, 0.4, 0.8 s
        # (the ceiling), then broken_retry (1 s).
        failing = route.gaps[first_fail : first_fail + 3]
        assert all(gap >= floor - 0.01 for gap, floor in zip(failing, [0.2, 0.4, 0.8], strict=False)), failing
        state["mode"] = "ok"
        await until(lambda: any("recovered" in n for n in notices))
    row = feed_row(db, url)
    assert row["broken_since"] is None and row["error_streak"] == 0 and row["last_status"] in ("ok", "not_modified")
    assert "Flaky" in notices[0] and "HTTP 500" in notices[0]


async def test_concurrent_polls_are_capped_per_host_and_never_overlap_for_one_feed(tmp_path, site):
    lock = threading.Lock()
    live = {"now": 0, "max": 0, "per_path": {}}

    def slow(handler):
        with lock:
            live["now"] += 1
            live["max"] = max(live["max"], live["now"])
            live["per_path"][handler.path] = live["per_path"].get(handler.path, 0) + 1
            assert live["per_path"][handler.path] == 1, "two polls of one feed at once"
        time.sleep(0.3)
        with lock:
            live["now"] -= 1
            live["per_path"][handler.path] -= 1
        return Response(rss([("s", "Quiet")]), 200, {"Content-Type": "application/rss+xml"})

    feeds = []
    for n in range(6):
        site.routes[f"/s{n}.xml"] = slow
        feeds.append({"url": site.url(f"/s{n}.xml"), "interval": "0.1s"})  # shorter than a poll
    config = config_for(tmp_path, feeds, fetch={"per_host_concurrency": 2, "concurrency": 8})
    async with running(config):
        await until(lambda: sum(1 for p, _ in site.requests if p.startswith("/s")) >= 12)
    assert live["max"] <= 2


async def test_declared_ttl_slows_polling_unless_overridden(tmp_path, site):
    # <ttl> is in minutes: 1 -> 60 s, far longer than the 0.2 s interval.
    body = rss([("t", "Quiet")], ttl="1")
    site.add("/ttl.xml", body, "application/rss+xml")
    site.add("/ttl-override.xml", body, "application/rss+xml")
    config = config_for(
        tmp_path,
        [{"url": site.url("/ttl.xml"), "interval": "0.2s"}, {"url": site.url("/ttl-override.xml"), "interval": "0.2s", "respect_feed_ttl": False}],
    )
    async with running(config):
        await until(lambda: site.hits("/ttl-override.xml") >= 4)
    assert site.hits("/ttl.xml") == 1
    next_at = datetime.fromisoformat(feed_row(tmp_path / "monitor.db", site.url("/ttl.xml"))["next_poll_at"])
    first = datetime.fromisoformat(feed_row(tmp_path / "monitor.db", site.url("/ttl.xml"))["last_polled_at"])
    assert next_at - first >= timedelta(seconds=59)


def test_second_instance_on_the_same_database_is_refused(tmp_path):
    config = config_for(tmp_path, [])
    first = Monitor(load_settings(config))
    try:
        with pytest.raises(InstanceLocked, match=r"another monitor is already running on .*monitor\.db \(pid \d+\)"):
            Monitor(load_settings(config))
    finally:
        asyncio.run(first.aclose())
    second = Monitor(load_settings(config))  # released: a new one starts fine
    asyncio.run(second.aclose())


def _monitor_cmd(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "monitor", "--config", str(config), *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


@pytest.mark.slow
def test_sigterm_exits_0_in_time_with_nothing_lost(tmp_path, site):
    site.add("/news.xml", rss([("n-1", "Rockets hit Camp Taji"), ("n-2", "Football results")]), "application/rss+xml")

    def trickle(handler):  # a poll still in flight when SIGTERM arrives
        time.sleep(30)
        return Response(b"", 200)

    site.routes["/slow.xml"] = trickle
    config = config_for(
        tmp_path,
        [{"url": site.url("/news.xml"), "interval": "1s"}, {"url": site.url("/slow.xml"), "interval": "1s"}],
        service={"shutdown_grace": 2},
    )
    db = tmp_path / "monitor.db"
    proc = subprocess.Popen(_monitor_cmd(config, "run"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), cwd=tmp_path)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if db.exists() and site.hits("/slow.xml") >= 1:
                with sqlite3.connect(db) as conn:
                    if conn.execute("SELECT count(*) FROM alerts WHERE status = 'sent'").fetchone()[0] >= 1:
                        break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.1)
        else:
            pytest.fail("the service never polled")

        # A second instance on the same database is refused with one clear line, exit 1.
        second = subprocess.run(_monitor_cmd(config, "run", "--once"), capture_output=True, text=True, env=_env(), timeout=60)
        assert second.returncode == 1
        assert "another monitor is already running on" in second.stderr and f"pid {proc.pid}" in second.stderr
        assert "Traceback" not in second.stderr

        sent_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        elapsed = time.monotonic() - sent_at
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    err = err.decode()
    assert proc.returncode == 0, err
    assert elapsed < 10
    assert "stopped" in err and "Traceback" not in err and "Logging error" not in err
    assert b"Rockets hit Camp Taji" in out
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        statuses = dict(conn.execute("SELECT status, count(*) FROM alerts GROUP BY status").fetchall())
        assert statuses == {"sent": 1}
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 2
    # The lock is gone with the process: the next run starts.
    site.add("/slow.xml", rss([]), "application/rss+xml")
    again = subprocess.run(_monitor_cmd(config, "run", "--once"), capture_output=True, text=True, env=_env(), timeout=60)
    assert again.returncode == 0, again.stderr
