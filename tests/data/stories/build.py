"""Builds stories.jsonl (the story-grouping evaluation set) from source/*.txt,
and heldout.jsonl (written after the thresholds were frozen) from heldout/*.txt.

    .venv/bin/python tests/data/stories/build.py

Every article in source/ is our own writing, modelled on how wire services,
regional outlets and foreign-language press reported events of March 2020 in
Iraq and Syria (see README.md). This script only:

* expands "copies" into reprints: verbatim, lightly edited (a dateline, a tag
  line, a headline prefix) or the same page under a tracking-parameter URL;
* gives each article an id (in order of publication), a URL and its event label;
* fills `entities` by running the project's real matcher over title + text,
  as the pipeline does in production, and `title_entities` with those of them
  mentioned in the title.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO))

from monitor.config.watchlist import load_watchlist  # noqa: E402
from monitor.match import Matcher  # noqa: E402

YEAR = 2020
_HEADER = re.compile(r"^@ (\d\d-\d\d \d\d:\d\d) \| ([^|]+?) \| ([a-z]{2})(?: \| copies: (.*))?$")
_COPY = re.compile(r"^(.+?) (\d\d-\d\d \d\d:\d\d)(?: (~|\+utm))?$")

# Light edits a reprinting site makes, chosen per site (stable, not random).
_DATELINES = {
    "en": "BAGHDAD ({outlet}) - ",
    "ar": "بغداد - ({outlet}): ",
    "fr": "BAGDAD ({outlet}) - ",
    "de": "BAGDAD ({outlet}) - ",
    "tr": "BAĞDAT ({outlet}) - ",
}
_TAGLINES = {
    "en": " This story was reprinted from a wire service report.",
    "ar": " نقلا عن وكالات الأنباء.",
    "fr": " (Avec agences)",
    "de": " (Mit Material von Agenturen)",
    "tr": " (Ajanslar)",
}
_PREFIXES = {"en": "Iraq: ", "ar": "العراق: ", "fr": "Irak - ", "de": "Irak: ", "tr": "Irak: "}


@dataclass
class Article:
    event: str
    published: datetime
    outlet: str
    lang: str
    title: str
    text: str
    url: str
    kind: str  # original, reprint, light-edit, tracking-url
    copy_of: str | None = None  # url of the original, for reprints


def _time(stamp: str) -> datetime:
    return datetime.strptime(f"{YEAR}-{stamp}", "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "site"


def _url(outlet: str, event: str, title: str, published: datetime) -> str:
    digest = hashlib.sha1(f"{outlet}|{title}".encode()).hexdigest()[:8]
    return f"https://{_slug(outlet)}.example/{published:%Y/%m/%d}/{event}-{digest}"


def parse(path: Path) -> list[Article]:
    articles: list[Article] = []
    event = ""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if not line or line.startswith("#"):
            i += 1
            continue
        if line.startswith("== "):
            event = line[3:].strip()
            i += 1
            continue
        header = _HEADER.match(line)
        if not header:
            raise SystemExit(f"{path.name}:{i + 1}: expected '@ MM-DD HH:MM | outlet | lang', got {line!r}")
        stamp, outlet, lang, copies = header.groups()
        title = lines[i + 1].strip()
        body: list[str] = []
        i += 2
        while i < len(lines) and lines[i].strip():
            body.append(lines[i].strip())
            i += 1
        published = _time(stamp)
        original = Article(event, published, outlet.strip(), lang, title, " ".join(body),
                           _url(outlet.strip(), event, title, published), "original")
        articles.append(original)
        for spec in filter(None, (c.strip() for c in (copies or "").split(","))):
            articles.append(_copy(original, spec, path, i))
    return articles


def _copy(original: Article, spec: str, path: Path, line: int) -> Article:
    match = _COPY.match(spec)
    if not match:
        raise SystemExit(f"{path.name}:{line}: bad copy {spec!r}")
    outlet, stamp, how = match.groups()
    published = _time(stamp)
    title, text, url = original.title, original.text, _url(outlet, original.event, original.title, published)
    kind = "reprint"
    if how == "~":
        kind = "light-edit"
        title = _PREFIXES[original.lang] + title
        text = _DATELINES[original.lang].format(outlet=original.outlet) + text + _TAGLINES[original.lang]
    elif how == "+utm":
        kind = "tracking-url"
        url = original.url + "?utm_source=rss&utm_medium=feed&utm_campaign=iraq"
    return Article(original.event, published, outlet, original.lang, title, text, url, kind, original.url)


def build(matcher: Matcher, folder: Path, out: Path, prefix: str) -> None:
    articles = [a for path in sorted(folder.glob("*.txt")) for a in parse(path)]
    articles.sort(key=lambda a: (a.published, a.outlet, a.title))
    with out.open("w", encoding="utf-8") as handle:
        for n, a in enumerate(articles, 1):
            found = matcher.match(f"{a.title}\n\n{a.text}")
            in_title = {m.entity_id for m in found if any(x.start < len(a.title) for x in m.mentions)}
            record = {
                "id": f"{prefix}{n:03d}",
                "event": a.event,
                "outlet": a.outlet,
                "lang": a.lang,
                "published": a.published.isoformat().replace("+00:00", "Z"),
                "url": a.url,
                "title": a.title,
                "text": a.text,
                "entities": sorted({m.entity_id for m in found}),
                "title_entities": sorted(in_title),
                "kind": a.kind,
            }
            if a.copy_of:
                record["copy_of"] = a.copy_of
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    events = {a.event for a in articles}
    langs = sorted({a.lang for a in articles})
    print(f"{out.relative_to(REPO)}: {len(articles)} articles, {len(events)} events, languages {', '.join(langs)}")


def main() -> int:
    matcher = Matcher.from_watchlist(load_watchlist(REPO / "config" / "watchlist.yaml"))
    build(matcher, HERE / "source", HERE / "stories.jsonl", "a")
    build(matcher, HERE / "heldout", HERE / "heldout.jsonl", "h")
    return 0


if __name__ == "__main__":
    sys.exit(main())
