"""`make demo`: the real pipeline over the two seed articles, with no network.

A throwaway HTTP server on 127.0.0.1 serves the seed articles (verbatim) as an
RSS feed and as article pages, so fetch -> parse -> extract -> match -> store
-> alert all run for real; alerts go to the console (no Telegram token).
"""

from __future__ import annotations

import html
import sys
import threading
from datetime import datetime, timezone
from email.utils import format_datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from monitor import cli

ROOT = Path(__file__).resolve().parents[1]


def seed_articles(folder: Path) -> list[tuple[str, str, str]]:
    """(slug, title, text) per seed file; the title is the first line of four words or more."""
    articles = []
    for path in sorted(folder.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        title = next((line for line in lines if len(line.split()) >= 4), path.stem)
        articles.append((path.stem, title, text))
    return articles


def render_feed(base: str, articles: list[tuple[str, str, str]], published: datetime) -> bytes:
    items = "".join(
        f"<item><title>{html.escape(title)}</title><link>{base}/articles/{slug}.html</link>"
        f'<guid isPermaLink="false">seed-{slug}</guid><pubDate>{format_datetime(published)}</pubDate>'
        f"<description>{html.escape(text[:300])}</description></item>"
        for slug, title, text in articles
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Seed articles</title><link>{base}/</link><description>The two seed articles</description>"
        f"{items}</channel></rss>"
    ).encode("utf-8")


def render_page(title: str, text: str) -> bytes:
    paragraphs = "".join(f"<p>{html.escape(p.strip())}</p>" for p in text.split("\n\n") if p.strip())
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><nav><a href='/'>Home</a> | <a href='/world'>World</a></nav>"
        f"<article><h1>{html.escape(title)}</h1>{paragraphs}</article>"
        f"<footer>Cookie settings | Privacy</footer></body></html>"
    ).encode("utf-8")


class _SeedHandler(BaseHTTPRequestHandler):
    def __init__(self, articles: list[tuple[str, str, str]], *args: Any, **kwargs: Any):
        self.articles = articles
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        base = f"http://{self.headers.get('Host')}"
        if self.path == "/feed.xml":
            self._send(render_feed(base, self.articles, datetime.now(timezone.utc)), "application/rss+xml")
            return
        for slug, title, text in self.articles:
            if self.path == f"/articles/{slug}.html":
                self._send(render_page(title, text), "text/html; charset=utf-8")
                return
        self.send_error(404)

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def write_demo_config(folder: Path, port: int, database: Path, watchlist: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "monitor.yaml"
    path.write_text(
        "# Written by `make demo`: the seed articles served from a local server.\n"
        f"storage:\n  url: sqlite:///{database}\n"
        "telegram:\n  token: ''\n"
        f"watchlist: {watchlist}\n"
        "fetch:\n  allowed_networks: ['127.0.0.1/32']\n"
        f"feeds:\n  - url: http://127.0.0.1:{port}/feed.xml\n    name: Seed articles (local)\n",
        encoding="utf-8",
    )
    return path


def main() -> int:
    articles = seed_articles(ROOT / "seeds")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_SeedHandler, articles))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = write_demo_config(
            ROOT / "var" / "demo", server.server_port, ROOT / "var" / "monitor.db", ROOT / "config" / "watchlist.yaml"
        )
        return cli.main(["--config", str(config), "run", "--once"])
    finally:
        server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
