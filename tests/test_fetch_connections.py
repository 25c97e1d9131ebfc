"""The fetcher's connections against raw local servers: TLS, refused connections,
idle keep-alive connections the server closed, large bodies, cancellation and
connection reuse (policy, limits and timeouts are in test_fetch.py)."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import ssl
import threading
from collections.abc import Callable

import pytest
import trustme

from monitor.config import FetchConfig, ServiceConfig
from monitor.ingest.fetch import KEEPALIVE_SECONDS, Fetcher, NetworkError

pytestmark = pytest.mark.timeout(30)  # a hang fails the test instead of the run

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


LOCAL = FetchConfig(allowed_networks=["127.0.0.0/8"], read_timeout=5, connect_timeout=5)


async def localhost(host: str, port: int) -> list[ipaddress.IPv4Address]:
    """DNS for these tests: every name is 127.0.0.1 (the certificates name "localhost")."""
    return [ipaddress.IPv4Address("127.0.0.1")]


def fetcher(ca: trustme.CA | None = None, **config) -> Fetcher:
    return Fetcher(LOCAL.model_copy(update=config), resolver=localhost, ssl_context=client_tls(ca) if ca else None)


# --- TLS ----------------------------------------------------------------------------


async def test_https_feeds_are_fetched_over_one_kept_connection(serve, ca):
    """Two HTTPS fetches from a server with a trusted certificate both answer, over one TCP connection."""
    server = serve(echo_path, tls=server_tls(ca))
    async with fetcher(ca) as http:
        first = await http.get(f"https://localhost:{server.port}/one")
        second = await http.get(f"https://localhost:{server.port}/two")
    assert (first.status, first.body) == (200, b"/one")
    assert (second.status, second.body) == (200, b"/two")
    assert server.connections == 1


async def test_an_untrusted_certificate_is_a_network_error_before_any_request(serve, ca):
    server = serve(echo_path, tls=server_tls(trustme.CA()))
    async with fetcher(ca) as http:
        with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(f"https://localhost:{server.port}/")
    assert server.paths == []


# --- failures -----------------------------------------------------------------------


def never_answer(server: RawServer, conn: socket.socket) -> None:
    """Reads requests and answers none, until the client hangs up."""
    while server.read_request(conn) is not None:
        pass


async def test_a_closed_port_is_a_network_error():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    async with fetcher() as http:
        with pytest.raises(NetworkError, match="ConnectError"):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_an_idle_connection_the_server_closed_is_replaced(serve):
    """The server answers keep-alive, then hangs up; the next fetch opens a new connection and succeeds."""
    hung_up = threading.Event()

    def answer_once(server: RawServer, conn: socket.socket) -> None:
        path = server.read_request(conn)
        conn.sendall(head(len(path)) + path.encode())  # no "Connection: close": looks reusable
        conn.close()
        hung_up.set()

    server = serve(answer_once)
    async with fetcher() as http:
        assert (await http.get(f"http://127.0.0.1:{server.port}/one")).body == b"/one"
        assert await asyncio.to_thread(hung_up.wait, 10)
        second = await http.get(f"http://127.0.0.1:{server.port}/two")
    assert (second.status, second.body) == (200, b"/two")
    assert server.connections == 2


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_a_large_body_arrives_complete(serve, ca, scheme):
    """An 8 MB body within the limit arrives byte-identical, over TLS too."""

    def big(server: RawServer, conn: socket.socket) -> None:
        server.read_request(conn)
        conn.sendall(head(len(BIG_BODY)) + BIG_BODY)

    server = serve(big, tls=server_tls(ca) if scheme == "https" else None)
    async with fetcher(ca, max_body_bytes=len(BIG_BODY)) as http:
        result = await http.get(f"{scheme}://localhost:{server.port}/big")
    assert result.body == BIG_BODY


async def test_cancelling_a_blocked_fetch_ends_promptly_and_the_fetcher_still_works(serve):
    """A poll cancelled at a stop while its server is silent ends at once; the next fetch succeeds."""

    def silent_or_echo(server: RawServer, conn: socket.socket) -> None:
        while (path := server.read_request(conn)) is not None:
            if path != "/silent":
                conn.sendall(head(len(path)) + path.encode())

    server = serve(silent_or_echo)
    async with fetcher(read_timeout=60, total_timeout=60) as http:
        blocked = asyncio.create_task(http.get(f"http://127.0.0.1:{server.port}/silent"))
        while "/silent" not in server.paths:
            await asyncio.sleep(0.01)
        blocked.cancel()
        done, _ = await asyncio.wait({blocked}, timeout=5)  # hang protection, not a timing claim
        assert blocked in done and blocked.cancelled()
        after = await http.get(f"http://127.0.0.1:{server.port}/after")
    assert (after.status, after.body) == (200, b"/after")


# --- connection reuse ---------------------------------------------------------------


async def test_polls_of_one_host_share_a_connection(serve):
    server = serve(echo_path)
    async with fetcher() as http:
        assert (await http.get(f"http://127.0.0.1:{server.port}/a")).body == b"/a"
        assert (await http.get(f"http://127.0.0.1:{server.port}/b")).body == b"/b"
    assert server.connections == 1


def test_idle_connections_outlive_a_step_of_the_polling_grid():
    """Polls of a host come a grid step (service.poll_tick) apart: an idle connection must
    be kept longer than that, or every poll of a busy host opens a new one."""
    assert KEEPALIVE_SECONDS > ServiceConfig().poll_tick
