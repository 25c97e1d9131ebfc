"""The weekly report: the chart as a photo (sendPhoto, multipart upload) with the
table as its caption (≤ 1024 characters), to the channel at the configured weekly
time, once; made up at the next start when Telegram was down; `/report` sends the
same to a subscriber on demand, also on an empty database.

From outside, as in test_digest: the service with the Store's clock injected, the
feed server, the fake Bot API, SQLite. The weekly job is fired by calling the job
APScheduler holds after moving the clock to its time.
"""

from __future__ import annotations

import asyncio
import struct
import zlib

import pytest
from telegram.error import BadRequest

from conftest import ManualClock, running
from fake_telegram import PNG_SIGNATURE, FakeTelegram, utf16_len
from monitor.notify.telegram import build_bot
from test_bot import Conversation
from test_digest import CHANNEL, SUBSCRIBER, Wire, baghdad, digest_config, fire
from test_service import until

WEEKLY = {"weekly": {"enabled": True, "at": "Mon 08:00", "timezone": "Asia/Baghdad"}}


@pytest.fixture
def fake(fake_telegram: FakeTelegram) -> FakeTelegram:
    fake_telegram.add_chat(CHANNEL, "channel", username="iraq_watch")
    fake_telegram.set_rate_limits(None)
    return fake_telegram


def assert_readable_png(data: bytes) -> tuple[int, int]:
    """A whole PNG (every chunk's CRC checks, IEND last) of phone-friendly size; (width, height)."""
    assert data.startswith(PNG_SIGNATURE)
    position, chunks = len(PNG_SIGNATURE), []
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append(kind)
        position += 12 + length
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND" and b"IDAT" in chunks
    width, height = struct.unpack(">II", data[16:24])
    assert 600 <= width <= 1280 and 600 <= height <= 1280
    assert 10_000 < len(data) < 1_000_000  # a chart, not a blank or a poster
    return width, height


async def test_the_weekly_report_reaches_the_channel_once_as_a_photo_with_the_table(tmp_path, site, fake):
    clock = ManualClock(baghdad(8, 12, 0))  # Saturday 8 March 2025
    wire = Wire(site, clock)
    config = digest_config(tmp_path, site, fake, reports=WEEKLY)
    async with running(config, clock=clock, ready=True) as monitor:
        job = monitor.jobs.timed_job("weekly-report")
        assert "day_of_week='mon'" in str(job.trigger) and "hour='8'" in str(job.trigger)
        assert str(job.trigger.timezone) == "Asia/Baghdad"
        wire.add("Drone seen near the K1 air base", "K1 air base: runway closed", "Kataeb Hezbollah and K1 air base")
        await until(lambda: len(fake.sent_messages(CHANNEL)) == 3)
        assert fake.sent_photos() == []  # enabled now: the first report is the next Monday's

        clock.now = baghdad(10, 8, 0, 30)  # Monday 08:00 in Baghdad
        await fire(monitor, "weekly-report")
        [photo] = fake.sent_photos(CHANNEL)
        await fire(monitor, "weekly-report")  # fired twice (a late duplicate): sent once
    assert len(fake.sent_photos()) == 1

    assert (photo.width, photo.height) == assert_readable_png(photo.photo)
    assert utf16_len(photo.caption) <= 1024 and photo.parse_mode == "HTML"
    lines = photo.caption.splitlines()
    assert lines[0] == "3 Mar 00:00 – 10 Mar 08:00 +03"
    assert lines[1] == "3 article(s) naming tracked entities"
    assert lines[2].startswith("K1 Air Base 3 · Wire 3 · with Kataeb Hezbollah 1")
    assert lines[3].startswith("Kataeb Hezbollah 1 · Wire 1 · with K1 Air Base 1")
    assert {"type": "bold", "offset": 0, "length": utf16_len(lines[0])} in photo.caption_entities


async def test_a_report_due_during_an_outage_is_retried_and_sent_at_the_next_start(tmp_path, site, fake):
    clock = ManualClock(baghdad(9, 12, 0))
    Wire(site, clock).add("Drone seen near the K1 air base")
    config = digest_config(tmp_path, site, fake, reports=WEEKLY)
    async with running(config, clock=clock, ready=True) as monitor:
        await until(lambda: len(fake.sent_messages(CHANNEL)) == 1)
        fake.set_outage(502)
        clock.now = baghdad(10, 8, 0, 5)
        await fire(monitor, "weekly-report")
        assert fake.sent_photos() == []
        assert fake.calls_to("sendPhoto", status=502)  # tried, and Telegram's front end said 502
        assert monitor.jobs.timed_job("weekly-report-retry") is not None  # and it will be tried again
    fake.set_outage(None)

    clock.now = baghdad(10, 9, 0)  # the service comes back after Telegram did
    async with running(config, clock=clock, ready=True):
        await until(lambda: len(fake.sent_photos(CHANNEL)) == 1)
        await asyncio.sleep(0.3)
    [photo] = fake.sent_photos(CHANNEL)
    assert photo.caption.startswith("3 Mar 00:00 – 10 Mar 08:00 +03")  # the week that was due
    assert_readable_png(photo.photo)


async def test_report_on_demand_on_an_empty_database(tmp_path, site, fake):
    clock = ManualClock(baghdad(12, 15, 0))
    Wire(site, clock)
    talk = Conversation(fake)
    async with running(digest_config(tmp_path, site, fake), clock=clock, ready=True):  # the weekly job off (the default)
        fake.push_message(SUBSCRIBER, "/report")
        await until(lambda: len(fake.sent_photos(SUBSCRIBER)) == 1, timeout=30)
        assert "No quiet hours" in await talk.say(SUBSCRIBER, "/quiet")  # the bot is still there
    [photo] = fake.sent_photos(SUBSCRIBER)
    assert_readable_png(photo.photo)
    # The days are reports.weekly.timezone's (UTC by default).
    assert photo.caption == "5 Mar 00:00 – 12 Mar 12:00 UTC\nNo tracked entity was mentioned."
    assert [m.text for m in fake.sent_messages(SUBSCRIBER) if m.from_bot][:-1] == []  # no error text before it


async def test_the_fake_refuses_a_caption_over_1024_characters_as_telegram_does(fake):
    bot = build_bot(fake.token, fake.base_url)
    await bot.initialize()
    try:
        png = PNG_SIGNATURE + struct.pack(">I4sII", 13, b"IHDR", 100, 100) + b"\x08\x02\x00\x00\x00" + b"\x00" * 4
        with pytest.raises(BadRequest, match="Message caption is too long"):
            await bot.send_photo("@iraq_watch", png, caption="a" * 1025)
        sent = await bot.send_photo("@iraq_watch", png, caption="<b>é</b>" + "a" * 1023, parse_mode="HTML",
                                    disable_notification=True)
        assert sent.caption == "é" + "a" * 1023
        with pytest.raises(BadRequest, match="Image_process_failed"):
            await bot.send_photo("@iraq_watch", b"GIF? no", caption="x")
    finally:
        await bot.shutdown()
    [call] = [c for c in fake.calls_to("sendPhoto", status=None) if c.status == 200]
    assert call.params["photo"] == f"<{len(png)} bytes>"  # recorded without the bytes; sent_photos() has them
    assert [c.description for c in fake.calls_to("sendPhoto", status=400)] == [
        "Bad Request: message caption is too long", "Bad Request: IMAGE_PROCESS_FAILED"]
    [photo] = fake.sent_photos()
    assert photo.photo == png and photo.disable_notification is True
