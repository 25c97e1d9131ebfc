"""Text sketches: MinHash of word shingles (copies) and hashed character n-grams (retellings).

* Copies: a reprint or a wire story on another site shares most of its word
  3-shingles with the original; MinHash (datasketch) estimates that Jaccard
  overlap from a fixed-size signature, and LSH finds candidates without
  comparing against every open article.
* Retellings in one language: title and lead as a bag of character 3-5-grams
  within words, hashed into 2^20 buckets (stateless, so nothing has to be
  fitted), weighted by TF-IDF with document frequencies counted over the
  articles of the open stories. Character n-grams inside words match Arabic
  words with and without their glued-on article or preposition (الصواريخ,
  بالصواريخ) and English plurals, which whole words would miss.

  The n-grams are those of scikit-learn's `HashingVectorizer(analyzer=
  "char_wb")`, written out here (a dozen lines) because importing scikit-learn
  and the parts of SciPy it loads costs about 35 MB of resident memory and a
  second of start-up, for this one function. The hash is CRC-32, stable
  across processes, so stored vectors stay comparable after a restart.

Texts arrive folded (`monitor.match.normalise.fold`): case, accents and Arabic
letter forms already unified.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter

import numpy as np
from datasketch import MinHash

N_FEATURES = 2**20
# Named explicitly: signatures are stored in snapshots, and only signatures of one
# scheme can be compared (datasketch 2 changed its default).
MINHASH_SCHEME = "affine32"


class SparseVector:
    """Sorted feature indices and their sublinear term frequencies (1 + log tf)."""

    __slots__ = ("indices", "values")

    def __init__(self, indices: np.ndarray, values: np.ndarray):
        self.indices = indices.astype(np.int32, copy=False)
        self.values = values.astype(np.float32, copy=False)


class TextSketcher:
    """Builds MinHash signatures and n-gram vectors. Stateless, built once."""

    def __init__(self, num_perm: int, shingle_words: int):
        self.num_perm = num_perm
        self.shingle_words = shingle_words
        self._permutations = MinHash(num_perm=num_perm, seed=1, scheme=MINHASH_SCHEME).permutations

    def signature(self, hashvalues: np.ndarray) -> MinHash:
        """A MinHash object around stored hash values (for the LSH index)."""
        # Passing the permutations of a template skips regenerating them: that
        # costs more than hashing a whole article.
        return MinHash(hashvalues=hashvalues, permutations=self._permutations, scheme=MINHASH_SCHEME)

    def minhash(self, folded_words: list[str]) -> np.ndarray:
        """MinHash signature (num_perm uint32 values) of the text's word shingles.

        A text without words gets an empty signature, which is nobody's copy.
        """
        if not folded_words:
            return np.zeros(0, dtype=np.uint32)
        k = self.shingle_words
        if len(folded_words) < k:
            shingles = {" ".join(folded_words)}
        else:
            shingles = {" ".join(folded_words[i : i + k]) for i in range(len(folded_words) - k + 1)}
        signature = MinHash(num_perm=self.num_perm, permutations=self._permutations, scheme=MINHASH_SCHEME)
        signature.update_batch([s.encode("utf-8") for s in shingles])
        return signature.hashvalues

    def vector(self, folded: str) -> SparseVector:
        counts = Counter(zlib.crc32(gram.encode("utf-8")) & (N_FEATURES - 1) for gram in char_ngrams(folded))
        indices = np.fromiter(sorted(counts), dtype=np.int32, count=len(counts))
        tf = np.fromiter((counts[i] for i in indices), dtype=np.float32, count=len(counts))
        return SparseVector(indices, 1.0 + np.log(tf))


def char_ngrams(folded: str, sizes: tuple[int, ...] = (3, 4, 5)) -> list[str]:
    """Character n-grams inside space-padded words, as scikit-learn's analyzer="char_wb" makes them."""
    grams: list[str] = []
    for word in folded.split():
        padded = f" {word} "
        for n in sizes:
            if len(padded) <= n:
                grams.append(padded)  # a short word counts once, whole
                break
            grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


def minhash_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard overlap of the shingle sets behind two signatures."""
    if not len(a) or len(a) != len(b):
        return 0.0
    return float(np.count_nonzero(a == b)) / len(a)


class DocumentFrequencies:
    """In how many remembered articles each hashed n-gram occurs; gives IDF weights.

    Counted over the articles of the open stories only, so it follows the news
    of the last days and is rebuilt from the same articles after a restart.
    """

    def __init__(self) -> None:
        self.counts = np.zeros(N_FEATURES, dtype=np.int32)
        self.documents = 0

    def add(self, vector: SparseVector) -> None:
        self.counts[vector.indices] += 1
        self.documents += 1

    def remove(self, vector: SparseVector) -> None:
        self.counts[vector.indices] -= 1
        self.documents -= 1

    def idf(self, indices: np.ndarray) -> np.ndarray:
        # scikit-learn's smooth IDF: log((1 + n) / (1 + df)) + 1
        return np.log((1.0 + self.documents) / (1.0 + self.counts[indices])) + 1.0


def cosine(a: SparseVector, b: SparseVector, frequencies: DocumentFrequencies) -> float:
    """TF-IDF cosine of two vectors under the current document frequencies."""
    if not len(a.indices) or not len(b.indices):
        return 0.0
    common, in_a, in_b = np.intersect1d(a.indices, b.indices, assume_unique=True, return_indices=True)
    if not len(common):
        return 0.0
    idf_common = frequencies.idf(common)
    dot = float(np.sum(a.values[in_a] * b.values[in_b] * idf_common * idf_common))
    norm_a = float(np.linalg.norm(a.values * frequencies.idf(a.indices)))
    norm_b = float(np.linalg.norm(b.values * frequencies.idf(b.indices)))
    return dot / (norm_a * norm_b) if norm_a and norm_b else 0.0


def weighted_cosine(a: dict[str, float], b: dict[str, float]) -> float:
    """Cosine of two small weighted feature sets (language-independent evidence)."""
    dot = sum(weight * b[key] for key, weight in a.items() if key in b)
    if not dot:
        return 0.0
    return dot / (math.sqrt(sum(w * w for w in a.values())) * math.sqrt(sum(w * w for w in b.values())))
