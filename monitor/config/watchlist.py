"""The watchlist: which entities we track, how they are written, and when a weak alias counts.

`config/watchlist.yaml` is edited by analysts, so every mistake must come back as
one clear `file:line: field: message` line (via `monitor.yamlfile.load_model`),
never as a traceback. The model is pure data; `monitor.match` turns it into a
matcher.

Shape (see config/watchlist.yaml for a commented example):

    inflection: {endings: [s, t, nak, u, a, ...], min_letters: 5}   # case endings after names
    bases: {words: [air base, قاعدة, ...], excludes: {words: [city], within: 2}}
    variant_rules:                 # transliteration rules applied to every alias
      - name: q-k
        alternatives: [q, k]
        where: word-start
    entities:
      - id: k1-airbase
        name: K1 Air Base
        aliases:
          - K1 air base            # plain string: strong alias, variants generated
          - text: Kirkuk           # mapping: weak alias with context rules
            variants: false
            requires: {words: [base, air base, airbase, K1], within: 4}
        places: [Kirkuk, كركوك]     # the base named by its place, next to a base word
        inflection: false          # no case endings after this entity's names
        priority: immediate        # or digest: collected, sent at monitor.yaml's digest.at times
        urgent: false              # true: passes subscribers' quiet hours
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from monitor.config.yamlfile import ConfigError, StrictModel, problem_at, read_yaml, validate_model

_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_RULE_NAME = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")


def _clean_text(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"{what} must not be empty")
    if len(value) > 200:
        raise ValueError(f"{what} is longer than 200 characters")
    if any(ch in value for ch in "\n\r\t"):
        raise ValueError(f"{what} must be on one line")
    return value


class ContextRule(StrictModel):
    """Words (or entities) that must / must not occur near a mention.

    The rule holds when ANY listed word or entity occurs in the window. A window
    is `within` words on both sides of the mention, or `before`/`after` words on
    one side only, or the whole document with `anywhere: true`. A word ending in
    `*` matches as a prefix ("militi*" matches "militia", "militias").
    """

    words: list[str] = Field(default_factory=list)
    entities: list[str] = Field(default_factory=list)
    within: int = Field(default=5, ge=0, le=200)
    before: int | None = Field(default=None, ge=0, le=200)
    after: int | None = Field(default=None, ge=0, le=200)
    anywhere: bool = False
    note: str | None = None

    @field_validator("words", mode="before")
    @classmethod
    def _numbers_are_words(cls, words: object) -> object:
        # YAML reads `2003` as a number; as a context word it is text.
        if isinstance(words, list):
            return [str(w) if isinstance(w, (int, float)) and not isinstance(w, bool) else w for w in words]
        return words

    @field_validator("words")
    @classmethod
    def _words_not_empty(cls, words: list[str]) -> list[str]:
        cleaned = [_clean_text(w, "a context word") for w in words]
        for w in cleaned:
            if w.strip("*") == "":
                raise ValueError("a context word must have letters, not only '*'")
            if "*" in w[:-1]:
                raise ValueError(f"'*' is only allowed at the end of a context word (got {w!r})")
        return cleaned

    @model_validator(mode="after")
    def _has_something(self) -> ContextRule:
        if not self.words and not self.entities:
            raise ValueError("a context rule needs at least one of 'words' or 'entities'")
        return self

    @property
    def window(self) -> tuple[int, int] | None:
        """(words before, words after), or None for the whole document."""
        if self.anywhere:
            return None
        before = self.within if self.before is None else self.before
        after = self.within if self.after is None else self.after
        if self.before is not None and self.after is None:
            after = 0
        if self.after is not None and self.before is None:
            before = 0
        return before, after


class AliasSpec(StrictModel):
    """One way of writing an entity. A bare string in YAML is `{text: ...}`."""

    text: str
    case_sensitive: bool = False  # acronyms such as IS, SDF, KH: only in this exact case
    variants: bool = True  # False: match only this spelling (after normalisation)
    requires: list[ContextRule] = Field(default_factory=list)  # all must hold
    excludes: list[ContextRule] = Field(default_factory=list)  # any one vetoes
    # A case ending may follow the name (Hungarian "Szulejmánit", Polish "Hezbollahu");
    # None: as the entity / the watchlist's `inflection` says.
    inflection: bool | None = None
    note: str | None = None

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        return _clean_text(value, "an alias")

    @field_validator("requires", "excludes", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        # Allow `requires: {words: [...]}` as shorthand for a one-item list.
        return [value] if isinstance(value, dict) else value

    @property
    def weak(self) -> bool:
        return bool(self.requires)


class VariantRule(StrictModel):
    """Spellings that news writers swap freely, e.g. [q, k, g] or [ou, u, o].

    Every occurrence of one alternative in an alias may be replaced by any other
    alternative, at most `max_changes` substitutions per generated variant.
    """

    name: str
    alternatives: list[str] = Field(default_factory=list)
    # letters whose single and double spellings are interchangeable between
    # vowels (Qasem/Qassem, Qayarah/Qayyarah); an alternative to `alternatives`
    double: str = ""
    where: Literal["anywhere", "word-start", "word-end", "word", "between-vowels"] = "anywhere"
    note: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> VariantRule:
        if bool(self.alternatives) == bool(self.double):
            raise ValueError("a variant rule needs either 'alternatives' (2 or more) or 'double' (letters)")
        if self.alternatives and len(self.alternatives) < 2:
            raise ValueError("a variant rule needs at least 2 alternatives")
        return self

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _RULE_NAME.match(value):
            raise ValueError("rule names use lower-case letters, digits and '-' (e.g. q-k-g)")
        return value

    @field_validator("alternatives")
    @classmethod
    def _alternatives(cls, values: list[str]) -> list[str]:
        # "" is allowed (a letter that may be dropped) but not twice.
        if not values:
            return values
        if len(set(values)) != len(values):
            raise ValueError("alternatives must be different from each other")
        if all(v == "" for v in values):
            raise ValueError("alternatives must not all be empty")
        for v in values:
            if len(v) > 40 or "\n" in v:
                raise ValueError(f"alternative {v!r} is too long or spans lines")
        return values


class RoleSpec(StrictModel):
    """A role phrase next to a person's name marks the entity for that name.

    `before`: "<phrase> <Name>" ("coalition spokesman Col. Wayne Marotto").
    `after`:  "<Name>, <phrase>" ("Wayne Marotto, a coalition spokesman").
    The name must be capitalised words (after optional ranks such as Col.).
    """

    before: list[str] = Field(default_factory=list)
    after: list[str] = Field(default_factory=list)
    excludes: list[ContextRule] = Field(default_factory=list)
    note: str | None = None

    @field_validator("before", "after")
    @classmethod
    def _phrases(cls, values: list[str]) -> list[str]:
        return [_clean_text(v, "a role phrase") for v in values]

    @field_validator("excludes", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _has_phrases(self) -> RoleSpec:
        if not self.before and not self.after:
            raise ValueError("a role needs 'before' or 'after' phrases")
        return self


class Entity(StrictModel):
    id: str
    name: str
    description: str | None = None
    aliases: list[AliasSpec] = Field(default_factory=list)
    variant_rules: list[VariantRule] = Field(default_factory=list)  # only for this entity
    skip_variant_rules: list[str] = Field(default_factory=list)  # global rules not to apply here
    roles: list[RoleSpec] = Field(default_factory=list)
    implies: list[str] = Field(default_factory=list)  # e.g. myles-caggins implies coalition-spokesperson
    inflection: bool | None = None  # None: as the watchlist's `inflection` says; an alias may say otherwise
    # A base named by the place it lies in: each place counts next to a base word
    # of the watchlist's `bases` rule ("Kirkuk air base", "قاعدة كركوك الجوية").
    places: list[str] = Field(default_factory=list)
    # How its alerts go out: at once, or collected into the digest sent at the times of
    # monitor.yaml's `digest.at` (a subscriber may choose otherwise with /priority).
    priority: Literal["immediate", "digest"] = "immediate"
    # Passes every subscriber's quiet hours (only for immediate entities).
    urgent: bool = False

    @field_validator("places")
    @classmethod
    def _places(cls, values: list[str]) -> list[str]:
        return [_clean_text(v, "a place") for v in values]

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("ids use lower-case letters, digits and single '-' (e.g. k1-airbase)")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _clean_text(value, "a name")

    @field_validator("aliases", mode="before")
    @classmethod
    def _plain_strings(cls, values: object) -> object:
        if isinstance(values, list):
            return [{"text": v} if isinstance(v, str) else v for v in values]
        return values

    @model_validator(mode="after")
    def _urgent_is_immediate(self) -> Entity:
        if self.urgent and self.priority == "digest":
            raise ValueError("urgent: true needs priority: immediate (a digest entity waits for the digest anyway)")
        return self

    @model_validator(mode="after")
    def _unique_aliases(self) -> Entity:
        if not self.aliases and not self.roles and not self.places:
            raise ValueError("an entity needs at least one alias, role or place")
        seen: set[tuple[str, bool]] = set()
        for alias in self.aliases:
            key = (alias.text if alias.case_sensitive else alias.text.casefold(), alias.case_sensitive)
            if key in seen:
                raise ValueError(f"alias {alias.text!r} is listed twice")
            seen.add(key)
        return self


class InflectionRule(StrictModel):
    """Case endings that may follow a name written as one word with it.

    Languages that decline names glue the ending on (Hungarian "Szulejmánit",
    Polish "Hezbollahu", Finnish "Soleimanin", Russian "Мухандиса" once
    transliterated, German genitive "Soleimanis"; Turkish after an apostrophe
    is a word break already). An alias takes them when its last word has at
    least `min_letters` letters and it is not case-sensitive; an entity or an
    alias may switch it off (`inflection: false`) or on.
    """

    enabled: bool = True
    endings: list[str] = Field(default_factory=list)
    min_letters: int = Field(default=5, ge=3, le=20)
    note: str | None = None

    @field_validator("endings")
    @classmethod
    def _endings(cls, values: list[str]) -> list[str]:
        cleaned = [_clean_text(v, "an ending") for v in values]
        for v in cleaned:
            if len(v) > 6 or not v.isalpha():
                raise ValueError(f"an ending is 1-6 letters (got {v!r})")
        return cleaned


class BaseRule(StrictModel):
    """When a place name means the base there: a base word next to it, no town word.

    `words`: base words of each language ("air base", "base aérienne", "قاعدة");
    `before`/`after`: how many words away they may stand; `excludes`: words
    that make it the town ("city", "province", "مدينة"). `place_endings`:
    endings a place name may take glued on, besides the inflection endings and
    whatever its length, since a base word must stand next to it anyway
    (Kurmanji izafe and oblique: "Bingeha Tajiyê", "Baregeha Qaimê").
    """

    words: list[str] = Field(default_factory=list)
    before: int = Field(default=3, ge=0, le=20)
    after: int = Field(default=2, ge=0, le=20)
    excludes: list[ContextRule] = Field(default_factory=list)
    place_endings: list[str] = Field(default_factory=list)
    note: str | None = None

    @field_validator("place_endings")
    @classmethod
    def _place_endings(cls, values: list[str]) -> list[str]:
        return InflectionRule(endings=values).endings

    @field_validator("words")
    @classmethod
    def _words(cls, words: list[str]) -> list[str]:
        return ContextRule(words=words).words

    @field_validator("excludes", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, dict) else value


class Watchlist(StrictModel):
    version: int = 1
    max_variants_per_alias: int = Field(default=200, ge=1, le=5000)
    max_changes_per_variant: int = Field(default=3, ge=0, le=6)
    variant_rules: list[VariantRule] = Field(default_factory=list)
    inflection: InflectionRule = Field(default_factory=lambda: InflectionRule(enabled=False))
    bases: BaseRule | None = None
    entities: list[Entity] = Field(default_factory=list)

    @model_validator(mode="after")
    def _places_need_bases(self) -> Watchlist:
        if self.bases is None and any(e.places for e in self.entities):
            raise ValueError("entities list 'places' but the watchlist has no 'bases' rule (base words)")
        return self

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Watchlist:
        # load_watchlist runs these checks itself to report the exact line.
        if not (info.context or {}).get("defer_cross_checks"):
            problems = cross_check(self)
            if problems:
                raise ValueError(problems[0][1])
        return self

    def entity(self, entity_id: str) -> Entity | None:
        return next((e for e in self.entities if e.id == entity_id), None)


def cross_check(watchlist: Watchlist) -> list[tuple[tuple, str]]:
    """Checks that need the whole file: duplicate ids, references to unknown entities/rules.

    Returns (location, message) pairs; the location is a pydantic-style path.
    """
    problems: list[tuple[tuple, str]] = []
    seen: dict[str, int] = {}
    for i, entity in enumerate(watchlist.entities):
        if entity.id in seen:
            problems.append((("entities", i, "id"), f"duplicate entity id {entity.id!r} (first used by entities[{seen[entity.id]}])"))
        seen.setdefault(entity.id, i)
    global_rules: set[str] = set()
    for i, rule in enumerate(watchlist.variant_rules):
        if rule.name in global_rules:
            problems.append((("variant_rules", i, "name"), f"duplicate variant rule name {rule.name!r}"))
        global_rules.add(rule.name)
    for i, entity in enumerate(watchlist.entities):
        for j, ref in enumerate(entity.implies):
            if ref not in seen:
                problems.append((("entities", i, "implies", j), f"unknown entity id {ref!r}"))
            elif ref == entity.id:
                problems.append((("entities", i, "implies", j), "an entity cannot imply itself"))
        for j, name in enumerate(entity.skip_variant_rules):
            if name not in global_rules:
                problems.append((("entities", i, "skip_variant_rules", j), f"unknown variant rule {name!r}"))
        for j, alias in enumerate(entity.aliases):
            for kind in ("requires", "excludes"):
                for k, context in enumerate(getattr(alias, kind)):
                    for n, ref in enumerate(context.entities):
                        if ref not in seen:
                            problems.append(
                                (("entities", i, "aliases", j, kind, k, "entities", n), f"unknown entity id {ref!r}")
                            )
        for j, role in enumerate(entity.roles):
            for k, context in enumerate(role.excludes):
                for n, ref in enumerate(context.entities):
                    if ref not in seen:
                        problems.append((("entities", i, "roles", j, "excludes", k, "entities", n), f"unknown entity id {ref!r}"))
    return problems


def load_watchlist(path: Path) -> Watchlist:
    """Read and validate a watchlist file; raise ConfigError naming file, line and field."""
    path = Path(path)
    data = read_yaml(path)
    watchlist = validate_model(Watchlist, data, path, context={"defer_cross_checks": True})
    problems = cross_check(watchlist)
    if problems:
        raise ConfigError([problem_at(str(path), data, loc, msg) for loc, msg in problems])
    return watchlist

