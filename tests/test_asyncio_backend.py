"""The asyncio network backend under httpcore, against real local servers: TLS,
timeouts, refused and dropped connections, idle keep-alive connections the server
closed, large bodies with back-pressure, cancellation, and the feed fetcher on top."""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable

import httpcore
import pytest
import trustme

from monitor.ingest.asyncio_backend import AsyncioBackend
from monitor.config import FetchConfig
from monitor.ingest.fetch import Fetcher
from conftest import Response

pytestmark = pytest.mark.timeout(30)  # a hang fails the test instead of the run

TIMEOUTS = {"connect": 5, "read": 5, "write": 5, "pool": 5}
BIG_BODY = random.Random(0).randbytes(8 * 1024 * 1024)


# --- a raw local server -------------------------------------------------------------


class RawServer:
    """A TCP server on 127.0.0.1 (TLS if given a context) running `handle(server, conn)`
    in a thread per connection; it counts connections and records request paths."""

    def __init__(self, handle: Callable[[RawServer, socket.socket], None], tls: ssl.SSLContext | None = None):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.paths: list[str] = []
        self._handle, self._tls = handle, tls
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            self._handle(self, conn)
        except OSError:  # includes a refused TLS handshake and a client hanging up
            pass
        finally:
            conn.close()

    def read_request(self, conn: socket.socket) -> str | None:
        """The next request's path, or None when the client closed the connection."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return None
            data += chunk
        path = data.split(b" ", 2)[1].decode()
        self.paths.append(path)
        return path

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() on Linux
        except OSError:
            pass
        self.listener.close()


def head(length: int) -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n".encode()


def echo_path(server: RawServer, conn: socket.socket) -> None:
    """Answers every request on the connection (keep-alive) with its own path."""
    while (path := server.read_request(conn)) is not None:
        conn.sendall(head(len(path)) + path.encode())


@pytest.fixture
def serve():
    servers: list[RawServer] = []

    def start(handle, tls: ssl.SSLContext | None = None) -> RawServer:
        servers.append(RawServer(handle, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def pool(**options) -> httpcore.AsyncConnectionPool:
    return httpcore.AsyncConnectionPool(network_backend=AsyncioBackend(), **options)


async def get(pool: httpcore.AsyncConnectionPool, url: str, **timeouts: float) -> httpcore.Response:
    return await pool.request("GET", url, extensions={"timeout": {**TIMEOUTS, **timeouts}})


# --- TLS ----------------------------------------------------------------------------


async def test_https_requests_succeed_and_reuse_one_connection(serve, ca):
    """Two HTTPS GETs to a server with a trusted certificate both answer, over one TCP connection."""
    server = serve(echo_path, tls=server_tls(ca))
    async with pool(ssl_context=client_tls(ca)) as http:
        first = await get(http, f"https://localhost:{server.port}/one")
        second = await get(http, f"https://localhost:{server.port}/two")
    assert (first.status, first.content) == (200, b"/one")
    assert (second.status, second.content) == (200, b"/two")
    assert server.connections == 1


async def test_https_with_an_untrusted_certificate_is_a_connect_error(serve, ca):
    """A certificate from a CA the client does not trust fails the connect, promptly."""
    server = serve(echo_path, tls=server_tls(trustme.CA()))
    async with pool(ssl_context=client_tls(ca)) as http:
        with pytest.raises(httpcore.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await get(http, f"https://localhost:{server.port}/")
    assert server.paths == []


# --- failures -----------------------------------------------------------------------


def never_answer(server: RawServer, conn: socket.socket) -> None:
    """Reads requests and answers none, until the client hangs up."""
    while server.read_request(conn) is not None:
        pass


async def test_a_server_that_never_answers_hits_the_read_timeout(serve):
    """A silent server is a ReadTimeout after the read timeout, not a hang."""
    server = serve(never_answer)
    started = time.monotonic()
    async with pool() as http:
        with pytest.raises(httpcore.ReadTimeout):
            await get(http, f"http://127.0.0.1:{server.port}/", read=0.5)
    assert time.monotonic() - started < 10


async def test_a_closed_port_is_a_connect_error():
    """Connecting to a port nobody listens on is a ConnectError."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    async with pool() as http:
        with pytest.raises(httpcore.ConnectError):
            await get(http, f"http://127.0.0.1:{port}/")


async def test_an_idle_connection_the_server_closed_is_replaced(serve):
    """The server answers keep-alive then hangs up; the next request opens a new connection and succeeds."""

    def answer_once(server: RawServer, conn: socket.socket) -> None:
        path = server.read_request(conn)
        conn.sendall(head(len(path)) + path.encode())  # no "Connection: close": looks reusable

    server = serve(answer_once)
    async with pool() as http:
        assert (await get(http, f"http://127.0.0.1:{server.port}/one")).content == b"/one"
        await asyncio.sleep(0.2)  # the server's FIN arrives while the connection is idle
        second = await get(http, f"http://127.0.0.1:{server.port}/two")
    assert (second.status, second.content) == (200, b"/two")
    assert server.connections == 2


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_a_large_body_arrives_complete_when_read_slowly(serve, ca, scheme):
    """An 8 MB body streamed faster than it is read (so reading pauses and resumes) arrives byte-identical."""

    def big(server: RawServer, conn: socket.socket) -> None:
        server.read_request(conn)
        conn.sendall(head(len(BIG_BODY)) + BIG_BODY)

    server = serve(big, tls=server_tls(ca) if scheme == "https" else None)
    chunks = []
    async with pool(ssl_context=client_tls(ca)) as http:
        url = f"{scheme}://localhost:{server.port}/big"
        async with http.stream("GET", url, extensions={"timeout": TIMEOUTS}) as response:
            async for chunk in response.aiter_stream():
                chunks.append(chunk)
                if len(chunks) % 16 == 1:
                    await asyncio.sleep(0.02)  # let the server get ahead of us
    assert b"".join(chunks) == BIG_BODY


async def test_a_server_closing_mid_body_is_an_error(serve):
    """A body cut short by the server hanging up raises, rather than returning a short body."""

    def cut_short(server: RawServer, conn: socket.socket) -> None:
        server.read_request(conn)
        conn.sendall(head(1000) + b"x" * 100)

    server = serve(cut_short)
    async with pool() as http:
        with pytest.raises((httpcore.RemoteProtocolError, httpcore.ReadError)):
            await get(http, f"http://127.0.0.1:{server.port}/")


async def test_cancelling_a_blocked_read_ends_promptly_and_the_pool_still_works(serve):
    """Cancelling a request waiting on a silent server ends it at once; the next request succeeds."""

    def silent_or_echo(server: RawServer, conn: socket.socket) -> None:
        while (path := server.read_request(conn)) is not None:
            if path != "/silent":
                conn.sendall(head(len(path)) + path.encode())

    server = serve(silent_or_echo)
    async with pool() as http:
        blocked = asyncio.create_task(get(http, f"http://127.0.0.1:{server.port}/silent", read=60))
        while "/silent" not in server.paths:
            await asyncio.sleep(0.01)
        blocked.cancel()
        done, _ = await asyncio.wait({blocked}, timeout=2)
        assert blocked in done and blocked.cancelled()
        after = await get(http, f"http://127.0.0.1:{server.port}/after")
    assert (after.status, after.content) == (200, b"/after")


# --- the feed fetcher on top --------------------------------------------------------


async def test_the_fetcher_uses_the_guarded_asyncio_backend(site):
    """The fetcher's connections go through the network guard into this backend: a GET and a 304 work."""
    site.add("/rss.xml", "<rss/>")
    site.routes["/same"] = Response(b"", 304, {"ETag": '"v1"'})
    async with Fetcher(FetchConfig(allowed_networks=["127.0.0.0/8"])) as fetcher:
        assert isinstance(fetcher._transport._pool._network_backend._inner, AsyncioBackend)
        result = await fetcher.get(site.url("/rss.xml"))
        assert (result.status, result.body) == (200, b"<rss/>")
        assert (await fetcher.get(site.url("/same"), etag='"v1"')).not_modified


async def test_the_fetcher_keeps_a_connection_across_a_polling_grid_step(serve):
    """Polls of one host come a grid step (5 s) apart: the fetcher's idle connection must
    outlive that (httpx's default keep-alive of 5 s did not), so both polls use one."""
    server = serve(echo_path)
    async with Fetcher(FetchConfig(allowed_networks=["127.0.0.0/8"])) as fetcher:
        assert (await fetcher.get(f"http://127.0.0.1:{server.port}/a")).body == b"/a"
        await asyncio.sleep(5.5)
        assert (await fetcher.get(f"http://127.0.0.1:{server.port}/b")).body == b"/b"
    assert server.connections == 1
