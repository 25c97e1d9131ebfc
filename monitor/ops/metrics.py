"""Prometheus metrics: one registry for the process, served by monitor.ops.health on /metrics.

Counters are bumped where things happen (service: per poll; pipeline: matches,
extraction, queueing; the sender: alerts sent/failed). Gauges that describe the
database (feeds broken, outbox depth and age, alerts by status) are read from
the store at scrape time by `refresh_from_store`, so they are right after a
restart and whichever process wrote the rows.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)
_AGE_BUCKETS = (30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600, 86400)

POLLS = Counter("monitor_polls", "Feed polls by outcome (ok, not_modified, or an error kind).", ["status"], registry=REGISTRY)
NOT_MODIFIED = Counter("monitor_not_modified", "Polls answered 304 Not Modified.", registry=REGISTRY)
POLL_ERRORS = Counter("monitor_poll_errors", "Failed polls by kind (http_status, timeout, network, parse_error, ...).", ["kind"], registry=REGISTRY)
HTTP_ERRORS = Counter("monitor_http_errors", "Feed polls answered with an HTTP error, by status code.", ["code"], registry=REGISTRY)
RETRY_AFTER = Counter("monitor_retry_after_honoured", "Polls postponed because the publisher sent Retry-After.", registry=REGISTRY)
ITEMS_SEEN = Counter("monitor_items_seen", "Feed entries seen (new or known).", registry=REGISTRY)
ITEMS_NEW = Counter("monitor_items_new", "New items stored.", registry=REGISTRY)
MATCHES = Counter("monitor_matches", "New items matching an entity, per entity id.", ["entity"], registry=REGISTRY)
ALERTS_QUEUED = Counter("monitor_alerts_queued", "Alerts written to the outbox.", registry=REGISTRY)
# Bumped by the sender (monitor/notify); the outbox gauges below are the database's view.
ALERTS_SENT = Counter("monitor_alerts_sent", "Alerts delivered (to Telegram, or printed without a token).", registry=REGISTRY)
ALERTS_FAILED = Counter("monitor_alerts_failed", "Alerts Telegram refused for good (chat gone, text rejected).", registry=REGISTRY)
ALERTS_UNKNOWN = Counter(
    "monitor_alerts_unknown",
    "Alerts sent without an answer (read timeout, connection lost, process killed mid-send): "
    "they may or may not have arrived, and are not resent.",
    registry=REGISTRY,
)
ALERT_RETRIES = Counter(
    "monitor_alert_retries",
    "Sends Telegram answered 'not now' (flood_control: a 429 with retry_after; "
    "telegram_unavailable: 5xx, unreachable, token refused); the alert stays queued.",
    ["reason"],
    registry=REGISTRY,
)
# Bumped by the bot (monitor/notify/commands.py) for each stored press on an alert's buttons.
FEEDBACK_PRESSES = Counter(
    "monitor_feedback_presses",
    "Readers' presses on alert buttons, by choice (relevant, not_relevant, mute; ignored: unknown or old alert).",
    ["choice"],
    registry=REGISTRY,
)
EDITS_SENT = Counter(
    "monitor_alert_edits_sent",
    "Story messages edited in place by a later report (other outlets, the count, new entities).",
    registry=REGISTRY,
)
EDITS_FAILED = Counter(
    "monitor_alert_edits_failed",
    "Story messages whose edits ended: deleted in Telegram (message to edit not found) or refused.",
    registry=REGISTRY,
)
TELEGRAM_AVAILABLE = Gauge(
    "monitor_telegram_available",
    "1 while the Bot API answers the sender, 0 while it is down or unreachable (alerts are held).",
    registry=REGISTRY,
)

POLL_SECONDS = Histogram("monitor_poll_duration_seconds", "One feed poll end to end.", buckets=_LATENCY_BUCKETS, registry=REGISTRY)
EXTRACT_SECONDS = Histogram(
    "monitor_extraction_duration_seconds", "Article page fetch + text extraction.", buckets=_LATENCY_BUCKETS, registry=REGISTRY
)
PUBLISH_TO_QUEUE_SECONDS = Histogram(
    "monitor_publish_to_queue_seconds", "From an item's published time to its alert being queued.", buckets=_AGE_BUCKETS, registry=REGISTRY
)
# Observed by the sender when an alert is delivered (see observe_publish_to_alert).
PUBLISH_TO_ALERT_SECONDS = Histogram(
    "monitor_publish_to_alert_seconds", "From an item's published time to its alert being sent.", buckets=_AGE_BUCKETS, registry=REGISTRY
)

SCHEDULER_UP = Gauge("monitor_scheduler_running", "1 while the scheduler runs.", registry=REGISTRY)
FEEDS = Gauge("monitor_feeds", "Configured feeds.", registry=REGISTRY)
FEEDS_BROKEN = Gauge("monitor_feeds_broken", "Configured feeds currently marked broken.", registry=REGISTRY)
POLLS_IN_FLIGHT = Gauge("monitor_polls_in_flight", "Polls running now.", registry=REGISTRY)
LAST_POLL = Gauge("monitor_last_poll_timestamp_seconds", "Unix time of the last finished poll.", registry=REGISTRY)
QUEUE_DEPTH = Gauge("monitor_alert_queue_depth", "Alerts waiting in the outbox.", registry=REGISTRY)
QUEUE_AGE = Gauge("monitor_alert_queue_oldest_age_seconds", "Age of the oldest waiting alert (0 when empty).", registry=REGISTRY)
ALERTS_BY_STATUS = Gauge("monitor_alerts", "Alerts in the database by status.", ["status"], registry=REGISTRY)
RETENTION_PRUNED = Counter(
    "monitor_retention_pruned",
    "Rows deleted by retention (storage.retention), by kind: items (unmatched identities), alerts, delivery_attempts.",
    ["kind"],
    registry=REGISTRY,
)
RELOADS = Counter("monitor_config_reloads", "Configuration reloads by result (applied, rejected).", ["result"], registry=REGISTRY)
CONFIG_OK = Gauge("monitor_config_last_reload_ok", "1 if the last reload attempt was applied, 0 if rejected.", registry=REGISTRY)


class PollResult(Protocol):
    """What observe_poll reads of a poll's outcome (monitor.service.pipeline.PollOutcome)."""

    status: str
    duration: float
    entries: int
    new_items: int
    alerts_queued: int
    error: str | None


def observe_poll(outcome: PollResult) -> None:
    """Count one PollOutcome (monitor.service.pipeline)."""
    POLLS.labels(outcome.status).inc()
    POLL_SECONDS.observe(outcome.duration)
    LAST_POLL.set_to_current_time()
    ITEMS_SEEN.inc(outcome.entries)
    ITEMS_NEW.inc(outcome.new_items)
    ALERTS_QUEUED.inc(outcome.alerts_queued)
    if outcome.status == "not_modified":
        NOT_MODIFIED.inc()
    elif outcome.status != "ok":
        POLL_ERRORS.labels(outcome.status).inc()
        if outcome.error and outcome.error.startswith("HTTP "):
            HTTP_ERRORS.labels(outcome.error[5:8]).inc()


def observe_publish_to_alert(published_at: datetime | None, sent_at: datetime | None = None) -> None:
    if published_at is None:
        return
    sent_at = sent_at or datetime.now(timezone.utc)
    if published_at.tzinfo is None:
        published_at = published_at.replace(tzinfo=timezone.utc)
    PUBLISH_TO_ALERT_SECONDS.observe(max(0.0, (sent_at - published_at).total_seconds()))


def refresh_from_store(store: Any, feed_urls: list[str]) -> None:  # Any: ops sits below the store layer
    """Database-derived gauges; synchronous (run it in a thread)."""
    count, oldest = store.outbox.depth()
    QUEUE_DEPTH.set(count)
    QUEUE_AGE.set(max(0.0, (datetime.now(timezone.utc) - oldest).total_seconds()) if oldest else 0.0)
    by_status = store.outbox.counts()
    for status in ("queued", "sending", "sent", "failed", "unknown", *by_status):
        ALERTS_BY_STATUS.labels(status).set(by_status.get(status, 0))
    FEEDS.set(len(feed_urls))
    FEEDS_BROKEN.set(store.feeds.count_broken(feed_urls))


def render() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
