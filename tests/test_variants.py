"""Variant generation: transliteration rules, the Arabic article, digits, proclitics, bounds."""

from __future__ import annotations

from monitor.match.variants import generate, proclitic_forms
from monitor.config.watchlist import AliasSpec, VariantRule


def texts(alias: str, rules: list[VariantRule] | None = None, **kw) -> set[str]:
    return {v.text for v in generate(AliasSpec(text=alias, **kw), rules or [], max_variants=2000, max_changes=3)}


DOUBLE = VariantRule(name="doubled-consonants", double="bdlmnrstyz")
QKG = VariantRule(name="q-k-g", alternatives=["q", "k", "g", "gh"], where="word-start")
AH = VariantRule(name="ah-a", alternatives=["ah", "a"], where="word-end")
OU = VariantRule(name="o-u", alternatives=["ou", "o", "u"])
EI = VariantRule(name="ei", alternatives=["ei", "ey", "ai", "ay", "i", "e"])


def test_alias_itself_comes_first_with_no_rules() -> None:
    first = generate(AliasSpec(text="Al Qayara"), [DOUBLE, AH])[0]
    assert first.text == "al qayara" and first.rules == ()


def test_doubled_consonants_both_ways() -> None:
    found = texts("Qayyarah", [DOUBLE, AH])
    assert {"qayarah", "qayyara", "qayara"} <= found
    assert "qassem" in texts("Qasem", [DOUBLE])


def test_q_k_g_and_vowels() -> None:
    found = texts("Qasem Soleimani", [QKG, OU, EI, DOUBLE])
    assert {"ghasem soleimani", "kasem soleimani", "qasem suleimani", "qasem sulaimani", "qasem soulimani"} <= found


def test_word_rule_only_swaps_whole_words() -> None:
    hez = VariantRule(name="hezbollah", alternatives=["hezbollah", "hizballah", "hizbollah"], where="word")
    kat = VariantRule(name="kataeb", alternatives=["kataeb", "kataib"], where="word")
    found = texts("Kataeb Hezbollah", [kat, hez])
    assert {"kataib hizballah", "kataib hizbollah", "kataeb hizballah"} <= found
    assert texts("Hezbollahs", [hez]) == {"hezbollahs"}


def test_arabic_article_optional_and_assimilated() -> None:
    found = texts("Al Qayara")
    assert {"qayara", "el qayara"} <= found
    found = texts("Hashd al-Shaabi")
    assert {"hashd shaabi", "hashd ash shaabi", "hashd el shaabi"} <= found
    assert "قياره" in texts("القيارة")  # ta marbuta is folded to ha


def test_letter_digit_joined_and_split() -> None:
    assert {"k1 base", "k 1 base"} <= texts("K1 base")
    assert "k1" in texts("K 1")


def test_arabic_proclitics() -> None:
    forms = proclitic_forms("الحشد")
    assert "والحشد" in forms and "للحشد" in forms and "بالحشد" in forms
    assert "وكتايب" in proclitic_forms("كتايب")


def test_variants_off_keeps_spelling() -> None:
    assert texts("Caggins", [DOUBLE, OU], variants=False) == {"caggins"}


def test_case_sensitive_acronym_only_spacing() -> None:
    assert texts("K1", [QKG], case_sensitive=True) == {"k1", "k 1"}


def test_generation_is_bounded() -> None:
    many = [VariantRule(name=f"r{i}", alternatives=[c, c.upper() + "x"]) for i, c in enumerate("abcdefgh")]
    out = generate(AliasSpec(text="abcdefgh abcdefgh abcdefgh"), many, max_variants=50, max_changes=3)
    assert len(out) <= 50 + 10  # the cap, plus digit/proclitic forms of kept variants
    assert all(len(v.rules) <= 3 for v in out)


def test_rules_are_recorded() -> None:
    by_text = {v.text: v.rules for v in generate(AliasSpec(text="Qayyarah"), [DOUBLE, AH])}
    assert by_text["qayarah"] == ("doubled-consonants",)
    assert set(by_text["qayara"]) == {"doubled-consonants", "ah-a"}
