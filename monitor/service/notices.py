"""Notices for the operators (a feed broken or recovered, a configuration rejected):
always a structured log line; a Telegram message to telegram.admins as well when a
notifier is wired."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from monitor.ops.logs import get_logger

__all__ = ["AdminNotifier", "AdminNotices"]

log = get_logger("monitor.service.notices")

AdminNotifier = Callable[[str], Awaitable[None]]


class AdminNotices:
    def __init__(self, notifier: AdminNotifier | None = None):
        self.notifier = notifier

    async def send(self, text: str, *, event: str = "admin_notice", **fields: Any) -> None:
        log.warning(event, notice=text, **fields)
        if self.notifier is None:
            return
        try:
            await self.notifier(text)
        except Exception as exc:  # noqa: BLE001 - a notice failing must not stop the service
            log.error("admin_notice_failed", error=f"{type(exc).__name__}: {exc}")
