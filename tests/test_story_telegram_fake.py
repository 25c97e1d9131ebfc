"""editMessageText as the fake Bot API answers it (the real service's wording), and
what `TelegramSender.edit` makes of each answer."""

from __future__ import annotations

import pytest
from telegram.error import BadRequest

from fake_telegram import FakeTelegram
from monitor.notify.telegram import TelegramSender, build_bot

CHANNEL = -1001234567890
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


@pytest.fixture
def fake(fake_telegram: FakeTelegram) -> FakeTelegram:
    fake_telegram.add_chat(CHANNEL, "channel", username="iraq_watch")
    fake_telegram.set_rate_limits(None)
    return fake_telegram


async def test_each_message_keeps_its_edit_history(fake: FakeTelegram) -> None:
    async with build_bot(fake.token, fake.base_url) as bot:
        sent = await bot.send_message(CHANNEL, "<b>Rockets</b> hit Camp Taji", parse_mode="HTML")
        edited = await bot.edit_message_text("Rockets hit Camp Taji\n\nAlso reported by Gulf Daily", chat_id=CHANNEL, message_id=sent.message_id)
        assert edited.message_id == sent.message_id and edited.edit_date is not None
        with pytest.raises(BadRequest) as refused:
            await bot.edit_message_text("Rockets hit Camp Taji\n\nAlso reported by Gulf Daily", chat_id=CHANNEL, message_id=sent.message_id)
    # (python-telegram-bot drops "Bad Request: " and capitalises the rest)
    assert refused.value.message.lower() == NOT_MODIFIED.removeprefix("Bad Request: ")
    [message] = fake.sent_messages(CHANNEL)
    assert message.versions == ["Rockets hit Camp Taji", "Rockets hit Camp Taji\n\nAlso reported by Gulf Daily"]
    assert message.edit_count == 1
    assert [c.status for c in fake.calls_to("editMessageText", status=None)] == [200, 400]
    assert fake.calls_to("editMessageText", status=400)[0].description == NOT_MODIFIED


async def test_what_the_sender_makes_of_each_edit_answer(fake: FakeTelegram) -> None:
    bot = build_bot(fake.token, fake.base_url)
    sender = TelegramSender(bot)
    async with bot:
        first = await sender.send(str(CHANNEL), "<b>Rockets</b> hit Camp Taji", "Rockets hit Camp Taji")
        assert first.kind == "sent" and first.message_id is not None
        message_id = first.message_id

        done = await sender.edit(str(CHANNEL), message_id, "<b>Rockets</b> hit Camp Taji\n\n2 reports", "x")
        assert (done.kind, done.unchanged) == ("sent", False)
        again = await sender.edit(str(CHANNEL), message_id, "<b>Rockets</b> hit Camp Taji\n\n2 reports", "x")
        assert (again.kind, again.unchanged) == ("sent", True)  # already shown: done, not an error

        fake.add_fault("429", method="editMessageText", retry_after=7)
        flood = await sender.edit(str(CHANNEL), message_id, "<b>Rockets</b>\n\n3 reports", "x")
        assert (flood.kind, flood.retry_after) == ("retry", 7.0)

        fake.add_fault("502", method="editMessageText")  # nginx's HTML page
        outage = await sender.edit(str(CHANNEL), message_id, "<b>Rockets</b>\n\n3 reports", "x")
        assert outage.kind == "retry" and outage.global_problem and "502" in outage.reason

        refused_html = await sender.edit(str(CHANNEL), message_id, "<blink>Rockets</blink>", "Rockets, 3 reports")
        assert (refused_html.kind, refused_html.plain_fallback) == ("sent", True)

        fake.delete_message(CHANNEL, message_id)  # a channel admin removed it
        gone = await sender.edit(str(CHANNEL), message_id, "<b>Rockets</b>\n\n4 reports", "x")
        assert (gone.kind, gone.message_gone) == ("failed", True) and "message to edit not found" in gone.reason.lower()

    [deleted] = fake.deleted_messages
    assert deleted.versions == ["Rockets hit Camp Taji", "Rockets hit Camp Taji\n\n2 reports", "Rockets, 3 reports"]
