"""Subscriber commands end to end: users write to the fake Bot API, the bot reads them
through getUpdates (long polling, PTB pointed at the fake by base_url) and answers;
subscriptions land in SQLite and survive a restart."""

from __future__ import annotations

import asyncio

import pytest

from conftest import write_config
from fake_telegram import FakeTelegram
from monitor.config import load_settings
from monitor.notify import TelegramDelivery
from monitor.notify.commands import resolve_entities
from monitor.notify.ratelimit import Limits
from monitor.store import Store

USER = 4242
ADMIN = 7
CHANNEL = -1001234567890


@pytest.fixture
def fake(fake_telegram: FakeTelegram) -> FakeTelegram:
    fake_telegram.add_chat(CHANNEL, "channel", username="iraq_watch")
    fake_telegram.set_rate_limits(None)
    return fake_telegram


@pytest.fixture
def settings(tmp_path, fake):
    path = write_config(
        tmp_path,
        telegram={"token": fake.token, "channel": "@iraq_watch", "api_base_url": fake.base_url, "admins": [ADMIN]},
    )
    return load_settings(path)


class Conversation:
    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake

    async def say(self, chat: int, text: str, *, user_id: int | None = None) -> str:
        """Send `text` as the user; return the bot's answer(s), joined."""
        before = len(self.fake.sent_messages(chat)) if chat in self.fake.chats else 0
        self.fake.push_message(chat, text, user_id=user_id, username="analyst")
        await asyncio.to_thread(self.fake.wait_for_messages, before + 1, 10.0, chat)
        await asyncio.sleep(0.05)  # a multi-part answer arrives in quick succession
        return "\n".join(m.text for m in self.fake.sent_messages(chat)[before:])


async def start_bot(settings, store: Store) -> TelegramDelivery:
    delivery = TelegramDelivery(settings, store, limits=Limits(1000, 60000, 1000))
    await delivery.start()  # stop() cancels the long poll in hand: nothing is lost by that
    return delivery


async def test_commands_end_to_end_and_subscriptions_survive_restart(settings, fake):
    store = Store(settings.config.storage.url)
    talk = Conversation(fake)
    delivery = await start_bot(settings, store)
    try:
        registered = next(iter(fake.commands.values()))
        assert {c["command"] for c in registered} >= {"start", "help", "subscribe", "unsubscribe", "list", "entities", "recent", "status"}

        assert "/subscribe" in await talk.say(USER, "/start")
        assert store.subscribers.subscription(str(USER)) == (True, False, [])

        answer = await talk.say(USER, "/subscribe kataeb-hezbollah taji-base")
        assert "Subscribed to" in answer and "Kataeb Hezbollah" in answer
        assert store.subscribers.subscription(str(USER)) == (True, False, ["kataeb-hezbollah", "taji-base"])
        assert list(store.subscribers.recipients(["taji-base"])) == [str(USER)]
        assert list(store.subscribers.recipients(["islamic-state"])) == []

        answer = await talk.say(USER, "/subscribe Abu Mahdi al-Muhandis, <script>")
        assert "Not known: <script>" in answer  # escaped on the way out, shown as typed
        assert "abu-mahdi-al-muhandis" in store.subscribers.subscription(str(USER))[2]

        answer = await talk.say(USER, "/list")
        assert "Kataeb Hezbollah" in answer and "taji-base" in answer
        assert "qayyarah-airbase" in await talk.say(USER, "/entities")

        await talk.say(USER, "/unsubscribe taji-base")
        assert "taji-base" not in store.subscribers.subscription(str(USER))[2]
        assert "No alerts yet" in await talk.say(USER, "/recent")
        assert "Not known" in await talk.say(USER, "/recent atlantis")

        assert "administrators" in await talk.say(USER, "/status")
        status = await talk.say(ADMIN, "/status", user_id=ADMIN)
        assert "Feeds" in status and "Alerts" in status

        assert "Unknown command /frobnicate" in await talk.say(USER, "/frobnicate")
        assert "/subscribe" in await talk.say(USER, "what is this bot?")

        await talk.say(USER, "/subscribe all")
        assert store.subscribers.subscription(str(USER))[1] is True
        assert list(store.subscribers.recipients(["islamic-state"])) == [str(USER)]
    finally:
        await delivery.stop()
    replies = len(fake.sent_messages(USER))

    # Restart: subscriptions are in the database, old updates are not handled again.
    store.close()
    store = Store(settings.config.storage.url)
    delivery = await start_bot(settings, store)
    try:
        answer = await talk.say(USER, "/list")
        assert "all" in answer
        assert len(fake.sent_messages(USER)) == replies + 1
        await talk.say(USER, "/unsubscribe all")
        assert store.subscribers.subscription(str(USER)) == (True, False, [])
    finally:
        await delivery.stop()
        store.close()


async def test_blocked_subscriber_is_deactivated_and_start_reactivates(settings, fake):
    store = Store(settings.config.storage.url)
    talk = Conversation(fake)
    delivery = await start_bot(settings, store)
    try:
        await talk.say(USER, "/subscribe all")
        fake.block_chat(USER)
        await delivery.bot.initialize()
        from monitor.store import NewItem, QueuedAlert

        feed = store.feeds.ensure("http://127.0.0.1/f.xml", "F")
        store.items.add(NewItem(feed.id, "g", None, None, "t", None, "", "feed", None), [], [QueuedAlert(str(USER), "<b>x</b>", "x")])
        await delivery.drain(timeout=10)
        assert store.subscribers.subscription(str(USER))[0] is False
        assert list(store.subscribers.recipients(["taji-base"])) == []
        fake.block_chat(USER, blocked=False)
        await talk.say(USER, "/start")
        assert store.subscribers.subscription(str(USER))[0] is True
    finally:
        await delivery.stop()
        store.close()


def test_resolve_entities_by_id_name_hashtag_and_alias(settings):
    entities = settings.watchlist.entities
    found, unknown = resolve_entities("kataeb-hezbollah #taji_base Kataeb Hezbollah nowhere", entities)
    assert found == ["kataeb-hezbollah", "taji-base"] and unknown == ["nowhere"]
    found, _ = resolve_entities("KATAEB HEZBOLLAH", entities)
    assert found == ["kataeb-hezbollah"]
