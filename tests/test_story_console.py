"""Stories without Telegram: the console cannot edit a printed alert, so when its story
grows the alert is printed again as it now stands ("Also reported by ..."), once per
growth; a report that joins a story prints no alert of its own.

From outside: `monitor run --once` against a local feed server, output read from stdout.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from conftest import write_config
from monitor.cli import main

WIRE_TEXT = (
    "Three rockets struck near the runway of Camp Taji north of Baghdad late on Tuesday, "
    "security officials said, adding that nobody was hurt and that Kataeb Hezbollah had "
    "not commented. A police source said the launchers were found in a field nearby."
)


def rss(site, title: str, entries: list[tuple[str, str, float]]) -> str:
    now = datetime.now(timezone.utc)
    items = "".join(
        f"<item><title>{headline}</title><guid>{guid}</guid><link>{site.url('/' + guid)}</link>"
        f"<pubDate>{format_datetime(now - timedelta(hours=age))}</pubDate><description>{WIRE_TEXT}</description></item>"
        for guid, headline, age in entries
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{items}</channel></rss>'


def run_once(config, capsys) -> str:
    assert main(["--config", str(config), "run", "--once"]) == 0
    return capsys.readouterr().out


def test_a_grown_story_is_printed_again_and_its_copy_prints_no_alert(tmp_path, site, capsys):
    site.add("/wire.xml", rss(site, "Wire", [("w1", "Rockets hit near Camp Taji runway", 2)]))
    site.add("/daily.xml", rss(site, "Daily", []))
    config = write_config(
        tmp_path,
        [{"url": site.url("/wire.xml"), "name": "Wire"}, {"url": site.url("/daily.xml"), "name": "Daily"}],
        fetch={"fetch_pages": False},
    )
    first = run_once(config, capsys)
    assert first.count("─ alert ─") == 1 and "Rockets hit near Camp Taji runway" in first and "Also reported by" not in first

    site.add("/daily.xml", rss(site, "Daily", [("d1", "Rockets strike Camp Taji, no casualties", 1)]))
    second = run_once(config, capsys)
    assert "grew" in second and "Also reported by Daily" in second and "2 reports in this story" in second
    assert "─ alert ─" not in second  # the copy joined the story: no alert of its own

    assert "grew" not in run_once(config, capsys)  # shown once per growth
