"""Greek and Cyrillic text in Latin letters, so Latin aliases find the names it holds.

News in Russian, Ukrainian or Greek writes "Сулеймани", "Мухандиса",
"Σουλεϊμανί"; the watchlist's Latin aliases and their variant rules already
cover the Latin spellings of those names (Suleimani, Muhandis, Souleimani).
The matcher scans a transliterated copy of such a text as well as the text
itself, and maps what it finds back to the original characters.

The letters come from anyascii (a maintained table of every Unicode letter's
ASCII spelling), with the choices that make Arabic names come out as the
Latin press writes them:

* Cyrillic х is "h" (ISO 9 and the Arabic ḥ of Хезболла, Мухандис, Хашд),
  not anyascii's "kh"; soft and hard signs vanish.
* Ukrainian text (і, є, ї, ґ present) reads г as "h" and и as "y"
  (Мугандіс = Muhandis).
* Greek: μπ, ντ, γκ are b, d, g at the start of a word or after a consonant
  (Χεζμπολάχ = Hezbolah) and mb, nd, ng after a vowel; ου is "ou", χ is "h".

Hebrew is not put in Latin letters: written without vowels, its letters give
a consonant skeleton ("svlymny") that no Latin alias can meet; the watchlist's
Hebrew aliases find Hebrew names. But Hebrew spells one name with or without
the vowel letters ו and י (ktiv male / ktiv haser: סולימאני = סולימני,
חיזבאללה = חזבאללה, ארביל = אירביל) and with one or two of a letter (כתאיב =
כתאאיב, חיזבאללה = חיזבאלה). So a Hebrew word is rewritten as its skeleton:
first and last letter kept (a prefix letter, a final -י of a name), ו and י
between them dropped, a doubled letter made single. Aliases and context words
get the same skeleton, so each spelling finds the others.

Works on folded text (lower case, accents and marks already removed), one word
at a time; words repeat, so each is transliterated once per process (cached).
"""

from __future__ import annotations

import bisect
import functools
import re

from anyascii import anyascii

# Greek (with extended) and Cyrillic letters, as folding leaves them (lower case, no accents).
_SCRIPT_WORD = re.compile("[\u0370-\u03ff\u1f00-\u1fff\u0400-\u04ff\u0500-\u052f\u05d0-\u05ea]+")
_HEBREW_VOWEL_LETTERS = re.compile("(?<=.)[וי]+(?=.)")
_DOUBLED = re.compile(r"(.)\1+")
_UKRAINIAN = re.compile("[іїєґ]")

_CYRILLIC_CHOICES = {"х": "h", "ь": "", "ъ": "", "щ": "shch", "ц": "ts", "й": "y", "ы": "y", "э": "e"}
_UKRAINIAN_CHOICES = {**_CYRILLIC_CHOICES, "г": "h", "ґ": "g", "и": "y", "і": "i", "ї": "yi", "є": "ye"}
_GREEK_VOWELS = "αεηιουωάέήίόύώϊϋΐΰ"
_GREEK_CLUSTERS = re.compile("(?P<before>^|.)(?P<pair>μπ|ντ|γκ)")
_GREEK_CLUSTER_SOUNDS = {"μπ": ("b", "mb"), "ντ": ("d", "nd"), "γκ": ("g", "ng")}
_GREEK_CHOICES = {"χ": "h", "ου": "ou", "υ": "y", "η": "i", "β": "v", "φ": "f", "θ": "th", "ψ": "ps", "ξ": "x"}


@functools.lru_cache(maxsize=65536)
def _latin_word(word: str, ukrainian: bool) -> str:
    if "\u05d0" <= word[0] <= "\u05ea":
        return hebrew_skeleton(word)
    if "\u0370" <= word[0] <= "\u03ff" or "\u1f00" <= word[0] <= "\u1fff":
        return _greek(word)
    choices = _UKRAINIAN_CHOICES if ukrainian else _CYRILLIC_CHOICES
    return "".join(choices[c] if c in choices else anyascii(c).lower() for c in word)


def hebrew_skeleton(word: str, whole: bool = True) -> str:
    """A Hebrew word without its inner vowel letters and doubled letters (see the module docstring).

    `whole=False` for the start of a word (a context word with "*"): its last letter is inner too.
    """
    if not whole:
        word += "\u05d0"  # a stand-in last letter, so ו/י at the end of the start are inner
        return _DOUBLED.sub(r"\1", _HEBREW_VOWEL_LETTERS.sub("", word))[:-1]
    return _DOUBLED.sub(r"\1", _HEBREW_VOWEL_LETTERS.sub("", word))


def _greek(word: str) -> str:
    def cluster(match: re.Match[str]) -> str:
        before = match.group("before")
        after_vowel = before != "" and before in _GREEK_VOWELS
        return before + _GREEK_CLUSTER_SOUNDS[match.group("pair")][after_vowel]

    word = _GREEK_CLUSTERS.sub(cluster, word)
    out, i = [], 0
    while i < len(word):
        if word[i : i + 2] in _GREEK_CHOICES:
            out.append(_GREEK_CHOICES[word[i : i + 2]])
            i += 2
        else:
            out.append(_GREEK_CHOICES.get(word[i]) or anyascii(word[i]).lower())
            i += 1
    return "".join(out)


class Transliteration:
    """A folded text with its Greek and Cyrillic words in Latin letters, and the way back."""

    __slots__ = ("text", "_starts", "_ends", "_latin_starts", "_latin_ends")

    def __init__(self, text: str, words: list[tuple[int, int, int, int]]):
        self.text = text
        # (start, end) of each transliterated word in the source, and in `text`
        self._starts = [w[0] for w in words]
        self._ends = [w[1] for w in words]
        self._latin_starts = [w[2] for w in words]
        self._latin_ends = [w[3] for w in words]

    def covers(self, start: int, end: int) -> bool:
        """Whether `text[start:end]` holds a transliterated word (else it was Latin already)."""
        k = bisect.bisect_right(self._latin_starts, end - 1) - 1
        return k >= 0 and self._latin_ends[k] > start

    def source(self, pos: int) -> int:
        """Position in the source text of the character at `pos` in `text`."""
        k = bisect.bisect_right(self._latin_starts, pos) - 1
        if k < 0:
            return pos
        if pos >= self._latin_ends[k]:  # after that word: shifted by the difference in lengths so far
            return pos + self._ends[k] - self._latin_ends[k]
        # inside a transliterated word (a mention starts at a word start): the same letter count in
        return min(self._ends[k] - 1, self._starts[k] + pos - self._latin_starts[k])

    def source_end(self, end: int) -> int:
        """Source position of the end (exclusive) of a span ending at `end` in `text`."""
        k = bisect.bisect_left(self._latin_starts, end) - 1
        if k < 0:
            return end
        if end >= self._latin_ends[k]:
            return end + self._ends[k] - self._latin_ends[k]
        return min(self._ends[k], self._starts[k] + end - self._latin_starts[k])


def transliterate(scan: str) -> Transliteration | None:
    """The Latin copy of a folded text (Hebrew words as their skeleton), or None if it changes nothing."""
    found = _SCRIPT_WORD.search(scan)
    if found is None:
        return None
    ukrainian = _UKRAINIAN.search(scan) is not None
    pieces, words = [], []
    last = out = 0
    for match in _SCRIPT_WORD.finditer(scan, found.start()):
        start, end = match.span()
        latin = _latin_word(match.group(), ukrainian)
        if latin == match.group():  # a Hebrew word that is its own skeleton: the first scan saw it
            continue
        pieces.append(scan[last:start])
        out += start - last
        words.append((start, end, out, out + len(latin)))
        pieces.append(latin)
        out += len(latin)
        last = end
    if not words:
        return None
    pieces.append(scan[last:])
    return Transliteration("".join(pieces), words)


def latin_spelling(text: str, prefix: bool = False) -> str:
    """`text` (folded) with its Greek and Cyrillic words transliterated, Hebrew words as
    their skeleton; for aliases and context words (`prefix`: a context word ending in "*")."""
    if prefix and text[-1:] and "\u05d0" <= text[-1] <= "\u05ea":
        cut = text.rfind(" ") + 1
        return latin_spelling(text[:cut]) + hebrew_skeleton(text[cut:], whole=False)
    found = transliterate(text)
    return found.text if found is not None else text
