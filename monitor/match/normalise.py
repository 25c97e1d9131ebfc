"""Text normalisation for matching, with a way back to the original offsets.

News writes one name many ways; before matching, text and aliases both go through
the same folding so that only real spelling differences are left for the
variant rules:

* Unicode NFKC compatibility forms (full-width letters, ligatures, Arabic
  presentation forms) become plain letters; Arabic-Indic digits become 0-9.
* Diacritics and Arabic harakat are dropped ("Aïn" = "Ain", "قَاسِم" = "قاسم").
* Arabic letter variants are unified: alef forms -> ا, alef maqsura -> ي,
  ta marbuta -> ه, hamza seats ئ/ؤ -> ي/و; the Persian, Urdu and Kurdish
  letters of names fold to their Arabic counterparts (ی ک گ پ چ ژ ہ ے ۆ ێ ڕ ڵ);
  tatweel dropped. Latin letters without a decomposition: ł -> l, ı -> i.
* Apostrophes and ayn/hamza marks (' ’ ‘ ʿ ʾ ` ´) are dropped inside words
  ("Kata'ib" = "Kataib"); a possessive "'s" is dropped with its s
  ("coalition's spokesman" = "coalition spokesman"); French/Italian elisions
  ("l'EI", "d'Aïn", "dell'Isis") and Turkish suffixes after a proper noun
  ("SDG'nin") become word breaks, so the name stays whole.
* Every other non-letter, non-digit (hyphen, dot, comma, brackets, symbols,
  whitespace) becomes a space: "Q-West" = "Q West", "CJTF–OIR" = "CJTF OIR".
* Invisible format characters (soft hyphen, ZWNJ, bidi marks) vanish.

Case is folded in a second, length-preserving step (`str.lower`), so the
matcher can check case-sensitive acronyms on the cased form at the very same
positions. Newlines are kept as "\\n" so a long text can be mapped back to the
original one line at a time (see `line_offsets`).

The fast path (`fold_cased`, `fold_cased_with_offsets`, `fold_for_scan`) is a
handful of C passes of the standard library, with the same results as the
per-character reference (property-tested): ASCII and Latin-1 text, one
bytes.translate; text of one script, the charmap codec with a code page of that
script (`_CodePage`); other text, bytes.translate over UTF-8 and one
str.replace per distinct non-ASCII character; then two regexes for apostrophes.

Their offsets (`Offsets`) are a short list of segments, turned into a map only
for texts with a match. `normalise` is the per-character reference definition
of all of it, kept for tests.
"""

from __future__ import annotations

import bisect
import codecs
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

# Hebrew geresh and gershayim (׳ ״) mark a foreign sound (ג׳ = j) or an
# abbreviation (דאע״ש): inside a word they are dropped like an apostrophe.
APOSTROPHES = "'’‘‛ʼʻʽʿʾ`´′ʹ\u05f3\u05f4"  # noqa: RUF001 - these look-alikes are the point

# Arabic-script letters that news writes interchangeably, and the Persian, Urdu
# and Kurdish letters of names that Arabic writes with its own letters: Arabic-
# script aliases then find them in all four (سلیمانی = سليماني, پایگاه = بايكاه,
# Kurdish ڕ ڵ ۆ ێ ە, Urdu ہ ے ں ٹ ڈ ڑ). Digits of every script fold to 0-9
# (unicodedata.decimal), harakat and tatweel vanish, ZWNJ too (a format character).
_ARABIC = {
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ٲ": "ا", "ٳ": "ا",
    "ى": "ي", "ی": "ي", "ې": "ي", "ئ": "ي", "ێ": "ي", "ے": "ي", "ۓ": "ي", "ۍ": "ي",
    "ة": "ه", "ۀ": "ه", "ە": "ه", "ھ": "ه", "ہ": "ه", "ۃ": "ه",
    "ؤ": "و", "ۆ": "و", "ۇ": "و", "ۋ": "و", "ۉ": "و", "ۊ": "و",
    "ک": "ك", "گ": "ك", "ڪ": "ك", "ګ": "ك", "ڭ": "ك",
    "پ": "ب", "چ": "ج", "ژ": "ز", "ڤ": "ف", "ڨ": "ق",
    "ڕ": "ر", "ڑ": "ر", "ڵ": "ل", "ٹ": "ت", "ڈ": "د", "ں": "ن",
    "ء": "",  # bare hamza is written or not at will
}
# Latin letters without a decomposition that news in other languages writes
# for the plain letter (Polish ł, Turkish dotless ı, Croatian đ, Nordic ø).
# Ligatures as their letters (French œ, Danish æ).
_LATIN = {
    "ł": "l", "Ł": "L", "ı": "i", "đ": "d", "Đ": "D", "ø": "o", "Ø": "O", "ħ": "h", "Ħ": "H",
    "œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE",
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
        if c in _LATIN:
            out.append(_LATIN[c])
            continue
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
# an elision ("l'EI", "dell'Isis"), a possessive ("Kirkuk's") or a Turkish case
# suffix after a proper noun ("SDG'nin", "Süleymani'ye") becomes a word break,
# any other apostrophe is dropped ("Kata'ib" = "Kataib").
#
# `_apostrophe` below states the rule; the fast path applies the same rule with
# two regex substitutions by constant strings (no Python call per apostrophe,
# which used to cost as much as the whole translate step). Both patterns start
# with the literal "'" so the regex engine jumps from apostrophe to apostrophe,
# and check the word before it with fixed-width lookbehinds. They rely on the
# translated text having no "_" (it folds to a space), so that `\w` and `\b`
# mean exactly `str.isalnum`, and on only ASCII letters lower-casing to the
# letters of the elided words and suffixes (checked in tests/test_normalise.py).
_APOSTROPHE = re.compile(r"'(?:s\b)?", re.IGNORECASE)
_ELIDED = frozenset("l d j n m t s c qu dell nell all dall sull coll un".split())
# Turkish writes the case suffix of a proper noun after an apostrophe (after
# folding: ı = i, ş = s). Only these, and only after a word of 2+ letters, so
# "Qa'im", "Kata'ib", "Sha'abi" keep their apostrophe dropped.
_TURKISH_SUFFIXES = frozenset(
    """nin nun in un i u yi yu e a ye ya de da te ta den dan ten tan le la yle yla ne na nde nda
    nden ndan ler lar leri lari lerin larin lere lara deki daki teki taki ndeki ndaki dir dur
    li lu lik luk liler lular ci cu ca ce""".split()
)


def _apostrophe(match: re.Match[str]) -> str:
    """Same length out as in: elision/suffix apostrophes become spaces, a possessive "'s" two apostrophes."""
    text, i, found = match.string, match.start(), match.group()
    end = match.end()
    word_start = i
    while word_start > 0 and text[word_start - 1].isalnum():
        word_start -= 1
    follows_letter = end < len(text) and text[end].isalnum() if len(found) == 1 else True
    if word_start < i and text[word_start:i].lower() in _ELIDED and follows_letter:
        return " " + found[1:]  # "l'EI" -> "l EI", "d'Aïn" -> "d Aïn"
    if len(found) == 2 and i > 0 and text[i - 1].isalnum():
        return "''"  # possessive: dropped with its "s", "coalition's spokesman" = "coalition spokesman"
    if i - word_start >= 2:
        suffix_end = i + 1
        while suffix_end < len(text) and text[suffix_end].isalnum():
            suffix_end += 1
        if text[i + 1 : suffix_end].lower() in _TURKISH_SUFFIXES:
            return " "  # "SDG'nin" -> "SDG nin"
    return found


def _any_case(word: str) -> str:
    return "".join(f"[{c}{c.upper()}]" for c in word)


def _word_break_pattern() -> re.Pattern[str]:
    # One lookbehind per word length (lookbehinds must be fixed-width).
    by_length: dict[int, list[str]] = {}
    for word in sorted(_ELIDED):
        by_length.setdefault(len(word), []).append(_any_case(word))
    elision = "|".join(rf"(?<=\b(?:{'|'.join(words)})')" for _, words in sorted(by_length.items()))
    suffixes = "|".join(_any_case(s) for s in sorted(_TURKISH_SUFFIXES, key=lambda s: (-len(s), s)))
    # The suffix check must not see a possessive "'s": that alternative is tried first by _POSSESSIVE.
    return re.compile(rf"'(?:(?=\w)(?:{elision})|(?<=\w\w')(?=(?:{suffixes})\b))")


_WORD_BREAK = _word_break_pattern()  # "'" of an elision or before a Turkish suffix -> " "
_POSSESSIVE = re.compile(r"'(?<=\w')[sS]\b")  # "'s" after a letter (not an elision) -> "''", dropped


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


# Latin-1 text (a "1-byte" str in CPython) is encoded by a memcpy; one 256-byte
# translate then folds it. A Latin-1 character whose fold is not one Latin-1
# character (ß -> ss, µ -> μ, soft hyphen -> nothing) keeps its byte through the
# translate and is replaced by its fold after decoding: such a "placeholder"
# never appears in folded text, since a fold never contains a character that
# folds to something else.
def _latin1_table(ascii_table: bytes) -> bytes:
    high = bytearray()
    for code in range(128, 256):
        folded = FOLD_TABLE[code]
        high.append(ord(folded) if len(folded) == 1 and ord(folded) < 256 else code)
    return ascii_table[:128] + bytes(high)


_LATIN1_BYTES = {table: _latin1_table(table) for table in (_ASCII_BYTES, _ASCII_BYTES_ONE_LINE)}
# placeholder -> its fold
_PLACEHOLDERS = {
    chr(code): FOLD_TABLE[code]
    for code in range(128, 256)
    if not (len(FOLD_TABLE[code]) == 1 and ord(FOLD_TABLE[code]) < 256)
}


def _latin1_translate(raw: bytes, ascii_table: bytes) -> tuple[str, list[str]]:
    """Fold the Latin-1 bytes of a text; also the characters whose fold is not one character."""
    folded = raw.translate(_LATIN1_BYTES[ascii_table])
    if folded.isascii():
        return folded.decode("ascii"), []
    result = folded.decode("latin-1")
    resized = []
    for char in set(folded.translate(None, _ASCII_ONLY).decode("latin-1")):
        fold = _PLACEHOLDERS.get(char)
        if fold is not None:
            result = result.replace(char, fold)
            if len(fold) != 1:
                resized.append(char)
    return result, resized


# Most news text uses ASCII plus a few dozen other characters of one script:
# typographic quotes and dashes with Latin letters, or the Arabic, Cyrillic,
# Greek or Hebrew alphabet. A "code page" gives each of up to 128 such
# characters ("slots") a byte of its own, ASCII keeping its byte, so one C pass
# of the charmap codec (a lookup table, no Python call per character) turns the
# text into one byte per character; one more C pass folds it: a 256-byte
# translate for pages whose slots fold to ASCII (decoded as Latin-1, a 1-byte
# string), else the charmap decoder with a 256-character table. No UTF-8 round
# trip, no set of distinct characters, no str.replace per distinct character
# (which is what makes the general path below slow for Arabic text). A slot
# whose fold is not one character (ß -> ss, "…" -> three spaces, ZWNJ and
# harakat -> nothing) decodes to a placeholder that is replaced by its fold
# afterwards; a placeholder is a character the fold never produces. A
# character outside the page makes the codec raise at once; the next page
# holding that character is tried, then the general path.
_PUNCTUATION = (
    "\u00a0\u00ab\u00bb\u00b7"  # nbsp, «», middle dot
    "\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f"  # quotes
    "\u2010\u2011\u2012\u2013\u2014\u2015\u2026\u2022"  # dashes, ellipsis, bullet
    "\u200b\u200c\u200d\u200e\u200f\u2032\u2033\u2039\u203a"  # zero-width, bidi, primes, ‹›
    "\u20ac\u2122\u0153\u0152\ufe0f\ufffd"  # €, ™, œ, Œ, emoji variation selector, replacement character
)
_LATIN1 = "".join(chr(c) for c in range(0xA0, 0x100))
_LATIN1_LETTERS = "áàâäãåçéèêëíìîïñóòôöõúùûüýÁÀÂÄÃÇÉÈÊËÍÎÏÓÔÖÕÚÙÛÜÝß°"  # those Central Europe uses too
_CENTRAL_EUROPEAN = "ąćęłńśźżĄĆĘŁŃŚŹŻčďěňřšťůžČĎĚŇŘŠŤŮŽőűŐŰğıİşŞĞăâîșțĂÂÎȘȚđĐ"  # Polish, Czech, Hungarian, Turkish, Romanian
_ARABIC_SCRIPT = (
    "\u060c\u061b\u061f\u066a\u066b\u066c\u06d4"  # ، ؛ ؟ ٪ ٫ ٬ ۔
    + "".join(chr(c) for c in range(0x0621, 0x063B))  # hamza .. ghain
    + "".join(chr(c) for c in range(0x0640, 0x0653))  # tatweel, fa .. yeh, harakat
    + "".join(chr(c) for c in range(0x0660, 0x066A))  # Arabic-Indic digits
    + "".join(chr(c) for c in range(0x06F0, 0x06FA))  # Persian digits
    + "\u0670\u0671پچژکگیۀھہےںٹڈڑەۆێڕڵڤ"  # superscript alef, wasla; Persian, Urdu, Kurdish letters
)
# Russian, Ukrainian and Belarusian letters first: the page has room for most, not all, of the block.
_CYRILLIC = "".join(chr(c) for c in range(0x0410, 0x0450)) + "ЁёЄєІіЇїҐґЎў№"
_GREEK = "".join(chr(c) for c in range(0x0384, 0x03CF) if unicodedata.category(chr(c)) != "Cn")
_HEBREW = "".join(chr(c) for c in range(0x05B0, 0x05F5) if unicodedata.category(chr(c)) != "Cn")


class _CodePage:
    """ASCII plus 128 characters, one byte each; see above.

    `to_ascii`: keep only slots that fold to ASCII (Latin pages), so the fold
    is a bytes.translate and the result a 1-byte string.
    """

    def __init__(self, name: str, wanted: str, to_ascii: bool = False):
        def fits(c: str) -> bool:
            return c >= "\x80" and _stable(c) and (not to_ascii or FOLD_TABLE[ord(c)].isascii())

        # Spare slots take more Latin letters, so that every byte is used.
        spare = "".join(map(chr, range(0xA0, 0x250)))
        slots = list(dict.fromkeys(c for c in wanted + spare if fits(c)))[:128]
        self.name = name
        self.slots = frozenset(slots)
        self._to_ascii = to_ascii
        self._encoding = codecs.charmap_build("".join(map(chr, range(128))) + "".join(slots))
        # placeholder -> (the text's character, its fold)
        self._placeholders: dict[str, tuple[str, str]] = {}
        decoded = []
        for k, char in enumerate(slots):
            fold = FOLD_TABLE[ord(char)]
            if len(fold) == 1:
                decoded.append(fold)
            else:
                placeholder = chr(128 + k) if to_ascii else chr(0xE000 + k)
                self._placeholders[placeholder] = (char, fold)
                decoded.append(placeholder)
        self._tables: dict[bytes, bytes | str] = {}
        for table in (_ASCII_BYTES, _ASCII_BYTES_ONE_LINE):
            if to_ascii:
                self._tables[table] = table[:128] + "".join(decoded).encode("latin-1")
            else:
                self._tables[table] = table[:128].decode("ascii") + "".join(decoded)
        # bytes that are not placeholders: deleted to find the placeholders a text holds
        held = {128 + k for k, c in enumerate(decoded) if c in self._placeholders}
        self._not_placeholders = bytes(b for b in range(256) if b not in held)

    def translate(self, text: str, ascii_table: bytes) -> tuple[str, list[str]]:
        """`_translate_noting_lengths` for a text of ASCII and slot characters; UnicodeEncodeError if not."""
        raw = codecs.charmap_encode(text, "strict", self._encoding)[0]
        table = self._tables[ascii_table]  # bytes when folding to ASCII, else a decoding table (str)
        if self._to_ascii:
            assert isinstance(table, bytes)
            folded = raw.translate(table)
            result = folded.decode("ascii") if folded.isascii() else folded.decode("latin-1")
        else:
            result = codecs.charmap_decode(raw, "strict", table)[0]
        resized = []
        if self._placeholders and not (self._to_ascii and folded.isascii()):  # placeholders are not ASCII
            for byte in set(raw.translate(None, self._not_placeholders)):
                placeholder = chr(byte) if isinstance(table, bytes) else table[byte]
                char, fold = self._placeholders[placeholder]
                result = result.replace(placeholder, fold)
                resized.append(char)
        return result, resized


def _stable(char: str) -> bool:
    """Its fold folds to itself: one replacement is the whole fold."""
    return all(FOLD_TABLE[ord(c)] == c for c in FOLD_TABLE[ord(char)])


_CODE_PAGES = (
    _CodePage("western", _PUNCTUATION + _LATIN1 + "ğıİşŞĞ", to_ascii=True),
    _CodePage("central-european", _PUNCTUATION + _CENTRAL_EUROPEAN + _LATIN1_LETTERS + _LATIN1, to_ascii=True),
    _CodePage("arabic", _PUNCTUATION + _ARABIC_SCRIPT + "éèàçôâêîû"),
    _CodePage("cyrillic", _CYRILLIC + _PUNCTUATION + "".join(map(chr, range(0x0400, 0x0460)))),
    _CodePage("greek", _PUNCTUATION + _GREEK),
    _CodePage("hebrew", _PUNCTUATION + _HEBREW),
)


_PAGE_SLOTS = frozenset().union(*(page.slots for page in _CODE_PAGES))


def _code_page_translate(text: str, ascii_table: bytes) -> tuple[str, list[str], str] | None:
    """`_translate_noting_lengths` through the first code page that holds the text (None: none does)."""
    pages: tuple[_CodePage, ...] = _CODE_PAGES
    while pages:
        page, pages = pages[0], pages[1:]
        try:
            return (*page.translate(text, ascii_table), page.name)
        except UnicodeEncodeError as error:
            missing = text[error.start]
            pages = tuple(p for p in pages if missing in p.slots)
    return None


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


def _translate_noting_lengths(text: str, ascii_table: bytes) -> tuple[str, list[str] | None, str]:
    """`_translate`, plus the characters of `text` that fold to other than one character

    (None: not known, the slow path was taken), which is what `Offsets` needs,
    and the path taken: "ascii", "latin-1", a code page's name or "other"; the
    matcher skips what a text's scripts cannot need (no Chinese in "arabic").

    Paths, fastest first: ASCII (one bytes.translate); Latin-1 (a 1-byte
    string: `_latin1_translate`); a code page (`_CodePage`); any other text.
    For the last, the distinct non-ASCII characters are collected from the
    UTF-8 bytes (ASCII bytes deleted: a few C passes). Those outside the code
    page that holds most of them (an emoji, a symbol, a presentation form, a
    Polish letter in a French text) are replaced by their fold, usually one or
    two str.replace, and the code pages are tried again.
    Text that still fits none (Chinese, Japanese, mixed scripts) gets one
    translate of its ASCII bytes and one str.replace per distinct character.
    """
    if text.isascii():
        return text.encode("ascii").translate(ascii_table).decode("ascii"), [], "ascii"
    try:
        return (*_latin1_translate(text.encode("latin-1"), ascii_table), "latin-1")
    except UnicodeEncodeError:
        pass
    found = _code_page_translate(text, ascii_table)
    if found is not None:
        return found
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates cannot be encoded: take the slow path
        return _slow_translate(text, ascii_table), None, "other"
    others = raw.translate(None, _ASCII_ONLY).decode("utf-8")
    if len(others) > 64:  # see _identity_runs
        others = _IDENTITY_RUNS.sub("", others)
    replacements = []
    for char in set(others):
        replacement = _REPLACEMENTS[char]
        if replacement is _UNSTABLE:
            return _slow_translate(text, ascii_table), None, "other"
        if replacement:
            replacements.append(replacement)
    # The code page holding most of these characters, once the others are replaced.
    distinct = set(others)
    page = max(_CODE_PAGES, key=lambda p: len(distinct & p.slots))
    outside = [(char, fold) for char, fold in replacements if char not in page.slots]
    if outside:
        narrowed, resized = text, []
        for char, fold in outside:
            narrowed = narrowed.replace(char, fold)
            if len(fold) != 1:
                resized.append(char)
        found = _code_page_translate(narrowed, ascii_table)
        if found is not None:
            return found[0], resized + found[1], found[2]
    folded = raw.translate(ascii_table).decode("utf-8")
    resized = []
    for char, fold in replacements:
        folded = folded.replace(char, fold)
        if len(fold) != 1:
            resized.append(char)
    return folded, resized, "other"


def _slow_translate(text: str, ascii_table: bytes) -> str:
    folded = text.translate(FOLD_TABLE)
    return folded if ascii_table is _ASCII_BYTES else folded.replace("\n", " ")


def _apply_apostrophes(translated: str) -> str:
    """The apostrophe rule on translated text, same length; the "'" left are to be dropped."""
    # The word-break pass only turns "'" into " ", which changes nothing the
    # possessive pass looks at (both are non-word characters). Possessive
    # "'s" never reaches the suffix rule: "s" is not a Turkish suffix.
    if "'" not in translated:
        return translated
    return _POSSESSIVE.sub("''", _WORD_BREAK.sub(" ", translated))


def _drop_apostrophes(marked: str) -> str:
    return marked.replace("'", "") if "'" in marked else marked


def fold_cased(text: str) -> str:
    """Normalised text with case kept (fast path, no offsets)."""
    return _drop_apostrophes(_apply_apostrophes(_translate(text)))


def fold_cased_with_offsets(text: str, one_line: bool = False) -> tuple[str, Offsets]:
    """`fold_cased(text)` and a lazy map from its positions back to `text`.

    `one_line`: newlines become spaces too (same length, same offsets).
    """
    translated, resized, path = _translate_noting_lengths(text, _ASCII_BYTES_ONE_LINE if one_line else _ASCII_BYTES)
    marked = _apply_apostrophes(translated)
    return _drop_apostrophes(marked), _MarkedOffsets(text, marked, resized, path)


def fold_for_scan(text: str) -> tuple[str, str, Offsets]:
    """What the matcher scans: the one-line cased fold, its padded lower case, and offsets.

    `(cased, f" {cased} ".lower(), offsets)` with `cased, offsets =
    fold_cased_with_offsets(text, one_line=True)`.
    """
    cased, offsets = fold_cased_with_offsets(text, one_line=True)
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
    (`_MarkedOffsets`).
    """

    __slots__ = ("text", "path", "_dropped", "_keys", "_origins")

    text: str
    path: str  # how the text was folded: "ascii", "latin-1", a code page's name, or "other"
    _dropped: Sequence[int] | None  # None: not built yet
    _keys: Sequence[int]
    _origins: Sequence[int]

    def _build(self) -> None:
        raise NotImplementedError

    def start(self, pos: int) -> int:
        """Original index of the character that produced normalised character `pos`."""
        if self._dropped is None:
            self._build()
        assert self._dropped is not None  # set by _build
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

    def __init__(self, text: str, marked: str, resized: list[str] | None, path: str = "other"):
        self.text = text
        self.path = path
        self._marked = marked  # translated text after the apostrophe rule, before dropping "'"
        self._resized = resized  # characters of `text` whose fold is not one character, if known
        self._dropped = None

    def _build(self) -> None:
        # Dropped apostrophes: the j-th one, at translated position d, leaves
        # d - j kept characters before it.
        dropped: list[int] = []
        pos = self._marked.find("'")
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
