"""Story grouping benchmark: quality on the labelled set, and cost per article.

    python benchmarks/stories.py [--sweep] [--errors] [--rounds 3]

Quality: the articles of tests/data/stories/stories.jsonl that the matcher
tagged with at least one tracked entity (only those are stored and alerted in
production) are assigned one by one in order of publication, as they would
arrive. Pairwise precision = of the article pairs put in one story, the share
that report one event; pairwise recall = of the pairs that report one event,
the share put in one story. Messages = stories (one alert each) vs articles.

Cost: the mean time to assign one article, against the median time trafilatura
takes to extract one typical news page (../shared/data/news-pages), measured
in the same run. Goal: assigning costs less than extracting.

--sweep prints precision/recall over a grid of the two similarity thresholds
(the evidence for the defaults in docs/STORIES.md); --errors lists wrong merges
and split events.

--service measures story assignment as the service runs it: each article stored
through the real Store (SQLite file) with and without the StoryKeeper placing it
in its transaction (lock, catch-up query, reading the item back, assigning,
writing the story), the rebuild of the assigner at start from the open
stories, and the resident memory a fresh process adds for monitor.stories and
its state (measured in subprocesses, VmRSS from /proc).
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from story_set import pairwise, read_records, stored_articles  # noqa: E402

from monitor.stories import Article, StoryAssigner, StorySettings  # noqa: E402

DATA = REPO / "tests" / "data" / "stories" / "stories.jsonl"
HELDOUT = REPO / "tests" / "data" / "stories" / "heldout.jsonl"
PAGES = REPO.parent / "shared" / "data" / "news-pages"


def load_articles(path: Path = DATA) -> tuple[list[Article], dict[str, str], int]:
    """(stored articles in arrival order, article id -> event, articles left out for having no entity)."""
    records = read_records(path)
    articles, event_of = stored_articles(records)
    return articles, event_of, len(records) - len(articles)


class OneArticlePerOutlet(StoryAssigner):
    """The strict reading of "same outlet only as copies": a story takes one article per outlet.

    For the ablation only; it overrides the assigner's story-level rule hook.
    """

    def _new_development(self, member, story):  # type: ignore[no-untyped-def]
        return super()._new_development(member, story) or any(m.outlet == member.outlet for m in story.members)


def run(
    articles: list[Article], settings: StorySettings, assigner_class: type[StoryAssigner] = StoryAssigner
) -> tuple[dict[str, str], Counter[str]]:
    assigner = assigner_class(settings)
    story_of: dict[str, str] = {}
    layers: Counter[str] = Counter()
    for article in articles:
        decision = assigner.assign(article)
        story_of[article.id] = decision.story_id
        layers[decision.layer] += 1
    return story_of, layers


def telegram_calls(articles: list[Article], story_of: dict[str, str], interval: float = 60.0) -> tuple[int, int]:
    """Calls to the channel with stories, articles arriving at their publication time:
    one sendMessage per story, and the editMessageText calls its later reports cause
    under the sender's batching (the first later report at once, then at most one
    edit of the message per `interval` seconds, each showing every report since)."""
    arrivals: dict[str, list[float]] = defaultdict(list)
    for article in articles:
        arrivals[story_of[article.id]].append(article.published.timestamp())
    edits = 0
    for times in arrivals.values():
        times.sort()
        last_edit: float | None = None
        waiting_until: float | None = None  # a batched edit is due then
        for arrival in times[1:]:
            if waiting_until is not None and arrival >= waiting_until:
                edits, last_edit, waiting_until = edits + 1, waiting_until, None
            if waiting_until is not None:
                continue  # shown by the edit already waiting
            if last_edit is None or arrival >= last_edit + interval:
                edits, last_edit = edits + 1, arrival
            else:
                waiting_until = last_edit + interval
        edits += waiting_until is not None
    return len(arrivals), edits


def errors(story_of: dict[str, str], event_of: dict[str, str], articles: list[Article]) -> None:
    by_id = {a.id: a for a in articles}
    stories: dict[str, list[str]] = defaultdict(list)
    for article_id, story in story_of.items():
        stories[story].append(article_id)
    print("\nwrong merges (stories holding more than one event):")
    for story, members in stories.items():
        events = Counter(event_of[m] for m in members)
        if len(events) > 1:
            print(f"  story {story}: " + ", ".join(f"{e} x{n}" for e, n in events.most_common()))
            for m in members:
                print(f"      {m} {event_of[m]:<28} {by_id[m].lang} {by_id[m].outlet[:18]:<18} {by_id[m].title[:70]}")
    print("\nsplit events (one event in several stories):")
    events_to_stories: dict[str, Counter[str]] = defaultdict(Counter)
    for article_id, story in story_of.items():
        events_to_stories[event_of[article_id]][story] += 1
    for event, counts in sorted(events_to_stories.items()):
        if len(counts) > 1:
            parts = ", ".join(f"{story}:{n}" for story, n in counts.most_common())
            print(f"  {event:<30} {parts}")
            for story, _ in counts.most_common()[1:]:
                for m in stories[story]:
                    if event_of[m] == event:
                        print(f"      {m} {by_id[m].lang} {by_id[m].outlet[:18]:<18} {by_id[m].title[:70]}")


def assignment_cost(articles: list[Article], settings: StorySettings, rounds: int) -> float:
    """Mean seconds to assign one article (best of `rounds` passes over the set)."""
    best = float("inf")
    for _ in range(rounds):
        assigner = StoryAssigner(settings)
        started = time.perf_counter()
        for article in articles:
            assigner.assign(article)
        best = min(best, (time.perf_counter() - started) / len(articles))
    return best


def crowded_day(articles: list[Article]) -> list[Article]:
    """The same articles, in the same order, squeezed into 24 hours: the worst case for open state."""
    start = articles[0].published
    span = (articles[-1].published - start).total_seconds() or 1.0
    return [replace(a, published=start + (a.published - start) * (86400 / span)) for a in articles]


def extraction_cost(rounds: int) -> float | None:
    """Median seconds trafilatura takes to extract one of the shared real news pages."""
    if not PAGES.is_dir():
        return None
    import trafilatura

    manifest = json.loads((PAGES / "manifest.json").read_text())
    pages = []
    for entry in manifest:
        raw = (PAGES / entry["file"]).read_bytes()
        pages.append((gzip.decompress(raw) if entry["file"].endswith(".gz") else raw, entry.get("url")))
    per_page: list[float] = []
    for html, url in pages:
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            trafilatura.extract(html, url=url, include_comments=False, include_tables=False, favor_precision=True)
            best = min(best, time.perf_counter() - started)
        per_page.append(best)
    return statistics.median(per_page)


_RSS_PROBE = """
import sys
from dataclasses import replace
sys.path[:0] = {paths!r}
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
import monitor.service.lifecycle  # what `monitor run` imports before any story is placed
base = rss()
from monitor.stories import StoryAssigner, StorySettings
assigner = StoryAssigner(StorySettings())
engine = rss()
from story_set import read_records, stored_articles
articles, _ = stored_articles(read_records(STORIES / "stories.jsonl"))
start, span = articles[0].published, (articles[-1].published - articles[0].published).total_seconds()
for article in articles:  # all within one day: every story stays open (as crowded_day)
    assigner.assign(replace(article, published=start + (article.published - start) * (86400 / span)))
print(base, engine, rss(), len(assigner.stories()))
"""


def resident_memory() -> tuple[float, float, float, int]:
    """(MB resident after importing the service, + monitor.stories and an assigner, + every
    labelled article open in it; open stories), in a fresh interpreter."""
    code = _RSS_PROBE.format(paths=[str(REPO), str(REPO / "tests")]).replace("STORIES", f"__import__('pathlib').Path({str(DATA.parent)!r})")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    base, engine, full, stories = out
    return float(base), float(engine), float(full), int(stories)


def service_cost(articles: list[Article], rounds: int) -> tuple[float, float, float]:
    """(seconds per article stored with its story placed, without stories, rebuilding the
    assigner from the open stories once), best of `rounds`, on a SQLite file."""
    import logging

    from monitor.config import StoriesConfig
    from monitor.ops.logs import configure_logging
    from monitor.service.stories import StoryKeeper
    from monitor.store import FoundMention, NewItem, QueuedAlert, Store

    configure_logging(level=logging.WARNING)  # the service logs a line per placement: not measured here

    crowded = crowded_day(articles)
    best_with = best_without = best_rebuild = float("inf")
    for _ in range(rounds):
        for placing in (True, False):
            with tempfile.TemporaryDirectory() as folder:
                moment = [crowded[0].published]
                store = Store(f"sqlite:///{folder}/bench.db", clock=lambda: moment[0])
                keeper = StoryKeeper(store.stories, StoriesConfig(), store.database.clock)
                feeds = {}
                batches = []
                for n, article in enumerate(crowded):
                    if article.outlet not in feeds:
                        feeds[article.outlet] = store.feeds.ensure(f"https://example.org/{len(feeds)}.xml", article.outlet).id
                    title_entities = article.title_entities or frozenset()
                    mentions = [
                        FoundMention(e, e, e, 0 if e in title_entities else len(article.title) + 2, 1) for e in sorted(article.entities)
                    ]
                    item = NewItem(feeds[article.outlet], f"g{n}", article.url, None, article.title, article.published,
                                   article.text, "page", None, article.lang)
                    batches.append((article.published, item, mentions))
                started = time.perf_counter()
                for published, item, mentions in batches:
                    moment[0] = published
                    store.items.add(item, mentions, [QueuedAlert("@channel", "x", "x")], keeper if placing else None)
                per_item = (time.perf_counter() - started) / len(batches)
                if placing:
                    best_with = min(best_with, per_item)
                    rebuilt = StoryKeeper(store.stories, StoriesConfig(), store.database.clock)
                    started = time.perf_counter()
                    with store.database.read() as conn:
                        rebuilt._rebuild(conn)
                    best_rebuild = min(best_rebuild, time.perf_counter() - started)
                else:
                    best_without = min(best_without, per_item)
                store.close()
    return best_with, best_without, best_rebuild


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sweep", action="store_true", help="precision/recall over a grid of thresholds")
    parser.add_argument("--errors", action="store_true", help="list wrong merges and split events")
    parser.add_argument("--ablations", action="store_true", help="quality with one layer or rule turned off")
    parser.add_argument("--heldout", action="store_true", help="measure the held-out set instead")
    parser.add_argument("--service", action="store_true", help="cost of assignment in the service: store, rebuild, memory")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    articles, event_of, left_out = load_articles(HELDOUT if args.heldout else DATA)
    settings = StorySettings()
    events = len(set(event_of.values()))
    languages = Counter(a.lang for a in articles)
    print(
        f"{len(articles)} stored articles ({left_out} more in the set had no tracked entity, so are never stored),"
        f" {events} events; languages: " + ", ".join(f"{k} {v}" for k, v in languages.most_common())
    )
    story_of, layers = run(articles, settings)
    precision, recall, actual, predicted, correct = pairwise(story_of, event_of)
    stories = len(set(story_of.values()))
    print(f"pairwise precision {precision:.3f} ({correct}/{predicted}), recall {recall:.3f} ({correct}/{actual})")
    print(
        f"channel messages: {stories} stories for {len(articles)} articles"
        f" ({100 * (1 - stories / len(articles)):.0f}% fewer; ideal {events}: {100 * (1 - events / len(articles)):.0f}% fewer)"
    )
    print("joined by layer: " + ", ".join(f"{k} {v}" for k, v in layers.most_common()))
    messages, edits = telegram_calls(articles, story_of)
    print(
        f"Telegram calls to the channel: {messages} sendMessage + {edits} editMessageText (stories.edit_interval 60s)"
        f" for {len(articles)} articles; {len(articles)} sendMessage without stories. Edits notify nobody:"
        f" {100 * (1 - messages / len(articles)):.0f}% fewer notifications, {100 * (1 - (messages + edits) / len(articles)):.0f}% fewer calls"
    )

    if args.errors:
        errors(story_of, event_of, articles)

    if args.sweep:
        print("\nprecision / recall by same_language_threshold (rows) and evidence thresholds (columns: together-at window)")
        evidence_grid = ((0.2, 0.5), (0.25, 0.5), (0.25, 0.6), (0.3, 0.6), (0.3, 0.7), (0.35, 0.7), (0.4, 0.8))
        print(" " * 6 + "".join(f"{f'{lo}-{hi}':>14}" for lo, hi in evidence_grid))
        for same in (0.25, 0.3, 0.35, 0.4, 0.45):
            cells = []
            for low, high in evidence_grid:
                swept = settings.model_copy(
                    update={
                        "same_language_threshold": same,
                        "evidence_threshold_together": low,
                        "evidence_threshold_at_window": high,
                    }
                )
                p, r, *_ = pairwise(run(articles, swept)[0], event_of)
                cells.append(f"{p:.3f}/{r:.3f}")
            print(f"{same:>6}" + "".join(f"{c:>14}" for c in cells))

    if args.ablations:
        print("\nwith one part turned off:")
        variants = {
            "copies only near-verbatim (copy_threshold 0.95)": {"copy_threshold": 0.95},
            "no same-language text layer": {"same_language_threshold": 1.0},
            "no evidence layer": {"evidence_threshold_together": 1.0, "evidence_threshold_at_window": 1.0},
            "evidence threshold flat at 0.6 (no time slope)": {"evidence_threshold_together": 0.6},
            "no new-development rule": {"novelty_gap": settings.max_story_age},
        }
        for name, update in variants.items():
            swept = StorySettings.model_validate({**settings.model_dump(), **update})
            p, r, *_ = pairwise(run(articles, swept)[0], event_of)
            print(f"  {name:<48} precision {p:.3f} recall {r:.3f}")
        p, r, *_ = pairwise(run(articles, settings, OneArticlePerOutlet)[0], event_of)
        print(f"  {'one article per outlet per story (strict)':<48} precision {p:.3f} recall {r:.3f}")

    assign_seconds = assignment_cost(articles, settings, args.rounds)
    crowded = crowded_day(articles)
    crowded_seconds = assignment_cost(crowded, settings, args.rounds)
    extract_seconds = extraction_cost(args.rounds)
    crowded_state = StoryAssigner(settings)
    for article in crowded:
        crowded_state.assign(article)
    snapshot = crowded_state.snapshot()
    remembered = sum(len(story["articles"]) for story in snapshot["stories"])
    size = len(json.dumps(snapshot))
    print(
        f"\nstate after the crowded day: {len(snapshot['stories'])} open stories, {remembered} articles,"
        f" snapshot {size / 1024:.0f} KB ({size / max(remembered, 1):.0f} bytes per article)"
    )
    print(f"assigning one article: {1000 * assign_seconds:.2f} ms (mean over the set, best of {args.rounds} passes)")
    print(
        f"  with all {len(crowded)} articles published within one day (every story stays open):"
        f" {1000 * crowded_seconds:.2f} ms"
    )
    if extract_seconds is None:
        print(f"extraction baseline skipped: {PAGES} not found")
    else:
        print(
            f"trafilatura extraction of one typical page (median of the shared news pages): {1000 * extract_seconds:.2f} ms"
            f" -> assigning costs {assign_seconds / extract_seconds:.2f}x an extraction (goal: < 1)"
        )

    if args.service:
        with_story, without, rebuild = service_cost(articles, args.rounds)
        print(
            f"\nin the service (SQLite file, all {len(articles)} articles within one day):"
            f" storing an article {1000 * without:.2f} ms without stories, {1000 * with_story:.2f} ms with its story"
            f" placed in the same transaction (+{1000 * (with_story - without):.2f} ms)"
        )
        if extract_seconds is not None:
            print(f"  story placement costs {(with_story - without) / extract_seconds:.2f}x an extraction")
        print(f"  rebuilding the assigner at start from {len(articles)} open articles: {rebuild:.2f} s")
        base, engine, full, open_stories = resident_memory()
        print(
            f"resident memory of a fresh process: {base:.0f} MB with the service's modules imported,"
            f" {engine:.0f} MB (+{engine - base:.0f}) with monitor.stories and an assigner,"
            f" {full:.0f} MB (+{full - engine:.0f}) holding {open_stories} open stories of {len(articles)} articles"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
