"""The fake Bot API's inline keyboards and callback queries answer as Telegram does, when
driven by real python-telegram-bot: keyboards kept with the message, a press delivered
through getUpdates, one answer per query within its time, markup edits refused when
they change nothing, callback data over 64 bytes refused."""

from __future__ import annotations

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest

from fake_telegram import CALLBACK_ANSWER_SECONDS, QUERY_TOO_OLD, FakeTelegram

USER = 4242


def keyboard(*labels: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=f"fb:1:{label[0]}") for label in labels]])


@pytest.fixture
async def bot(fake_telegram: FakeTelegram):
    fake_telegram.add_chat(USER, "private")
    fake_telegram.set_rate_limits(None)
    async with Bot(fake_telegram.token, base_url=fake_telegram.base_url) as bot:
        yield bot


async def test_a_press_comes_through_get_updates_and_is_answered_once(bot, fake_telegram):
    sent = await bot.send_message(USER, "Rockets hit Camp Taji", reply_markup=keyboard("relevant", "not relevant"))
    assert sent.reply_markup == keyboard("relevant", "not relevant")  # PTB reads it back from the answer
    assert fake_telegram.messages[(USER, sent.message_id)].reply_markup["inline_keyboard"][0][1]["callback_data"] == "fb:1:n"

    fake_telegram.push_callback(USER, sent.message_id, button="not relevant")
    [update] = await bot.get_updates(timeout=1, allowed_updates=["callback_query"])
    query = update.callback_query
    assert query.data == "fb:1:n" and query.from_user.id == USER
    assert query.message.chat.id == USER and query.message.message_id == sent.message_id

    assert await bot.answer_callback_query(query.id, text="Thanks") is True
    assert fake_telegram.callback_queries[query.id].answer == "Thanks"
    with pytest.raises(BadRequest, match="(?i)query is too old"):  # a second answer
        await bot.answer_callback_query(query.id, text="Again")
    with pytest.raises(BadRequest, match="(?i)query is too old"):  # an id Telegram never gave
        await bot.answer_callback_query("123", text="Who?")


async def test_a_late_answer_is_refused(bot, fake_telegram):
    sent = await bot.send_message(USER, "Rockets hit Camp Taji", reply_markup=keyboard("relevant"))
    update = fake_telegram.push_callback(USER, sent.message_id, button="relevant", age=CALLBACK_ANSWER_SECONDS + 1)
    with pytest.raises(BadRequest) as refused:
        await bot.answer_callback_query(update["callback_query"]["id"])
    assert refused.value.message.lower() == QUERY_TOO_OLD.removeprefix("Bad Request: ").lower()


async def test_markup_edits_and_bad_keyboards(bot, fake_telegram):
    sent = await bot.send_message(USER, "Rockets hit Camp Taji", reply_markup=keyboard("relevant", "not relevant"))
    edited = await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=keyboard("✓ relevant", "not relevant"))
    assert edited.reply_markup == keyboard("✓ relevant", "not relevant")
    assert fake_telegram.messages[(USER, sent.message_id)].reply_markup == edited.reply_markup.to_dict()
    with pytest.raises(BadRequest, match="(?i)not modified"):
        await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=keyboard("✓ relevant", "not relevant"))
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await bot.edit_message_reply_markup(USER, 999, reply_markup=keyboard("relevant"))

    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
        await bot.send_message(USER, "Rockets hit Camp Taji", reply_markup=too_long)
    assert len(fake_telegram.sent_messages(USER)) == 1  # refused, not stored


async def test_an_edit_keeps_the_buttons_only_when_it_passes_them(bot, fake_telegram):
    from monitor.notify.telegram import FeedbackButtons, TelegramSender

    sender = TelegramSender(bot, entity_name={"camp-taji": "Camp Taji"}.__getitem__)
    buttons = FeedbackButtons(7, "camp-taji")
    sent = await sender.send(str(USER), "<b>Rockets hit Camp Taji</b>", "Rockets hit Camp Taji", feedback=buttons)
    assert sent.kind == "sent" and sent.message_id is not None
    message = fake_telegram.messages[(USER, sent.message_id)]
    labels = [b["text"] for row in message.reply_markup["inline_keyboard"] for b in row]
    assert labels == ["👍 Relevant", "👎 Not relevant", "🔕 Mute Camp Taji for a day"]

    kept = await sender.edit(str(USER), sent.message_id, "<b>Rockets hit Camp Taji</b> (2 reports)", "x", feedback=buttons)
    assert kept.kind == "sent" and message.reply_markup is not None and message.text.endswith("(2 reports)")
    dropped = await sender.edit(str(USER), sent.message_id, "<b>Rockets hit Camp Taji</b> (3 reports)", "x")
    assert dropped.kind == "sent" and message.reply_markup is None
