"""Reader feedback, end to end: the assembled service (the object the CLI builds, with a
store on a manual clock where time matters) talks to the fake Bot API; a subscriber
presses the buttons under an alert through getUpdates (callback_query), the bot answers
(answerCallbackQuery), ticks the choice (editMessageReplyMarkup) and stores it; a mute
keeps that entity's alerts from that subscriber for a day; `monitor stats --feedback`
counts the marks and suggests excludes, from outside through the CLI."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import ManualClock, Response, running, write_config
from fake_telegram import QUERY_TOO_OLD, FakeTelegram
from monitor.store import Store
from test_service import rss, until
from test_telegram_wiring import CHANNEL, SUBSCRIBER, get, health_port, samples, telegram_section, value

OTHER = 5151

WATCHLIST = """\
version: 1
entities:
  - id: camp-taji
    name: Camp Taji
    aliases: [Camp Taji, Taji]
  - id: kataeb-hezbollah
    name: Kataeb Hezbollah
    aliases: [Kataeb Hezbollah]
"""


@pytest.fixture
def fake(fake_telegram: FakeTelegram) -> FakeTelegram:
    fake_telegram.add_chat(CHANNEL, "channel", username="iraq_watch")
    fake_telegram.add_chat(SUBSCRIBER, "private")
    fake_telegram.add_chat(OTHER, "private")
    fake_telegram.set_rate_limits(None)
    return fake_telegram


class Wire:
    """A feed on the local site whose items the test adds while the service runs."""

    def __init__(self, site) -> None:
        self.items: list[tuple[str, str]] = []
        site.routes["/wire.xml"] = lambda handler: Response(rss(self.items), 200, {"Content-Type": "application/rss+xml"})
        self.url = site.url("/wire.xml")

    def publish(self, title: str) -> None:
        self.items.append((f"g{len(self.items) + 1}", title))


def configure(tmp_path: Path, fake: FakeTelegram, wire: Wire, **sections) -> Path:
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    return write_config(
        tmp_path,
        [{"url": wire.url, "name": "Wire", "interval": "0.2s"}],
        watchlist="watchlist.yaml",
        fetch={"allowed_networks": ["127.0.0.0/8"], "fetch_pages": False},
        service={"startup_spread": 0.1, "shutdown_grace": 2, **sections.pop("service", {})},
        defaults={"jitter": 0},
        telegram=telegram_section(fake),
        **sections,
    )


def subscribe(tmp_path: Path, chat: int, entities: list[str] | None) -> None:
    store = Store(f"sqlite:///{tmp_path / 'monitor.db'}")
    store.subscribers.register(str(chat), None)
    store.subscribers.subscribe(str(chat), entities or (), all_entities=entities is None)
    store.close()


def buttons(message) -> list[str]:
    return [b["text"] for row in (message.reply_markup or {}).get("inline_keyboard", []) for b in row]


def rows(db: Path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchall()


async def press(fake: FakeTelegram, chat: int, message_id: int, **how) -> str | None:
    """Press a button; returns the answer the bot gave (answerCallbackQuery's text)."""
    update = fake.push_callback(chat, message_id, **how)
    query = fake.callback_queries[update["callback_query"]["id"]]
    await until(lambda: any(c.params.get("callback_query_id") == query.id for c in fake.calls_to("answerCallbackQuery", status=None)))
    return query.answer


async def test_a_press_is_stored_answered_and_shown(tmp_path, site, fake):
    wire = Wire(site)
    wire.publish("Rockets hit Camp Taji overnight")
    config = configure(tmp_path, fake, wire, service={"health_port": 0})
    subscribe(tmp_path, SUBSCRIBER, ["camp-taji"])
    db = tmp_path / "monitor.db"
    async with running(config) as monitor:
        port = await health_port(monitor)
        before = samples((await get(port, "/metrics")).text)
        await until(lambda: fake.sent_messages(SUBSCRIBER) and fake.sent_messages(CHANNEL))
        [alert] = fake.sent_messages(SUBSCRIBER)
        [public] = fake.sent_messages(CHANNEL)
        # The subscriber's alert has the three buttons; the channel's has none.
        assert buttons(alert) == ["👍 Relevant", "👎 Not relevant", "🔕 Mute Camp Taji for a day"]
        assert public.reply_markup is None
        data = [b["callback_data"] for row in alert.reply_markup["inline_keyboard"] for b in row]
        assert all(len(d.encode()) <= 64 for d in data)

        answer = await press(fake, SUBSCRIBER, alert.message_id, button="Not relevant")
        assert answer == "Thanks: marked not relevant. It helps tune the watchlist."
        await until(lambda: any("✓" in text for text in buttons(fake.messages[(SUBSCRIBER, alert.message_id)])))
        assert buttons(fake.messages[(SUBSCRIBER, alert.message_id)])[:2] == ["👍 Relevant", "✓ 👎 Not relevant"]
        [mark] = rows(db, "SELECT alert_id, chat_id, choice, entity_id, alias, rule FROM feedback")
        [(alert_id,)] = rows(db, "SELECT id FROM alerts WHERE chat_id = ?", str(SUBSCRIBER))
        assert mark == (alert_id, str(SUBSCRIBER), "not_relevant", "camp-taji", "Camp Taji", "alias")

        # A second press replaces the first: one current choice per alert and chat.
        answer = await press(fake, SUBSCRIBER, alert.message_id, button="Relevant")
        assert answer == "Thanks: marked relevant."
        await until(lambda: buttons(fake.messages[(SUBSCRIBER, alert.message_id)])[0] == "✓ 👍 Relevant")
        assert buttons(fake.messages[(SUBSCRIBER, alert.message_id)])[1] == "👎 Not relevant"
        assert rows(db, "SELECT choice FROM feedback") == [("relevant",)]

        # Pressing the chosen button again is answered; the markup is left as it is
        # (Telegram refuses an edit that changes nothing).
        edits = len(fake.calls_to("editMessageReplyMarkup"))
        assert await press(fake, SUBSCRIBER, alert.message_id, button="Relevant") == "Thanks: marked relevant."
        assert len(fake.calls_to("editMessageReplyMarkup")) == edits
        assert fake.calls_to("editMessageReplyMarkup", status=400) == []

        after = samples((await get(port, "/metrics")).text)
    moved = {c: value(after, "monitor_feedback_presses_total", choice=c) - value(before, "monitor_feedback_presses_total", choice=c)
             for c in ("relevant", "not_relevant", "mute")}
    assert moved == {"relevant": 2, "not_relevant": 1, "mute": 0}


async def test_presses_on_unknown_alerts_other_chats_and_late_answers_change_nothing_and_crash_nothing(tmp_path, site, fake):
    wire = Wire(site)
    wire.publish("Rockets hit Camp Taji overnight")
    config = configure(tmp_path, fake, wire)
    subscribe(tmp_path, SUBSCRIBER, ["camp-taji"])
    subscribe(tmp_path, OTHER, None)
    db = tmp_path / "monitor.db"
    async with running(config):
        await until(lambda: fake.sent_messages(SUBSCRIBER) and fake.sent_messages(OTHER))
        [mine] = fake.sent_messages(SUBSCRIBER)
        [theirs] = fake.sent_messages(OTHER)
        [(my_alert,)] = rows(db, "SELECT id FROM alerts WHERE chat_id = ?", str(SUBSCRIBER))

        # A forged press from another chat naming my alert: answered, nothing stored.
        answer = await press(fake, OTHER, theirs.message_id, data=f"fb:{my_alert}:m")
        assert answer == "Sorry, I no longer know this alert; nothing was changed."
        assert rows(db, "SELECT count(*) FROM feedback") == [(0,)] and rows(db, "SELECT count(*) FROM mutes") == [(0,)]

        # Data that is not ours at all.
        assert await press(fake, SUBSCRIBER, mine.message_id, data="something else") == "This button is no longer in use."

        # The alert is deleted (e.g. a clean-up by hand): its buttons still get a polite answer.
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("DELETE FROM alerts WHERE id = ?", (my_alert,))
        answer = await press(fake, SUBSCRIBER, mine.message_id, button="Not relevant")
        assert answer == "Sorry, I no longer know this alert; nothing was changed."
        assert rows(db, "SELECT count(*) FROM feedback") == [(0,)]
        assert fake.calls_to("editMessageReplyMarkup") == []

        # A press handled too late for Telegram (the answer refused with 400): the mark
        # is stored all the same, the message shows it, and the bot carries on.
        update = fake.push_callback(OTHER, theirs.message_id, button="Relevant", age=20)
        await until(lambda: fake.calls_to("editMessageReplyMarkup"))
        late = fake.calls_to("answerCallbackQuery", status=400)
        assert [c.description for c in late] == [QUERY_TOO_OLD]
        assert late[0].params["callback_query_id"] == update["callback_query"]["id"]
        assert rows(db, "SELECT chat_id, choice FROM feedback") == [(str(OTHER), "relevant")]
        reply_count = len(fake.sent_messages(OTHER))
        fake.push_message(OTHER, "/help")
        await until(lambda: len(fake.sent_messages(OTHER)) == reply_count + 1)
        assert "mute that entity for a day" in fake.sent_messages(OTHER)[-1].text


async def test_a_mute_holds_that_entity_for_a_day_and_then_expires(tmp_path, site, fake):
    clock = ManualClock(datetime.now(timezone.utc))
    wire = Wire(site)
    wire.publish("Rockets hit Camp Taji overnight")
    config = configure(tmp_path, fake, wire)
    subscribe(tmp_path, SUBSCRIBER, ["camp-taji", "kataeb-hezbollah"])
    db = tmp_path / "monitor.db"

    def titles(chat: int) -> list[str]:
        return [m.text.splitlines()[0] for m in fake.sent_messages(chat)]

    async with running(config, clock=clock):
        await until(lambda: fake.sent_messages(SUBSCRIBER))
        [alert] = fake.sent_messages(SUBSCRIBER)
        answer = await press(fake, SUBSCRIBER, alert.message_id, button="Mute")
        assert answer is not None and answer.startswith("Camp Taji muted until ") and "/unmute" in answer
        await until(lambda: buttons(fake.messages[(SUBSCRIBER, alert.message_id)])[2].startswith("✓ 🔕"))
        [(until_text,)] = rows(db, "SELECT until FROM mutes WHERE chat_id = ? AND entity_id = 'camp-taji'", str(SUBSCRIBER))
        assert (datetime.fromisoformat(until_text).replace(tzinfo=timezone.utc) - clock.now).total_seconds() == 86400

        # Within the day: Camp Taji news reaches the channel but not this subscriber;
        # news that also names Kataeb Hezbollah (followed, not muted) still reaches them,
        # with buttons about Kataeb Hezbollah.
        wire.publish("Camp Taji shelled again")
        await until(lambda: len(fake.sent_messages(CHANNEL)) == 2)
        clock.advance(23 * 3600)
        wire.publish("Kataeb Hezbollah claims the Camp Taji attack")
        await until(lambda: len(fake.sent_messages(SUBSCRIBER)) == 2)
        assert titles(SUBSCRIBER) == ["Rockets hit Camp Taji overnight", "Kataeb Hezbollah claims the Camp Taji attack"]
        assert buttons(fake.sent_messages(SUBSCRIBER)[1])[2] == "🔕 Mute Kataeb Hezbollah for a day"
        fake.push_message(SUBSCRIBER, "/list")
        await until(lambda: len(fake.sent_messages(SUBSCRIBER)) == 3)
        assert "Muted for now (/unmute to lift):\n• Camp Taji until" in fake.sent_messages(SUBSCRIBER)[2].text

        # The day is over: the mute ended by itself.
        clock.advance(3600 + 1)
        wire.publish("Camp Taji reopens its gates")
        await until(lambda: len(fake.sent_messages(SUBSCRIBER)) == 4)
        assert titles(SUBSCRIBER)[3] == "Camp Taji reopens its gates"
        assert titles(CHANNEL) == [
            "Rockets hit Camp Taji overnight",
            "Camp Taji shelled again",
            "Kataeb Hezbollah claims the Camp Taji attack",
            "Camp Taji reopens its gates",
        ]

        # /unmute lifts a mute before its day is over.
        await press(fake, SUBSCRIBER, fake.sent_messages(SUBSCRIBER)[3].message_id, button="Mute")
        fake.push_message(SUBSCRIBER, "/unmute camp-taji")
        await until(lambda: len(fake.sent_messages(SUBSCRIBER)) == 5)
        assert fake.sent_messages(SUBSCRIBER)[4].text == "Mute lifted: Camp Taji."
        wire.publish("Camp Taji hosts talks")
        await until(lambda: len(fake.sent_messages(SUBSCRIBER)) == 6)
        assert titles(SUBSCRIBER)[5] == "Camp Taji hosts talks"


async def test_a_story_edit_keeps_the_readers_tick(tmp_path, site, fake):
    """A later report edits the subscriber's alert; the choice they pressed stays ticked."""
    from test_story_telegram_service import TAJI, Newsroom

    news = Newsroom(site)
    feeds = [news.feed(outlet) for outlet in ("Tigris Wire", "Gulf Daily")]
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    config = write_config(
        tmp_path, feeds, watchlist="watchlist.yaml",
        fetch={"allowed_networks": ["127.0.0.0/8"], "fetch_pages": False},
        service={"startup_spread": 0.1, "shutdown_grace": 2}, defaults={"jitter": 0}, telegram=telegram_section(fake),
    )
    subscribe(tmp_path, SUBSCRIBER, ["camp-taji"])
    async with running(config):
        news.publish("Tigris Wire", *TAJI["Tigris Wire"])
        await until(lambda: fake.sent_messages(SUBSCRIBER))
        [alert] = fake.sent_messages(SUBSCRIBER)
        assert await press(fake, SUBSCRIBER, alert.message_id, button="Relevant") == "Thanks: marked relevant."
        await until(lambda: buttons(fake.messages[(SUBSCRIBER, alert.message_id)])[0] == "✓ 👍 Relevant")

        news.publish("Gulf Daily", *TAJI["Gulf Daily"])
        await until(lambda: "Gulf Daily" in fake.messages[(SUBSCRIBER, alert.message_id)].text)
    edited = fake.messages[(SUBSCRIBER, alert.message_id)]
    assert len(fake.sent_messages(SUBSCRIBER)) == 1 and len(edited.versions) == 2
    assert buttons(edited) == ["✓ 👍 Relevant", "👎 Not relevant", "🔕 Mute Camp Taji for a day"]
