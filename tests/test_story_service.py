"""Stories in the assembled service: several outlets reporting one event give one story
and one channel alert; a restart between the reports changes nothing; a story that
gains an entity a subscriber follows reaches that subscriber as a new message.

From outside: the configuration the CLI reads, `monitor run --once` (the CLI's own
object), the local feed server, a real SQLite file, and for Telegram the fake Bot
API. The reports are our own writing, modelled on wire reporting of rocket attacks.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape


from conftest import write_config
from monitor.cli import main
from monitor.notify import CONSOLE_CHAT

NOW = datetime.now(timezone.utc)

# One event (rockets on Ain al-Asad), three outlets, three wordings.
ASAD_WIRE = (
    "Eight rockets hit Ain al-Asad air base as coalition troops sheltered",
    "Eight rockets struck the Ain al-Asad air base in Anbar province on Tuesday evening, wounding two contractors, "
    "the U.S.-led coalition said. Air-raid sirens sounded across the base, which hosts American and Iraqi forces, "
    "and troops took shelter in bunkers until the all-clear.",
)
ASAD_DAILY = (
    "Ain al-Asad base targeted in rocket attack, two wounded",
    "A rocket attack targeted the Ain al-Asad airbase in western Anbar on Tuesday. Eight projectiles landed inside "
    "the perimeter and two civilian contractors were wounded, according to a coalition statement issued in Baghdad.",
)
ASAD_FRENCH = (
    "Huit roquettes s'abattent sur la base d'Ain al-Asad",
    "Huit roquettes ont frappé mardi soir la base aérienne d'Ain al-Asad, dans la province d'Anbar, blessant deux "
    "sous-traitants civils, a annoncé la coalition menée par les États-Unis.",
)
# Another event, no entity in common with the first.
SDF_RAID = (
    "SDF raid captures Islamic State cell leader in Deir ez-Zor",
    "The Syrian Democratic Forces said on Tuesday they captured a senior Islamic State cell leader in a night raid "
    "east of Deir ez-Zor, with support from coalition helicopters. Three other suspects were detained.",
)
# A later report of the Ain al-Asad story that also names Kataeb Hezbollah (in its text).
ASAD_WITH_KH = (
    "Ain al-Asad rocket attack: contractors wounded, base damaged",
    "Eight rockets struck the Ain al-Asad air base in Anbar on Tuesday, wounding two contractors. Officials said "
    "the launchers were found near Baghdadi and pointed to Kataeb Hezbollah, which has fired on the base before.",
)


def rss(site, outlet: str, reports: list[tuple[str, tuple[str, str], float]], language: str | None = None) -> str:
    """An RSS feed of `reports` (guid, (title, text), minutes ago), newest first."""
    items = "".join(
        f"<item><title>{escape(title)}</title><link>{site.url('/' + guid + '.html')}</link><guid>{guid}</guid>"
        f"<pubDate>{format_datetime(NOW - timedelta(minutes=ago))}</pubDate><description>{escape(text)}</description></item>"
        for guid, (title, text), ago in sorted(reports, key=lambda r: r[2])
    )
    lang = f"<language>{language}</language>" if language else ""
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{outlet}</title>{lang}{items}</channel></rss>'


def serve(site, path: str, outlet: str, reports, language: str | None = None) -> dict:
    site.add(path, rss(site, outlet, reports, language), "application/rss+xml")
    return {"url": site.url(path), "name": outlet}


FETCH = {"allowed_networks": ["127.0.0.0/8"], "fetch_pages": False}


def run_once(config: Path) -> None:
    assert main(["--config", str(config), "run", "--once"]) == 0


def rows(db: Path, query: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


def stories_of(db: Path) -> dict[int, list[str]]:
    """Story id -> titles of its articles, in order of arrival."""
    found: dict[int, list[str]] = {}
    for story_id, title in rows(db, "SELECT story_id, title FROM items WHERE story_id IS NOT NULL ORDER BY id"):
        found.setdefault(story_id, []).append(title)
    return found


def test_three_outlets_one_event_and_another_event_give_two_stories_and_two_channel_alerts(tmp_path, site, capsys):
    feeds = [
        serve(site, "/wire.xml", "Tigris Wire", [("wire-1", ASAD_WIRE, 30)]),
        serve(site, "/daily.xml", "Baghdad Daily", [("daily-1", ASAD_DAILY, 20)]),
        serve(site, "/presse.xml", "Presse Levant", [("presse-1", ASAD_FRENCH, 10)], language="fr"),
        serve(site, "/syria.xml", "Euphrates Monitor", [("syria-1", SDF_RAID, 15)]),
    ]
    db = tmp_path / "monitor.db"
    run_once(write_config(tmp_path, feeds, fetch=FETCH))

    grouped = stories_of(db)
    assert sorted(len(titles) for titles in grouped.values()) == [1, 3]
    assert [SDF_RAID[0]] in grouped.values()
    # The channel (the console without a token) got one alert per story, not per article.
    alerted = rows(db, "SELECT i.title FROM alerts a JOIN items i ON i.id = a.item_id WHERE a.chat_id = '%s'" % CONSOLE_CHAT)
    assert len(alerted) == 2
    out = capsys.readouterr().out
    assert out.count("Euphrates Monitor") == 1
    # The story row: three articles, revision 3 (1 + one per article that joined), the French one's language kept.
    (count, revision, entities), = rows(db, "SELECT article_count, revision, entities FROM stories WHERE article_count = 3")
    assert (count, revision) == (3, 3) and "ain-al-asad-airbase" in json.loads(entities)
    assert ("fr",) in rows(db, "SELECT lang FROM items WHERE url LIKE '%presse-1%'")


def test_a_restart_between_the_reports_still_joins_the_later_one(tmp_path, site):
    feeds = [serve(site, "/wire.xml", "Tigris Wire", [("wire-1", ASAD_WIRE, 30)])]
    db = tmp_path / "monitor.db"
    config = write_config(tmp_path, feeds, fetch=FETCH)
    run_once(config)  # one process: the first report opens the story and alerts
    feeds.append(serve(site, "/daily.xml", "Baghdad Daily", [("daily-1", ASAD_DAILY, 20)]))
    config = write_config(tmp_path, feeds, fetch=FETCH)
    run_once(config)  # another process: its assigner is rebuilt from the database

    grouped = stories_of(db)
    assert list(grouped.values()) == [[ASAD_WIRE[0], ASAD_DAILY[0]]]
    assert len(rows(db, "SELECT id FROM alerts")) == 1
    ((layer, joined_with, wire_id),) = rows(
        db, "SELECT d.story_layer, d.story_joined_with, w.id FROM items d, items w WHERE d.url LIKE '%daily-1%' AND w.url LIKE '%wire-1%'"
    )
    assert layer in ("evidence", "same-language") and joined_with == wire_id


def test_stories_can_be_switched_off(tmp_path, site):
    feeds = [
        serve(site, "/wire.xml", "Tigris Wire", [("wire-1", ASAD_WIRE, 30)]),
        serve(site, "/daily.xml", "Baghdad Daily", [("daily-1", ASAD_DAILY, 20)]),
    ]
    db = tmp_path / "monitor.db"
    run_once(write_config(tmp_path, feeds, fetch=FETCH, stories={"enabled": False}))
    assert stories_of(db) == {} and len(rows(db, "SELECT id FROM alerts")) == 2
