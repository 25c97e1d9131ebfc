"""The period at a glance, computed from matched articles: pure functions, no I/O.

Per tracked entity: how many articles mentioned it, in how many stories (the same
news in three outlets is three articles, one story), in which outlets, with which
other tracked entities, and how many per day.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from monitor.store.mentions import MatchedArticle

# Long enough for a year of daily points, short enough to keep the query and the
# chart bounded.
MAX_PERIOD = timedelta(days=366)

_PERIOD = re.compile(r"(\d+)([hdw])")
_UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


@dataclass(frozen=True)
class Period:
    """How far back a report looks, as given on the command line ('24h', '7d', '2w')."""

    length: timedelta
    whole_days: bool  # given in days or weeks

    def bounds(self, now: datetime, zone: tzinfo = timezone.utc) -> tuple[datetime, datetime]:
        """[since, until) ending at `now`. Hours are exact. Days and weeks start at the
        midnight (in `zone`) that many days before today, so each day on the chart is a
        whole day except today, so far: at 14:05, '7d' is the 7 days before today from
        00:00, plus today until 14:05."""
        if not self.whole_days:
            return now - self.length, now
        first_day = now.astimezone(zone).date() - timedelta(days=self.length.days)
        return datetime.combine(first_day, time(0), tzinfo=zone), now


def parse_period(text: str) -> Period:
    """'24h', '7d', '30d', '2w' -> Period; ValueError with a message for a person."""
    found = _PERIOD.fullmatch(text.strip().lower())
    if not found:
        raise ValueError(f"{text!r} is not a period; use hours, days or weeks, e.g. 24h, 7d, 30d")
    length = int(found.group(1)) * _UNIT[found.group(2)]
    if not timedelta(0) < length <= MAX_PERIOD:
        raise ValueError(f"{text!r} is out of range; give 1h to {MAX_PERIOD.days}d")
    return Period(length, whole_days=found.group(2) != "h")


@dataclass(frozen=True)
class OutletCount:
    name: str
    articles: int


@dataclass(frozen=True)
class CoMention:
    """Another tracked entity named in some of the same articles."""

    id: str
    name: str
    articles: int


@dataclass(frozen=True)
class EntitySummary:
    id: str
    name: str
    articles: int
    stories: int  # distinct stories among those articles (an article without a story counts as its own)
    outlets: tuple[OutletCount, ...]  # most articles first
    co_mentions: tuple[CoMention, ...]  # most shared articles first
    daily: tuple[int, ...]  # articles per day, aligned with PeriodReport.days


@dataclass(frozen=True)
class PeriodReport:
    since: datetime
    until: datetime
    zone: tzinfo  # the days are calendar days in this zone
    days: tuple[date, ...]  # every day the period touches, the first and last maybe partly
    articles: int  # articles naming at least one tracked entity
    entities: tuple[EntitySummary, ...]  # most articles first

    @property
    def empty(self) -> bool:
        return not self.entities


def period_days(since: datetime, until: datetime, zone: tzinfo = timezone.utc) -> tuple[date, ...]:
    """The calendar days (in `zone`) that [since, until) touches."""
    first = since.astimezone(zone).date()
    last = (until - timedelta(microseconds=1)).astimezone(zone).date()
    return tuple(first + timedelta(days=n) for n in range((last - first).days + 1))


def summarise(
    articles: Iterable[MatchedArticle],
    since: datetime,
    until: datetime,
    *,
    names: Mapping[str, str] | None = None,
    zone: tzinfo = timezone.utc,
) -> PeriodReport:
    """Tally the articles dated in [since, until) per entity.

    `names` (entity id -> display name, e.g. from the current watchlist) wins over the
    names stored with the matches, which may be older spellings.
    """
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    if since >= until:
        raise ValueError("the period must end after it starts")
    days = period_days(since, until, zone)
    day_index = {day: n for n, day in enumerate(days)}
    names = names or {}

    counted = 0
    stored_names: dict[str, str] = {}
    articles_of: Counter[str] = Counter()
    stories_of: dict[str, set[int]] = {}
    outlets_of: dict[str, Counter[str]] = {}
    together: dict[str, Counter[str]] = {}
    daily_of: dict[str, list[int]] = {}
    for article in articles:
        if not since <= article.dated < until or not article.entities:
            continue
        counted += 1
        day = day_index[article.dated.astimezone(zone).date()]
        ids = sorted({entity_id for entity_id, _ in article.entities})
        for entity_id, stored in article.entities:
            stored_names[entity_id] = stored  # articles come oldest first: the newest name stays
        for entity_id in ids:
            articles_of[entity_id] += 1
            stories_of.setdefault(entity_id, set()).add(article.story_id if article.story_id is not None else -article.item_id)
            outlets_of.setdefault(entity_id, Counter())[article.outlet] += 1
            daily_of.setdefault(entity_id, [0] * len(days))[day] += 1
            others = together.setdefault(entity_id, Counter())
            others.update(other for other in ids if other != entity_id)

    def name_of(entity_id: str) -> str:
        return names.get(entity_id) or stored_names.get(entity_id) or entity_id

    entities = [
        EntitySummary(
            id=entity_id,
            name=name_of(entity_id),
            articles=count,
            stories=len(stories_of[entity_id]),
            outlets=tuple(OutletCount(outlet, n) for outlet, n in _most_first(outlets_of[entity_id], str.casefold)),
            co_mentions=tuple(
                CoMention(other, name_of(other), n)
                for other, n in _most_first(together[entity_id], lambda other: name_of(other).casefold())
            ),
            daily=tuple(daily_of[entity_id]),
        )
        for entity_id, count in articles_of.items()
    ]
    entities.sort(key=lambda e: (-e.articles, e.name.casefold(), e.id))
    return PeriodReport(since, until, zone, days, counted, tuple(entities))


def _most_first(counts: Counter[str], tie_key) -> list[tuple[str, int]]:
    """Highest count first; ties in a stable, readable order (by name)."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], tie_key(kv[0]), kv[0]))
