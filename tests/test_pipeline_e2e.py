"""End to end through a real local HTTP server: RSS, Atom and JSON Feed documents and
article pages, `monitor run --once`, the console sink and a real SQLite file.

The article texts here are our own writing, modelled on wire-service reporting.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from monitor.cli import main
from conftest import Response, write_config

NOW = datetime.now(timezone.utc)

PAGE_TAJI = """
Rocket fire struck Camp Taji, north of Baghdad, late on Wednesday, the U.S.-led coalition said in a statement.
Two contractors were lightly wounded when at least three rockets landed inside the perimeter of the base, which
hosts coalition trainers working with Iraqi forces. No group immediately claimed the attack, but Western officials
have in the past blamed Kataib Hezbollah, an Iran-aligned armed faction, for similar strikes on the installation.
Iraqi security forces later found the launch rails in an orchard east of the town, according to a police source.
"""

PAGE_FOOTBALL = """
The national football team beat its neighbours two goals to one in a qualifier played before a full stadium in Basra
on Tuesday night. The winning goal came in stoppage time from a free kick that curled over the wall and into the top
corner, sending thousands of supporters into the streets of the city to celebrate well past midnight.
"""

PAGE_QAYYARAH = """
Coalition forces completed the handover of Qayyarah Airfield West to the Iraqi army on Thursday, a coalition
spokesman said, the latest in a series of transfers as foreign troops consolidate at fewer sites. The airfield,
south of Mosul, was retaken from the Islamic State group in 2016 and served as a logistics hub for the campaign.
"""


def page(title: str, text: str) -> Response:
    paragraphs = "".join(f"<p>{line.strip()}</p>" for line in text.strip().splitlines())
    html = (
        f"<!doctype html><html><head><title>{title}</title></head><body><nav>Home | World | Sport</nav>"
        f"<article><h1>{title}</h1>{paragraphs}</article><footer>Accept cookies</footer></body></html>"
    )
    return Response(html.encode(), 200, {"Content-Type": "text/html; charset=utf-8"})


def rss(site, items: list[tuple[str, str, str]]) -> str:
    body = "".join(
        f"<item><title>{title}</title><link>{site.url(path)}</link><guid>{guid}</guid>"
        f"<pubDate>{format_datetime(NOW - timedelta(minutes=5))}</pubDate><description>{title}</description></item>"
        for guid, title, path in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>{body}</channel></rss>'


def build_site(site):
    site.routes["/news/taji.html"] = page("Rockets hit Iraq's Camp Taji", PAGE_TAJI)
    site.routes["/news/football.html"] = page("Late winner sends Iraq through", PAGE_FOOTBALL)
    site.routes["/news/qwest.html"] = page("Coalition hands over Q-West", PAGE_QAYYARAH)
    rss_items = [("wire-1", "Rockets hit Iraq's Camp Taji", "/news/taji.html"), ("wire-2", "Late winner sends Iraq through", "/news/football.html")]
    site.add("/rss.xml", rss(site, rss_items), "application/rss+xml")
    site.add(
        "/atom.xml",
        f"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Regional</title>
        <id>urn:regional</id><updated>{NOW.isoformat()}</updated>
        <entry><title>Coalition hands over Q-West</title><id>urn:regional:1</id>
        <link href="{site.url('/news/qwest.html')}"/><updated>{NOW.isoformat()}</updated>
        <summary>Handover at the airfield</summary></entry></feed>""",
        "application/atom+xml",
    )
    site.add(
        "/feed.json",
        json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": "Briefs",
                "items": [
                    {
                        "id": "brief-1",
                        "url": site.url("/news/missing.html"),  # the page 404s: the feed's own text is used
                        "title": "Militia statement",
                        "content_text": "A spokesman for the Popular Mobilization Forces denied any role in the attack.",
                        "date_published": NOW.isoformat(),
                    }
                ],
            }
        ),
        "application/feed+json",
    )
    return [
        {"url": site.url("/rss.xml"), "name": "Wire"},
        {"url": site.url("/atom.xml"), "name": "Regional"},
        {"url": site.url("/feed.json"), "name": "Briefs"},
    ]


def run_once(capsys, config) -> tuple[int, str, str]:
    code = main(["--config", str(config), "run", "--once"])
    out, err = capsys.readouterr()
    return code, out, err


def alerted_titles(db) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [
            row[0]
            for row in conn.execute(
                "SELECT items.title FROM alerts JOIN items ON items.id = alerts.item_id WHERE alerts.status = 'sent' ORDER BY items.title"
            )
        ]


def test_run_once_finds_exactly_the_matching_items_once(tmp_path, site, capsys):
    config = write_config(tmp_path, build_site(site))
    db = tmp_path / "monitor.db"

    code, out, err = run_once(capsys, config)
    assert code == 0, err
    assert alerted_titles(db) == ["Coalition hands over Q-West", "Militia statement", "Rockets hit Iraq's Camp Taji"]
    # The console shows title, link, entities and a snippet for each alert.
    assert "Rockets hit Iraq's Camp Taji" in out and site.url("/news/taji.html") in out
    assert "Kataeb Hezbollah" in out and "Taji" in out
    assert "Qayyarah" in out
    assert "Late winner" not in out
    # The unmatched football item is stored (for dedup) but not alerted.
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 4
        entities = {row[0] for row in conn.execute("SELECT DISTINCT entity_id FROM matches")}
    assert {"taji-base", "kataeb-hezbollah", "qayyarah-airbase", "hashed-al-shaabi"} <= entities
    assert "poll" in err  # one structured log line per poll

    code, out, err = run_once(capsys, config)
    assert code == 0
    assert "Nothing new" in err and out == ""
    assert len(alerted_titles(db)) == 3

    # A new entry appears in the RSS feed: found once, alerted once.
    site.routes["/news/k1.html"] = page(
        "Drone strikes near K1",
        "A drone attack targeted the K1 air base north-west of Kirkuk overnight, Iraqi officials said. "
        "The base hosts Iraqi counter-terrorism units and was used by coalition advisers until last year.",
    )
    site.add(
        "/rss.xml",
        rss(
            site,
            [
                ("wire-3", "Drone strikes near K1", "/news/k1.html"),
                ("wire-1", "Rockets hit Iraq's Camp Taji", "/news/taji.html"),
                ("wire-2", "Late winner sends Iraq through", "/news/football.html"),
            ],
        ),
        "application/rss+xml",
    )
    code, out, err = run_once(capsys, config)
    assert code == 0
    assert "Drone strikes near K1" in out and out.count("Drone strikes near K1") >= 1
    assert alerted_titles(db).count("Drone strikes near K1") == 1
    code, out, err = run_once(capsys, config)
    assert out == "" and "Nothing new" in err


def test_same_story_under_a_tracking_url_or_new_guid_is_not_new(tmp_path, site, capsys):
    site.routes["/news/taji.html"] = page("Rockets hit Iraq's Camp Taji", PAGE_TAJI)
    site.add("/a.xml", rss(site, [("a-1", "Rockets hit Iraq's Camp Taji", "/news/taji.html")]))
    config = write_config(tmp_path, [{"url": site.url("/a.xml"), "name": "A"}])
    assert run_once(capsys, config)[0] == 0
    # The publisher re-issues the item with a new GUID and a tracking parameter.
    body = rss(site, [("a-1-reissued", "Rockets hit Iraq's Camp Taji", "/news/taji.html")])
    site.add("/a.xml", body.replace("taji.html<", "taji.html?utm_source=rss&amp;utm_medium=feed<"))
    code, out, err = run_once(capsys, config)
    assert code == 0 and out == "" and "Nothing new" in err


def test_failing_feed_is_reported_and_the_others_still_alert(tmp_path, site, capsys):
    feeds = build_site(site)
    site.routes["/broken.xml"] = Response(b"oops", 500, {"Content-Type": "text/plain"})
    site.add("/junk.xml", b"\x89PNG\r\n\x1a\n binary junk served as RSS", "application/rss+xml")
    config = write_config(
        tmp_path,
        [{"url": site.url("/broken.xml"), "name": "Broken"}, {"url": site.url("/junk.xml"), "name": "Junk"}, *feeds],
    )
    code, out, err = run_once(capsys, config)
    assert code == 0
    assert "Rockets hit Iraq's Camp Taji" in out
    assert "HTTP 500" in err and "broken.xml" in err
    assert "junk.xml" in err and "feed failed" in err


def test_conditional_get_gives_not_modified_on_the_second_poll(tmp_path, site, capsys):
    body = rss(site, [("x-1", "Late winner sends Iraq through", "/news/football.html")]).encode()
    site.routes["/news/football.html"] = page("Late winner sends Iraq through", PAGE_FOOTBALL)

    def conditional(handler):
        if handler.headers.get("If-None-Match") == '"v1"':
            return Response(b"", 304, {"ETag": '"v1"'})
        return Response(body, 200, {"Content-Type": "application/rss+xml", "ETag": '"v1"'})

    site.routes["/c.xml"] = conditional
    config = write_config(tmp_path, [{"url": site.url("/c.xml"), "name": "C"}])
    run_once(capsys, config)
    run_once(capsys, config)
    requests = [headers for path, headers in site.requests if path == "/c.xml"]
    assert len(requests) == 2
    assert "if-none-match" not in requests[0] and requests[1]["if-none-match"] == '"v1"'
    with sqlite3.connect(tmp_path / "monitor.db") as conn:
        assert conn.execute("SELECT last_status FROM feeds").fetchone()[0] == "not_modified"


def test_default_network_policy_refuses_the_local_server(tmp_path, site, capsys):
    site.add("/rss.xml", rss(site, []))
    config = write_config(tmp_path, [{"url": site.url("/rss.xml")}], fetch={"allowed_networks": []})
    code, _, err = run_once(capsys, config)
    assert code == 0
    assert site.hits("/rss.xml") == 0
    assert "non-public address" in err


def test_old_items_on_a_first_poll_are_stored_by_identity_only(tmp_path, site, capsys):
    """Older than the backfill window on the first poll: remembered, not read (issue 15;
    tests/test_first_poll.py has the full story)."""
    site.routes["/news/taji.html"] = page("Rockets hit Iraq's Camp Taji", PAGE_TAJI)
    old = (NOW - timedelta(days=30)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    site.add(
        "/old.xml",
        f'<rss version="2.0"><channel><title>Old</title><item><title>Archive: Camp Taji</title>'
        f"<link>{site.url('/news/taji.html')}</link><guid>old-1</guid><pubDate>{old}</pubDate></item></channel></rss>",
    )
    config = write_config(tmp_path, [{"url": site.url("/old.xml")}])
    code, out, err = run_once(capsys, config)
    assert code == 0 and out == ""
    assert site.hits("/news/taji.html") == 0
    with sqlite3.connect(tmp_path / "monitor.db") as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM matches").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0


def test_recent_search_and_stats_after_a_run(tmp_path, site, capsys):
    config = write_config(tmp_path, build_site(site))
    run_once(capsys, config)
    assert main(["--config", str(config), "recent", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["title"] for r in rows} == {"Coalition hands over Q-West", "Militia statement", "Rockets hit Iraq's Camp Taji"}
    assert main(["--config", str(config), "search", "orchard"]) == 0
    assert "Camp Taji" in capsys.readouterr().out
    # Search input is text, not SQL or a LIKE pattern.
    for hostile in ["%", "_", "' OR 1=1 --", "taji'; DROP TABLE items; --"]:
        assert main(["--config", str(config), "search", "--json", hostile]) == 0
        assert capsys.readouterr().out == ""
    assert main(["--config", str(config), "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert {f["name"] for f in stats["feeds"]} == {"Wire", "Regional", "Briefs"}
    assert stats["entities"]["taji-base"] == {"24h": 1, "7d": 1}
    assert stats["alerts"] == {"sent": 3}
    assert main(["--config", str(config), "stats"]) == 0
    assert "Wire" in capsys.readouterr().out
