"""Grouping articles into stories: one alert per story, across outlets and languages.

Pure logic, no I/O: values in, values out.

    from monitor.stories import Article, StoryAssigner, StorySettings
    assigner = StoryAssigner(StorySettings())
    decision = assigner.assign(article)      # -> Assignment (story id, layer, reason)
    assigner.explain(article_a, article_b)   # -> PairCheck, for `monitor stories --explain A B`
    assigner.snapshot() / StoryAssigner.from_snapshot(data) / assigner.restore(article, story_id)

Design, layers, thresholds and measured quality: docs/STORIES.md.
"""

from monitor.stories.assigner import Article, Assignment, PairCheck, StoryAssigner, StoryView
from monitor.stories.evidence import Evidence, EvidenceFinder
from monitor.stories.settings import EvidenceWeights, StorySettings

__all__ = [
    "Article",
    "Assignment",
    "Evidence",
    "EvidenceFinder",
    "EvidenceWeights",
    "PairCheck",
    "StoryAssigner",
    "StorySettings",
    "StoryView",
]
