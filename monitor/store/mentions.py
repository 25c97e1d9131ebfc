"""Read-only query behind `monitor report`: the matched articles of a period.

Kept apart from the repository (one function over the schema tables, SQLAlchemy
Core, no writes) so the report does not depend on how the Store is split.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

from sqlalchemy import Engine, and_, case, select

from monitor.store.schema import feeds, items, matches


@dataclass(frozen=True)
class MatchedArticle:
    """One stored item with at least one tracked entity in it."""

    item_id: int
    outlet: str  # the feed's configured name, else its host
    dated: datetime  # when it was published (never later than when it was found), UTC
    entities: tuple[tuple[str, str], ...]  # (entity id, entity name as stored), in id order
    story_id: int | None = None  # the story it was placed in (None: stories off, or before them)


def article_date():
    """The date an article counts on: its published time, unless missing or later than
    the time the monitor found it (a wrong feed clock); then the time it was found.
    Backfilled archives thus land on the days they were published, not the day a feed
    was added."""
    published_usable = and_(items.c.published_at.is_not(None), items.c.published_at < items.c.fetched_at)
    return case((published_usable, items.c.published_at), else_=items.c.fetched_at)


def matched_articles(engine: Engine, since: datetime, until: datetime) -> list[MatchedArticle]:
    """Matched articles dated in [since, until), oldest first."""
    # Stored datetimes are UTC (SQLite keeps them without an offset): bind UTC too.
    since, until = since.astimezone(timezone.utc), until.astimezone(timezone.utc)
    dated = article_date().label("dated")
    query = (
        select(items.c.id, feeds.c.name, feeds.c.url, dated, matches.c.entity_id, matches.c.entity_name, items.c.story_id)
        .join(feeds, feeds.c.id == items.c.feed_id)
        .join(matches, matches.c.item_id == items.c.id)
        # An article's date is never after it was found, so this indexed bound
        # (ix_items_fetched_at) only narrows the scan; the date test decides.
        .where(items.c.fetched_at >= since, dated >= since, dated < until)
        # No DISTINCT or ORDER BY: a row per mention is folded and sorted below, which
        # for a year of articles takes half the time of SQLite's temporary B-trees.
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    first_row: dict[int, tuple[str, datetime, int | None]] = {}
    entities_of: dict[int, dict[str, str]] = {}
    for item_id, feed_name, feed_url, when, entity_id, entity_name, story_id in rows:
        if item_id not in first_row:
            first_row[item_id] = (feed_name or urlsplit(feed_url).hostname or feed_url, _utc(when), story_id)
        entities_of.setdefault(item_id, {}).setdefault(entity_id, entity_name)
    articles = [
        MatchedArticle(item_id, outlet, when, tuple(sorted(entities_of[item_id].items())), story_id)
        for item_id, (outlet, when, story_id) in first_row.items()
    ]
    return sorted(articles, key=lambda article: (article.dated, article.item_id))


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
