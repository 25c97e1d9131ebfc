"""`Store`: one database, one repository per concern."""

from __future__ import annotations

from monitor.store.database import Clock, Database, utcnow
from monitor.store.digests import DigestRepository
from monitor.store.feedback import FeedbackRepository
from monitor.store.feeds import FeedRepository
from monitor.store.instances import InstanceRepository
from monitor.store.items import ItemRepository
from monitor.store.outbox import OutboxRepository
from monitor.store.stories import StoryRepository
from monitor.store.preferences import PreferenceRepository
from monitor.store.retention import RetentionRepository
from monitor.store.subscribers import SubscriberRepository
from monitor.store.values import ValueRepository

__all__ = ["Store"]


class Store:
    """Opens (and migrates) the database at `url`; every row is stamped by `clock`;
    PostgreSQL cancels a statement running longer than `statement_timeout` seconds."""

    def __init__(self, url: str, clock: Clock = utcnow, *, statement_timeout: float | None = None):
        self.database = Database(url, clock, statement_timeout=statement_timeout)
        self.feeds = FeedRepository(self.database)
        self.stories = StoryRepository(self.database)
        self.items = ItemRepository(self.database, self.stories)
        self.outbox = OutboxRepository(self.database)
        self.subscribers = SubscriberRepository(self.database)
        self.values = ValueRepository(self.database)
        self.instances = InstanceRepository(self.database)
        self.preferences = PreferenceRepository(self.database)
        self.digests = DigestRepository(self.database)
        self.feedback = FeedbackRepository(self.database)
        self.retention = RetentionRepository(self.database)

    @property
    def display_url(self) -> str:
        """The database URL with any password hidden, for messages and logs."""
        return self.database.display_url

    def close(self) -> None:
        self.database.close()
