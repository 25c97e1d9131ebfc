"""The parse path on real publisher feeds (../shared/data/real-feeds: MIT / Apache-2.0
fixtures of feed-rs, RSParser, rss-parser, feedjira, node-feedparser and Miniflux;
per-file provenance and licences in that folder's sources.json and licenses/)."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest

from monitor.ingest.feeds import html_to_text, parse_feed


def _feed_bytes(path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def test_every_real_feed_parses_without_an_exception(shared_data):
    sources = json.loads((shared_data / "real-feeds" / "sources.json").read_text())
    parsed_with_entries = 0
    for source in sources:
        feed = parse_feed(_feed_bytes(shared_data / "real-feeds" / source["file"]), "https://publisher.example/feed")
        for entry in feed.entries:
            assert entry.guid or entry.url or entry.title
            assert "<p>" not in entry.summary and "\x00" not in entry.summary
        parsed_with_entries += bool(feed.entries)
    # A handful are deliberately broken or empty; the rest must yield entries.
    assert parsed_with_entries >= len(sources) - 5


def test_bbc_rss_entries(shared_data):
    feed = parse_feed((shared_data / "real-feeds" / "feed-rs__rss_2.0_bbc.xml").read_bytes(), "https://www.bbc.co.uk/")
    assert feed.entries and feed.problems == []
    first = feed.entries[0]
    assert first.title and first.url.startswith("http")
    assert first.published is not None and first.published.tzinfo is not None


def test_windows_1251_feed_is_decoded(shared_data):
    feed = parse_feed((shared_data / "real-feeds" / "miniflux__encoding_WINDOWS-1251.xml").read_bytes(), "https://x.example/")
    assert feed.entries
    text = " ".join(e.title + e.summary for e in feed.entries)
    assert any("\u0400" <= ch <= "\u04ff" for ch in text), "Cyrillic text expected"


def test_urdu_rtl_feed_keeps_its_script(shared_data):
    feed = parse_feed((shared_data / "real-feeds" / "miniflux__urdu_UTF8.xml").read_bytes(), "https://x.example/")
    assert feed.entries
    assert any("\u0600" <= ch <= "\u06ff" for ch in feed.entries[0].title + feed.entries[0].summary)


def test_json_feed(shared_data):
    feed = parse_feed((shared_data / "real-feeds" / "rsparser__DaringFireball.json").read_bytes(), "https://daringfireball.net/")
    assert len(feed.entries) > 5
    assert all(e.url and e.url.startswith("https://") for e in feed.entries)
    assert feed.title == "Daring Fireball"


def test_truncated_feed_is_salvaged_with_a_problem_reported(shared_data):
    feed = parse_feed((shared_data / "real-feeds" / "feed-rs__rss_2.0_invalid_1.xml").read_bytes(), "https://x.example/")
    assert feed.problems  # said what was wrong, did not raise


def test_relative_links_resolve_against_the_feed_url():
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
    <item><title>Rockets near Camp Taji</title><link>/world/taji</link><guid>g1</guid></item></channel></rss>"""
    feed = parse_feed(body, "https://news.example.org/rss.xml")
    assert feed.entries[0].url == "https://news.example.org/world/taji"


def test_ttl_and_update_period_are_read():
    rss = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><ttl>45</ttl>
    <item><title>x</title><guid>1</guid></item></channel></rss>"""
    assert parse_feed(rss, "https://x.example/").ttl_seconds == 45 * 60
    rdf = b"""<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    xmlns="http://purl.org/rss/1.0/" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">
    <channel rdf:about="x"><title>T</title><sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency></channel>
    <item rdf:about="https://x.example/1"><title>One</title><link>https://x.example/1</link></item></rdf:RDF>"""
    assert parse_feed(rdf, "https://x.example/").ttl_seconds == 1800


def test_item_limit_is_enforced_and_reported():
    items = "".join(f"<item><title>n{i}</title><guid>{i}</guid></item>" for i in range(50))
    feed = parse_feed(f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode(), "https://x.example/", max_items=10)
    assert len(feed.entries) == 10
    assert any("more than 10 items" in p for p in feed.problems)


@pytest.mark.parametrize("junk", [b"", b"\x00\xff\xfe binary", b"<html><body>not a feed</body></html>", b"{\"items\": 3}", b"{bad json"])
def test_junk_is_a_problem_not_an_exception(junk):
    feed = parse_feed(junk, "https://x.example/")
    assert feed.entries == []
    assert feed.problems


def test_html_to_text_drops_markup_and_scripts():
    text = html_to_text("<p>Rockets hit <b>Camp&nbsp;Taji</b></p><script>alert(1)</script><p>Second &amp; last</p>")
    assert text == "Rockets hit Camp\xa0Taji\nSecond & last"


def test_json_feed_dates_with_an_offset_are_read_as_utc():
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Baghdad desk",
        "items": [{"id": "a1", "url": "https://x.example/a1", "title": "Rockets near the base",
                   "content_text": "Two rockets landed.", "date_published": "2026-12-06T10:00:00+03:00"}],
    }
    feed = parse_feed(json.dumps(doc).encode(), "https://x.example/feed.json")
    published = feed.entries[0].published
    assert published is not None and published.utcoffset() == dt.timedelta(0)
    assert published == dt.datetime(2026, 12, 6, 7, 0, tzinfo=dt.timezone.utc)
