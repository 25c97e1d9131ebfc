"""The service's health, assembled from live checks (the database, the Telegram Bot
API, the scheduler, the last reload) for /healthz, and the database-derived gauges
refreshed for /metrics. The verdict itself is pure: monitor.ops.health.verdict."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from monitor.notify import Reachability
from monitor.ops import metrics
from monitor.ops.health import Health, verdict
from monitor.ops.logs import redact
from monitor.store import InstanceInfo, Store

__all__ = ["CHECK_TIMEOUT_SECONDS", "InstancesProbe", "TelegramProbe", "assemble_health", "instance_check", "refresh_metrics"]

# A check that takes longer than this counts as failed: /healthz must answer within the
# container's 4 s health-check timeout, so the checks run at the same time.
CHECK_TIMEOUT_SECONDS = 3.5

# Does the Bot API answer? (reachable, why not); None: Telegram is not configured.
TelegramProbe = Callable[[], Awaitable[Reachability | None]]
# The instances sharing the database (several instances on PostgreSQL).
InstancesProbe = Callable[[], Awaitable[list[InstanceInfo]]]


async def assemble_health(
    store: Store,
    feed_urls: list[str],
    *,
    scheduler_running: bool,
    config_ok: bool,
    degraded_share: float,
    telegram_probe: TelegramProbe | None,
    instances_probe: InstancesProbe | None = None,
    this_instance: str | None = None,
) -> Health:
    async def telegram_check() -> Reachability | None:
        if telegram_probe is None:
            return None
        try:  # the probe has its own (shorter) timeout; this one is a guard
            return await asyncio.wait_for(telegram_probe(), timeout=CHECK_TIMEOUT_SECONDS)
        except Exception as exc:  # noqa: BLE001
            return Reachability(False, _problem(exc))

    telegram_task = asyncio.ensure_future(telegram_check())
    try:
        broken = await asyncio.wait_for(asyncio.to_thread(store.feeds.count_broken, feed_urls), timeout=CHECK_TIMEOUT_SECONDS)
        database_ok, database_error = True, None
    except Exception as exc:  # noqa: BLE001 - any failure here means "unreachable"
        broken, database_ok = 0, False
        database_error = _problem(exc)
    shown: list[dict[str, object]] | None = None
    if instances_probe is not None and database_ok:
        try:
            shown = [instance_check(i) for i in await asyncio.wait_for(instances_probe(), timeout=CHECK_TIMEOUT_SECONDS)]
        except Exception as exc:  # noqa: BLE001 - the database went away between the checks
            database_ok, database_error = False, _problem(exc)
    telegram = await telegram_task
    return verdict(
        scheduler_running=scheduler_running,
        database_ok=database_ok,
        database_error=database_error,
        telegram=telegram,
        feeds=len(feed_urls),
        broken_feeds=broken,
        degraded_share=degraded_share,
        config_ok=config_ok,
        instances=shown if instances_probe is not None else None,
        this_instance=this_instance,
    )


def instance_check(info: InstanceInfo) -> dict[str, object]:
    """One instance as /healthz shows it."""
    return {
        "id": info.id,
        "host": info.host,
        "pid": info.pid,
        "started_at": info.started_at.isoformat(),
        "heartbeat_age": info.heartbeat_age,
        "alive": info.alive,
        "feed_leases": info.feed_leases,
        "last_polled": info.last_polled,
        "sender": any(role.startswith("sender:") for role in info.roles),
    }


async def refresh_metrics(store: Store, feed_urls: list[str]) -> None:
    await asyncio.wait_for(asyncio.to_thread(metrics.refresh_from_store, store, feed_urls), timeout=CHECK_TIMEOUT_SECONDS)


def _problem(exc: Exception) -> str:
    return redact(f"{type(exc).__name__}: {exc}")[:300]
