"""Read-only queries behind `monitor recent`, `search` and `stats`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, func, or_, select

from monitor.store.database import aware
from monitor.store.instances import InstanceInfo
from monitor.store.schema import alerts, feeds, items, matches
from monitor.store.store import Store

__all__ = ["FeedStats", "FoundItem", "Stats", "recent", "search", "stats"]


@dataclass(frozen=True)
class FoundItem:
    id: int
    title: str
    url: str | None
    feed: str
    published_at: datetime | None
    fetched_at: datetime
    entities: list[str]


@dataclass(frozen=True)
class FeedStats:
    url: str
    name: str
    last_polled_at: datetime | None
    last_status: str | None
    last_error: str | None
    error_streak: int
    broken: bool
    items: int
    matched_items: int


@dataclass(frozen=True)
class Stats:
    feeds: list[FeedStats]
    entity_counts: dict[str, tuple[int, int]]  # entity id -> (last 24 h, last 7 d)
    alerts_by_status: dict[str, int]
    failed_alerts: list[tuple[str, str]] = field(default_factory=list)  # (chat, reason)
    # Several instances on PostgreSQL: the registry, with claims and roles (empty on SQLite).
    instances: list[InstanceInfo] = field(default_factory=list)


def _items_with_entities(store: Store, query: Select[Any]) -> list[FoundItem]:
    with store.database.read() as conn:
        rows = conn.execute(query).mappings().all()
        ids = [r["id"] for r in rows]
        names: dict[int, list[str]] = {i: [] for i in ids}
        if ids:
            for item_id, name in conn.execute(
                select(matches.c.item_id, matches.c.entity_name)
                .where(matches.c.item_id.in_(ids))
                .group_by(matches.c.item_id, matches.c.entity_name)
                .order_by(matches.c.item_id, func.min(matches.c.id))
            ):
                names[item_id].append(name)
    return [
        FoundItem(r["id"], r["title"], r["url"], r["feed"], aware(r["published_at"]), aware(r["fetched_at"]), names[r["id"]])
        for r in rows
    ]


def _matched_items_query() -> Select[Any]:
    return (
        select(items.c.id, items.c.title, items.c.url, items.c.published_at, items.c.fetched_at, feeds.c.name.label("feed"))
        .join(feeds, feeds.c.id == items.c.feed_id)
        .where(select(matches.c.id).where(matches.c.item_id == items.c.id).exists())
    )


def recent(store: Store, limit: int = 20, entity_id: str | None = None) -> list[FoundItem]:
    query = _matched_items_query()
    if entity_id:
        query = query.where(
            select(matches.c.id).where(matches.c.item_id == items.c.id, matches.c.entity_id == entity_id).exists()
        )
    return _items_with_entities(store, query.order_by(items.c.id.desc()).limit(limit))


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(store: Store, query_text: str, limit: int = 50) -> list[FoundItem]:
    """Stored items whose title or text contains `query_text` (plain text, not a pattern)."""
    pattern = _like_pattern(query_text.lower())
    query = (
        select(items.c.id, items.c.title, items.c.url, items.c.published_at, items.c.fetched_at, feeds.c.name.label("feed"))
        .join(feeds, feeds.c.id == items.c.feed_id)
        .where(
            or_(
                func.lower(items.c.title).like(pattern, escape="\\"),
                func.lower(items.c.body).like(pattern, escape="\\"),
                select(matches.c.id)
                .where(matches.c.item_id == items.c.id, func.lower(matches.c.entity_id).like(pattern, escape="\\"))
                .exists(),
            )
        )
        .order_by(items.c.id.desc())
        .limit(limit)
    )
    return _items_with_entities(store, query)


def stats(store: Store, lease_seconds: float = 60.0) -> Stats:
    """`lease_seconds`: instances.lease, after which a silent instance counts as dead."""
    now = store.database.now()
    day, week = now - timedelta(days=1), now - timedelta(days=7)
    with store.database.read() as conn:
        item_counts: dict[int, int] = dict(
            conn.execute(select(items.c.feed_id, func.count()).group_by(items.c.feed_id)).all()
        )
        matched_counts: dict[int, int] = dict(
            conn.execute(
                select(items.c.feed_id, func.count(func.distinct(items.c.id)))
                .join(matches, matches.c.item_id == items.c.id)
                .group_by(items.c.feed_id)
            ).all()
        )
        feed_rows = conn.execute(select(feeds).order_by(feeds.c.name, feeds.c.url)).mappings().all()
        entity_rows = conn.execute(
            select(
                matches.c.entity_id,
                func.count(func.distinct(case((matches.c.matched_at >= day, matches.c.item_id)))),
                func.count(func.distinct(matches.c.item_id)),
            )
            .where(matches.c.matched_at >= week)
            .group_by(matches.c.entity_id)
        ).all()
        failed = conn.execute(
            select(alerts.c.chat_id, alerts.c.error).where(alerts.c.status == "failed").order_by(alerts.c.id.desc()).limit(10)
        ).all()
    return Stats(
        feeds=[
            FeedStats(
                url=r["url"],
                name=r["name"],
                last_polled_at=aware(r["last_polled_at"]),
                last_status=r["last_status"],
                last_error=r["last_error"],
                error_streak=r["error_streak"] or 0,
                broken=r["broken_since"] is not None,
                items=item_counts.get(r["id"], 0),
                matched_items=matched_counts.get(r["id"], 0),
            )
            for r in feed_rows
        ],
        entity_counts={entity: (int(d), int(w)) for entity, d, w in entity_rows},
        alerts_by_status=store.outbox.counts(),
        failed_alerts=[(chat, reason or "") for chat, reason in failed],
        instances=store.instances.overview(lease_seconds) if store.database.engine.dialect.name == "postgresql" else [],
    )
