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

The fast path (`fold_cased`) runs entirely in C (str.translate + two regexes);
the offset-keeping path (`normalise`) replays the same steps in Python and is
only used on the few lines that contain a match.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

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

# Context-dependent apostrophe handling (the translate step made them all "'").
# The pattern starts with a literal so the regex engine jumps from apostrophe to
# apostrophe; the decision is made in Python for those few places only.
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


def _mark_apostrophes(text: str) -> str:
    return _APOSTROPHE.sub(_apostrophe, text)


# ASCII is most of any news text (97% of the characters in our news sample, and
# even Arabic articles have ASCII spaces, digits and punctuation), so the fold is
# done on the UTF-8 bytes, where a 256-byte table is a single C pass:
#
# * `_ASCII_BYTES` folds ASCII bytes (one character in, one out) and keeps the rest.
# * `_MARK_BYTES` (with the continuation bytes 0x80-0xBF deleted) folds ASCII the
#   same way and turns every non-ASCII character into one "\x00" placeholder.
#   The placeholders become "%s" and are filled, in order, by %-formatting with
#   the folded non-ASCII characters: still C loops, no Python call per character.
# * The non-ASCII characters alone (ASCII bytes deleted) go through
#   `str.translate` with `_SEPARATED`, whose entries are the FOLD_TABLE value plus
#   a "\x00" terminator, so one split gives one (possibly empty) fold per character.
#
# This is sound because no ASCII character folds to "\x00" or "%" (both become
# spaces), and UTF-8 lead bytes (0xC0-0xFF) start exactly one character each.
# An earlier version sent each run of non-ASCII characters through a regex
# callback; with ~100 runs per article that alone cost 2x a bare scan.
_ASCII_BYTES = bytes(ord(FOLD_TABLE[c]) for c in range(128)) + bytes(range(128, 256))
assert all(len(FOLD_TABLE[c]) == 1 and ord(FOLD_TABLE[c]) < 128 for c in range(128))
assert FOLD_TABLE[0] == FOLD_TABLE[ord("%")] == " "
_MARK_BYTES = _ASCII_BYTES[:0xC0] + bytes(0x40)  # lead bytes -> b"\x00"
_CONTINUATION_BYTES = bytes(range(0x80, 0xC0))
_ASCII_ONLY = bytes(range(0x80))


class _SeparatedTable(dict):
    """FOLD_TABLE[code] + "\x00", computed on first use (same thread-safety argument)."""

    def __missing__(self, code: int) -> str:
        value = FOLD_TABLE[code] + "\x00"
        self[code] = value
        return value


_SEPARATED = _SeparatedTable()


def _non_ascii_folds(raw: bytes) -> list[str]:
    """The fold of each non-ASCII character of UTF-8 `raw`, in order."""
    folds = raw.translate(None, _ASCII_ONLY).decode("utf-8").translate(_SEPARATED).split("\x00")
    folds.pop()  # after the last terminator
    return folds


def _translate(text: str) -> str:
    """FOLD_TABLE applied to every character (`text.translate(FOLD_TABLE)`), fast."""
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_BYTES).decode("ascii")
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates cannot be encoded: take the slow path
        return text.translate(FOLD_TABLE)
    template = raw.translate(_MARK_BYTES, _CONTINUATION_BYTES).replace(b"\x00", b"%s").decode("ascii")
    return template % tuple(_non_ascii_folds(raw))


def fold_cased(text: str) -> str:
    """Normalised text with case kept (fast path, no offsets)."""
    folded = _translate(text)
    if "'" in folded:
        folded = _mark_apostrophes(folded).replace("'", "")
    return folded


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
