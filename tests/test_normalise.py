"""Normalisation: every folding rule, and offsets that always lead back to the original text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.match import normalise as _n
from monitor.match.normalise import fold, fold_cased, fold_cased_with_offsets, fold_for_scan, fold_phrase, normalise

@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Q-West", "Q West"),  # hyphen = space
        ("CJTF–OIR", "CJTF OIR"),  # en dash
        ("U.S.", "U S"),  # dots
        ("Kata'ib", "Kataib"),  # apostrophe dropped inside a word
        ("Kata’ib", "Kataib"),
        ("Qaʿim", "Qaim"),  # ayn mark
        ("Qaʾim", "Qaim"),  # hamza mark
        ("Qa`im", "Qaim"),
        ("Aïn al-Assad", "Ain al Assad"),  # diacritics
        ("Besmayá", "besmaya"),
        ("ＱＡＩＭ", "qaim"),  # full-width (NFKC)
        ("ﬁeld", "field"),  # ligature (NFKC)
        ("STRAßE", "strasse"),  # case folding that changes length
        ("Soft\u00adhyphen", "softhyphen"),  # invisible format characters vanish
        ("أبو مهدي", "ابو مهدي"),  # alef with hamza
        ("إسلامية", "اسلاميه"),  # alef below, ta marbuta
        ("مصطفى", "مصطفي"),  # alef maqsura
        ("الدولـــة", "الدوله"),  # tatweel
        ("قَاسِم", "قاسم"),  # harakat
        ("القائم", "القايم"),  # hamza on ya seat
        ("سلیمانی", "سليماني"),  # Persian ya
        ("٢٠٢٠", "2020"),  # Arabic-Indic digits
    ],
)
def test_equivalent_spellings_fold_alike(a: str, b: str) -> None:
    assert fold_phrase(a) == fold_phrase(b)


def test_possessive_and_elision_become_word_breaks() -> None:
    assert fold_phrase("Kirkuk’s K1") == "kirkuk k1"
    assert fold_phrase("l'EI") == "l ei"
    assert fold_phrase("d’Aïn al-Asad") == "d ain al asad"
    assert fold_phrase("dell'Isis") == "dell isis"
    # but a transliteration apostrophe stays inside the word
    assert fold_phrase("Kata'ib Hizballah") == "kataib hizballah"


def test_case_kept_in_cased_form_with_same_length() -> None:
    text = "The IS group, ISIS and K-1"
    assert len(fold_cased(text)) == len(fold(text))
    assert "IS" in fold_cased(text)
    assert fold(text) == fold_cased(text).lower()


def test_newlines_are_kept_for_line_mapping() -> None:
    assert fold("a\nb") == "a\nb"
    assert fold("a\r\nb") == "a \nb"


def test_offsets_round_trip() -> None:
    text = "Rockets hit Kata’ib Ḥizballah's depot near Aïn al-Assad — ﬁeld"
    norm = normalise(text)
    assert norm.text == fold(text)
    i = norm.text.index("kataib hizballah")
    start, end = norm.span(i, i + len("kataib hizballah"))
    assert text[start:end] == "Kata’ib Ḥizballah"
    i = norm.text.index("ain al assad")
    start, end = norm.span(i, i + len("ain al assad"))
    assert text[start:end] == "Aïn al-Assad"


def test_expanding_characters_map_to_their_source() -> None:
    text = "xﬁx"
    norm = normalise(text)
    assert norm.text == "xfix"
    assert norm.span(1, 3) == (1, 2)


@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_fast_and_offset_paths_agree(text: str) -> None:
    norm = normalise(text)
    assert norm.text == fold_cased(text).lower()
    assert norm.cased == fold_cased(text)
    assert len(norm.starts) == len(norm.text) == len(norm.ends)
    for s, e in zip(norm.starts, norm.ends, strict=True):
        assert 0 <= s < e <= len(text)
    assert list(norm.starts) == sorted(norm.starts)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\n")), min_size=1, max_size=4))
def test_lines_normalise_independently(lines: list[str]) -> None:
    # The matcher maps offsets one line at a time; that is only sound if the
    # normalised text splits into the normalised lines.
    assert fold("\n".join(lines)).split("\n") == [fold(line) for line in lines]


def test_hostile_input_does_not_crash() -> None:
    for text in ["\ud800", "a\udfffb", "\x00\x01\x7f", "\u202e\u200f" * 50, "́" * 100, "\U0001F600" * 10]:
        norm = normalise(text)
        assert norm.text == fold_cased(text).lower()
        cased, scan, offsets = fold_for_scan(text)
        assert scan == f" {norm.cased} ".lower()
        assert [offsets.start(i) for i in range(len(cased))] == list(norm.starts)


# -- the fast paths (C passes of the standard library: codecs, bytes.translate,
# str.replace, regex apostrophes) and their segment offsets must give exactly what the
# per-character reference definitions give.

# Characters that exercise every branch: apostrophes and the letters of elided
# words, expansions (ß, ﬁ), deletions (harakat, tatweel, soft hyphen), a
# presentation form folding to tatweel (not a stable fold), newlines, accents.
_TRICKY = st.lists(
    st.one_of(
        st.sampled_from(list("lLdDsSqQuUnNcCaAoOjJmMtTeE'’ʿ`_ -.\nßﬁَـ\u00adéİıĸ٢ﳲ") + ["dell", "Qu", "un", "'s", "’S"]),
        st.text(max_size=3),
    ),
    max_size=16,
).map("".join)


def _reference_fold_cased(text: str) -> str:
    return _n._mark_apostrophes(text.translate(_n.FOLD_TABLE)).replace("'", "")


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), _TRICKY))
def test_fast_translate_equals_per_character_table(text: str) -> None:
    assert _n._translate(text) == text.translate(_n.FOLD_TABLE)
    assert _n._translate(text, _n._ASCII_BYTES_ONE_LINE) == text.translate(_n.FOLD_TABLE).replace("\n", " ")


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(st.text(), _TRICKY))
def test_apostrophe_rule_equals_reference(text: str) -> None:
    assert fold_cased(text) == _reference_fold_cased(text)


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(st.text(), _TRICKY), one_line=st.booleans())
def test_segment_offsets_equal_per_character_offsets(text: str, one_line: bool) -> None:
    cased, offsets = fold_cased_with_offsets(text, one_line=one_line)
    norm = normalise(text)
    assert cased == (norm.cased.replace("\n", " ") if one_line else norm.cased)
    assert [offsets.start(i) for i in range(len(cased))] == list(norm.starts)
    for i in range(len(cased)):
        assert offsets.span(i, i + 1) == norm.span(i, i + 1)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(), _TRICKY))
def test_scan_text_is_padded_lower_case_of_one_line_fold(text: str) -> None:
    cased, scan, offsets = fold_for_scan(text)
    expected, expected_offsets = fold_cased_with_offsets(text, one_line=True)
    assert cased == expected
    assert scan == f" {expected} ".lower()
    assert offsets.text is text
    assert [offsets.start(i) for i in range(len(cased))] == [expected_offsets.start(i) for i in range(len(cased))]


def test_unstable_fold_takes_the_slow_path() -> None:
    # ﳲ folds to a tatweel, which itself folds to nothing: one pass, not two.
    assert _n._translate("aﳲbـc") == "aـbc" == "aﳲbـc".translate(_n.FOLD_TABLE)


def test_word_break_pattern_case_classes_are_complete() -> None:
    # The regex spells each elided word and suffix as [lL][dD]...; that is only
    # the same as `.lower() in _ELIDED` if no other character left by the fold
    # lower-cases to those letters (the Kelvin sign does, but folds to "K").
    letters = set("".join(_n._ELIDED | _n._TURKISH_SUFFIXES))
    others = [
        c
        for c in map(chr, range(0x80, 0x110000))
        if len(c.lower()) == 1 and c.lower() in letters and _n.FOLD_TABLE[ord(c)] == c
    ]
    assert others == []


def test_identity_runs_only_hold_characters_that_fold_to_themselves() -> None:
    # `_IDENTITY_RUNS` cuts these out before the distinct characters are
    # collected; a character that needed folding must never be among them.
    inside = [c for c in map(chr, range(0x10000)) if _n._IDENTITY_RUNS.fullmatch(c)]
    assert len(inside) > 20_000
    assert [c for c in inside if _n.FOLD_TABLE[ord(c)] != c] == []


def test_script_heavy_text_folds_like_the_table() -> None:
    for text in ["أُعلنَت الحشد الشعبيّ «قاعدة» ٢٠٢٠ وـالقائم", "Военные базы ИГИЛ", "日本の自衛隊 がぎぐ ﾃｽﾄ", "בְּהַמְּדִינָה"]:
        text = text * 20  # long enough for the run-cutting path
        assert _n._translate(text) == text.translate(_n.FOLD_TABLE)
        cased, offsets = fold_cased_with_offsets(text)
        assert [offsets.start(i) for i in range(len(cased))] == list(normalise(text).starts)


# Text made only of ASCII and the slots of one code page takes that page's path;
# random text rarely does. Every page, and every table (one line or not).
@pytest.mark.parametrize("page", _n._CODE_PAGES, ids=lambda p: p.name)
@settings(max_examples=300, deadline=None)
@given(data=st.data(), one_line=st.booleans())
def test_code_page_path_equals_per_character_table(page, data, one_line: bool) -> None:
    alphabet = [chr(i) for i in range(128)] + sorted(page.slots)
    text = data.draw(st.text(alphabet=st.sampled_from(alphabet), max_size=40))
    table = _n._ASCII_BYTES_ONE_LINE if one_line else _n._ASCII_BYTES
    folded, resized = page.translate(text, table)
    expected = text.translate(_n.FOLD_TABLE)
    assert folded == (expected.replace("\n", " ") if one_line else expected)
    assert sorted(resized) == sorted({c for c in text if len(_n.FOLD_TABLE[ord(c)]) != 1})
    cased, offsets = fold_cased_with_offsets(text, one_line=one_line)
    norm = normalise(text)
    assert cased == (norm.cased.replace("\n", " ") if one_line else norm.cased)
    assert [offsets.start(i) for i in range(len(cased))] == list(norm.starts)


def test_each_script_takes_its_code_page_and_others_the_general_path() -> None:
    samples = {
        "western": "Stra\u00dfe \u201eK\u00f6ln\u201c \u2013 Kirkuk\u2019s l\u2019EI\u2026 \u200csoft\u00adhyphen \u20ac",
        "central-european": "Państwo Islamskie – „Sulejmani” Kerkük’te İŞİD",
        "arabic": "قالت «كتائب حزب الله» إنّ ـالقاعدة ٢٠٢٠ سپاه پاسداران ڕاپەڕین",
        "cyrillic": "«Исламское государство» — Сулеймани, Київ, ґ №5",
        "greek": "Ισλαμικό Κράτος – «Σουλεϊμανί»",
        "hebrew": "המדינה האסלאמית – ״דאעש״ בְּ",
    }
    for name, text in samples.items():
        pages = [p.name for p in _n._CODE_PAGES if set(text) <= set(map(chr, range(128))) | p.slots]
        assert pages and pages[0] == name, (name, pages)
        assert _n._translate(text) == text.translate(_n.FOLD_TABLE)
    for other in ["日本の自衛隊", "Kirkuk 🌡 “heat”", "a\ud800b", "عربي mixed Русский"]:
        assert _n._code_page_translate(other, _n._ASCII_BYTES) is None
        assert _n._translate(other) == other.translate(_n.FOLD_TABLE)
        cased, offsets = fold_cased_with_offsets(other)
        assert [offsets.start(i) for i in range(len(cased))] == list(normalise(other).starts)
