"""Ten thousand feeds on one core (issue 15): the cost of `monitor run` at scale. Not part of `make test`.

What runs, all on loopback addresses:

* a simulated web in its own processes (asyncio, SO_REUSEPORT workers; its own
  CPU share is reported, to show it is not the bottleneck): N feeds spread over
  --hosts loopback addresses (127.1.x.y, so per-host limits and connection
  reuse behave as with many publishers), each feed a sliding window of 20
  RSS items with article pages. The mix (shares are flags):
    - most answer 304 to a conditional GET while nothing changed;
    - 10% ignore conditional GET (always 200, the whole feed);
    - each cycle (one --interval) 5% of the healthy feeds publish 1-3 new
      entries at random moments; 10% of new entries name a watched entity
      (in the feed text and on the article page);
    - 1% are slow (answer after 2 s, body trickled over 2 s more), 0.5% answer
      500, 0.5% never answer (the client's read timeout), 0.5% serve malformed
      XML or an HTML page;
    - every feed starts with --backlog entries 2-8 days old (outside the 24 h
      backfill window) whose pages exist too.
  The publication schedule is a pure function of --seed and the start time,
  computed the same way in the server and in this process: the publish time of
  every entry is known without any message passing.
* the service, `python -m monitor --config GENERATED run`, as a subprocess with
  a generated monitor.yaml (no Telegram token: alerts go to the console
  sink, stdout discarded; startup_spread = 0.8 x the interval, so the first polls
  of 10,000 feeds are spread over the first cycle and done before the steady ones), on SQLite and on PostgreSQL
  (a database made for the run at 127.0.0.1:5432 and dropped after it).
  The service is driven only from outside: CLI, config file, database.

The run of one engine: cycle 1 (the first polls), --steady-cycles measured
cycles while feeds keep publishing, then a tail of one interval (+ jitter +
30 s) without new publications so that every entry of the measured cycles has
been polled before the stop.

Reported per engine:
* CPU share of one core (utime + stime from /proc, all threads) over the
  first cycle and over the steady cycles; peak RSS (VmHWM);
* polls per status and new items, read from the service's JSON log;
* time to queue: for each matching entry published during the steady cycles,
  alerts.created_at minus the moment the server started to show it (p50,
  p95, max, and how many never got an alert);
* database size at the start and the end of the steady cycles (SQLite: used
  pages, (page_count - freelist_count) x page_size, read with a read-only
  connection; PostgreSQL: pg_database_size), extrapolated to a day of news.
  A shortened cycle carries the news of one full cycle (the same share of
  feeds publishes per cycle) and the same number of polls, so a day at the
  nominal interval (--nominal-interval, 10 min: 144 cycles) grows by
  144 x the measured growth per cycle.

Baseline, same run and same server: a bare httpx.AsyncClient loop (its own
process) sending the same requests at the same pace: every feed once per
interval with If-None-Match, and the pages of entries that are new since its
first sight of a feed (the backlog is not fetched). Its steady CPU share is the
floor for the HTTP part.

--profile FILE: one more SQLite run with py-spy (`pip install py-spy`, or
--py-spy PATH) attached to the service during the steady cycles; FILE gets the
collapsed stacks and the summary (time by component, hottest functions) is
printed. Its CPU numbers are not used (py-spy stops the process to sample).

--seed-db: before the measured run, one `run --once` stores every feed's backlog;
the measured run is then a restart on a database that knows the feeds. Without it
the measured run starts cold: its first cycle is every feed's first poll, which
stores the backlog (2-8 days old, outside the backfill window) by identity only,
without downloading a page (the server counts the page requests per cycle).

Retention is on (storage.retention defaults, pruning every cycle so its scans are
part of the measured cost); the database's size with retention is projected from
the measured growth per table: unmatched identities level off after 30 days,
alerts after 90, matched items keep growing.

Quick run:   .venv/bin/python benchmarks/scale.py --feeds 1000 --interval 1m --steady-cycles 1
Full run:    .venv/bin/python benchmarks/scale.py --interval 2m --write-docs
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import hashlib
import json
import os
import platform
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from email.utils import formatdate
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from docs_block import write_block  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from process_stats import cpu_seconds, load_average, status_mb  # noqa: E402
WATCHLIST = REPO / "config" / "watchlist.yaml"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DAY = 86400.0


def parse_duration(text: str) -> float:
    """'90s', '2m', '1h' or a number of seconds (this script's own flags only)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a duration like 90s, 2m, 1h, not {text!r}")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]


# --------------------------------------------------------------------------
# The simulated web: which feed does what, what it publishes and when.
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """Everything the server and the measurer must agree on; a pure function of these fields."""

    feeds: int
    hosts: int
    port: int
    start: float  # epoch seconds: cycle 1 begins, publications start
    interval: float
    publish_until: float  # no publications from here on (the tail)
    seed: int = 15
    backlog: int = 20
    window: int = 20  # items shown in a feed
    publish_share: float = 0.05
    matching: float = 0.10
    unconditional: float = 0.10
    slow: float = 0.01
    http500: float = 0.005
    hang: float = 0.005
    malformed: float = 0.005
    slow_seconds: float = 2.0

    def host(self, n: int) -> str:
        h = n % self.hosts
        return f"127.1.{h // 250}.{h % 250 + 1}"

    def all_hosts(self) -> list[str]:
        return [self.host(n) for n in range(min(self.hosts, self.feeds))]

    def feed_url(self, n: int) -> str:
        return f"http://{self.host(n)}:{self.port}/f/{n}.xml"

    def page_url(self, n: int, k: int) -> str:
        return f"http://{self.host(n)}:{self.port}/a/{n}/{k}.html"

    def kinds(self) -> list[str]:
        order = list(range(self.feeds))
        random.Random(f"{self.seed}:kinds").shuffle(order)
        kinds = ["normal"] * self.feeds
        at = 0
        for kind, share in (
            ("slow", self.slow),
            ("http500", self.http500),
            ("hang", self.hang),
            ("malformed", self.malformed),
            ("unconditional", self.unconditional),
        ):
            count = round(share * self.feeds)
            for n in order[at : at + count]:
                kinds[n] = kind
            at += count
        return kinds

    def publications(self) -> dict[int, list[float]]:
        """Feed -> sorted publish times of its new entries (entry k = backlog + index)."""
        kinds = self.kinds()
        publishing = [n for n in range(self.feeds) if kinds[n] in ("normal", "unconditional", "slow")]
        times: dict[int, list[float]] = {}
        cycle = 0
        while self.start + cycle * self.interval < self.publish_until:
            rng = random.Random(f"{self.seed}:cycle:{cycle}")
            begin = self.start + cycle * self.interval
            for n in rng.sample(publishing, min(len(publishing), round(self.publish_share * self.feeds))):
                for _ in range(rng.choice((1, 1, 2, 3))):
                    at = begin + rng.uniform(0, self.interval)
                    if at < self.publish_until:
                        times.setdefault(n, []).append(at)
            cycle += 1
        for published in times.values():
            published.sort()
        return times

    def backlog_time(self, k: int) -> float:
        return self.start - 2 * DAY - k * 7 * 3600.0

    def entry_matches(self, n: int, k: int) -> bool:
        if k < self.backlog:
            return k == 3 and n % 7 == 0  # a few old mentions (stored, never alerted)
        digest = hashlib.blake2b(f"{self.seed}:{n}:{k}".encode(), digest_size=4).digest()
        return int.from_bytes(digest, "big") / 2**32 < self.matching


# Article text: our own sentences, assembled per entry. Watched names appear only in
# matching entries; the rest talks about places and topics the watchlist does not track.
PLACES = ["Basra", "Najaf", "Valencia", "Gdansk", "Tampere", "Porto", "Leipzig", "Bari", "Cork", "Lyon", "Sfax", "Izmir"]
TOPICS = [
    ("the new container terminal", "port officials expect the cranes to arrive before the summer"),
    ("tram fares", "the council will vote on the proposal after a public consultation"),
    ("the wheat harvest", "farmers said late rain helped the fields on the eastern plain"),
    ("a water pipeline", "engineers began laying the first section near the river"),
    ("the football derby", "supporters queued for tickets since early morning"),
    ("hospital waiting times", "the health office published its quarterly figures"),
    ("a solar farm", "the operator said the panels would power twelve thousand homes"),
    ("school repairs", "the education office listed forty buildings in need of new roofs"),
]
WATCHED = [
    "Kataeb Hezbollah claimed responsibility for the drone attack",
    "rockets struck near Camp Taji overnight",
    "officials at Ain al-Asad air base reported no casualties",
    "a statement from Operation Inherent Resolve described the raid",
    "supporters marked the anniversary of Abu Mahdi al-Muhandis",
    "engineers repaired the runway at Qayyarah airfield",
]


def entry_text(world: World, n: int, k: int) -> tuple[str, str, list[str]]:
    """(title, summary, paragraphs) of entry k of feed n."""
    rng = random.Random(f"{world.seed}:text:{n}:{k}")
    place, (topic, detail) = rng.choice(PLACES), rng.choice(TOPICS)
    title = f"{place}: update on {topic} ({n}-{k})"
    paragraphs = [
        f"Local authorities in {place} gave an update on {topic} on {rng.choice(['Monday', 'Tuesday', 'Thursday'])}; {detail}.",
        f"Residents interviewed in the city centre had mixed views, and several asked for clearer timelines for {topic}.",
        f"The regional budget for the coming year sets aside {rng.randint(2, 90)} million for the work, a figure the opposition called modest.",
        "A spokesperson for the provincial office said further details would follow after a meeting planned for next week.",
        "Independent experts said the plan was workable if suppliers kept to their schedules and prices stayed stable.",
    ]
    if world.entry_matches(n, k):
        watched = rng.choice(WATCHED)
        title = f"{watched[0].upper()}{watched[1:]} ({n}-{k})"
        paragraphs.insert(1, f"In separate news, {watched}, according to people briefed on the matter.")
    summary = paragraphs[0] if not world.entry_matches(n, k) else f"{paragraphs[0]} {paragraphs[1]}"
    return title, summary, paragraphs


class Site:
    """Renders feeds and pages of the World at the current time."""

    def __init__(self, world: World):
        self.world = world
        self.kinds = world.kinds()
        self.published = world.publications()
        self._feeds: dict[tuple[int, int], bytes] = {}
        self.counts: Counter = Counter()
        self.feed_requests_by_cycle: Counter = Counter()
        self.page_requests_by_cycle: Counter = Counter()

    def visible(self, n: int, now: float) -> int:
        """How many entries feed n shows as existing at `now` (backlog + published so far)."""
        return self.world.backlog + bisect.bisect_right(self.published.get(n, []), now)

    def entry_time(self, n: int, k: int) -> float:
        backlog = self.world.backlog
        return self.world.backlog_time(k) if k < backlog else self.published[n][k - backlog]

    def feed(self, n: int, count: int) -> bytes:
        cached = self._feeds.get((n, count))
        if cached is not None:
            return cached
        world = self.world
        parts = []
        for k in range(count - 1, max(-1, count - 1 - world.window), -1):
            title, summary, _ = entry_text(world, n, k)
            parts.append(
                f"<item><title>{title}</title><link>{world.page_url(n, k)}</link>"
                f'<guid isPermaLink="false">scale-f{n}-{k}</guid>'
                f"<pubDate>{formatdate(self.entry_time(n, k), usegmt=True)}</pubDate>"
                f"<description>{summary}</description></item>"
            )
        body = (
            f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Regional outlet {n}</title>'
            f"<link>http://{world.host(n)}:{world.port}/</link><description>News from outlet {n}</description>"
            f"{''.join(parts)}</channel></rss>"
        ).encode()
        if len(self._feeds) > 50_000:
            self._feeds.clear()
        self._feeds[(n, count)] = body
        return body

    def page(self, n: int, k: int) -> bytes:
        """An article page shaped like a real news site's: the text is a few kB inside
        ~100 kB of menus, teasers, scripts and footer (real pages: 60-300 kB, median ~130)."""
        title, _, paragraphs = entry_text(self.world, n, k)
        rng = random.Random(f"{self.world.seed}:page:{n}:{k}")
        menu = "".join(
            f'<li class="menu__item menu__item--{s}"><a class="menu__link" href="/section/{s}">Section {s}</a><ul class="menu__sub">'
            + "".join(f'<li><a href="/section/{s}/{t}" data-track="nav-{s}-{t}">Topic {s}.{t}</a></li>' for t in range(14))
            + "</ul></li>"
            for s in range(12)
        )
        script = "".join(
            f"window.__cfg_{i}={{id:{rng.randint(1, 10**9)},slot:'ad-{i}',sizes:[[300,250],[728,90]],targeting:{{section:'s{i % 12}'}}}};"
            for i in range(450)
        )
        teasers = "".join(
            f'<div class="teaser teaser--small" data-id="{n}-{r}"><a href="/a/{n}/{r}.html" class="teaser__link">'
            f'<img src="/img/{n}-{r}.jpg" alt="" loading="lazy" width="320" height="180">'
            f'<h3 class="teaser__title">Story {r} from outlet {n}</h3></a>'
            f'<p class="teaser__text">{rng.choice(PLACES)}: a short teaser about {rng.choice(TOPICS)[0]} for the front page.</p></div>'
            for r in range(110)
        )
        footer = "".join(f'<li><a href="/page/{i}" rel="nofollow">Footer link {i}</a></li>' for i in range(90))
        text = "".join(f"<p>{p}</p>" for p in paragraphs)
        return (
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="viewport" content="width=device-width"><link rel="stylesheet" href="/s.css">'
            f'<script type="application/ld+json">{{"@type":"NewsArticle","headline":"{title}"}}</script>'
            f"<script>{script}</script></head><body>"
            f'<div class="cookie-banner"><p>We use cookies to improve your experience.</p><button>Accept</button></div>'
            f'<header><div class="logo">Outlet {n}</div><nav><ul class="menu">{menu}</ul></nav></header>'
            f'<main><article class="story"><h1 class="story__title">{title}</h1><p class="byline">By staff reporters</p>'
            f'<div class="story__body">{text}</div></article>'
            f'<aside class="rail"><h2>Most read</h2>{teasers}</aside></main>'
            f'<footer><ul class="footer__links">{footer}</ul><p>Contact, advertising, terms of use, privacy.</p></footer>'
            f"</body></html>"
        ).encode()


def _response(status: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", f"Date: {formatdate(usegmt=True)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class _Connection(asyncio.Protocol):
    """A minimal HTTP/1.1 keep-alive server for GETs (no bodies, no pipelining needed)."""

    def __init__(self, site: Site):
        self.site = site
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport

    def connection_lost(self, exc) -> None:  # type: ignore[no-untyped-def]
        self.closed = True

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            self.answer(head)

    def send(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def answer(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1] if " " in lines[0] else "/"
        etag = next((line.split(":", 1)[1].strip() for line in lines[1:] if line.lower().startswith("if-none-match:")), None)
        site, now = self.site, time.time()
        feed = re.fullmatch(r"/f/(\d+)\.xml", path)
        page = re.fullmatch(r"/a/(\d+)/(\d+)\.html", path)
        if feed and int(feed.group(1)) < site.world.feeds:
            n = int(feed.group(1))
            site.feed_requests_by_cycle[int((now - site.world.start) // site.world.interval)] += 1
            self.answer_feed(n, site.kinds[n], etag, now)
        elif page and int(page.group(1)) < site.world.feeds and int(page.group(2)) < site.visible(int(page.group(1)), now):
            site.counts["page"] += 1
            site.page_requests_by_cycle[int((now - site.world.start) // site.world.interval)] += 1
            self.send(_response("200 OK", site.page(int(page.group(1)), int(page.group(2))), {"Content-Type": "text/html; charset=utf-8"}))
        else:
            site.counts["not_found"] += 1
            self.send(_response("404 Not Found", b"not found", {"Content-Type": "text/plain"}))

    def answer_feed(self, n: int, kind: str, etag: str | None, now: float) -> None:
        site = self.site
        site.counts[f"feed_{kind}"] += 1
        if kind == "hang":
            return  # never answers; the client's read timeout ends it
        if kind == "http500":
            self.send(_response("500 Internal Server Error", b"<h1>Internal error</h1>", {"Content-Type": "text/html"}))
            return
        if kind == "malformed":
            body = (
                b'<?xml version="1.0"?><rss version="2.0"><channel><title>Outlet</title><item><title>Half & broken <b>'
                if n % 2
                else b"<!doctype html><html><body><h1>Welcome to our homepage</h1><p>The feed moved.</p></body></html>"
            )
            self.send(_response("200 OK", body, {"Content-Type": "application/rss+xml"}))
            return
        count = site.visible(n, now)
        current = f'"{n}-{count}"'
        if kind != "unconditional" and etag == current:
            site.counts["feed_304"] += 1
            answer = _response("304 Not Modified", b"", {"ETag": current})
        else:
            site.counts["feed_200"] += 1
            headers = {"Content-Type": "application/rss+xml; charset=utf-8"}
            if kind != "unconditional":
                headers["ETag"] = current
            answer = _response("200 OK", site.feed(n, count), headers)
        if kind != "slow":
            self.send(answer)
            return
        # A slow publisher: the answer starts after slow_seconds and trickles in over as long again.
        loop, delay, pieces = asyncio.get_running_loop(), site.world.slow_seconds, 4
        step = -(-len(answer) // pieces)
        for i in range(pieces):
            loop.call_later(delay + i * delay / pieces, self.send, answer[i * step : (i + 1) * step])


def serve_worker(world_json: str) -> None:
    """One server process: every host address of the World on one port (SO_REUSEPORT)."""
    world = World(**json.loads(world_json))
    site = Site(world)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        server = await loop.create_server(
            lambda: _Connection(site), host=world.all_hosts(), port=world.port, reuse_port=True, backlog=1024
        )
        print("ready", flush=True)
        await stop.wait()
        server.close()

    asyncio.run(main())
    print(json.dumps({"counts": site.counts, "feed_requests_by_cycle": site.feed_requests_by_cycle,
                      "page_requests_by_cycle": site.page_requests_by_cycle}), flush=True)


class ServerFarm:
    """The simulated web's worker processes."""

    def __init__(self, world: World, workers: int):
        self.world = world
        self.procs = [
            subprocess.Popen(
                [sys.executable, __file__, "--serve-worker", json.dumps(asdict(world))], stdout=subprocess.PIPE, text=True
            )
            for _ in range(workers)
        ]
        for proc in self.procs:
            if proc.stdout.readline().strip() != "ready":
                self.stop()
                raise SystemExit("the feed server did not start")

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs if p.poll() is None)

    def stop(self) -> dict:
        counts: Counter = Counter()
        by_cycle: Counter = Counter()
        pages_by_cycle: Counter = Counter()
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            out, _ = proc.communicate(timeout=30)
            for line in out.splitlines():
                if line.startswith("{"):
                    data = json.loads(line)
                    counts.update(data["counts"])
                    by_cycle.update({int(k): v for k, v in data["feed_requests_by_cycle"].items()})
                    pages_by_cycle.update({int(k): v for k, v in data["page_requests_by_cycle"].items()})
        return {"counts": dict(counts), "feed_requests_by_cycle": dict(sorted(by_cycle.items())),
                "page_requests_by_cycle": dict(sorted(pages_by_cycle.items()))}


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# Measuring a process from outside.
# --------------------------------------------------------------------------


@dataclass
class Samples:
    """(time, cpu seconds) of the measured process, one a second."""

    points: list[tuple[float, float]] = field(default_factory=list)

    def share(self, begin: float, end: float) -> float | None:
        inside = [p for p in self.points if begin - 0.6 <= p[0] <= end + 0.6]
        if len(inside) < 2:
            return None
        first = min(inside, key=lambda p: abs(p[0] - begin))
        last = min(inside, key=lambda p: abs(p[0] - end))
        if last[0] <= first[0]:
            return None
        return 100 * (last[1] - first[1]) / (last[0] - first[0])

    def cpu_seconds(self, begin: float, end: float) -> float | None:
        share = self.share(begin, end)
        return None if share is None else share / 100 * (end - begin)


# --------------------------------------------------------------------------
# Databases, read from outside (table and column names are the interface).
# --------------------------------------------------------------------------


class Database:
    def __init__(self, engine: str, folder: Path):
        self.engine = engine
        if engine == "sqlite":
            self.path = folder / "monitor.db"
            self.url = f"sqlite:///{self.path}"
        else:
            import psycopg

            self.name = f"scale_bench_{os.getpid()}_{int(time.time())}"
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.name}"')
            self.url = f"postgresql://postgres@127.0.0.1:5432/{self.name}"

    def _query(self, sql: str) -> list[tuple]:
        if self.engine == "sqlite":
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            try:
                return conn.execute(sql).fetchall()
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.url) as conn:
            return conn.execute(sql).fetchall()

    def size_bytes(self) -> int:
        if self.engine == "sqlite":
            (pages,), (free,), (page_size,) = (self._query(f"PRAGMA {p}")[0] for p in ("page_count", "freelist_count", "page_size"))
            return (pages - free) * page_size
        return int(self._query("SELECT pg_database_size(current_database())")[0][0])

    def table_bytes(self) -> dict[str, int]:
        """Bytes per table with its indexes (PostgreSQL; SQLite when built with dbstat)."""
        try:
            if self.engine == "sqlite":
                rows = self._query(
                    "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d "
                    "LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY 1 ORDER BY 2 DESC"
                )
            else:
                rows = self._query(
                    "SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables ORDER BY 2 DESC"
                )
        except Exception as exc:  # noqa: BLE001 - a nicety; no dbstat in this SQLite build
            return {"unavailable": str(exc)[:80]}  # type: ignore[dict-item]
        return {str(name): int(size) for name, size in rows}

    def files_bytes(self) -> int | None:
        if self.engine != "sqlite":
            return None
        return sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if not p.name.endswith(".lock"))

    def counts(self) -> dict[str, int]:
        rows = self._query(
            "SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM matches), (SELECT count(*) FROM alerts), "
            "(SELECT count(*) FROM feeds), (SELECT count(DISTINCT item_id) FROM matches), "
            "(SELECT coalesce(sum(length(body)), 0) FROM items)"
        )[0]
        return dict(zip(("items", "matches", "alerts", "feeds", "matched_items", "body_chars"), map(int, rows)))

    def alert_times(self) -> dict[tuple[int, int], float]:
        """(feed n, entry k) -> epoch seconds of its first alert's created_at."""
        found: dict[tuple[int, int], float] = {}
        for guid, created in self._query("SELECT i.guid, a.created_at FROM alerts a JOIN items i ON i.id = a.item_id"):
            match = re.search(r"scale-f(\d+)-(\d+)", guid or "")
            if not match:
                continue
            key = (int(match.group(1)), int(match.group(2)))
            when = _epoch(created)
            found[key] = min(found.get(key, when), when)
        return found

    def drop(self) -> None:
        if self.engine == "postgresql":
            import psycopg

            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def _epoch(value) -> float:  # type: ignore[no-untyped-def] - str from SQLite, datetime from psycopg
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)  # the service stores UTC
    return value.timestamp()


# --------------------------------------------------------------------------
# The service under test.
# --------------------------------------------------------------------------


def write_config(
    folder: Path, world: World, database: Database, *, fetch_pages: bool = True, name: str = "monitor.yaml", stories: bool = False
) -> Path:
    import yaml

    config = {
        # Retention on (the defaults: 30 d / 90 d), pruning every cycle so that its scans
        # over the stored identities are part of the measured cost.
        "storage": {"url": database.url, "retention": {"every": f"{world.interval:g}s"}},
        "telegram": {"token": ""},
        "watchlist": str(WATCHLIST),
        "fetch": {"allowed_networks": ["127.0.0.0/8"], "fetch_pages": fetch_pages},
        "defaults": {"interval": f"{world.interval:g}s"},
        # Stories off by default: the simulated news repeats six watched sentences, which story
        # grouping rightly takes for six stories (one alert each), and time to queue is
        # measured per entry. --stories measures their CPU and memory (time to queue then
        # counts the later reports of a story, which edit its message, as missing).
        "stories": {"enabled": stories},
        # 10,000 first polls spread over most of the first cycle, not the default 10 s, and
        # done before the steady cycles start (their backlog is not news of a day).
        "service": {"log_format": "json", "startup_spread": f"{0.8 * world.interval:g}s"},
        "feeds": [{"url": world.feed_url(n), "name": f"Outlet {n}"} for n in range(world.feeds)],
    }
    path = folder / name
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def service_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "MONITOR_CONFIG": ""}


def seed_database(args: argparse.Namespace, folder: Path, database: Database) -> dict:
    """`run --once` without page fetches: every feed's backlog stored by identity, no publications."""
    now = time.time()
    world = make_world(args, start=now, publish_until=now)
    farm = ServerFarm(world, args.server_workers)
    try:
        config = write_config(folder, world, database, fetch_pages=False, name="seed.yaml")
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "monitor", "--config", str(config), "run", "--once"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=REPO,
            env=service_env(),
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"seeding failed ({done.returncode}): {done.stderr[-2000:]}")
        return {"seconds": round(time.monotonic() - started, 1), **database.counts()}
    finally:
        farm.stop()


def make_world(args: argparse.Namespace, start: float, publish_until: float) -> World:
    return World(
        feeds=args.feeds,
        hosts=args.hosts,
        port=args.port,
        start=start,
        interval=args.interval,
        publish_until=publish_until,
        seed=args.seed,
        backlog=args.backlog,
        publish_share=args.publish_share,
        matching=args.matching,
        unconditional=args.unconditional,
    )


def read_log(path: Path, world: World) -> dict:
    """Poll lines of the service's JSON log, by window."""
    first_poll: dict[str, float] = {}
    statuses: dict[str, Counter] = {"first": Counter(), "steady": Counter(), "tail": Counter()}
    new_items: Counter = Counter()
    other: Counter = Counter()
    steady_from, steady_to = world.start + world.interval, world.publish_until
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line.startswith("{"):
                other["non_json_lines"] += 1
                continue
            try:
                record = json.loads(line)
            except ValueError:
                other["unparsable_lines"] += 1
                continue
            event = record.get("event")
            if event != "poll":
                other[event] += 1
                continue
            when = _epoch(record["timestamp"])
            window = "first" if when < steady_from else "steady" if when < steady_to else "tail"
            statuses[window][record.get("status")] += 1
            new_items[window] += record.get("new", 0)
            first_poll.setdefault(record["feed"], when)
    return {
        "polls": {w: dict(c) for w, c in statuses.items()},
        "new_items": dict(new_items),
        "feeds_polled": len(first_poll),
        "all_first_polls_done_s": round(max(first_poll.values()) - world.start, 1) if len(first_poll) == world.feeds else None,
        "other_events": dict(other.most_common(12)),
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def run_service(args: argparse.Namespace, engine: str, profile: Path | None = None) -> dict:
    """One measured run of `monitor run` on one engine; returns its numbers."""
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        folder = Path(tmp)
        database = Database(engine, folder)
        try:
            seeded = seed_database(args, folder, database) if args.seed_db else None
            start = time.time() + 3.0
            world = make_world(args, start, start + args.interval * (1 + args.steady_cycles))
            farm = ServerFarm(world, args.server_workers)
            config = write_config(folder, world, database, stories=args.stories)
            log_path = folder / "service.log"
            load_before = load_average()
            time.sleep(max(0.0, world.start - time.time()))
            with log_path.open("w") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "monitor", "--config", str(config), "run"],
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    cwd=REPO,
                    env=service_env(),
                )
            result = _measure(args, world, farm, database, proc, profile)
            result["load_average_before"] = load_before
            result["seeded"] = seeded
            result["server"] = farm.stop()
            result["log"] = read_log(log_path, world)
            result["time_to_queue"] = time_to_queue(world, database)
            result["engine"] = engine
            result["size_on_disk_end"] = database.files_bytes()
            if proc.returncode not in (0, None):
                result["error_tail"] = log_path.read_text(errors="replace")[-3000:]
            return result
        finally:
            database.drop()


def _measure(args, world: World, farm: ServerFarm, database: Database, proc: subprocess.Popen, profile: Path | None) -> dict:  # type: ignore[no-untyped-def]
    samples, server = Samples(), Samples()
    steady_from, steady_to = world.start + world.interval, world.publish_until
    tail = world.interval + min(0.1 * world.interval, 60.0) + 30.0
    end = steady_to + tail
    marks: dict[str, dict] = {}
    spy = None
    try:
        while (now := time.time()) < end:
            if proc.poll() is not None:
                raise RuntimeError(f"the service exited early with {proc.returncode}")
            samples.points.append((now, cpu_seconds(proc.pid)))
            server.points.append((now, farm.cpu_seconds()))
            for label, at in (("steady_start", steady_from), ("steady_end", steady_to)):
                if label not in marks and now >= at:
                    marks[label] = {"t": now, "size": database.size_bytes(), "tables": database.table_bytes(), **database.counts()}
            if profile is not None and spy is None and now >= steady_from:
                spy = start_py_spy(args, proc.pid, steady_to - now, profile)
            time.sleep(1.0 - (time.time() - now) % 1.0)
        rss_peak = status_mb(proc.pid, "VmHWM")
        rss_end = status_mb(proc.pid, "VmRSS")
    finally:
        stop_at = time.monotonic()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        stop_seconds = time.monotonic() - stop_at
        if spy is not None:
            spy.wait(timeout=120)
    start_mark, end_mark = marks["steady_start"], marks["steady_end"]
    cycles = args.steady_cycles
    per_cycle = (end_mark["size"] - start_mark["size"]) / cycles
    cycles_per_day = DAY / args.nominal_interval
    steady_cpu = samples.cpu_seconds(steady_from, steady_to)
    return {
        "feeds": world.feeds,
        "interval_s": world.interval,
        "steady_cycles": cycles,
        "cpu_first_cycle_pct": _round(samples.share(world.start, steady_from)),
        "cpu_steady_pct": _round(samples.share(steady_from, steady_to)),
        "cpu_tail_pct": _round(samples.share(steady_to, end)),
        # The same polls and news per cycle at the nominal interval (see the module doc).
        "cpu_seconds_per_cycle": _round(steady_cpu / cycles if steady_cpu is not None else None),
        "cpu_steady_at_nominal_pct": _round(100 * steady_cpu / cycles / args.nominal_interval if steady_cpu is not None else None),
        "server_cpu_steady_pct": _round(server.share(steady_from, steady_to)),
        "server_workers": len(farm.procs),
        "rss_peak_mb": round(rss_peak, 1),
        "rss_end_mb": round(rss_end, 1),
        "sigterm_exit": code,
        "sigterm_seconds": round(stop_seconds, 2),
        "db_size_steady_start": start_mark["size"],
        "db_size_steady_end": end_mark["size"],
        "db_growth_per_cycle": round(per_cycle),
        "db_growth_per_day_mb": round(per_cycle * cycles_per_day / 2**20, 1),
        "tables_steady_start": start_mark["tables"],
        "tables_steady_end": end_mark["tables"],
        "rows_steady_start": {k: start_mark[k] for k in ("items", "matches", "alerts", "feeds", "matched_items")},
        "rows_steady_end": {k: end_mark[k] for k in ("items", "matches", "alerts", "feeds", "matched_items")},
        "news_items_per_cycle": round(news_in(world, steady_from, steady_to) / cycles, 1),
        "with_retention": retention_plateau(args, start_mark, end_mark, news_in(world, steady_from, steady_to)),
        "items_per_day": round((end_mark["items"] - start_mark["items"]) / cycles * cycles_per_day),
        "alerts_per_day": round((end_mark["alerts"] - start_mark["alerts"]) / cycles * cycles_per_day),
    }


def news_in(world: World, begin: float, end: float) -> int:
    """Entries the simulated outlets published in [begin, end)."""
    return sum(1 for times in world.publications().values() for t in times if begin <= t < end)


def retention_plateau(args: argparse.Namespace, start: dict, end: dict, news: int) -> dict:
    """Growth per day of news and where storage.retention (defaults: unmatched identities
    30 d, alerts 90 d) levels the database off. Bytes per stored row come from the growth
    measured per table over the steady cycles; unmatched identities are counted per entry
    published then (`news`), not per row stored, because at shortened intervals the first
    polls of a cold start can spill into the steady cycles and store backlog there.
    Unmatched identities stop growing after 30 days, alerts after 90, matched items never."""
    cycles_per_day = DAY / args.nominal_interval

    def grown(*tables: str) -> float:
        return sum(end["tables"].get(t, 0) - start["tables"].get(t, 0) for t in tables) / args.steady_cycles * cycles_per_day

    if not all(isinstance(end["tables"].get(t), int) for t in ("items", "matches", "alerts")):
        return {"unavailable": "no per-table sizes"}
    new_items = max(1, end["items"] - start["items"])
    new_matched = end["matched_items"] - start["matched_items"]
    items_bytes, body_bytes = grown("items"), (end["body_chars"] - start["body_chars"]) / args.steady_cycles * cycles_per_day
    identity_bytes = max(0.0, items_bytes - body_bytes)  # the rows without their text
    unmatched = identity_bytes * max(0, news - new_matched) / new_items  # bytes per identity x news
    matched = body_bytes + identity_bytes * new_matched / new_items + grown("matches")
    alerts = grown("alerts", "delivery_attempts")
    mb = 2**20
    return {
        "news_mb_per_day": round((unmatched + matched + alerts) / mb, 1),
        "unmatched_identities_mb_per_day": round(unmatched / mb, 1),
        "matched_items_mb_per_day": round(matched / mb, 1),
        "alerts_mb_per_day": round(alerts / mb, 1),
        # from the size at the start of the steady cycles (the feeds and their first content)
        "after_90_days_mb": round((start["size"] + 30 * unmatched + 90 * (matched + alerts)) / mb),
        "then_mb_per_day": round(matched / mb, 1),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def time_to_queue(world: World, database: Database) -> dict:
    """Seconds from an entry's appearance on the server to its alert's created_at."""
    alerted = database.alert_times()
    published = world.publications()
    windows: dict[str, list[float]] = {"first": [], "steady": []}
    missing = {"first": 0, "steady": 0}
    steady_from = world.start + world.interval
    for n, times in published.items():
        for index, at in enumerate(times):
            k = world.backlog + index
            if not world.entry_matches(n, k):
                continue
            window = "first" if at < steady_from else "steady"
            if (n, k) in alerted:
                windows[window].append(alerted[(n, k)] - at)
            else:
                missing[window] += 1
    out = {}
    for window, delays in windows.items():
        out[window] = {
            "alerts": len(delays),
            "missing": missing[window],
            **(
                {
                    "p50_s": round(statistics.median(delays), 1),
                    "p95_s": round(percentile(delays, 0.95), 1),
                    "max_s": round(max(delays), 1),
                    "min_s": round(min(delays), 1),
                }
                if delays
                else {}
            ),
        }
    return out


# --------------------------------------------------------------------------
# Several instances over the same feeds on one PostgreSQL database.
# --------------------------------------------------------------------------


def postgres_backends(database: Database) -> list[int]:
    """PIDs of the server processes serving this benchmark's database (not other users')."""
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL) as conn:
        return [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database.name,)).fetchall()]


def run_instances(args: argparse.Namespace, count: int) -> dict:
    """`count` instances of `monitor run` with one config on one PostgreSQL database:
    CPU per instance, in total, of the database's server processes and of the feed
    server; feed requests per cycle at the server (each feed once per interval when the
    instances split them); polls per instance; time to queue; alerts per item."""
    with tempfile.TemporaryDirectory(prefix="scale-instances-") as tmp:
        folder = Path(tmp)
        database = Database("postgresql", folder)
        procs: list[subprocess.Popen] = []
        try:
            start = time.time() + 3.0
            world = make_world(args, start, start + args.interval * (1 + args.steady_cycles))
            farm = ServerFarm(world, args.server_workers)
            config = write_config(folder, world, database)
            time.sleep(max(0.0, world.start - time.time()))
            for n in range(count):
                with (folder / f"instance-{n}.log").open("w") as log:
                    procs.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
                            stdout=subprocess.DEVNULL, stderr=log, cwd=REPO, env=service_env(),
                        )
                    )
            steady_from, steady_to = world.start + world.interval, world.publish_until
            end = steady_to + world.interval + min(0.1 * world.interval, 60.0) + 30.0
            samples = [Samples() for _ in procs]
            server = Samples()
            backend_cpu: dict[int, list[float]] = {}  # pid -> [cpu at steady start or first sight, latest]
            while (now := time.time()) < end:
                for proc, sampled in zip(procs, samples):
                    if proc.poll() is not None:
                        raise RuntimeError(f"an instance exited early with {proc.returncode}")
                    sampled.points.append((now, cpu_seconds(proc.pid)))
                server.points.append((now, farm.cpu_seconds()))
                if steady_from <= now <= steady_to:
                    for pid in postgres_backends(database):
                        try:
                            used = cpu_seconds(pid)
                        except (FileNotFoundError, ProcessLookupError):
                            continue
                        backend_cpu.setdefault(pid, [used, used])[1] = used
                time.sleep(1.0 - (time.time() - now) % 1.0)
            rss = [status_mb(proc.pid, "VmHWM") for proc in procs]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            codes = [proc.wait(timeout=60) for proc in procs]
        try:
            served = farm.stop()
            logs = [read_log(folder / f"instance-{n}.log", world) for n in range(count)]
            ttq = time_to_queue(world, database)
            per_item = database._query("SELECT count(*), count(DISTINCT item_id) FROM alerts")[0]
            cycles, nominal = args.steady_cycles, args.nominal_interval
            per_instance = [s.cpu_seconds(steady_from, steady_to) or 0.0 for s in samples]
            db_cpu = sum(last - first for first, last in backend_cpu.values())
            return {
                "instances": count,
                "cpu_steady_at_nominal_pct_per_instance": [round(100 * c / cycles / nominal, 2) for c in per_instance],
                "cpu_steady_at_nominal_pct_total": round(100 * sum(per_instance) / cycles / nominal, 2),
                "postgres_cpu_steady_at_nominal_pct": round(100 * db_cpu / cycles / nominal, 2),
                "server_cpu_steady_at_nominal_pct": round(100 * (server.cpu_seconds(steady_from, steady_to) or 0) / cycles / nominal, 2),
                "rss_peak_mb": [round(r, 1) for r in rss],
                "feed_requests_by_cycle": served["feed_requests_by_cycle"],
                "page_requests_by_cycle": served["page_requests_by_cycle"],
                "polls_steady_per_instance": [sum(log["polls"]["steady"].values()) for log in logs],
                "other_events": [log["other_events"] for log in logs],
                "time_to_queue": ttq,
                "alerts": int(per_item[0]),
                "alerted_items": int(per_item[1]),
                "sigterm_exit": codes,
            }
        finally:
            database.drop()


def instances_markdown(args: argparse.Namespace, runs: list[dict]) -> str:
    nominal = args.nominal_interval / 60
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {platform.machine()}, {os.cpu_count()} cores (shared), "
        f"Python {platform.python_version()}: `benchmarks/scale.py --instances {args.instances} --feeds {args.feeds} "
        f"--interval {args.interval:g}s --steady-cycles {args.steady_cycles}`: the same config (the same {args.feeds} feeds) "
        f"started 1, 2 and 3 times on one PostgreSQL database; CPU converted to {nominal:g}-min intervals as above.",
        "",
        "| instances | CPU per instance (% of one core) | total | PostgreSQL server | feed server | feed requests per cycle (steady) | time to queue p50 / p95 (s) | alerts / alerted items |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        steady_cycles = [v for k, v in run["feed_requests_by_cycle"].items() if 1 <= int(k) <= args.steady_cycles]
        ttq = run["time_to_queue"]["steady"]
        lines.append(
            f"| {run['instances']} | {', '.join(f'{c:g}' for c in run['cpu_steady_at_nominal_pct_per_instance'])} "
            f"| **{run['cpu_steady_at_nominal_pct_total']:g}** | {run['postgres_cpu_steady_at_nominal_pct']:g} "
            f"| {run['server_cpu_steady_at_nominal_pct']:g} | {', '.join(f'{n:,}' for n in steady_cycles)} "
            f"| {ttq.get('p50_s')} / {ttq.get('p95_s')} (n={ttq['alerts']}, {ttq['missing']} missing) "
            f"| {run['alerts']:,} / {run['alerted_items']:,} |"
        )
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Baseline: a bare httpx loop sending the same requests at the same pace.
# --------------------------------------------------------------------------


def bare_loop(world_json: str) -> None:
    """Every feed once per interval (random phase in the first), If-None-Match, and
    the pages of entries new since the first sight of the feed; 16 at a time."""
    import httpx

    world = World(**json.loads(world_json))
    link = re.compile(rb"<link>(http[^<]+/a/\d+/\d+\.html)</link>")

    async def feed(client: httpx.AsyncClient, slots: asyncio.Semaphore, n: int) -> None:
        etag, seen = None, None
        await asyncio.sleep(random.uniform(0, world.interval))
        while True:
            began = time.monotonic()
            try:
                async with slots:
                    response = await client.get(world.feed_url(n), headers={"If-None-Match": etag} if etag else {})
                status, etag_now, links = response.status_code, response.headers.get("etag"), set(link.findall(response.content))
                del response  # 10,000 sleeping coroutines must not each hold their last answer
                if status == 200:
                    etag = etag_now
                    new = [] if seen is None else sorted(links - seen)
                    seen = links if seen is None else seen | links
                    for url in new:
                        async with slots:
                            await client.get(url.decode())
            except httpx.HTTPError:
                pass
            await asyncio.sleep(max(0.0, world.interval - (time.monotonic() - began)))

    async def main() -> None:
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=30)
        timeout = httpx.Timeout(20.0, connect=10.0)
        async with httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False) as client:
            slots = asyncio.Semaphore(16)
            await asyncio.gather(*(feed(client, slots, n) for n in range(world.feeds)))

    asyncio.run(main())


def run_baseline(args: argparse.Namespace) -> dict:
    start = time.time() + 1.0
    world = make_world(args, start, start + 2 * args.interval)
    farm = ServerFarm(world, args.server_workers)
    try:
        time.sleep(max(0.0, start - time.time()))
        proc = subprocess.Popen([sys.executable, __file__, "--bare-loop", json.dumps(asdict(world))], cwd=REPO)
        samples = Samples()
        try:
            while (now := time.time()) < world.publish_until:
                if proc.poll() is not None:
                    raise RuntimeError(f"the baseline loop exited early with {proc.returncode}")
                samples.points.append((now, cpu_seconds(proc.pid)))
                time.sleep(1.0 - (time.time() - now) % 1.0)
            rss = status_mb(proc.pid, "VmHWM")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        served = farm.stop()
    return {
        "cpu_first_cycle_pct": _round(samples.share(world.start, world.start + world.interval)),
        "cpu_steady_pct": _round(samples.share(world.start + world.interval, world.publish_until)),
        "cpu_steady_at_nominal_pct": _round(
            100 * (samples.cpu_seconds(world.start + world.interval, world.publish_until) or 0) / args.nominal_interval
        ),
        "rss_peak_mb": round(rss, 1),
        "server": served,
    }


# --------------------------------------------------------------------------
# Profile: py-spy attached to the service during the steady cycles.
# --------------------------------------------------------------------------


def start_py_spy(args: argparse.Namespace, pid: int, seconds: float, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [args.py_spy, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))), "--rate", "50",
         "--format", "raw", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _component(frame: str) -> str:
    """A frame 'func (path/to/file.py:line)' -> what it belongs to (our module or a library)."""
    match = re.search(r"\((.*?):\d+\)$", frame)
    path = match.group(1) if match else frame
    if "/monitor/" in path and "site-packages" not in path:
        return "monitor/" + path.split("/monitor/", 1)[1].rsplit(".", 1)[0]
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/lib/python3" in path:
        tail = path.split("/lib/python3", 1)[1].split("/", 1)[1]
        return "stdlib:" + tail.split("/", 1)[0].removesuffix(".py")
    return path


# What a sample was doing, judged by the first rule whose pattern is in its stack.
ACTIVITIES = [
    ("page text extraction (trafilatura, lxml)", ("extract_text (",)),
    ("feed parsing (feedparser)", ("parse_feed (",)),
    ("database (SQLAlchemy, sqlite3/psycopg, monitor/store)", ("sqlalchemy/", "psycopg/", "sqlite3/", "monitor/store/")),
    ("logging (structlog, logging)", ("structlog/", "logging/__init__")),
    ("TCP connect / close", ("connect_tcp (", ".aclose (monitor/ingest/asyncio", "TransportSocket.shutdown", "_sock_connect")),
    ("HTTP requests and responses (httpx, httpcore, h11, fetch)", ("httpx/", "httpcore/", "h11/", "monitor/ingest/fetch")),
    ("scheduling (APScheduler, monitor/service)", ("apscheduler/", "monitor/service/")),
    ("thread hand-offs (asyncio.to_thread)", ("concurrent/futures/", "_write_to_self", "_read_from_self")),
    ("event loop (select, callbacks)", ("asyncio/", "selectors.py")),
]


# Leaf frames that are a thread waiting, not working: py-spy's idle detection misses
# them at times (an idle pool worker in queue.get, the loop in epoll_wait). Dropped.
IDLE_LEAVES = ("_worker (concurrent/futures/thread.py", "EpollSelector.select (selectors.py", "Condition.wait (threading.py")


def _activity(stack: str) -> str:
    for name, patterns in ACTIVITIES:
        if any(p in stack for p in patterns):
            return name
    return "other"


def summarise_profile(path: Path, top: int = 25) -> str:
    """Time by component (inclusive, and where the CPU actually is) and the hottest functions."""
    inclusive: Counter = Counter()
    own: Counter = Counter()
    functions: Counter = Counter()
    ours: Counter = Counter()
    activities: Counter = Counter()
    total = idle = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        if frames[-1].startswith(IDLE_LEAVES):
            idle += n
            continue
        total += n
        activities[_activity(stack)] += n
        for component in {_component(f) for f in frames}:
            inclusive[component] += n
        own[_component(frames[-1])] += n
        functions[re.sub(r":\d+\)$", ")", frames[-1])] += n
        # The innermost frame of our own code: what of ours asked for this CPU.
        for frame in reversed(frames):
            if _component(frame).startswith("monitor/"):
                ours[re.sub(r":\d+\)$", ")", frame)] += n
                break
    if not total:
        return "py-spy recorded no samples"
    lines = [f"{total} samples ({idle} more of threads waiting in queue.get / epoll / Condition.wait left out)"]
    lines.append("\nby activity (first match of each stack, in this order):")
    lines += [f"  {100 * activities[name] / total:5.1f}%  {name}" for name, _ in [*ACTIVITIES, ("other", ())]]
    lines.append("\nself time by component (where the CPU is spent):")
    lines += [f"  {100 * c / total:5.1f}%  {k}" for k, c in own.most_common(top)]
    lines.append("\ninclusive time by component (a stack counts once per component in it):")
    lines += [f"  {100 * c / total:5.1f}%  {k}" for k, c in inclusive.most_common(top)]
    lines.append("\ninnermost monitor/ frame of each sample (our code that asked for the CPU):")
    lines += [f"  {100 * c / total:5.1f}%  {k}" for k, c in ours.most_common(top)]
    lines.append("\nhottest functions (self):")
    lines += [f"  {100 * c / total:5.1f}%  {k}" for k, c in functions.most_common(top)]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------


def to_markdown(args: argparse.Namespace, results: list[dict], baseline: dict | None) -> str:
    minutes = args.interval / 60
    nominal = args.nominal_interval / 60
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {platform.machine()}, {os.cpu_count()} cores (shared), "
        f"Python {platform.python_version()}: `benchmarks/scale.py --feeds {args.feeds} --interval {args.interval:g}s "
        f"--steady-cycles {args.steady_cycles}{' --seed-db' if args.seed_db else ''}`. "
        f"{args.feeds} feeds on {args.hosts} loopback hosts, "
        + (
            f"{minutes:g}-min intervals"
            if args.interval == args.nominal_interval
            else f"intervals shortened to {minutes:g} min (the news of a {nominal:g}-min cycle in each)"
        )
        + f"; per day = {DAY / args.nominal_interval:g} cycles. The engines run one after the other, each from a cold "
        f"start; load average (1, 5, 15 min) before each: {'; '.join(str(r.get('load_average_before')) for r in results)}.",
        "",
        "| | " + " | ".join(r["engine"] for r in results) + " | goal |",
        "|---|" + "---|" * len(results) + "---|",
    ]

    def row(label: str, values: list[str], goal: str = "") -> None:
        lines.append(f"| {label} | " + " | ".join(values) + f" | {goal} |")

    if args.interval != args.nominal_interval:
        row(f"CPU, steady cycles, at {minutes:g}-min intervals (% of one core)", [f"{r['cpu_steady_pct']}" for r in results])
    row(
        f"CPU, steady, at {nominal:g}-min intervals (% of one core; service process, user + system)",
        [f"**{r['cpu_steady_at_nominal_pct']}** ({r['cpu_seconds_per_cycle']} s per cycle)" for r in results],
        "< 30",
    )
    first = "first cycle after a restart" if args.seed_db else "first cycle (cold start)"
    row(f"CPU, {first}, at {minutes:g}-min intervals", [f"{r['cpu_first_cycle_pct']}" for r in results])
    row("peak RSS (MB)", [f"**{r['rss_peak_mb']}**" for r in results], "< 250")
    ttq = [r["time_to_queue"]["steady"] for r in results]
    row(
        "time to queue p50 / p95 (s)",
        [f"{t.get('p50_s')} / **{t.get('p95_s')}** (n={t['alerts']}, {t['missing']} missing)" for t in ttq],
        f"p95 < {args.interval + 30:g}",
    )
    row(
        "database growth per day of news (MB; unmatched identities + matched items + alerts)",
        [
            f"**{r['with_retention'].get('news_mb_per_day')}** ({r['with_retention'].get('unmatched_identities_mb_per_day')} + "
            f"{r['with_retention'].get('matched_items_mb_per_day')} + {r['with_retention'].get('alerts_mb_per_day')}; "
            f"{r['news_items_per_cycle']:g} entries published per cycle)"
            for r in results
        ],
    )
    row(
        "database growth per day as measured (MB; counts first polls that spilled past the first cycle)",
        [f"{r['db_growth_per_day_mb']}" for r in results],
    )
    row(
        "with retention (30 d unmatched, 90 d alerts): size after 90 days, then growth per day (matched items only)",
        [
            f"{r['with_retention'].get('after_90_days_mb')} MB, then {r['with_retention'].get('then_mb_per_day')} MB/day"
            for r in results
        ],
    )
    row("items / alerts stored per day", [f"{r['items_per_day']:,} / {r['alerts_per_day']:,}" for r in results])
    row("feed server CPU, steady (% of one core)", [f"{r['server_cpu_steady_pct']} ({r['server_workers']} workers)" for r in results])
    row("all feeds polled once after (s)", [f"{r['log']['all_first_polls_done_s']}" for r in results])
    row(
        "first cycle: page downloads (of entries published during it; the backlog is stored by identity only)",
        [f"{r['server']['page_requests_by_cycle'].get(0, 0):,} ({r['rows_steady_start']['items']:,} items stored)" for r in results],
    )
    row("SIGTERM", [f"exit {r['sigterm_exit']} in {r['sigterm_seconds']} s" for r in results])
    if baseline:
        lines += [
            "",
            f"Baseline, same server: a bare httpx.AsyncClient loop sending the same feed GETs (If-None-Match) "
            f"at the same pace and fetching the pages of new entries: {baseline['cpu_steady_pct']}% of one core "
            f"in its steady cycle (**{baseline['cpu_steady_at_nominal_pct']}%** at {nominal:g}-min intervals; "
            f"{baseline['cpu_first_cycle_pct']}% in its first, which fetches no backlog).",
        ]
    return "\n".join(lines) + "\n"


def write_docs(markdown: str) -> None:
    write_block(REPO / "docs" / "OPERATIONS.md", "scale", markdown)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-worker":
        serve_worker(sys.argv[2])
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--bare-loop":
        bare_loop(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=1000, help="loopback addresses the feeds are spread over")
    parser.add_argument("--interval", type=parse_duration, default=600.0, help="poll interval of every feed (default 10m)")
    parser.add_argument("--nominal-interval", type=parse_duration, default=600.0, help="the interval a day is extrapolated at")
    parser.add_argument("--steady-cycles", type=int, default=2)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--backlog", type=int, default=20)
    parser.add_argument("--publish-share", type=float, default=0.05)
    parser.add_argument("--matching", type=float, default=0.10)
    parser.add_argument("--unconditional", type=float, default=0.10, help="share of feeds ignoring conditional GET")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument("--seed-db", action="store_true", help="store the backlog first (run --once, no pages); measure a restart")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--profile", type=Path, help="also a profiled SQLite run; collapsed stacks to this file")
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy executable")
    parser.add_argument("--json", type=Path, help="write all numbers to this file")
    parser.add_argument("--write-docs", action="store_true", help="put the table into docs/OPERATIONS.md")
    parser.add_argument("--instances", help="e.g. 1,2,3: instead of the engines, that many instances on one PostgreSQL database")
    parser.add_argument("--stories", action="store_true", help="story grouping on (the default of monitor.yaml); see write_config")
    args = parser.parse_args()
    args.port = free_port("127.1.0.1")

    if args.instances:
        runs = []
        for count in [int(n) for n in args.instances.split(",")]:
            print(f"[{datetime.now():%H:%M:%S}] {count} instance(s) on PostgreSQL: {args.feeds} feeds, interval {args.interval:g}s ...", flush=True)
            runs.append(run_instances(args, count))
            print(json.dumps(runs[-1], indent=1), flush=True)
        if args.json:
            args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "instances": runs}, indent=1), encoding="utf-8")
        markdown = instances_markdown(args, runs)
        print(markdown)
        if args.write_docs:
            write_block(REPO / "docs" / "OPERATIONS.md", "scale-instances", markdown)
        return

    results = []
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        print(f"[{datetime.now():%H:%M:%S}] {engine}: {args.feeds} feeds, interval {args.interval:g}s ...", flush=True)
        result = run_service(args, engine)
        print(json.dumps(result, indent=1), flush=True)
        results.append(result)
    baseline = None
    if not args.skip_baseline:
        print(f"[{datetime.now():%H:%M:%S}] bare httpx baseline ...", flush=True)
        baseline = run_baseline(args)
        print(json.dumps(baseline, indent=1), flush=True)
    profile_summary = None
    if args.profile:
        print(f"[{datetime.now():%H:%M:%S}] profiled SQLite run ...", flush=True)
        profiled = run_service(args, "sqlite", profile=args.profile)
        print(f"(profiled run: {profiled['cpu_steady_pct']}% steady, with py-spy sampling it)", flush=True)
        profile_summary = summarise_profile(args.profile)
        print(profile_summary, flush=True)
    if args.json:
        args.json.write_text(
            json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results, "baseline": baseline,
                        "profile": profile_summary}, indent=1),
            encoding="utf-8",
        )
    if results:
        markdown = to_markdown(args, results, baseline)
        print(markdown)
        if args.write_docs:
            write_docs(markdown)


if __name__ == "__main__":
    main()
