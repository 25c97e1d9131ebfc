"""Online story assignment: which open story does a new article join, and why.

Every article is assigned once, when it is stored; nothing is re-clustered
later. The new article is compared with the articles of each open story; it
joins the story of the strongest match, in one of three ways:

1. copy: the same canonical URL, or a MinHash estimate of the Jaccard overlap
   of word 3-shingles (title + text) >= copy_threshold. Reprints, syndicated
   wire copy and tracking-parameter URL variants; from any outlet.
2. same language: TF-IDF cosine of title + lead (character n-grams) >=
   same_language_threshold.
3. evidence: language-independent evidence (tracked entity ids, numbers,
   places, kinds of event, each weighted by its rarity in the open stories)
   agrees enough for the time between the two: the threshold rises from
   evidence_threshold_together for simultaneous reports to
   evidence_threshold_at_window at evidence_window apart. This is the layer
   that joins an Arabic and an English report; it also joins reports in one
   language whose wording differs.

Layers 2 and 3 also require, for the pair: a different outlet (one outlet's
two articles join only as copies), a shared tracked entity, the same subject
(a tracked entity named in either title is mentioned by the other), no
contradiction (different places and different numbers), and no sign of a new
development. A new development is an article, published novelty_gap or
more after the story began, whose title announces a kind of event the story
has not mentioned (a denial, airstrikes, "a second attack") or names a
tracked entity the story has not mentioned. A story is open while its latest
article is at most join_window old and its first at most max_story_age old,
"old" measured by the articles' own published times (no wall clock). An
article that joins nothing opens a new story, whose id is its own id.

The state is the open stories, their articles' sketches (no text) and the
document frequencies over them: bounded by the windows, serialisable with
`snapshot()` / `from_snapshot()`, or rebuilt with `restore()` from stored
articles whose stories are known.
"""

from __future__ import annotations

import base64
import bisect
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

import numpy as np
from datasketch import MinHash, MinHashLSH

from monitor.ingest.identity import canonical_url
from monitor.match.normalise import fold
from monitor.stories.evidence import Evidence, EvidenceFinder
from monitor.stories.settings import StorySettings
from monitor.stories.text import (
    DocumentFrequencies,
    SparseVector,
    TextSketcher,
    cosine,
    minhash_jaccard,
    weighted_cosine,
)

Layer = Literal["copy", "same-language", "evidence", "new"]

SNAPSHOT_VERSION = 1


@dataclass(frozen=True)
class Article:
    """What the assigner needs to know about a stored article.

    `entities` are the tracked entity ids the matcher found in title + text.
    `numbers` and `places` are found in title + lead when left as None.
    `published` should be the feed's date, or when the item was first seen if
    the feed gives none or a future one; a naive datetime is taken as UTC.
    """

    id: str
    outlet: str
    lang: str
    published: datetime
    title: str
    text: str = ""
    entities: frozenset[str] = frozenset()
    url: str | None = None
    numbers: frozenset[int] | None = None
    places: frozenset[str] | None = None
    title_entities: frozenset[str] | None = None  # those of `entities` mentioned in the title, if known


@dataclass(frozen=True)
class Assignment:
    """The decision for one article."""

    article_id: str
    story_id: str
    layer: Layer  # how it joined, or "new" for a new story
    joined_with: str | None  # the story article that decided it
    score: float  # the deciding similarity (0 for a new story)
    new_entities: frozenset[str]  # entities the story did not have before this article
    reason: str  # one line for logs

    @property
    def new_story(self) -> bool:
        return self.layer == "new"


@dataclass(frozen=True)
class StoryView:
    """A read-only view of an open story."""

    id: str
    article_ids: tuple[str, ...]
    outlets: tuple[str, ...]  # in order of first appearance
    languages: tuple[str, ...]
    entities: frozenset[str]
    first_published: datetime
    last_published: datetime


@dataclass(eq=False)  # one object per article: compared by identity (list.remove)
class _Member:
    """An article as a story remembers it: sketches, not text."""

    id: str
    outlet: str
    lang: str
    published: datetime
    url_key: str | None
    entities: frozenset[str]
    title_entities: frozenset[str]
    evidence: Evidence
    minhash: np.ndarray
    vector: SparseVector
    story_id: str = ""

    def evidence_keys(self) -> Iterator[tuple[str, str]]:
        """(kind, key) of each language-independent feature."""
        for entity in self.entities:
            yield "entities", f"e:{entity}"
        for number in self.evidence.numbers:
            yield "numbers", f"n:{number}"
        for place in self.evidence.places:
            yield "places", f"p:{place}"
        for concept in self.evidence.concepts:
            yield "concepts", f"c:{concept}"



@dataclass
class _Story:
    """An open story; its summary fields are kept up to date as articles join."""

    id: str
    members: list[_Member] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None
    entities: set[str] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)  # kinds of event any of its articles mentions

    def add(self, member: _Member) -> None:
        # Kept in order of publication (reports mostly arrive in that order: an insort
        # near the end), so the latest ones are a slice, not a sort per placement.
        bisect.insort(self.members, member, key=lambda m: m.published)
        self.first = member.published if self.first is None else min(self.first, member.published)
        self.last = member.published if self.last is None else max(self.last, member.published)
        self.entities.update(member.entities)
        self.kinds.update(member.evidence.concepts)

    def latest(self, count: int) -> list[_Member]:
        """The `count` most recently published articles."""
        return self.members[-count:]

    def view(self) -> StoryView:
        assert self.first is not None and self.last is not None
        return StoryView(
            id=self.id,
            article_ids=tuple(m.id for m in self.members),
            outlets=tuple(dict.fromkeys(m.outlet for m in self.members)),
            languages=tuple(dict.fromkeys(m.lang for m in self.members)),
            entities=frozenset(self.entities),
            first_published=self.first,
            last_published=self.last,
        )


@dataclass(frozen=True)
class PairCheck:
    """Everything the assigner weighs about one pair of articles.

    `a` is the arriving article, `b` an article already in a story. The pair
    rules are the same that `assign` applies to each candidate story article;
    a story adds its windows (open or closed) and applies the new-development
    rule to everything its articles mention, not to one article.
    """

    a_id: str
    b_id: str
    copy_similarity: float
    same_url: bool
    same_outlet: bool
    same_language: bool
    hours_apart: float
    shared_entities: frozenset[str]
    only_a_entities: frozenset[str]
    only_b_entities: frozenset[str]
    text_similarity: float | None  # same language only
    evidence_similarity: float
    shared_numbers: frozenset[int]
    shared_places: frozenset[str]
    shared_concepts: frozenset[str]
    new_kinds: frozenset[str]  # kinds of event in a's title that b never mentions (a later than novelty_gap)
    new_title_entities: frozenset[str]  # tracked entities in a's title that b never mentions (idem)
    layer: Layer  # "new" when the pair would not join
    reason: str

    @property
    def joined(self) -> bool:
        return self.layer != "new"

    def __str__(self) -> str:
        lines = [
            f"A {self.a_id} / B {self.b_id}: {'JOIN (' + self.layer + ')' if self.joined else 'SEPARATE'}: {self.reason}",
            f"  copy:      MinHash Jaccard {self.copy_similarity:.2f}" + ("; same canonical URL" if self.same_url else ""),
            f"  outlet:    {'same' if self.same_outlet else 'different'}; language: {'same' if self.same_language else 'different'}",
            f"  apart:     {self.hours_apart:.1f} h",
            f"  entities:  shared {_names(self.shared_entities)}; only A {_names(self.only_a_entities)};"
            f" only B {_names(self.only_b_entities)}",
        ]
        if self.text_similarity is not None:
            lines.append(f"  text:      TF-IDF cosine of title + lead {self.text_similarity:.2f}")
        lines.append(
            f"  evidence:  {self.evidence_similarity:.2f} (numbers {_names(self.shared_numbers)};"
            f" places {_names(self.shared_places)}; kinds {_names(self.shared_concepts)})"
        )
        if self.new_kinds or self.new_title_entities:
            lines.append(
                f"  new:       A's title announces {_names(self.new_kinds | self.new_title_entities)},"
                " which B does not mention"
            )
        return "\n".join(lines)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _language(code: str) -> str:
    return (code or "und").split("-")[0].split("_")[0].lower()


def _names(values: Iterable[object]) -> str:
    return ", ".join(str(v) for v in sorted(values, key=str)) or "-"


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g} h"


class StoryAssigner:
    """Assigns articles to stories one at a time. Not thread-safe: one writer."""

    def __init__(self, settings: StorySettings | None = None, evidence_finder: EvidenceFinder | None = None):
        self.settings = settings or StorySettings()
        self._finder = evidence_finder or EvidenceFinder()
        self._sketcher = TextSketcher(self.settings.minhash_permutations, self.settings.shingle_words)
        self._stories: dict[str, _Story] = {}
        self._members: dict[str, _Member] = {}
        self._by_url: dict[str, str] = {}  # canonical URL -> member id
        self._lsh = MinHashLSH(threshold=self.settings.copy_threshold, num_perm=self.settings.minhash_permutations)
        self._text_frequencies = DocumentFrequencies()
        self._evidence_frequencies: Counter[str] = Counter()
        self._high_water: datetime | None = None

    # ------------------------------------------------------------------ public

    def assign(self, article: Article) -> Assignment:
        """Put the article into an open story, or open a new one; return the decision.

        An article whose id is already remembered is not assigned again: the
        answer names its story, with the reason "already assigned".
        """
        known = self._members.get(str(article.id))
        if known is not None:
            return Assignment(known.id, known.story_id, "copy", known.id, 1.0, frozenset(), "already assigned")
        member = self._sketch(article)
        self._advance_clock(member.published)
        copies = self._copy_candidates(member)
        copy_stories = {c.story_id for c in copies}
        best: tuple[float, _Story, PairCheck] | None = None
        for story in self._open_stories(member.published):
            if story.id not in copy_stories and not (member.entities & story.entities):
                continue  # every way in but a copy needs a shared tracked entity
            decision = self._best_pair(member, story, [c for c in copies if c.story_id == story.id])
            if decision is not None and (best is None or decision[0] > best[0]):
                best = (decision[0], story, decision[1])
        if best is None:
            story_id = member.id
            while story_id in self._stories:  # an id given to restore() for another story
                story_id += "+"
            story = self._stories[story_id] = _Story(story_id)
            self._add(member, story)
            return Assignment(member.id, story.id, "new", None, 0.0, member.entities, "no open story matches")
        _, story, check = best
        new_entities = member.entities - story.entities
        self._add(member, story)
        score = {
            "copy": check.copy_similarity,
            "same-language": check.text_similarity or 0.0,
            "evidence": check.evidence_similarity,
        }[check.layer]
        return Assignment(member.id, story.id, check.layer, check.b_id, score, frozenset(new_entities), check.reason)

    def restore(self, article: Article, story_id: str) -> None:
        """Remember an article already assigned to `story_id` (rebuilding state from storage)."""
        member = self._sketch(article)
        if member.id in self._members:
            return
        self._advance_clock(member.published)
        story = self._stories.get(story_id)
        if story is None:
            story = self._stories[story_id] = _Story(story_id)
        self._add(member, story)

    def explain(self, a: Article, b: Article) -> PairCheck:
        """Why `a` would or would not join a story holding `b` (pair rules, current frequencies)."""
        return self._check_pair(self._sketch(a), self._sketch(b))

    def stories(self) -> list[StoryView]:
        """The open stories, oldest first."""
        return sorted((s.view() for s in self._stories.values()), key=lambda v: v.first_published)

    def story_of(self, article_id: str) -> str | None:
        member = self._members.get(article_id)
        return member.story_id if member else None

    # --------------------------------------------------------------- deciding

    def _open_stories(self, published: datetime) -> list[_Story]:
        """Stories an article published at `published` may join (windows measured from it)."""
        open_now = []
        for story in self._stories.values():
            assert story.first is not None and story.last is not None
            if (published - story.last).total_seconds() > self.settings.join_window:
                continue
            if (published - story.first).total_seconds() > self.settings.max_story_age:
                continue
            open_now.append(story)
        return open_now

    def _best_pair(self, member: _Member, story: _Story, copies: list[_Member]) -> tuple[float, PairCheck] | None:
        """The strongest reason for `member` to join `story`, as (strength, check); None if none.

        Copies rank above every other reason; other joins rank by how far their
        similarity exceeds the threshold it had to pass.
        """
        for other in copies:
            check = self._check_pair(member, other)
            if check.layer == "copy":
                return 10.0 + check.copy_similarity, check
        if self._new_development(member, story):
            return None
        recent = story.latest(self.settings.max_compared_per_story)
        best: tuple[float, PairCheck] | None = None
        for other in recent:
            check = self._check_pair(member, other)
            if check.layer == "same-language":
                strength = (check.text_similarity or 0.0) / self.settings.same_language_threshold
            elif check.layer == "evidence":
                strength = check.evidence_similarity / self.evidence_needed(check.hours_apart * 3600)
            else:
                continue
            if best is None or strength > best[0]:
                best = (strength, check)
        return best

    def evidence_needed(self, seconds_apart: float) -> float:
        """The evidence similarity needed to join two articles this far apart (inf beyond the window)."""
        settings = self.settings
        if seconds_apart > settings.evidence_window:
            return math.inf
        share = seconds_apart / settings.evidence_window
        low, high = settings.evidence_threshold_together, settings.evidence_threshold_at_window
        return low + (high - low) * share

    def _new_development(self, member: _Member, story: _Story) -> bool:
        """Does the title announce something the story has not mentioned (a denial, airstrikes, a repeat, an entity)?

        In a story's first hours reports add facts (casualties after "rockets
        hit"), so the rule applies only from novelty_gap after its first article.
        """
        assert story.first is not None
        if (member.published - story.first).total_seconds() < self.settings.novelty_gap:
            return False
        return bool(member.evidence.title_concepts - story.kinds) or bool(member.title_entities - story.entities)

    def _check_pair(self, a: _Member, b: _Member) -> PairCheck:
        settings = self.settings
        copy_similarity = minhash_jaccard(a.minhash, b.minhash)
        same_url = a.url_key is not None and a.url_key == b.url_key
        same_language = a.lang == b.lang
        apart = abs((a.published - b.published).total_seconds())
        text_similarity = cosine(a.vector, b.vector, self._text_frequencies) if same_language else None
        evidence_similarity = weighted_cosine(self._evidence_weights(a), self._evidence_weights(b))
        # A title names the article's subject; the other article must mention it
        # (an Islamic State attack near Taji is not the hand-over of Camp Taji,
        # even where the hand-over report mentions the anti-IS coalition).
        other_subject = ""
        if b.title_entities and not a.entities & b.title_entities:
            other_subject = f"B's title names {_names(b.title_entities)}, which A does not mention"
        elif a.title_entities and not b.entities & a.title_entities:
            other_subject = f"A's title names {_names(a.title_entities)}, which B does not mention"
        # Both name places and counts, and share none of either: two reports of
        # one event rarely disagree on both (Kirkuk and 4 dead / Baghdad and 11 sentenced).
        places_a, places_b = a.evidence.places, b.evidence.places
        numbers_a, numbers_b = a.evidence.numbers, b.evidence.numbers
        contradiction = bool(
            places_a and places_b and not places_a & places_b and numbers_a and numbers_b and not numbers_a & numbers_b
        )
        later = (a.published - b.published).total_seconds() >= settings.novelty_gap
        new_kinds = a.evidence.title_concepts - b.evidence.concepts if later else frozenset()
        new_entities = a.title_entities - b.entities if later else frozenset()
        shared = a.entities & b.entities

        layer: Layer = "new"
        if same_url:
            layer, reason = "copy", "same canonical URL"
        elif copy_similarity >= settings.copy_threshold:
            layer, reason = "copy", f"copy: shingle overlap {copy_similarity:.2f} >= {settings.copy_threshold:g}"
        elif a.outlet == b.outlet:
            reason = "same outlet and not a copy"
        elif apart > settings.join_window:
            reason = f"published {apart / 3600:.1f} h apart, more than the join window of {_hours(settings.join_window)}"
        elif not shared:
            reason = "no tracked entity in common"
        elif other_subject:
            reason = f"different subjects: {other_subject}"
        elif contradiction:
            reason = (
                "contradiction: they name different places and different numbers"
                f" ({_names(a.evidence.places)} / {_names(b.evidence.places)};"
                f" {_names(a.evidence.numbers)} / {_names(b.evidence.numbers)})"
            )
        elif new_kinds:
            reason = f"new development: A's title announces {', '.join(sorted(new_kinds))}, which B does not mention"
        elif new_entities:
            reason = f"new development: A's title names {', '.join(sorted(new_entities))}, which B does not mention"
        else:
            needed = self.evidence_needed(apart)
            if same_language and text_similarity is not None and text_similarity >= settings.same_language_threshold:
                layer = "same-language"
                reason = f"same language, title + lead similarity {text_similarity:.2f} >= {settings.same_language_threshold:g}"
            elif evidence_similarity >= needed:
                layer = "evidence"
                reason = f"shared evidence {evidence_similarity:.2f} >= {needed:.2f} needed at {apart / 3600:.1f} h apart"
            elif apart > settings.evidence_window:
                reason = (
                    f"{'title + lead similarity ' + format(text_similarity, '.2f') + ' too low; ' if same_language else ''}"
                    f"{apart / 3600:.1f} h apart, beyond the evidence window of {_hours(settings.evidence_window)}"
                )
            else:
                reason = (
                    f"{'title + lead similarity ' + format(text_similarity, '.2f') + ' too low; ' if same_language else ''}"
                    f"shared evidence {evidence_similarity:.2f} < {needed:.2f} needed at {apart / 3600:.1f} h apart"
                )
        return PairCheck(
            a_id=a.id,
            b_id=b.id,
            copy_similarity=copy_similarity,
            same_url=same_url,
            same_outlet=a.outlet == b.outlet,
            same_language=same_language,
            hours_apart=apart / 3600,
            shared_entities=shared,
            only_a_entities=a.entities - b.entities,
            only_b_entities=b.entities - a.entities,
            text_similarity=text_similarity,
            evidence_similarity=evidence_similarity,
            shared_numbers=a.evidence.numbers & b.evidence.numbers,
            shared_places=a.evidence.places & b.evidence.places,
            shared_concepts=a.evidence.concepts & b.evidence.concepts,
            new_kinds=new_kinds,
            new_title_entities=new_entities,
            layer=layer,
            reason=reason,
        )

    def _evidence_weights(self, member: _Member) -> dict[str, float]:
        weights = self.settings.evidence_weights
        documents = max(len(self._members), 1)
        out: dict[str, float] = {}
        for kind, key in member.evidence_keys():
            idf = math.log((1.0 + documents) / (1.0 + self._evidence_frequencies.get(key, 0))) + 1.0
            out[key] = getattr(weights, kind) * idf
        return out

    def _signature(self, member: _Member) -> MinHash:
        return self._sketcher.signature(member.minhash)

    def _copy_candidates(self, member: _Member) -> list[_Member]:
        """Remembered articles that may be copies of `member` (same URL, or found by LSH)."""
        found: list[str] = []
        if member.url_key and member.url_key in self._by_url:
            found.append(self._by_url[member.url_key])
        if self._members and len(member.minhash):
            found.extend(k for k in self._lsh.query(self._signature(member)) if k not in found)
        return [self._members[k] for k in found]

    # ------------------------------------------------------------------ state

    def _sketch(self, article: Article) -> _Member:
        title = article.title or ""
        text = article.text or ""
        lead = text[: self.settings.lead_chars]
        lang = _language(article.lang)
        evidence = self._finder.find(title, lead, lang)
        if article.numbers is not None or article.places is not None:
            evidence = Evidence(
                numbers=article.numbers if article.numbers is not None else evidence.numbers,
                places=article.places if article.places is not None else evidence.places,
                concepts=evidence.concepts,
                title_concepts=evidence.title_concepts,
            )
        folded_title = fold(title)
        return _Member(
            id=str(article.id),
            outlet=article.outlet,
            lang=lang,
            published=_utc(article.published),
            url_key=canonical_url(article.url) if article.url else None,
            entities=frozenset(article.entities),
            title_entities=frozenset(article.title_entities or ()) & frozenset(article.entities),
            evidence=evidence,
            minhash=self._sketcher.minhash(f"{folded_title} {fold(text)}".split()),
            # The title counts twice: it states the news; the lead retells it.
            vector=self._sketcher.vector(f"{folded_title} {folded_title} {fold(lead)}"),
        )

    def _add(self, member: _Member, story: _Story) -> None:
        member.story_id = story.id
        story.add(member)
        self._members[member.id] = member
        if member.url_key:
            self._by_url.setdefault(member.url_key, member.id)
        if len(member.minhash):
            self._lsh.insert(member.id, self._signature(member))
        self._text_frequencies.add(member.vector)
        self._evidence_frequencies.update(key for _, key in member.evidence_keys())
        if len(self._members) > self.settings.max_open_articles:
            while len(self._members) > self.settings.max_open_articles:
                oldest = self._members[next(iter(self._members))]  # dicts keep insertion order
                self._forget_member(oldest, self._stories[oldest.story_id])
            self._evidence_frequencies = +self._evidence_frequencies  # drop zero counts

    def _advance_clock(self, published: datetime) -> None:
        """Move the high-water mark of published times and forget stories closed by it."""
        if self._high_water is not None and published <= self._high_water:
            return
        self._high_water = published
        for story in list(self._stories.values()):
            assert story.first is not None and story.last is not None
            idle = (published - story.last).total_seconds()
            age = (published - story.first).total_seconds()
            if idle > self.settings.join_window or age > self.settings.max_story_age:
                self._forget(story)

    def _forget(self, story: _Story) -> None:
        for member in list(story.members):
            self._forget_member(member, story)
        self._evidence_frequencies = +self._evidence_frequencies  # drop zero counts

    def _forget_member(self, member: _Member, story: _Story) -> None:
        """Drop an article from memory; its story closes with its last remembered article."""
        story.members.remove(member)
        if not story.members:
            del self._stories[story.id]
        del self._members[member.id]
        if member.url_key and self._by_url.get(member.url_key) == member.id:
            del self._by_url[member.url_key]
        if len(member.minhash):
            self._lsh.remove(member.id)
        self._text_frequencies.remove(member.vector)
        self._evidence_frequencies.subtract(key for _, key in member.evidence_keys())

    # ------------------------------------------------------------- snapshots

    def snapshot(self) -> dict[str, Any]:
        """The state as JSON-compatible values (sketches, not article text)."""
        return {
            "version": SNAPSHOT_VERSION,
            "settings": self.settings.model_dump(mode="json"),
            "high_water": self._high_water.isoformat() if self._high_water else None,
            "stories": [
                {"id": story.id, "articles": [_member_to_json(m) for m in story.members]}
                for story in self._stories.values()
            ],
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any], evidence_finder: EvidenceFinder | None = None) -> StoryAssigner:
        """An assigner with the state of `snapshot()`; raises ValueError on a snapshot it cannot read."""
        if not isinstance(data, dict) or data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"not a story snapshot of version {SNAPSHOT_VERSION}")
        assigner = cls(StorySettings.model_validate(data["settings"]), evidence_finder)
        for story_data in data["stories"]:
            story = assigner._stories[story_data["id"]] = _Story(story_data["id"])
            for item in story_data["articles"]:
                assigner._add(_member_from_json(item), story)
        if data.get("high_water"):
            assigner._high_water = datetime.fromisoformat(data["high_water"])
        return assigner


def _encode(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _decode(text: str, dtype: type) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype).copy()


def _member_to_json(member: _Member) -> dict[str, Any]:
    return {
        "id": member.id,
        "outlet": member.outlet,
        "lang": member.lang,
        "published": member.published.isoformat(),
        "url_key": member.url_key,
        "entities": sorted(member.entities),
        "title_entities": sorted(member.title_entities),
        "numbers": sorted(member.evidence.numbers),
        "places": sorted(member.evidence.places),
        "concepts": sorted(member.evidence.concepts),
        "title_concepts": sorted(member.evidence.title_concepts),
        "minhash": _encode(member.minhash.astype(np.uint32)),
        "ngrams": _encode(member.vector.indices),
        "weights": _encode(member.vector.values),
    }


def _member_from_json(item: dict[str, Any]) -> _Member:
    return _Member(
        id=item["id"],
        outlet=item["outlet"],
        lang=item["lang"],
        published=datetime.fromisoformat(item["published"]),
        url_key=item["url_key"],
        entities=frozenset(item["entities"]),
        title_entities=frozenset(item["title_entities"]),
        evidence=Evidence(
            numbers=frozenset(item["numbers"]),
            places=frozenset(item["places"]),
            concepts=frozenset(item["concepts"]),
            title_concepts=frozenset(item["title_concepts"]),
        ),
        minhash=_decode(item["minhash"], np.uint32),
        vector=SparseVector(_decode(item["ngrams"], np.int32), _decode(item["weights"], np.float32)),
    )
