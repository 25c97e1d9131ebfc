"""Stories in the assembled service: several outlets reporting one event give one story
and one channel alert; a restart between the reports changes nothing; a story that
gains an entity a subscriber follows reaches that subscriber as a new message.

From outside: the configuration the CLI reads, `monitor run --once` (the CLI's own
object), the local feed server, a real SQLite file, and for Telegram the fake Bot
API. The reports are our own writing, modelled on wire reporting of rocket attacks.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape


from conftest import write_config
from monitor.cli import main
from monitor.config import load_settings
from monitor.notify import CONSOLE_CHAT
from monitor.store import Store

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


def three_outlets_and_another_event(tmp_path, site) -> tuple[Path, Path]:
    """The wire's report and the other event first, the two later reports in a second
    run (feeds of one run are polled at once, in no fixed order)."""
    feeds = [
        serve(site, "/wire.xml", "Tigris Wire", [("wire-1", ASAD_WIRE, 30)]),
        serve(site, "/syria.xml", "Euphrates Monitor", [("syria-1", SDF_RAID, 15)]),
    ]
    run_once(write_config(tmp_path, feeds, fetch=FETCH))
    feeds.append(serve(site, "/daily.xml", "Baghdad Daily", [("daily-1", ASAD_DAILY, 20)]))
    feeds.append(serve(site, "/presse.xml", "Presse Levant", [("presse-1", ASAD_FRENCH, 10)], language="fr"))
    config = write_config(tmp_path, feeds, fetch=FETCH)
    run_once(config)
    return config, tmp_path / "monitor.db"


def cli(capsys, config: Path, *args: str) -> tuple[int, str, str]:
    """What `monitor ARGS` prints and its exit status (argparse exits on bad usage)."""
    try:
        code = main(["--config", str(config), *args])
    except SystemExit as exit:
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


def test_recent_story_and_explain_from_the_command_line(tmp_path, site, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # a wide terminal: rich folds no cell
    config, db = three_outlets_and_another_event(tmp_path, site)
    capsys.readouterr()
    item = {name: rows(db, f"SELECT id FROM items WHERE url LIKE '%/{name}.html'")[0][0] for name in ("wire-1", "daily-1", "presse-1", "syria-1")}  # noqa: E501

    code, out, _ = cli(capsys, config, "recent", "--json")
    recent = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(recent) == 2
    asad = next(r for r in recent if r["articles"] == 3)
    assert asad["story"] == item["wire-1"] and asad["title"] == ASAD_WIRE[0]  # the first report leads
    assert asad["outlets"][0] == "Tigris Wire" and set(asad["outlets"]) == {"Tigris Wire", "Baghdad Daily", "Presse Levant"}
    assert sorted(asad["items"]) == sorted([item["wire-1"], item["daily-1"], item["presse-1"]])
    code, out, _ = cli(capsys, config, "recent")
    assert code == 0 and "Recent stories" in out and "Euphrates Monitor" in out and "Tigris Wire, " in out

    code, out, _ = cli(capsys, config, "story", str(asad["story"]))
    assert code == 0 and f"Story {asad['story']}" in out and "3 article(s) from 3 outlet(s)" in out
    for title in (ASAD_WIRE[0], ASAD_DAILY[0], ASAD_FRENCH[0]):
        assert title in out
    assert "first report" in out and "evidence" in out
    code, out, _ = cli(capsys, config, "story", str(asad["story"]), "--json")
    story = json.loads(out)
    assert [a["outlet"] for a in story["articles"]] == asad["outlets"] and story["revision"] == 3
    assert story["articles"][0]["joined_by"] == "new" and story["articles"][0]["item"] == item["wire-1"]
    assert {a["language"] for a in story["articles"]} == {"fr", None}  # declared by the French feed only

    code, out, _ = cli(capsys, config, "stories", "--explain", str(item["daily-1"]), str(item["wire-1"]))
    assert code == 0
    assert f"item {item['daily-1']}: {ASAD_DAILY[0]} (Baghdad Daily" in out and f"story {item['wire-1']}" in out
    assert f"A {item['daily-1']} / B {item['wire-1']}: JOIN" in out
    # The order given does not matter: the later-stored article is the arriving one.
    code, out, _ = cli(capsys, config, "stories", "--explain", str(item["wire-1"]), str(item["syria-1"]))
    assert (code, out) == cli(capsys, config, "stories", "--explain", str(item["syria-1"]), str(item["wire-1"]))[:2]
    later, earlier = sorted((item["wire-1"], item["syria-1"]), reverse=True)  # stored in one run, in either order
    assert code == 0 and f"A {later} / B {earlier}: SEPARATE: no tracked entity in common" in out


def test_bad_story_ids_are_one_line_and_an_exit_code(tmp_path, site, capsys):
    config, db = three_outlets_and_another_event(tmp_path, site)
    capsys.readouterr()
    code, out, err = cli(capsys, config, "story", "9999")
    assert (code, out) == (1, "") and err.startswith("monitor: no story 9999") and err.count("\n") == 1
    code, out, err = cli(capsys, config, "story", "abc")
    assert (code, out) == (2, "") and "'abc' is not a number" in err and err.count("\n") == 1
    code, out, err = cli(capsys, config, "stories", "--explain", "1", "9999")
    assert (code, out) == (1, "") and err == "monitor: no stored item 9999 (item ids are in `monitor story ID` and `monitor recent --json`)\n"
    code, out, err = cli(capsys, config, "stories", "--explain", "1")
    assert code == 2 and err.count("\n") == 1
    code, out, err = cli(capsys, config, "stories", "--explain", "2", "2")
    assert code == 2 and "two different items" in err


CHANNEL_ID = -1001000000001
FOLLOWS_KH = 7001  # follows Kataeb Hezbollah only
FOLLOWS_ASAD = 7002  # follows Ain al-Asad only


def test_a_subscriber_gets_a_new_message_when_the_story_gains_an_entity_they_follow(tmp_path, site, fake_telegram):
    fake_telegram.add_chat(CHANNEL_ID, "channel", username="iraq_watch")
    for chat in (FOLLOWS_KH, FOLLOWS_ASAD):
        fake_telegram.add_chat(chat, "private")
    fake_telegram.set_rate_limits(None)
    telegram = {"token": fake_telegram.token, "channel": "@iraq_watch", "api_base_url": fake_telegram.base_url, "commands": False}
    feeds = [serve(site, "/wire.xml", "Tigris Wire", [("wire-1", ASAD_WIRE, 30)])]
    db = tmp_path / "monitor.db"
    store = Store(f"sqlite:///{db}")
    for chat, entity in ((FOLLOWS_KH, "kataeb-hezbollah"), (FOLLOWS_ASAD, "ain-al-asad-airbase")):
        store.subscribers.register(str(chat), None)
        store.subscribers.subscribe(str(chat), (entity,))
    store.close()

    run_once(write_config(tmp_path, feeds, fetch=FETCH, telegram=telegram))
    assert len(fake_telegram.sent_messages(CHANNEL_ID)) == 1
    assert len(fake_telegram.sent_messages(FOLLOWS_ASAD)) == 1
    assert fake_telegram.sent_messages(FOLLOWS_KH) == []

    # Another outlet's report joins the story and brings Kataeb Hezbollah.
    feeds.append(serve(site, "/daily.xml", "Baghdad Daily", [("daily-2", ASAD_WITH_KH, 10)]))
    run_once(write_config(tmp_path, feeds, fetch=FETCH, telegram=telegram))
    assert len(stories_of(db)) == 1
    (kh_message,) = fake_telegram.sent_messages(FOLLOWS_KH)
    assert ASAD_WITH_KH[0] in kh_message.text
    # Nothing new for the channel or the subscriber who already has the story.
    assert len(fake_telegram.calls_to("sendMessage")) == 3
    assert rows(db, "SELECT chat_id FROM alerts ORDER BY id")[-1] == (str(FOLLOWS_KH),)


async def test_the_bots_recent_lists_stories(tmp_path, site, fake_telegram):
    from test_bot import Conversation, start_bot

    await asyncio.to_thread(three_outlets_and_another_event, tmp_path, site)  # `run --once` has its own event loop
    fake_telegram.set_rate_limits(None)
    fake_telegram.add_channel("@iraq_watch", CHANNEL_ID)
    telegram = {"token": fake_telegram.token, "channel": "@iraq_watch", "api_base_url": fake_telegram.base_url}
    settings = load_settings(write_config(tmp_path, [], telegram=telegram))
    store = Store(settings.config.storage.url)
    delivery = await start_bot(settings, store)
    try:
        talk = Conversation(fake_telegram)
        answer = await talk.say(FOLLOWS_KH, "/recent")
        lines = answer.splitlines()
        assert len(lines) == 4  # two stories, two lines each
        asad = lines.index(next(line for line in lines if ASAD_WIRE[0] in line))
        assert lines[asad + 1].startswith("  3 reports · Tigris Wire, ") and "Ain al-Asad" in lines[asad + 1]
        assert any(line.startswith("  1 report · Euphrates Monitor") for line in lines)
        answer = await talk.say(FOLLOWS_KH, "/recent syrian-democratic-forces")
        assert SDF_RAID[0] in answer and ASAD_WIRE[0] not in answer
    finally:
        await delivery.stop()
        store.close()


def test_a_bad_stories_section_is_rejected_with_file_line_and_field(tmp_path, capsys):
    config = write_config(tmp_path, stories={"join_window": "96h", "max_story_age": "72h"})
    code, out, err = cli(capsys, config, "check-config")
    assert code == 2 and out == ""
    assert "monitor.yaml:" in err and "stories" in err and "join_window must not be longer than max_story_age" in err
    config = write_config(tmp_path, stories={"same_language_treshold": 0.4})  # a typo is an error, not ignored
    code, out, err = cli(capsys, config, "check-config")
    assert code == 2 and "same_language_treshold" in err
    config = write_config(tmp_path, stories={"enabled": False, "join_window": "12h"})
    code, out, err = cli(capsys, config, "check-config")
    assert code == 0, err


def test_commands_that_place_no_story_do_not_load_the_story_libraries(tmp_path):
    """NumPy and datasketch (about 60 MB resident) are loaded by the first placement, not
    by `monitor match`, `recent` or by importing the service."""
    import subprocess
    import sys

    from conftest import REPO

    config = write_config(tmp_path)
    probe = (
        "import sys\n"
        "from monitor.cli import main\n"
        f"main(['--config', {str(config)!r}, 'match', '-'])\n"
        f"main(['--config', {str(config)!r}, 'recent'])\n"
        "import monitor.service.lifecycle\n"
        "print(sorted(m for m in ('numpy', 'datasketch', 'monitor.stories') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], input="Rockets hit Camp Taji", capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
