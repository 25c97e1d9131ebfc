"""The outbox sender against the fake Bot API over HTTP (PTB pointed at it by base_url),
with a real SQLite file: order, exactly-once, 429/5xx/outage handling, permanent
errors, the lost-answer window, a locked database, and the rate governor."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from fake_telegram import FakeTelegram, RateLimits  # noqa: F401
from monitor.notify.format import AlertContent, format_alert_html, format_alert_plain
from monitor.notify.outbox import Outbox
from monitor.notify.ratelimit import Limits, RateGovernor, is_group_chat
from monitor.notify.telegram import SendResult, TelegramSender, build_bot, classify
from monitor.store import NewItem, QueuedAlert, Store
from monitor.store import reports
from monitor.store.schema import alerts, delivery_attempts

CHANNEL = "-1001234567890"
USER = "4242"
FAST = Limits(per_chat_per_second=1000, per_group_per_minute=60000, global_per_second=1000)


@pytest.fixture
def fake(fake_telegram: FakeTelegram) -> FakeTelegram:
    fake_telegram.add_chat(int(CHANNEL), "channel", username="iraq_watch")
    fake_telegram.add_chat(int(USER), "private", first_name="Analyst")
    fake_telegram.set_rate_limits(None)  # these tests are not about flood control
    return fake_telegram


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'monitor.db'}")
    yield s
    s.close()


_counter = iter(range(1, 1_000_000))


def seed(store: Store, chats: list[str], n: int, html: str | None = None, plain: str | None = None) -> list[str]:
    """n items, each queued to every chat; returns the plain texts in queue order."""
    feed = store.feeds.ensure("http://127.0.0.1/feed.xml", "Wire")
    texts = []
    for _ in range(n):
        k = next(_counter)
        text = f"alert {k}"
        item = NewItem(feed.id, f"guid-{k}", f"http://127.0.0.1/{k}", f"http://127.0.0.1/{k}", text, None, "", "feed", None)
        store.items.add(item, [], [QueuedAlert(c, html or f"<b>{text}</b>", plain or text) for c in chats])
        texts.append(text)
    return texts


def make_outbox(store: Store, fake: FakeTelegram, *, limits: Limits = FAST, read_timeout: float = 5.0, base_url: str | None = None) -> Outbox:
    bot = build_bot(fake.token, base_url or fake.base_url, read_timeout=read_timeout)
    # Telegram-wide trouble is probed again after 0.2 s (in production: backoff up to 5 min).
    return Outbox(store, TelegramSender(bot), RateGovernor(limits), outage_backoff=lambda failures: 0.2)


def statuses(store: Store) -> list[tuple[str, str, str | None]]:
    with store.database.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(alerts.c.chat_id, alerts.c.status, alerts.c.error).order_by(alerts.c.id))]


async def drain(outbox: Outbox) -> int:
    """Deliver until nothing is due, then close the bot's HTTP clients."""
    try:
        return await outbox.run_until_idle()
    finally:
        await outbox.sender.bot.shutdown()


# -- the happy path ------------------------------------------------------------------


async def test_every_alert_once_in_order_with_message_ids(store, fake):
    texts = seed(store, [CHANNEL, USER], 6)
    outbox = make_outbox(store, fake)
    assert await drain(outbox) == 12
    assert [m.text for m in fake.sent_messages(int(CHANNEL))] == texts
    assert [m.text for m in fake.sent_messages(int(USER))] == texts
    assert {s for _, s, _ in statuses(store)} == {"sent"}
    with store.database.engine.connect() as conn:
        ids = [r[0] for r in conn.execute(select(alerts.c.telegram_message_id).where(alerts.c.chat_id == CHANNEL).order_by(alerts.c.id))]
        attempts = conn.execute(select(delivery_attempts.c.outcome)).scalars().all()
    assert ids == [1, 2, 3, 4, 5, 6]
    assert attempts == ["sent"] * 12
    # Nothing is sent twice when the sender runs again.
    outbox = make_outbox(store, fake)
    assert await drain(outbox) == 0
    assert len(fake.sent_messages()) == 12


async def test_html_parse_mode_link_preview_off_and_arabic(store, fake):
    content = AlertContent(
        title="هجوم على قاعدة التاجي <عاجل> & more",
        url="https://example.org/a?x=1&y=2",
        outlet="قناة <الأخبار>",
        published=datetime(2020, 3, 26, 14, 5, tzinfo=timezone.utc),
        entities=(("kataeb-hezbollah", "Kataeb Hezbollah"),),
        snippet="قالت كتائب حزب الله إنها لم تشارك",
        mention_start=5,
        mention_end=19,
    )
    store_texts = (format_alert_html(content), format_alert_plain(content))
    seed(store, [CHANNEL], 1, *store_texts)
    await drain(make_outbox(store, fake))
    [message] = fake.sent_messages(int(CHANNEL))
    [call] = fake.calls_to("sendMessage")
    assert call.params["parse_mode"] == "HTML"
    assert call.params["link_preview_options"]["is_disabled"] is True
    assert "هجوم على قاعدة التاجي <عاجل> & more" in message.text  # escaped, then shown as written
    assert any(e["type"] == "bold" for e in message.entities)
    assert any(e["type"] == "text_link" and e["url"] == "https://example.org/a?x=1&y=2" for e in message.entities)


async def test_bad_html_falls_back_to_plain_text(store, fake):
    seed(store, [CHANNEL], 1, html="<b>unclosed & broken", plain="plain fallback text")
    await drain(make_outbox(store, fake))
    [message] = fake.sent_messages(int(CHANNEL))
    assert message.text == "plain fallback text" and message.parse_mode is None
    [(_, status, note)] = statuses(store)
    assert status == "sent" and "can't parse entities" in note.lower()


# -- transient trouble: retried, never doubled, order kept ---------------------------------


async def test_429_is_honoured_and_retried(store, fake):
    texts = seed(store, [CHANNEL], 3)
    fake.add_fault("429", retry_after=1)
    outbox = make_outbox(store, fake)
    await drain(outbox)
    assert [m.text for m in fake.sent_messages()] == texts
    assert [c.status for c in fake.calls_to("sendMessage", status=None)] == [429, 200, 200, 200]
    assert outbox.counters.rate_limited == 1
    with store.database.engine.connect() as conn:
        first = conn.execute(select(alerts.c.attempts).order_by(alerts.c.id)).scalars().first()
    assert first == 2


async def test_a_started_sender_is_woken_by_queued_alerts_and_honours_flood_control(tmp_path, store, fake):
    """The background sender sleeps until a poll queues alerts (no fixed tick: the idle
    cost is measured by benchmarks/idle.py); woken, it sends, and after a 429 it waits
    retry_after before the alert goes again, in its place."""
    import asyncio

    from conftest import write_config
    from monitor.config import load_settings
    from monitor.notify import TelegramDelivery

    settings = load_settings(
        write_config(tmp_path, telegram={"token": fake.token, "channel": CHANNEL, "api_base_url": fake.base_url, "commands": False})
    )
    delivery = TelegramDelivery(settings, store, limits=FAST)
    await delivery.start(commands=False)
    try:
        texts = seed(store, [CHANNEL], 2)
        fake.add_fault("429", retry_after=1)
        await delivery.deliver_due()  # what the service does when a poll queued alerts
        await asyncio.to_thread(fake.wait_for_messages, 2, 20.0)
        assert [m.text for m in fake.sent_messages()] == texts
        refused, first, second = fake.calls_to("sendMessage", status=None)
        assert (refused.status, first.status, second.status) == (429, 200, 200)
        assert first.params["text"] == refused.params["text"]  # the refused alert kept its place
        assert first.time - refused.time >= 1.0  # not before Telegram's retry_after
    finally:
        await delivery.stop()


async def test_5xx_and_dropped_before_accepting_are_retried_in_order(store, fake):
    texts = seed(store, [CHANNEL, USER], 3)
    fake.add_fault("502", times=2)
    outbox = make_outbox(store, fake)
    await drain(outbox)
    assert [m.text for m in fake.sent_messages(int(CHANNEL))] == texts
    assert [m.text for m in fake.sent_messages(int(USER))] == texts
    assert outbox.counters.retried == 2


async def test_telegram_unreachable_keeps_alerts_queued_then_delivers_backlog_in_order(store, fake):
    texts = seed(store, [CHANNEL], 4)
    dead = make_outbox(store, fake, base_url="http://127.0.0.1:9/bot")  # nothing listens on port 9
    await dead.pump()  # one pass: the oldest alert is tried and put back
    await dead.wait_in_flight()
    await dead.sender.bot.shutdown()
    assert {s for _, s, _ in statuses(store)} == {"queued"}
    assert dead.counters.retried >= 1 and dead.counters.failed == 0
    await drain(make_outbox(store, fake))
    assert [m.text for m in fake.sent_messages()] == texts


# -- answers shaped like the real service's: a definite answer is never 'unknown' ----------


@pytest.mark.parametrize("status", ["500", "502", "503", "504"])
@pytest.mark.parametrize("body", ["html", "json", "empty", "truncated"])
async def test_server_errors_of_any_shape_are_retried_never_unknown(store, fake, status, body):
    texts = seed(store, [CHANNEL], 2)
    fake.add_fault(status, body=body)
    outbox = make_outbox(store, fake)
    await drain(outbox)
    assert [m.text for m in fake.sent_messages()] == texts
    assert {s for _, s, _ in statuses(store)} == {"sent"}
    assert outbox.counters.unknown == 0 and outbox.counters.retried == 1
    # While Telegram was taken as down, it was asked with getMe before any alert went again.
    methods = [c.method for c in fake.calls if c.method in ("getMe", "sendMessage")]
    assert methods[:3] == ["sendMessage", "getMe", "sendMessage"]


async def test_a_slow_gateway_error_is_retried(store, fake):
    texts = seed(store, [CHANNEL], 1)
    fake.add_fault("504", delay=1.0)  # the front end waited for its upstream, then gave up
    await drain(make_outbox(store, fake, read_timeout=5.0))
    assert [m.text for m in fake.sent_messages()] == texts


@pytest.mark.parametrize("body", ["json", "html"])
async def test_429_in_any_shape_is_retried(store, fake, body):
    texts = seed(store, [CHANNEL], 1)
    fake.add_fault("429", retry_after=1, body=body)
    outbox = make_outbox(store, fake)
    await drain(outbox)
    assert [m.text for m in fake.sent_messages()] == texts and outbox.counters.unknown == 0


async def test_an_outage_holds_alerts_in_the_queue_and_probes_with_getme(store, fake):
    """During an outage no alert is put at risk: after the first 502 the sender asks getMe,
    backing off, and sends again only once Telegram answers."""
    import asyncio

    texts = seed(store, [CHANNEL, USER], 3)
    fake.set_outage(502)
    outbox = make_outbox(store, fake)
    task = asyncio.create_task(outbox.run_until_idle())
    try:
        while len(fake.calls_to("getMe", status=None)) < 2:
            await asyncio.sleep(0.05)
        assert outbox.problem is not None and "502" in outbox.problem
        assert {s for _, s, _ in statuses(store)} == {"queued"}
        fake.set_outage(None)
        await asyncio.wait_for(task, timeout=60)
    finally:
        task.cancel()
        await outbox.sender.bot.shutdown()
    assert [m.text for m in fake.sent_messages(int(CHANNEL))] == texts
    assert [m.text for m in fake.sent_messages(int(USER))] == texts
    assert outbox.problem is None and outbox.counters.unknown == 0
    # The alerts in flight when it began (one per chat) found the outage; every other
    # call during it was a getMe.
    during = [c.method for c in fake.calls if c.status != 200]
    assert during.count("sendMessage") <= 2 and during.count("getMe") >= 2


def test_classify_error_answers():
    from monitor.notify.telegram import ErrorAnswer

    assert classify(ErrorAnswer(502, "502 Bad Gateway (an HTML page)", from_api=False)).kind == "retry"
    assert classify(ErrorAnswer(503, "")).global_problem
    assert classify(ErrorAnswer(429, "Too Many Requests", retry_after=4)).retry_after == 4
    assert classify(ErrorAnswer(429, "no JSON", from_api=False)).kind == "retry"
    refused = classify(ErrorAnswer(403, "403 Forbidden (an HTML page)", from_api=False))
    assert refused.kind == "failed" and not refused.chat_gone


# -- the lost-answer window: at most once ------------------------------------------


async def test_answer_lost_to_a_timeout_is_not_resent(store, fake):
    seed(store, [CHANNEL], 2)
    fake.add_fault("delay", delay=1.5)
    outbox = make_outbox(store, fake, read_timeout=0.3)
    await drain(outbox)
    assert [s for _, s, _ in statuses(store)] == ["unknown", "sent"]
    assert len(fake.sent_messages()) == 2  # the first did arrive: resending would double it
    await drain(make_outbox(store, fake))
    assert len(fake.sent_messages()) == 2


async def test_connection_dropped_after_accepting_is_not_resent(store, fake):
    seed(store, [CHANNEL], 1)
    fake.add_fault("drop")
    await drain(make_outbox(store, fake))
    await drain(make_outbox(store, fake))
    assert len(fake.sent_messages()) == 1
    assert statuses(store)[0][1] == "unknown"


async def test_connection_dropped_before_accepting_is_the_documented_loss(store, fake):
    # httpx cannot tell this from a drop after Telegram stored the message, so the
    # at-most-once choice loses it (recorded as 'unknown', visible in stats).
    seed(store, [CHANNEL], 1)
    fake.add_fault("drop_before")
    await drain(make_outbox(store, fake))
    assert fake.sent_messages() == [] and statuses(store)[0][1] == "unknown"
    assert reports.stats(store).alerts_by_status == {"unknown": 1}


def test_stats_tells_the_operator_about_unknown_alerts(tmp_path, capsys, monkeypatch):
    from conftest import write_config
    from monitor.cli import main

    monkeypatch.setenv("COLUMNS", "200")
    config = write_config(tmp_path)
    store = Store(f"sqlite:///{tmp_path / 'monitor.db'}")
    seed(store, [CHANNEL], 1)
    store.outbox.claim(store.outbox.due()[0].id)  # the process died mid-send
    store.outbox.recover_in_flight("answer lost")
    store.close()
    assert main(["--config", str(config), "stats"]) == 0
    out = capsys.readouterr().out
    assert "unknown: 1" in out and "answer was lost" in out


async def test_rows_left_sending_by_a_killed_process_become_unknown(store, fake):
    seed(store, [CHANNEL], 2)
    first = store.outbox.due()[0]
    assert store.outbox.claim(first.id) is not None  # ...and the process died here
    outbox = make_outbox(store, fake)
    assert await outbox.recover() == [first.id]
    await drain(outbox)
    assert [s for _, s, _ in statuses(store)] == ["unknown", "sent"]
    assert len(fake.sent_messages()) == 1
    with store.database.engine.connect() as conn:
        assert conn.execute(select(delivery_attempts.c.outcome).order_by(delivery_attempts.c.id)).scalars().all() == ["unknown", "sent"]


# -- permanent errors -------------------------------------------------------------


async def test_permanent_errors_are_recorded_not_retried_and_blocked_users_deactivated(store, fake):
    store.subscribers.register(USER, "analyst")
    store.subscribers.subscribe(USER, (), all_entities=True)
    fake.block_chat(int(USER))
    fake.kick_bot(int(CHANNEL))
    seed(store, [CHANNEL, USER, "777"], 2)  # 777: chat not found
    outbox = make_outbox(store, fake)
    await drain(outbox)
    by_chat = {}
    for chat, status, error in statuses(store):
        by_chat.setdefault(chat, []).append((status, error))
    assert all(s == "failed" and "not a member" in e for s, e in by_chat[CHANNEL])
    assert all(s == "failed" and "blocked" in e for s, e in by_chat[USER])
    assert all(s == "failed" and "chat not found" in e.lower() for s, e in by_chat["777"])
    # One attempt per gone chat; the rest of its queue was failed without calls.
    assert len(fake.calls_to("sendMessage", status=None)) <= 4
    assert store.subscribers.subscription(USER)[0] is False
    assert list(store.subscribers.recipients(["taji-base"])) == []
    stats = reports.stats(store)
    assert stats.alerts_by_status == {"failed": 6}
    assert any("blocked" in reason for _, reason in stats.failed_alerts)
    await drain(make_outbox(store, fake))
    assert len(fake.calls_to("sendMessage", status=None)) <= 4  # not retried


# -- the database briefly locked ----------------------------------------------------------


async def test_locked_database_delays_but_never_loses_or_doubles(store, fake, tmp_path):
    texts = seed(store, [CHANNEL], 3)
    locker = sqlite3.connect(tmp_path / "monitor.db", timeout=30, check_same_thread=False)
    locker.execute("BEGIN EXCLUSIVE")
    released = threading.Timer(1.0, lambda: (locker.rollback(), locker.close()))
    released.start()
    try:
        await drain(make_outbox(store, fake))
    finally:
        released.join()
    assert [m.text for m in fake.sent_messages()] == texts
    assert {s for _, s, _ in statuses(store)} == {"sent"}


class FlakyOutbox:
    """The real outbox table, whose first outcome writes fail as if SQLite stayed locked."""

    def __init__(self, outbox, failures: int) -> None:
        self._outbox, self.failures = outbox, failures

    def __getattr__(self, name):
        return getattr(self._outbox, name)

    def finish_sent(self, *args):
        from sqlalchemy.exc import OperationalError

        if self.failures > 0:
            self.failures -= 1
            raise OperationalError("UPDATE alerts", {}, sqlite3.OperationalError("database is locked"))
        return self._outbox.finish_sent(*args)


async def test_recording_an_outcome_is_retried_until_the_database_answers(store, fake):
    seed(store, [CHANNEL], 2)
    outbox = make_outbox(store, fake)
    store.outbox = FlakyOutbox(store.outbox, failures=3)
    await drain(outbox)
    assert len(fake.sent_messages()) == 2
    assert {s for _, s, _ in statuses(store)} == {"sent"}
    assert outbox.counters.db_retries == 3


# -- rate limits --------------------------------------------------------------------


async def test_governor_keeps_within_telegram_limits_so_no_429(store, fake):
    # Scaled down 10x so it takes seconds: the fake enforces the same scaled limits.
    fake.set_rate_limits(RateLimits(per_chat_per_second=10, per_chat_burst=3, per_group_per_minute=200, global_per_second=30))
    users = [str(1000 + i) for i in range(5)]
    for u in users:
        fake.add_chat(int(u), "private")
    seed(store, [CHANNEL, *users], 8)
    limits = Limits(per_chat_per_second=10, per_group_per_minute=200, global_per_second=30)
    outbox = make_outbox(store, fake, limits=limits)
    assert await drain(outbox) == 48
    assert fake.count_429 == 0


def test_governor_spacing_with_a_fake_clock():
    now = [0.0]
    governor = RateGovernor(Limits(per_chat_per_second=1, per_group_per_minute=20, global_per_second=30), clock=lambda: now[0])
    assert governor.wait_time("@channel") == 0
    governor.take("@channel")
    assert governor.wait_time("@channel") == pytest.approx(3.0)  # 20/min for a channel
    assert governor.wait_time("42") == pytest.approx(1 / 30)  # another chat: only the global pace
    now[0] = 1.0
    governor.take("42")
    assert governor.wait_time("42") == pytest.approx(1.0)  # 1/s per private chat
    governor.pause_chat("42", 10)
    assert governor.wait_time("42") == pytest.approx(10.0)
    governor.pause_all(5)
    assert governor.wait_time("43") == pytest.approx(5.0)
    now[0] = 20.0
    assert governor.wait_time("42") == governor.wait_time("@channel") == 0


# PTB 22 warns when a RetryAfter is built without PTB_TIMEDELTA; both forms are what PTB may raise.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
def test_group_detection_and_error_classification():
    assert is_group_chat("@iraq_watch") and is_group_chat("-1009") and is_group_chat("-555")
    assert not is_group_chat("4242")
    from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
    import datetime as dt
    import httpx

    assert classify(RetryAfter(dt.timedelta(seconds=7))).retry_after == 7
    assert classify(RetryAfter(3)).retry_after == 3
    assert classify(Forbidden("Forbidden: bot was blocked by the user")).chat_gone
    assert classify(BadRequest("Chat not found")).kind == "failed"
    assert classify(NetworkError("Bad Gateway")).kind == "retry"
    try:
        raise NetworkError("x") from httpx.ConnectError("refused")
    except NetworkError as exc:
        assert classify(exc).kind == "retry"
    try:
        raise TimedOut() from httpx.ReadTimeout("slow")
    except TimedOut as exc:
        assert classify(exc).kind == "unknown"
    assert SendResult("sent", 1).kind == "sent"


# -- wired into the service ------------------------------------------------------------


def test_run_once_delivers_through_the_bot_api_to_channel_and_subscribers(tmp_path, site, fake, capsys, monkeypatch):
    from datetime import timedelta
    from email.utils import format_datetime

    from conftest import write_config
    from monitor.cli import main

    now = datetime.now(timezone.utc)
    site.add(
        "/rss.xml",
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
        f"<item><title>Rockets hit Camp Taji &amp; more</title><link>{site.url('/n/1.html')}</link><guid>w-1</guid>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=3))}</pubDate>"
        "<description>Rockets struck Camp Taji; officials blamed Kataib Hezbollah.</description></item>"
        "</channel></rss>",
    )
    config = write_config(
        tmp_path, [{"url": site.url("/rss.xml"), "name": "Wire <Agency>"}],
        telegram={
            "token": fake.token,
            "channel": "@iraq_watch",
            "api_base_url": fake.base_url,
            "rate_limits": {"per_chat_per_second": 100, "per_group_per_minute": 6000, "global_per_second": 100},
        },
        fetch={"fetch_pages": False},
    )
    store = Store(f"sqlite:///{tmp_path / 'monitor.db'}")
    store.subscribers.register(USER, None)
    store.subscribers.subscribe(USER, ["taji-base"])
    store.subscribers.register("4343", None)
    store.subscribers.subscribe("4343", ["islamic-state"])  # not matched: gets nothing
    store.close()
    assert main(["--config", str(config), "run", "--once"]) == 0
    assert main(["--config", str(config), "run", "--once"]) == 0
    [channel] = fake.sent_messages(int(CHANNEL))
    [private] = fake.sent_messages(int(USER))
    assert channel.text == private.text
    assert "Rockets hit Camp Taji & more" in channel.text and "Wire <Agency>" in channel.text
    assert "#taji_base" in channel.text
    assert fake.token not in capsys.readouterr().err
