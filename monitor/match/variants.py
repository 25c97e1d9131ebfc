"""Spelling variants of an alias, so analysts list a few spellings, not every one.

Transliteration from Arabic/Persian has no single standard: قاسم is Qasem,
Qassem, Qasim, Ghasem; القيارة is al-Qayyarah, Qayara, Al Qayara. The rules
that produce these are declared in the watchlist (`variant_rules`, global or per
entity); a few rules about Arabic grammar are built in:

* `article`: the Arabic article written "al-", "el-", "ul-" or assimilated
  before a "sun letter" ("ash-Shaabi", "ad-Dawla") is interchangeable and may be
  omitted ("Al Qayara" = "Qayara", "Hashd al-Shaabi" = "Hashd Shaabi").
* `letter-digit`: "K1" = "K 1" (the hyphen in "K-1" is already a space).
* `proclitic`: Arabic and Hebrew glue "and/in/for/the" to the next word
  (والحشد, للحشد, בהמדינה); those prefixes are allowed before the first word.

Each variant remembers which rules produced it, for `monitor match --explain`.
Generation is bounded: at most `max_changes` substitutions per variant and at
most `max_variants` variants per alias, the least-changed first.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations, product
from typing import NamedTuple

from monitor.match.normalise import fold_phrase
from monitor.config.watchlist import AliasSpec, VariantRule

VOWELS = frozenset("aeiouy")
# Arabic "sun letters" assimilate the article: al-Shaabi -> ash-Shaabi.
_SUN_PREFIXES = ("sh", "th", "dh", "s", "t", "d", "n", "r", "z")
_ARTICLES = ("al", "el", "ul")


class Variant(NamedTuple):
    """One spelling to search for. A NamedTuple (immutable, cheap to create): big
    imported watchlists make one per alias, and frozen dataclasses were slow to build."""

    text: str  # normalised, lower case, single spaces
    rules: tuple[str, ...]  # names of the rules applied, () for the alias itself


@dataclass(frozen=True)
class _Site:
    start: int
    end: int
    rule: str
    choices: tuple[str, ...]  # the other spellings allowed here


def script_of(ch: str) -> str:
    """Coarse script class of one character: latin, arabic, hebrew, nospace or other."""
    code = ord(ch)
    if 0x0600 <= code <= 0x06FF or 0x0750 <= code <= 0x077F or 0xFB50 <= code <= 0xFEFF:
        return "arabic"
    if 0x0590 <= code <= 0x05FF:
        return "hebrew"
    if (
        0x0E00 <= code <= 0x0EFF  # Thai, Lao
        or 0x3040 <= code <= 0x30FF  # kana
        or 0x3400 <= code <= 0x9FFF  # CJK
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x2FFFF
    ):
        return "nospace"  # scripts written without spaces between words
    if code < 0x0250 or 0x1E00 <= code <= 0x1EFF:
        return "latin"
    return "other"


def _token_bounds(text: str) -> list[tuple[int, int]]:
    bounds, pos = [], 0
    for token in text.split(" "):
        bounds.append((pos, pos + len(token)))
        pos += len(token) + 1
    return bounds


def _where_ok(text: str, start: int, end: int, where: str, tokens: list[tuple[int, int]]) -> bool:
    if where == "anywhere":
        return True
    at_start = any(start == a for a, _ in tokens)
    at_end = any(end == b for _, b in tokens)
    if where == "word-start":
        return at_start
    if where == "word-end":
        return at_end
    if where == "word":
        return at_start and at_end
    # between-vowels
    return start > 0 and end < len(text) and text[start - 1] in VOWELS and text[end] in VOWELS


def _rule_sites(text: str, rule: VariantRule, tokens: list[tuple[int, int]]) -> list[_Site]:
    sites: list[_Site] = []
    if rule.double:
        for letter in fold_phrase(rule.double).replace(" ", ""):
            for size, other in ((2, letter), (1, letter * 2)):
                find = letter * size
                pos = text.find(find)
                while pos != -1:
                    end = pos + size
                    ok = _where_ok(text, pos, end, "between-vowels", tokens)
                    # "ss" inside "sss" is not a clean site; the single must not touch another.
                    if ok and (size == 2 or (text[pos - 1] != letter and text[end] != letter)):
                        sites.append(_Site(pos, end, rule.name, (other,)))
                    pos = text.find(find, pos + 1)
        return sites
    # Longest first, then alphabetical: a set alone would make the order (and so the
    # variants kept under max_variants) depend on the per-process string hash seed.
    spellings = sorted({fold_phrase(a) if a.strip() else "" for a in rule.alternatives}, key=lambda s: (-len(s), s))
    for spelling in spellings:
        if not spelling:
            continue
        pos = text.find(spelling)
        while pos != -1:
            end = pos + len(spelling)
            if _where_ok(text, pos, end, rule.where, tokens):
                others = tuple(s for s in spellings if s != spelling)
                sites.append(_Site(pos, end, rule.name, others))
            pos = text.find(spelling, pos + 1)
    return sites


def _article_sites(text: str, tokens: list[tuple[int, int]]) -> list[_Site]:
    sites = []
    for i, (a, b) in enumerate(tokens):
        if text[a:b] in _ARTICLES and i + 1 < len(tokens):  # an article must lead a following word
            following = text[tokens[i + 1][0] : tokens[i + 1][1]]
            sun = next((p for p in _SUN_PREFIXES if following.startswith(p)), None)
            choices = [x for x in _ARTICLES if x != text[a:b]]
            if sun:
                choices += ["a" + sun, "e" + sun]
            # The article may vanish: drop it together with its space.
            sites.append(_Site(a, tokens[i + 1][0], "article", tuple(c + " " for c in choices) + ("",)))
        elif text[a:b].startswith("ال") and len(text[a:b]) > 3:
            sites.append(_Site(a, a + 2, "article", ("",)))
    return sites


def _apply(text: str, sites: tuple[_Site, ...], picks: tuple[str, ...]) -> str:
    out, pos = [], 0
    for site, pick in zip(sites, picks, strict=True):
        out.append(text[pos : site.start])
        out.append(pick)
        pos = site.end
    out.append(text[pos:])
    return " ".join("".join(out).split())


def _letter_digit(text: str) -> list[str]:
    """'k1' <-> 'k 1' for every letter/digit junction (both ways)."""
    joined, split = [], []
    for i, ch in enumerate(text):
        if i and text[i - 1] != " " and ch != " " and text[i - 1].isdigit() != ch.isdigit():
            split.append(i)
        if (
            ch == " "
            and 0 < i < len(text) - 1
            and text[i - 1].isalnum()
            and text[i + 1].isalnum()
            and text[i - 1].isdigit() != text[i + 1].isdigit()
        ):
            joined.append(i)
    out = []
    if split:
        out.append("".join(" " + c if i in split else c for i, c in enumerate(text)))
    if joined:
        out.append("".join(c for i, c in enumerate(text) if i not in joined))
    return out


_ARABIC_PROCLITICS = ("و", "ف", "ب", "ل", "ك", "وب", "ول", "فب", "فل", "وك")
_ARABIC_ARTICLE_PROCLITICS = ("و", "ف", "ب", "ك", "وب", "فب", "وك")  # + ال kept
_HEBREW_PROCLITICS = ("ו", "ה", "ב", "ל", "מ", "ש", "כ", "וה", "וב", "ול", "ומ", "וש", "שה", "מה", "כש")


def proclitic_forms(text: str) -> list[str]:
    """Prefixed forms of a right-to-left alias: والحشد, للحشد, בהמדינה."""
    if not text or text[0] < "\u0590":  # below Hebrew: no proclitics (the common case, fast)
        return []
    script = script_of(text[0])
    if script == "arabic":
        if text.startswith("ال"):
            # ل + ال is written لل (the alef drops): لحشد -> للحشد
            return [p + text for p in _ARABIC_ARTICLE_PROCLITICS] + ["ل" + text[1:], "ول" + text[1:], "فل" + text[1:]]
        return [p + text for p in _ARABIC_PROCLITICS]
    if script == "hebrew":
        forms = [p + text for p in _HEBREW_PROCLITICS]
        if text.startswith("ה"):  # ב/ל/כ swallow the article: בהמדינה -> במדינה
            forms += [p + text[1:] for p in ("ב", "ל", "כ", "וב", "ול")]
        return forms
    return []


def _shrunk_to_a_short_word(base: str, text: str) -> bool:
    """A rule made a Latin word of 4+ letters into one of 3 or fewer ("qaim" -> "kim", "gem").

    Such spellings are common words of other languages more often than the name.
    (Arabic "الحشد" -> "حشد", the article dropped, is not shrinking.)
    """
    before = [w for w in base.split() if w not in _ARTICLES]
    after = [w for w in text.split() if w not in _ARTICLES]
    return len(before) == len(after) and any(len(a) <= 3 < len(b) and a.isascii() for a, b in zip(after, before))


def generate(
    alias: AliasSpec,
    rules: list[VariantRule],
    max_variants: int = 200,
    max_changes: int = 3,
) -> list[Variant]:
    """All spellings to search for `alias`, the alias itself first."""
    base = fold_phrase(alias.text)
    if not base:
        return []
    if alias.case_sensitive:
        # Acronyms keep their letters; only "K1"/"K-1" spacing may differ.
        return [Variant(base, ())] + [Variant(t, ("letter-digit",)) for t in _letter_digit(base)]
    if not alias.variants:
        return [Variant(base, ())] + [Variant(f, ("proclitic",)) for f in proclitic_forms(base)]

    tokens = _token_bounds(base)
    candidates = _article_sites(base, tokens)
    for rule in rules:
        candidates += _rule_sites(base, rule, tokens)
    # Sites of different rules may overlap ("ay" and "yy" in "qayyarah"); a variant
    # uses only non-overlapping ones. Earlier rules (article, entity rules) come first.
    sites = list(dict.fromkeys(candidates))

    variants: dict[str, tuple[str, ...]] = {base: ()}
    for changes in range(1, min(max_changes, len(sites)) + 1):
        for chosen in combinations(sites, changes):
            chosen = tuple(sorted(chosen, key=lambda s: s.start))
            if any(a.end > b.start for a, b in zip(chosen, chosen[1:], strict=False)):
                continue
            for picks in product(*(s.choices for s in chosen)):
                text = _apply(base, chosen, picks)
                if text and text not in variants and not _shrunk_to_a_short_word(base, text):
                    variants[text] = tuple(dict.fromkeys(s.rule for s in chosen))
                if len(variants) >= max_variants:
                    break
            if len(variants) >= max_variants:
                break
        if len(variants) >= max_variants:
            break

    found = [Variant(t, r) for t, r in variants.items()]
    for v in list(found):
        for t in _letter_digit(v.text):
            if t not in variants:
                variants[t] = (*v.rules, "letter-digit")
                found.append(Variant(t, variants[t]))
    for v in list(found):
        for t in proclitic_forms(v.text):
            if t not in variants:
                variants[t] = (*v.rules, "proclitic")
                found.append(Variant(t, variants[t]))
    return found
