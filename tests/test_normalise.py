"""Normalisation: every folding rule, and offsets that always lead back to the original text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.match import normalise as _n
from monitor.match.normalise import Folder, fold, fold_cased, fold_phrase, normalise

# Both implementations of the fast path are tested against the reference: the C
# fold when it is built, and always the pure-Python one (the fallback).
FOLDERS = [
    pytest.param(_n.PYTHON_FOLDER, id="python"),
    pytest.param(
        _n.C_FOLDER,
        id="c",
        marks=pytest.mark.skipif(
            _n.C_FOLDER is None,
            reason="C extension monitor.match._fold not built (no compiler at install?): only the Python fold is tested",
        ),
    ),
]


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


@pytest.mark.parametrize("folder", FOLDERS)
@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_fast_and_offset_paths_agree(folder: Folder, text: str) -> None:
    norm = normalise(text)
    assert norm.text == folder.fold_cased(text).lower()
    assert norm.cased == folder.fold_cased(text)
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


@pytest.mark.parametrize("folder", FOLDERS)
def test_hostile_input_does_not_crash(folder: Folder) -> None:
    for text in ["\ud800", "a\udfffb", "\x00\x01\x7f", "\u202e\u200f" * 50, "́" * 100, "\U0001F600" * 10]:
        norm = normalise(text)
        assert norm.text == folder.fold_cased(text).lower()
        cased, scan, offsets = folder.fold_for_scan(text)
        assert scan == f" {norm.cased} ".lower()
        assert [offsets.start(i) for i in range(len(cased))] == list(norm.starts)


def test_public_functions_are_the_active_folder() -> None:
    assert _n.FOLDER is (_n.C_FOLDER or _n.PYTHON_FOLDER)
    assert fold_cased is _n.FOLDER.fold_cased


# -- the fast paths (C extension; or C passes of the standard library over UTF-8
# bytes, regex apostrophes) and their segment offsets must give exactly what the
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


@pytest.mark.parametrize("folder", FOLDERS)
@settings(max_examples=500, deadline=None)
@given(text=st.one_of(st.text(), _TRICKY))
def test_apostrophe_rule_equals_reference(folder: Folder, text: str) -> None:
    assert folder.fold_cased(text) == _reference_fold_cased(text)


@pytest.mark.parametrize("folder", FOLDERS)
@settings(max_examples=500, deadline=None)
@given(text=st.one_of(st.text(), _TRICKY), one_line=st.booleans())
def test_segment_offsets_equal_per_character_offsets(folder: Folder, text: str, one_line: bool) -> None:
    cased, offsets = folder.fold_cased_with_offsets(text, one_line=one_line)
    norm = normalise(text)
    assert cased == (norm.cased.replace("\n", " ") if one_line else norm.cased)
    assert [offsets.start(i) for i in range(len(cased))] == list(norm.starts)
    for i in range(len(cased)):
        assert offsets.span(i, i + 1) == norm.span(i, i + 1)


@pytest.mark.parametrize("folder", FOLDERS)
@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(), _TRICKY))
def test_scan_text_is_padded_lower_case_of_one_line_fold(folder: Folder, text: str) -> None:
    cased, scan, offsets = folder.fold_for_scan(text)
    expected, expected_offsets = _n._py_fold_cased_with_offsets(text, one_line=True)
    assert cased == expected
    assert scan == f" {expected} ".lower()
    assert offsets.text is text
    assert [offsets.start(i) for i in range(len(cased))] == [expected_offsets.start(i) for i in range(len(cased))]


def test_unstable_fold_takes_the_slow_path() -> None:
    # ﳲ folds to a tatweel, which itself folds to nothing: one pass, not two.
    assert _n._translate("aﳲbـc") == "aـbc" == "aﳲbـc".translate(_n.FOLD_TABLE)


def test_elision_pattern_case_classes_are_complete() -> None:
    # The regex spells each elided word as [lL][dD]...; that is only the same as
    # `.lower() in _ELIDED` if no other character lower-cases to those letters.
    letters = set("".join(_n._ELIDED))
    others = [c for c in map(chr, range(0x80, 0x110000)) if len(c.lower()) == 1 and c.lower() in letters]
    assert others == []


def test_identity_runs_only_hold_characters_that_fold_to_themselves() -> None:
    # `_IDENTITY_RUNS` cuts these out before the distinct characters are
    # collected; a character that needed folding must never be among them.
    inside = [c for c in map(chr, range(0x10000)) if _n._IDENTITY_RUNS.fullmatch(c)]
    assert len(inside) > 20_000
    assert [c for c in inside if _n.FOLD_TABLE[ord(c)] != c] == []


@pytest.mark.parametrize("folder", FOLDERS)
def test_script_heavy_text_folds_like_the_table(folder: Folder) -> None:
    for text in ["أُعلنَت الحشد الشعبيّ «قاعدة» ٢٠٢٠ وـالقائم", "Военные базы ИГИЛ", "日本の自衛隊 がぎぐ ﾃｽﾄ", "בְּהַמְּדִינָה"]:
        text = text * 20  # long enough for the run-cutting path
        assert _n._translate(text) == text.translate(_n.FOLD_TABLE)
        cased, offsets = folder.fold_cased_with_offsets(text)
        assert [offsets.start(i) for i in range(len(cased))] == list(normalise(text).starts)


# Text made only of ASCII and the charmap slots (Latin-1, quotes, dashes, ß,
# "…", zero-width marks) takes the charmap path; random text rarely does.
_SLOT_TEXT = st.text(alphabet=st.sampled_from([chr(i) for i in range(128)] + _n._SLOTS), max_size=40)


@pytest.mark.parametrize("folder", FOLDERS)
@settings(max_examples=500, deadline=None)
@given(text=_SLOT_TEXT, one_line=st.booleans())
def test_charmap_path_equals_per_character_table(folder: Folder, text: str, one_line: bool) -> None:
    table = _n._ASCII_BYTES_ONE_LINE if one_line else _n._ASCII_BYTES
    found = _n._charmap_translate(text, table)
    assert found is not None
    expected = text.translate(_n.FOLD_TABLE)
    assert found[0] == (expected.replace("\n", " ") if one_line else expected)
    assert sorted(found[1]) == sorted({c for c in text if len(_n.FOLD_TABLE[ord(c)]) != 1})
    cased, offsets = folder.fold_cased_with_offsets(text, one_line=one_line)
    norm = normalise(text)
    assert cased == (norm.cased.replace("\n", " ") if one_line else norm.cased)
    assert [offsets.start(i) for i in range(len(cased))] == list(norm.starts)


def test_charmap_slots_fold_to_ascii_and_others_take_the_utf8_path() -> None:
    assert all(_n.FOLD_TABLE[ord(c)].isascii() for c in _n._SLOTS)
    assert set(_n._PLACEHOLDERS) <= {chr(i) for i in range(0x80, 0x100)}
    text = "Stra\u00dfe \u201eK\u00f6ln\u201c \u2013 Kirkuk\u2019s l\u2019EI\u2026 \u200csoft\u00adhyphen"
    assert _n._charmap_translate(text, _n._ASCII_BYTES) is not None
    assert _n._py_fold_cased(text) == _reference_fold_cased(text)
    for other in ["łódź", "قاعدة", "Военные", "a\ud800b", "日本"]:
        assert _n._charmap_translate(other, _n._ASCII_BYTES) is None
        assert _n._translate(other) == other.translate(_n.FOLD_TABLE)
