"""Evidence that does not depend on the language an article is written in.

An Arabic and an English report of one attack share almost no characters, so
their texts cannot be compared directly (and no installable embedding model
places Arabic and English in one space well enough, see docs/STORIES.md). What
they do share, once extracted, is:

* the tracked entity ids the matcher found (given to the assigner, not found here);
* numbers: "15 rockets" / "١٥ صاروخا" / "quinze roquettes" all give 15;
* places that are not tracked entities (Baghdad, Anbar, Hasakah, Tehran);
* kinds of event ("rocket", "killed", "denial", "handover"), see `lexicon`.

Everything here is pure and built once; `EvidenceFinder.find` takes a title, a
lead and a language code and returns plain values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import ahocorasick

from monitor.match.normalise import fold, fold_phrase
from monitor.match.variants import proclitic_forms
from monitor.stories.lexicon import CONCEPTS, PLACES


@dataclass(frozen=True)
class Evidence:
    """What an article's title and lead say, in language-independent terms."""

    numbers: frozenset[int]
    places: frozenset[str]
    concepts: frozenset[str]  # kinds of event in title + lead
    title_concepts: frozenset[str]  # kinds of event in the title alone


class _Lexicon:
    """Entries of a word list found in folded text with one Aho-Corasick pass.

    A key is " word " (whole word or phrase) or " stem" (prefix, from "stem*");
    the text is searched as " folded text ", so a leading space means a word start.
    """

    def __init__(self, entries: dict[str, tuple[str, ...]]):
        self._automaton = ahocorasick.Automaton()
        for label, words in entries.items():
            for word in words:
                prefix = word.endswith("*")
                folded = fold_phrase(word.rstrip("*"))
                if not folded:
                    continue
                for form in (folded, *proclitic_forms(folded)):
                    key = f" {form}" if prefix else f" {form} "
                    labels = self._automaton.get(key, ())
                    if label not in labels:
                        self._automaton.add_word(key, (*labels, label))
        self._automaton.make_automaton()

    def find(self, folded: str) -> set[str]:
        found: set[str] = set()
        for _end, labels in self._automaton.iter(f" {folded} "):
            found.update(labels)
        return found


# Number words, per language, as written after folding. Only cardinal numbers
# from 2: "one"/"a" carry no evidence, and ordinals are not counts.
_UNITS = {
    "en": ["", "", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
    "fr": ["", "", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"],
    "de": ["", "", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun"],
    "es": ["", "", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve"],
    "tr": ["", "", "iki", "üç", "dört", "beş", "altı", "yedi", "sekiz", "dokuz"],
    "ar": ["", "", "اثنان اثنين اثنتان اثنتين", "ثلاث ثلاثة", "أربع أربعة", "خمس خمسة", "ست ستة", "سبع سبعة",
           "ثمان ثماني ثمانية", "تسع تسعة"],
}
_TEENS = {  # 10..19
    "en": "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen",
    "fr": "dix onze douze treize quatorze quinze seize dix-sept dix-huit dix-neuf",
    "de": "zehn elf zwölf dreizehn vierzehn fünfzehn sechzehn siebzehn achtzehn neunzehn",
    "es": "diez once doce trece catorce quince dieciséis diecisiete dieciocho diecinueve",
    "tr": "on",
    "ar": "عشر عشرة",
}
_TENS = {  # 20, 30, 40, 50
    "en": ["twenty", "thirty", "forty", "fifty"],
    "fr": ["vingt", "trente", "quarante", "cinquante"],
    "de": ["zwanzig", "dreißig", "vierzig", "fünfzig"],
    "es": ["veinte", "treinta", "cuarenta", "cincuenta"],
    "tr": ["yirmi", "otuz", "kırk", "elli"],
    "ar": ["عشرين عشرون", "ثلاثين ثلاثون", "أربعين أربعون", "خمسين خمسون"],
}


def _number_words(lang: str) -> dict[str, int]:
    words: dict[str, int] = {}
    for value, spellings in enumerate(_UNITS.get(lang, [])):
        for word in spellings.split():
            words[fold_phrase(word)] = value
    teens = _TEENS.get(lang, "").split()
    if lang == "ar":
        words.update({fold_phrase(w): 10 for w in teens})
    else:
        for offset, word in enumerate(teens):
            words[fold_phrase(word)] = 10 + offset
    for index, spellings in enumerate(_TENS.get(lang, [])):
        for word in spellings.split():
            words[fold_phrase(word)] = 20 + 10 * index
    return words


_NUMBER_WORDS = {lang: _number_words(lang) for lang in _UNITS}

_MONTHS = frozenset(
    fold_phrase(m)
    for m in (
        "january february march april may june july august september october november december "
        "jan feb mar apr jun jul aug sep sept oct nov dec "
        "janvier février mars avril mai juin juillet août septembre octobre novembre décembre "
        "januar februar märz april mai juni juli august september oktober november dezember "
        "ocak şubat mart nisan mayıs haziran temmuz ağustos eylül ekim kasım aralık "
        "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre "
        "يناير فبراير مارس أبريل ابريل مايو يونيو يوليو أغسطس اغسطس سبتمبر أكتوبر اكتوبر نوفمبر ديسمبر "
        "كانون شباط آذار نيسان أيار حزيران تموز آب أيلول تشرين"
    ).split()
)

# A run of digits (any script's digits: Python's \d is Unicode-aware), with
# thousands separators. A time (19:30), a date (11/03) or a decimal part is skipped whole.
_DIGITS = re.compile(r"(?<![\d:/.,])\d{1,3}(?:[,.\u066c]\d{3})+(?![\d:/])|(?<![\d:/.,])\d+(?![\d:/]|[.,\u066b]\d)")
_WORD = re.compile(r"\w+")


def find_numbers(text: str, lang: str) -> frozenset[int]:
    """Counts mentioned in the text (2 and up), in digits of any script or in words.

    Years (1900-2100) and day numbers next to a month name are not counts.
    Arabic dual forms ("صاروخين", two rockets) are not recognised.
    """
    found: set[int] = set()
    for match in _DIGITS.finditer(text):
        value = int(re.sub(r"\D", "", match.group()))
        if value < 2 or 1900 <= value <= 2100:
            continue
        before = _WORD.findall(fold(text[max(0, match.start() - 20) : match.start()]))[-1:]
        after = _WORD.findall(fold(text[match.end() : match.end() + 20]))[:1]
        if any(w in _MONTHS for w in before + after):
            continue
        found.add(value)
    words = _NUMBER_WORDS.get(lang)
    if words:
        found.update(_numbers_in_words(fold(text).split(), words, lang))
    return frozenset(found)


def _numbers_in_words(tokens: list[str], words: dict[str, int], lang: str) -> set[int]:
    found: set[int] = set()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if lang == "ar" and len(token) > 2 and token[0] == "و" and token[1:] in words:
            token = token[1:]  # "وثلاثين": "and thirty"
        value = words.get(token)
        if value is None and lang == "de":
            value = _german_compound(token, words)
        if value is None:
            i += 1
            continue
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if lang == "ar":
            if 2 <= value <= 9 and words.get(following) == 10:  # خمسة عشر = 15
                value, i = value + 10, i + 1
            elif 2 <= value <= 9 and following[:1] == "و" and words.get(following[1:], 0) >= 20:
                value, i = value + words[following[1:]], i + 1  # ثلاثة وثلاثون = 33
        elif value >= 20 and 2 <= words.get(following, 0) <= 9:  # thirty three, trente trois
            value, i = value + words[following], i + 1
        if value >= 2:
            found.add(value)
        i += 1
    return found


def _german_compound(token: str, words: dict[str, int]) -> int | None:
    # dreiunddreißig = 33 (after folding: dreiunddreissig)
    unit, sep, tens = token.partition("und")
    if sep and words.get(tens, 0) >= 20 and 1 <= words.get(unit if unit != "ein" else "", 1) <= 9:
        return words[tens] + (words.get(unit) or 1)
    return None


class EvidenceFinder:
    """Numbers, places and kinds of event in a title and lead. Built once, then read-only."""

    def __init__(self) -> None:
        self._concepts = _Lexicon(CONCEPTS)
        self._places = _Lexicon(PLACES)

    def find(self, title: str, lead: str, lang: str) -> Evidence:
        folded_title = fold(title)
        folded_lead = fold(lead)
        title_concepts = self._concepts.find(folded_title)
        return Evidence(
            numbers=find_numbers(f"{title}\n{lead}", lang),
            places=frozenset(self._places.find(folded_title) | self._places.find(folded_lead)),
            concepts=frozenset(title_concepts | self._concepts.find(folded_lead)),
            title_concepts=frozenset(title_concepts),
        )
