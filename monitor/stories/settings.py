"""Thresholds and windows of story assignment, with their defaults and why.

`StorySettings` is a pydantic model like the rest of the configuration, so it
can become the `stories:` section of monitor.yaml as it is (durations accept
"24h", "90m" or seconds). The defaults are the tuned values reported in
docs/STORIES.md.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.config.settings import Duration

HOUR = 3600.0


class EvidenceWeights(BaseModel):
    """How much each kind of language-independent evidence counts (times its IDF)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    entities: float = Field(default=1.0, ge=0)
    numbers: float = Field(default=1.0, ge=0)
    places: float = Field(default=0.5, ge=0)
    concepts: float = Field(default=0.5, ge=0)


class StorySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # A story takes new articles while its latest article is at most this old
    # (practitioners: 18-24 h) ...
    join_window: Duration = 24 * HOUR
    # ... and while its first article is at most this old (practitioners: 36-72 h).
    max_story_age: Duration = 72 * HOUR
    # Layer 1, copies: estimated Jaccard overlap of word shingles from which two
    # articles are copies (reprints, wire text, tracking-parameter URL variants).
    # At 0.5, MinHash finds 297/300 copies with 5% edits (measured, see NOTES).
    copy_threshold: float = Field(default=0.5, gt=0, le=1)
    minhash_permutations: int = Field(default=128, ge=16, le=1024)
    shingle_words: int = Field(default=3, ge=1, le=8)
    # Layer 2, same language: TF-IDF cosine of title + lead (character 3-5-grams)
    # from which an article joins a story article of its language.
    same_language_threshold: float = Field(default=0.35, gt=0, le=1)
    lead_chars: int = Field(default=400, ge=0)
    # Layer 3, across languages: cosine of the weighted language-independent
    # evidence (entities, numbers, places, kinds of event) from which an article
    # joins a story article in another language published at most
    # `cross_language_window` apart.
    cross_language_threshold: float = Field(default=0.5, gt=0, le=1)
    cross_language_window: Duration = 12 * HOUR
    evidence_weights: EvidenceWeights = EvidenceWeights()
    # A title that announces a new occurrence ("a second attack", "erneut",
    # "هجوم جديد") does not join a story begun this long before it, unless
    # that story is itself about a repeat occurrence.
    novelty_gap: Duration = 3 * HOUR
    # Compare a new article with at most this many of a story's latest
    # articles per layer: bounds the cost of assigning into a very big story.
    max_compared_per_story: int = Field(default=40, ge=1)

    @model_validator(mode="after")
    def _windows_fit(self) -> StorySettings:
        if self.join_window > self.max_story_age:
            raise ValueError("join_window must not be longer than max_story_age")
        return self
