"""Story assignment in the running service: the process's StoryAssigner, kept in step
with the database, placing each stored item with a tracked entity in a story inside
the item's own transaction (monitor.store.items calls `StoryKeeper.place`).

* At start (and after a failed transaction, or new thresholds from a reload) the
  assigner is rebuilt from the articles of the stories still open: first article
  published at most `stories.max_story_age` ago.
* Before each placement it catches up with the articles other processes placed
  since the last one it saw (by item id); the store's story lock (a transaction-
  scoped advisory lock on PostgreSQL, taken before the item is inserted) makes
  those ids grow in the order of placement, so nothing is missed and two
  instances cannot open two stories for one event.
* monitor.stories (NumPy, datasketch: about 60 MB) is imported on the first
  placement, not when the service module is imported (`monitor match`,
  `check-config` do not pay for it).
"""

from __future__ import annotations

import contextlib
import threading
import unicodedata
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from monitor.config import StoriesConfig
from monitor.ops.logs import get_logger
from monitor.store import Clock, Placement, StoredArticle, StoryRepository

if TYPE_CHECKING:
    from monitor.stories import Article, StoryAssigner, StorySettings

__all__ = ["StoryKeeper", "article_language", "story_settings", "to_article"]

log = get_logger("monitor.service.stories")

UNKNOWN_LANGUAGE = "und"


def story_settings(config: StoriesConfig) -> StorySettings:
    """The assigner's settings from the `stories:` section; raises ValueError on a
    combination the MinHash index cannot take (check-config reports it)."""
    from monitor.stories import StorySettings

    return StorySettings.model_validate(config.thresholds())


def to_article(stored: StoredArticle) -> Article:
    from monitor.stories import Article

    return Article(
        id=str(stored.item_id),
        outlet=stored.outlet,
        lang=stored.lang or UNKNOWN_LANGUAGE,
        published=stored.published_at,
        title=stored.title,
        text=stored.body,
        entities=stored.entities,
        title_entities=stored.title_entities,
        url=stored.url,
    )


def article_language(configured: str | None, declared: str | None, text: str) -> str | None:
    """The language of an article: the feed's configured `language`, else what the feed
    declares, else "ar" for text mostly in Arabic letters, else unknown (None).

    Only the story layers care (number words, the same-language layer); a wrong or
    missing language costs joins, never a wrong merge on its own."""
    for code in (configured, declared):
        if code and code.strip():
            return code.strip().replace("_", "-").split("-")[0].lower()[:20]
    letters = [c for c in text[:2000] if c.isalpha()]
    if letters and sum(1 for c in letters if unicodedata.name(c, "").startswith("ARABIC")) > len(letters) / 2:
        return "ar"
    return None


class StoryKeeper:
    """The StoryAssigner of this process and what it has seen of the database.

    Implements monitor.store.StoryPlacer. One placement at a time (`turn`)."""

    def __init__(self, repository: StoryRepository, config: StoriesConfig, clock: Clock):
        self._repo = repository
        self._config = config
        self._clock = clock
        self._assigner: StoryAssigner | None = None
        self._last_seen = 0  # the highest item id placed in a story that the assigner knows
        self._stale = True  # rebuild from the database before the next placement
        self._lock = threading.Lock()
        self._placed: int | None = None  # the item placed within the current turn
        self._alerted: dict[int, tuple[Placement, list[str]]] = {}

    def configure(self, config: StoriesConfig) -> None:
        """New thresholds (a reload): the assigner is rebuilt with them before the next
        placement; articles already placed stay where they are."""
        with self._lock:
            if config.thresholds() != self._config.thresholds():
                self._stale = True
                log.info("story_settings_changed", note="story assignment rebuilt with the new thresholds")
            self._config = config

    # -- monitor.store.StoryPlacer --------------------------------------------------

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        with self._lock:
            self._placed = None
            try:
                yield
            except BaseException:
                if self._placed is not None:  # the assigner holds an article the database does not
                    self._stale = True
                    self._alerted.pop(self._placed, None)
                raise

    def place(self, conn: Connection, item_id: int) -> Placement:
        article = self._repo.article(conn, item_id)
        if article is None:
            raise LookupError(f"item {item_id} is not stored")
        if self._stale or self._assigner is None:
            self._rebuild(conn)
        else:
            self._catch_up(conn, item_id)
        assert self._assigner is not None
        self._placed = item_id
        decision = self._assigner.assign(to_article(article))
        self._last_seen = max(self._last_seen, item_id)
        placement = Placement(
            article=article,
            story_id=int(decision.story_id),
            layer=decision.layer,
            score=round(float(decision.score), 4),
            joined_with=int(decision.joined_with) if decision.joined_with else None,
            new_entities=decision.new_entities,
        )
        log.info(
            "story",
            item=item_id,
            story=placement.story_id,
            layer=placement.layer,
            joined_with=placement.joined_with,
            new_entities=sorted(placement.new_entities),
            reason=decision.reason,
        )
        return placement

    def alerted(self, placement: Placement, chats: list[str]) -> None:
        self._alerted[placement.article.item_id] = (placement, chats)

    # -- for the pipeline -------------------------------------------------------------

    def outcome(self, item_id: int) -> tuple[Placement, list[str]] | None:
        """The placement of a stored item and the chats alerted about it (once)."""
        with self._lock:
            return self._alerted.pop(item_id, None)

    def open_stories(self) -> int:
        """How many stories the assigner holds open (0 before the first placement)."""
        return len(self._assigner.stories()) if self._assigner is not None else 0

    # -- state ---------------------------------------------------------------------

    def _rebuild(self, conn: Connection) -> None:
        from monitor.stories import StoryAssigner

        settings = story_settings(self._config)
        assigner = StoryAssigner(settings)
        since = self._clock() - timedelta(seconds=settings.max_story_age)
        articles = self._repo.open_articles(conn, since)
        for stored in articles:
            assert stored.story_id is not None
            assigner.restore(to_article(stored), str(stored.story_id))
        self._assigner = assigner
        self._last_seen = self._repo.last_placed(conn)
        self._stale = False
        log.info("stories_rebuilt", articles=len(articles), open_stories=len(assigner.stories()), last_item=self._last_seen)

    def _catch_up(self, conn: Connection, item_id: int) -> None:
        """Articles other processes placed since this one last looked."""
        assert self._assigner is not None
        others = self._repo.articles_after(conn, self._last_seen, but=item_id)
        for stored in others:
            assert stored.story_id is not None
            self._assigner.restore(to_article(stored), str(stored.story_id))
            self._last_seen = max(self._last_seen, stored.item_id)
        if others:
            log.info("stories_caught_up", articles=len(others), last_item=self._last_seen)


def explain_items(repository: StoryRepository, config: StoriesConfig, first: int, second: int) -> str:
    """Why two stored articles were or were not joined, for `monitor stories --explain A B`.

    The later-stored one is the arriving article (A); the pair is weighed against the
    document frequencies of the stories open when it arrived (the articles placed
    before it within `stories.max_story_age`), as assignment saw them. Raises
    LookupError naming an id that is not a stored item."""
    from monitor.stories import StoryAssigner

    found = {item_id: repository.stored_article(item_id) for item_id in (first, second)}
    missing = [str(item_id) for item_id, article in found.items() if article is None]
    if missing:
        raise LookupError(f"no stored item {' or '.join(missing)} (item ids are in `monitor story ID` and `monitor recent --json`)")
    arriving, earlier = sorted((found[first], found[second]), key=lambda a: a.item_id if a else 0, reverse=True)
    assert arriving is not None and earlier is not None
    settings = story_settings(config)
    assigner = StoryAssigner(settings)
    since = arriving.published_at - timedelta(seconds=settings.max_story_age)
    for stored in repository.articles_between(since, arriving.published_at):
        if stored.item_id < arriving.item_id and stored.story_id is not None:
            assigner.restore(to_article(stored), str(stored.story_id))
    lines = [_stored_line(article) for article in (arriving, earlier)]
    lines.append(str(assigner.explain(to_article(arriving), to_article(earlier))))
    return "\n".join(lines)


def _stored_line(article: StoredArticle) -> str:
    where = f"story {article.story_id}" if article.story_id is not None else "no story (no tracked entity, or stored with stories off)"
    return (
        f"item {article.item_id}: {article.title or article.url or 'untitled'} "
        f"({article.outlet}, {article.lang or 'language unknown'}, {article.published_at:%Y-%m-%d %H:%M} UTC): {where}"
    )
