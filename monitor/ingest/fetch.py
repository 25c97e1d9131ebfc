"""The guarded HTTP client: every byte the monitor downloads comes through here.

Guards, each configurable in `fetch:` (FetchConfig) with a safe default:

* only http/https, checked on the first URL and on every redirect hop;
* a network policy (no loopback, private, link-local, multicast or reserved
  addresses unless the config opts in). It is checked twice: early on the URL,
  for a fast refusal with a clear message, and again on the address the socket
  actually connects to (`GuardedBackend`), so DNS rebinding - a name that
  resolves to a public address for the check and to 127.0.0.1 for the connect -
  cannot slip through;
* redirects followed by hand (at most `max_redirects`), so each hop is checked;
* connect/read timeouts per operation and a total timeout per fetch, so a server
  trickling a byte a second is cut off;
* a body limit enforced while streaming, on the raw bytes and on the decoded
  bytes. Content-Encoding is decoded here, incrementally and with a bounded
  output per step, so a gzip/deflate/brotli bomb stops at the limit without
  ever inflating a whole chunk in memory (httpx's own decoders would).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
import time
import typing
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from monitor.config import FetchConfig
from monitor.ingest.freshness import retry_after_seconds

__all__ = [
    "KEEPALIVE_SECONDS",
    "BadEncoding",
    "BlockedAddress",
    "FetchError",
    "FetchResult",
    "Fetcher",
    "GuardedBackend",
    "HTTPStatusError",
    "IPAddress",
    "NetworkError",
    "NetworkPolicy",
    "Resolver",
    "Timeout",
    "TooLarge",
    "TooManyRedirects",
    "guarded_pool",
    "literal_address",
    "system_resolver",
]

try:  # brotli is an optional extra of httpx; without it we do not ask for "br".
    import brotli
except ImportError:  # pragma: no cover - installed with httpx[brotli]
    brotli = None

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

_net = ipaddress.ip_network

# Link-local (169.254.0.0/16, fe80::/10) is where cloud metadata services live,
# together with a few well-known metadata addresses outside it; no opt-in ever
# makes these fetchable.
_ALWAYS_REFUSED = [
    _net("169.254.0.0/16"),
    _net("fe80::/10"),
    _net("fd00:ec2::254/128"),  # AWS IMDS over IPv6
    _net("100.100.100.200/32"),  # Alibaba Cloud metadata
]
# What `allow_private_networks: true` opens (besides loopback).
_PRIVATE = [
    _net("10.0.0.0/8"),
    _net("172.16.0.0/12"),
    _net("192.168.0.0/16"),
    _net("100.64.0.0/10"),  # carrier-grade NAT, often used inside clouds
    _net("fc00::/7"),  # IPv6 unique local
    _net("fec0::/10"),  # deprecated IPv6 site-local
]
_NAT64 = _net("64:ff9b::/96")

# Decoded output per decompression step: keeps the transient allocation small
# even when one compressed chunk would inflate to megabytes.
_INFLATE_STEP = 256 * 1024
# Up to this many bytes of an unused body (304, redirect, error page) are read and
# dropped to keep the connection alive (see _drain).
_DRAIN_LIMIT = 64 * 1024
# How long an idle connection is kept for the next poll of its host. httpx's default
# (5 s) equals the polling grid's step (service.poll_tick), so a host polled every tick
# got a new TCP connection almost every time; a server that closed the connection
# earlier is noticed by httpcore (the socket is readable) and a new one opened.
KEEPALIVE_SECONDS = 30.0
# How long an early (URL) check that found a host permitted is trusted; see NetworkPolicy.
_CHECK_CACHE_SECONDS = 60.0
_CHECK_CACHE_SIZE = 4096


class FetchError(Exception):
    """A fetch that failed for a reason worth one log line; `kind` is a metric label."""

    kind = "error"

    def __init__(self, url: str, reason: str):
        self.url = url
        self.reason = reason
        super().__init__(f"{reason} ({url})")


class BlockedAddress(FetchError):
    kind = "blocked"


class TooLarge(FetchError):
    kind = "too_large"


class TooManyRedirects(FetchError):
    kind = "redirects"


class HTTPStatusError(FetchError):
    kind = "http_status"

    def __init__(self, url: str, status: int, retry_after: float | None = None):
        self.status = status
        self.retry_after = retry_after
        super().__init__(url, f"HTTP {status}")


class Timeout(FetchError):
    kind = "timeout"


class NetworkError(FetchError):
    kind = "network"


class BadEncoding(FetchError):
    kind = "bad_encoding"


@dataclass(frozen=True)
class FetchResult:
    url: str  # final URL after redirects
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def literal_address(host: str) -> IPAddress | None:
    """The IP address a URL host denotes by itself, or None for a DNS name.

    Besides the normal forms this decodes what the C resolver also accepts,
    so that http://2130706433/, http://0x7f.1/ and http://0177.0.0.1/ are
    recognised as 127.0.0.1 before any lookup.
    """
    host = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if re.fullmatch(r"[0-9a-fA-FxX.]+", host) and re.match(r"[0-9]", host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _embedded_ipv4(address: IPAddress) -> list[IPAddress]:
    """IPv4 addresses an IPv6 address carries (mapped, NAT64, 6to4, Teredo server)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found: list[IPAddress] = []
    if address.ipv4_mapped:
        found.append(address.ipv4_mapped)
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour:
        found.append(address.sixtofour)
    if address.teredo:
        found.append(address.teredo[0])
    return found


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """All addresses the system resolver gives for host (order kept, duplicates dropped)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[IPAddress, None] = {}
    for info in infos:
        seen.setdefault(ipaddress.ip_address(str(info[4][0]).split("%")[0]), None)
    return list(seen)


class NetworkPolicy:
    """Which addresses may be fetched: public ones, plus what the config opts into."""

    def __init__(
        self,
        allow_private: bool = False,
        allowed_networks: list[str] | None = None,
        resolver: Resolver | None = None,
    ):
        self.allow_private = allow_private
        self.allowed = [ipaddress.ip_network(n, strict=False) for n in allowed_networks or []]
        self.resolver: Resolver = resolver or system_resolver
        # (host, port) -> monotonic time until which the early check's "permitted" holds.
        # Only the early check is cached (a feed polled every minute would otherwise cost a
        # getaddrinfo per poll); every new connection is still resolved and vetted by
        # GuardedBackend, which is the check that counts.
        self._permitted_until: dict[tuple[str, int], float] = {}

    def permits(self, address: IPAddress) -> bool:
        # An IPv6 address that wraps an IPv4 one (::ffff:127.0.0.1, 64:ff9b::7f00:1)
        # must pass as itself and as the address it wraps.
        return all(self._permits_one(a) for a in [address, *_embedded_ipv4(address)])

    def _permits_one(self, address: IPAddress) -> bool:
        if any(address.version == net.version and address in net for net in _ALWAYS_REFUSED):
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            return True  # judged by the IPv4 address it wraps
        if any(address.version == net.version and address in net for net in self.allowed):
            return True
        if address.is_multicast or address.is_unspecified:
            return False
        if address.is_loopback or any(address.version == net.version and address in net for net in _PRIVATE):
            return self.allow_private
        # is_global alone lets some reserved space through (e.g. ::/8 holding ::7f00:1).
        return address.is_global and not address.is_reserved

    def refusal(self, host: str, addresses: list[IPAddress]) -> str | None:
        """Why host must not be fetched, or None when every address is permitted."""
        if not addresses:
            return f"{host} has no address"
        for address in addresses:
            if not self.permits(address):
                where = f"{host} is" if literal_address(host) is not None else f"{host} resolves to {address},"
                return f"{where} a non-public address (see fetch.allow_private_networks / allowed_networks)"
        return None

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        literal = literal_address(host)
        if literal is not None:
            return [literal]
        return await self.resolver(host, port)

    async def check(self, url: str) -> None:
        """Raise BlockedAddress unless the URL is http(s) and every address its host
        resolves to is permitted. The connect-time check in GuardedBackend is the one
        that counts; this one fails fast with a clear message."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https"):
            raise BlockedAddress(url, f"scheme {parts.scheme or '(none)'!r} is not http/https")
        host = parts.hostname
        if not host:
            raise BlockedAddress(url, "URL has no host")
        try:
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        except ValueError:
            raise NetworkError(url, "URL has an invalid port") from None
        key = (host, port)
        now = time.monotonic()
        if self._permitted_until.get(key, 0.0) > now:
            return
        try:
            addresses = await self.addresses(host, port)
        except (OSError, UnicodeError) as exc:
            raise NetworkError(url, f"cannot resolve {host}: {exc}") from None
        reason = self.refusal(host, addresses)
        if reason:
            raise BlockedAddress(url, reason)
        if len(self._permitted_until) >= _CHECK_CACHE_SIZE:
            self._permitted_until.clear()
        self._permitted_until[key] = now + _CHECK_CACHE_SECONDS


class _RefusedConnect(Exception):
    """Raised inside httpcore by GuardedBackend; httpcore lets unknown exceptions through."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend that resolves the host itself, vets every address
    with the NetworkPolicy and connects to a vetted IP through `inner` (httpcore's
    anyio backend, what httpx uses by default).

    httpcore passes the URL's host here and uses it separately for TLS SNI and
    certificate checks (and the Host header), so connecting by IP keeps those by
    hostname.
    """

    def __init__(self, policy: NetworkPolicy, inner: httpcore.AsyncNetworkBackend | None = None):
        self._policy = policy
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await asyncio.wait_for(self._policy.addresses(host, port), timeout)
        except asyncio.TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        reason = self._policy.refusal(host, addresses)
        if reason:
            raise _RefusedConnect(reason)
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise _RefusedConnect("unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_pool(policy: NetworkPolicy, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None) -> httpcore.AsyncConnectionPool:
    """httpcore's connection pool (what httpx.AsyncHTTPTransport wraps) with every TCP
    connect going through the policy: httpcore takes the network backend as a
    constructor argument. TLS as httpx does it by default (certifi's CA bundle,
    environment ignored) unless `ssl_context` says which certificates to trust."""
    return httpcore.AsyncConnectionPool(
        ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        retries=0,
        network_backend=GuardedBackend(policy),
    )


class _Inflater:
    """Incremental decoder for one Content-Encoding with a hard cap on output."""

    def __init__(self, coding: str):
        self.coding = coding
        if coding in ("gzip", "x-gzip"):
            self._zlib: typing.Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            # "deflate" is zlib-wrapped by the RFC, raw deflate by many servers.
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS)
            self._deflate_sniffed = False
        elif coding == "br" and brotli is not None:
            self._brotli = brotli.Decompressor()
        else:
            raise ValueError(f"unsupported content encoding {coding!r}")

    def decode(self, data: bytes, budget: int) -> list[bytes]:
        """Decode data; raises OverflowError as soon as output would pass budget bytes."""
        if self.coding == "br":
            return self._brotli_decode(data, budget)
        if self.coding == "deflate" and not self._deflate_sniffed and data:
            self._deflate_sniffed = True
            try:
                return self._zlib_decode(data, budget)
            except zlib.error:
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._zlib_decode(data, budget)

    def _zlib_decode(self, data: bytes, budget: int) -> list[bytes]:
        out: list[bytes] = []
        produced = 0
        while data:
            piece = self._zlib.decompress(data, _INFLATE_STEP)
            produced += len(piece)
            if produced > budget:
                raise OverflowError
            out.append(piece)
            data = self._zlib.unconsumed_tail
            if self._zlib.eof:
                break  # trailing garbage after the stream is ignored, as browsers do
        return out

    def _brotli_decode(self, data: bytes, budget: int) -> list[bytes]:
        out: list[bytes] = []
        produced = 0
        piece = self._brotli.process(data, output_buffer_limit=_INFLATE_STEP)
        while True:
            produced += len(piece)
            if produced > budget:
                raise OverflowError
            out.append(piece)
            if self._brotli.can_accept_more_data() or self._brotli.is_finished():
                return out
            piece = self._brotli.process(b"", output_buffer_limit=_INFLATE_STEP)

    def flush(self, budget: int) -> list[bytes]:
        if self.coding == "br":
            return []
        rest = self._zlib.flush()
        if len(rest) > budget:
            raise OverflowError
        return [rest]


def _decode_through(decoders: list[_Inflater], pieces: list[bytes], budget: int, final: bool) -> list[bytes]:
    """Run pieces through each decoder in turn; no stage may produce more than budget bytes."""
    for decoder in decoders:
        out: list[bytes] = []
        produced = 0
        for piece in pieces:
            for decoded in decoder.decode(piece, budget - produced):
                produced += len(decoded)
                out.append(decoded)
        if final:
            for decoded in decoder.flush(budget - produced):
                produced += len(decoded)
                out.append(decoded)
        pieces = out
    return pieces


async def _drain(response: httpcore.Response, headers: httpx.Headers) -> None:
    """Read what is left of a short answer we do not use (304, redirect, error page), so
    the connection goes back to the pool instead of being closed: httpcore only reuses a
    connection whose response was read to its end. A long or unbounded body is not worth
    it: stop reading and let the connection close."""
    declared = headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > _DRAIN_LIMIT:
        return
    read = 0
    async for raw in response.aiter_stream():
        read += len(raw)
        if read > _DRAIN_LIMIT:
            return


def _content_codings(header: str) -> list[str]:
    return [c.strip().lower() for c in header.split(",") if c.strip() and c.strip().lower() != "identity"]


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts.scheme.lower(), (parts.hostname or ""), port


# Headers that still make sense after a redirect to another site; the rest of a
# feed's configured headers (API keys, cookies, Authorization) stay with its own host.
_CROSS_ORIGIN_HEADERS = {"accept", "if-none-match", "if-modified-since"}


class Fetcher:
    """One shared connection pool with the monitor's guards; use as an async context manager.

    `resolver` replaces DNS for the network policy (tests of rebinding and of names
    that resolve to private addresses); `ssl_context` says which certificates to
    trust (default: httpx's, certifi's CA bundle).
    """

    def __init__(self, config: FetchConfig, resolver: Resolver | None = None, ssl_context: ssl.SSLContext | None = None):
        self.config = config
        self.policy = NetworkPolicy(config.allow_private_networks, config.allowed_networks, resolver)
        limits = httpx.Limits(
            max_connections=config.concurrency * 2,
            max_keepalive_connections=config.concurrency,
            keepalive_expiry=KEEPALIVE_SECONDS,
        )
        encodings = "gzip, deflate, br" if brotli is not None else "gzip, deflate"
        # Requests go straight to httpcore's pool (no httpx.AsyncClient): the client layer
        # (header merging, cookie jar, auth and redirect generators, event hooks) was about
        # 15% of a poll's CPU and none of it is wanted here - redirects are followed by hand
        # below, cookies are never kept, there is no auth, bodies are decoded here.
        self._pool = guarded_pool(self.policy, limits, ssl_context)
        # The headers httpx.AsyncClient sent by default, with ours; keyed by lower-case name.
        self._base_headers: dict[str, tuple[str, str]] = {
            "accept": ("Accept", "*/*"),
            "accept-encoding": ("Accept-Encoding", encodings),
            "connection": ("Connection", "keep-alive"),
            "user-agent": ("User-Agent", config.user_agent),
        }
        self._timeout = httpx.Timeout(config.read_timeout, connect=config.connect_timeout).as_dict()
        self._closed = False

    async def __aenter__(self) -> "Fetcher":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._pool.aclose()

    def _request(self, url: str, headers: dict[str, str]) -> httpcore.Request:
        merged = dict(self._base_headers)
        for name, value in headers.items():
            merged[name.lower()] = (name, value)
        # As an httpx request: httpx.URL normalises the URL (IDNA host, percent-encoding),
        # the Host header comes first, httpx.Headers encodes the values.
        parsed = httpx.URL(url)
        if "host" not in merged:
            merged = {"host": ("Host", parsed.netloc.decode("ascii")), **merged}
        return httpcore.Request(
            b"GET",
            httpcore.URL(scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=parsed.raw_path),
            headers=httpx.Headers(list(merged.values())).raw,
            extensions={"timeout": self._timeout},
        )

    async def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: dict[str, str] | None = None,
        accept: str | None = None,
    ) -> FetchResult:
        """GET with conditional headers; 304 comes back as a result, other non-2xx raise."""
        request_headers = dict(headers or {})
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        if accept:
            request_headers.setdefault("Accept", accept)
        try:
            # asyncio.timeout, not wait_for: no extra task per fetch (this runs for every poll).
            async with asyncio.timeout(self.config.total_timeout):
                return await self._follow(url, request_headers)
        except asyncio.TimeoutError:
            raise Timeout(url, f"timed out (total limit {self.config.total_timeout:g}s)") from None

    async def _follow(self, url: str, headers: dict[str, str]) -> FetchResult:
        first_origin = _origin(url)
        for _hop in range(self.config.max_redirects + 1):
            await self.policy.check(url)
            if _origin(url) != first_origin:
                headers = {k: v for k, v in headers.items() if k.lower() in _CROSS_ORIGIN_HEADERS}
            try:
                response = await self._pool.handle_async_request(self._request(url, headers))
                try:
                    answer = httpx.Headers(response.headers)
                    if httpx.codes.is_redirect(response.status) and "location" in answer:
                        await _drain(response, answer)
                        url = urljoin(str(httpx.URL(url)), answer["location"].strip())
                        continue
                    if response.status == 304:
                        await _drain(response, answer)
                        return FetchResult(url, 304, b"", dict(answer))
                    if response.status >= 400:
                        await _drain(response, answer)
                        raise HTTPStatusError(url, response.status, retry_after_seconds(answer.get("retry-after")))
                    body = await self._read_limited(response, answer, url)
                    return FetchResult(url, response.status, body, dict(answer))
                finally:
                    await response.aclose()
            except _RefusedConnect as exc:
                raise BlockedAddress(url, exc.reason) from None
            except httpcore.TimeoutException:
                raise Timeout(url, "timed out waiting for the server") from None
            except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise NetworkError(url, f"{type(exc).__name__}: {exc}") from None
        raise TooManyRedirects(url, f"more than {self.config.max_redirects} redirects")

    async def _read_limited(self, response: httpcore.Response, headers: httpx.Headers, url: str) -> bytes:
        """The decoded body, refusing it as soon as the raw or the decoded size passes the limit."""
        limit = self.config.max_body_bytes
        declared = headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > limit:
            raise TooLarge(url, f"body of {int(declared)} bytes is over the {limit}-byte limit")
        try:
            # Decoders apply in reverse order of the codings listed.
            decoders = [_Inflater(c) for c in reversed(_content_codings(headers.get("content-encoding", "")))]
        except ValueError as exc:
            raise BadEncoding(url, str(exc)) from None
        chunks: list[bytes] = []
        raw_size = size = 0
        try:
            async for raw in response.aiter_stream():
                raw_size += len(raw)
                if raw_size > limit:
                    raise TooLarge(url, f"body is over the {limit}-byte limit")
                pieces = _decode_through(decoders, [raw], limit - size, final=False)
                size += sum(map(len, pieces))
                chunks += pieces
            pieces = _decode_through(decoders, [], limit - size, final=True)
            size += sum(map(len, pieces))
            chunks += pieces
        except OverflowError:
            raise TooLarge(
                url, f"body decompresses to over the {limit}-byte limit (compression bomb?), stopped after {raw_size} bytes read"
            ) from None
        except (zlib.error, *((brotli.error,) if brotli is not None else ())) as exc:  # noqa: B030 - a tuple, built once
            raise BadEncoding(url, f"bad {headers.get('content-encoding')} content encoding: {exc}") from None
        if size > limit:
            raise TooLarge(url, f"body decompresses to over the {limit}-byte limit")
        return b"".join(chunks)
