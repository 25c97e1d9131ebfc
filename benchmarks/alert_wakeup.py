"""How the sender of several instances learns of alerts another instance queued:
PostgreSQL LISTEN/NOTIFY (what the service uses) against a short poll of the outbox.

Measured on the real PostgreSQL at 127.0.0.1:5432 (a database of its own, dropped
after): the time from the commit of an alert by another connection (another
instance) to the sender noticing it, and the CPU a waiting sender spends per hour.

    .venv/bin/python benchmarks/alert_wakeup.py [--samples 200] [--poll 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from sqlalchemy import create_engine, text

from monitor.store import NewItem, QueuedAlert, Store, listen_for_alerts

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def notify_latency(writer: Store, url: str, feed_id: int, samples: int) -> list[float]:
    """Commit an alert, wait for the listener's call; seconds from commit to the call."""
    woken = asyncio.Event()
    listener = asyncio.create_task(listen_for_alerts(url, woken.set, lambda message, failures: None))
    await asyncio.wait_for(woken.wait(), 10)  # connected (it calls once on connect)
    latencies = []
    for n in range(samples):
        woken.clear()
        item = NewItem(feed_id, f"notify-{n}", None, None, "Rockets hit Camp Taji", None, "", "feed", None)
        await asyncio.to_thread(writer.items.add, item, [], [QueuedAlert("@iraq_watch", "x", "x")])
        committed = time.perf_counter()
        await asyncio.wait_for(woken.wait(), 10)
        latencies.append(time.perf_counter() - committed)
        await asyncio.sleep(0.01)
    listener.cancel()
    await asyncio.gather(listener, return_exceptions=True)
    return latencies


async def poll_cost(reader: Store, calls: int) -> float:
    """CPU seconds of one look at the outbox (a thread hop and next_due, as the sender's idle check)."""
    started = time.process_time()
    for _ in range(calls):
        await asyncio.to_thread(reader.outbox.next_due, ["console"])
    return (time.process_time() - started) / calls


async def idle_cpu_listening(url: str, seconds: float) -> float:
    """CPU seconds of a waiting listener over `seconds` with nothing queued."""
    listener = asyncio.create_task(listen_for_alerts(url, lambda: None, lambda message, failures: None))
    await asyncio.sleep(1.0)
    started = time.process_time()
    await asyncio.sleep(seconds)
    spent = time.process_time() - started
    listener.cancel()
    await asyncio.gather(listener, return_exceptions=True)
    return spent


async def main(samples: int, poll: float) -> None:
    name = f"bench_wakeup_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        writer, reader = Store(url), Store(url)
        feed_id = writer.feeds.ensure("https://wire.example/rss", "Wire").id
        latencies = await notify_latency(writer, url, feed_id, samples)
        per_look = await poll_cost(reader, 300)
        idle = await idle_cpu_listening(url, 10.0)
        writer.close()
        reader.close()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    ms = [x * 1000 for x in latencies]
    print(f"LISTEN/NOTIFY, commit -> sender woken, {samples} alerts: p50 {statistics.median(ms):.2f} ms, "
          f"p95 {quantile(ms, 0.95):.2f} ms, max {max(ms):.2f} ms")
    print(f"LISTEN/NOTIFY, waiting sender: {idle / 10.0 * 3600:.2f} CPU s per hour (nothing queued)")
    print(f"short poll every {poll:g} s: commit -> noticed p50 {poll / 2 * 1000:.0f} ms, p95 {poll * 0.95 * 1000:.0f} ms "
          f"(uniform in the poll interval); one look {per_look * 1000:.2f} ms CPU, "
          f"{per_look * 3600 / poll:.2f} CPU s per hour and {3600 / poll:.0f} wake-ups per hour while idle")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--poll", type=float, default=1.0, help="the short poll's interval to compare with (seconds)")
    args = parser.parse_args()
    asyncio.run(main(args.samples, args.poll))
