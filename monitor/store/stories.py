"""Stories: the stored articles of one event across outlets and languages, and the
writes that put an item into its story inside the item's own transaction.

Which story an item joins is decided in the service (monitor.service.stories, with
the assigner of monitor.stories); this module only stores and reads. Its contract
with the Telegram side:

* a story's id is the item id of the article that opened it (`lead_item_id`);
* every alert row whose item has `story_id` S is "a message of story S";
* `stories.revision` starts at 1 and goes up by one in the transaction that stores
  each article joining the story: a message rendered at an older revision is out
  of date;
* `get(story_id)` gives the story and its articles in order of arrival.

Assignment and the writes it leads to are serialised across processes: on
PostgreSQL by a transaction-scoped advisory lock (`lock`), taken before the item is
inserted, so item ids of stored stories grow in the order they were assigned and a
process catches up with the others by item id (`articles_after`); SQLite has one
writer (and one monitor per database).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, func, insert, select, text, update

from monitor.store.database import Database, aware
from monitor.store.schema import alerts, feeds, items, matches, stories

__all__ = [
    "Placement",
    "RecentStory",
    "Story",
    "StoryArticle",
    "StoryPlacer",
    "StoryRepository",
    "StoredArticle",
    "effective_published",
]

# Any fixed 64-bit number other than the instance lock's (monitor.service.lock).
_STORY_LOCK_KEY = 0x1AA9_4A7C_5702_1E50


@dataclass(frozen=True)
class StoredArticle:
    """What story assignment reads of a stored item: the same values when the item is
    stored and when a process rebuilds its state from the database."""

    item_id: int
    story_id: int | None
    outlet: str  # the feed's name
    lang: str | None
    published_at: datetime  # effective_published()
    title: str
    body: str
    url: str | None
    entities: frozenset[str]
    title_entities: frozenset[str]  # those mentioned in the title


@dataclass(frozen=True)
class Placement:
    """The story an item was put in, and how (the service's decision)."""

    article: StoredArticle
    story_id: int
    layer: str  # new, copy, same-language, evidence
    score: float  # the deciding similarity (0 for a new story)
    joined_with: int | None  # the story article that decided it
    new_entities: frozenset[str]  # entities the story did not have before

    @property
    def new_story(self) -> bool:
        return self.layer == "new"


class StoryPlacer(Protocol):
    """Puts a just-inserted item into a story, inside the item's transaction, under the
    story lock (monitor.service.stories.StoryKeeper)."""

    def turn(self) -> Any:
        """A context manager held around the item's whole transaction: one placement at a
        time in this process; when the transaction fails after `place`, the placer
        forgets what it decided (it rebuilds from the database)."""

    def place(self, conn: Connection, item_id: int) -> Placement:
        """Decide the story of the stored item `item_id` (its mentions are stored)."""

    def alerted(self, placement: Placement, chats: list[str]) -> None:
        """The chats the item's alerts were queued to (still inside the transaction)."""


@dataclass(frozen=True)
class StoryArticle:
    """One article of a story, as `monitor story` and the Telegram side show it."""

    item_id: int
    title: str
    url: str | None
    outlet: str  # the feed's name
    lang: str | None
    published_at: datetime  # effective_published()
    entities: tuple[str, ...]  # in order of first mention
    layer: str | None  # how it joined (new for the first)
    score: float | None
    joined_with: int | None


@dataclass(frozen=True)
class Story:
    id: int
    lead_item_id: int
    created_at: datetime
    updated_at: datetime
    first_published_at: datetime
    last_published_at: datetime
    article_count: int
    entities: tuple[str, ...]
    revision: int
    articles: tuple[StoryArticle, ...]  # in order of arrival (item id)

    @property
    def lead(self) -> StoryArticle:
        return self.articles[0]

    @property
    def outlets(self) -> tuple[str, ...]:
        """Outlets in the order they first reported the story."""
        return tuple(dict.fromkeys(a.outlet for a in self.articles))


@dataclass(frozen=True)
class RecentStory:
    """A line of `monitor recent` / `/recent`: a story, or an article stored outside
    stories (stories off, or stored before them), as a story of one."""

    story_id: int | None
    articles: tuple[StoryArticle, ...]  # in order of arrival
    entities: tuple[str, ...]

    @property
    def lead(self) -> StoryArticle:
        return self.articles[0]

    @property
    def latest(self) -> StoryArticle:
        return self.articles[-1]

    @property
    def outlets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.outlet for a in self.articles))


def effective_published(published_at: datetime | None, fetched_at: datetime) -> datetime:
    """The time an article counts as published for stories: the feed's date, or when it
    was first seen if the feed gives none or a future one."""
    fetched = aware(fetched_at)
    published = aware(published_at)
    return fetched if published is None or published > fetched else published


_ARTICLE_COLUMNS = (
    items.c.id,
    items.c.story_id,
    feeds.c.name.label("outlet"),
    items.c.lang,
    items.c.published_at,
    items.c.fetched_at,
    items.c.title,
    items.c.body,
    items.c.url,
)


class StoryRepository:
    def __init__(self, database: Database):
        self._db = database

    # -- inside the item's transaction ----------------------------------------

    def lock(self, conn: Connection) -> None:
        """Serialise story assignment across processes until this transaction ends
        (PostgreSQL); SQLite's single writer already does."""
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _STORY_LOCK_KEY})

    def article(self, conn: Connection, item_id: int) -> StoredArticle | None:
        found = self._articles(conn, select(*_ARTICLE_COLUMNS).where(items.c.id == item_id))
        return found[0] if found else None

    def articles_after(self, conn: Connection, item_id: int, *, but: int | None = None) -> list[StoredArticle]:
        """Articles placed in stories with an item id above `item_id` (other processes'
        since this one last looked), in order of item id; `but` is left out."""
        query = select(*_ARTICLE_COLUMNS).where(items.c.id > item_id, items.c.story_id.is_not(None))
        if but is not None:
            query = query.where(items.c.id != but)
        return self._articles(conn, query.order_by(items.c.id))

    def open_articles(self, conn: Connection, since: datetime) -> list[StoredArticle]:
        """The articles of stories whose first article was published at or after `since`,
        in order of publication (to rebuild the assigner at start)."""
        open_stories = select(stories.c.id).where(stories.c.first_published_at >= since)
        found = self._articles(conn, select(*_ARTICLE_COLUMNS).where(items.c.story_id.in_(open_stories)))
        return sorted(found, key=lambda a: (a.published_at, a.item_id))

    def last_placed(self, conn: Connection) -> int:
        """The highest item id placed in a story (0 when none)."""
        return int(conn.execute(select(func.max(items.c.id)).where(items.c.story_id.is_not(None))).scalar() or 0)

    def record(self, conn: Connection, placement: Placement) -> None:
        """Write the item's story: a new story row, or the story's new count, times,
        entities and revision; and the item's story columns."""
        article, now = placement.article, self._db.now()
        if placement.new_story:
            conn.execute(
                insert(stories).values(
                    id=placement.story_id,
                    lead_item_id=article.item_id,
                    created_at=now,
                    updated_at=now,
                    first_published_at=article.published_at,
                    last_published_at=article.published_at,
                    article_count=1,
                    entities=json.dumps(_ordered(article.entities)),
                    revision=1,
                )
            )
        else:
            row = conn.execute(
                select(stories.c.first_published_at, stories.c.last_published_at, stories.c.entities).where(
                    stories.c.id == placement.story_id
                )
            ).one()
            known = json.loads(row.entities)
            conn.execute(
                update(stories)
                .where(stories.c.id == placement.story_id)
                .values(
                    article_count=stories.c.article_count + 1,
                    revision=stories.c.revision + 1,
                    updated_at=now,
                    first_published_at=min(aware(row.first_published_at), article.published_at),
                    last_published_at=max(aware(row.last_published_at), article.published_at),
                    entities=json.dumps(known + [e for e in _ordered(article.entities) if e not in known]),
                )
            )
        conn.execute(
            update(items)
            .where(items.c.id == article.item_id)
            .values(
                story_id=placement.story_id,
                story_layer=placement.layer,
                story_score=placement.score,
                story_joined_with=placement.joined_with,
            )
        )

    def chats_with_message(self, conn: Connection, story_id: int) -> set[str]:
        """Chats that already have a message of the story (an alert of one of its items).
        Items collected for a chat's digest are not messages of their own (status
        'digest'/'digested'): a later article of the story may still alert that chat."""
        return set(
            conn.execute(
                select(alerts.c.chat_id)
                .distinct()
                .join(items, items.c.id == alerts.c.item_id)
                .where(items.c.story_id == story_id, alerts.c.status.not_in(("digest", "digested")))
            ).scalars()
        )

    # -- reading ----------------------------------------------------------------

    def get(self, story_id: int) -> Story | None:
        """The story and its articles in order of arrival; None when there is no such story."""
        with self._db.read() as conn:
            found = self._stories(conn, select(stories).where(stories.c.id == story_id))
        return found[0] if found else None

    def story_of(self, item_id: int) -> int | None:
        with self._db.read() as conn:
            return conn.execute(select(items.c.story_id).where(items.c.id == item_id)).scalar()

    def recent(self, limit: int = 20, entity_id: str | None = None) -> list[RecentStory]:
        """The stories with the latest matching articles, newest first (an article outside
        stories counts as a story of one); with `entity_id`, those with an article
        mentioning it."""
        matched = select(matches.c.id).where(matches.c.item_id == items.c.id)
        if entity_id:
            matched = matched.where(matches.c.entity_id == entity_id)
        # One row per story (or lone item): its key and its latest article.
        key = func.coalesce(items.c.story_id, -items.c.id).label("key")
        latest = func.max(items.c.id).label("latest")
        query = select(key, latest).where(matched.exists()).group_by(key).order_by(latest.desc()).limit(limit)
        with self._db.read() as conn:
            keys = [k for k, _ in conn.execute(query).all()]
            found = {s.id: s for s in self._stories(conn, select(stories).where(stories.c.id.in_([k for k in keys if k > 0])))}
            lone = {a.item_id: a for a in self._story_articles(conn, items.c.id.in_([-k for k in keys if k < 0]))}
        entries = []
        for k in keys:
            if k > 0 and k in found:
                story = found[k]
                entries.append(RecentStory(story.id, story.articles, story.entities))
            elif -k in lone:
                article = lone[-k]
                entries.append(RecentStory(None, (article,), article.entities))
        return entries

    def stored_article(self, item_id: int) -> StoredArticle | None:
        """An item as story assignment sees it (for `monitor stories --explain`)."""
        with self._db.read() as conn:
            return self.article(conn, item_id)

    def articles_between(self, since: datetime, until: datetime) -> list[StoredArticle]:
        """Articles in stories, published (effectively) between the two times, in order."""
        with self._db.read() as conn:
            found = self._articles(
                conn,
                # An effective publication time is never after the item was fetched.
                select(*_ARTICLE_COLUMNS).where(items.c.story_id.is_not(None), items.c.fetched_at >= since),
            )
        return sorted((a for a in found if since <= a.published_at <= until), key=lambda a: (a.published_at, a.item_id))

    # -- rows to values -----------------------------------------------------------

    def _articles(self, conn: Connection, query: Any) -> list[StoredArticle]:
        rows = conn.execute(query.join_from(items, feeds, feeds.c.id == items.c.feed_id)).all()
        mentions = _mentions(conn, [r.id for r in rows])
        found = []
        for r in rows:
            title = r.title or ""
            entities = [(entity, start) for entity, start in mentions.get(r.id, [])]
            found.append(
                StoredArticle(
                    item_id=r.id,
                    story_id=r.story_id,
                    outlet=r.outlet,
                    lang=r.lang,
                    published_at=effective_published(r.published_at, r.fetched_at),
                    title=title,
                    body=r.body or "",
                    url=r.url,
                    entities=frozenset(e for e, _ in entities),
                    # The matcher read title + "\n\n" + body: offsets inside the title are the title's.
                    title_entities=frozenset(e for e, start in entities if title and start < len(title)),
                )
            )
        return found

    def _stories(self, conn: Connection, query: Any) -> list[Story]:
        rows = conn.execute(query).mappings().all()
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        per_story: dict[int, list[StoryArticle]] = {i: [] for i in ids}
        for story_id, article in self._story_articles(conn, items.c.story_id.in_(ids), with_story=True):
            per_story[story_id].append(article)
        return [
            Story(
                id=r["id"],
                lead_item_id=r["lead_item_id"],
                created_at=aware(r["created_at"]),
                updated_at=aware(r["updated_at"]),
                first_published_at=aware(r["first_published_at"]),
                last_published_at=aware(r["last_published_at"]),
                article_count=r["article_count"],
                entities=tuple(json.loads(r["entities"])),
                revision=r["revision"],
                articles=tuple(per_story[r["id"]]),
            )
            for r in rows
        ]

    def _story_articles(self, conn: Connection, where: Any, *, with_story: bool = False) -> list[Any]:
        """StoryArticle of the items `where` selects, in order of item id; with
        `with_story`, as (story id, article) pairs."""
        article_rows = conn.execute(
            select(
                items.c.id,
                items.c.story_id,
                items.c.title,
                items.c.url,
                feeds.c.name.label("outlet"),
                items.c.lang,
                items.c.published_at,
                items.c.fetched_at,
                items.c.story_layer,
                items.c.story_score,
                items.c.story_joined_with,
            )
            .join(feeds, feeds.c.id == items.c.feed_id)
            .where(where)
            .order_by(items.c.id)
        ).all()
        mentions = _mentions(conn, [r.id for r in article_rows])
        found: list[Any] = []
        for r in article_rows:
            article = StoryArticle(
                item_id=r.id,
                title=r.title or "",
                url=r.url,
                outlet=r.outlet,
                lang=r.lang,
                published_at=effective_published(r.published_at, r.fetched_at),
                entities=tuple(dict.fromkeys(e for e, _ in mentions.get(r.id, []))),
                layer=r.story_layer,
                score=r.story_score,
                joined_with=r.story_joined_with,
            )
            found.append((r.story_id, article) if with_story else article)
        return found


def _mentions(conn: Connection, item_ids: Sequence[int]) -> dict[int, list[tuple[str, int]]]:
    """Per item, (entity id, start offset) of its mentions in order of position."""
    found: dict[int, list[tuple[str, int]]] = {}
    for start in range(0, len(item_ids), 500):  # well under SQLite's bound-parameter limit
        chunk = list(item_ids[start : start + 500])
        for item_id, entity_id, offset in conn.execute(
            select(matches.c.item_id, matches.c.entity_id, matches.c.mention_start)
            .where(matches.c.item_id.in_(chunk))
            .order_by(matches.c.item_id, matches.c.mention_start)
        ):
            found.setdefault(item_id, []).append((entity_id, offset))
    return found


def _ordered(values: Iterable[str]) -> list[str]:
    return sorted(values)
