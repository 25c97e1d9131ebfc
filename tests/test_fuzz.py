"""Property-based fuzzing of the text boundaries: parse_feed, html_to_text,
extract_text and canonical_url must accept anything a stranger can serve and give
back well-typed, clean values. (The matcher and the Telegram formatter are fuzzed
by their owners.) Crashes found here become the explicit regression tests at the end.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.ingest.extract import extract_text
from monitor.ingest.feeds import ParsedFeed, html_to_text, parse_feed
from monitor.ingest.identity import canonical_url

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

# Text pieces a hostile feed likes: markup, entities, CDATA ends, control chars, RTL, surrogate-ish junk.
nasty_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        ["<", ">", "&", "&amp;", "&nbsp;", "&#0;", "&#x110000;", "&#xD800;", "&bogus;", "]]>", "<![CDATA[", "<!--",
         "<script>alert(1)</script>", "<b>", "</item>", "<item>", "\x00", "\x1b[31m", "\u202e", "\ufeff", "كتائب حزب الله",
         "<!DOCTYPE x [<!ENTITY a 'b'>]>", "&a;", "%", "\r\n", "\t"]
    ),
)
fragment = st.lists(nasty_text, max_size=12).map("".join)
urlish = st.one_of(
    st.text(max_size=40),
    st.builds(
        lambda scheme, host, path, query: f"{scheme}{host}{path}{query}",
        st.sampled_from(["http://", "https://", "HTTP://", "javascript:", "file://", "//", "", "data:", "ftp://"]),
        st.sampled_from(["example.org", "www.x.example", "[::1]", "[::1", "127.0.0.1:99999", "a..b", "xn--zz", "ü.example", ""]),
        st.text(max_size=15),
        st.sampled_from(["", "?utm_source=x", "?a=1&a=2", "?%zz", "#frag", "?=&&="]),
    ),
)


@st.composite
def rss_documents(draw) -> bytes:
    items = "".join(
        f"<item><title>{draw(fragment)}</title><link>{draw(urlish)}</link><guid>{draw(fragment)}</guid>"
        f"<pubDate>{draw(st.sampled_from(['', 'Mon, 32 Foo 99999', 'Tue, 10 Jun 2003 04:00:00 GMT', draw(st.text(max_size=20))]))}</pubDate>"
        f"<description>{draw(fragment)}</description></item>"
        for _ in range(draw(st.integers(0, 4)))
    )
    doc = f'<?xml version="1.0"?><rss version="2.0"><channel><title>{draw(fragment)}</title><ttl>{draw(st.text(max_size=5))}</ttl>{items}</channel></rss>'
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "latin-1", "cp1252"]))
    raw = doc.encode(encoding, errors="replace")
    cut = draw(st.one_of(st.none(), st.integers(0, len(raw))))  # truncated downloads
    return raw if cut is None else raw[:cut]


@st.composite
def atom_documents(draw) -> bytes:
    entries = "".join(
        f'<entry><title type="{draw(st.sampled_from(["html", "xhtml", "text", "bogus"]))}">{draw(fragment)}</title>'
        f'<link href="{draw(urlish).replace(chr(34), "")}"/><id>{draw(fragment)}</id><updated>{draw(st.text(max_size=25))}</updated>'
        f'<content type="html">{draw(fragment)}</content></entry>'
        for _ in range(draw(st.integers(0, 3)))
    )
    return f'<feed xmlns="http://www.w3.org/2005/Atom"><title>{draw(fragment)}</title>{entries}</feed>'.encode("utf-8", "surrogatepass")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@st.composite
def json_feeds(draw) -> bytes:
    import json

    items = draw(st.lists(st.one_of(json_values, st.fixed_dictionaries(
        {"id": json_values, "url": urlish, "title": st.one_of(fragment, json_values), "content_html": fragment,
         "date_published": st.text(max_size=30)})), max_size=4))
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": draw(json_values), "items": items}).encode()


def check_feed(feed: ParsedFeed) -> None:
    assert isinstance(feed, ParsedFeed)
    assert isinstance(feed.title, str) and not _CONTROL.search(feed.title)
    assert len(feed.entries) <= 20
    for entry in feed.entries:
        assert entry.guid or entry.url or entry.title
        assert isinstance(entry.title, str) and isinstance(entry.summary, str)
        assert not _CONTROL.search(entry.title + entry.summary)
        assert len(entry.summary) <= 500
        assert entry.url is None or urlsplit(entry.url).scheme in ("http", "https")


@FUZZ
@given(st.one_of(rss_documents(), atom_documents(), json_feeds(), st.binary(max_size=300)))
def test_parse_feed_never_raises(body):
    check_feed(parse_feed(body, "https://news.example/feed", max_items=20, max_text_chars=500))


@FUZZ
@given(fragment)
def test_html_to_text_gives_clean_text(html):
    text = html_to_text(html)
    assert isinstance(text, str)
    assert not _CONTROL.search(text)
    assert "<script>" not in text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.one_of(fragment.map(lambda f: f"<html><body><article><p>{f}</p></article></body></html>"), st.binary(max_size=500), fragment))
def test_extract_text_never_raises(page):
    text = extract_text(page, "https://news.example/a", max_chars=300)
    assert text is None or (isinstance(text, str) and 0 < len(text) <= 300)


@FUZZ
@given(urlish)
def test_canonical_url_never_raises_and_is_stable(url):
    once = canonical_url(url)
    assert isinstance(once, str)
    try:
        web = urlsplit(url.strip()).scheme.lower() in ("http", "https")
    except ValueError:  # canonical_url gives such URLs back as they are
        web = False
    if web:
        assert canonical_url(once) == once


# --- regressions found by fuzzing and review --------------------------------------------


def test_regression_lone_surrogates_and_invalid_char_refs():
    for html in ["<p>\ud800</p>", "&#xD800;", "&#x110000;", "&#0;", "<b>\x00</b>"]:
        assert isinstance(html_to_text(html), str)
    assert parse_feed("<rss><channel><item><title>\ud800</title></item></channel></rss>".encode("utf-8", "surrogatepass"), "https://x.example/")


def test_regression_deeply_nested_html():
    deep = "<div>" * 100_000 + "text" + "</div>" * 100_000
    assert "text" in html_to_text(deep) or html_to_text(deep) == ""
    assert extract_text(deep.encode()) is None or isinstance(extract_text(deep.encode()), str)


def test_regression_attribute_flood_does_not_stall_extraction():
    """One tag with 200,000 attributes kept trafilatura busy for ~3 minutes before the cap."""
    flood = b" ".join(b'a%d="x"' % i for i in range(200_000))
    page = b"<html><body><div " + flood + b"><p>" + b"Rockets hit Camp Taji north of Baghdad. " * 20 + b"</p></div></body></html>"
    assert "Camp Taji" in (extract_text(page) or "")


def test_regression_invalid_ipv6_link_is_dropped():
    doc = b'<rss version="2.0"><channel><item><title>t</title><link>http://[::1</link></item></channel></rss>'
    feed = parse_feed(doc, "https://x.example/")
    assert feed.entries[0].url is None
