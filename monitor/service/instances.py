"""Several instances on one PostgreSQL database: this instance among the others.

PostgreSQL coordinates; there is no protocol between the instances themselves:

* registry: each instance has a row (id, host, pid, started_at, heartbeat_at),
  renewed every `instances.heartbeat`; one without a heartbeat for
  `instances.lease` is dead (its claims have run out by then);
* feeds: every instance schedules every feed on its own APScheduler, and a feed's
  job first claims the feed (`claim`, one conditional UPDATE in
  monitor.store.feeds): due, and not claimed by another living instance. The
  instance that lost re-arms its job for when the feed is due again or the
  holder's claim runs out. The heartbeat renews the claims of polls in flight;
  writing a poll's next poll time releases its claim;
* the sender: one instance per bot token holds the lease `sender:<bot id>`
  (monitor.store.instances), renewed by the heartbeat and taken over when it
  expires. Only it sends alerts and long-polls getUpdates (two pollers get 409
  Conflict from Telegram), so Telegram's limits hold across instances; the others
  only queue. It learns of alerts queued anywhere through LISTEN/NOTIFY. A sender
  that could not renew its lease for half a lease stops starting sends (`may_send`),
  so its last sends are over before anyone may take the role; the instance that
  takes over settles what the previous sender left 'sending' (never resent).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable

from monitor.config import FeedConfig, InstancesConfig, TelegramConfig
from monitor.ops.logs import get_logger, redact
from monitor.store import ClaimRefused, InstanceInfo, Store, database_problem, listen_for_alerts

__all__ = ["Coordinator", "sender_role"]

log = get_logger("monitor.service.instances")

# A refused claim is asked again no sooner than this (a holder finishing this moment).
MIN_CLAIM_RETRY_SECONDS = 1.0
# Dead instances' rows are pruned about this often (in heartbeats).
PRUNE_EVERY_BEATS = 30


def sender_role(telegram: TelegramConfig) -> str:
    """The lease naming the sender of this bot (its public id, never the token), or of the console."""
    if not telegram.token:
        return "sender:console"
    return "sender:" + telegram.token.split(":", 1)[0]


class Coordinator:
    """Registers this instance, renews its heartbeat, claims feeds for its polls and
    holds or waits for the sender role. `on_sender(True/False)` is awaited when this
    instance becomes or stops being the sender; `on_alerts()` is called while it is
    the sender and alerts were queued anywhere."""

    def __init__(
        self,
        store: Store,
        config: InstancesConfig,
        role: str,
        *,
        on_sender: Callable[[bool], Awaitable[None]],
        on_alerts: Callable[[], None],
    ):
        self.store = store
        self.config = config
        self.role = role
        self.id = uuid.uuid4().hex[:12]
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._on_sender = on_sender
        self._on_alerts = on_alerts
        self._is_sender = False
        self._send_until = 0.0  # monotonic: sends may start until then (half a lease after the last renewal began)
        self._beating: asyncio.Task[None] | None = None
        self._listening: asyncio.Task[None] | None = None
        self._failures = 0  # heartbeats failed in a row
        self._registered = False

    # -- what the others ask -------------------------------------------------

    @property
    def is_sender(self) -> bool:
        return self._is_sender

    def may_send(self) -> bool:
        """True while this instance holds the sender role with time to spare: a send
        started now is over before the lease could pass to another instance."""
        return self._is_sender and time.monotonic() < self._send_until

    async def claim(self, feed: FeedConfig) -> float | None:
        """Claim the feed for one poll: None when it is ours to poll now, else the
        seconds after which to ask again."""
        try:
            answer = await asyncio.to_thread(self.store.feeds.claim, feed.url, feed.name or feed.url, self.config.lease)
        except Exception as exc:  # noqa: BLE001 - one line for the log, without the SQL
            raise RuntimeError(redact(database_problem(exc))) from None
        if isinstance(answer, ClaimRefused):
            return max(answer.retry_in, MIN_CLAIM_RETRY_SECONDS)
        return None

    async def overview(self) -> list[InstanceInfo]:
        return await asyncio.to_thread(self.store.instances.overview, self.config.lease)

    # -- life ----------------------------------------------------------------

    async def start(self) -> None:
        """Register (claims need the id), try for the sender role once, then beat."""
        await asyncio.to_thread(self.store.instances.register, self.id, self.host, self.pid)
        self._registered = True
        self.store.feeds.owner = self.id
        log.info("instance_registered", instance=self.id, host=self.host, pid=self.pid, lease=self.config.lease)
        await self._elect()
        self._beating = asyncio.create_task(self._beat(), name="instance-heartbeat")

    async def stop(self) -> None:
        """Stop sending, give the role and the feed claims back at once (a clean stop
        makes no one wait for a lease), leave the registry."""
        for task in (self._beating, self._listening):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._beating = self._listening = None
        if self._is_sender:
            await self._drop_role("stopping")
        if not self._registered:
            return
        self._registered = False
        try:
            await asyncio.to_thread(self.store.instances.deregister, self.id)
        except Exception as exc:  # noqa: BLE001 - the database is gone: the claims and the role run out by themselves
            log.warning("instance_deregister_failed", instance=self.id, error=redact(database_problem(exc)))

    # -- the heartbeat -------------------------------------------------------

    async def _beat(self) -> None:
        beats = 0
        while True:
            await asyncio.sleep(self.config.heartbeat)
            beats += 1
            try:
                if not await asyncio.to_thread(self.store.instances.heartbeat, self.id, self.config.lease):
                    # Pruned as dead after a long outage: the same id comes back.
                    await asyncio.to_thread(self.store.instances.register, self.id, self.host, self.pid)
                if beats % PRUNE_EVERY_BEATS == 0:
                    await asyncio.to_thread(self.store.instances.prune_dead)
            except Exception as exc:  # noqa: BLE001 - the database is down: keep beating; the service stays up
                self._failed(exc)
            await self._elect()

    async def _elect(self) -> None:
        """Take or renew the sender role when it is free or ours; give it up when another
        instance holds it, or when it could not be renewed in time."""
        started = time.monotonic()
        try:
            grant = await asyncio.to_thread(self.store.instances.acquire, self.role, self.id, self.config.lease)
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)
            if self._is_sender and not self.may_send():
                await self._drop_role("the sender lease could not be renewed (database unreachable)")
            return
        if self._failures:
            log.info("instance_heartbeat_recovered", instance=self.id, after_failures=self._failures)
            self._failures = 0
        if grant.held:
            self._send_until = started + self.config.lease / 2
            if not self._is_sender:
                await self._take_role()
        elif self._is_sender:
            await self._drop_role(f"taken over by instance {grant.owner}")

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        if self._failures in (1, 10) or self._failures % 100 == 0:
            log.warning("instance_heartbeat_failed", instance=self.id, failures=self._failures, error=redact(database_problem(exc)))

    async def _take_role(self) -> None:
        self._is_sender = True
        log.info("sender_elected", instance=self.id, host=self.host, pid=self.pid, role=self.role)
        try:
            await self._on_sender(True)
        except Exception as exc:  # noqa: BLE001 - e.g. the database went away meanwhile: try again at the next beat
            log.error("sender_start_failed", instance=self.id, error=redact(database_problem(exc)))
            self._is_sender = False
            await self._quietly_stop_sending()
            return
        if self.store.database.engine.dialect.name == "postgresql":
            self._listening = asyncio.create_task(
                listen_for_alerts(self.store.database.url, self._on_alerts, self._listener_problem), name="alerts-listener"
            )

    async def _drop_role(self, reason: str) -> None:
        self._is_sender = False
        log.warning("sender_role_lost", instance=self.id, reason=reason)
        if self._listening is not None:
            self._listening.cancel()
            await asyncio.gather(self._listening, return_exceptions=True)
            self._listening = None
        await self._quietly_stop_sending()  # the lease itself goes with the registry row (stop) or runs out

    async def _quietly_stop_sending(self) -> None:
        try:
            await self._on_sender(False)
        except Exception as exc:  # noqa: BLE001 - stopping must not stop the heartbeat
            log.error("sender_stop_failed", instance=self.id, error=f"{type(exc).__name__}: {exc}"[:300])

    def _listener_problem(self, message: str, failures: int) -> None:
        if failures == 0:
            log.info("alerts_listener_reconnected", instance=self.id)
        elif failures in (1, 10) or failures % 100 == 0:
            log.warning("alerts_listener_failed", instance=self.id, failures=failures, error=redact(message))
