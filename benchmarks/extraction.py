"""Extraction benchmark: monitor.extract.extract_text against trafilatura alone.

Same pages, same process, same trafilatura options, alternating runs (best of N)
so machine noise hits both sides alike. Goal (SPEC): our extraction adds at most
20% over trafilatura alone. Pages: ../shared/data/news-pages (189 real news
pages from trafilatura's test suite, Apache-2.0).

    python benchmarks/extraction.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import trafilatura

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.ingest.extract import extract_text  # noqa: E402

PAGES = REPO.parent / "shared" / "data" / "news-pages"


def load_pages() -> list[tuple[bytes, str | None]]:
    manifest = json.loads((PAGES / "manifest.json").read_text())
    pages = []
    for entry in manifest:
        raw = (PAGES / entry["file"]).read_bytes()
        pages.append((gzip.decompress(raw) if entry["file"].endswith(".gz") else raw, entry.get("url")))
    return pages


def trafilatura_alone(html: bytes, url: str | None) -> str | None:
    return trafilatura.extract(
        html, url=url, include_comments=False, include_tables=False, favor_precision=True, deduplicate=False
    )


def timed(function, pages) -> float:
    started = time.perf_counter()
    for html, url in pages:
        function(html, url)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not PAGES.is_dir():
        print(f"skipped: {PAGES} not found (the shared test data)")
        return 0
    pages = load_pages()
    megabytes = sum(len(html) for html, _ in pages) / 1e6
    timed(trafilatura_alone, pages[:10])  # warm caches and imports
    bare, ours = [], []
    for _ in range(args.rounds):
        bare.append(timed(trafilatura_alone, pages))
        ours.append(timed(extract_text, pages))
    b, o = min(bare), min(ours)
    print(f"{len(pages)} pages, {megabytes:.1f} MB of HTML, best of {args.rounds} alternating rounds")
    print(f"{'':24}{'seconds':>10}{'pages/s':>10}{'ms/page':>10}")
    print(f"{'trafilatura alone':24}{b:>10.2f}{len(pages) / b:>10.1f}{1000 * b / len(pages):>10.1f}")
    print(f"{'monitor extract_text':24}{o:>10.2f}{len(pages) / o:>10.1f}{1000 * o / len(pages):>10.1f}")
    print(f"overhead: {100 * (o / b - 1):+.1f}% (goal: at most +20%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
