"""Shared fixtures: the shared data folder, a real local HTTP site, config files."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MONITOR_SHARED_DATA", REPO.parent / "shared" / "data"))
WATCHLIST = REPO / "config" / "watchlist.yaml"

if TYPE_CHECKING:
    from monitor.service import Monitor
    from monitor.store import Store

pytest_plugins = ["fake_telegram"]


PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database for this test (dropped after), or a skip with the reason."""
    import uuid

    from sqlalchemy import create_engine, text

    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        name = f"monitor_test_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means skip
        pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432 ({type(exc).__name__})")
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """The test once on a SQLite file (monitor.db in tmp_path) and once on a fresh
    PostgreSQL database (skipped, saying why, where no server is reachable)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'monitor.db'}"
    return request.getfixturevalue("postgres_url")


def database_rows(url: str, sql: str) -> list[tuple]:
    """The rows of a query on a database given by URL, read through a short-lived engine."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


class ManualClock:
    """A clock that moves only when told: inject it where the code takes a `clock`."""

    def __init__(self, start: datetime = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA} (set MONITOR_SHARED_DATA)")
    return SHARED_DATA


@dataclass
class Response:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Route = Response | Callable[["_Handler"], Response | None]


class LocalSite:
    """A real HTTP server on 127.0.0.1 with a route table tests can change live.

    A route is a Response, or a callable getting the request handler (for
    conditional GET, trickling, dropping the connection) that returns a
    Response or None when it already wrote the answer itself.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        site = self

        class Handler(_Handler):
            owner = site

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, body: bytes | str | Route, content_type: str = "application/xml", **headers: str) -> str:
        if isinstance(body, str):
            body = body.encode("utf-8")
        if isinstance(body, bytes):
            body = Response(body, 200, {"Content-Type": content_type, **headers})
        self.routes[path] = body
        return self.url(path)

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    owner: LocalSite
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.owner.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        route = self.owner.routes.get(self.path)
        if route is None:
            self._write(Response(b"not found", 404, {"Content-Type": "text/plain"}))
            return
        response = route(self) if callable(route) else route
        if response is not None:
            self._write(response)

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        if "content-length" not in {k.lower() for k in response.headers}:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body:
            self.wfile.write(response.body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def site():
    local = LocalSite()
    yield local
    local.close()


def write_config(folder: Path, feeds: list[dict] | None = None, **sections) -> Path:
    """A monitor.yaml in `folder` using the repo's watchlist and a SQLite file beside it."""
    config = {
        "storage": {"url": f"sqlite:///{folder / 'monitor.db'}"},
        "telegram": {"token": ""},
        "watchlist": str(WATCHLIST),
        "fetch": {"allowed_networks": ["127.0.0.0/8"]},
        "feeds": feeds or [],
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    path = folder / "monitor.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


@asynccontextmanager
async def running(
    config: Path,
    notices: list[str] | None = None,
    *,
    clock: ManualClock | None = None,
    store: Store | None = None,
    ready: bool = False,
) -> AsyncIterator[Monitor]:
    """The service as `monitor run` builds it (`Monitor(load_settings(config))`), running
    until the block ends. `notices` collects the admin notices; `clock` gives it a Store
    keeping that time (or `store`, a Store of the test's); `ready` waits until its jobs are
    scheduled and what was missed while it was down is made up."""
    from monitor.config import load_settings
    from monitor.service import Monitor
    from monitor.store import Store

    async def collect(text: str) -> None:
        assert notices is not None
        notices.append(text)

    settings = load_settings(config)
    if clock is not None:
        store = Store(settings.config.storage.url, clock=clock)
    monitor = Monitor(settings, store=store, admin_notifier=collect if notices is not None else None)
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run_forever(stop))
    try:
        if ready:
            await asyncio.wait_for(monitor.ready.wait(), timeout=30)
        yield monitor
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
        await monitor.aclose()
