"""Article page -> main text, with trafilatura, tuned for recall of article text:
a paragraph lost is a mention missed, while boilerplate kept at worst costs a false
match that the watchlist's context rules handle. Measured by benchmarks/extraction.py;
choices, numbers and trade-offs in docs/EXTRACTION.md."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

import trafilatura
from lxml.html import HtmlElement

from monitor.ingest.feeds import clean_text, html_to_text

# Below this, "extracted text" is usually a consent banner or a teaser: the caller
# then matches the feed's own text (best_text appends it whenever the page lacks it).
MIN_ARTICLE_CHARS = 200

# trafilatura logs every odd page at WARNING; the pipeline logs its own verdict.
logging.getLogger("trafilatura").setLevel(logging.ERROR)

# Extraction runs in a worker thread that cannot be cancelled, so its input is
# bounded instead: trafilatura takes ~2 s per MB of dense text, and real
# articles sit well inside the first few MB of their page.
MAX_HTML_BYTES = 4 * 1024 * 1024
# libxml2 checks each attribute of a tag against the others (quadratic): one
# tag with 200,000 attributes in a 2 MB page kept trafilatura busy for minutes.
# Tags with more than this many attributes lose them before parsing.
MAX_ATTRIBUTES_PER_TAG = 256
# Possessive quantifiers: no backtracking through a tag that turns out short.
_LONG_TAG = re.compile(r"<([A-Za-z][A-Za-z0-9:_-]{0,64}+)([^<>]{2048,}+)>")
_LONG_TAG_BYTES = re.compile(_LONG_TAG.pattern.encode())

# The options, chosen on 189 real news pages (benchmarks/extraction.py):
# - balanced focus, not favor_precision: precision mode drops every element whose class
#   is "link" or whose style draws a border and every <header>, with stricter
#   link-density limits; names linked to a topic page ("pulling for <span class=link>
#   <a>Elizabeth Warren</a></span>") came out as "pulling for , and .". favor_recall
#   was worse on both counts (it skips trafilatura's comparison with readability and
#   jusText once its first result is long).
# - tables kept (trafilatura's default): casualty lists and results tables name people.
# - reader comments left out: they are not the outlet's reporting, and comment forms
#   ("Leave a comment", "Share your thoughts") come with them.
# - deduplicate=True would keep a process-wide cache of seen paragraphs: the second
#   copy of a syndicated story (or a re-fetch) would come back empty.
TRAFILATURA_OPTIONS: dict[str, Any] = {
    "include_comments": False,
    "include_tables": True,
    "favor_precision": False,
    "deduplicate": False,
}

# The article's summary in the page's head, written by the outlet for share cards
# and search results: many pages show it as a standfirst that the main-text
# extraction skips (a <header>, a teaser block). The share card's text comes first:
# a site's plain description is more often its slogan ("El primer diario digital de
# Chile") on pages that have both. A truncated one ("...") gives way to a longer one
# that completes it.
_LEAD_ORDER = ("og:description", "twitter:description", "description")
_TRUNCATION_MARKS = ".… "
# schema.org's articleBody (JSON-LD) holds the full text on pages that render it with
# JavaScript or show only a teaser (paywalls); it also carries inline "read also"
# links, so it is used only when it is this many times longer than what the page
# itself showed.
ARTICLE_BODY_FACTOR = 2


def _bounded_html(html: str | bytes) -> str | bytes:
    """The page cut to MAX_HTML_BYTES (characters for str), with attribute floods removed.

    The type is kept: bytes still go through trafilatura's charset detection."""
    html = html[:MAX_HTML_BYTES]
    pattern, equals = (_LONG_TAG_BYTES, b"=") if isinstance(html, bytes) else (_LONG_TAG, "=")

    def strip_flood(match):  # str or bytes match: left untyped on purpose
        if match.group(2).count(equals) <= MAX_ATTRIBUTES_PER_TAG:
            return match.group(0)
        return match.group(0)[:1] + match.group(1) + match.group(0)[-1:]

    return pattern.sub(strip_flood, html)  # type: ignore[arg-type]  # pattern and text are both str or both bytes


def _collapsed(text: str) -> str:
    """Whitespace-insensitive form, to ask whether one text already contains another."""
    return " ".join(text.split())


def _lead(tree: HtmlElement) -> str:
    """The page's own summary of the article (see _LEAD_ORDER), or ""."""
    found = []
    for meta in tree.iter("meta"):
        kind = (meta.get("property") or meta.get("name") or "").lower()
        if kind in _LEAD_ORDER and (text := html_to_text(meta.get("content") or "")):
            found.append((_LEAD_ORDER.index(kind), text))
    if not found:
        return ""
    lead = min(found, key=lambda ranked: ranked[0])[1]
    start = _collapsed(lead).rstrip(_TRUNCATION_MARKS)
    return max((text for _, text in found if _collapsed(text).startswith(start)), key=len)


def _article_body(tree: HtmlElement) -> str:
    """The longest schema.org articleBody in the page's JSON-LD, or ""."""
    bodies = []
    for script in tree.iter("script"):
        if script.get("type") != "application/ld+json" or "articleBody" not in (script.text or ""):
            continue
        try:
            pending = [json.loads(script.text)]
        except (ValueError, RecursionError):  # broken or absurdly nested JSON: no body
            continue
        while pending:  # a walk without recursion: @graph lists and nested objects
            node = pending.pop()
            if isinstance(node, list):
                pending.extend(node)
            elif isinstance(node, dict):
                body = node.get("articleBody")
                if isinstance(body, str):
                    bodies.append(body)
                pending.extend(value for value in node.values() if isinstance(value, (dict, list)))
    return html_to_text(max(bodies, key=len, default=""))  # some sites put HTML in it


def extract_text(html: str | bytes, url: str | None = None, max_chars: int = 200_000) -> str | None:
    """Main text of a page, led by the outlet's own summary of it when the main text
    lacks that; None when nothing article-like was found."""
    if not html:
        return None
    try:
        # Parsed once: trafilatura works on a copy, the head is read from this one.
        # The second argument caps what a compressed body may decompress to.
        tree = trafilatura.load_html(_bounded_html(html), MAX_HTML_BYTES)
        if tree is None:
            return None
        text = clean_text(trafilatura.extract(tree, url=url, **TRAFILATURA_OPTIONS) or "")
        article_body = _article_body(tree)
        if len(article_body) > ARTICLE_BODY_FACTOR * len(text):
            text = article_body
        lead = _lead(tree)
    except (Exception, RecursionError):  # noqa: BLE001 - hostile pages must not kill the poller
        return None
    if lead and _collapsed(lead) not in _collapsed(text):
        text = f"{lead}\n{text}" if text else lead
    text = text[:max_chars]
    return text if len(text) >= MIN_ARTICLE_CHARS else None


async def extract_text_async(html: str | bytes, url: str | None = None, max_chars: int = 200_000) -> str | None:
    """extract_text off the event loop (trafilatura is CPU-bound)."""
    return await asyncio.to_thread(extract_text, html, url, max_chars)


def best_text(page_text: str | None, feed_text: str, max_chars: int | None = None) -> tuple[str, str]:
    """The body to match and where it came from: the page's main text plus each line
    (paragraph) of the feed's own text that the page lacks ("page+feed": a summary often
    names what the page buries below a teaser, and a full-content feed keeps what
    extraction lost), the page alone ("page"), or the feed's text alone ("feed").

    Within max_chars the missing feed lines get half of the room, or all that the page
    leaves if more, taken from the page's tail: a long page never cuts off a mention
    that only the feed entry has."""
    if not page_text:
        return feed_text[:max_chars], "feed"
    page_collapsed = _collapsed(page_text)
    missing = [line for line in feed_text.splitlines() if line.strip() and _collapsed(line) not in page_collapsed]
    if not missing:
        return page_text[:max_chars], "page"
    extra = "\n".join(missing)
    if max_chars is not None:
        extra = extra[: max(max_chars // 2, max_chars - len(page_text) - 2)]
        page_text = page_text[: max(0, max_chars - len(extra) - 2)]
    return f"{page_text}\n\n{extra}"[:max_chars], "page+feed"
