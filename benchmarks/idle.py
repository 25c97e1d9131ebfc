"""Idle cost and cycle time of `monitor run` (issue 6). Not part of `make test`.

1. Idle: 500 feeds on a local server that answers 304 to conditional GETs,
   intervals of 60 s; `python -m monitor run` runs for --duration seconds (180).
   Reported: CPU share of one core of the service process (whole run and the
   steady state after the first minute) and its peak RSS (VmHWM). Baseline in
   the same run and the same window, side by side: the same 304 GETs at the same
   pace sent by a bare httpx.AsyncClient loop (its steady CPU share), so a busy
   machine inflates both alike.
2. Cycle: one `run --once`-style cycle (Monitor.run_once, in-process) over 500
   feeds each with 10 new entries (parse, match, store; pages not fetched),
   against the same 500 GETs by a bare httpx loop with the same concurrency,
   in the same run and against the same server.

The HTTP server runs in its own process so it does not share the GIL or the
CPU accounting with what is measured. Results are printed and, with
--write-docs, put into docs/OPERATIONS.md between the BENCHMARK markers.

    .venv/bin/python benchmarks/idle.py [--feeds 500] [--duration 180] [--write-docs]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from docs_block import write_block  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from process_stats import cpu_seconds, status_mb  # noqa: E402

SERVER = r'''
import sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from email.utils import formatdate
new_items = sys.argv[1] == "new"
def feed(n):
    items = "".join(
        f"<item><title>Report {n}-{i} on regional security</title><guid>f{n}-i{i}</guid>"
        f"<link>http://127.0.0.1:9/f{n}/{i}</link><pubDate>{formatdate(usegmt=True)}</pubDate>"
        f"<description>Officials met on Tuesday to discuss item {i} of feed {n}; talks continue.</description></item>"
        for i in range(10 if new_items else 3))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {n}</title>{items}</channel></rss>'.encode()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        n = self.path.strip("/").split(".")[0]
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304); self.send_header("ETag", '"v1"'); self.send_header("Content-Length", "0"); self.end_headers(); return
        body = feed(n)
        self.send_response(200); self.send_header("Content-Type", "application/rss+xml"); self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.request_queue_size = 1024
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_port, flush=True)
s.serve_forever()
'''

WATCHLIST = REPO / "config" / "watchlist.yaml"

# The baseline for the idle figure: the same 304 GETs at the same pace (each feed
# every 60 s, random phase) by a bare httpx.AsyncClient loop, nothing else.
BARE_LOOP = r'''
import asyncio, random, sys
import httpx
port, feeds = int(sys.argv[1]), int(sys.argv[2])
async def feed(client, n):
    await asyncio.sleep(random.uniform(0, 60))
    while True:
        response = await client.get(f"http://127.0.0.1:{port}/{n}.xml", headers={"If-None-Match": '"v1"'})
        assert response.status_code == 304, response.status_code
        await asyncio.sleep(60)
async def main():
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:
        await asyncio.gather(*(feed(client, n) for n in range(feeds)))
asyncio.run(main())
'''


def start_server(mode: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-c", SERVER, mode], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    return proc, port


def write_config(folder: Path, port: int, feeds: int, concurrency: int) -> Path:
    import yaml

    config = {
        "storage": {"url": f"sqlite:///{folder / 'monitor.db'}"},
        "telegram": {"token": ""},
        "watchlist": str(WATCHLIST),
        # All feeds live on one local host here; a real deployment spreads them over many.
        "fetch": {"allowed_networks": ["127.0.0.0/8"], "fetch_pages": False, "concurrency": concurrency, "per_host_concurrency": concurrency},
        "defaults": {"interval": "60s"},
        "service": {"log_format": "json", "startup_spread": "60s"},
        "feeds": [{"url": f"http://127.0.0.1:{port}/{n}.xml", "name": f"Feed {n}"} for n in range(feeds)],
    }
    path = folder / "monitor.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def steady_cpu_shares(procs: dict[str, subprocess.Popen], duration: float) -> dict[str, tuple[float, float, float, float]]:
    """Per process running side by side: (whole-run CPU %, steady CPU % after the first
    minute, steady window s, run s)."""
    started = time.monotonic()
    steady_from = min(60.0, duration / 3)
    steady_cpu: dict[str, float] = {}
    steady_at = None
    while (elapsed := time.monotonic() - started) < duration:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise SystemExit(f"the measured process {name} exited early: {proc.returncode}")
        if steady_at is None and elapsed >= steady_from:
            steady_cpu, steady_at = {name: cpu_seconds(proc.pid) for name, proc in procs.items()}, time.monotonic()
        time.sleep(0.5)
    total_cpu, end = {name: cpu_seconds(proc.pid) for name, proc in procs.items()}, time.monotonic()
    assert steady_at is not None
    return {
        name: (
            100 * total_cpu[name] / (end - started),
            100 * (total_cpu[name] - steady_cpu[name]) / (end - steady_at),
            end - steady_at,
            end - started,
        )
        for name in procs
    }


def idle(feeds: int, duration: float, baseline: bool = True) -> tuple[dict, dict | None]:
    """The service and (with `baseline`) the bare httpx loop, side by side against one server."""
    server, port = start_server("idle")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = write_config(Path(tmp), port, feeds, 16)
            log = open(Path(tmp) / "service.log", "w+")
            procs = {
                "service": subprocess.Popen(
                    [sys.executable, "-m", "monitor", "--config", str(config), "run"],
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    cwd=REPO,
                    env={**os.environ, "PYTHONPATH": str(REPO)},
                )
            }
            if baseline:
                procs["bare"] = subprocess.Popen([sys.executable, "-c", BARE_LOOP, str(port), str(feeds)], cwd=REPO)
            proc = procs["service"]
            try:
                shares = steady_cpu_shares(procs, duration)
                total, steady, window, run = shares["service"]
                rss = status_mb(proc.pid, "VmHWM")
            finally:
                stop_at = time.monotonic()
                proc.terminate()
                code = proc.wait(timeout=30)
                stop_seconds = time.monotonic() - stop_at
                if baseline:
                    procs["bare"].terminate()
                    procs["bare"].wait(timeout=30)
            log.seek(0)
            text = log.read()
            polls = text.count('"event": "poll"')
            not_modified = text.count('"status": "not_modified"')
            logging_errors = text.count("--- Logging error ---")
    finally:
        server.terminate()
    bare = {"cpu_share_steady_pct": round(shares["bare"][1], 2)} if baseline else None
    return {
        "feeds": feeds,
        "duration_s": round(run, 1),
        "cpu_share_total_pct": round(total, 2),
        "cpu_share_steady_pct": round(steady, 2),
        "steady_window_s": round(window, 1),
        "peak_rss_mb": round(rss, 1),
        "polls_logged": polls or None,
        "not_modified_logged": not_modified or None,
        "logging_errors": logging_errors,
        "sigterm_exit": code,
        "sigterm_seconds": round(stop_seconds, 2),
    }, bare


async def cycle(feeds: int, concurrency: int = 16) -> dict:
    import httpx

    from monitor.config import load_settings
    from monitor.ops.logs import configure_logging
    from monitor.service import Monitor

    configure_logging("json", stream=open(os.devnull, "w"))
    server, port = start_server("new")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = write_config(Path(tmp), port, feeds, concurrency)
            urls = [f"http://127.0.0.1:{port}/{n}.xml" for n in range(feeds)]

            # Bare httpx: the same GETs, same concurrency, bodies read.
            limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
            async with httpx.AsyncClient(limits=limits, trust_env=False) as client:
                slots = asyncio.Semaphore(concurrency)

                async def get(url: str) -> int:
                    async with slots:
                        return len((await client.get(url)).content)

                t0 = time.perf_counter()
                sizes = await asyncio.gather(*(get(u) for u in urls))
                bare = time.perf_counter() - t0

            monitor = Monitor(load_settings(config))
            try:
                t0 = time.perf_counter()
                report = await monitor.run_once()
                full = time.perf_counter() - t0
            finally:
                await monitor.aclose()
    finally:
        server.terminate()
    return {
        "feeds": feeds,
        "bytes_per_feed": sum(sizes) // len(sizes),
        "bare_httpx_s": round(bare, 2),
        "monitor_cycle_s": round(full, 2),
        "ratio": round(full / bare, 1),
        "new_items": report.new_items,
        "failed_feeds": len(report.failed_feeds),
    }


def to_markdown(idle_result: dict | None, cycle_result: dict | None, bare_result: dict | None = None) -> str:
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()} (`benchmarks/idle.py`).",
        "",
    ]
    if idle_result:
        r = idle_result
        lines += [
            f"* Idle, {r['feeds']} feeds answering 304, 60 s intervals, {r['duration_s']:g} s run: "
            f"**{r['cpu_share_steady_pct']}% of one core** in the steady state (last {r['steady_window_s']:g} s; "
            f"{r['cpu_share_total_pct']}% over the whole run, first polls included), "
            f"**peak RSS {r['peak_rss_mb']} MB**. Goal: < 1% and < 150 MB.",
            *(
                [f"* Baseline, same run, side by side: a bare httpx.AsyncClient loop sending the same 304 GETs at the same pace: "
                 f"**{bare_result['cpu_share_steady_pct']}%** of one core in its steady state."]
                if bare_result
                else []
            ),
            f"* SIGTERM at the end: exit {r['sigterm_exit']} after {r['sigterm_seconds']} s.",
        ]
    if cycle_result:
        c = cycle_result
        lines += [
            f"* One full cycle of {c['feeds']} feeds with new content ({c['bytes_per_feed']} bytes, 10 new entries each; "
            f"parse, match, store, no page fetches): **{c['monitor_cycle_s']} s**, against **{c['bare_httpx_s']} s** "
            f"for the same GETs by a bare httpx loop ({c['ratio']}x); {c['new_items']} new items, {c['failed_feeds']} failed feeds.",
        ]
    return "\n".join(lines) + "\n"


def write_docs(markdown: str) -> None:
    write_block(REPO / "docs" / "OPERATIONS.md", "idle", markdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--duration", type=float, default=180.0)
    parser.add_argument("--skip-idle", action="store_true")
    parser.add_argument("--skip-cycle", action="store_true")
    parser.add_argument("--skip-baseline", action="store_true", help="skip the bare httpx idle loop")
    parser.add_argument("--write-docs", action="store_true", help="put the numbers into docs/OPERATIONS.md")
    args = parser.parse_args()
    cycle_result = None if args.skip_cycle else asyncio.run(cycle(args.feeds))
    if cycle_result:
        print("cycle:", cycle_result, flush=True)
    idle_result, bare_result = (None, None) if args.skip_idle else idle(args.feeds, args.duration, not args.skip_baseline)
    if idle_result:
        print("idle:", idle_result, flush=True)
    if bare_result:
        print("bare httpx idle:", bare_result, flush=True)
    markdown = to_markdown(idle_result, cycle_result, bare_result)
    print(markdown)
    if args.write_docs:
        write_docs(markdown)


if __name__ == "__main__":
    main()
