"""Normalisation: every folding rule, and offsets that always lead back to the original text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.match.normalise import fold, fold_cased, fold_phrase, normalise


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
@given(st.text())
def test_fast_and_offset_paths_agree(text: str) -> None:
    norm = normalise(text)
    assert norm.text == fold(text)
    assert norm.cased == fold_cased(text)
    assert len(norm.starts) == len(norm.text) == len(norm.ends)
    for s, e in zip(norm.starts, norm.ends):
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
        assert norm.text == fold(text)
