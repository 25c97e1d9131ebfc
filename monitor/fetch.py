"""The guarded HTTP client: every byte the monitor downloads comes through here.

Guards: only http/https, a network policy checked on every hop (no loopback,
private, link-local, multicast or reserved addresses unless allowed), redirects
followed by hand so each hop is checked, timeouts, and a body limit enforced
while streaming on the *decoded* bytes (so a gzip bomb stops at the limit).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

import httpx

from monitor.config import FetchConfig

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata lives here; no opt-in ever makes it fetchable.
_ALWAYS_REFUSED = [ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10")]


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


class NetworkPolicy:
    """Which addresses may be fetched: public ones, plus what the config opts into."""

    def __init__(self, allow_private: bool = False, allowed_networks: list[str] | None = None):
        self.allow_private = allow_private
        self.allowed = [ipaddress.ip_network(n, strict=False) for n in allowed_networks or []]

    def permits(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if any(address in net for net in _ALWAYS_REFUSED):
            return False
        if any(address.version == net.version and address in net for net in self.allowed):
            return True
        if address.is_global and not address.is_multicast:
            return True
        if self.allow_private and (address.is_private or address.is_loopback) and not address.is_multicast:
            return True
        return False

    async def check(self, url: str) -> None:
        """Raise BlockedAddress unless every address the URL's host resolves to is permitted."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise BlockedAddress(url, f"scheme {parts.scheme or '(none)'!r} is not http/https")
        host = parts.hostname
        if not host:
            raise BlockedAddress(url, "URL has no host")
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError) as exc:
                raise NetworkError(url, f"cannot resolve {host}: {exc}") from None
            addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
        for address in addresses:
            if not self.permits(address):
                raise BlockedAddress(url, f"{host} resolves to {address}, a non-public address (see fetch.allowed_networks)")


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class Fetcher:
    """One shared httpx client with the monitor's guards; use as an async context manager."""

    def __init__(self, config: FetchConfig, transport: httpx.AsyncBaseTransport | None = None):
        self.config = config
        self.policy = NetworkPolicy(config.allow_private_networks, config.allowed_networks)
        self._client = httpx.AsyncClient(
            headers={"User-Agent": config.user_agent, "Accept-Encoding": "gzip, deflate, br"},
            timeout=httpx.Timeout(config.read_timeout, connect=config.connect_timeout),
            follow_redirects=False,
            transport=transport,
            limits=httpx.Limits(max_connections=config.concurrency * 2, max_keepalive_connections=config.concurrency),
            trust_env=False,
        )

    async def __aenter__(self) -> "Fetcher":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

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
            return await asyncio.wait_for(self._follow(url, request_headers), timeout=self.config.total_timeout)
        except (asyncio.TimeoutError, httpx.TimeoutException):
            raise Timeout(url, f"timed out (total limit {self.config.total_timeout:g}s)") from None

    async def _follow(self, url: str, headers: dict[str, str]) -> FetchResult:
        for _hop in range(self.config.max_redirects + 1):
            await self.policy.check(url)
            try:
                async with self._client.stream("GET", url, headers=headers) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(str(response.url), response.headers["location"])
                        continue
                    if response.status_code == 304:
                        return FetchResult(url, 304, b"", dict(response.headers))
                    if response.status_code >= 400:
                        raise HTTPStatusError(
                            url, response.status_code, _retry_after_seconds(response.headers.get("retry-after"))
                        )
                    body = await self._read_limited(response, url)
                    return FetchResult(url, response.status_code, body, dict(response.headers))
            except httpx.TimeoutException:
                raise Timeout(url, "timed out waiting for the server") from None
            except httpx.DecodingError as exc:
                raise NetworkError(url, f"bad content encoding: {exc}") from None
            except (httpx.TransportError, httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise NetworkError(url, f"{type(exc).__name__}: {exc}") from None
        raise FetchError(url, f"more than {self.config.max_redirects} redirects")

    async def _read_limited(self, response: httpx.Response, url: str) -> bytes:
        limit = self.config.max_body_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise TooLarge(url, f"body of {int(declared)} bytes is over the {limit}-byte limit")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise TooLarge(url, f"body (decompressed) is over the {limit}-byte limit")
            chunks.append(chunk)
        return b"".join(chunks)
