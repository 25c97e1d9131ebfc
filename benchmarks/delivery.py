"""Delivery benchmark: the outbox sender against the fake Bot API enforcing Telegram's limits.

Two runs, each on a fresh SQLite outbox and a fresh in-process fake (tests/fake_telegram.py,
over real HTTP through python-telegram-bot):

1. channel: N alerts queued to one channel. Telegram allows ~20 messages/minute to a
   channel, so 1,000 alerts need 50 minutes. The clock is scaled instead: with
   --scale S every limit is multiplied by S on BOTH sides (the fake's flood control
   and the sender's governor), so 20/min becomes 20*S/min. The ratio to the
   theoretical minimum N / (20*S/60) s is what is reported; it is the same ratio the
   unscaled run would have as long as the per-message overhead (~ms) stays small
   against the scaled spacing (60/(20*S) s; 30 ms at S=100).
2. subscribers: M alerts spread over 100 private chats at Telegram's real limits
   (1/s per chat, 30/s overall, not scaled): throughput against the 30/s ceiling.

Both report the 429s the fake answered (goal: 0).

    .venv/bin/python benchmarks/delivery.py [--alerts 1000] [--scale 100] [--subscriber-alerts 600]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from fake_telegram import FakeTelegram, RateLimits  # noqa: E402
from monitor.notify.outbox import Outbox  # noqa: E402
from monitor.notify.ratelimit import Limits, RateGovernor  # noqa: E402
from monitor.notify.telegram import TelegramSender, build_bot  # noqa: E402
from monitor.store import NewItem, QueuedAlert, Store  # noqa: E402

CHANNEL = -1001234567890


def seed(store: Store, plan: list[list[str]]) -> None:
    feed = store.feeds.ensure("http://127.0.0.1/bench.xml", "Bench")
    for n, chats in enumerate(plan):
        item = NewItem(feed.id, f"g{n}", None, None, f"t{n}", None, "", "feed", None)
        store.items.add(item, [], [QueuedAlert(c, f"<b>Alert {n}</b> Camp Taji", f"Alert {n} Camp Taji") for c in chats])


async def run(plan: list[list[str]], fake_limits: RateLimits, limits: Limits, private: list[int]) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory() as folder, FakeTelegram(rate_limits=fake_limits) as fake:
        fake.add_chat(CHANNEL, "channel", username="iraq_watch")
        for chat in private:
            fake.add_chat(chat, "private")
        store = Store(f"sqlite:///{folder}/bench.db")
        seed(store, plan)
        outbox = Outbox(store, TelegramSender(build_bot(fake.token, fake.base_url)), RateGovernor(limits), max_in_flight=32)
        started = time.monotonic()
        sent = await outbox.run_until_idle()
        elapsed = time.monotonic() - started
        await outbox.sender.bot.shutdown()
        store.close()
        assert len(fake.sent_messages()) == sent
        return elapsed, sent, fake.count_429


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=1000, help="alerts to the channel")
    parser.add_argument("--scale", type=float, default=100.0, help="clock scale for the channel run")
    parser.add_argument("--subscriber-alerts", type=int, default=600, help="alerts over 100 private chats")
    args = parser.parse_args()

    s = args.scale
    fake_limits = RateLimits(per_chat_per_second=1 * s, per_chat_burst=3, per_group_per_minute=int(20 * s), global_per_second=int(30 * s))
    limits = Limits(per_chat_per_second=1 * s, per_group_per_minute=20 * s, global_per_second=30 * s)
    elapsed, sent, n429 = asyncio.run(run([[str(CHANNEL)]] * args.alerts, fake_limits, limits, []))
    minimum = args.alerts / (20 * s / 60)
    print(f"channel: {sent} alerts in {elapsed:.1f} s at 20/min scaled x{s:g} "
          f"(theoretical minimum {minimum:.1f} s = {minimum * s / 60:.1f} min unscaled); "
          f"ratio {elapsed / minimum:.3f}; 429s: {n429}")

    users = list(range(10_000, 10_100))
    per_chat = max(1, args.subscriber_alerts // len(users))
    plan = [[str(u)] for _ in range(per_chat) for u in users]
    elapsed, sent, n429 = asyncio.run(run(plan, RateLimits(), Limits(), users))
    print(f"subscribers: {sent} alerts to {len(users)} chats in {elapsed:.1f} s = {sent / elapsed:.1f} msg/s "
          f"(ceiling 30/s: {sent / elapsed / 30:.0%}; theoretical minimum {sent / 30:.1f} s); 429s: {n429}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
