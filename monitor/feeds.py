"""Feed bytes -> entries. feedparser for RSS/Atom/RDF, a small reader for JSON Feed.

feedparser never fetches here: it only ever gets bytes that monitor.fetch
downloaded under the network policy. Its HTML sanitiser and relative-URI
resolution are switched off because entry HTML is reduced to plain text here
and every value is escaped again when an alert is formatted.
"""

from __future__ import annotations

import calendar
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urljoin

import feedparser
import lxml.html
from lxml.etree import ParserError, XMLSyntaxError

_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WHITESPACE = re.compile(r"[ \t\r\f\v]+")


@dataclass(frozen=True)
class FeedEntry:
    guid: str | None
    url: str | None
    title: str
    summary: str  # plain text of the entry's content, else its summary
    published: datetime | None


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    entries: list[FeedEntry]
    ttl_seconds: float | None = None  # what the feed asks: <ttl>, sy:updatePeriod
    problems: list[str] = field(default_factory=list)  # salvaged, but worth a log line


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment (tags dropped, entities decoded, blocks on new lines)."""
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:
        return clean_text(fragment)
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
        for tag in root.iter("script", "style"):
            tag.drop_tree()
        for block in root.iter("p", "br", "div", "li", "h1", "h2", "h3", "h4", "tr", "blockquote"):
            block.tail = "\n" + (block.tail or "")
        text = root.text_content()
    except (ParserError, XMLSyntaxError, ValueError):
        text = re.sub(r"<[^>]*>", " ", fragment)
    return clean_text(text)


def clean_text(text: str) -> str:
    text = _CONTROL_CHARS.sub("", text)
    lines = (_WHITESPACE.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _datetime_from_struct(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=timezone.utc)
    except (OverflowError, ValueError, TypeError, OSError):
        return None


def _parse_iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


_PERIOD_SECONDS = {"hourly": 3600, "daily": 86400, "weekly": 604800, "monthly": 2592000, "yearly": 31536000}


def _declared_interval(feed: dict) -> float | None:
    ttl = feed.get("ttl")
    if isinstance(ttl, str) and ttl.strip().isdigit() and int(ttl) > 0:
        return int(ttl) * 60.0
    period = feed.get("sy_updateperiod")
    if isinstance(period, str) and period.strip().lower() in _PERIOD_SECONDS:
        frequency = feed.get("sy_updatefrequency", "1")
        try:
            times = max(1, int(str(frequency).strip()))
        except ValueError:
            times = 1
        return _PERIOD_SECONDS[period.strip().lower()] / times
    return None


def _looks_like_json(body: bytes) -> bool:
    head = body[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{")


def parse_feed(
    body: bytes,
    base_url: str,
    max_items: int = 200,
    max_text_chars: int = 200_000,
    content_type: str = "application/xml",
) -> ParsedFeed:
    """Parse a feed document; never raises for bad input, reports problems instead."""
    if _looks_like_json(body):
        return _parse_json_feed(body, base_url, max_items, max_text_chars)
    try:
        parsed = feedparser.parse(
            body,
            sanitize_html=False,
            resolve_relative_uris=False,
            response_headers={"content-location": base_url, "content-type": content_type or "application/xml"},
        )
    except Exception as exc:  # noqa: BLE001 - feedparser's failure modes are not enumerable
        return ParsedFeed("", [], problems=[f"feed could not be parsed: {type(exc).__name__}: {exc}"])
    problems = []
    if parsed.get("bozo"):
        problems.append(f"malformed feed, salvaged what parsed: {parsed.get('bozo_exception')}")
    if not parsed.get("version") and not parsed.entries:
        problems.append("not a feed (no RSS, Atom or JSON Feed found)")
    entries = []
    for raw in parsed.entries:
        if len(entries) >= max_items:
            problems.append(f"more than {max_items} items; kept the first {max_items}")
            break
        entry = _entry_from_feedparser(raw, base_url, max_text_chars)
        if entry is not None:
            entries.append(entry)
    feed = parsed.get("feed", {})
    return ParsedFeed(clean_text(feed.get("title", "") or "")[:300], entries, _declared_interval(feed), problems)


def _entry_from_feedparser(raw: dict, base_url: str, max_text_chars: int) -> FeedEntry | None:
    link = raw.get("link") or None
    if link:
        link = urljoin(base_url, link.strip())
    guid = raw.get("id") or None
    title = html_to_text(raw.get("title", "") or "")[:1000]
    content = ""
    for part in raw.get("content", []) or []:
        value = part.get("value", "") if isinstance(part, dict) else ""
        if len(value) > len(content):
            content = value
    summary = html_to_text((content or raw.get("summary", "") or "")[: max_text_chars * 4])[:max_text_chars]
    if not (guid or link or title):
        return None
    # dict.get: FeedParserDict.get maps the two keys onto each other, with a warning.
    published = _datetime_from_struct(dict.get(raw, "published_parsed") or dict.get(raw, "updated_parsed"))
    return FeedEntry(str(guid)[:2000] if guid else None, link, title, summary, published)


def _parse_json_feed(body: bytes, base_url: str, max_items: int, max_text_chars: int) -> ParsedFeed:
    try:
        doc = json.loads(body.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError) as exc:
        return ParsedFeed("", [], problems=[f"invalid JSON Feed: {exc}"])
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        return ParsedFeed("", [], problems=["JSON document is not a JSON Feed (no items list)"])
    problems = []
    entries = []
    for item in doc["items"]:
        if len(entries) >= max_items:
            problems.append(f"more than {max_items} items; kept the first {max_items}")
            break
        if not isinstance(item, dict):
            problems.append("skipped an item that is not an object")
            continue
        url = item.get("url") if isinstance(item.get("url"), str) else None
        guid = item.get("id")
        guid = str(guid) if isinstance(guid, (str, int)) and str(guid) else None
        title = html_to_text(item.get("title") if isinstance(item.get("title"), str) else "")[:1000]
        text = item.get("content_text") if isinstance(item.get("content_text"), str) else ""
        if not text and isinstance(item.get("content_html"), str):
            text = html_to_text(item["content_html"][: max_text_chars * 4])
        if not text and isinstance(item.get("summary"), str):
            text = clean_text(item["summary"])
        if not (guid or url or title):
            problems.append("skipped an item with no id, url or title")
            continue
        published = _parse_iso(item.get("date_published")) or _parse_iso(item.get("date_modified"))
        entries.append(
            FeedEntry(guid, urljoin(base_url, url) if url else None, title, clean_text(text)[:max_text_chars], published)
        )
    title = doc.get("title") if isinstance(doc.get("title"), str) else ""
    return ParsedFeed(clean_text(title)[:300], entries, None, problems)
