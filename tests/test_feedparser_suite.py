"""feedparser's own test suite (../shared/data/feedparser-tests: well-formed,
ill-formed, encodings, entities, JSON; BSD-2-Clause) and the real broken feeds
(../shared/data/real-feeds) through the product's parse path, monitor.feeds.parse_feed.

We do not re-check feedparser's `Expect:` lines (that is feedparser's job, and
several depend on its own HTTP fetching, which the product never uses). We check
the product's promises: no exception escapes, every entry is usable and clean,
and a document that was damaged says so in `problems` (the pipeline logs each
one as a `feed_problem` line). All 2,107 files run; it takes about 2 s.
"""

from __future__ import annotations

import codecs
import gzip
import json
import re
from collections import Counter
from pathlib import Path

import feedparser

from monitor.ingest.feeds import ParsedFeed, parse_feed

MAX_TEXT = 5_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _header_text(raw: bytes) -> str:
    """The leading test comment, decoded the way feedparser's runner does (BOM / first bytes)."""
    for bom, codec in ((codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF32_LE, "utf-32-le"),
                       (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF16_LE, "utf-16-le")):
        if raw.startswith(bom):
            return raw[len(bom):].decode(codec, errors="ignore")[:2000]
    return raw[:2000].decode("utf-8", errors="ignore")


def _content_type(raw: bytes) -> str:
    """What an HTTP case would have been served with (its Header: lines; text/xml by default)."""
    match = re.search(r"^Header:\s*Content-type:\s*(.+?)\s*$", _header_text(raw), re.IGNORECASE | re.MULTILINE)
    return match.group(1) if match else "text/xml"


def assert_usable(feed: ParsedFeed, where: str) -> None:
    assert isinstance(feed, ParsedFeed), where
    assert isinstance(feed.title, str) and not _CONTROL.search(feed.title), where
    assert all(isinstance(p, str) and p for p in feed.problems), where
    for entry in feed.entries:
        assert entry.guid or entry.url or entry.title, where
        for value in (entry.guid, entry.url, entry.title, entry.summary):
            assert value is None or isinstance(value, str), where
        assert not _CONTROL.search(entry.title + entry.summary), where
        assert entry.url is None or re.match(r"https?://", entry.url), (where, entry.url)
        assert len(entry.summary) <= MAX_TEXT and len(entry.title) <= 1000, where


def test_the_whole_feedparser_suite_goes_through_parse_feed(shared_data):
    root = shared_data / "feedparser-tests"
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".xml", ".json"))
    assert len(files) == 2107, "the README promises 2,106 .xml + 1 .json"
    counts: Counter[tuple[str, str]] = Counter()
    for path in files:
        rel = path.relative_to(root).as_posix()
        raw = path.read_bytes()
        # HTTP cases carry their Content-Type in Header: lines; we pass it instead of serving them.
        # The rest get parse_feed's default, as the pipeline does.
        extra = {"content_type": _content_type(raw)} if "http" in rel else {}
        feed = parse_feed(raw, f"http://127.0.0.1:8097/tests/{rel}", max_items=50, max_text_chars=MAX_TEXT, **extra)
        assert_usable(feed, rel)
        group = rel.split("/", 1)[0]
        counts[group, "files"] += 1
        counts[group, "with entries"] += bool(feed.entries)
        counts[group, "with problems"] += bool(feed.problems)

    # Most suite files test feed-level elements and have no entries at all; these
    # floors sit just under what feedparser 6.0.14 gives, to catch a parse path
    # that silently stops yielding entries.
    assert counts["wellformed", "with entries"] >= 230, counts
    assert counts["illformed", "with entries"] >= 5, counts
    assert counts["json", "with entries"] == 1, counts
    # Every entity-suite document is invalid XML (undeclared HTML entities): each one says so.
    assert counts["entities", "with problems"] == counts["entities", "files"] == 256, counts
    # Well-formed documents are not reported as broken, except the documented cases:
    # CDF (not a feed format we read) and DOCTYPEs declaring entities (never expanded).
    assert counts["wellformed", "with problems"] <= 10, counts


def test_entities_declared_in_a_doctype_are_reported_not_expanded(shared_data):
    raw = (shared_data / "feedparser-tests" / "wellformed" / "rss" / "entity_in_doctype.xml").read_bytes()
    feed = parse_feed(raw, "https://x.example/")
    # feedparser would expand &id;; the product deliberately never expands DTD entities.
    assert [e.guid for e in feed.entries] == ["&id;2006-05-04:/blog/"]
    assert any("entity declarations removed" in p for p in feed.problems)


def test_salvaged_documents_say_what_was_wrong(shared_data):
    """Every ill-formed document that still yields entries carries a problem line."""
    root = shared_data / "feedparser-tests"
    salvaged = 0
    for path in sorted((root / "illformed").rglob("*.xml")) + sorted((root / "encoding").rglob("bozo_*.xml")):
        raw = path.read_bytes()
        if not feedparser.parse(raw).bozo:
            continue
        feed = parse_feed(raw, "https://x.example/")
        assert feed.problems, path.name
        salvaged += bool(feed.entries)
    assert salvaged >= 3


def _real_feed_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def test_real_broken_feeds_are_salvaged_with_a_problem_line(shared_data):
    folder = shared_data / "real-feeds"
    sources = json.loads((folder / "sources.json").read_text())
    broken = with_entries = 0
    for source in sources:
        raw = _real_feed_bytes(folder / source["file"])
        feed = parse_feed(raw, "https://publisher.example/feed", max_text_chars=MAX_TEXT)
        assert_usable(feed, source["file"])
        with_entries += bool(feed.entries)
        if not raw.lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"{") and feedparser.parse(raw).bozo:
            broken += 1
            assert feed.problems, source["file"]
    assert broken >= 1 and with_entries >= len(sources) - 5
