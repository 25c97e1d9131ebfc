"""Main-text extraction: what a page gives the matcher.

Real news pages (../shared/data/news-pages: captures from trafilatura's test suite,
Apache-2.0, provenance in that folder's README/manifest) score the tuning; the small
pages below are our own writing and show one behaviour each. End-to-end checks run
`monitor run --once` against a local HTTP server.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from datetime import datetime, timezone
from email.utils import format_datetime

from monitor.cli import main
from monitor.ingest.extract import best_text, extract_text
from conftest import Response, write_config

# Two paragraphs of our own reporting-style text, long enough to count as an article.
STORY = [
    "Iraqi engineers began clearing the runway of the airfield on Monday after the last foreign trainers "
    "left, the provincial governor told reporters at a ceremony attended by tribal elders and army officers.",
    "The governor said the site would host a civilian cargo terminal within two years, and that contractors "
    "from three provinces had already submitted bids to repair the hangars and the control tower.",
]


def article(*, head: str = "", paragraphs: list[str] = STORY) -> bytes:
    """A news page as many sites build one: head, navigation, article, footer."""
    body = "".join(f"<p>{text}</p>" for text in paragraphs)
    return (
        f"<!doctype html><html><head><title>Runway works begin</title>{head}</head><body>"
        "<nav><ul><li><a href='/'>Home</a></li><li><a href='/world'>World</a></li>"
        "<li><a href='/sport'>Sport</a></li><li><a href='/weather'>Weather</a></li></ul></nav>"
        f"<main><article><h1>Runway works begin</h1>{body}</article></main>"
        "<footer><p>© Example News. All rights reserved.</p></footer></body></html>"
    ).encode()


# --- real pages ---------------------------------------------------------------------------


def _page(shared_data, entry) -> bytes:
    raw = (shared_data / "news-pages" / entry["file"]).read_bytes()
    return gzip.decompress(raw) if entry["file"].endswith(".gz") else raw


def test_on_189_real_pages_article_text_is_kept_at_least_as_well_as_by_trafilatura_defaults(shared_data):
    manifest = json.loads((shared_data / "news-pages" / "manifest.json").read_text())
    kept = expected_in = left_out = expected_out = 0
    for entry in manifest:
        text = extract_text(_page(shared_data, entry), entry.get("url")) or ""
        expected_in += len(entry["with"])
        expected_out += len(entry["without"])
        kept += sum(1 for snippet in entry["with"] if snippet in text)
        left_out += sum(1 for snippet in entry["without"] if snippet not in text)
    # trafilatura's defaults on the same pages: 0.960 kept, 0.921 left out
    # (benchmarks/extraction.py measures both; upstream itself does not meet every expectation).
    assert kept / expected_in >= 0.96, f"{kept}/{expected_in} article snippets kept"
    assert left_out / expected_out >= 0.92, f"{left_out}/{expected_out} boilerplate snippets left out"


# --- behaviour on pages of our own ----------------------------------------------------------


def test_article_is_kept_and_navigation_cookie_banner_and_footer_are_dropped():
    banner = (
        "<div id='cookie-consent' class='cookie-banner'><p>We use cookies to improve your experience. "
        "Accept all or manage your preferences.</p><button>Accept all</button></div>"
    )
    page = article().replace(b"<body>", b"<body>" + banner.encode())
    text = extract_text(page, "https://news.example/runway")
    assert text is not None
    assert STORY[0] in text and STORY[1] in text
    for boilerplate in ("We use cookies", "Accept all", "Weather", "All rights reserved"):
        assert boilerplate not in text


def test_names_inside_links_stay_in_their_sentence():
    linked = (
        "Officials from <span class='link'><a href='/topic/kataeb'>Kataeb Hezbollah</a></span> and "
        "<span class='link'><a href='/topic/pmf'>the Popular Mobilization Forces</a></span> attended the ceremony "
        "but did not speak to the press, according to two people who were present."
    )
    text = extract_text(article(paragraphs=[*STORY, linked]), "https://news.example/runway") or ""
    assert "Officials from Kataeb Hezbollah and the Popular Mobilization Forces attended" in text


def test_the_outlets_own_summary_leads_the_text_when_the_page_body_lacks_it():
    summary = "Rockets struck near Camp Taji hours before the handover, the coalition said."
    page = article(head=f'<meta property="og:description" content="{summary}">')
    text = extract_text(page, "https://news.example/runway") or ""
    assert text.startswith(summary) and STORY[0] in text
    # Already in the article: not repeated.
    page = article(head=f'<meta property="og:description" content="{STORY[0]}">')
    assert (extract_text(page, "https://news.example/runway") or "").count(STORY[0]) == 1


def test_a_share_card_summary_wins_over_a_site_slogan_and_a_truncated_one_is_completed():
    slogan = "The first digital newspaper of the valley, since 1999."
    lead = "Rockets struck near Camp Taji hours before the handover, the coalition said in a statement on Sunday."
    both = f'<meta name="description" content="{slogan}"><meta property="og:description" content="{lead}">'
    page = article(head=both)
    text = extract_text(page) or ""
    assert lead in text and slogan not in text
    truncated = lead[:40] + "..."
    page = article(head=f'<meta property="og:description" content="{truncated}"><meta name="description" content="{lead}">')
    text = extract_text(page) or ""
    assert text.startswith(lead) and truncated not in text


def test_a_page_rendered_by_javascript_gives_its_structured_article_body():
    structured = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebSite", "name": "Example News"},
            {"@type": "NewsArticle", "headline": "Runway works begin", "articleBody": "".join(f"<p>{p}</p>" for p in STORY)},
        ],
    }
    page = (
        "<!doctype html><html><head><title>Runway works begin</title>"
        f'<script type="application/ld+json">{json.dumps(structured)}</script></head>'
        "<body><div id='app'>Loading…</div><script src='/app.js'></script></body></html>"
    ).encode()
    text = extract_text(page) or ""
    assert STORY[0] in text and STORY[1] in text and "<p>" not in text


def test_a_banner_only_page_gives_none():
    page = b"<html><body><div class='cookie'>We use cookies. Accept all?</div></body></html>"
    assert extract_text(page, "https://x.example/") is None


def test_hostile_pages_give_none_or_text_never_an_error():
    deep_json = "[" * 100_000 + '"articleBody"' + "]" * 100_000
    broken = '{"articleBody": "unterminated'
    pages = [
        b"",
        b"\x00\x01\x02" * 1000,
        b"<html" * 5000,
        "<p>\ud800</p>",
        article(head=f'<script type="application/ld+json">{deep_json}</script>'),
        article(head=f'<script type="application/ld+json">{broken}</script>'),
        article(head='<meta property="og:description" content="">'),
    ]
    for page in pages:
        text = extract_text(page)
        assert text is None or isinstance(text, str)
    # The article of a page with broken structured data still comes through.
    assert STORY[0] in (extract_text(article(head=f'<script type="application/ld+json">{broken}</script>')) or "")


# --- the page's text together with the feed's own ---------------------------------------------


def test_best_text_adds_the_feed_lines_the_page_lacks():
    page = "The base was handed over to Iraqi forces on Thursday. " * 5
    assert best_text(page, page[:100]) == (page, "page")
    assert best_text(None, "Summary only") == ("Summary only", "feed")
    feed = "The base was handed over to Iraqi forces on Thursday.\nKataib Hezbollah claimed the attack."
    body, source = best_text(page, feed)
    assert source == "page+feed" and body == page + "\n\nKataib Hezbollah claimed the attack."


def test_best_text_keeps_the_feeds_mention_when_the_page_fills_the_budget():
    page = "Iraqi engineers cleared the runway. " * 100
    body, source = best_text(page, "Kataib Hezbollah claimed the attack.", max_chars=1000)
    assert source == "page+feed" and len(body) == 1000 and body.endswith("Kataib Hezbollah claimed the attack.")
    assert best_text(None, "x" * 2000, max_chars=1000)[0] == "x" * 1000


def _feed(site, items: list[tuple[str, str, str]]) -> str:
    published = format_datetime(datetime.now(timezone.utc))  # recent: alerted on the first poll
    entries = "".join(
        f"<item><title>{title}</title><link>{site.url(path)}</link><guid>{path}</guid>"
        f"<pubDate>{published}</pubDate><description>{summary}</description></item>"
        for title, path, summary in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>{entries}</channel></rss>'


def test_run_once_alerts_on_a_mention_only_in_the_standfirst_or_only_in_the_feed(tmp_path, site, capsys):
    html = "text/html; charset=utf-8"
    standfirst = "A drone struck the K1 air base near Kirkuk overnight, security officials said."
    site.routes["/standfirst.html"] = Response(
        article(head=f'<meta property="og:description" content="{standfirst}">'), 200, {"Content-Type": html}
    )
    long_story = STORY * 40  # far beyond the text budget below
    site.routes["/long.html"] = Response(article(paragraphs=long_story), 200, {"Content-Type": html})
    site.add(
        "/rss.xml",
        _feed(
            site,
            [
                ("Runway works begin", "/standfirst.html", "Works began on Monday."),
                ("Airfield to become cargo hub", "/long.html", "Kataib Hezbollah said it would not oppose the project."),
            ],
        ),
        "application/rss+xml",
    )
    # One alert per report, not per story (tests/test_story_*.py): both pages share their text.
    config = write_config(
        tmp_path, [{"url": site.url("/rss.xml"), "name": "Wire"}], fetch={"max_text_chars": 2000}, stories={"enabled": False}
    )

    code = main(["--config", str(config), "run", "--once"])
    out, err = capsys.readouterr()
    assert code == 0, err
    with sqlite3.connect(tmp_path / "monitor.db") as conn:
        entities = dict(
            conn.execute(
                "SELECT items.title, group_concat(DISTINCT entity_id) FROM matches"
                " JOIN items ON items.id = matches.item_id GROUP BY items.title"
            )
        )
        query = "SELECT body, body_source FROM items WHERE title = ?"
        body, source = conn.execute(query, ("Airfield to become cargo hub",)).fetchone()
    assert entities == {"Runway works begin": "k1-airbase", "Airfield to become cargo hub": "kataeb-hezbollah"}
    assert source == "page+feed" and len(body) == 2000
    assert body.endswith("Kataib Hezbollah said it would not oppose the project.")
    assert "K1" in out and "Kataeb Hezbollah" in out
