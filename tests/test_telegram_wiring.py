"""The assembled service with Telegram configured, talked to only from outside.

The service is the object the CLI builds (`Monitor(load_settings(path))`, nothing
replaced) or the CLI itself; around it: the fake Bot API answering like the
real one (JSON errors, nginx pages in an outage, slow answers), a local feed
server, /healthz and /metrics over HTTP, and the SQLite file.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event

from conftest import Response, running
from fake_telegram import CHANNEL, SUBSCRIBER, FakeTelegram
from test_service import config_for, rss, until



def telegram_section(fake: FakeTelegram, **extra: object) -> dict[str, object]:
    return {
        "token": fake.token,
        "channel": "@iraq_watch",
        "api_base_url": fake.base_url,
        "rate_limits": {"per_chat_per_second": 100, "per_group_per_minute": 6000, "global_per_second": 100},
        "max_backoff": "0.5s",  # in production up to 5 min between probes of a Bot API that is down
        **extra,
    }


async def get(port: int, path: str, timeout: float = 5.0) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as client:
        return await client.get(f"http://127.0.0.1:{port}{path}", timeout=timeout)


async def health_port(monitor) -> int:
    """The port /healthz listens on, once it listens (service.health_port 0: any free port)."""
    await until(lambda: monitor.health_server is not None and monitor.health_server.port != 0)
    return monitor.health_server.port


async def healthz(port: int) -> dict:
    # 4.5 s: the Docker HEALTHCHECK gives /healthz 4 s; a probe of a hanging Bot API must not exceed it.
    answer = await get(port, "/healthz", timeout=4.5)
    assert answer.status_code == 200  # a Telegram outage degrades, never fails, the service
    return answer.json()


async def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return samples((await get(port, "/metrics")).text)


async def until_metric(port: int, condition, timeout: float = 30.0) -> dict:
    """Scrape /metrics until `condition(page)` holds; returns that page."""
    deadline = time.monotonic() + timeout
    while True:
        page = await scrape(port)
        if condition(page):
            return page
        if time.monotonic() > deadline:
            raise AssertionError("metric condition not reached in time")
        await asyncio.sleep(0.1)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page: (name, labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(page: dict, name: str, **labels: str) -> float:
    return page.get((name, tuple(sorted(labels.items()))), 0.0)


# -- /healthz with the real Telegram delivery wired in ------------------------------------


async def test_healthz_and_metrics_tell_the_truth_through_a_telegram_outage(tmp_path, site, fake):
    items = [("1", "Rockets hit Camp Taji")]
    site.routes["/wire.xml"] = lambda handler: Response(rss(items), 200, {"Content-Type": "application/rss+xml"})
    config = config_for(
        tmp_path,
        [{"url": site.url("/wire.xml"), "interval": "0.3s"}],
        service={"health_port": 0},
        defaults={"jitter": 0},
        telegram=telegram_section(fake, commands=False),
    )
    async with running(config) as monitor:
        port = await health_port(monitor)
        await until(lambda: len(fake.sent_messages(CHANNEL)) == 1)
        health = await healthz(port)
        assert health["status"] == "ok" and health["checks"]["telegram"] == "ok", health
        page = samples((await get(port, "/metrics")).text)
        assert value(page, "monitor_telegram_available") == 1

        # An outage: the front end answers nginx's 502 page to everything.
        fake.set_outage(502)
        health = await healthz(port)
        assert health["status"] == "degraded" and health["checks"]["telegram"] == "unreachable"
        assert any("502" in reason for reason in health["reasons"]), health

        # A new article during the outage: its alert waits in the queue, visibly.
        items.append(("2", "Camp Taji hit again"))
        await until(lambda: len(fake.calls_to("sendMessage", status=502)) >= 1)
        await until(lambda: len(fake.calls_to("getMe", status=502)) >= 3)  # held: probing, not sending
        page = samples((await get(port, "/metrics")).text)
        assert value(page, "monitor_telegram_available") == 0
        assert value(page, "monitor_alert_queue_depth") == 1
        assert value(page, "monitor_alert_retries_total", reason="telegram_unavailable") >= 1
        assert len(fake.calls_to("sendMessage", status=502)) == 1  # only the alert that found the outage

        # The gateway now hangs (a 504 after a long wait): /healthz still answers in time.
        fake.set_outage(504, delay=8)
        health = await healthz(port)  # (within the health check's timeout: see healthz())
        assert health["status"] == "degraded"
        assert any("no answer" in reason for reason in health["reasons"]), health

        fake.set_outage(None)
        await until(lambda: len(fake.sent_messages(CHANNEL)) == 2, timeout=30)
        await until_metric(port, lambda page: value(page, "monitor_telegram_available") == 1)
        health = await healthz(port)
        assert health["status"] == "ok", health
        assert [m.text.splitlines()[0] for m in fake.sent_messages(CHANNEL)] == ["Rockets hit Camp Taji", "Camp Taji hit again"]

        # Unreachable: nothing listens at the Bot API's address any more.
        fake.stop()
        health = await healthz(port)
        assert health["status"] == "degraded" and any("ConnectError" in r for r in health["reasons"]), health


# -- every exported metric moves when what it names happens --------------------------------


async def test_every_exported_metric_moves_when_its_event_happens(tmp_path, site, fake):
    """Each metric on /metrics has a scenario here, and the test fails for a metric
    without one: a metric nobody can see move is a metric nobody can trust."""
    site.add("/ok.xml", rss([("a", "Rockets hit Camp Taji"), ("a2", "Camp Taji hit again")]), "application/rss+xml", ETag='"v1"')
    conditional = site.routes["/ok.xml"]

    def ok_feed(handler):
        if handler.headers.get("If-None-Match") == '"v1"':
            return Response(b"", 304, {"ETag": '"v1"'})
        return conditional

    site.routes["/ok.xml"] = ok_feed
    busy_hits: list[int] = []

    def busy_feed(handler):  # worked once, then busy: 503 with Retry-After
        busy_hits.append(1)
        if len(busy_hits) == 1:
            return Response(rss([("b", "Quiet news")]), 200, {"Content-Type": "application/rss+xml"})
        return Response(b"busy", 503, {"Retry-After": "1", "Content-Type": "text/plain"})

    site.routes["/busy.xml"] = busy_feed
    release = threading.Event()

    def slow_feed(handler):
        release.wait(20)  # held open until the test has seen the poll in flight
        return Response(rss([("s", "Quiet news")]), 200, {"Content-Type": "application/rss+xml"})

    site.routes["/slow.xml"] = slow_feed
    # A story told by two outlets, published once the alerts above are out: its channel
    # message is deleted before the second report (that edit fails), the subscriber's
    # copy is edited.
    k1_reports: dict[str, list[tuple[str, str]]] = {"/k1-wire.xml": [], "/kirkuk-daily.xml": []}
    for path in k1_reports:
        site.routes[path] = lambda handler, path=path: Response(rss(k1_reports[path]), 200, {"Content-Type": "application/rss+xml"})
    config = config_for(
        tmp_path,
        [
            {"url": site.url("/ok.xml"), "interval": "0.3s"},
            {"url": site.url("/busy.xml"), "interval": "0.3s"},
            {"url": site.url("/slow.xml"), "interval": "0.3s"},
            {"url": site.url("/k1-wire.xml"), "name": "K1 Wire", "interval": "0.3s"},
            {"url": site.url("/kirkuk-daily.xml"), "name": "Kirkuk Daily", "interval": "0.3s"},
        ],
        service={"health_port": 0, "reload_check": "0.2s"},
        defaults={"jitter": 0, "broken_after": "0.5s", "max_backoff": "0.3s", "broken_retry": "0.3s"},
        fetch={"fetch_pages": True},
        telegram=telegram_section(fake, commands=False),
        storage={"retention": {"every": "1s"}},
    )
    with (tmp_path / "watchlist.yaml").open("a", encoding="utf-8") as watchlist:
        watchlist.write("  - id: k1-airbase\n    name: K1 Air Base\n    aliases: [K1 air base]\n")
    # Subscribers: one who blocked the bot (a definite failure), one whose answer is lost.
    from datetime import datetime, timedelta, timezone

    from prometheus_client import generate_latest

    from monitor.ops import metrics
    from monitor.store import FoundMention, NewItem, QueuedAlert, Store

    store = Store(f"sqlite:///{tmp_path / 'monitor.db'}")
    for chat in (SUBSCRIBER, 5151):
        store.subscribers.register(str(chat), None)
        store.subscribers.subscribe(str(chat), (), all_entities=True)
    store.close()
    # An alert sent half a year ago: retention (storage.retention.alerts, 90 days) prunes it.
    store = Store(f"sqlite:///{tmp_path / 'monitor.db'}", clock=lambda: datetime.now(timezone.utc) - timedelta(days=180))
    store.feeds.ensure("https://old.example/rss", "Old")
    store.items.add(NewItem(1, "old", "https://old.example/1", "https://old.example/1", "Camp Taji, long ago", None, "Camp Taji.",
                            "feed", None), [FoundMention("camp-taji", "Camp Taji", "Camp Taji", 0, 9)], [QueuedAlert("@old", "old", "old")])
    store.outbox.mark_delivered_locally(store.outbox.due()[0].id)
    store.close()
    pruned_before = metrics.REGISTRY.get_sample_value("monitor_retention_pruned_total", {"kind": "alerts"}) or 0.0
    fake.add_chat(5151, "private")
    fake.block_chat(SUBSCRIBER)
    fake.add_fault("429", retry_after=1)  # the first send: flood control
    fake.add_fault("502", body="empty")  # the second: an outage page
    fake.add_fault("drop_before")  # the third: the connection dropped, no answer

    # The baseline is read before the service starts (the registry is this process's):
    # its first polls come within startup_spread, sooner than /metrics could be asked.
    baseline = samples(generate_latest(metrics.REGISTRY).decode())
    async with running(config) as monitor:
        port = await health_port(monitor)
        # In flight: the slow feed's poll is open while we look.
        in_flight = await until_metric(port, lambda page: value(page, "monitor_polls_in_flight") >= 1)
        release.set()
        await until_metric(port, lambda page: value(page, "monitor_alerts", status="queued") + value(page, "monitor_alerts", status="sending") == 0 and value(page, "monitor_alerts", status="sent") > 0)
        await until(lambda: site.hits("/ok.xml") >= 3 and len(busy_hits) >= 4)
        # The story: first report, its channel message deleted, the second report.
        k1_reports["/k1-wire.xml"].append(("k1-a", "Two rockets strike the K1 air base near Kirkuk"))
        await until(lambda: any("K1" in m.text for m in fake.sent_messages(CHANNEL)) and any("K1" in m.text for m in fake.sent_messages(5151)))
        fake.delete_message(CHANNEL, next(m.message_id for m in fake.sent_messages(CHANNEL) if "K1" in m.text))
        k1_reports["/kirkuk-daily.xml"].append(("k1-b", "Two rockets hit the K1 air base outside Kirkuk"))
        await until_metric(
            port,
            lambda page: all(
                value(page, name) > value(baseline, name) for name in ("monitor_alert_edits_failed_total", "monitor_alert_edits_sent_total")
            ),
        )
        # A rejected edit, then a good one.
        text = config.read_text()
        config.write_text(text + "\nfeeds: [oops\n")
        rejected = await until_metric(port, lambda page: value(page, "monitor_config_last_reload_ok") == 0)
        config.write_text(text.replace("interval: 0.3s", "interval: 0.4s", 1))
        await until_metric(port, lambda page: value(page, "monitor_config_last_reload_ok") == 1)
        await until_metric(port, lambda page: value(page, "monitor_retention_pruned_total", kind="alerts") > pruned_before)
        final_text = (await get(port, "/metrics")).text
        final = samples(final_text)
    release.set()

    def moved(name: str, **labels: str) -> bool:
        return value(final, name, **labels) > value(baseline, name, **labels)

    checks = {
        "monitor_polls": moved("monitor_polls_total", status="ok") and moved("monitor_polls_total", status="not_modified"),
        "monitor_not_modified": moved("monitor_not_modified_total"),
        "monitor_poll_errors": moved("monitor_poll_errors_total", kind="http_status"),
        "monitor_http_errors": moved("monitor_http_errors_total", code="503"),
        "monitor_retry_after_honoured": moved("monitor_retry_after_honoured_total"),
        "monitor_items_seen": moved("monitor_items_seen_total"),
        "monitor_items_new": moved("monitor_items_new_total"),
        "monitor_matches": moved("monitor_matches_total", entity="camp-taji"),
        # camp-taji's two items to three chats, the story's first report to two (its second: none)
        "monitor_alerts_queued": value(final, "monitor_alerts_queued_total") - value(baseline, "monitor_alerts_queued_total") == 8,
        "monitor_alerts_sent": moved("monitor_alerts_sent_total"),
        "monitor_alerts_failed": moved("monitor_alerts_failed_total"),
        "monitor_alerts_unknown": moved("monitor_alerts_unknown_total"),
        "monitor_alert_edits_sent": moved("monitor_alert_edits_sent_total"),
        "monitor_alert_edits_failed": moved("monitor_alert_edits_failed_total"),
        "monitor_alert_retries": moved("monitor_alert_retries_total", reason="flood_control")
        and moved("monitor_alert_retries_total", reason="telegram_unavailable"),
        "monitor_poll_duration_seconds": moved("monitor_poll_duration_seconds_count"),
        "monitor_extraction_duration_seconds": moved("monitor_extraction_duration_seconds_count"),
        "monitor_publish_to_queue_seconds": moved("monitor_publish_to_queue_seconds_count"),
        "monitor_publish_to_alert_seconds": moved("monitor_publish_to_alert_seconds_count"),
        "monitor_scheduler_running": value(final, "monitor_scheduler_running") == 1,
        "monitor_feeds": value(final, "monitor_feeds") == 5,
        "monitor_feeds_broken": value(final, "monitor_feeds_broken") == 1,
        "monitor_polls_in_flight": value(in_flight, "monitor_polls_in_flight") >= 1,
        "monitor_last_poll_timestamp_seconds": value(final, "monitor_last_poll_timestamp_seconds") > value(baseline, "monitor_last_poll_timestamp_seconds"),
        "monitor_alert_queue_depth": value(final, "monitor_alert_queue_depth") == 0,
        "monitor_alert_queue_oldest_age_seconds": value(final, "monitor_alert_queue_oldest_age_seconds") == 0,
        "monitor_alerts": value(final, "monitor_alerts", status="sent") >= 3
        and value(final, "monitor_alerts", status="failed") >= 1
        and value(final, "monitor_alerts", status="unknown") == 1,
        "monitor_config_reloads": moved("monitor_config_reloads_total", result="rejected")
        and moved("monitor_config_reloads_total", result="applied"),
        "monitor_config_last_reload_ok": value(rejected, "monitor_config_last_reload_ok") == 0,
        "monitor_telegram_available": value(final, "monitor_telegram_available") == 1,
        # Presses on alert buttons need the bot's commands loop, off here: the counter must
        # stand still; it moves in test_feedback.py::test_a_press_is_stored_answered_and_shown.
        "monitor_feedback_presses": not any(
            moved("monitor_feedback_presses_total", choice=c) for c in ("relevant", "not_relevant", "mute", "ignored")
        ),
        "monitor_retention_pruned": value(final, "monitor_retention_pruned_total", kind="alerts") > pruned_before,
    }
    # (prometheus_client adds a "<counter>_created" timestamp beside each counter: not a metric of ours)
    exported = {f.name for f in text_string_to_metric_families(final_text) if not f.name.endswith("_created")}
    assert exported == set(checks), f"metrics without a check here: {exported - set(checks)}; gone: {set(checks) - exported}"
    assert [name for name, ok in checks.items() if not ok] == [], final_text


# -- nothing blocks the event loop ------------------------------------------------------


async def test_no_database_statement_runs_on_the_event_loop(tmp_path, site, fake):
    """Every store call goes through a thread: a slow or locked database must not
    freeze polls, the sender, /healthz and the bot at once."""
    site.add("/wire.xml", rss([("1", "Rockets hit Camp Taji"), ("2", "Camp Taji again")]), "application/rss+xml")
    config = config_for(
        tmp_path,
        [{"url": site.url("/wire.xml"), "interval": "0.3s"}],
        service={"health_port": 0},
        telegram=telegram_section(fake),
    )
    from monitor.store import Store

    store = Store(f"sqlite:///{tmp_path / 'monitor.db'}")
    store.subscribers.register(str(SUBSCRIBER), None)
    store.subscribers.subscribe(str(SUBSCRIBER), ["camp-taji"])
    store.close()
    on_loop: list[str] = []
    async with running(config) as monitor:
        loop_thread = threading.get_ident()

        @event.listens_for(monitor.store.database.engine, "before_cursor_execute")
        def spy(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001 - SQLAlchemy's hook signature
            if threading.get_ident() == loop_thread:
                on_loop.append(statement.split("\n")[0][:80])

        port = await health_port(monitor)
        await until(lambda: len(fake.sent_messages(SUBSCRIBER)) == 2 and len(fake.sent_messages(CHANNEL)) == 2)
        fake.push_message(SUBSCRIBER, "/list")
        await until(lambda: len(fake.sent_messages(SUBSCRIBER)) == 3)
        await get(port, "/healthz")
        await get(port, "/metrics")
        await until(lambda: site.hits("/wire.xml") >= 3)
        event.remove(monitor.store.database.engine, "before_cursor_execute", spy)
    assert on_loop == []


# -- operator notices reach the admins through the Bot API ---------------------------------


async def test_broken_feeds_and_rejected_edits_reach_the_admins_on_telegram(tmp_path, site, fake):
    admin = 7007
    fake.add_chat(admin, "private")
    hits: list[int] = []

    def flaky(handler):
        hits.append(1)
        if len(hits) == 1:
            return Response(rss([("q", "Quiet news")]), 200, {"Content-Type": "application/rss+xml"})
        return Response(b"down", 500, {"Content-Type": "text/plain"})

    site.routes["/flaky.xml"] = flaky
    config = config_for(
        tmp_path,
        [{"url": site.url("/flaky.xml"), "name": "Flaky", "interval": "0.2s"}],
        service={"reload_check": "0.2s"},
        defaults={"jitter": 0, "broken_after": "0.3s", "max_backoff": "0.2s", "broken_retry": "0.2s"},
        telegram=telegram_section(fake, commands=False, admins=[admin]),
    )
    async with running(config):
        await asyncio.to_thread(fake.wait_for_messages, 1, 20.0, admin)
        [notice] = fake.sent_messages(admin)
        assert "Flaky" in notice.text and "broken since" in notice.text and "HTTP 500" in notice.text
        config.write_text(config.read_text() + "\nfeeds: [oops\n")
        await asyncio.to_thread(fake.wait_for_messages, 2, 20.0, admin)
        assert "config rejected" in fake.sent_messages(admin)[1].text
