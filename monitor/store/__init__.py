"""Persistence: schema + migrations (schema.py), writes and reads (repository.py),
reports for people at a terminal (reports.py)."""

from monitor.store.repository import (
    FeedState,
    FoundMention,
    NewItem,
    OutboxRow,
    QueuedAlert,
    Store,
    database_problem,
    utcnow,
)

__all__ = ["FeedState", "FoundMention", "NewItem", "OutboxRow", "QueuedAlert", "Store", "database_problem", "utcnow"]
