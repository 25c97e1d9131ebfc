"""A feed's first poll: its archive (entries older than `defaults.backfill`) is stored by
identity only — no page download, no matching, never an alert, now or later — while the
recent entries are read, matched and alerted as on any poll.

From outside: `monitor run --once` (the CLI, in process), a local feed server counting
the page requests, the console sink, the database file (SQLite, and PostgreSQL when
one is reachable).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime


from conftest import Response, database_rows, write_config
from monitor.cli import main

OLD = 50
ALERT_MARK = "╭─ alert"


def article(title: str, paragraph: str) -> Response:
    html = (
        f"<!doctype html><html><head><title>{title}</title></head><body><nav>Home | Region</nav>"
        f"<article><h1>{title}</h1><p>{paragraph}</p><p>{paragraph}</p></article></body></html>"
    )
    return Response(html.encode(), 200, {"Content-Type": "text/html; charset=utf-8"})


def old_story(n: int) -> tuple[str, str]:
    """Every fifth old story names Camp Taji: a match, had it been read."""
    if n % 5 == 0:
        return f"Rockets landed near Camp Taji, archive {n}", f"Archive report {n}: rockets struck near Camp Taji north of Baghdad."
    return f"Date harvest begins in Basra, archive {n}", f"Archive report {n}: growers in Basra began the date harvest early."


RECENT = [
    ("recent-1", "Drone strike reported near Ain al-Asad air base",
     "Officials at Ain al-Asad air base said a drone was shot down before dawn on Sunday."),
    ("recent-2", "Port of Umm Qasr extends its opening hours",
     "The port authority said ships will be handled around the clock from next month."),
    ("recent-3", "Kataeb Hezbollah rejects the talks on troop withdrawal",
     "A spokesman for Kataeb Hezbollah said the group would not take part in the talks."),
]


def serve(site, now: datetime, extra: list[tuple[str, str, str, datetime]] = ()) -> None:
    """The feed (newest first) and a page for every entry."""
    entries: list[tuple[str, str, str, datetime]] = list(extra)
    entries += [(guid, title, para, now - timedelta(minutes=10 * (i + 1))) for i, (guid, title, para) in enumerate(RECENT)]
    for n in range(OLD):
        title, para = old_story(n)
        entries.append((f"old-{n}", title, para, now - timedelta(days=2 + n)))
    items = []
    for guid, title, para, published in entries:
        site.routes[f"/news/{guid}.html"] = article(title, para)
        items.append(
            f"<item><title>{title}</title><link>{site.url(f'/news/{guid}.html')}</link><guid isPermaLink='false'>{guid}</guid>"
            f"<pubDate>{format_datetime(published)}</pubDate><description>{para}</description></item>"
        )
    site.add("/desk.xml", f'<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title>{"".join(items)}</channel></rss>')


def page_requests(site) -> list[str]:
    return [path for path, _ in site.requests if path.startswith("/news/")]


def run_once(config, capsys) -> str:
    assert main(["--config", str(config), "run", "--once"]) == 0
    return capsys.readouterr().out


def test_a_first_poll_reads_only_the_recent_entries_and_never_alerts_the_archive(tmp_path, site, capsys, database_url):
    now = datetime.now(timezone.utc)
    serve(site, now)
    config = write_config(tmp_path, [{"url": site.url("/desk.xml"), "name": "Desk"}], storage={"url": database_url})

    first = run_once(config, capsys)
    # The three recent entries are downloaded and read; none of the 50 old ones.
    assert sorted(page_requests(site)) == sorted(f"/news/{guid}.html" for guid, _, _ in RECENT)
    # Alerts for the two recent matching entries only, none for the ten old mentions of Camp Taji.
    assert first.count(ALERT_MARK) == 2
    assert "Ain al-Asad" in first and "Kataeb Hezbollah rejects" in first
    assert "archive" not in first
    # All 53 identities are stored; the old ones without text and without matches.
    stored = dict(database_rows(database_url, "SELECT guid, body FROM items"))
    assert set(stored) == {f"old-{n}" for n in range(OLD)} | {guid for guid, _, _ in RECENT}
    assert all(stored[f"old-{n}"] == "" for n in range(OLD))
    matched = {guid for (guid,) in database_rows(database_url, "SELECT DISTINCT i.guid FROM matches m JOIN items i ON i.id = m.item_id")}
    assert matched == {"recent-1", "recent-3"}

    # The same feed again: nothing to download, nothing to alert.
    requests_before = len(page_requests(site))
    second = run_once(config, capsys)
    assert len(page_requests(site)) == requests_before
    assert second.count(ALERT_MARK) == 0

    # Later the feed publishes one new story and moves an old Camp Taji report to the top
    # (edited, with a fresh date): only the new story is read and alerted. An old entry
    # stays known whatever the feed does with it.
    later = now + timedelta(minutes=30)
    serve(site, now, extra=[
        ("fresh-1", "Rocket attack on Camp Taji wounds two contractors",
         "Two contractors were wounded when rockets hit Camp Taji on Monday evening.", later),
        ("old-10", "UPDATED: Rockets landed near Camp Taji, archive 10", "Archive report 10, updated today.", later),
    ])
    third = run_once(config, capsys)
    assert page_requests(site)[requests_before:] == ["/news/fresh-1.html"]
    assert third.count(ALERT_MARK) == 1 and "wounds two contractors" in third
    assert database_rows(database_url, "SELECT count(*) FROM items") == [(OLD + len(RECENT) + 1,)]
    assert database_rows(database_url, "SELECT count(*) FROM alerts") == [(3,)]


def test_undated_entries_on_a_first_poll_count_as_old(tmp_path, site, capsys):
    """Without a date an entry cannot be shown to be recent: on the first poll it is
    remembered, not read (as before, it was never alerted)."""
    site.routes["/news/undated.html"] = article("Rockets hit Camp Taji", "Rockets hit Camp Taji overnight.")
    site.add(
        "/desk.xml",
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Desk</title><item><title>Rockets hit Camp Taji</title>'
        f"<link>{site.url('/news/undated.html')}</link><guid isPermaLink='false'>undated</guid></item></channel></rss>",
    )
    config = write_config(tmp_path, [{"url": site.url("/desk.xml"), "name": "Desk"}])
    assert run_once(config, capsys).count(ALERT_MARK) == 0
    assert page_requests(site) == []
    assert database_rows(f"sqlite:///{tmp_path / 'monitor.db'}", "SELECT guid FROM items") == [("undated",)]


def test_an_old_entry_two_feeds_carry_is_stored_once(tmp_path, site, capsys, database_url):
    """Two new feeds list the same old article (each with its own GUID): one identity,
    known by its canonical URL, and no error on the second feed's first poll."""
    published = format_datetime(datetime.now(timezone.utc) - timedelta(days=5))
    for name in ("a", "b"):
        site.add(
            f"/{name}.xml",
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title><item><title>Old report</title>'
            f"<link>{site.url('/news/shared.html')}</link><guid isPermaLink='false'>{name}-1</guid>"
            f"<pubDate>{published}</pubDate></item></channel></rss>",
        )
    config = write_config(tmp_path, [{"url": site.url("/a.xml")}, {"url": site.url("/b.xml")}], storage={"url": database_url})
    run_once(config, capsys)
    assert database_rows(database_url, "SELECT count(*) FROM items") == [(1,)]
    assert database_rows(database_url, "SELECT count(*) FROM feeds WHERE last_status = 'ok'") == [(2,)]
    assert page_requests(site) == []
