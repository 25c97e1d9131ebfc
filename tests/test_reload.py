"""Live configuration through a running service: watchlist and feed edits apply
without a restart; a broken edit is rejected (file, line, field; admin notice)
while the previous config keeps matching; SIGHUP reloads."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import yaml

from conftest import Response, running
from fake_telegram import CHANNEL, SUBSCRIBER
from monitor.ops import metrics
from monitor.config import load_settings
from monitor.service.reload import ConfigWatcher, load_runtime, restart_only_changes
from test_service import WATCHLIST_YAML, config_for, rss, until
from test_telegram_wiring import telegram_section

WITH_ZORBLAX = WATCHLIST_YAML + """\
  - id: zorblax
    name: Zorblax Brigade
    aliases: [Zorblax Brigade]
"""

BROKEN = WATCHLIST_YAML + """\
  - id: broken-entity
    nmae: Typo In The Key
    aliases: [Something]
"""


def rejected_reloads() -> float:
    return metrics.REGISTRY.get_sample_value("monitor_config_reloads_total", {"result": "rejected"}) or 0.0


def alerted(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT items.title FROM alerts JOIN items ON items.id = alerts.item_id ORDER BY alerts.id")]


def serve_items(site, path: str, items: list[tuple[str, str]]) -> None:
    site.routes[path] = Response(rss(items), 200, {"Content-Type": "application/rss+xml"})


def save(path: Path, text: str) -> None:
    """Write as an editor would, and make sure the mtime moves even on coarse clocks."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


async def test_watchlist_edit_applies_live_and_broken_edit_is_rejected(tmp_path, site):
    items = [("1", "Rockets hit Camp Taji")]
    serve_items(site, "/w.xml", items)
    config = config_for(tmp_path, [{"url": site.url("/w.xml"), "interval": "0.2s"}], service={"reload_check": "0.2s"})
    db = tmp_path / "monitor.db"
    watchlist = tmp_path / "watchlist.yaml"
    notices: list[str] = []
    rejected_before = rejected_reloads()
    async with running(config, notices) as monitor:
        await until(lambda: alerted(db) == ["Rockets hit Camp Taji"])

        # Not watched yet: stored, no alert.
        items.insert(0, ("2", "Zorblax Brigade claims attack"))
        serve_items(site, "/w.xml", items)
        await until(lambda: site.hits("/w.xml") >= 4)
        assert alerted(db) == ["Rockets hit Camp Taji"]

        save(watchlist, WITH_ZORBLAX)
        await until(lambda: "zorblax" in {e.id for e in monitor.runtime.settings.watchlist.entities})
        items.insert(0, ("3", "Zorblax Brigade denies it"))
        serve_items(site, "/w.xml", items)
        await until(lambda: "Zorblax Brigade denies it" in alerted(db))

        # A broken edit: rejected with file, line and field; the old watchlist keeps matching.
        save(watchlist, BROKEN)
        await until(lambda: any("config rejected" in n for n in notices))
        notice = next(n for n in notices if "config rejected" in n)
        assert "watchlist.yaml:7: entities[1].nmae" in notice
        assert "previous configuration keeps running" in notice
        assert rejected_reloads() == rejected_before + 1
        items.insert(0, ("4", "Zorblax Brigade again, near Camp Taji"))
        serve_items(site, "/w.xml", items)
        await until(lambda: "Zorblax Brigade again, near Camp Taji" in alerted(db))
        assert (await monitor.health()).status == "degraded"
        # Reported once, not at every check (the watcher looks every 0.2 s, as often as the feed is polled).
        polled = site.hits("/w.xml")
        await until(lambda: site.hits("/w.xml") >= polled + 4)
        assert sum("config rejected" in n for n in notices) == 1

        # Fixing it applies again.
        save(watchlist, WATCHLIST_YAML)
        await until(lambda: "zorblax" not in {e.id for e in monitor.runtime.settings.watchlist.entities})
        assert (await monitor.health()).status == "ok"


async def test_feeds_added_removed_and_retimed_live_and_sighup_reloads(tmp_path, site):
    serve_items(site, "/a.xml", [("a", "Quiet")])
    serve_items(site, "/b.xml", [("b", "Quiet")])
    serve_items(site, "/tick.xml", [("t", "Quiet")])  # polled all along: shows that time passed
    tick = {"url": site.url("/tick.xml"), "interval": "0.1s"}
    config = config_for(tmp_path, [{"url": site.url("/a.xml"), "interval": "0.2s"}, tick], service={"reload_check": "1h"})
    async with running(config) as monitor:
        await until(lambda: site.hits("/a.xml") >= 2)
        text = config.read_text(encoding="utf-8")
        # Swap feed a for feed b (slow), then make b fast; the file watcher is off (1 h): SIGHUP.
        save(config, text.replace("/a.xml", "/b.xml").replace("interval: 0.2s", "interval: 1h"))
        os.kill(os.getpid(), signal.SIGHUP)
        await until(lambda: site.url("/a.xml") not in [f.url for f in monitor.runtime.settings.config.feeds])
        await until(lambda: site.hits("/b.xml") >= 1)
        a_hits, ticks = site.hits("/a.xml"), site.hits("/tick.xml")
        await until(lambda: site.hits("/tick.xml") >= ticks + 6)
        assert site.hits("/a.xml") == a_hits  # removed: no more polls
        assert site.hits("/b.xml") == 1  # 1 h interval
        save(config, text.replace("/a.xml", "/b.xml"))
        assert await monitor.reload("test")
        await until(lambda: site.hits("/b.xml") >= 3)  # shortened interval applies now


def test_watcher_ignores_touch_and_reports_a_rejected_content_once(tmp_path, site):
    config = config_for(tmp_path, [])
    settings = load_settings(config)
    watcher = ConfigWatcher(settings)
    assert not watcher.changed()
    os.utime(config, ns=(1, 1))  # touched, same content
    assert not watcher.changed()
    save(config, config.read_text() + "\n# comment\n")
    assert watcher.changed()
    watcher.rejected()
    assert not watcher.changed()  # same rejected content: not again
    save(config, config.read_text() + "# another\n")
    assert watcher.changed()
    watcher.accepted(load_runtime(config).settings)
    assert not watcher.changed()


def test_check_config_and_reload_give_the_same_verdict(tmp_path):
    from monitor.cli import main
    from monitor.config import ConfigError

    config = config_for(tmp_path, [])
    (tmp_path / "watchlist.yaml").write_text(BROKEN, encoding="utf-8")
    try:
        load_runtime(config)
    except ConfigError as exc:
        reload_verdict = str(exc)
    else:
        raise AssertionError("broken watchlist accepted")
    assert main(["--config", str(config), "check-config"]) == 2
    assert "nmae" in reload_verdict


async def test_telegram_settings_apply_live_and_the_bot_offers_the_new_watchlist(tmp_path, site, fake):
    """Link previews, the watchlist the bot offers and the admins change with a reload;
    commands on/off is named as needing a restart (the bot is built at start)."""
    items = [("1", "Rockets hit Camp Taji")]
    serve_items(site, "/w.xml", items)
    config = config_for(
        tmp_path, [{"url": site.url("/w.xml"), "interval": "0.2s"}], service={"reload_check": "0.2s"},
        telegram=telegram_section(fake),
    )
    watchlist = tmp_path / "watchlist.yaml"

    def alerts() -> list:
        return [c for c in fake.calls_to("sendMessage") if c.chat_id == CHANNEL]

    async with running(config) as monitor:
        await until(lambda: len(alerts()) == 1)
        assert alerts()[0].params["link_preview_options"]["is_disabled"] is True  # the default: no previews
        fake.push_message(SUBSCRIBER, "/entities")
        await until(lambda: len(fake.sent_messages(SUBSCRIBER)) == 1)
        assert "Zorblax" not in fake.sent_messages(SUBSCRIBER)[0].text

        edited = yaml.safe_load(config.read_text(encoding="utf-8"))
        edited["telegram"]["link_preview"] = True
        edited["telegram"]["admins"] = [SUBSCRIBER]
        save(watchlist, WITH_ZORBLAX)
        save(config, yaml.safe_dump(edited))
        await until(lambda: monitor.runtime.settings.config.telegram.link_preview)

        items.insert(0, ("2", "Zorblax Brigade claims attack"))
        serve_items(site, "/w.xml", items)
        await until(lambda: len(alerts()) == 2)
        assert alerts()[1].params["link_preview_options"]["is_disabled"] is False
        fake.push_message(SUBSCRIBER, "/entities")
        await until(lambda: len(fake.sent_messages(SUBSCRIBER)) == 2)
        assert "Zorblax Brigade" in fake.sent_messages(SUBSCRIBER)[1].text
        # The admins are the new ones: a rejected edit is reported to them.
        save(watchlist, BROKEN)
        await until(lambda: any("config rejected" in m.text for m in fake.sent_messages(SUBSCRIBER)))

    save(watchlist, WATCHLIST_YAML)
    current = load_settings(config)
    commands_off = yaml.safe_load(config.read_text(encoding="utf-8"))
    commands_off["telegram"]["commands"] = False
    commands_off["telegram"]["rate_limits"] = {"per_chat_per_second": 0.5}  # applied live: not named
    save(config, yaml.safe_dump(commands_off))
    assert restart_only_changes(current, load_settings(config)) == ["telegram.commands"]
