"""An httpcore network backend on asyncio's own transports, for the feed fetcher.

httpcore reaches asyncio through anyio by default: every read and write enters
an anyio cancel scope, and every check of an idle pooled connection ("has the
server closed it?") rebuilds anyio's table of socket attributes. For a service
whose steady work is hundreds of tiny conditional GETs a minute, that wrapping
was the largest CPU cost of a poll left after the service's own changes (see
docs/OPERATIONS.md). This backend implements the same interface
(`httpcore.AsyncNetworkBackend`, which httpcore documents as pluggable) directly
on asyncio: a Protocol buffers what arrives, writes go straight to the
transport, TLS is `loop.start_tls`. Timeouts and errors become the same
httpcore exceptions the anyio backend raises, so httpx and the fetcher see no
difference. It is only the socket layer: HTTP itself is still httpcore + h11.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import typing

import httpcore

# Stop reading from the socket while this much is buffered and unread, so a fast
# server cannot grow the buffer past what the fetcher's body limit would allow.
_HIGH_WATER = 256 * 1024


class _Buffered(asyncio.Protocol):
    """Collects what the connection receives until the stream reads it."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.eof = False
        self.error: Exception | None = None
        self.reading_paused = False
        self.writing_paused = False
        self.waiter: asyncio.Future[None] | None = None  # a read or drain waiting for an event
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and self.transport is not None and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self.writing_paused = False
        self._wake()

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, protocol: _Buffered) -> None:
        self._protocol = protocol

    @property
    def _transport(self) -> asyncio.Transport:
        # One place holds the transport: the protocol, which pauses reading on it. After
        # start_tls it is the TLS transport, for the protocol and the stream alike.
        assert self._protocol.transport is not None
        return self._protocol.transport

    async def _event(self, timeout: float | None) -> None:
        """Until the protocol reports something (data, EOF, drained) or `timeout` passes."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._protocol.waiter = waiter
        expiry = None if timeout is None else loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            self._protocol.waiter = None
            if expiry is not None:
                expiry.cancel()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        while not protocol.buffer and not protocol.eof:
            try:
                await self._event(timeout)
            except TimeoutError:
                raise httpcore.ReadTimeout("timed out reading from the server") from None
        if protocol.buffer:
            data = bytes(protocol.buffer[:max_bytes])
            del protocol.buffer[:max_bytes]
            if protocol.reading_paused and len(protocol.buffer) <= _HIGH_WATER // 4:
                protocol.reading_paused = False
                self._transport.resume_reading()
            return data
        if protocol.error is not None:
            raise httpcore.ReadError(str(protocol.error) or type(protocol.error).__name__)
        return b""  # the server closed the connection; h11 decides what that means

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self._transport.is_closing() or self._protocol.eof:
            raise httpcore.WriteError("the connection is closed")
        self._transport.write(buffer)
        while self._protocol.writing_paused:
            try:
                await self._event(timeout)
            except TimeoutError:
                raise httpcore.WriteTimeout("timed out writing to the server") from None
        if self._protocol.error is not None:
            raise httpcore.WriteError(str(self._protocol.error) or type(self._protocol.error).__name__)

    async def aclose(self) -> None:
        # Hang up now, not at the loop's next turn (when asyncio would close the socket):
        # a server still streaming a body we refused must see the connection end.
        sock = self._transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            tls = await loop.start_tls(
                self._transport,
                self._protocol,
                ssl_context,
                server_hostname=server_hostname,
                ssl_handshake_timeout=timeout,
            )
        except (TimeoutError, asyncio.TimeoutError):
            self._transport.close()
            raise httpcore.ConnectTimeout("timed out in the TLS handshake") from None
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from None
        if tls is None:  # the connection went away during the handshake
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        # start_tls does not call connection_made again: from now on the protocol's flow
        # control and every stream operation use the TLS transport (pausing the raw TCP
        # transport under TLS would never be undone, and a body over _HIGH_WATER would stall).
        self._protocol.transport = tls
        return AsyncioStream(self._protocol)

    def get_extra_info(self, info: str) -> typing.Any:
        transport = self._transport
        if info == "ssl_object":
            return transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return transport.get_extra_info("sockname")
        if info == "server_addr":
            return transport.get_extra_info("peername")
        if info == "socket":
            return transport.get_extra_info("socket")
        if info == "is_readable":
            # An idle pooled connection with anything to read (data, EOF, a reset) is one
            # the server gave up on: httpcore then opens a new one instead of reusing it.
            # The event loop watches every open connection and hands what arrives to the
            # protocol at once, so its state answers this without a poll(2) per pooled
            # connection per request (httpcore asks for each one before every request).
            protocol = self._protocol
            return bool(protocol.buffer) or protocol.eof or transport.is_closing()
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(
                    _Buffered, host, port, local_addr=(local_address, 0) if local_address else None
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from None
        for option in socket_options or ():
            transport.get_extra_info("socket").setsockopt(*option)
        return AsyncioStream(protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
