"""Extraction benchmark: monitor's extract_text against trafilatura alone, on all 189
real news pages of ../shared/data/news-pages (captures from trafilatura's test suite,
Apache-2.0; each page lists snippets its main text must contain and boilerplate it
must not).

Quality: snippet recall (share of the `with` snippets found in the text) and
boilerplate exclusion (share of the `without` snippets absent), for extract_text,
trafilatura's defaults and trafilatura with the options extract_text passes it.
Speed: the same pages in the same process, alternating rounds (best of N) so machine
noise hits every side alike, timed in CPU seconds of this process (extraction is
single-threaded: CPU time is its cost, and on a shared machine it does not count the
time spent waiting for a core). Goal (SPEC): extraction adds at most 20% over
trafilatura alone. Numbers and choices: docs/EXTRACTION.md.

    python benchmarks/extraction.py [--rounds 3] [--misses]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import trafilatura

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.ingest.extract import TRAFILATURA_OPTIONS, extract_text  # noqa: E402

PAGES = REPO.parent / "shared" / "data" / "news-pages"

Extractor = Callable[[bytes, "str | None"], "str | None"]


def load_pages() -> list[dict]:
    """The manifest's entries, each with its page's bytes under "html"."""
    manifest = json.loads((PAGES / "manifest.json").read_text())
    for entry in manifest:
        raw = (PAGES / entry["file"]).read_bytes()
        entry["html"] = gzip.decompress(raw) if entry["file"].endswith(".gz") else raw
    return manifest


def trafilatura_defaults(html: bytes, url: str | None) -> str | None:
    return trafilatura.extract(html, url=url)


def trafilatura_with_our_options(html: bytes, url: str | None) -> str | None:
    return trafilatura.extract(html, url=url, **TRAFILATURA_OPTIONS)


def trafilatura_precision(html: bytes, url: str | None) -> str | None:
    """What extract_text called before it was tuned for recall (kept for comparison)."""
    return trafilatura.extract(
        html, url=url, include_comments=False, include_tables=False, favor_precision=True, deduplicate=False
    )


EXTRACTORS: dict[str, Extractor] = {
    "monitor extract_text": extract_text,
    "trafilatura defaults": trafilatura_defaults,
    "trafilatura, our options": trafilatura_with_our_options,
    "trafilatura, precision": trafilatura_precision,
}


def score(extract: Extractor, pages: list[dict], misses: bool) -> tuple[int, int, int, int]:
    """(with kept, with total, without left out, without total) over all pages."""
    kept = with_total = left_out = without_total = 0
    for page in pages:
        text = extract(page["html"], page.get("url")) or ""
        found = [snippet in text for snippet in page["with"]]
        absent = [snippet not in text for snippet in page["without"]]
        kept, with_total = kept + sum(found), with_total + len(found)
        left_out, without_total = left_out + sum(absent), without_total + len(absent)
        if misses:
            for snippet, ok in zip(page["with"], found):
                if not ok:
                    print(f"    lost  {page['file'][:40]:40} {snippet[:70]!r}")
            for snippet, ok in zip(page["without"], absent):
                if not ok:
                    print(f"    kept  {page['file'][:40]:40} {snippet[:70]!r}")
    return kept, with_total, left_out, without_total


def timed(extract: Extractor, pages: list[dict]) -> float:
    """CPU seconds to extract every page."""
    started = time.process_time()
    for page in pages:
        extract(page["html"], page.get("url"))
    return time.process_time() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--misses", action="store_true", help="list each snippet lost or boilerplate kept")
    args = parser.parse_args()
    if not PAGES.is_dir():
        print(f"skipped: {PAGES} not found (the shared test data)")
        return 0
    pages = load_pages()
    megabytes = sum(len(page["html"]) for page in pages) / 1e6
    print(f"{len(pages)} pages, {megabytes:.1f} MB of HTML")

    print(f"\n{'quality':28}{'snippets kept':>18}{'boilerplate left out':>24}")
    for name, extract in EXTRACTORS.items():
        if args.misses:
            print(f"  {name}:")
        kept, with_total, left_out, without_total = score(extract, pages, args.misses)
        print(
            f"{name:28}{f'{kept}/{with_total} = {kept / with_total:.3f}':>18}"
            f"{f'{left_out}/{without_total} = {left_out / without_total:.3f}':>24}"
        )

    timed(trafilatura_defaults, pages[:10])  # warm caches and imports
    rounds: dict[str, list[float]] = {name: [] for name in EXTRACTORS}
    for _ in range(args.rounds):
        for name, extract in EXTRACTORS.items():
            rounds[name].append(timed(extract, pages))
    best = {name: min(seconds) for name, seconds in rounds.items()}
    print(f"\n{'speed, best of ' + str(args.rounds) + ' alternating rounds':40}{'CPU s':>10}{'ms/page':>10}")
    for name, seconds in best.items():
        print(f"{name:40}{seconds:>10.2f}{1000 * seconds / len(pages):>10.1f}")
    ours = best["monitor extract_text"]
    for baseline in ("trafilatura defaults", "trafilatura, our options"):
        print(f"overhead over {baseline}: {100 * (ours / best[baseline] - 1):+.1f}% (goal: at most +20%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
