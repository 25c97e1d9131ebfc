"""Read-only queries behind `monitor recent`, `search`, `stats` and `stats --feedback`."""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, func, or_, select

from monitor.store.database import aware
from monitor.store.instances import InstanceInfo
from monitor.store.schema import alerts, feedback, feeds, items, matches
from monitor.store.store import Store

__all__ = [
    "CONTEXT_WORDS",
    "EXCLUDE_MIN_MARKS",
    "EXCLUDE_SHARE",
    "ExcludeSuggestion",
    "FeedStats",
    "FeedbackCount",
    "FeedbackStats",
    "FoundItem",
    "Stats",
    "feedback_stats",
    "recent",
    "search",
    "stats",
]


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


# -- readers' feedback ------------------------------------------------------------------

# An alias is suggested for `excludes` when at least EXCLUDE_MIN_MARKS of its alerts
# were marked not relevant and they are at least EXCLUDE_SHARE of its marked alerts
# (relevant + not relevant; unmarked alerts and mutes say nothing about relevance).
EXCLUDE_SHARE = 0.5
EXCLUDE_MIN_MARKS = 3
# The words around a mention: this many on each side (a typical `excludes` window).
CONTEXT_WORDS = 6
# Candidate words: seen around at least this many bad matches, at most this many listed.
MIN_WORD_ALERTS = 2
MAX_WORDS = 8
# Common words in the languages Iraq is reported in are no excludes (stop-words lists).
_STOP_LANGUAGES = (
    "english", "arabic", "persian", "turkish", "french", "german", "spanish", "italian",
    "russian", "hebrew", "dutch", "portuguese", "greek",
)
_WORD = re.compile(r"[^\W\d_]{3,}")


@dataclass(frozen=True)
class FeedbackCount:
    """Alerts with buttons sent about an entity (or one of its aliases), and the marks on them."""

    entity_id: str
    alias: str | None  # None: the entity as a whole
    sent: int
    relevant: int
    not_relevant: int
    muted: int

    @property
    def not_relevant_share(self) -> float | None:
        marked = self.relevant + self.not_relevant
        return self.not_relevant / marked if marked else None


@dataclass(frozen=True)
class ExcludeSuggestion:
    """An alias readers often found not relevant, and the words around those matches."""

    entity_id: str
    alias: str
    sent: int
    relevant: int
    not_relevant: int
    words: list[tuple[str, int]]  # (word, bad matches it was around), most frequent first


@dataclass(frozen=True)
class FeedbackStats:
    entities: list[FeedbackCount]
    aliases: list[FeedbackCount]
    suggestions: list[ExcludeSuggestion]
    share: float
    min_marks: int

    @property
    def empty(self) -> bool:
        return not self.entities


@functools.cache
def _stop_words() -> frozenset[str]:
    from stop_words import get_stop_words

    return frozenset(word.casefold() for language in _STOP_LANGUAGES for word in get_stop_words(language))


def _context_words(text: str, start: int, end: int) -> set[str]:
    """The words (casefolded, three letters or more) within CONTEXT_WORDS of text[start:end]."""
    if not 0 <= start <= end <= len(text):
        return set()
    before = _WORD.findall(text[max(0, start - 400) : start])[-CONTEXT_WORDS:]
    after = _WORD.findall(text[end : end + 400])[:CONTEXT_WORDS]
    return {w.casefold() for w in before + after}


def exclude_words(alias: str, bad: list[set[str]], good: list[set[str]]) -> list[tuple[str, int]]:
    """Words around an alias's bad matches worth excluding: in the windows of at least
    MIN_WORD_ALERTS bad matches (each bad alert counted once), never around a match a
    reader marked relevant, not a word of the alias itself, not a common word."""
    counts: Counter[str] = Counter(word for window in bad for word in window)
    seen_good = set().union(*good) if good else set()
    own = {w.casefold() for w in _WORD.findall(alias)}
    stop = _stop_words()
    found = [
        (word, n)
        for word, n in counts.items()
        if n >= min(MIN_WORD_ALERTS, len(bad)) and word not in seen_good and word not in own and word not in stop
    ]
    return sorted(found, key=lambda wn: (-wn[1], wn[0]))[:MAX_WORDS]


def feedback_stats(store: Store, share: float = EXCLUDE_SHARE, min_marks: int = EXCLUDE_MIN_MARKS) -> FeedbackStats:
    """Per entity and per alias: alerts sent with feedback buttons (subscribers' alerts),
    marked relevant, marked not relevant, muted; and the aliases to consider excluding
    words for. The alias of an alert is its entity's first mention in the item (the
    one a press is traced to)."""
    with store.database.read() as conn:
        sent = conn.execute(
            select(alerts.c.id, alerts.c.item_id, alerts.c.feedback_entity).where(
                alerts.c.status == "sent", alerts.c.feedback_entity.is_not(None)
            )
        ).all()
        marks = conn.execute(
            select(
                feedback.c.alert_id, feedback.c.item_id, feedback.c.choice, feedback.c.entity_id, feedback.c.alias,
            )
        ).all()
        item_ids = sorted({r.item_id for r in sent} | {r.item_id for r in marks if r.item_id is not None})
        mentions: dict[tuple[int, str], list[tuple[str | None, int, int]]] = {}
        texts: dict[int, str] = {}
        for start in range(0, len(item_ids), 500):
            chunk = item_ids[start : start + 500]
            for m in conn.execute(
                select(matches.c.item_id, matches.c.entity_id, matches.c.alias, matches.c.mention_start, matches.c.mention_end)
                .where(matches.c.item_id.in_(chunk))
                .order_by(matches.c.item_id, matches.c.mention_start, matches.c.id)
            ):
                mentions.setdefault((m.item_id, m.entity_id), []).append((m.alias, m.mention_start, m.mention_end))
            for item_id, title, body in conn.execute(select(items.c.id, items.c.title, items.c.body).where(items.c.id.in_(chunk))):
                # The text the pipeline matched (offsets index it): title, blank line, body.
                texts[item_id] = f"{title}\n\n{body}" if title else body

    per_entity: dict[str, list[int]] = {}  # [sent, relevant, not relevant, muted]
    per_alias: dict[tuple[str, str], list[int]] = {}
    for alert in sent:
        first = mentions.get((alert.item_id, alert.feedback_entity), [(None, 0, 0)])[0][0]
        per_entity.setdefault(alert.feedback_entity, [0, 0, 0, 0])[0] += 1
        per_alias.setdefault((alert.feedback_entity, first or "?"), [0, 0, 0, 0])[0] += 1
    column = {"relevant": 1, "not_relevant": 2, "mute": 3}
    windows: dict[tuple[str, str], tuple[list[set[str]], list[set[str]]]] = {}
    for mark in marks:
        key = (mark.entity_id, mark.alias or "?")
        per_entity.setdefault(mark.entity_id, [0, 0, 0, 0])[column[mark.choice]] += 1
        per_alias.setdefault(key, [0, 0, 0, 0])[column[mark.choice]] += 1
        text = texts.get(mark.item_id) if mark.item_id is not None else None
        if mark.choice == "mute" or text is None:
            continue
        around: set[str] = set()
        for alias, start, end in mentions.get((mark.item_id, mark.entity_id), []):
            if alias == mark.alias:
                around |= _context_words(text, start, end)
        bad, good = windows.setdefault(key, ([], []))
        (bad if mark.choice == "not_relevant" else good).append(around)

    def count(entity: str, alias: str | None, n: list[int]) -> FeedbackCount:
        return FeedbackCount(entity, alias, *n)

    aliases = [count(e, a, n) for (e, a), n in sorted(per_alias.items())]
    suggestions = [
        ExcludeSuggestion(
            c.entity_id, c.alias or "?", c.sent, c.relevant, c.not_relevant,
            exclude_words(c.alias or "", *windows.get((c.entity_id, c.alias or "?"), ([], []))),
        )
        for c in aliases
        if c.not_relevant >= min_marks and (c.not_relevant_share or 0.0) >= share
    ]
    return FeedbackStats(
        entities=[count(e, None, n) for e, n in sorted(per_entity.items())],
        aliases=aliases,
        suggestions=sorted(suggestions, key=lambda s: (-s.not_relevant, s.entity_id, s.alias)),
        share=share,
        min_marks=min_marks,
    )
