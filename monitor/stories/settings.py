"""Thresholds and windows of story assignment, with their defaults and why.

`StorySettings` is a pydantic model like the rest of the configuration, so it
can become the `stories:` section of monitor.yaml as it is (durations accept
"24h", "90m" or seconds). The defaults were tuned for precision first on the
labelled set; the measurements are in docs/STORIES.md.
"""

from __future__ import annotations

from datasketch import MinHashLSH
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
    copy_threshold: float = Field(default=0.5, gt=0, le=0.95)
    minhash_permutations: int = Field(default=128, ge=32, le=1024)
    shingle_words: int = Field(default=3, ge=1, le=8)
    # Layer 2, same language: TF-IDF cosine of title + lead (character 3-5-grams)
    # from which an article joins a story article of its language.
    same_language_threshold: float = Field(default=0.35, gt=0, le=1)
    lead_chars: int = Field(default=400, ge=0)
    # Layer 3, language-independent evidence (the across-languages layer; it
    # also joins same-language reports whose wording differs): the weighted
    # cosine of entities, numbers, places and kinds of event needed to join a
    # story article published `dt` apart rises linearly from
    # evidence_threshold_together (dt = 0) to evidence_threshold_at_window
    # (dt = evidence_window); articles further apart never join this way.
    # Two reports of one tracked site within the hour are nearly always one
    # event; half a day apart they need to agree on much more.
    evidence_threshold_together: float = Field(default=0.25, gt=0, le=1)
    evidence_threshold_at_window: float = Field(default=0.6, gt=0, le=1)
    evidence_window: Duration = 12 * HOUR
    evidence_weights: EvidenceWeights = EvidenceWeights()
    # New developments: from this long after a story began, an article whose
    # title announces a kind of event the story never mentioned (a denial,
    # airstrikes, "a second attack", "erneut", "هجوم جديد") or names a tracked
    # entity it never mentioned opens a new story. Earlier, reports still add
    # facts (casualties after "rockets hit").
    novelty_gap: Duration = 3 * HOUR
    # Compare a new article with at most this many of a story's latest
    # articles: bounds the cost of assigning into a very big story.
    max_compared_per_story: int = Field(default=40, ge=1)

    @model_validator(mode="after")
    def _windows_fit(self) -> StorySettings:
        if self.join_window > self.max_story_age:
            raise ValueError("join_window must not be longer than max_story_age")
        if self.evidence_threshold_together > self.evidence_threshold_at_window:
            raise ValueError("evidence_threshold_together must not be above evidence_threshold_at_window")
        try:  # the LSH index splits the signature into bands; some pairs leave too few
            MinHashLSH(threshold=self.copy_threshold, num_perm=self.minhash_permutations)
        except ValueError as error:
            raise ValueError(f"copy_threshold {self.copy_threshold:g} with {self.minhash_permutations} permutations: {error}") from None
        return self
