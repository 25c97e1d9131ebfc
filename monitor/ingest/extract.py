"""Article page -> main text, with trafilatura; sanity-checked so a cookie banner
or paywall teaser does not replace a better feed summary."""

from __future__ import annotations

import asyncio
import logging
import re

import trafilatura

from monitor.ingest.feeds import clean_text

# Below this, "extracted text" is usually a consent banner or a teaser.
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
_LONG_TAG = re.compile(r"<([A-Za-z][A-Za-z0-9:_-]{0,64})([^<>]{2048,})>")
_LONG_TAG_BYTES = re.compile(_LONG_TAG.pattern.encode())


def _bounded_html(html: str | bytes) -> str | bytes:
    """The page cut to MAX_HTML_BYTES (characters for str), with attribute floods removed.

    The type is kept: bytes still go through trafilatura's charset detection."""
    html = html[:MAX_HTML_BYTES]
    pattern, equals = (_LONG_TAG_BYTES, b"=") if isinstance(html, bytes) else (_LONG_TAG, "=")

    def strip_flood(match):  # type: ignore[no-untyped-def] - str or bytes match
        if match.group(2).count(equals) <= MAX_ATTRIBUTES_PER_TAG:
            return match.group(0)
        return match.group(0)[:1] + match.group(1) + match.group(0)[-1:]

    return pattern.sub(strip_flood, html)


def extract_text(html: str | bytes, url: str | None = None, max_chars: int = 200_000) -> str | None:
    """Main text of a page, or None when nothing article-like was found."""
    if not html:
        return None
    try:
        text = trafilatura.extract(
            _bounded_html(html),
            url=url,
            include_comments=False,
            include_tables=False,
            favor_precision=True,
            # deduplicate=True keeps a process-wide cache of seen paragraphs: the second
            # copy of a syndicated story (or a re-fetch) would come back empty.
            deduplicate=False,
        )
    except (Exception, RecursionError):  # noqa: BLE001 - hostile pages must not kill the poller
        return None
    if not text:
        return None
    text = clean_text(text)[:max_chars]
    return text if len(text) >= MIN_ARTICLE_CHARS else None


async def extract_text_async(html: str | bytes, url: str | None = None, max_chars: int = 200_000) -> str | None:
    """extract_text off the event loop (trafilatura is CPU-bound)."""
    return await asyncio.to_thread(extract_text, html, url, max_chars)


def best_text(page_text: str | None, feed_text: str) -> tuple[str, str]:
    """The body to match and where it came from: the page's main text, plus the
    feed's own text when the page lacks it (summaries often name what the page
    buries below a teaser), else the feed's text alone."""
    if not page_text:
        return feed_text, "feed"
    if not feed_text or feed_text[:200] in page_text:
        return page_text, "page"
    return page_text + "\n\n" + feed_text, "page+feed"
