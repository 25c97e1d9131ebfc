"""Getting articles in: the guarded HTTP client (fetch), what an answer says about
time (freshness), feed parsing (feeds), page-text extraction (extract) and item
identity (identity).

The names below are imported on first use: `monitor match` needs the extractor, not
the HTTP client.
"""

from importlib import import_module
from typing import Any

__all__ = [
    "FeedEntry",
    "FetchError",
    "FetchResult",
    "Fetcher",
    "NetworkPolicy",
    "ParsedFeed",
    "best_text",
    "cache_lifetime",
    "canonical_url",
    "content_hash",
    "extract_text",
    "extract_text_async",
    "parse_feed",
    "retry_after_seconds",
]

_MODULE_OF = {
    **dict.fromkeys(["FetchError", "FetchResult", "Fetcher", "NetworkPolicy"], "fetch"),
    **dict.fromkeys(["FeedEntry", "ParsedFeed", "parse_feed"], "feeds"),
    **dict.fromkeys(["best_text", "extract_text", "extract_text_async"], "extract"),
    **dict.fromkeys(["cache_lifetime", "retry_after_seconds"], "freshness"),
    **dict.fromkeys(["canonical_url", "content_hash"], "identity"),
}


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
