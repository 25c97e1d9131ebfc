"""Benchmark results written into the docs between `<!-- BENCHMARK:name -->` markers,
so a re-run replaces its own block and nothing else."""

from __future__ import annotations

from pathlib import Path


def write_block(doc: Path, name: str, markdown: str) -> None:
    """Replace the block `name` in `doc` with `markdown` (appended at the end if absent)."""
    text = doc.read_text(encoding="utf-8")
    start, end = f"<!-- BENCHMARK:{name} -->", f"<!-- /BENCHMARK:{name} -->"
    if start in text and end in text:
        text = text[: text.index(start) + len(start)] + "\n" + markdown + text[text.index(end) :]
    else:
        text += f"\n{start}\n{markdown}{end}\n"
    doc.write_text(text, encoding="utf-8")
