"""Small named values that must survive restarts (e.g. the bot's getUpdates offset)."""

from __future__ import annotations

from sqlalchemy import select, update

from monitor.store.database import Database
from monitor.store.schema import service_state

__all__ = ["ValueRepository"]


class ValueRepository:
    def __init__(self, database: Database):
        self._db = database

    def get(self, key: str) -> str | None:
        with self._db.read() as conn:
            return conn.execute(select(service_state.c.value).where(service_state.c.key == key)).scalar()

    def set(self, key: str, value: str) -> None:
        with self._db.write() as conn:
            changed = conn.execute(update(service_state).where(service_state.c.key == key).values(value=value))
            if changed.rowcount == 0:
                conn.execute(service_state.insert().values(key=key, value=value))
