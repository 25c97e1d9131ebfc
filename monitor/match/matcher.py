"""Find watchlist entities in text: one Aho-Corasick scan plus context rules.

How a text is matched:

1. Normalise it, newlines as spaces, lower-case it and pad it with spaces
   (`normalise.fold_for_scan`: a few C passes of the standard library). Every
   alias variant is stored as " variant " so the automaton only reports whole
   words: a space stands for any word break after normalisation. Scripts
   written without spaces (Chinese, Japanese) get no padding; an alias that
   may take a case ending (`inflection`) gets none on the right, and the
   letters that follow it must be one of the watchlist's endings.
2. One pass of the automaton finds alias variants and role phrases. Text with
   Chinese or Japanese characters is scanned once more with those characters
   blanked, so a Latin acronym glued to them ("美军与SDF合作") is a word; text
   with Greek or Cyrillic words once more in Latin letters
   (`transliterate.py`), so Latin aliases and their variant rules find
   "Сулеймани" and "Σουλεϊμανί".
3. Case-sensitive acronyms (IS, SDF, KH) are checked against the cased text at
   the same positions, which normalisation keeps aligned.
4. Context rules of weak aliases look at the words around the mention, or the
   whole document, and at the entities already accepted. A base entity's
   `places` count next to a base word of the watchlist's `bases` rule.
5. Role phrases ("coalition spokesman") take the capitalised name next to them
   (in scripts without capitals, the name after a rank).
6. Only accepted mentions are mapped back to original offsets, through the
   segment map `normalise.Offsets` (built on first use, bisect per position),
   and for transliterated text through its word map first.

Each mention says which mechanism found it (`Mention.rule`, `monitor match
--explain`): alias, variant rule, inflection, transliteration, role, context
rule.

The Matcher is built once and only read afterwards, so any number of threads may
call `match` at the same time. It does no I/O.
"""

from __future__ import annotations

import functools
import gc
import re
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

import ahocorasick

from monitor.config.watchlist import AliasSpec, ContextRule, Entity, RoleSpec, Watchlist
from monitor.match.normalise import Offsets, fold_cased, fold_for_scan, fold_phrase
from monitor.match.transliterate import Transliteration, latin_spelling, transliterate
from monitor.match.variants import generate, script_of


@dataclass(frozen=True)
class Mention:
    text: str  # == original[start:end]
    start: int
    end: int
    alias: str  # the watchlist alias (or role phrase, or place) that matched
    # how: the mechanism first ("alias", "variant rule", "inflection", "transliteration",
    # "role", "context rule", "implied"), then its details, e.g.
    # "variant rule: q-k-g+article", "inflection: -nak", "role: before", "implied: myles-caggins"
    rule: str


@dataclass(frozen=True)
class EntityMatch:
    entity_id: str
    name: str
    mentions: tuple[Mention, ...]


@dataclass(frozen=True)
class Explanation:
    """One candidate mention and what the matcher decided about it."""

    entity_id: str
    text: str
    start: int
    end: int
    alias: str
    variant: str  # the normalised spelling that was found
    rules: tuple[str, ...]  # variant rules that produced that spelling
    context: str  # which context rule fired or failed
    accepted: bool
    mechanism: str = "alias"  # alias, variant rule, inflection, transliteration, role, context rule

    def __str__(self) -> str:
        verdict = "MATCH " if self.accepted else "reject"
        how = "+".join(self.rules) if self.rules else "as written"
        return (
            f"{verdict} {self.entity_id:<28} {self.text!r} [{self.start}:{self.end}]  by {self.mechanism}"
            f"  alias={self.alias!r} variant={self.variant!r} ({how})"
            + (f"  context: {self.context}" if self.context else "")
        )


# _Pattern and _Key are NamedTuples rather than frozen dataclasses: a 100,000-alias
# watchlist makes one of each per spelling, and a frozen dataclass's __init__
# (object.__setattr__ per field) was a tenth of the build time. Still immutable.
class _Pattern(NamedTuple):
    entity: int
    alias: str
    variant: str
    rules: tuple[str, ...]
    spec: AliasSpec | None = None  # None for role phrases
    cased: str | None = None  # case-sensitive aliases: the exact normalised form
    role: RoleSpec | None = None
    role_side: str = ""  # "before" | "after"
    requires: tuple[_Rule, ...] = ()  # spec.requires, compiled
    excludes: tuple[_Rule, ...] = ()  # spec.excludes or role.excludes, compiled
    place: bool = False  # a base's place name, counted next to a base word
    latin_only: bool = False  # a Cyrillic/Greek alias in Latin letters: only for the transliterated scan


class _Rule(NamedTuple):
    """A ContextRule ready for matching: window resolved, words already folded."""

    window: tuple[int, int] | None
    words: tuple[tuple[str, str], ...]  # (what to look for in the scan text, the word as written)
    entities: tuple[str, ...]


def _compile_rules(rules: list[ContextRule]) -> tuple[_Rule, ...]:
    return tuple(_Rule(rule.window, _needles(tuple(rule.words)), tuple(rule.entities)) for rule in rules)


@functools.lru_cache(maxsize=1024)
def _needles(words: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(what to look for, the word as written) for each word; Greek and Cyrillic words
    also in Latin letters, for the transliterated scan. Cached: big watchlists repeat lists."""
    found = []
    for word in words:
        needle = _word_needle(word)
        if needle:
            found.append((needle, word))
            latin = latin_spelling(needle, prefix=word.endswith("*")) if not needle.isascii() else needle
            if latin != needle:
                found.append((latin, word))
    return tuple(found)


class _Key(NamedTuple):
    length: int
    lpad: int
    rpad: int
    patterns: tuple[int, ...]
    open_end: bool = False  # no space on the right: a case ending may follow (inflection)
    latin_only: bool = False  # only in the transliterated scan (the transliteration of a Cyrillic alias)


@dataclass
class _Candidate:
    start: int  # in the padded scan string
    end: int
    pattern: int
    accepted: bool | None = None
    context: str = ""
    original: tuple[int, int] | None = None
    name_span: tuple[int, int] | None = None  # roles: the person's name in the original text
    ending: str = ""  # inflection: the case ending after the name


@dataclass(frozen=True)
class _Entity:
    id: str
    name: str
    implies: tuple[int, ...]


class Matcher:
    """Immutable after construction; see module docstring."""

    def __init__(
        self,
        entities: list[_Entity],
        patterns: list[_Pattern],
        automaton: ahocorasick.Automaton | None,
        endings: frozenset[str] = frozenset(),
        place_endings: frozenset[str] = frozenset(),
    ):
        self._entities = entities
        self._patterns = patterns
        self._automaton = automaton
        self._endings = endings
        # A base's place name takes these too (it needs a base word next to it anyway).
        self._place_endings = place_endings | endings
        self._index = {e.id: i for i, e in enumerate(entities)}

    # -- building -------------------------------------------------------------------------

    @classmethod
    def from_watchlist(cls, watchlist: Watchlist) -> Matcher:
        # The build allocates a few small objects per spelling (over a million for
        # 100,000 aliases) and none of them form cycles, yet each allocation burst
        # triggers the cyclic garbage collector, which then walks the whole growing
        # heap: about a third of the build time. Pause it for the build only.
        pause_gc = gc.isenabled()
        if pause_gc:
            gc.disable()
        try:
            return cls._build(watchlist)
        finally:
            if pause_gc:
                gc.enable()

    @classmethod
    def _build(cls, watchlist: Watchlist) -> Matcher:
        entities = [_Entity(e.id, e.name, ()) for e in watchlist.entities]
        index = {e.id: i for i, e in enumerate(entities)}
        entities = [
            _Entity(e.id, e.name, tuple(index[x] for x in e.implies if x in index)) for e in watchlist.entities
        ]
        patterns: list[_Pattern] = []
        keys: dict[str, list[int]] = {}

        def add(key: str, pattern: _Pattern) -> None:
            patterns.append(pattern)
            keys.setdefault(key, []).append(len(patterns) - 1)

        inflection = watchlist.inflection
        place_endings = watchlist.bases.place_endings if watchlist.bases is not None else []
        for ei, entity in enumerate(watchlist.entities):
            skip = set(entity.skip_variant_rules)
            rules = list(entity.variant_rules) + [r for r in watchlist.variant_rules if r.name not in skip]
            aliases = [(alias, False) for alias in entity.aliases] + [(place, True) for place in _places(entity, watchlist)]
            place_spellings: set[str] = set()  # places share one rule: each spelling once per entity
            for alias, place in aliases:
                # Case-sensitive aliases compare letters only, so "K-1" passes for "K1".
                cased = "".join(fold_cased(alias.text).split()) if alias.case_sensitive else None
                requires = _compile_rules(alias.requires) if alias.requires else ()
                excludes = _compile_rules(alias.excludes) if alias.excludes else ()
                inflects = _inflects(alias, entity, watchlist)
                variants = generate(alias, rules, watchlist.max_variants_per_alias, watchlist.max_changes_per_variant)
                if place:
                    variants = [v for v in variants if v.text not in place_spellings]
                    place_spellings.update(v.text for v in variants)
                # A place is guarded by its base word, so it takes endings whatever its length.
                min_letters = _PLACE_MIN_LETTERS if place and place_endings else inflection.min_letters
                inflects = inflects or bool(place and place_endings)
                for variant in variants:
                    pattern = _Pattern(
                        ei, alias.text, variant.text, variant.rules, alias, cased, None, "", requires, excludes, place
                    )
                    add(_key(variant.text, inflects, min_letters), pattern)
                    # A Greek or Cyrillic spelling is also searched in transliterated text,
                    # where its case endings are Latin letters too.
                    latin = latin_spelling(variant.text) if not variant.text.isascii() else variant.text
                    if latin != variant.text:
                        latin_pattern = pattern._replace(
                            variant=latin, rules=(*variant.rules, "transliteration"), latin_only=True
                        )
                        add(_key(latin, inflects, min_letters), latin_pattern)
            for role in entity.roles:
                role_excludes = _compile_rules(role.excludes)
                for side, phrases in (("before", role.before), ("after", role.after)):
                    seen: set[str] = set()
                    for phrase in phrases:
                        text = fold_phrase(phrase)
                        if text and text not in seen:  # "coalition's spokesman" = "coalition spokesman"
                            seen.add(text)
                            add(_pad(text), _Pattern(ei, phrase, text, (), None, None, role, side, (), role_excludes))

        automaton = None
        if keys:
            automaton = ahocorasick.Automaton()
            for key, pids in keys.items():
                lpad = 1 if key.startswith(" ") else 0
                rpad = 1 if key.endswith(" ") else 0
                open_end = not rpad and _takes_endings(key[-1:])
                latin_only = all(patterns[p].latin_only for p in pids)
                automaton.add_word(key, _Key(len(key), lpad, rpad, tuple(pids), open_end, latin_only))
            automaton.make_automaton()
        endings = frozenset(fold_phrase(e) for e in inflection.endings) if inflection.enabled else frozenset()
        return cls(entities, patterns, automaton, endings, frozenset(fold_phrase(e) for e in place_endings))

    @property
    def scan_keys(self) -> list[str]:
        """The folded strings the Aho-Corasick scan looks for (every alias and variant)."""
        return list(self._automaton.keys()) if self._automaton is not None else []

    # -- matching -------------------------------------------------------------------------

    def match(self, text: str) -> list[EntityMatch]:
        """Entities mentioned in `text`, ordered by their first mention."""
        return self._run(text, explain=False)[0]

    def explain(self, text: str) -> list[Explanation]:
        """Every candidate mention with its alias, variant rules, context decision."""
        return self._run(text, explain=True)[1]

    def _run(self, text: str, explain: bool) -> tuple[list[EntityMatch], list[Explanation]]:
        if not isinstance(text, str) or not text or self._automaton is None:
            return [], []
        cased, scan, offsets = fold_for_scan(text)
        mapper = _Mapper(offsets)
        candidates = self._candidates(scan, cased)
        passes: list[tuple[list[_Candidate], str, _Mapper, str]] = []
        # Only texts the fold could not give a one-script code page may hold
        # Chinese or Japanese; only those and Greek/Cyrillic pages, Greek or Cyrillic words.
        path = offsets.path
        if path == "other":
            blanked = _blank_nospace_scripts(scan)
            if blanked is not None:
                candidates = self._merge_blanked(candidates, self._candidates(blanked, cased))
        if path in ("cyrillic", "greek", "hebrew", "other"):
            latin = transliterate(scan)
            if latin is not None:
                found = [c for c in self._candidates(latin.text, None, transliterated=True) if latin.covers(c.start, c.end)]
                if found:
                    passes.append((found, latin.text, _TransliteratedMapper(latin, mapper), "transliteration"))
        if candidates:
            passes.insert(0, (candidates, scan, mapper, ""))
        if not passes:
            return [], []

        explanations: list[Explanation] = []
        by_entity: dict[int, dict[tuple[int, int], Mention]] = {}
        for found, scanned, where, how in passes:
            self._decide(scanned, found, where)
            role_hits = {(c.start, c.end) for c in found if c.accepted and self._patterns[c.pattern].role is not None}
            for cand in found:
                pattern = self._patterns[cand.pattern]
                if cand.accepted or explain:
                    if cand.original is None:
                        cand.original = where.span(cand.start, cand.end)
                if cand.accepted or explain:
                    mechanism, rule = _mechanism(pattern, cand, how)
                if cand.accepted:
                    assert cand.original is not None  # mapped just above
                    start, end = cand.name_span or cand.original
                    mention = Mention(text[start:end], start, end, pattern.alias, rule)
                    for entity in (pattern.entity, *self._entities[pattern.entity].implies):
                        if entity != pattern.entity:
                            implied = f"implied: {self._entities[pattern.entity].id}"
                            mention = Mention(mention.text, start, end, pattern.alias, implied)
                        by_entity.setdefault(entity, {}).setdefault((start, end), mention)
                if explain and not (pattern.role is not None and not cand.accepted and (cand.start, cand.end) in role_hits):
                    assert cand.original is not None  # mapped just above
                    start, end = cand.original
                    explanations.append(
                        Explanation(
                            self._entities[pattern.entity].id,
                            text[start:end],
                            start,
                            end,
                            pattern.alias,
                            pattern.variant,
                            pattern.rules + ((f"-{cand.ending}",) if cand.ending else ()),
                            cand.context,
                            bool(cand.accepted),
                            mechanism,
                        )
                    )

        matches = []
        for entity, mentions in by_entity.items():
            kept = _drop_nested(sorted(mentions.values(), key=lambda m: (m.start, -m.end)))
            info = self._entities[entity]
            matches.append(EntityMatch(info.id, info.name, tuple(kept)))
        matches.sort(key=lambda m: (m.mentions[0].start, m.entity_id))
        explanations.sort(key=lambda x: (x.start, x.entity_id))
        return matches, explanations

    def _candidates(self, scan: str, cased: str | None, transliterated: bool = False) -> list[_Candidate]:
        """Alias variants and role phrases in `scan` (`cased`: None in transliterated text: no acronyms)."""
        found = []
        patterns = self._patterns
        assert self._automaton is not None  # built in __init__
        for last, key in self._automaton.iter(scan):
            if key.latin_only and not transliterated:
                continue
            start = last - key.length + 1 + key.lpad
            end = last + 1 - key.rpad
            ending = ""
            if key.open_end and scan[end] != " ":
                # A case ending: the rest of the word must be one of the watchlist's endings.
                stop = scan.find(" ", end)
                ending = scan[end:stop]
                if ending not in self._place_endings:
                    continue
                end = stop
            for pid in key.patterns:
                pattern = patterns[pid]
                if ending and not pattern.place and ending not in self._endings:
                    continue
                want = pattern.cased
                if want is not None:
                    # scan = " " + lower; cased is aligned with lower, one to the left
                    if cased is None or cased[start - 1 : end - 1].replace(" ", "") != want:
                        continue
                elif pattern.latin_only and not transliterated:
                    continue
                found.append(_Candidate(start, end, pid, ending=ending))
        found.sort(key=lambda c: (c.start, -c.end))
        return found

    def _merge_blanked(self, candidates: list[_Candidate], blanked: list[_Candidate]) -> list[_Candidate]:
        """Add what the scan with Chinese/Japanese characters blanked found (Latin words glued to them)."""
        seen = {(c.start, c.end, c.pattern) for c in candidates}
        new = [c for c in blanked if (c.start, c.end, c.pattern) not in seen]
        if not new:
            return candidates
        return sorted(candidates + new, key=lambda c: (c.start, -c.end))

    def _decide(self, scan: str, candidates: list[_Candidate], mapper: _Mapper) -> None:
        accepted_at: dict[int, list[tuple[int, int]]] = {}
        windows: dict[tuple[int, int, tuple[int, int]], tuple[int, int, str]] = {}

        def accept(cand: _Candidate) -> None:
            cand.accepted = True
            accepted_at.setdefault(self._patterns[cand.pattern].entity, []).append((cand.start, cand.end))

        pending = []
        for cand in candidates:
            pattern = self._patterns[cand.pattern]
            if pattern.role is not None:
                continue
            veto = _first_hit(scan, cand, pattern.excludes, accepted_at, self._index, windows)
            if veto:
                cand.accepted, cand.context = False, f"excluded by {veto}"
            elif not pattern.requires:
                accept(cand)
            else:
                pending.append(cand)

        # Weak aliases: word rules decide at once; rules naming entities may need the
        # entities accepted in an earlier round, so repeat until nothing changes.
        for _ in range(3):
            changed = False
            for cand in pending:
                if cand.accepted is not None:
                    continue
                pattern = self._patterns[cand.pattern]
                reasons = []
                for rule in pattern.requires:
                    reason = _first_hit(scan, cand, (rule,), accepted_at, self._index, windows)
                    if not reason:
                        # Every rule must hold: no need to look at the others. A rule
                        # without entities will not hold in a later round either.
                        if not rule.entities:
                            cand.accepted, cand.context = False, "required context not found"
                        break
                    reasons.append(reason)
                else:
                    veto = _first_hit(scan, cand, pattern.excludes, accepted_at, self._index, windows)
                    if veto:
                        cand.accepted, cand.context = False, f"excluded by {veto}"
                    else:
                        cand.context = "requires " + ", ".join(reasons)
                        accept(cand)
                    changed = True
            if not changed:
                break
        for cand in pending:
            if cand.accepted is None:
                cand.accepted = False
                cand.context = "required context not found"

        for cand in candidates:
            pattern = self._patterns[cand.pattern]
            if pattern.role is None:
                continue
            veto = _first_hit(scan, cand, pattern.excludes, accepted_at, self._index, windows)
            if veto:
                cand.accepted, cand.context = False, f"excluded by {veto}"
                continue
            cand.original = mapper.span(cand.start, cand.end)
            name = _role_name(mapper.text, cand.original, pattern.role_side)
            if name is None:
                cand.accepted, cand.context = False, "no capitalised name next to the role phrase"
            else:
                cand.name_span = name
                cand.context = f"role {pattern.role_side} name {mapper.text[name[0]:name[1]]!r}"
                accept(cand)


# -- helpers ----------------------------------------------------------------------------------


def _pad(text: str) -> str:
    """Whole-word key: spaces around it unless that edge is in a script without spaces."""
    if text.isascii():  # the common case, decided without looking up scripts
        return f" {text} "
    left = "" if script_of(text[0]) == "nospace" else " "
    right = "" if script_of(text[-1]) == "nospace" else " "
    return left + text + right


# Place names take endings from this length on (Taji, Qaim: "Tajiyê", "Qaimê").
_PLACE_MIN_LETTERS = 3


def _key(variant: str, inflects: bool, min_letters: int) -> str:
    """The automaton key of a spelling: padded, but open on the right where a case ending may follow."""
    if inflects and _takes_endings(variant[-1:]):
        last_word = variant.rsplit(" ", 1)[-1]
        # Arabic script leaves short vowels out: قودس is "Quds", one letter less.
        if not last_word[-1].isascii():
            min_letters -= 1
        if sum(c.isalpha() for c in last_word) >= min_letters:
            return " " + variant
    return _pad(variant)


def _takes_endings(last: str) -> bool:
    """Whether a name ending in this letter may take a glued ending: Latin letters (case
    endings, also of transliterated Cyrillic/Greek) and Arabic-script letters (Kurdish Sorani
    glues its article, izafe and plural to names: حەشدی شەعبییەکان). Hebrew and Chinese: no."""
    if last.isascii():
        return last.isalpha()
    return last.isalpha() and script_of(last) == "arabic"


def _inflects(alias: AliasSpec, entity: Entity, watchlist: Watchlist) -> bool:
    """Whether case endings may follow this alias: its switch, else its entity's, else the watchlist's."""
    if alias.case_sensitive or not watchlist.inflection.endings:
        return False
    for switch in (alias.inflection, entity.inflection, watchlist.inflection.enabled):
        if switch is not None:
            return switch
    return False


def _places(entity: Entity, watchlist: Watchlist) -> list[AliasSpec]:
    """A base's place names as weak aliases: next to a base word, not next to a town word."""
    bases = watchlist.bases
    if bases is None or not entity.places:
        return []
    near_base = ContextRule(words=bases.words, before=bases.before, after=bases.after)
    return [AliasSpec(text=place, requires=[near_base], excludes=bases.excludes) for place in entity.places]


# Chinese, Japanese (and Thai): no spaces between words.
_NOSPACE_SCRIPTS = re.compile("[\u0e00-\u0eff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")


_NOSPACE = "\u0e00-\u0eff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# A Latin or Arabic-script letter or digit touching one of those characters.
_GLUED = re.compile(f"[^\\s{_NOSPACE}][{_NOSPACE}]|[{_NOSPACE}][^\\s{_NOSPACE}]")


def _blank_nospace_scripts(scan: str) -> str | None:
    """`scan` with the characters of scripts written without spaces made spaces (same length),
    or None when no other word touches them (then the first scan saw every word already)."""
    if _GLUED.search(scan) is None:
        return None
    return _NOSPACE_SCRIPTS.sub(" ", scan)


def _mechanism(pattern: _Pattern, cand: _Candidate, how: str) -> tuple[str, str]:
    """(the mechanism that found a candidate, the Mention.rule label with its details)."""
    details = []
    if pattern.role is not None:
        mechanism = "role"
        details.append(pattern.role_side)
    elif pattern.place:
        mechanism = "context rule"
        details.append("place next to a base word")
    elif how:
        mechanism = how
    elif cand.ending:
        mechanism = "inflection"
    elif pattern.rules:
        mechanism = "variant rule"
    elif pattern.cased is not None:
        mechanism = "alias"
        details.append("acronym")
    else:
        mechanism = "alias"
    if cand.ending and mechanism != "inflection":
        details.append(f"inflection -{cand.ending}")
    elif cand.ending:
        details.append(f"-{cand.ending}")
    rules = [r for r in pattern.rules if r != "transliteration"]
    if rules and mechanism != "role":
        details.append(("variant rule " if mechanism != "variant rule" else "") + "+".join(rules))
    if cand.context and pattern.role is None:
        details.append(cand.context)
    return mechanism, mechanism + (": " + "; ".join(details) if details else "")


def _drop_nested(mentions: list[Mention]) -> list[Mention]:
    """Within one entity, "Al Asad" inside "Ain al-Asad" is the same mention: keep the longer."""
    kept: list[Mention] = []
    for m in mentions:
        if kept and kept[-1].start <= m.start and m.end <= kept[-1].end:
            continue
        kept.append(m)
    return kept


@functools.lru_cache(maxsize=512)
def _n_words(count: int) -> re.Pattern[str]:
    # Possessive quantifiers: a word is never split in two to make up the count.
    return re.compile(f"(?: *+[^ ]++){{{count}}}")


def _words_left(scan: str, pos: int, count: int) -> int:
    """Start of the `count`-th word left of `pos` (0 if there are fewer)."""
    # One regex match on the reversed neighbourhood instead of a Python loop per
    # word; the loop below is the definition, and the fallback for long words.
    lo = max(0, pos - 24 * (count + 1))
    found = _n_words(count).match(scan[lo:pos][::-1])
    if found and (lo == 0 or found.end() < pos - lo):
        return pos - found.end()
    if not found and lo == 0:
        return 0
    for _ in range(count):
        while pos > 0 and scan[pos - 1] == " ":
            pos -= 1
        if pos == 0:
            break
        pos = scan.rfind(" ", 0, pos) + 1
    return pos


def _words_right(scan: str, pos: int, count: int) -> int:
    """End of the `count`-th word right of `pos` (the end of `scan` if there are fewer)."""
    found = _n_words(count).match(scan, pos)
    return found.end() if found else len(scan)


@functools.lru_cache(maxsize=4096)
def _word_needle(word: str) -> str:
    """What a context word looks like in the padded scan text ('' = never matches).

    Computed when the matcher is built (folding the words again for every
    candidate was a tenth of the matching cost); cached because big watchlists
    repeat the same context words.
    """
    needle = fold_phrase(word.rstrip("*"))
    if not needle:
        return ""
    # Chinese and Japanese words have no spaces around them. Hebrew glues its
    # prepositions and article to the next word (לבסיס, מהבסיס, בעיר): a Hebrew
    # context word of 4+ letters may have letters before it; shorter ones list theirs.
    first = script_of(needle[0])
    left = "" if first == "nospace" or (first == "hebrew" and len(needle.split(" ", 1)[0]) >= 4) else " "
    right = "" if word.endswith("*") or script_of(needle[-1]) == "nospace" else " "
    return left + needle + right


def _window(scan: str, start: int, end: int, window: tuple[int, int]) -> tuple[int, int, str]:
    """(left, right, haystack): the words around scan[start:end] that a context rule looks at."""
    # A leading article ("the town of al-Qaim") is part of the name, not a context word.
    before = scan[max(0, start - 4) : start]
    extra = 1 if before in (" al ", " el ") or before.endswith(" ال") else 0
    left = _words_left(scan, start, window[0] + extra)
    right = _words_right(scan, end, window[1])
    # "\x00" marks where the mention was, so no phrase spans it.
    haystack = " " + " ".join(scan[left:start].split()) + " \x00 " + " ".join(scan[end:right].split()) + " "
    return left, right, haystack


def _first_hit(
    scan: str,
    cand: _Candidate,
    rules: tuple[_Rule, ...],
    accepted_at: dict[int, list[tuple[int, int]]],
    index: dict[str, int],
    windows: dict[tuple[int, int, tuple[int, int]], tuple[int, int, str]],
) -> str:
    """Description of the first rule word/entity found around the candidate, or ''.

    `windows`: `_window` results for this scan text, filled as they are needed.
    """
    for rule in rules:
        window = rule.window
        if window is None:
            left, right = 0, len(scan)
            haystack = scan
        else:
            # Computed once per place and window: candidates at the same place
            # (several patterns, the rounds of _decide) share them. Building the
            # window was two thirds of the time spent on context rules.
            key = (cand.start, cand.end, window)
            found = windows.get(key)
            if found is None:
                found = windows[key] = _window(scan, cand.start, cand.end, window)
            left, right, haystack = found
        for needle, word in rule.words:
            if needle in haystack:
                return f"word {word!r}" + (" in document" if window is None else "")
        for ref in rule.entities:
            for start, end in accepted_at.get(index.get(ref, -1), ()):
                if (start, end) != (cand.start, cand.end) and left <= start and end <= right:
                    return f"entity {ref}" + (" in document" if window is None else " nearby")
    return ""


class _Mapper:
    """Maps positions in the padded scan text (" " + normalised + " ") back to the original text."""

    def __init__(self, offsets: Offsets):
        self.text = offsets.text
        self._offsets = offsets

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original (start, end) of the scan slice [start, end)."""
        s, e = self._offsets.span(start - 1, end - 1)
        # Keep combining accents that belong to the last letter.
        while e < len(self.text) and unicodedata.category(self.text[e]).startswith("M"):
            e += 1
        return s, max(e, s)


class _TransliteratedMapper(_Mapper):
    """The same, for the transliterated copy of the scan text: through its word map first."""

    def __init__(self, latin: Transliteration, scan_mapper: _Mapper):
        self.text = scan_mapper.text
        self._latin = latin
        self._scan = scan_mapper

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self._scan.span(self._latin.source(start), self._latin.source_end(end))


# Ranks, titles and articles that may stand between a role phrase and the name,
# in the languages of the role phrases (compared lower case, without a final dot).
_TITLES = frozenset(
    """col colonel lt lieutenant maj major gen general brig brigadier capt captain cmdr commander
    cdr sgt sergeant adm admiral rear vice army navy air force marine marines us u s usa american
    british mr ms mrs dr staff master chief petty officer the a an spokesman spokeswoman
    spokesperson oberst oberstleutnant general major kapitän coronel teniente comandante colonel-major
    le la l' el il lo o der die den de het général lieutenant-colonel colonnello generale tenente
    pułkownik płk ppłk generał kolonel luitenant-kolonel albay yarbay ezredes alezredes
    полковник подполковник генерал полковника συνταγματάρχης στρατηγός ο jenderal letkol""".split()
)
_WORD = re.compile(r"[^\W\d_][\w'’.\-]*")
# Scripts without capital letters: the name follows a rank, or stands between commas.
_UNCASED_RANKS = frozenset(
    """العقيد الكولونيل العميد اللواء الجنرال المقدم الرائد النقيب سرهنگ ژنرال سرتیپ کلنل کرنل
    קולונל הקולונל אל"מ סא"ל תא"ל""".split()
)
# Words that end a name in those scripts (said, that, in, on, from, the day...).
_UNCASED_STOPS = frozenset(
    """في إن ان أن قال وقال يوم عن على الى إلى من ما لم لن قد بأن أمس اليوم كان ذلك هذا التي الذي
    در که گفت از به را با این آن است شد کرد אמר כי את של על ב""".split()
)
_UNCASED_WORD = re.compile(r"(?:[^\W\d_]|[\u0591-\u05c7\u064b-\u065f\u0670\"\u05f3\u05f4])+")  # letters, marks, geresh


def _uncased_name(text: str, span: tuple[int, int], side: str) -> tuple[int, int] | None:
    """The name next to a role phrase in Arabic-script or Hebrew text (no capitals to go by).

    After the phrase: a rank and up to three words, or up to three words set
    off by a comma ("المتحدث باسم التحالف، واين ماروتو،"). Before it ("<name>،
    المتحدث باسم التحالف"): two or three words between a stop and the comma.
    """
    if side == "before":
        window = text[span[1] : span[1] + 120]
        words = list(_UNCASED_WORD.finditer(window))
        if not words:
            return None
        ranked = words[0].group() in _UNCASED_RANKS
        lead = window[: words[0].start()].strip()
        if ranked:
            words = words[1:]
        elif lead not in ("،", ","):
            return None
        name: list[re.Match[str]] = []
        for word in words[:3]:
            if name and window[name[-1].end() : word.start()].strip():
                break  # punctuation ends the name
            if word.group() in _UNCASED_STOPS or word.group() in _UNCASED_RANKS:
                break
            name.append(word)
        if len(name) < (1 if ranked else 2):
            return None
        return span[1] + name[0].start(), span[1] + name[-1].end()
    lo = max(0, span[0] - 120)
    tail = text[lo : span[0]].rstrip()
    if not tail.endswith(("،", ",")):
        return None
    words = list(_UNCASED_WORD.finditer(tail[:-1]))
    name = []
    for word in reversed(words[-3:]):
        if word.group() in _UNCASED_STOPS or (name and tail[word.end() : name[-1].start()].strip()):
            break
        name.append(word)
    if len(name) < 2:
        return None
    return lo + name[-1].start(), lo + name[0].end()


def _role_name(text: str, span: tuple[int, int], side: str) -> tuple[int, int] | None:
    """The capitalised name after ("before" phrase) or before ("after" phrase) a role phrase."""
    phrase = text[span[0] : span[1]]
    if phrase and script_of(phrase.strip()[-1]) in ("arabic", "hebrew"):
        return _uncased_name(text, span, side)
    if side == "before":
        window = text[span[1] : span[1] + 120]
        base = span[1]
        words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(window)]
        if not words or window[: words[0][0]].strip(" ,:\u00a0") not in ("",):
            return None
    else:
        lo = max(0, span[0] - 120)
        window = text[lo : span[0]]
        base = lo
        tail = window.rstrip()
        # "<Name>, a spokesman for the coalition" / "<Name>, the coalition spokesman"
        for article in (" a", " an", " the", " le", " la", " el", " der", " die", " il", " o", " de", " het", " ο"):
            if tail.lower().endswith(article):
                tail = tail[: -len(article)].rstrip()
                break
        if not tail.endswith(","):
            return None
        words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(tail[:-1])]
        words.reverse()
    name: list[tuple[int, int]] = []
    titles = 0
    prev_end = None
    for start, end, word in words:
        if prev_end is not None:
            gap = window[prev_end:start] if side == "before" else window[end:prev_end]
            if gap.strip() not in ("", "."):
                break  # punctuation ends the name
        key = word.rstrip(".").lower()
        if not name and key in _TITLES:
            titles += 1
            prev_end = end if side == "before" else start
            continue
        is_name = word[0].isupper() and not word.isupper() or (len(word.rstrip(".")) <= 3 and word[0].isupper())
        if not is_name or key in _TITLES:
            break
        name.append((start, end))
        prev_end = end if side == "before" else start
        if len(name) == 4:
            break
    if len(name) < 2 and not (titles and name):
        return None
    if side == "after":
        name.reverse()
    start, end = name[0][0], name[-1][1]
    while end > start and text[base + end - 1] in ".,’'":
        end -= 1
    return base + start, base + end
