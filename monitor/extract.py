"""Article page -> main text, with trafilatura; sanity-checked so a cookie banner
or paywall teaser does not replace a better feed summary."""

from __future__ import annotations

import asyncio
import logging

import trafilatura

from monitor.feeds import clean_text

# Below this, "extracted text" is usually a consent banner or a teaser.
MIN_ARTICLE_CHARS = 200

# trafilatura logs every odd page at WARNING; the pipeline logs its own verdict.
logging.getLogger("trafilatura").setLevel(logging.ERROR)


def extract_text(html: str | bytes, url: str | None = None, max_chars: int = 200_000) -> str | None:
    """Main text of a page, or None when nothing article-like was found."""
    if not html:
        return None
    try:
        text = trafilatura.extract(
            html,
            url=url,
            include_comments=False,
            include_tables=False,
            favor_precision=True,
            deduplicate=True,
        )
    except Exception:  # noqa: BLE001 - hostile pages must not kill the poller
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
