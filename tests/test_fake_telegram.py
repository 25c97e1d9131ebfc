"""The fake Telegram behaves like Telegram when driven by real python-telegram-bot."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from telegram import Bot
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import CommandHandler

from fake_telegram import (  # the fake_telegram fixture comes from conftest's plugin
    EntityParseError,
    FakeTelegram,
    RateLimits,
    control,
    parse_html,
    validate_html,
)

CHANNEL_ID = -1001234567890
USER_ID = 4242


@pytest.fixture(autouse=True)
def _timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 returns RetryAfter.retry_after as a timedelta under this flag (int plus a
    # deprecation warning without it).
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
def fake(fake_telegram: FakeTelegram) -> FakeTelegram:
    fake_telegram.add_chat(CHANNEL_ID, "channel", username="iraq_watch")
    fake_telegram.add_chat(USER_ID, "private", first_name="Analyst")
    return fake_telegram


def make_bot(fake: FakeTelegram, token: str | None = None) -> Bot:
    return Bot(token or fake.token, base_url=fake.base_url)


# -- basics ------------------------------------------------------------------


async def test_get_me_and_send_message(fake: FakeTelegram) -> None:
    async with make_bot(fake) as bot:
        assert bot.id == fake.bot_id  # initialize() called getMe
        first = await bot.send_message("@iraq_watch", "<b>Taji</b> handed over", parse_mode="HTML")
        second = await bot.send_message(CHANNEL_ID, "second")
        private = await bot.send_message(USER_ID, "hello")

    assert (first.message_id, second.message_id, private.message_id) == (1, 2, 1)
    assert first.text == "Taji handed over"  # Telegram returns the parsed text
    assert first.entities[0].type == "bold" and (first.entities[0].offset, first.entities[0].length) == (0, 4)
    sent = fake.sent_messages(CHANNEL_ID)
    assert [m.raw_text for m in sent] == ["<b>Taji</b> handed over", "second"]
    calls = fake.calls_to("sendMessage")
    assert calls[0].params["chat_id"] == "@iraq_watch" and calls[0].params["parse_mode"] == "HTML"
    assert calls[1].params["chat_id"] == CHANNEL_ID  # form field "-100..." decoded to an int
    assert [c.message_id for c in calls] == [1, 2, 1]


async def test_wrong_token_is_rejected(fake: FakeTelegram) -> None:
    with pytest.raises(InvalidToken):
        async with make_bot(fake, token="1:wrong"):
            pass


def test_unknown_method_and_wrong_token_raw_answers(fake: FakeTelegram) -> None:
    response = httpx.post(f"{fake.base_url}{fake.token}/sendTelepathy", data={"x": "1"})
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    response = httpx.post(f"{fake.base_url}1:wrong/getMe")
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


def test_json_body_is_accepted_like_telegram(fake: FakeTelegram) -> None:
    response = httpx.post(
        f"{fake.base_url}{fake.token}/sendMessage", json={"chat_id": CHANNEL_ID, "text": "via json"}
    )
    assert response.json()["result"]["text"] == "via json"


# -- message validation --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "message text is empty"),
        ("   \n ", "message text is empty"),
        ("<b></b>", "message text is empty"),
        ("x" * 4097, "message is too long"),
        ("😀" * 2049, "message is too long"),  # 4098 UTF-16 code units
    ],
)
async def test_text_rules(fake: FakeTelegram, text: str, reason: str) -> None:
    async with make_bot(fake) as bot:
        with pytest.raises(BadRequest, match=f"(?i){reason}"):
            await bot.send_message(CHANNEL_ID, text, parse_mode="HTML")
    assert fake.sent_messages() == []


@pytest.mark.parametrize(
    "text",
    [
        "x" * 4096,
        "😀" * 2048,  # exactly 4096 UTF-16 code units
        "<b>" + "x" * 4096 + "</b>",  # markup does not count
        "&amp;" * 4096,  # each entity is one character after parsing
    ],
)
async def test_length_is_counted_after_parsing_in_utf16(fake: FakeTelegram, text: str) -> None:
    async with make_bot(fake) as bot:
        await bot.send_message(CHANNEL_ID, text, parse_mode="HTML")
    assert len(fake.sent_messages()) == 1


@pytest.mark.parametrize(
    "html",
    [
        "<foo>x</foo>",  # unsupported tag
        "<b>unclosed",
        "<b>x</i>",
        "stray</b>",
        "a < b",
        "a > b",
        "AT&T",
        "&foo;",
        "&nbsp;",  # valid HTML, but not one of Telegram's four named entities
        "&#xD800;",
        '<a href="x>y',
        '<span class="other">x</span>',
    ],
)
async def test_invalid_html_is_rejected(fake: FakeTelegram, html: str) -> None:
    async with make_bot(fake) as bot:
        with pytest.raises(BadRequest, match="(?i)can't parse entities"):
            await bot.send_message(CHANNEL_ID, html, parse_mode="HTML")
        # The same text without parse_mode is fine: the check belongs to HTML mode.
        await bot.send_message(CHANNEL_ID, html + ".")
    assert [m.raw_text for m in fake.sent_messages()] == [html + "."]


@pytest.mark.parametrize(
    ("html", "text", "entity_type"),
    [
        ("<b>x</b> <strong>y</strong>", "x y", "bold"),
        ("<i>x</i><em>y</em>", "xy", "italic"),
        ("<u>x</u><ins>y</ins>", "xy", "underline"),
        ("<s>x</s><strike>y</strike><del>z</del>", "xyz", "strikethrough"),
        ('<span class="tg-spoiler">x</span><tg-spoiler>y</tg-spoiler>', "xy", "spoiler"),
        ('<a href="https://e.org/?a=1&amp;b=&quot;2&quot;">x</a>', "x", "text_link"),
        ("<code>a &lt; b</code>", "a < b", "code"),
        ('<pre><code class="language-python">x = 1</code></pre>', "x = 1", "pre"),
        ("<blockquote expandable>q</blockquote>", "q", "expandable_blockquote"),
        ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍", "custom_emoji"),
        ("&lt;&gt;&amp;&quot;&#39;&#x1F600;", "<>&\"'😀", None),
        ("<B>upper case tags</B>", "upper case tags", "bold"),
    ],
)
def test_valid_html_parses_like_telegram(html: str, text: str, entity_type: str | None) -> None:
    parsed, entities = parse_html(html)
    assert parsed == text
    assert [e["type"] for e in entities][:1] == ([entity_type] if entity_type else [])


def test_entity_offsets_are_utf16() -> None:
    _, entities = parse_html("😀 <b>كتائب</b>")
    assert entities == [{"type": "bold", "offset": 3, "length": 5}]
    _, entities = parse_html('<a href="https://e.org/?a=1&amp;b=2">x</a>')
    assert entities[0]["url"] == "https://e.org/?a=1&b=2"


def test_validator_reports_byte_offsets() -> None:
    with pytest.raises(EntityParseError, match="byte offset 3"):
        validate_html("é <x>")  # "é" is two bytes in UTF-8


# -- chats ---------------------------------------------------------------------


async def test_chat_not_found_blocked_and_kicked(fake: FakeTelegram) -> None:
    fake.add_chat(777, "private")
    fake.block_chat(777)
    fake.kick_bot(CHANNEL_ID)
    group = fake.add_chat(-555, "group")
    fake.kick_bot(group["id"])
    async with make_bot(fake) as bot:
        with pytest.raises(BadRequest, match="(?i)chat not found"):
            await bot.send_message(999, "x")
        with pytest.raises(BadRequest, match="(?i)chat not found"):
            await bot.send_message("@nobody_here", "x")
        with pytest.raises(Forbidden, match="(?i)bot was blocked by the user"):
            await bot.send_message(777, "x")
        with pytest.raises(Forbidden, match="(?i)bot is not a member of the channel chat"):
            await bot.send_message("@iraq_watch", "x")
        with pytest.raises(Forbidden, match="(?i)bot was kicked from the group chat"):
            await bot.send_message(-555, "x")
    assert fake.sent_messages() == []


async def test_get_chat(fake: FakeTelegram) -> None:
    async with make_bot(fake) as bot:
        chat = await bot.get_chat("@iraq_watch")
    assert (chat.id, chat.type, chat.username) == (CHANNEL_ID, "channel", "iraq_watch")


# -- edits -----------------------------------------------------------------------


async def test_edit_message_text(fake: FakeTelegram) -> None:
    async with make_bot(fake) as bot:
        sent = await bot.send_message(CHANNEL_ID, "<b>first</b>", parse_mode="HTML")
        edited = await bot.edit_message_text(
            "<b>first</b> (updated)", chat_id=CHANNEL_ID, message_id=sent.message_id, parse_mode="HTML"
        )
        assert edited.text == "first (updated)" and edited.edit_date is not None
        with pytest.raises(BadRequest, match="(?i)message is not modified"):
            await bot.edit_message_text(
                "<b>first</b> (updated)", chat_id=CHANNEL_ID, message_id=sent.message_id, parse_mode="HTML"
            )
        with pytest.raises(BadRequest, match="(?i)message to edit not found"):
            await bot.edit_message_text("x", chat_id=CHANNEL_ID, message_id=99)
        with pytest.raises(BadRequest, match="(?i)can't parse entities"):
            await bot.edit_message_text("<x>", chat_id=CHANNEL_ID, message_id=1, parse_mode="HTML")
    [message] = fake.sent_messages()
    assert (message.text, message.edit_count) == ("first (updated)", 1)


# -- commands, webhook, updates --------------------------------------------------


async def test_commands_and_webhook(fake: FakeTelegram) -> None:
    async with make_bot(fake) as bot:
        assert await bot.delete_webhook() is True
        assert await bot.get_my_commands() == ()
        assert await bot.set_my_commands([("subscribe", "Subscribe to an entity")]) is True
        commands = await bot.get_my_commands()
    assert [(c.command, c.description) for c in commands] == [("subscribe", "Subscribe to an entity")]


async def test_get_updates_delivers_pushed_messages_and_honours_offset(fake: FakeTelegram) -> None:
    pushed = fake.push_message(9001, "/subscribe taji-base", user_id=9001, username="analyst")
    async with make_bot(fake) as bot:
        [update] = await bot.get_updates(timeout=0)
        assert update.update_id == pushed["update_id"]
        assert update.message.text == "/subscribe taji-base"
        assert update.message.from_user.id == 9001 and update.message.chat.type == "private"
        # PTB's CommandHandler recognises the command and its argument.
        assert CommandHandler("subscribe", lambda *_: None).check_update(update)
        assert (await bot.get_updates(timeout=0)) != ()  # not confirmed yet: delivered again
        assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
        # The user's chat is now known, so the bot can answer.
        reply = await bot.send_message(9001, "Subscribed to Taji")
    assert reply.message_id == 2  # message ids are per chat; the user's message was 1


async def test_get_updates_long_polls_until_an_update_arrives(fake: FakeTelegram) -> None:
    timer = threading.Timer(0.3, fake.push_message, args=(9001, "/start"))
    async with make_bot(fake) as bot:
        started = time.monotonic()
        timer.start()
        updates = await bot.get_updates(timeout=5)
        elapsed = time.monotonic() - started
    assert [u.message.text for u in updates] == ["/start"]
    assert 0.2 < elapsed < 3


async def test_get_updates_times_out_empty(fake: FakeTelegram) -> None:
    async with make_bot(fake) as bot:
        started = time.monotonic()
        assert await bot.get_updates(timeout=1) == ()
    assert time.monotonic() - started >= 0.9


# -- faults ----------------------------------------------------------------------


async def test_429_fault_raises_retry_after(fake: FakeTelegram) -> None:
    fake.add_fault("429", times=2, retry_after=7)
    async with make_bot(fake) as bot:
        for _ in range(2):
            with pytest.raises(RetryAfter) as excinfo:
                await bot.send_message(CHANNEL_ID, "x")
            assert excinfo.value.retry_after == dt.timedelta(seconds=7)
        await bot.send_message(CHANNEL_ID, "x")  # the fault is used up
    assert fake.count_429 == 2
    assert len(fake.sent_messages()) == 1
    assert [c.status for c in fake.calls_to("sendMessage", status=None)] == [429, 429, 200]


async def test_502_fault_raises_network_error(fake: FakeTelegram) -> None:
    fake.add_fault("502")
    async with make_bot(fake) as bot:
        with pytest.raises(NetworkError, match="Bad Gateway") as excinfo:
            await bot.send_message(CHANNEL_ID, "x")
    assert not isinstance(excinfo.value, BadRequest | TimedOut)
    assert fake.sent_messages() == []


async def test_error_answers_are_shaped_like_the_real_services(fake: FakeTelegram) -> None:
    """The API answers JSON errors; its nginx front end answers gateway errors with an
    HTML page, and a proxy may send nothing or hang up half-way through."""
    url = f"{fake.base_url}{fake.token}/sendMessage"
    data = {"chat_id": str(CHANNEL_ID), "text": "x"}
    fake.add_fault("502")
    fake.add_fault("500")
    fake.add_fault("503", body="empty")
    fake.add_fault("504", body="truncated")
    fake.add_fault("429", retry_after=3)
    async with httpx.AsyncClient(trust_env=False) as client:
        page = await client.post(url, data=data)
        assert page.status_code == 502 and page.headers["content-type"] == "text/html"
        assert "<title>502 Bad Gateway</title>" in page.text and "nginx" in page.text
        api = await client.post(url, data=data)
        assert api.status_code == 500 and api.json() == {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        empty = await client.post(url, data=data)
        assert empty.status_code == 503 and empty.content == b""
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(url, data=data)  # the status line came, the body never finished
        flood = await client.post(url, data=data)
        assert flood.status_code == 429 and flood.json()["parameters"] == {"retry_after": 3}
    assert fake.sent_messages() == []


async def test_an_outage_answers_every_method_until_it_ends(fake: FakeTelegram) -> None:
    async with make_bot(fake) as bot:  # (entering calls getMe)
        fake.set_outage(503, body="html")
        for call in (bot.get_me, lambda: bot.send_message(CHANNEL_ID, "x"), lambda: bot.get_updates(timeout=0)):
            with pytest.raises(NetworkError, match="Service Unavailable"):
                await call()
        fake.set_outage(None)
        await bot.send_message(CHANNEL_ID, "after")
    assert [m.text for m in fake.sent_messages()] == ["after"]
    assert [c.status for c in fake.calls_to("getMe", status=None)] == [200, 503]


async def test_slow_answer_times_out_but_message_is_recorded(fake: FakeTelegram) -> None:
    fake.add_fault("delay", delay=1.5)
    async with make_bot(fake) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(CHANNEL_ID, "answer lost", read_timeout=0.3)
    assert [m.text for m in fake.sent_messages()] == ["answer lost"]


async def test_dropped_connection_after_accept_records_message(fake: FakeTelegram) -> None:
    fake.add_fault("drop")
    fake.add_fault("drop_before")
    async with make_bot(fake) as bot:
        with pytest.raises(NetworkError) as excinfo:
            await bot.send_message(CHANNEL_ID, "accepted, answer dropped")
        assert not isinstance(excinfo.value, TimedOut)
        with pytest.raises(NetworkError):
            await bot.send_message(CHANNEL_ID, "dropped before accepting")
        await bot.send_message(CHANNEL_ID, "fine again")
    assert [m.text for m in fake.sent_messages()] == ["accepted, answer dropped", "fine again"]


async def test_fault_for_another_method_leaves_send_alone(fake: FakeTelegram) -> None:
    fake.add_fault("502", method="getChat")
    async with make_bot(fake) as bot:
        await bot.send_message(CHANNEL_ID, "x")
        with pytest.raises(NetworkError):
            await bot.get_chat(CHANNEL_ID)


# -- flood control -----------------------------------------------------------------


async def test_per_chat_flood_control(fake: FakeTelegram) -> None:
    async with make_bot(fake) as bot:
        for i in range(3):  # the default burst
            await bot.send_message(USER_ID, f"m{i}")
        with pytest.raises(RetryAfter) as excinfo:
            await bot.send_message(USER_ID, "one too many")
        assert excinfo.value.retry_after == dt.timedelta(seconds=1)
        await bot.send_message(CHANNEL_ID, "other chats are not affected")
        await asyncio.sleep(1.05)
        await bot.send_message(USER_ID, "after waiting")
    assert fake.count_429 == 1
    assert len(fake.sent_messages(USER_ID)) == 4


async def test_channel_limit_of_20_per_minute(fake: FakeTelegram) -> None:
    fake.set_rate_limits(RateLimits(per_chat_per_second=1000, per_chat_burst=1000))
    async with make_bot(fake) as bot:
        for i in range(20):
            await bot.send_message(CHANNEL_ID, f"m{i}")
        with pytest.raises(RetryAfter) as excinfo:
            await bot.send_message(CHANNEL_ID, "21st")
    assert dt.timedelta(seconds=1) <= excinfo.value.retry_after <= dt.timedelta(seconds=3)


async def test_global_limit(fake: FakeTelegram) -> None:
    fake.set_rate_limits(RateLimits(global_per_second=5))
    for chat_id in range(1, 11):
        fake.add_chat(chat_id, "private")
    async with make_bot(fake) as bot:
        # Ten different chats at once: each is within its own limit, together over 5/s.
        results = await asyncio.gather(
            *(bot.send_message(chat_id, "x") for chat_id in range(1, 11)), return_exceptions=True
        )
    rejected = [r for r in results if isinstance(r, RetryAfter)]
    assert rejected and len(rejected) == fake.count_429
    assert len(fake.sent_messages()) == 10 - len(rejected) >= 5


async def test_flood_control_can_be_turned_off(fake: FakeTelegram) -> None:
    fake.set_rate_limits(None)
    async with make_bot(fake) as bot:
        for i in range(30):
            await bot.send_message(USER_ID, f"m{i}")
    assert len(fake.sent_messages(USER_ID)) == 30 and fake.count_429 == 0


# -- standalone process --------------------------------------------------------------


async def test_runs_as_a_subprocess_with_state_file(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("fake_telegram.py")),
         "--port", "0", "--state-file", str(state_file), "--channel", "@iraq_watch=-1009"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline().split()
        assert ready[0] == "READY"
        url = f"http://127.0.0.1:{ready[1]}"
        token = json.loads(state_file.read_text())["token"]
        async with Bot(token, base_url=f"{url}/bot") as bot:
            await bot.send_message("@iraq_watch", "from a test")
            control(url, "add_fault", kind="502")
            with pytest.raises(NetworkError):
                await bot.send_message("@iraq_watch", "x")

        state = json.loads(state_file.read_text())
        assert [(m["chat_id"], m["message_id"], m["text"]) for m in state["messages"]] == [
            (-1009, 1, "from a test")
        ]
        assert control(url, "state")["calls"][-1]["status"] == 502
    finally:
        process.terminate()
        exit_code = process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()
    assert exit_code == 0  # SIGTERM is a clean shutdown
