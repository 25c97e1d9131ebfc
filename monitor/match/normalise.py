"""Text normalisation for matching, with a way back to the original offsets.

News writes one name many ways; before matching, text and aliases both go through
the same folding so that only real spelling differences are left for the
variant rules:

* Unicode NFKC compatibility forms (full-width letters, ligatures, Arabic
  presentation forms) become plain letters; Arabic-Indic digits become 0-9.
* Diacritics and Arabic harakat are dropped ("Aïn" = "Ain", "قَاسِم" = "قاسم").
* Arabic letter variants are unified: alef forms -> ا, alef maqsura -> ي,
  ta marbuta -> ه, hamza seats ئ/ؤ -> ي/و, Persian ی/ک -> ي/ك; tatweel dropped.
* Apostrophes and ayn/hamza marks (' ’ ‘ ʿ ʾ ` ´) are dropped inside words
  ("Kata'ib" = "Kataib"), but a possessive "'s" and French/Italian elisions
  ("l'EI", "d'Aïn", "dell'Isis") become word breaks, so the name stays whole.
* Every other non-letter, non-digit (hyphen, dot, comma, brackets, symbols,
  whitespace) becomes a space: "Q-West" = "Q West", "CJTF–OIR" = "CJTF OIR".
* Invisible format characters (soft hyphen, ZWNJ, bidi marks) vanish.

Case is folded in a second, length-preserving step (`str.lower`), so the
matcher can check case-sensitive acronyms on the cased form at the very same
positions. Newlines are kept as "\\n" so a long text can be mapped back to the
original one line at a time (see `line_offsets`).

The fast path (`fold_cased`, `fold_cased_with_offsets`, `fold_for_scan`) has two
implementations that give identical results (property-tested):

* C (`monitor/match/_fold.c`, built by `pip install -e .` where a compiler is
  available): one pass over the text, FOLD_TABLE cached per code point, the
  apostrophe rule and the lower-casing done while copying out;
* pure Python, used when the extension is not built: a handful of C passes of
  the standard library (ASCII, Latin-1 and typographic punctuation: the
  charmap codec and one bytes.translate; other text: bytes.translate over UTF-8
  and one str.replace per distinct non-ASCII character; then two regexes for
  apostrophes).

Their offsets (`Offsets`) are a short list of segments, turned into a map only
for texts with a match. `normalise` is the per-character reference definition
of all of it, kept for tests.
"""

from __future__ import annotations

import bisect
import codecs
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

try:
    from monitor.match import _fold as _c_fold
except ImportError:  # not built (no compiler): the pure-Python fold below is used
    _c_fold = None

APOSTROPHES = "'’‘‛ʼʻʽʿʾ`´′ʹ"  # noqa: RUF001 - these look-alikes are the point

# Arabic/Persian letters that news writes interchangeably.
_ARABIC = {
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ٲ": "ا", "ٳ": "ا",
    "ى": "ي", "ی": "ي", "ې": "ي", "ئ": "ي",
    "ة": "ه", "ۀ": "ه", "ە": "ه", "ھ": "ه",
    "ؤ": "و",
    "ک": "ك", "گ": "ك",
    "ء": "",  # bare hamza is written or not at will
}


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


def _fold_char(ch: str) -> str:
    """The normalised, case-preserving form of one character (0..n characters)."""
    if ch == "\n":
        return "\n"
    if ch in APOSTROPHES:
        return "'"
    category = unicodedata.category(ch)
    if category == "Cs":  # lone surrogate: never valid text
        return " "
    if category == "Cf" or ch == "\u0640":  # soft hyphen, ZWNJ, bidi marks, tatweel
        return ""
    if category.startswith("M"):
        return ""
    digit = unicodedata.decimal(ch, None)
    if digit is not None:
        return str(digit)
    # Decompose compatibility forms, drop the accents, then recompose what is left
    # (Hangul syllables, for one, must come back together).
    decomposed = "".join(c for c in unicodedata.normalize("NFKD", ch) if not _is_mark(c))
    out = []
    for c in unicodedata.normalize("NFKC", decomposed):
        c = _ARABIC.get(c, c)
        if not c:
            continue
        if c in APOSTROPHES:
            out.append("'")
        elif unicodedata.category(c)[0] in "LN":
            # lower() must stay one character per character so that case folding
            # keeps positions; where it would not (ß, ς, İ), fold here already.
            if len(c.lower()) != 1 or c.lower() != c.casefold():
                out.extend(x for x in c.casefold() if not _is_mark(x))
            else:
                out.append(c)
        elif _is_mark(c):
            continue
        else:
            out.append(" ")
    return "".join(out)


class _FoldTable(dict):
    """str.translate table computed on first use of each character.

    Filling a dict entry is atomic in CPython, and every thread computes the
    same value, so concurrent matchers may share it safely.
    """

    def __missing__(self, code: int) -> str:
        value = _fold_char(chr(code))
        self[code] = value
        return value


FOLD_TABLE = _FoldTable()
for _code in range(0x250):  # Latin: warm the table so the common case never misses
    FOLD_TABLE[_code]

# Context-dependent apostrophe handling (the translate step made them all "'"):
# an elision ("l'EI", "dell'Isis") or a possessive ("Kirkuk's") becomes a word
# break, any other apostrophe is dropped ("Kata'ib" = "Kataib").
#
# `_apostrophe` below states the rule; the fast path applies the same rule with
# two regex substitutions by constant strings (no Python call per apostrophe,
# which used to cost as much as the whole translate step). Both patterns start
# with the literal "'" so the regex engine jumps from apostrophe to apostrophe,
# and check the word before it with fixed-width lookbehinds. They rely on the
# translated text having no "_" (it folds to a space), so that `\w` and `\b`
# mean exactly `str.isalnum`, and on only ASCII letters lower-casing to the
# letters of the elided words (checked in tests/test_normalise.py).
_APOSTROPHE = re.compile(r"'(?:s\b)?", re.IGNORECASE)
_ELIDED = frozenset("l d j n m t s c qu dell nell all dall sull coll un".split())


def _apostrophe(match: re.Match[str]) -> str:
    """Same length out as in: elision/possessive apostrophes become spaces."""
    text, i, found = match.string, match.start(), match.group()
    end = match.end()
    word_start = i
    while word_start > 0 and text[word_start - 1].isalnum():
        word_start -= 1
    follows_letter = end < len(text) and text[end].isalnum() if len(found) == 1 else True
    if word_start < i and text[word_start:i].lower() in _ELIDED and follows_letter:
        return " " + found[1:]  # "l'EI" -> "l EI", "d'Aïn" -> "d Aïn"
    if len(found) == 2 and i > 0 and text[i - 1].isalnum():
        return "  "  # possessive: "Kirkuk's" -> "Kirkuk  "
    return found


def _any_case(word: str) -> str:
    return "".join(f"[{c}{c.upper()}]" for c in word)


def _elision_pattern() -> re.Pattern[str]:
    # One lookbehind per word length (lookbehinds must be fixed-width).
    by_length: dict[int, list[str]] = {}
    for word in sorted(_ELIDED):
        by_length.setdefault(len(word), []).append(_any_case(word))
    behind = "|".join(rf"(?<=\b(?:{'|'.join(words)})')" for _, words in sorted(by_length.items()))
    return re.compile(rf"'(?=\w)(?:{behind})")


_ELISION = _elision_pattern()  # "'" after an elided word, before a letter -> " "
_POSSESSIVE = re.compile(r"'(?<=\w')[sS]\b")  # "'s" after a letter (not an elision) -> "  "


def _mark_apostrophes(text: str) -> str:
    """Reference implementation of the apostrophe rule (one Python call per apostrophe)."""
    return _APOSTROPHE.sub(_apostrophe, text)


# ASCII is most of any news text (97% of the characters in our news sample; even
# Arabic articles have ASCII spaces, digits and punctuation), so the fold works on
# the UTF-8 bytes, where a 256-byte table is one C pass, and then on the few
# distinct non-ASCII characters of the text (about ten per article) rather than
# on each of their occurrences:
#
# 1. one bytes.translate folds the ASCII bytes and leaves the others alone;
# 2. the non-ASCII characters alone (ASCII bytes deleted) give the set to fold;
# 3. each of those whose fold differs from itself is replaced throughout by its
#    fold (str.replace of one character is a C search, fast even when absent).
#
# That equals `text.translate(FOLD_TABLE)` because folds are stable: what a
# replacement writes is never changed by a later replacement. `_REPLACEMENTS`
# sends the handful of characters whose fold is not stable (Arabic presentation
# forms that fold to a tatweel, which itself folds to nothing) to the plain
# translate. Earlier versions sent every non-ASCII run through a regex callback,
# or every character through str.translate; either alone cost 2x a bare scan.
_ASCII_BYTES = bytes(ord(FOLD_TABLE[c]) for c in range(128)) + bytes(range(128, 256))
assert all(len(FOLD_TABLE[c]) == 1 and ord(FOLD_TABLE[c]) < 128 for c in range(128))
_ASCII_ONLY = bytes(range(0x80))
# The matcher scans one line of text with no newlines: fold "\n" to a space in
# the same pass rather than in another copy of the text.
_ASCII_BYTES_ONE_LINE = _ASCII_BYTES.replace(b"\n", b" ")
_UNSTABLE = None  # `_REPLACEMENTS` value: fold with the slow path


class _Replacements(dict):
    """char -> (char, its fold), or () if it folds to itself; computed lazily."""

    def __missing__(self, char: str) -> tuple[str, str] | tuple[()] | None:
        folded = FOLD_TABLE[ord(char)]
        value: tuple[str, str] | tuple[()] | None
        if any(FOLD_TABLE[ord(c)] != c for c in folded):
            value = _UNSTABLE
        elif folded == char:
            value = ()
        else:
            value = (char, folded)
        self[char] = value
        return value


_REPLACEMENTS = _Replacements()


def _identity_runs() -> re.Pattern[str]:
    # Arabic, Hebrew, Greek, Cyrillic, Thai, kana and CJK text is mostly letters
    # that fold to themselves. Collecting the distinct characters of such a text
    # costs a Python object per character (5x a bare scan for Arabic news), so
    # runs of these letters are first cut out by one regex (a C loop); what is
    # left are the few characters that may need replacing. Only characters whose
    # fold is themselves are listed (checked in tests/test_normalise.py).
    blocks = [(0x0370, 0x0400), (0x0400, 0x0500), (0x0590, 0x0600), (0x0600, 0x0700), (0x0E00, 0x0E80), (0x3040, 0x3100)]
    chars = [chr(c) for lo, hi in blocks for c in range(lo, hi) if FOLD_TABLE[c] == chr(c)]
    # CJK unified ideographs (20,992 of them, too many to fold at import): NFKC
    # leaves them alone, they have no case and no marks.
    return re.compile("[" + re.escape("".join(chars)) + "\u4e00-\u9fff]+")


_IDENTITY_RUNS = _identity_runs()


# European text (most news) uses few non-ASCII characters beyond Latin-1 letters,
# typographic quotes and dashes. For a text with no others, one C pass of the
# "charmap" codec (a lookup table, no Python call per character) gives each
# character a byte of its own: ASCII as itself, 128 such common characters
# ("slots") as 128..255. A second 256-byte translate folds those bytes, and the
# result is decoded as Latin-1, a 1-byte string: no UTF-8 round trip, no set of
# distinct characters, no str.replace per character (a fifth less time to fold
# such a text). A slot whose fold is not one character (ß -> ss, "…" -> three
# spaces, ZWNJ -> nothing) keeps its byte through the translate, decodes to
# chr(byte), and only that is replaced by its fold afterwards. Every slot folds
# to ASCII, so those placeholders never clash with folded text. Any other
# character (Arabic, Cyrillic, ł, a lone surrogate) makes the codec raise at
# once, and the text takes the UTF-8 path below.
def _charmap_slots() -> list[str]:
    wanted = (
        [chr(c) for c in range(0xA0, 0x100)]  # Latin-1: letters with accents, nbsp, «», ...
        + list("\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f")  # quotes
        + list("\u2010\u2011\u2012\u2013\u2014\u2015\u2026\u2022")  # dashes, ellipsis, bullet
        + list("\u200b\u200c\u200d\u200e\u200f\u2032\u2033\u2039\u203a")  # zero-width, bidi, primes, ‹›
        + [chr(c) for c in range(0x100, 0x180)]  # Latin Extended-A, as many as fit
    )
    slots = [c for c in wanted if FOLD_TABLE[ord(c)].isascii()]
    return slots[:128]


_SLOTS = _charmap_slots()
assert len(_SLOTS) == 128 and len(set(_SLOTS)) == 128
_CHARMAP = codecs.charmap_build("".join(chr(i) for i in range(128)) + "".join(_SLOTS))
# slot byte -> its fold where that is one character; else the byte itself (a placeholder)
_SLOT_BYTES = bytes(
    ord(FOLD_TABLE[ord(c)]) if len(FOLD_TABLE[ord(c)]) == 1 else 128 + k for k, c in enumerate(_SLOTS)
)
_CHARMAP_BYTES = {
    table: table[:128] + _SLOT_BYTES for table in (_ASCII_BYTES, _ASCII_BYTES_ONE_LINE)
}
# placeholder (as decoded from Latin-1) -> (the text's character, its fold)
_PLACEHOLDERS = {
    chr(128 + k): (c, FOLD_TABLE[ord(c)]) for k, c in enumerate(_SLOTS) if len(FOLD_TABLE[ord(c)]) != 1
}


def _charmap_translate(text: str, ascii_table: bytes) -> tuple[str, list[str]] | None:
    """`_translate_noting_lengths` for a text of ASCII and slot characters only (else None)."""
    try:
        raw = codecs.charmap_encode(text, "strict", _CHARMAP)[0]
    except UnicodeError:
        return None
    folded = raw.translate(_CHARMAP_BYTES[ascii_table])
    if folded.isascii():
        return folded.decode("ascii"), []
    result = folded.decode("latin-1")
    resized = []
    for placeholder in set(folded.translate(None, _ASCII_ONLY).decode("latin-1")):
        char, fold = _PLACEHOLDERS[placeholder]
        result = result.replace(placeholder, fold)
        resized.append(char)
    return result, resized


def _non_ascii(text: str) -> set[str]:
    """The distinct non-ASCII characters of `text` that may fold to something else."""
    try:
        others = text.encode("utf-8").translate(None, _ASCII_ONLY).decode("utf-8")
    except UnicodeEncodeError:  # lone surrogates cannot be encoded
        return {c for c in text if not c.isascii()}
    if len(others) > 64:  # not worth a regex call for a few accents and quotes
        others = _IDENTITY_RUNS.sub("", others)
    return set(others)


def _translate(text: str, ascii_table: bytes = _ASCII_BYTES) -> str:
    """`text.translate(FOLD_TABLE)`, fast (with "\n" -> " " for `_ASCII_BYTES_ONE_LINE`)."""
    return _translate_noting_lengths(text, ascii_table)[0]


def _translate_noting_lengths(text: str, ascii_table: bytes) -> tuple[str, list[str] | None]:
    """`_translate`, plus the characters of `text` that fold to other than one character

    (None: not known, the slow path was taken), which is what `Offsets` needs.
    """
    if text.isascii():
        return text.encode("ascii").translate(ascii_table).decode("ascii"), []
    found = _charmap_translate(text, ascii_table)
    if found is not None:
        return found
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates cannot be encoded: take the slow path
        return _slow_translate(text, ascii_table), None
    folded = raw.translate(ascii_table).decode("utf-8")
    others = raw.translate(None, _ASCII_ONLY).decode("utf-8")
    if len(others) > 64:  # see _identity_runs
        others = _IDENTITY_RUNS.sub("", others)
    resized = []
    for char in set(others):
        replacement = _REPLACEMENTS[char]
        if replacement:
            folded = folded.replace(*replacement)
            if len(replacement[1]) != 1:
                resized.append(char)
        elif replacement is _UNSTABLE:
            return _slow_translate(text, ascii_table), None
    return folded, resized


def _slow_translate(text: str, ascii_table: bytes) -> str:
    folded = text.translate(FOLD_TABLE)
    return folded if ascii_table is _ASCII_BYTES else folded.replace("\n", " ")


def _apply_apostrophes(translated: str) -> str:
    """The apostrophe rule on translated text, same length; the "'" left are to be dropped."""
    # The elision pass only turns "'" into " ", which changes nothing the
    # possessive pass looks at (both are non-word characters).
    if "'" not in translated:
        return translated
    return _POSSESSIVE.sub("  ", _ELISION.sub(" ", translated))


def _py_fold_cased(text: str) -> str:
    """Normalised text with case kept (fast path, no offsets)."""
    return _apply_apostrophes(_translate(text)).replace("'", "")


def _py_fold_cased_with_offsets(text: str, one_line: bool = False) -> tuple[str, Offsets]:
    """`fold_cased(text)` and a lazy map from its positions back to `text`.

    `one_line`: newlines become spaces too (same length, same offsets).
    """
    translated, resized = _translate_noting_lengths(text, _ASCII_BYTES_ONE_LINE if one_line else _ASCII_BYTES)
    marked = _apply_apostrophes(translated)
    return marked.replace("'", ""), _MarkedOffsets(text, marked, resized)


def _py_fold_for_scan(text: str) -> tuple[str, str, Offsets]:
    """What the matcher scans: the one-line cased fold, its padded lower case, and offsets.

    `(cased, f" {cased} ".lower(), offsets)` with `cased, offsets =
    fold_cased_with_offsets(text, one_line=True)`.
    """
    cased, offsets = _py_fold_cased_with_offsets(text, one_line=True)
    return cased, f" {cased} ".lower(), offsets


class Offsets:
    """Where each character of `fold_cased(text)` came from in `text`, without a per-character table.

    Folding changes lengths in two places only: characters whose fold is not one
    character (ß -> ss, ﬁ -> fi, harakat and soft hyphens -> nothing), and the
    apostrophes dropped at the end. Between those events a normalised position
    and its original differ by a constant, so the map is a short list of
    segments searched with bisect, built on first use (most texts have no match
    and never need it). Same answers as `normalise(text).starts`, which stays as
    the reference implementation (property-tested).

    The map is three sequences of ints:

    * `_dropped`: for the j-th dropped apostrophe, at translated position d
      (translated = before dropping), d - j: the number of kept characters
      before it, so a normalised position becomes a translated one by adding
      the number of entries <= it;
    * `_keys`: translated positions where a segment starts (sorted; of equal
      keys the last wins);
    * `_origins`: for each segment, o >= 0: the character at translated
      position p came from o + (p - key); o < 0: all its characters came from ~o
      (an expansion such as ß -> ss).

    Each fold hands over what it knows and a subclass builds the map from it
    (`_MarkedOffsets`: the Python fold; `_ArrayOffsets`: the C fold).
    """

    __slots__ = ("text", "_dropped", "_keys", "_origins")

    text: str
    _dropped: Sequence[int] | None  # None: not built yet
    _keys: Sequence[int]
    _origins: Sequence[int]

    def _build(self) -> None:
        raise NotImplementedError

    def start(self, pos: int) -> int:
        """Original index of the character that produced normalised character `pos`."""
        if self._dropped is None:
            self._build()
        pos += bisect.bisect_right(self._dropped, pos)  # -> translated position
        k = bisect.bisect_right(self._keys, pos) - 1  # the last of equal keys wins
        if k < 0:
            return pos
        origin = self._origins[k]
        return ~origin if origin < 0 else origin + pos - self._keys[k]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original (start, end) for the normalised slice [start, end); end > start."""
        return self.start(start), self.start(end - 1) + 1


class _MarkedOffsets(Offsets):
    """The map of the Python fold, found again in its apostrophe-marked translated text."""

    __slots__ = ("_marked", "_resized")

    def __init__(self, text: str, marked: str, resized: list[str] | None):
        self.text = text
        self._marked = marked  # translated text after the apostrophe rule, before dropping "'"
        self._resized = resized  # characters of `text` whose fold is not one character, if known
        self._dropped = None

    def _build(self) -> None:
        # Dropped apostrophes: the j-th one, at translated position d, leaves
        # d - j kept characters before it.
        dropped, pos = [], self._marked.find("'")
        while pos >= 0:
            dropped.append(pos - len(dropped))
            pos = self._marked.find("'", pos + 1)
        # Characters that fold to zero or several characters, in original order.
        events = []
        resized = self._resized
        if resized is None:
            resized = [c for c in _non_ascii(self.text) if len(FOLD_TABLE[ord(c)]) != 1]
        for char in resized:
            pos = self.text.find(char)
            while pos >= 0:
                events.append(pos)
                pos = self.text.find(char, pos + 1)
        events.sort()
        keys, origins = [], []
        delta = 0  # translated position - original position, so far
        for i in events:
            size = len(FOLD_TABLE[ord(self.text[i])])
            at = i + delta
            if size:  # `size` characters all from i, then one-to-one again from i + 1
                keys.append(at)
                origins.append(~i)
            keys.append(at + size)
            origins.append(i + 1)
            delta += size - 1
        self._dropped, self._keys, self._origins = dropped, keys, origins


class _ArrayOffsets(Offsets):
    """The map of the C fold: computed while folding, as three native int64 arrays (bytes)."""

    __slots__ = ("_arrays",)

    def __init__(self, text: str, arrays: tuple[bytes, bytes, bytes]):
        self.text = text
        self._arrays = arrays
        self._dropped = None

    def _build(self) -> None:
        self._dropped, self._keys, self._origins = (memoryview(a).cast("q") for a in self._arrays)


# -- the C fold (monitor/match/_fold.c), and which fold is used ------------------------
#
# It returns the same strings, and the Offsets segment map already computed (it
# knows where each character went; nothing has to be searched for afterwards).
def _c_fold_cased(text: str) -> str:
    """Normalised text with case kept (fast path, no offsets)."""
    return _c_fold.fold(text, False, False)[0]


def _c_fold_cased_with_offsets(text: str, one_line: bool = False) -> tuple[str, Offsets]:
    """`fold_cased(text)` and a lazy map from its positions back to `text`.

    `one_line`: newlines become spaces too (same length, same offsets).
    """
    cased, _, arrays = _c_fold.fold(text, one_line, False)
    return cased, _ArrayOffsets(text, arrays)


def _c_fold_for_scan(text: str) -> tuple[str, str, Offsets]:
    """What the matcher scans: the one-line cased fold, its padded lower case, and offsets.

    `(cased, f" {cased} ".lower(), offsets)` with `cased, offsets =
    fold_cased_with_offsets(text, one_line=True)`.
    """
    cased, scan, arrays = _c_fold.fold(text, True, True)
    return cased, scan, _ArrayOffsets(text, arrays)


class Folder(NamedTuple):
    """One implementation of the fast path (the tests run every one against the reference)."""

    name: str
    fold_cased: Callable[[str], str]
    fold_cased_with_offsets: Callable[..., tuple[str, Offsets]]
    fold_for_scan: Callable[[str], tuple[str, str, Offsets]]


PYTHON_FOLDER = Folder("python", _py_fold_cased, _py_fold_cased_with_offsets, _py_fold_for_scan)
C_FOLDER: Folder | None = None
if _c_fold is not None:
    _c_fold.configure(FOLD_TABLE, sorted(_ELIDED))
    C_FOLDER = Folder("c", _c_fold_cased, _c_fold_cased_with_offsets, _c_fold_for_scan)

# The C fold when it is built, else the Python one. Bound once here rather than
# chosen per call: `fold_cased` runs for every alias variant of a big watchlist.
FOLDER = C_FOLDER or PYTHON_FOLDER
fold_cased = FOLDER.fold_cased
fold_cased_with_offsets = FOLDER.fold_cased_with_offsets
fold_for_scan = FOLDER.fold_for_scan


def fold(text: str) -> str:
    """Normalised, case-folded text (fast path, no offsets)."""
    return fold_cased(text).lower()


def fold_phrase(text: str) -> str:
    """An alias or context word in normalised form: single spaces, no edges."""
    return " ".join(fold(text).split())


@dataclass(frozen=True)
class Normalised:
    """Normalised text plus, for each of its characters, the original span it came from.

    `text[i]` was produced by `original[starts[i]:ends[i]]`, so a match at
    `text[a:b]` is `original[starts[a]:ends[b - 1]]`.
    """

    text: str
    cased: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original (start, end) for the normalised slice [start, end); end > start."""
        return self.starts[start], self.ends[end - 1]


def normalise(text: str) -> Normalised:
    """Same result as `fold`/`fold_cased`, keeping original offsets (slow path)."""
    chars: list[str] = []
    starts: list[int] = []
    for i, ch in enumerate(text):
        for c in FOLD_TABLE[ord(ch)]:
            chars.append(c)
            starts.append(i)
    s = "".join(chars)
    if "'" in s:
        # Elision and possessive keep the length, only the characters change.
        s = _mark_apostrophes(s)
        keep = [i for i, c in enumerate(s) if c != "'"]
        s = "".join(s[i] for i in keep)
        starts = [starts[i] for i in keep]
    ends = [i + 1 for i in starts]
    return Normalised(s.lower(), s, tuple(starts), tuple(ends))
