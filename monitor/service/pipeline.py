"""One feed poll, end to end: fetch -> parse -> extract -> match -> store + enqueue.

Every failure here is about one feed or one item; it becomes a log line and a
status on the feed, never an exception that stops the other feeds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.exc import DBAPIError

from monitor.config import FeedConfig, Settings
from monitor.ingest import identity
from monitor.ingest.extract import best_text, extract_text_async
from monitor.ingest.feeds import FeedEntry, parse_feed
from monitor.ingest.fetch import FetchError, Fetcher, HTTPStatusError
from monitor.ingest.freshness import cache_lifetime  # Cache-Control/Expires -> next poll
from monitor.match import EntityMatch, Matcher
from monitor.notify import (
    CONSOLE_CHAT,
    EntityRule,
    AlertContent,
    BurstItem,
    format_alert_html,
    format_alert_plain,
    entity_rules,
    format_burst_summary,
    route,
    snippet_around,
)
from monitor.ops import metrics  # counters/histograms bumped below
from monitor.ops.logs import get_logger
from monitor.service.stories import StoryKeeper, article_language
from monitor.store import (
    ChatPreferences,
    FeedState,
    FoundMention,
    NewItem,
    NextPoll,
    QueuedAlert,
    Store,
    database_problem,
)

__all__ = ["PollOutcome", "PollPlanner", "Runtime", "alert_content", "poll_feed"]

log = get_logger("monitor.service.pipeline")

FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.5"
# Shorter bodies make hash collisions between different stories likely (e.g. "Live updates").
MIN_HASHED_CHARS = 200
# A feed's known entries are marked listed again (items.last_listed_at) when their mark is
# older than this: retention keeps what a feed still lists, and an unchanged feed re-read
# every few minutes costs a write per entry at most hourly. Below storage.retention's minimum.
LISTING_REFRESH = timedelta(hours=1)


@dataclass
class Runtime:
    """What a poll reads and a reload swaps: settings and the matcher built from them."""

    settings: Settings
    matcher: Matcher
    # Story assignment (None: stories.enabled is false); one per process, kept across reloads.
    stories: StoryKeeper | None = None
    # The watchlist's priorities and urgent marks, by entity id (see monitor.notify.priority).
    rules: dict[str, EntityRule] = field(init=False)

    def __post_init__(self) -> None:
        self.rules = entity_rules(self.settings.watchlist)

    @property
    def alert_chat(self) -> str:
        telegram = self.settings.config.telegram
        return telegram.channel if telegram.token else CONSOLE_CHAT


@dataclass
class PollOutcome:
    feed_url: str
    status: str  # ok, not_modified, or a FetchError kind / "parse_error"
    entries: int = 0
    new_items: int = 0
    matched_items: int = 0
    alerts_queued: int = 0
    stories_grown: int = 0  # stored articles that joined a story: its messages are out of date
    # of new_items: entries older than the backfill window on the feed's first poll,
    # stored by identity only (no page fetched, not matched)
    backlog_items: int = 0
    duration: float = 0.0
    error: str | None = None
    retry_after: float | None = None
    # seconds the response says it stays fresh (Cache-Control max-age / Expires);
    # monitor.service.schedule does not poll sooner unless the config says so.
    cache_lifetime: float | None = None
    feed_state: FeedState | None = None
    problems: list[str] = field(default_factory=list)


# When to poll a feed next, from (status, its new state, Retry-After seconds, cache
# lifetime seconds). The store calls it inside the poll's write, so the next poll
# time is stored with the outcome in one statement (monitor.service.polling supplies it).
PollPlanner = Callable[[str, FeedState, "float | None", "float | None"], datetime]


async def poll_feed(
    runtime: Runtime, store: Store, fetcher: Fetcher, feed: FeedConfig, next_poll: PollPlanner | None = None
) -> PollOutcome:
    started = time.monotonic()
    try:
        outcome = await _poll(runtime, store, fetcher, feed, next_poll)
    except DBAPIError as exc:
        # Disk full, read-only, locked too long, server gone: nothing of this poll was
        # committed (each item is one transaction), and the feed's validators were not
        # updated, so the next poll fetches and finds the same items again.
        outcome = PollOutcome(feed.url, "db_error", error=database_problem(exc))
    outcome.duration = time.monotonic() - started
    log.info(
        "poll",
        feed=feed.url,
        status=outcome.status,
        entries=outcome.entries,
        new=outcome.new_items,
        matched=outcome.matched_items,
        alerts=outcome.alerts_queued,
        duration=round(outcome.duration, 3),
        **({"backlog": outcome.backlog_items} if outcome.backlog_items else {}),
        **({"error": outcome.error} if outcome.error else {}),
    )
    for problem in outcome.problems:
        log.warning("feed_problem", feed=feed.url, problem=problem)
    return outcome


def _planner(next_poll: PollPlanner | None, status: str, retry_after: float | None, lifetime: float | None) -> NextPoll | None:
    if next_poll is None:
        return None
    return lambda state: next_poll(status, state, retry_after, lifetime)


async def _poll(runtime: Runtime, store: Store, fetcher: Fetcher, feed: FeedConfig, next_poll: PollPlanner | None) -> PollOutcome:
    config = runtime.settings.config
    # The feed's row is read once per process; after that the store's copy (kept up to
    # date by record_poll) saves a thread hop and a transaction per poll.
    name = feed.name or feed.url
    state = store.feeds.cached(feed.url, name)
    if state is None:
        state = await asyncio.to_thread(store.feeds.ensure, feed.url, name)
    # configurable (defaults.broken_after); the default is the old max(6 x interval, 1 h).
    broken_after = timedelta(seconds=config.feed_broken_after(feed))
    try:
        response = await fetcher.get(
            feed.url, etag=state.etag, last_modified=state.last_modified, headers=feed.headers, accept=FEED_ACCEPT
        )
    except FetchError as exc:
        retry_after = exc.retry_after if isinstance(exc, HTTPStatusError) else None
        state = await asyncio.to_thread(
            store.feeds.record_poll,
            state.id,
            status=exc.kind,
            error=exc.reason,
            broken_after=broken_after,
            next_poll=_planner(next_poll, exc.kind, retry_after, None),
        )
        return PollOutcome(feed.url, exc.kind, error=exc.reason, retry_after=retry_after, feed_state=state)

    if response.not_modified:
        lifetime = cache_lifetime(response.headers)
        planner = _planner(next_poll, "not_modified", None, lifetime)
        # Most polls end here; on a healthy feed they are bookkept in memory and written
        # in batches (FeedRepository.flush_polls), which saves a thread hop and a transaction each.
        noted = store.feeds.note_not_modified(state.id, planner)
        if noted is None:
            noted = await asyncio.to_thread(store.feeds.record_poll, state.id, status="not_modified", next_poll=planner)
        return PollOutcome(feed.url, "not_modified", feed_state=noted, cache_lifetime=lifetime)

    parsed = await asyncio.to_thread(
        parse_feed, response.body, response.url, config.fetch.max_items_per_feed, config.fetch.max_text_chars
    )
    outcome = PollOutcome(feed.url, "ok", entries=len(parsed.entries), problems=list(parsed.problems))
    outcome.cache_lifetime = cache_lifetime(response.headers)
    if not parsed.entries and parsed.problems:
        outcome.status, outcome.error = "parse_error", parsed.problems[0]
        outcome.feed_state = await asyncio.to_thread(
            store.feeds.record_poll,
            state.id,
            status="parse_error",
            error=parsed.problems[0],
            broken_after=broken_after,
            next_poll=_planner(next_poll, "parse_error", None, outcome.cache_lifetime),
        )
        return outcome

    outlet = feed.name or parsed.title or feed.url
    first_poll = not state.seeded
    declared_language = parsed.language
    # Oldest first, so alerts for a burst of new items go out in publication order.
    # The database work is batched per feed: one query tells which entries are known
    # (GUID in this feed / canonical URL anywhere) and one thread hop stores the new
    # ones, each still in its own transaction with its mentions and alerts.
    candidates: list[tuple[FeedEntry, str | None]] = []
    for entry in reversed(parsed.entries):
        try:
            candidates.append((entry, identity.canonical_url(entry.url) if entry.url else None))
        except Exception as exc:  # noqa: BLE001 - one bad item must not stop the feed
            _item_failed(outcome, feed, entry, exc)
    now = store.database.now()
    listed_since = now - LISTING_REFRESH
    known = (
        await asyncio.to_thread(
            partial(store.items.known_entries, listed_since=listed_since),
            state.id,
            [(entry.guid, canonical) for entry, canonical in candidates],
        )
        if candidates
        else []
    )
    pending: list[_Planned] = []
    backlog: list[NewItem] = []
    for (entry, canonical), is_known in zip(candidates, known, strict=True):
        if is_known:
            continue
        if first_poll and not _recent_enough(entry, config.defaults.backfill, now):
            # A first poll finds the feed's archive: older than the backfill window it is
            # only remembered, so that it is never new later. No page download (politeness:
            # a first start of 10,000 feeds must not mean 200,000 page fetches), no matching.
            backlog.append(_identity_only(state, entry, canonical))
            continue
        try:
            pending.append(
                await _plan_entry(runtime, store, fetcher, state, entry, canonical, outlet, feed.language or declared_language)
            )
        except DBAPIError:
            raise  # not this item's fault: stop the poll, retry it whole later
        except Exception as exc:  # noqa: BLE001 - one bad item must not stop the feed
            _item_failed(outcome, feed, entry, exc)
    if backlog:
        await _store_backlog(store, feed, backlog, outcome)
    # Burst guard: more items to alert on than alerts.burst_limit (an archive republished,
    # a site migration) get one summary per chat instead of one alert each.
    alerting = [p for p in pending if p.queued]
    burst = alerting if len(alerting) > config.alerts.burst_limit else []
    singles = [p for p in pending if not burst or not p.queued]
    if singles:
        results, db_error = await asyncio.to_thread(
            store.items.add_many, [(p.item, p.mentions, p.queued) for p in singles], runtime.stories
        )
        for planned, item_id in zip(singles, results, strict=False):  # results stop at a database error
            if isinstance(item_id, Exception):
                _item_failed(outcome, feed, planned.entry, item_id)
                continue
            if item_id is None:
                continue  # stored meanwhile by another poll (or a duplicate within this feed)
            story = runtime.stories.outcome(item_id) if runtime.stories is not None else None
            if story is not None:
                # A later article of a story alerts only chats without a message of it yet.
                planned.queued = [a for a in planned.queued if a.chat_id in story[1]]
                planned.story = story[0].story_id
                outcome.stories_grown += not story[0].new_story
            result = _stored(planned, store.database.now())
            outcome.new_items += 1
            outcome.matched_items += bool(planned.found)  # alerted or not (a later report of a story)
            outcome.alerts_queued += result
        if db_error is not None:
            raise db_error  # the items before it are committed; the poll is retried whole later
    if burst:
        await _store_burst(runtime, store, feed, outlet, burst, outcome)
    outcome.feed_state = await asyncio.to_thread(
        store.feeds.record_poll,
        state.id,
        status="ok",
        etag=response.etag,
        last_modified=response.last_modified,
        declared_interval=parsed.ttl_seconds,
        seeded=True,
        next_poll=_planner(next_poll, "ok", None, outcome.cache_lifetime),
        # An entry that could not be identified was not marked listed: then the feed's
        # content is not all marked, and its mark stays where it was.
        listed_since=listed_since if len(candidates) == len(parsed.entries) else None,
    )
    return outcome


async def _store_burst(
    runtime: Runtime, store: Store, feed: FeedConfig, outlet: str, burst: list[_Planned], outcome: PollOutcome
) -> None:
    """The items of a burst and their summaries (one per chat, cut to Telegram's limit),
    in one transaction: a summary exists iff the items it lists were stored."""
    limit = runtime.settings.config.alerts.burst_limit
    summary_rows: list[tuple[int, QueuedAlert]] = []

    def summaries(ids: list[int | None]) -> list[tuple[int, QueuedAlert]]:
        stored = [(planned, item_id) for planned, item_id in zip(burst, ids, strict=True) if item_id is not None]
        # Each chat gets the items it would have been alerted about (the channel all of
        # them, a subscriber those of the entities followed), in the poll's order.
        per_chat: dict[str, list[tuple[_Planned, int]]] = {}
        held: dict[str, QueuedAlert] = {}  # a chat's first alert: quiet hours hold its summary alike
        rows: list[tuple[int, QueuedAlert]] = []
        for planned, item_id in stored:
            for alert in planned.queued:
                if alert.status == "digest":  # collected for the chat's digest, not summarised
                    rows.append((item_id, alert))
                    continue
                per_chat.setdefault(alert.chat_id, []).append((planned, item_id))
                held.setdefault(alert.chat_id, alert)
        for chat, listed in per_chat.items():
            items = [BurstItem(p.entry.title, p.entry.url or "") for p, _ in listed]
            first = held[chat]
            for part in format_burst_summary(outlet, items, len(stored), limit):
                # Each message rides on the first item it lists (one alert row per item and chat).
                rows.append((
                    listed[part.first][1],
                    QueuedAlert(chat, part.text_html, part.text_plain, silent=first.silent, not_before=first.not_before),
                ))
        summary_rows[:] = rows
        return rows

    try:
        ids = await asyncio.to_thread(store.items.add_together, [(p.item, p.mentions) for p in burst], summaries)
    except DBAPIError:
        raise  # nothing of the burst was committed; the poll is retried whole later
    except Exception as exc:  # noqa: BLE001 - a bad burst must not stop the feed
        for planned in burst:
            _item_failed(outcome, feed, planned.entry, exc)
        return
    now = store.database.now()
    stored = 0
    for planned, item_id in zip(burst, ids, strict=True):
        if item_id is None:
            continue
        _stored(planned, now, summarised=True)
        stored += 1
    outcome.new_items += stored
    outcome.matched_items += stored
    outcome.alerts_queued += len(summary_rows)
    if stored:
        log.warning(
            "burst_summarised",
            feed=feed.url,
            items=stored,
            burst_limit=limit,
            chats=len({alert.chat_id for _, alert in summary_rows}),
            messages=len(summary_rows),
            reason="more new matching items in one poll than alerts.burst_limit: one summary per chat instead of an alert each",
        )


async def _store_backlog(store: Store, feed: FeedConfig, backlog: list[NewItem], outcome: PollOutcome) -> None:
    """The identities of a first poll's old entries, in one statement (there may be
    hundreds; a first start of 10,000 feeds stores 200,000)."""
    try:
        stored = await asyncio.to_thread(store.items.add_identities, backlog)
    except DBAPIError:
        raise  # nothing of the backlog was committed; the poll is retried whole later
    except Exception as exc:  # noqa: BLE001 - a bad batch must not stop the feed
        log.error("backlog_failed", feed=feed.url, items=len(backlog), error=str(exc), exc_info=exc)
        outcome.problems.append(f"{len(backlog)} old entries not stored: {type(exc).__name__}")
        return
    outcome.new_items += stored
    outcome.backlog_items += stored


def _identity_only(state: FeedState, entry: FeedEntry, canonical: str | None) -> NewItem:
    """An entry remembered without being read: what dedup needs (GUID, URL, canonical
    URL) and its date, no text, no content hash."""
    return NewItem(
        feed_id=state.id,
        guid=entry.guid,
        url=entry.url,
        canonical_url=canonical,
        title="",
        published_at=entry.published,
        body="",
        body_source="unread",
        content_hash=None,
    )


@dataclass
class _Planned:
    """A new entry, matched and ready to store."""

    entry: FeedEntry
    item: NewItem
    mentions: list[FoundMention]
    queued: list[QueuedAlert]
    found: list[EntityMatch]
    story: int | None = None  # the story it was placed in


def _item_failed(outcome: PollOutcome, feed: FeedConfig, entry: FeedEntry, exc: BaseException) -> None:
    log.error("item_failed", feed=feed.url, item=entry.url or entry.guid, error=str(exc), exc_info=exc)
    outcome.problems.append(f"item {entry.url or entry.guid} failed: {type(exc).__name__}")


async def _plan_entry(
    runtime: Runtime,
    store: Store,
    fetcher: Fetcher,
    state: FeedState,
    entry: FeedEntry,
    canonical: str | None,
    outlet: str,
    language: str | None = None,
) -> _Planned:
    """Text, matches and alerts of an entry not known yet (the store checks again, in the
    item's own transaction, when it stores it)."""
    config = runtime.settings.config
    page_text = None
    if config.fetch.fetch_pages and entry.url:
        with metrics.EXTRACT_SECONDS.time():  # page fetch + extraction latency
            page_text = await _page_text(fetcher, entry.url, config.fetch.max_text_chars)
    body, source = best_text(page_text, entry.summary, config.fetch.max_text_chars)
    hashed = identity.content_hash(entry.title, body) if len(body) >= MIN_HASHED_CHARS else None

    text = f"{entry.title}\n\n{body}" if entry.title else body
    found = runtime.matcher.match(text)
    mentions = [
        FoundMention(m.entity_id, m.name, mention.text, mention.start, mention.end, mention.alias, mention.rule)
        for m in found
        for mention in m.mentions
    ]
    queued: list[QueuedAlert] = []
    if found:
        # chat -> (its delivery choices, the matched entities it follows and has not
        # muted, first-mentioned first)
        subscribers: dict[str, tuple[ChatPreferences, list[str]]] = {}
        if config.telegram.token:  # a database read: in a thread, like every store call
            by_first_mention = sorted(found, key=lambda m: min(x.start for x in m.mentions))
            subscribers = await asyncio.to_thread(_subscribers_of, store, [m.entity_id for m in by_first_mention])
        queued = _alerts_for(runtime, subscribers, entry, outlet, text, found, store.database.now())
    item = NewItem(
        feed_id=state.id,
        guid=entry.guid,
        url=entry.url,
        canonical_url=canonical,
        title=entry.title,
        published_at=entry.published,
        # Unmatched items keep only their identity: the database stays small and
        # dedup still works; matched ones keep their text for search.
        body=body if found else "",
        body_source=source,
        content_hash=hashed,
        lang=article_language(language, None, text) if found else None,
    )
    return _Planned(entry, item, mentions, queued, found)


def _stored(planned: _Planned, now: datetime, *, summarised: bool = False) -> int:
    """Metrics and the log line of a newly stored item. Returns the number of alerts queued
    (0 for an item without matches or listed in a burst summary)."""
    entry, found, queued = planned.entry, planned.found, planned.queued
    if found:
        # metrics for a newly stored matching item
        for m in found:
            metrics.MATCHES.labels(m.entity_id).inc()
        if summarised:
            queued = []  # listed in the burst's summary instead
        if queued and entry.published is not None:
            metrics.PUBLISH_TO_QUEUE_SECONDS.observe(max(0.0, (now - entry.published).total_seconds()))
        log.info(
            "match",
            item=entry.url or entry.guid,
            entities=[m.entity_id for m in found],
            alerts=len(queued),
            **({"story": planned.story} if planned.story is not None else {}),
            **({"summarised": "listed in the poll's burst summary"} if summarised else {}),
        )
    return len(queued)


async def _page_text(fetcher: Fetcher, url: str, max_chars: int) -> str | None:
    try:
        page = await fetcher.get(url, accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.5")
    except FetchError as exc:
        log.info("page_unavailable", url=url, reason=exc.reason, fallback="feed text")
        return None
    if "html" not in page.content_type and not page.body.lstrip()[:100].lower().startswith((b"<!doctype", b"<html")):
        return None
    return await extract_text_async(page.body, page.url, max_chars)


def _recent_enough(entry: FeedEntry, window_seconds: float, now: datetime) -> bool:
    if entry.published is None:
        return False
    return now - entry.published <= timedelta(seconds=window_seconds)


def alert_content(
    entry_title: str, url: str, outlet: str, published: datetime | None, text: str, found: list[EntityMatch]
) -> AlertContent:
    first = min((mention for m in found for mention in m.mentions), key=lambda mention: mention.start)
    snippet, start, end = snippet_around(text, first.start, first.end)
    return AlertContent(
        title=entry_title or url,
        url=url,
        outlet=outlet,
        published=published,
        entities=tuple((m.entity_id, m.name) for m in found),
        snippet=snippet,
        mention_start=start,
        mention_end=end,
    )


def _subscribers_of(store: Store, entity_ids: list[str]) -> dict[str, tuple[ChatPreferences, list[str]]]:
    """Active subscribers following any of these entities and not muting all of those,
    with their delivery choices and the entities the alert is about for them."""
    about = store.subscribers.recipients(entity_ids)
    prefs = store.preferences.for_chats(list(about))
    return {chat: (prefs.get(chat, ChatPreferences()), entities) for chat, entities in about.items()}


def _alerts_for(
    runtime: Runtime,
    subscribers: dict[str, tuple[ChatPreferences, list[str]]],
    entry: FeedEntry,
    outlet: str,
    text: str,
    found: list[EntityMatch],
    now: datetime,
) -> list[QueuedAlert]:
    """One outbox row per chat, each as monitor.notify.priority routes it for that chat:
    to be sent now, held until the chat's quiet hours end (then sent silently), or
    collected for the chat's digest (status 'digest'). A subscriber's alert carries the
    feedback buttons about the first-mentioned entity it follows and has not muted;
    only those entities route it (a muted one makes nothing immediate)."""
    content = alert_content(entry.title, entry.url or "", outlet, entry.published, text, found)
    html, plain = format_alert_html(content), format_alert_plain(content)
    entity_ids = [m.entity_id for m in found]
    # the channel: no choices of its own, no buttons
    chats: dict[str, tuple[ChatPreferences | None, list[str]]] = {runtime.alert_chat: (None, entity_ids)}
    for chat, chosen in subscribers.items():
        chats.setdefault(chat, chosen)
    queued = []
    for chat, (prefs, about) in chats.items():
        way = route(about, runtime.rules, prefs, now)
        if way.kind == "digest":
            queued.append(QueuedAlert(chat, html, plain, status="digest", silent=True))
        else:
            buttons = about[0] if prefs is not None else None
            queued.append(QueuedAlert(chat, html, plain, silent=way.silent, not_before=way.not_before, feedback_entity=buttons))
    return queued
