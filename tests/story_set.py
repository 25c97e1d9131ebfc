"""The labelled story set (tests/data/stories/) as the articles the service would store.

One reading of the set and one measurement for tests/test_stories_eval.py (which
holds them to the goals) and benchmarks/stories.py (which reports them).
"""

from __future__ import annotations

import json
from datetime import datetime
from itertools import combinations
from pathlib import Path

from monitor.stories import Article

STORIES = Path(__file__).resolve().parent / "data" / "stories"


def read_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def stored_articles(records: list[dict]) -> tuple[list[Article], dict[str, str]]:
    """(the records with a tracked entity, in order of publication, as articles; article id -> event).

    Only those are stored and alerted in production, so only those are assigned.
    """
    stored = sorted((r for r in records if r["entities"]), key=lambda r: (r["published"], r["id"]))
    articles = [
        Article(
            id=r["id"],
            outlet=r["outlet"],
            lang=r["lang"],
            published=datetime.fromisoformat(r["published"].replace("Z", "+00:00")),
            title=r["title"],
            text=r["text"],
            entities=frozenset(r["entities"]),
            title_entities=frozenset(r["title_entities"]),
            url=r["url"],
        )
        for r in stored
    ]
    return articles, {r["id"]: r["event"] for r in stored}


def pairwise(story_of: dict[str, str], event_of: dict[str, str]) -> tuple[float, float, int, int, int]:
    """(precision, recall, true pairs, predicted pairs, correct pairs) over all pairs of articles."""
    predicted = correct = actual = 0
    for a, b in combinations(sorted(story_of), 2):
        same_story = story_of[a] == story_of[b]
        same_event = event_of[a] == event_of[b]
        predicted += same_story
        actual += same_event
        correct += same_story and same_event
    precision = correct / predicted if predicted else 1.0
    recall = correct / actual if actual else 1.0
    return precision, recall, actual, predicted, correct
