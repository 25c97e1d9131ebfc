"""Quiet hours: a subscriber's alerts in their window wait in the outbox and arrive
together afterwards, oldest first and silently, never dropped and exactly once across
restarts; urgent entities pass; bad input is one clear line.

From outside, as in test_digest: the service with the Store's clock injected, the
feed server, the fake Bot API (the subscriber talks to the bot through it), SQLite.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest

from conftest import ManualClock, running
from fake_telegram import FakeTelegram
from monitor.notify import QuietHours, parse_quiet_hours
from test_bot import Conversation
from test_digest import CHANNEL, SUBSCRIBER, Wire, baghdad, digest_config, links, statuses
from test_service import until


@pytest.fixture
def fake(fake_telegram: FakeTelegram) -> FakeTelegram:
    fake_telegram.add_chat(CHANNEL, "channel", username="iraq_watch")
    fake_telegram.set_rate_limits(None)
    return fake_telegram


def alerts_to(fake: FakeTelegram, chat: int) -> list:
    """The bot's messages to a chat that are alerts (not replies to commands)."""
    return [m for m in fake.sent_messages(chat) if links(m)]


def held_until(db, chat: int) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute(
            "SELECT next_attempt_at FROM alerts WHERE chat_id = ? AND status = 'queued' ORDER BY id", (str(chat),))]


async def test_alerts_in_quiet_hours_wait_then_arrive_together_exactly_once_across_restarts(tmp_path, site, fake):
    clock = ManualClock(baghdad(14, 21, 0))
    wire = Wire(site, clock)
    config = digest_config(tmp_path, site, fake)
    db = tmp_path / "monitor.db"
    talk = Conversation(fake)
    async with running(config, clock=clock, ready=True):
        await talk.say(SUBSCRIBER, "/subscribe all")
        answer = await talk.say(SUBSCRIBER, "/quiet 22:00-07:00 Asia/Baghdad")
        assert "Quiet hours: 22:00–07:00 Asia/Baghdad" in answer and "Now quiet" not in answer
        assert "22:00–07:00 Asia/Baghdad" in await talk.say(SUBSCRIBER, "/quiet")

        # 23:10: three articles; the channel has them at once, the subscriber not.
        clock.now = baghdad(14, 23, 10)
        night = wire.add("Drone seen near the K1 air base", "K1 air base: runway closed", "K1 air base reopens")
        await until(lambda: len(alerts_to(fake, CHANNEL)) == 3)
        await until(lambda: len(statuses(db, SUBSCRIBER)) == 3)
        assert alerts_to(fake, SUBSCRIBER) == []
        assert statuses(db, SUBSCRIBER) == ["queued"] * 3
        assert {when[:16] for when in held_until(db, SUBSCRIBER)} == {"2025-03-15 04:00"}  # 07:00 in Baghdad

    # Restarted in the middle of the night: still held.
    clock.now = baghdad(15, 2, 30)
    async with running(config, clock=clock, ready=True):
        more = wire.add("K1 air base: second drone reported")
        await until(lambda: len(statuses(db, SUBSCRIBER)) == 4)
        await asyncio.sleep(0.3)  # a wrongly released alert would be sent within this
        assert alerts_to(fake, SUBSCRIBER) == []

    # The window is over: everything arrives, oldest first, silently.
    clock.now = baghdad(15, 7, 0, 30)
    async with running(config, clock=clock, ready=True):
        await until(lambda: len(alerts_to(fake, SUBSCRIBER)) == 4)
        await asyncio.sleep(0.3)
    received = alerts_to(fake, SUBSCRIBER)
    assert [links(m) for m in received] == [[url] for url in night + more]
    assert all(m.disable_notification for m in received)
    assert statuses(db, SUBSCRIBER) == ["sent"] * 4

    # Another restart: nothing again; a daytime article comes at once, with a sound.
    clock.now = baghdad(15, 9, 0)
    async with running(config, clock=clock, ready=True):
        day = wire.add("K1 air base visited by the minister")
        await until(lambda: len(alerts_to(fake, SUBSCRIBER)) == 5)
    received = alerts_to(fake, SUBSCRIBER)
    assert [link for m in received for link in links(m)] == night + more + day  # each exactly once
    assert received[-1].disable_notification is False
    assert len(alerts_to(fake, CHANNEL)) == 5


async def test_urgent_entities_pass_quiet_hours_and_quiet_off_releases_the_rest(tmp_path, site, fake):
    clock = ManualClock(baghdad(16, 23, 30))
    wire = Wire(site, clock)
    config = digest_config(tmp_path, site, fake)
    db = tmp_path / "monitor.db"
    talk = Conversation(fake)
    async with running(config, clock=clock, ready=True):
        await talk.say(SUBSCRIBER, "/subscribe all")
        answer = await talk.say(SUBSCRIBER, "/quiet 22:00-07:00")  # the zone: digest.timezone
        assert "22:00–07:00 Asia/Baghdad" in answer and "Now quiet until 07:00 Asia/Baghdad" in answer
        assert "Kataeb Hezbollah" in answer  # urgent in the watchlist: passes
        answer = await talk.say(SUBSCRIBER, "/quiet urgent K1 air base")
        assert "K1 Air Base" in answer and "Kataeb Hezbollah" in answer

        k1 = wire.add("Drone seen near the K1 air base")  # urgent for this subscriber
        kh = wire.add("Kataeb Hezbollah statement on talks")  # urgent in the watchlist
        await until(lambda: len(alerts_to(fake, SUBSCRIBER)) == 2)
        assert [links(m) for m in alerts_to(fake, SUBSCRIBER)] == [k1, kh]
        assert not any(m.disable_notification for m in alerts_to(fake, SUBSCRIBER))

        await talk.say(SUBSCRIBER, "/quiet urgent none")
        held = wire.add("K1 air base: runway closed")
        await until(lambda: statuses(db, SUBSCRIBER).count("queued") == 1)
        await asyncio.sleep(0.3)
        assert len(alerts_to(fake, SUBSCRIBER)) == 2

        answer = await talk.say(SUBSCRIBER, "/quiet off")
        assert "Quiet hours off. 1 held alert(s) go out now." in answer
        await until(lambda: len(alerts_to(fake, SUBSCRIBER)) == 3)
        assert links(alerts_to(fake, SUBSCRIBER)[-1]) == held
        assert "No quiet hours" in await talk.say(SUBSCRIBER, "/quiet")


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("/quiet 25:00-07:00 Asia/Baghdad", "Times run from 00:00 to 23:59, e.g. /quiet 22:00-07:00 Asia/Baghdad"),
        ("/quiet 22:00-07:00 Mars/Olympus", "Unknown time zone 'Mars/Olympus'; use a name like Asia/Baghdad, Europe/Berlin or UTC"),
        ("/quiet at night", "Give the window as HH:MM-HH:MM and a time zone, e.g. /quiet 22:00-07:00 Asia/Baghdad"),
        ("/quiet 07:00-07:00", "The window starts and ends at the same time; give two different times, e.g. 22:00-07:00"),
        ("/quiet urgent atlantis", "Not known: atlantis. See /entities."),
        ("/priority taji-base sometimes", "Say which entities and how: /priority taji-base digest (or immediate, or default)."),
        ("/priority atlantis digest", "Not known: atlantis. See /entities."),
    ],
)
async def test_bad_input_gets_one_clear_line(tmp_path, site, fake, command, answer):
    clock = ManualClock(baghdad(16, 12, 0))
    Wire(site, clock)
    talk = Conversation(fake)
    async with running(digest_config(tmp_path, site, fake), clock=clock, ready=True):
        assert await talk.say(SUBSCRIBER, command) == answer
        assert "No quiet hours" in await talk.say(SUBSCRIBER, "/quiet")  # nothing was changed


# -- the window itself (pure), midnight and clock changes -------------------------------------

UTC = timezone.utc


def test_a_window_across_midnight_holds_until_the_morning():
    window = parse_quiet_hours("22:00-07:00 Asia/Baghdad")
    assert window.held_until(baghdad(14, 21, 59)) is None
    assert window.held_until(baghdad(14, 22, 0)) == baghdad(15, 7, 0)
    assert window.held_until(baghdad(15, 0, 30)) == baghdad(15, 7, 0)
    assert window.held_until(baghdad(15, 6, 59)) == baghdad(15, 7, 0)
    assert window.held_until(baghdad(15, 7, 0)) is None


def test_a_window_within_one_day():
    window = parse_quiet_hours("13:00-15:30 UTC")
    assert window.held_until(datetime(2025, 3, 1, 12, 59, tzinfo=UTC)) is None
    assert window.held_until(datetime(2025, 3, 1, 14, 0, tzinfo=UTC)) == datetime(2025, 3, 1, 15, 30, tzinfo=UTC)
    assert window.held_until(datetime(2025, 3, 1, 15, 30, tzinfo=UTC)) is None


def test_the_window_keeps_to_local_time_when_the_clocks_change():
    berlin = ZoneInfo("Europe/Berlin")
    window = QuietHours(time(22, 0), time(7, 0), berlin)
    # Spring forward (30 March 2025): the night is an hour shorter; 07:00 is 05:00 UTC.
    assert window.held_until(datetime(2025, 3, 29, 23, 0, tzinfo=berlin)) == datetime(2025, 3, 30, 5, 0, tzinfo=UTC)
    # Fall back (26 October 2025): an hour longer; 07:00 is 06:00 UTC. Also inside the repeated hour.
    assert window.held_until(datetime(2025, 10, 25, 23, 0, tzinfo=berlin)) == datetime(2025, 10, 26, 6, 0, tzinfo=UTC)
    repeated = datetime(2025, 10, 26, 1, 30, tzinfo=UTC)  # 02:30 CET, the second time round
    assert window.held_until(repeated) == datetime(2025, 10, 26, 6, 0, tzinfo=UTC)
    # A window ending in the hour that does not exist ends when the clocks have jumped.
    gap = QuietHours(time(1, 0), time(2, 30), berlin)
    assert gap.held_until(datetime(2025, 3, 30, 1, 15, tzinfo=berlin)) == datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
