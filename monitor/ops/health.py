"""A tiny HTTP endpoint on service.health_host:health_port: GET /healthz and /metrics.

It runs on the service's own event loop (asyncio streams, no framework), so a
wedged loop shows up as a health check that times out. Only GET/HEAD of those
two paths are answered; anything else is 404/405. Bind it to 127.0.0.1 (the
default) or a private interface: it is meant for the operator's probes and
Prometheus, not for the internet.

/healthz answers JSON:
  {"status": "ok" | "degraded" | "failing", "reasons": [...], "checks": {...}}
HTTP 200 for ok and degraded (a Telegram outage, a database restart or a few
broken feeds must not make an orchestrator restart the service: the service
reconnects by itself, and a restart would not bring the database back), 503 for
failing (the scheduler stopped: a restart may help).

With several instances on one PostgreSQL database, `checks.instances` lists them
(host, pid, heartbeat age, feed claims, polls, sender) and `checks.sender` says who sends.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from monitor.ops import metrics
from monitor.ops.logs import get_logger

log = get_logger("monitor.ops.health")

_MAX_REQUEST_HEAD = 8192


@dataclass
class Health:
    status: str  # ok, degraded, failing
    reasons: list[str] = field(default_factory=list)
    checks: Mapping[str, object] = field(default_factory=dict)

    @property
    def http_status(self) -> int:
        return 503 if self.status == "failing" else 200

    def to_json(self) -> bytes:
        return json.dumps({"status": self.status, "reasons": self.reasons, "checks": self.checks}).encode()


def verdict(
    *,
    scheduler_running: bool,
    database_ok: bool,
    database_error: str | None = None,
    telegram: tuple[bool, str] | None = None,
    feeds: int = 0,
    broken_feeds: int = 0,
    degraded_share: float = 0.25,
    config_ok: bool = True,
    instances: list[dict[str, object]] | None = None,
    this_instance: str | None = None,
) -> Health:
    """Pure: the checks' results -> ok / degraded / failing with reasons. `instances`:
    the registry of a shared PostgreSQL database (None: alone on its database)."""
    reasons: list[str] = []
    failing = False
    if not scheduler_running:
        reasons.append("scheduler not running")
        failing = True
    if not database_ok:
        # Degraded, not failing: polls and sends wait and the service reconnects by itself.
        reasons.append(f"database unreachable: {database_error or 'unknown error'}")
    if telegram is not None and not telegram[0]:
        reasons.append(f"telegram unreachable: {telegram[1]}")
    share = broken_feeds / feeds if feeds else 0.0
    if broken_feeds and share > degraded_share:
        reasons.append(f"{broken_feeds} of {feeds} feeds broken ({share:.0%} > {degraded_share:.0%})")
    if not config_ok:
        reasons.append("last configuration edit was rejected (previous config still running)")
    status = "failing" if failing else ("degraded" if reasons else "ok")
    checks: dict[str, object] = {
        "scheduler": "running" if scheduler_running else "stopped",
        "database": "ok" if database_ok else "unreachable",
        "telegram": "not configured" if telegram is None else ("ok" if telegram[0] else "unreachable"),
        "feeds": feeds,
        "broken_feeds": broken_feeds,
        "broken_share": round(share, 4),
        "config": "ok" if config_ok else "last edit rejected",
    }
    if instances is not None:
        senders = [i for i in instances if i.get("sender")]
        checks["instance"] = this_instance
        checks["instances"] = instances
        checks["sender"] = f"{senders[0]['host']} pid {senders[0]['pid']} ({senders[0]['id']})" if senders else None
        if database_ok and not senders:
            reasons.append("no instance holds the sender role: alerts wait in the outbox")
            status = "failing" if failing else "degraded"
    return Health(status, reasons, checks)


HealthProbe = Callable[[], Awaitable[Health]]
MetricsProbe = Callable[[], Awaitable[None]]


class HealthServer:
    """Serves /healthz (from `probe`) and /metrics (after `refresh`) until closed."""

    def __init__(self, host: str, port: int, probe: HealthProbe, refresh: MetricsProbe | None = None):
        self.host, self.port = host, port
        self._probe, self._refresh = probe, refresh
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("health_listening", host=self.host, port=self.port, paths=["/healthz", "/metrics"])
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            try:
                await asyncio.wait_for(self._server.wait_closed(), timeout=1.0)
            except asyncio.TimeoutError:
                pass
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5.0)
            if len(head) > _MAX_REQUEST_HEAD:
                raise ValueError("request head too large")
            method, target, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            path = target.split("?", 1)[0]
            status, content_type, body = await self._route(method, path)
            if method == "HEAD":
                body_out = b""
            else:
                body_out = body
            writer.write(
                f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n".encode("latin-1")
                + body_out
            )
            await writer.drain()
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, ConnectionError):
            pass
        except Exception as exc:  # noqa: BLE001 - a probe failing must not kill the server
            log.error("health_request_failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    async def _route(self, method: str, path: str) -> tuple[int, str, bytes]:
        if path not in ("/healthz", "/metrics"):
            return 404, "text/plain; charset=utf-8", b"not found: try /healthz or /metrics\n"
        if method not in ("GET", "HEAD"):
            return 405, "text/plain; charset=utf-8", b"method not allowed\n"
        if path == "/healthz":
            health = await self._probe()
            return health.http_status, "application/json", health.to_json()
        if self._refresh is not None:
            try:
                await self._refresh()
            except Exception as exc:  # noqa: BLE001 - serve what we have; health reports the database
                log.warning("metrics_refresh_failed", error=f"{type(exc).__name__}: {exc}")
        body, content_type = metrics.render()
        return 200, content_type, body


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
