"""Persistence: the schema and its migrations (schema.py), the connection owner
(database.py), one repository per concern (feeds, items, stories, outbox,
subscribers, values, instances, preferences, digests, feedback, retention) bundled by `Store`, and the read-only queries for people at a terminal
(reports.py: recent, search, stats; mentions.py: the articles behind `report`)."""

from monitor.store.database import Clock, Database, aware, database_problem, display_url, utcnow
from monitor.store.digests import DigestEntry, DigestPart, DigestRepository
from monitor.store.feedback import CHOICES, MUTE_FOR, Choice, FeedbackRepository, Press
from monitor.store.feeds import ClaimRefused, FeedRepository, FeedState, NextPoll
from monitor.store.instances import InstanceInfo, InstanceRepository, LeaseGrant, listen_for_alerts
from monitor.store.items import AlertsForStored, FoundMention, ItemRepository, NewItem, QueuedAlert, StoreResult
from monitor.store.outbox import EditRow, OutboxRepository, OutboxRow
from monitor.store.preferences import ChatPreferences, PreferenceRepository, QuietSetting
from monitor.store.retention import FINISHED_ALERTS, RetentionRepository
from monitor.store.store import Store
from monitor.store.stories import Placement, Story, StoryArticle, StoryPlacer, StoryRepository, StoredArticle
from monitor.store.subscribers import SubscriberRepository, Subscription
from monitor.store.values import ValueRepository

__all__ = [
    "CHOICES",
    "MUTE_FOR",
    "FINISHED_ALERTS",
    "AlertsForStored",
    "ClaimRefused",
    "ChatPreferences",
    "Choice",
    "Clock",
    "Database",
    "DigestEntry",
    "DigestPart",
    "DigestRepository",
    "EditRow",
    "FeedbackRepository",
    "FeedRepository",
    "FeedState",
    "FoundMention",
    "InstanceInfo",
    "InstanceRepository",
    "ItemRepository",
    "LeaseGrant",
    "NewItem",
    "NextPoll",
    "OutboxRepository",
    "OutboxRow",
    "Placement",
    "PreferenceRepository",
    "Press",
    "QueuedAlert",
    "QuietSetting",
    "RetentionRepository",
    "Store",
    "StoreResult",
    "StoredArticle",
    "Story",
    "StoryArticle",
    "StoryPlacer",
    "StoryRepository",
    "SubscriberRepository",
    "Subscription",
    "ValueRepository",
    "aware",
    "database_problem",
    "display_url",
    "listen_for_alerts",
    "utcnow",
]
