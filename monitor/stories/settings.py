"""Thresholds and windows of story assignment, with their defaults and why.

The fields, defaults and their reasons live with the configuration
(`monitor.config.StoryThresholds`: the `stories:` section of monitor.yaml);
`StorySettings` adds the one check that needs datasketch (kept out of the
config layer so that loading a config does not load NumPy). The defaults were
tuned for precision first on the labelled set; the measurements are in
docs/STORIES.md.
"""

from __future__ import annotations

from datasketch import MinHashLSH
from pydantic import model_validator

from monitor.config import EvidenceWeights, StoryThresholds

__all__ = ["EvidenceWeights", "StorySettings"]


class StorySettings(StoryThresholds):
    @model_validator(mode="after")
    def _lsh_bands_fit(self) -> StorySettings:
        try:  # the LSH index splits the signature into bands; some pairs leave too few
            MinHashLSH(threshold=self.copy_threshold, num_perm=self.minhash_permutations)
        except ValueError as error:
            raise ValueError(f"copy_threshold {self.copy_threshold:g} with {self.minhash_permutations} permutations: {error}") from None
        return self
