"""Main-text extraction on real news pages (../shared/data/news-pages: captures from
trafilatura's test suite, Apache-2.0, provenance in that folder's README/manifest)."""

from __future__ import annotations

import gzip
import json

from monitor.ingest.extract import best_text, extract_text


def _page(shared_data, entry) -> bytes:
    raw = (shared_data / "news-pages" / entry["file"]).read_bytes()
    return gzip.decompress(raw) if entry["file"].endswith(".gz") else raw


def test_extraction_keeps_article_text_and_drops_boilerplate(shared_data):
    manifest = json.loads((shared_data / "news-pages" / "manifest.json").read_text())
    # A fixed, spread-out sample keeps the suite fast; benchmarks run them all.
    sample = manifest[::6]
    found = kept_out = expected_in = expected_out = 0
    for entry in sample:
        text = extract_text(_page(shared_data, entry), entry.get("url")) or ""
        expected_in += len(entry["with"])
        expected_out += len(entry["without"])
        found += sum(1 for snippet in entry["with"] if snippet in text)
        kept_out += sum(1 for snippet in entry["without"] if snippet not in text)
    # Scored, not per-page: upstream's own expectations are not all met by trafilatura.
    assert found / expected_in >= 0.8, f"{found}/{expected_in} article snippets found"
    assert kept_out / expected_out >= 0.8, f"{kept_out}/{expected_out} boilerplate snippets excluded"


def test_a_banner_only_page_gives_none():
    page = b"<html><body><div class='cookie'>We use cookies. Accept all?</div></body></html>"
    assert extract_text(page, "https://x.example/") is None


def test_garbage_does_not_raise():
    for junk in (b"", b"\x00\x01\x02" * 1000, b"<html" * 5000, "<p>\ud800</p>"):
        assert extract_text(junk) is None or isinstance(extract_text(junk), str)


def test_best_text_prefers_the_page_and_keeps_a_summary_it_lacks():
    page = "The base was handed over to Iraqi forces on Thursday. " * 5
    assert best_text(page, page[:100]) == (page, "page")
    assert best_text(None, "Summary only") == ("Summary only", "feed")
    body, source = best_text(page, "Kataib Hezbollah claimed the attack.")
    assert source == "page+feed" and body.endswith("Kataib Hezbollah claimed the attack.")
