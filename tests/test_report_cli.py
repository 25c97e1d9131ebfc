"""`monitor report` from outside: a real database filled through the store's write path
(SQLite file and PostgreSQL) or through `monitor run --once` against a local feed server,
then the command as a user runs it: the table, --json, --chart and its failures.

Articles are dated relative to the real clock, days apart, so no test depends on when
it runs; the period arithmetic itself is tested with a fixed clock in test_report.py.
"""

from __future__ import annotations

import io
import json
import struct
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from PIL import Image

from conftest import write_config
from monitor.cli import main
from monitor.store import FoundMention, NewItem, QueuedAlert, Store, utcnow

KH = ("kataeb-hezbollah", "Kataeb Hezbollah")
PMF = ("hashed-al-shaabi", "Hashed al-Shaabi (Popular Mobilization Forces)")
TAJI = ("taji-base", "Camp Taji")


def store_article(store: Store, feed_id: int, guid: str, published: datetime | None, *entities: tuple[str, str]) -> None:
    item = NewItem(feed_id, guid, f"https://news.example/{guid}", f"https://news.example/{guid}", f"Story {guid}", published, "text", "feed", None)
    mentions = [FoundMention(entity_id, name, name, 0, len(name)) for entity_id, name in entities]
    queued = [QueuedAlert("console", guid, guid)] if entities else []
    assert store.items.add(item, mentions, queued) is not None


def fill(url: str) -> datetime:
    """Eight items over ten days in three outlets; returns the time they were written."""
    store = Store(url)
    now = utcnow()
    wire = store.feeds.ensure("https://wire.example/rss", "Wire").id
    regional = store.feeds.ensure("https://regional.example/atom", "Regional").id
    unnamed = store.feeds.ensure("https://briefs.example/feed.json", "").id
    days = lambda n: now - timedelta(days=n)  # noqa: E731
    store_article(store, wire, "w1", days(1), KH, PMF)
    store_article(store, wire, "w2", days(2), KH)
    store_article(store, regional, "r1", days(2), KH, TAJI)
    store_article(store, regional, "r2", days(4), PMF)
    store_article(store, unnamed, "b1", None, TAJI)  # no date: counted when it was found
    store_article(store, unnamed, "b2", now + timedelta(days=3), KH)  # a wrong clock: counted when found
    store_article(store, wire, "w-old", days(10), KH)  # before the period
    store_article(store, wire, "w-football", days(1))  # matched nothing
    store.close()
    return now


def report(capsys, config, *args: str) -> tuple[int, str, str]:
    try:
        code = main(["--config", str(config), "report", *args])
    except SystemExit as exit:  # argparse refuses bad arguments by exiting, as the script does
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


def check_week(result: dict, written: datetime) -> None:
    assert result["articles"] == 6
    entities = {e["id"]: e for e in result["entities"]}
    assert [e["id"] for e in result["entities"]] == ["kataeb-hezbollah", "taji-base", "hashed-al-shaabi"]
    kh = entities["kataeb-hezbollah"]
    assert kh["articles"] == 4
    assert kh["outlets"] == [
        {"name": "Wire", "articles": 2},
        {"name": "briefs.example", "articles": 1},  # an unnamed feed shows its host
        {"name": "Regional", "articles": 1},
    ]
    assert kh["co_mentions"] == [
        {"id": "taji-base", "name": "Camp Taji", "articles": 1},
        {"id": "hashed-al-shaabi", "name": "Hashed al-Shaabi (Popular Mobilization Forces)", "articles": 1},
    ]
    assert entities["taji-base"]["articles"] == 2 and entities["hashed-al-shaabi"]["articles"] == 2
    assert entities["hashed-al-shaabi"]["co_mentions"] == [{"id": "kataeb-hezbollah", "name": "Kataeb Hezbollah", "articles": 1}]
    for entity in result["entities"]:
        assert list(entity["daily"]) == result["days"]
        assert sum(entity["daily"].values()) == entity["articles"]
    day = lambda n: (written - timedelta(days=n)).date().isoformat()  # noqa: E731
    assert kh["daily"][day(2)] == 2 and kh["daily"][day(1)] == 1  # (and b2 today)
    assert len(result["days"]) in (8, 9)  # 7 whole days and today (one more if midnight passed meanwhile)


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_json_counts_articles_outlets_and_co_mentions(database, request, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'monitor.db'}" if database == "sqlite" else request.getfixturevalue("postgres_url")
    written = fill(url)
    config = write_config(tmp_path, storage={"url": url})

    code, out, err = report(capsys, config, "--json")
    assert code == 0, err
    assert err == ""
    check_week(json.loads(out), written)

    code, out, err = report(capsys, config, "--since", "24h", "--json")
    assert code == 0
    last_day = json.loads(out)
    # w1 (one day ago to the second) has slipped out; b1 and b2 were found just now.
    assert last_day["articles"] == 2
    assert {e["id"]: e["articles"] for e in last_day["entities"]} == {"taji-base": 1, "kataeb-hezbollah": 1}


def test_the_table_shows_each_entity_with_its_outlets_and_company(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one line per row
    fill(f"sqlite:///{tmp_path / 'monitor.db'}")
    code, out, err = report(capsys, write_config(tmp_path))
    assert code == 0, err
    assert "6 article(s) naming tracked entities" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") == 6}
    assert set(rows) == {"Kataeb Hezbollah (kataeb-hezbollah)", "Camp Taji (taji-base)", "Hashed al-Shaabi (Popular Mobilization Forces) (hashed-al-shaabi)"}
    kh = [cell.strip() for cell in rows["Kataeb Hezbollah (kataeb-hezbollah)"].split("│")[1:-1]]
    assert kh == [
        "Kataeb Hezbollah (kataeb-hezbollah)",
        "4",
        "4",  # stored without stories: each article is its own
        "Wire 2, briefs.example 1, Regional 1",
        "Camp Taji 1, Hashed al-Shaabi (Popular Mobilization Forces) 1",
    ]


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the PNG signature and its IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def test_chart_is_a_phone_sized_png_and_the_report_still_prints(tmp_path, capsys):
    fill(f"sqlite:///{tmp_path / 'monitor.db'}")
    chart = tmp_path / "week.png"
    code, out, err = report(capsys, write_config(tmp_path), "--since", "7d", "--json", "--chart", str(chart))
    assert code == 0, err
    assert json.loads(out)["articles"] == 6
    data = chart.read_bytes()
    assert png_size(data) == (1080, 1080)
    Image.open(io.BytesIO(data)).verify()


def test_an_empty_database_gives_an_empty_report(tmp_path, capsys):
    config = write_config(tmp_path)  # the database file does not exist yet
    code, out, err = report(capsys, config)
    assert code == 0 and err == ""
    assert out.startswith("No tracked entity was mentioned in ")

    chart = tmp_path / "empty.png"
    code, out, err = report(capsys, config, "--json", "--chart", str(chart))
    assert code == 0 and err == ""
    result = json.loads(out)
    assert result["articles"] == 0 and result["entities"] == [] and len(result["days"]) in (8, 9)
    assert png_size(chart.read_bytes()) == (1080, 1080)


@pytest.mark.parametrize("since", ["7", "7x", "0d", "400d", "last week"])
def test_a_bad_period_is_one_line_and_exit_2(tmp_path, capsys, since):
    code, out, err = report(capsys, write_config(tmp_path), "--since", since)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--since" in err and since in err


def test_an_unwritable_chart_path_is_one_line_and_exit_2_with_nothing_printed(tmp_path, capsys):
    fill(f"sqlite:///{tmp_path / 'monitor.db'}")
    config = write_config(tmp_path)
    (tmp_path / "taken.png").mkdir()  # a folder where the file should go
    for path in (tmp_path / "no-such-folder" / "week.png", tmp_path / "taken.png"):
        code, out, err = report(capsys, config, "--json", "--chart", str(path))
        assert code == 2 and out == ""
        assert err.count("\n") == 1 and err.startswith(f"monitor: cannot write the chart to {path}: ")
    assert not (tmp_path / "no-such-folder").exists()

    code, out, err = report(capsys, config, "--chart", str(tmp_path / "week.jpg"))
    assert code == 2 and "ending in .png" in err and err.count("\n") == 1


def test_articles_found_by_a_real_run_are_reported_on_their_publication_days(tmp_path, site, capsys):
    """`monitor run --once` against a local feed whose entries span several days (a
    backfill window of 30 days, so that the first poll reads them all: older entries
    would be stored by identity only, unmatched)."""
    now = datetime.now(timezone.utc)
    entries = [
        ("a1", "Kataeb Hezbollah denies drone claim near Camp Taji", 0.2),
        ("a2", "Parliament debates the Popular Mobilization Forces budget", 1.5),
        ("a3", "Kataeb Hezbollah statement on the Popular Mobilization Forces", 3.5),
        ("a4", "Camp Taji handed to Iraqi army engineers", 5.5),
        ("a5", "Camp Taji ceremony remembered", 12),  # before the period
        ("a6", "Football: late winner in Basra", 1),  # matches nothing
    ]
    items = "".join(
        f"<item><title>{title}</title><guid>{guid}</guid><link>{site.url('/' + guid)}</link>"
        f"<pubDate>{format_datetime(now - timedelta(days=age))}</pubDate><description>{title}.</description></item>"
        for guid, title, age in entries
    )
    site.add("/rss.xml", f'<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>{items}</channel></rss>')
    config = write_config(
        tmp_path, [{"url": site.url("/rss.xml"), "name": "Desk"}], fetch={"fetch_pages": False}, defaults={"backfill": "30d"}
    )
    assert main(["--config", str(config), "run", "--once"]) == 0
    capsys.readouterr()

    code, out, err = report(capsys, config, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["articles"] == 4
    by_id = {e["id"]: e for e in result["entities"]}
    assert {k: e["articles"] for k, e in by_id.items()} == {"kataeb-hezbollah": 2, "taji-base": 2, "hashed-al-shaabi": 2}
    assert by_id["kataeb-hezbollah"]["outlets"] == [{"name": "Desk", "articles": 2}]
    assert [c["id"] for c in by_id["kataeb-hezbollah"]["co_mentions"]] == ["taji-base", "hashed-al-shaabi"]
    taji_days = {day for day, n in by_id["taji-base"]["daily"].items() if n}
    assert taji_days == {(now - timedelta(days=0.2)).date().isoformat(), (now - timedelta(days=5.5)).date().isoformat()}


def test_a_story_told_by_two_outlets_counts_as_one_story(tmp_path, site, capsys):
    """`monitor run --once`: a wire report and its reprint in another outlet are one story;
    an unrelated report the day before is another. Articles 3, stories 2."""
    now = datetime.now(timezone.utc)
    wire_text = (
        "Three rockets struck near the runway of Camp Taji north of Baghdad late on Tuesday, "
        "security officials said, adding that nobody was hurt and that Kataeb Hezbollah had "
        "not commented. A police source said the launchers were found in a field nearby."
    )
    other_text = "Kataeb Hezbollah held a rally in Basra on Monday to mark the anniversary of its founding."

    def feed(title: str, entries: list[tuple[str, str, str, float]]) -> str:
        items = "".join(
            f"<item><title>{headline}</title><guid>{guid}</guid><link>{site.url('/' + guid)}</link>"
            f"<pubDate>{format_datetime(now - timedelta(hours=age))}</pubDate><description>{text}</description></item>"
            for guid, headline, text, age in entries
        )
        return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{items}</channel></rss>'

    site.add("/wire.xml", feed("Wire", [
        ("w1", "Rockets hit near Camp Taji runway", wire_text, 2),
        ("w0", "Kataeb Hezbollah rally in Basra", other_text, 20),
    ]))
    site.add("/daily.xml", feed("Daily", [("d1", "Rockets hit near Camp Taji runway, no casualties", wire_text, 1.5)]))
    config = write_config(
        tmp_path,
        [{"url": site.url("/wire.xml"), "name": "Wire"}, {"url": site.url("/daily.xml"), "name": "Daily"}],
        fetch={"fetch_pages": False},
    )
    assert main(["--config", str(config), "run", "--once"]) == 0
    capsys.readouterr()

    code, out, err = report(capsys, config, "--json")
    assert code == 0, err
    kh = {e["id"]: e for e in json.loads(out)["entities"]}["kataeb-hezbollah"]
    assert (kh["articles"], kh["stories"]) == (3, 2)
    code, out, err = report(capsys, config)
    assert code == 0 and "stories" in out
