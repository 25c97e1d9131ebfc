"""The guarded HTTP client against a real local server: network policy (literal
addresses, numeric tricks, DNS names, rebinding, redirects), timeouts, body and
decompression limits, redirects. Every server is on 127.0.0.1; tests that need
to reach it opt in the way a user would (allow_private_networks / allowed_networks)."""

from __future__ import annotations

import gzip
import ipaddress
import threading
import time
import zlib

import brotli
import pytest

from monitor.config import FetchConfig
from monitor.ingest.fetch import (
    BadEncoding,
    BlockedAddress,
    Fetcher,
    HTTPStatusError,
    NetworkError,
    NetworkPolicy,
    Timeout,
    TooLarge,
    TooManyRedirects,
    literal_address,
)
from tests.conftest import LocalSite, Response

ip = ipaddress.ip_address
PUBLIC = "93.184.215.14"


def config(**overrides) -> FetchConfig:
    return FetchConfig(**{"allow_private_networks": True, **overrides})


def static_resolver(table: dict[str, list[str]]):
    async def resolve(host: str, port: int):
        if host not in table:
            raise OSError(f"unknown test host {host}")
        return [ip(a) for a in table[host]]

    return resolve


async def no_dns(host: str, port: int):
    raise AssertionError(f"{host} should have been judged without a DNS lookup")


@pytest.fixture(scope="module")
def _module_site():
    local = LocalSite()
    yield local
    local.close()


@pytest.fixture
def site(_module_site):
    """One server for the module (closing one takes half a second), emptied per test."""
    _module_site.routes.clear()
    _module_site.requests.clear()
    return _module_site


# --- network policy ------------------------------------------------------------

REFUSED_BY_DEFAULT = [
    "127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.0.10",
    "100.64.0.1", "fc00::1", "fd12:3456::1", "fe80::1", "169.254.169.254", "224.0.0.1", "239.255.255.250",
    "ff02::1", "0.0.0.0", "::", "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1",
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "::7f00:1",  # IPv4-compatible (deprecated) 127.0.0.1
]


@pytest.mark.parametrize("address", REFUSED_BY_DEFAULT)
def test_default_policy_refuses_non_public_addresses(address):
    assert not NetworkPolicy().permits(ip(address))


@pytest.mark.parametrize("address", [PUBLIC, "1.1.1.1", "2606:4700:4700::1111", "::ffff:93.184.215.14"])
def test_default_policy_permits_public_addresses(address):
    assert NetworkPolicy().permits(ip(address))


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "10.0.0.1", "192.168.1.1", "fd00::1"])
def test_allow_private_opens_loopback_and_private(address):
    assert NetworkPolicy(allow_private=True).permits(ip(address))


@pytest.mark.parametrize(
    "address", ["169.254.169.254", "::ffff:169.254.169.254", "fe80::1", "fd00:ec2::254", "100.100.100.200", "224.0.0.1", "0.0.0.0"]
)
def test_metadata_link_local_and_multicast_stay_refused_with_every_opt_in(address):
    assert not NetworkPolicy(allow_private=True).permits(ip(address))
    if ip(address).is_link_local or address in ("fd00:ec2::254", "100.100.100.200", "::ffff:169.254.169.254"):
        # Not even an explicit allowlist entry opens cloud metadata.
        assert not NetworkPolicy(allowed_networks=["0.0.0.0/0", "::/0", "169.254.0.0/16"]).permits(ip(address))


def test_allowlist_opens_only_its_networks():
    policy = NetworkPolicy(allowed_networks=["127.0.0.0/8", "10.20.0.0/16"])
    assert policy.permits(ip("127.0.0.5")) and policy.permits(ip("10.20.3.4"))
    assert not policy.permits(ip("10.21.0.1")) and not policy.permits(ip("::1"))


@pytest.mark.parametrize(
    ("host", "expected"),
    [("2130706433", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("127.1", "127.0.0.1"),
     ("0x7f000001", "127.0.0.1"), ("[::1]", "::1"), ("cafe.de", None), ("news.example.org", None)],
)
def test_numeric_host_tricks_are_decoded(host, expected):
    assert literal_address(host) == (ip(expected) if expected else None)


@pytest.mark.parametrize(
    "url",
    ["http://2130706433/", "http://0x7f.1/", "http://0177.0.0.1/", "http://127.1/", "http://[::1]/",
     "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]:8080/", "https://169.254.169.254/latest/meta-data/",
     "http://[fe80::1%25eth0]/", "http://10.0.0.1/rss", "http://0.0.0.0:80/"],
)
async def test_literal_urls_are_refused_before_any_lookup(url):
    with pytest.raises(BlockedAddress, match="non-public address"):
        await NetworkPolicy(resolver=no_dns).check(url)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "gopher://example.org/", "data:,hi", "javascript:alert(1)", "//example.org/x"])
async def test_only_http_and_https(url):
    with pytest.raises(BlockedAddress, match="is not http/https"):
        await NetworkPolicy(allow_private=True, resolver=no_dns).check(url)


async def test_names_resolving_to_private_addresses_are_refused():
    resolver = static_resolver({"intranet.example": ["10.0.0.7"], "mixed.example": [PUBLIC, "127.0.0.1"], "ok.example": [PUBLIC]})
    policy = NetworkPolicy(resolver=resolver)
    with pytest.raises(BlockedAddress, match=r"intranet.example resolves to 10.0.0.7, a non-public address"):
        await policy.check("https://intranet.example/feed")
    # One bad address among good ones is enough to refuse: the connect could use any of them.
    with pytest.raises(BlockedAddress, match="127.0.0.1"):
        await policy.check("https://mixed.example/feed")
    await policy.check("https://ok.example/feed")


async def test_localhost_by_name_is_refused_by_default():
    with pytest.raises(BlockedAddress, match="non-public"):
        await NetworkPolicy().check("http://localhost:1/")


# --- the policy on the real connection -------------------------------------------


async def test_default_config_never_connects_to_the_local_server(site):
    url = site.add("/rss.xml", "<rss/>")
    async with Fetcher(FetchConfig()) as fetcher:
        with pytest.raises(BlockedAddress, match="127.0.0.1 is a non-public address"):
            await fetcher.get(url)
    assert site.hits("/rss.xml") == 0


async def test_opt_in_reaches_the_local_server(site):
    url = site.add("/rss.xml", "<rss/>")
    for fetch_config in (config(), FetchConfig(allowed_networks=["127.0.0.0/8"])):
        async with Fetcher(fetch_config) as fetcher:
            result = await fetcher.get(url)
        assert result.status == 200 and result.body == b"<rss/>"


async def test_dns_rebinding_is_caught_at_connect_time(site):
    """The name is public when checked and loopback when connected: the connect is refused."""
    site.add("/rss.xml", "<rss/>")
    answers = iter([[ip(PUBLIC)], [ip("127.0.0.1")], [ip("127.0.0.1")]])

    async def rebinding(host: str, port: int):
        return next(answers)

    async with Fetcher(FetchConfig(), resolver=rebinding) as fetcher:
        with pytest.raises(BlockedAddress, match="rebind.example resolves to 127.0.0.1"):
            await fetcher.get(f"http://rebind.example:{site.server.server_port}/rss.xml")
    assert site.hits("/rss.xml") == 0


async def test_connects_to_the_vetted_address_but_keeps_the_host_name(site):
    site.add("/rss.xml", "<rss/>")
    port = site.server.server_port
    resolver = static_resolver({"news.example": ["127.0.0.1"]})
    async with Fetcher(config(), resolver=resolver) as fetcher:
        result = await fetcher.get(f"http://news.example:{port}/rss.xml")
    assert result.body == b"<rss/>"
    assert site.requests[-1][1]["host"] == f"news.example:{port}"


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "http://[::ffff:169.254.169.254]/", "http://10.0.0.1/", "http://2130706434/", "file:///etc/passwd"],
)
async def test_redirects_to_forbidden_places_are_refused(site, target):
    site.routes["/go"] = Response(b"", 302, {"Location": target})
    # Only the test server itself is allowed: 127.0.0.1/32, not the rest of loopback.
    async with Fetcher(FetchConfig(allowed_networks=["127.0.0.1/32"])) as fetcher:
        with pytest.raises(BlockedAddress) as refused:
            await fetcher.get(site.url("/go"))
    assert refused.value.url == target
    assert site.hits("/go") == 1


async def test_metadata_redirect_is_refused_even_with_allow_private(site):
    site.routes["/go"] = Response(b"", 301, {"Location": "http://169.254.169.254/latest/meta-data/iam/"})
    async with Fetcher(config()) as fetcher:
        with pytest.raises(BlockedAddress, match="169.254.169.254"):
            await fetcher.get(site.url("/go"))


# --- redirects ------------------------------------------------------------------


async def test_redirect_loop_stops_at_the_limit(site):
    site.routes["/a"] = Response(b"", 302, {"Location": "/b"})
    site.routes["/b"] = Response(b"", 302, {"Location": "/a"})
    async with Fetcher(config(max_redirects=3)) as fetcher:
        with pytest.raises(TooManyRedirects, match="more than 3 redirects"):
            await fetcher.get(site.url("/a"))
    assert site.hits("/a") + site.hits("/b") == 4


async def test_redirects_within_the_limit_are_followed(site):
    site.routes["/1"] = Response(b"", 301, {"Location": "/2"})
    site.routes["/2"] = Response(b"", 307, {"Location": site.url("/feed")})
    site.add("/feed", "<rss/>")
    async with Fetcher(config(max_redirects=2)) as fetcher:
        result = await fetcher.get(site.url("/1"))
    assert result.url == site.url("/feed") and result.body == b"<rss/>"


async def test_feed_credentials_do_not_follow_a_redirect_to_another_host(site):
    port = site.server.server_port
    site.routes["/private"] = Response(b"", 302, {"Location": f"http://elsewhere.example:{port}/landing"})
    site.add("/landing", "<rss/>")
    resolver = static_resolver({"elsewhere.example": ["127.0.0.1"]})
    async with Fetcher(config(), resolver=resolver) as fetcher:
        await fetcher.get(site.url("/private"), headers={"Authorization": "Bearer s3cret", "X-Api-Key": "k"}, etag='"v1"')
    first, second = site.requests[-2][1], site.requests[-1][1]
    assert first["authorization"] == "Bearer s3cret"
    assert "authorization" not in second and "x-api-key" not in second
    assert second["if-none-match"] == '"v1"'


# --- status codes ---------------------------------------------------------------


async def test_status_errors_and_not_modified(site):
    site.routes["/gone"] = Response(b"x", 503, {"Retry-After": "120"})
    site.routes["/same"] = Response(b"", 304, {"ETag": '"v1"'})
    async with Fetcher(config()) as fetcher:
        with pytest.raises(HTTPStatusError) as failed:
            await fetcher.get(site.url("/gone"))
        assert failed.value.status == 503 and failed.value.retry_after == 120
        assert (await fetcher.get(site.url("/same"), etag='"v1"')).not_modified


# --- slow servers -----------------------------------------------------------------


def trickle(handler, seconds: int = 30) -> None:
    """Headers, then one byte a second (bounded), until the client goes away."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.send_header("Content-Length", str(seconds))
    handler.end_headers()
    for _ in range(seconds):
        try:
            handler.wfile.write(b"<")
            handler.wfile.flush()
        except OSError:
            return
        time.sleep(1)


async def test_a_server_trickling_a_byte_a_second_is_cut_off_by_the_total_timeout(site):
    site.routes["/slow"] = trickle
    started = time.monotonic()
    async with Fetcher(config(total_timeout=2, read_timeout=5)) as fetcher:
        with pytest.raises(Timeout, match="total limit 2s"):
            await fetcher.get(site.url("/slow"))
    assert time.monotonic() - started < 10  # hang protection, not a performance claim


async def test_a_silent_server_hits_the_read_timeout(site):
    def stall(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        handler.wfile.flush()
        time.sleep(3)

    site.routes["/stall"] = stall
    async with Fetcher(config(read_timeout=0.5, total_timeout=30)) as fetcher:
        with pytest.raises(Timeout):
            await fetcher.get(site.url("/stall"))


async def test_a_dropped_connection_is_a_network_error(site):
    def drop(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(b"<rss>")
        handler.wfile.flush()
        handler.close_connection = True
        handler.connection.shutdown(2)

    site.routes["/drop"] = drop
    async with Fetcher(config()) as fetcher:
        with pytest.raises(NetworkError):
            await fetcher.get(site.url("/drop"))


# --- body size and decompression bombs ---------------------------------------------


async def test_declared_oversize_body_is_refused_before_reading(site):
    site.routes["/big"] = Response(b"x" * 2000, 200, {"Content-Type": "text/html"})
    async with Fetcher(config(max_body_bytes=1000)) as fetcher:
        with pytest.raises(TooLarge, match="body of 2000 bytes is over the 1000-byte limit"):
            await fetcher.get(site.url("/big"))


async def test_undeclared_huge_body_is_cut_off_while_streaming(site):
    """No Content-Length, 200 MB on offer: the client stops near the limit and hangs up."""
    sent = {"bytes": 0}
    done = threading.Event()

    def endless(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        chunk = b"a" * 65536
        try:
            for _ in range(3200):  # 200 MB at most
                handler.wfile.write(chunk)
                sent["bytes"] += len(chunk)
        except OSError:
            pass
        finally:
            done.set()

    site.routes["/endless"] = endless
    async with Fetcher(config(max_body_bytes=1_000_000)) as fetcher:
        with pytest.raises(TooLarge, match="over the 1000000-byte limit"):
            await fetcher.get(site.url("/endless"))
    assert done.wait(20)
    assert sent["bytes"] < 100_000_000  # the socket buffers take a few MB; the rest was never sent


def bomb(coding: str, size: int) -> bytes:
    zeros = b"\0" * size
    if coding == "gzip":
        return gzip.compress(zeros, 9)
    if coding == "deflate":
        return zlib.compress(zeros, 9)
    if coding == "raw-deflate":
        packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        return packer.compress(zeros) + packer.flush()
    return brotli.compress(zeros, quality=5)


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate", "br"])
async def test_compression_bombs_stop_at_the_decoded_limit(site, coding):
    payload = bomb(coding, 50_000_000)
    assert len(payload) < 100_000  # small on the wire
    header = "deflate" if coding == "raw-deflate" else coding
    site.routes["/bomb"] = Response(payload, 200, {"Content-Type": "application/rss+xml", "Content-Encoding": header})
    async with Fetcher(config(max_body_bytes=1_000_000)) as fetcher:
        with pytest.raises(TooLarge, match="decompresses to over the 1000000-byte limit"):
            await fetcher.get(site.url("/bomb"))


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate", "br", "gzip, br"])
async def test_compressed_bodies_within_the_limit_are_decoded(site, coding):
    text = ("<rss><channel><title>Kirkuk</title>" + "<item>x</item>" * 500 + "</channel></rss>").encode()
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    payload = {
        "gzip": lambda: gzip.compress(text),
        "deflate": lambda: zlib.compress(text),
        "raw-deflate": lambda: raw_deflate.compress(text) + raw_deflate.flush(),
        "br": lambda: brotli.compress(text),
        "gzip, br": lambda: brotli.compress(gzip.compress(text)),  # applied in order, decoded in reverse
    }[coding]()
    header = "deflate" if coding == "raw-deflate" else coding
    site.routes["/z"] = Response(payload, 200, {"Content-Encoding": header})
    async with Fetcher(config(max_body_bytes=len(text))) as fetcher:
        assert (await fetcher.get(site.url("/z"))).body == text


@pytest.mark.parametrize(("header", "payload"), [("gzip", b"\x1f\x8bnot really gzip"), ("br", b"\xff\xff junk"), ("zstd", b"x")])
async def test_broken_or_unknown_encodings_are_reported(site, header, payload):
    site.routes["/bad"] = Response(payload, 200, {"Content-Encoding": header})
    async with Fetcher(config()) as fetcher:
        with pytest.raises(BadEncoding, match="encoding"):
            await fetcher.get(site.url("/bad"))
