"""Feed bytes -> entries. feedparser for RSS/Atom/RDF, a small reader for JSON Feed.

feedparser never fetches or opens anything here: it only ever gets a stream of
bytes that monitor.ingest.fetch downloaded under the network policy (given plain bytes,
feedparser 6 first tries them as a *file name*: a server answering "/etc/passwd"
or "/dev/zero" would make it read that file). Its HTML sanitiser and
relative-URI resolution are switched off because entry HTML is reduced to plain
text here and every value is escaped again when an alert is formatted.

XML attacks: a DOCTYPE internal subset (where entities are declared: billion
laughs, external entities such as file:///etc/passwd, parameter entities) is
removed before parsing and reported as a problem, so no entity is ever
expanded, no file read and no DTD fetched, whatever the expat version does.
References to the removed entities stay as literal text.
"""

from __future__ import annotations

import calendar
import io
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

# A DOCTYPE with an internal subset, quote-aware so that '>' or ']' inside an
# entity value does not end it early.
_DOCTYPE_WITH_SUBSET = re.compile(
    r"""<!DOCTYPE(?:"[^"]*"|'[^']*'|[^>\["'])*\[(?:"[^"]*"|'[^']*'|<!--.*?-->|[^\]"'])*\]\s*>""",
    re.IGNORECASE | re.DOTALL,
)
_ENTITY_DECLARATION = re.compile(r"""<!ENTITY(?:"[^"]*"|'[^']*'|[^>"'])*>?""", re.IGNORECASE)
_FIRST_ELEMENT = re.compile(r"<[A-Za-z_]")
# Byte patterns that announce a UTF-16/UTF-32 document (BOM or "<" / "<?" in that form).
_WIDE_CODECS = [
    (b"\x00\x00\xfe\xff", "utf-32-be", 4),
    (b"\xff\xfe\x00\x00", "utf-32-le", 4),
    (b"\xfe\xff", "utf-16-be", 2),
    (b"\xff\xfe", "utf-16-le", 2),
    (b"\x00\x00\x00<", "utf-32-be", 0),
    (b"<\x00\x00\x00", "utf-32-le", 0),
    (b"\x00<\x00", "utf-16-be", 0),
    (b"<\x00", "utf-16-le", 0),
]
MAX_URL_CHARS = 4096


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
    language: str | None = None  # what the feed declares (<language>, xml:lang, JSON Feed "language")


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
    except (ParserError, XMLSyntaxError, ValueError, RecursionError, MemoryError):
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
    # Always UTC: SQLite keeps no offset, so "10:00+03:00" stored as-is would read back as 10:00 UTC.
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


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


def _defuse_doctype(body: bytes) -> tuple[bytes, str | None]:
    """Body without a DOCTYPE internal subset or entity declarations, and a problem
    line when entities were declared.

    Works on text decoded byte-transparently (latin-1) for ASCII-compatible
    encodings, or in the document's own UTF-16/32 form, and re-encodes the same
    way, so everything but the removed declarations stays byte-identical.
    """
    codec, bom = "latin-1", b""
    for prefix, wide, bom_len in _WIDE_CODECS:
        if body.startswith(prefix):
            codec, bom = wide, body[:bom_len]
            break
    if codec == "latin-1" and b"<!" not in body:
        return body, None  # the common case, without copying the body
    raw = body[len(bom) :]
    if codec != "latin-1":
        raw = raw[: len(raw) - len(raw) % (4 if "32" in codec else 2)]
    text = raw.decode(codec, errors="replace")
    upper = text.upper()
    first_element = _FIRST_ELEMENT.search(text)
    head_end = first_element.start() if first_element else len(text)
    start = upper.find("<!DOCTYPE", 0, head_end)
    changed = declared_entities = False
    if start >= 0:
        match = _DOCTYPE_WITH_SUBSET.match(text, start)
        if match:
            declared_entities = "<!ENTITY" in match.group(0).upper()
            text = text[:start] + text[match.end() :]
            changed = True
            first_element = _FIRST_ELEMENT.search(text)
            head_end = first_element.start() if first_element else len(text)
    # Whatever the DOCTYPE pattern missed (unterminated or malformed), before the root element.
    head = text[:head_end]
    if "<!ENTITY" in head.upper():
        text = _ENTITY_DECLARATION.sub("", head) + text[head_end:]
        changed = declared_entities = True
    if not changed:
        return body, None
    defused = bom + text.encode(codec, errors="replace")
    if not declared_entities:
        return defused, None  # a subset of ELEMENT/ATTLIST only: harmless, dropped silently
    return defused, "XML entity declarations removed, not expanded (DTD entities are never processed)"


def _safe_link(link: object, base_url: str) -> str | None:
    """An absolute http(s) URL, or None: no javascript:, data:, file: or giant links."""
    if not isinstance(link, str) or not link.strip() or len(link) > MAX_URL_CHARS:
        return None
    try:
        absolute = urljoin(base_url, link.strip())
    except ValueError:  # e.g. "http://[::1" - an invalid IPv6 literal
        return None
    if not re.match(r"^https?://[^/\s]", absolute, re.IGNORECASE):
        return None
    return absolute


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
    problems: list[str] = []
    try:
        body, defused = _defuse_doctype(body)
    except Exception as exc:  # noqa: BLE001 - never let the guard itself break parsing
        return ParsedFeed("", [], problems=[f"feed could not be checked for XML entities: {type(exc).__name__}"])
    if defused:
        problems.append(defused)
    try:
        parsed = feedparser.parse(
            io.BytesIO(body),  # a stream: never a file name or URL to feedparser
            sanitize_html=False,
            resolve_relative_uris=False,
            response_headers={"content-location": base_url, "content-type": content_type or "application/xml"},
        )
    except Exception as exc:  # noqa: BLE001 - feedparser's failure modes are not enumerable
        return ParsedFeed("", [], problems=[f"feed could not be parsed: {type(exc).__name__}: {exc}"])
    if parsed.get("bozo"):
        problems.append(f"malformed feed, salvaged what parsed: {parsed.get('bozo_exception')}")
    if not parsed.get("version") and not parsed.entries:
        problems.append("not a feed (no RSS, Atom or JSON Feed found)")
    entries: list[FeedEntry] = []
    for raw in parsed.entries:
        if len(entries) >= max_items:
            problems.append(f"more than {max_items} items; kept the first {max_items}")
            break
        try:
            entry = _entry_from_feedparser(raw, base_url, max_text_chars, problems)
        except Exception as exc:  # noqa: BLE001 - one odd entry must not lose the others
            problems.append(f"skipped an entry that could not be read: {type(exc).__name__}")
            continue
        if entry is not None:
            entries.append(entry)
    feed = parsed.get("feed", {})
    try:
        title = clean_text(html_to_text(str(feed.get("title", "") or "")))[:300]
        interval = _declared_interval(feed)
    except Exception:  # noqa: BLE001
        title, interval = "", None
    return ParsedFeed(title, entries, interval, problems, _language(feed.get("language")))


def _entry_from_feedparser(raw: dict, base_url: str, max_text_chars: int, problems: list[str]) -> FeedEntry | None:
    raw_link = raw.get("link") or None
    link = _safe_link(raw_link, base_url)
    if raw_link and link is None:
        problems.append(f"dropped an entry link that is not an http(s) URL: {str(raw_link)[:80]!r}")
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
    entries: list[FeedEntry] = []
    for item in doc["items"]:
        if len(entries) >= max_items:
            problems.append(f"more than {max_items} items; kept the first {max_items}")
            break
        if not isinstance(item, dict):
            problems.append("skipped an item that is not an object")
            continue
        url = _safe_link(item.get("url"), base_url)
        if item.get("url") and url is None:
            problems.append(f"dropped an item link that is not an http(s) URL: {str(item.get('url'))[:80]!r}")
        guid = item.get("id")
        guid = str(guid) if isinstance(guid, (str, int)) and str(guid) else None
        raw_title, raw_text = item.get("title"), item.get("content_text")
        title = html_to_text(raw_title if isinstance(raw_title, str) else "")[:1000]
        text: str = raw_text if isinstance(raw_text, str) else ""
        if not text and isinstance(item.get("content_html"), str):
            text = html_to_text(item["content_html"][: max_text_chars * 4])
        if not text and isinstance(item.get("summary"), str):
            text = clean_text(item["summary"])
        if not (guid or url or title):
            problems.append("skipped an item with no id, url or title")
            continue
        published = _parse_iso(item.get("date_published")) or _parse_iso(item.get("date_modified"))
        entries.append(
            FeedEntry(guid[:2000] if guid else None, url, title, clean_text(text[: max_text_chars * 4])[:max_text_chars], published)
        )
    raw_feed_title = doc.get("title")
    feed_title = raw_feed_title if isinstance(raw_feed_title, str) else ""
    return ParsedFeed(clean_text(feed_title)[:300], entries, None, problems, _language(doc.get("language")))


_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


def _language(value: object) -> str | None:
    """A declared language tag ("ar", "en-GB"), or None for anything else."""
    text = value.strip() if isinstance(value, str) else ""
    return text[:35] if _LANGUAGE_TAG.match(text) else None
