"""Observability: /healthz and /metrics over real HTTP from a running service,
the health verdict, `monitor stats` after failures, and the token redaction of
httpx / python-telegram-bot style log records."""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest

from conftest import Response, running
from monitor.cli import main
from monitor.ops.health import verdict
from test_service import config_for, rss, until

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


async def _get(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False) as client:
        return await client.get(f"http://127.0.0.1:{port}{path}", timeout=5)


async def test_healthz_and_metrics_from_a_running_service(tmp_path, site):
    site.add("/ok.xml", rss([("1", "Rockets hit Camp Taji")]), "application/rss+xml", ETag='"e"')
    site.routes["/down.xml"] = works_then_fails(503)
    config = config_for(
        tmp_path,
        [{"url": site.url("/ok.xml"), "interval": "0.3s"}, {"url": site.url("/down.xml"), "interval": "0.3s"}],
        service={"health_port": 0, "degraded_broken_share": 0.25},
        defaults={"broken_after": "0.5s", "max_backoff": "0.3s", "broken_retry": "0.3s"},
    )
    async with running(config) as monitor:
        await until(lambda: monitor.health_server is not None)
        port = monitor.health_server.port
        await until(lambda: site.hits("/ok.xml") >= 1)
        first = await _get(port, "/healthz")
        assert first.status_code == 200
        assert first.json()["checks"]["scheduler"] == "running" and first.json()["checks"]["database"] == "ok"

        # One of two feeds broken (50% > 25%): degraded, with the reason.
        await until(lambda: site.hits("/down.xml") >= 6)
        health = (await _get(port, "/healthz")).json()
        assert health["status"] == "degraded"
        assert any("1 of 2 feeds broken" in r for r in health["reasons"])
        assert health["checks"]["telegram"] == "not configured"

        # Telegram with the real delivery wired in: tests/test_telegram_wiring.py.

        text = (await _get(port, "/metrics")).text
        assert 'monitor_polls_total{status="ok"}' in text
        assert 'monitor_poll_errors_total{kind="http_status"}' in text
        assert 'monitor_http_errors_total{code="503"}' in text
        assert 'monitor_matches_total{entity="camp-taji"}' in text
        assert "monitor_poll_duration_seconds_bucket" in text
        assert "monitor_alert_queue_depth" in text and "monitor_feeds_broken 1.0" in text
        assert 'monitor_alerts{status="sent"} 1.0' in text
        assert (await _get(port, "/nope")).status_code == 404
    # After the stop the scheduler is reported as not running: failing (503).
    assert (await monitor.health()).http_status == 503


def test_verdict_ok_degraded_failing():
    assert verdict(scheduler_running=True, database_ok=True, feeds=10).status == "ok"
    few = verdict(scheduler_running=True, database_ok=True, feeds=10, broken_feeds=2, degraded_share=0.25)
    assert few.status == "ok" and few.checks["broken_share"] == 0.2
    many = verdict(scheduler_running=True, database_ok=True, feeds=10, broken_feeds=3, degraded_share=0.25)
    assert many.status == "degraded" and many.http_status == 200
    db = verdict(scheduler_running=True, database_ok=False, database_error="disk I/O error", feeds=0)
    # The service reconnects by itself (a restart would not bring the database back): degraded.
    assert db.status == "degraded" and db.http_status == 200 and "disk I/O error" in db.reasons[0]
    assert json.loads(verdict(scheduler_running=False, database_ok=True).to_json())["status"] == "failing"


async def test_stats_shows_error_streak_broken_and_matches(tmp_path, site, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich folds table cells on narrow terminals
    site.add("/ok.xml", rss([("1", "Rockets hit Camp Taji")]), "application/rss+xml")
    site.routes["/down.xml"] = works_then_fails(500)
    config = config_for(
        tmp_path,
        [{"url": site.url("/ok.xml"), "name": "Good"}, {"url": site.url("/down.xml"), "name": "Bad", "interval": "0.2s"}],
        defaults={"broken_after": "0.3s", "max_backoff": "0.2s", "broken_retry": "0.2s", "jitter": 0},
    )
    async with running(config):
        await until(lambda: site.hits("/down.xml") >= 6)
    capsys.readouterr()
    assert main(["--config", str(config), "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    feeds = {f["name"]: f for f in stats["feeds"]}
    assert feeds["Bad"]["broken"] and feeds["Bad"]["error_streak"] >= 3 and feeds["Bad"]["error"] == "HTTP 500"
    assert feeds["Good"]["status"] == "ok" and feeds["Good"]["items"] == 1 and feeds["Good"]["matched_items"] == 1
    assert stats["entities"] == {"camp-taji": {"24h": 1, "7d": 1}}
    assert main(["--config", str(config), "stats"]) == 0
    table = capsys.readouterr().out
    assert "Bad" in table and "(broken)" in table and "HTTP 500" in table


def works_then_fails(status: int):
    """A feed that worked once, then fails (the store counts "broken" from the last success)."""
    hits = []

    def answer(handler):
        hits.append(1)
        if len(hits) == 1:
            return Response(rss([("d", "Quiet news")]), 200, {"Content-Type": "application/rss+xml"})
        return Response(b"no", status, {"Content-Type": "text/plain"})

    return answer


def _capture_logs(fmt: str) -> io.StringIO:
    from monitor.ops.logs import configure_logging, redact

    stream = io.StringIO()
    configure_logging(fmt, stream=stream)
    redact.set_secrets([TOKEN])
    return stream


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_token_in_httpx_and_ptb_style_records_is_redacted(fmt, restore_logging):
    stream = _capture_logs(fmt)
    url = f"https://api.telegram.org/bot{TOKEN}/sendMessage"
    # httpx: logger "httpx", message with %-args (it logs at INFO; a WARNING gets through).
    logging.getLogger("httpx").warning('HTTP Request: %s %s "%s %d %s"', "POST", url, "HTTP/1.1", 200, "OK")
    # python-telegram-bot: logger "telegram.ext...", an exception whose text holds the URL.
    try:
        raise RuntimeError(f"Network error while calling {url}")
    except RuntimeError:
        logging.getLogger("telegram.ext.Updater").exception("Error while getting Updates: %s", url)
    out = stream.getvalue()
    assert TOKEN not in out and "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in out
    assert out.count("[REDACTED]") >= 3
    assert "sendMessage" in out and "Error while getting Updates" in out


def test_unregistered_token_shape_in_a_bot_url_is_redacted(restore_logging):
    stream = _capture_logs("json")
    unregistered = "987654321:ZZZdqTcvCH1vGWJxfSeofSAs0K5PALDxyz"  # made up, shaped like a real token
    logging.getLogger("telegram").error("retry %s", f"https://api.telegram.org/bot{unregistered}/getMe")
    assert "ZZZdqTcvCH1vGWJxfSeofSAs0K5PALDxyz" not in stream.getvalue()


@pytest.mark.parametrize("fmt", ["json"])
def test_structlog_lines_survive_the_redacting_filter(fmt, restore_logging, capsys):
    from monitor.ops.logs import get_logger

    stream = _capture_logs(fmt)
    get_logger("monitor.service.pipeline").info("poll", feed="https://example.org/rss", status="ok", new=2, duration=0.1, note=f"bot{TOKEN}")
    line = stream.getvalue().strip()
    assert "Logging error" not in capsys.readouterr().err
    record = json.loads(line)  # one JSON object per line
    assert record["event"] == "poll" and record["feed"] == "https://example.org/rss" and record["new"] == 2
    assert TOKEN not in line
