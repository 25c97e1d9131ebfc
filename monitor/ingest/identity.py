"""Pure identity keys: when are two feed entries the same item?

Same GUID within a feed, same canonical URL anywhere, or same content hash
anywhere: any one of the three means "already seen" (publishers change GUIDs,
syndicate one story under several URLs, and re-post with new tracking tags).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|igshid|yclid|_ga|ref|ref_src|cmpid|ocid|smid|rss|taid|ito)$",
    re.IGNORECASE,
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str) -> str:
    """Lower-case scheme/host, default port, fragment and tracking parameters dropped."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    query = urlencode(
        sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING_PARAMS.match(k))
    )
    path = parts.path or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return urlunsplit((scheme, netloc, path, query, ""))


def content_hash(title: str, text: str) -> str:
    """Hash of the words of title + text, blind to whitespace, case and markup noise."""
    normal = unicodedata.normalize("NFKC", f"{title}\n{text}").casefold()
    words = re.findall(r"\w+", normal)
    return hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest()
