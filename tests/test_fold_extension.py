"""The C fold (monitor/match/_fold.c) against the pure-Python fold, on hostile input.

The Python fast path is the oracle (itself property-tested against the
per-character reference in test_normalise.py). These tests aim at what can go
wrong in C only: buffer growth (folds that expand), code points of every kind
(lone surrogates, astral), the edges of the apostrophe rule, error paths and
reference counts, threads.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.match import normalise as _n

if _n.C_FOLDER is None:
    pytest.skip(
        "C extension monitor.match._fold not built (no compiler at install?); the Python fold is tested in test_normalise.py",
        allow_module_level=True,
    )

_fold = _n._c_fold
C, PY = _n.C_FOLDER, _n.PYTHON_FOLDER

# Every code point, lone surrogates included.
ANY_CHAR = st.characters(exclude_categories=())
# Folds that change the length (U+FDFA: 18 characters; "…": 3 spaces; "ﬃ", "ß":
# 2-3 letters; harakat, soft hyphen, ZWNJ, tatweel: nothing), "″" (two
# apostrophes), Σ (its lower case depends on the neighbours), the letters of
# elided words and possessives, apostrophes of every kind.
SPECIAL = list("\ufdfa…ﬃßﬁ\u064e\u00ad\u200c\u0640″ΣσςİĸǅＡ'’‘`´ʿsSlLdDqQuUnNtT_ \n\r\t.-") + [
    "dell",
    "Qu",
    "un",
    "'s",
    "’S",
    "\ud800",
    "\U0001F600",
    "\U0001D400",
]
PIECES = st.one_of(st.sampled_from(SPECIAL), st.text(alphabet=ANY_CHAR, max_size=4))
TRICKY = st.lists(PIECES, max_size=30).map("".join)


def assert_same(text: str, step: int = 1) -> None:
    """The C fold gives what the Python fold gives, for every function and every `step`-th offset."""
    assert C.fold_cased(text) == PY.fold_cased(text)
    for one_line in (False, True):
        cased, offsets = C.fold_cased_with_offsets(text, one_line)
        expected, expected_offsets = PY.fold_cased_with_offsets(text, one_line)
        assert cased == expected
        positions = [*range(0, len(cased), step), len(cased) - 1] if cased else []
        assert [offsets.start(i) for i in positions] == [expected_offsets.start(i) for i in positions]
    cased, scan, offsets = C.fold_for_scan(text)
    expected, expected_scan, _ = PY.fold_for_scan(text)
    assert (cased, scan) == (expected, expected_scan)
    assert offsets.text is text


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=ANY_CHAR))
def test_any_code_points(text: str) -> None:
    assert_same(text)


@settings(max_examples=1000, deadline=None)
@given(TRICKY)
def test_expansions_apostrophes_and_case(text: str) -> None:
    assert_same(text)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["'", "’", "'s", "’s", "l'", "d’", "s'", "''", "″"]), TRICKY, st.sampled_from(["", "'", "'s", "l'", "x's"]))
def test_apostrophes_at_the_edges(head: str, middle: str, tail: str) -> None:
    assert_same(head + middle + tail)
    assert_same(head + tail)


@settings(max_examples=40, deadline=None)
@given(TRICKY.filter(bool), st.integers(1, 3000))
def test_long_repeated_inputs(piece: str, times: int) -> None:
    assert_same(piece * times)


def test_huge_and_expanding_inputs() -> None:
    for text in [
        "\ufdfa" * 100_000,  # 18x longer after folding: the buffer must grow
        "a\ufdfa" * 30_000 + "x" * 100_000,
        "…" * 200_000,
        "\ud800" * 100_000,
        "\U0001F600" * 50_000,
        "l'a's'" * 100_000,
        "'" * 200_000,
        "x" * 1_000_000 + "ß",
        "\u064e" * 100_000 + "a",  # everything deleted but one
    ]:
        assert_same(text, step=101)


def test_every_bmp_code_point_and_a_sample_of_the_others() -> None:
    # Each code point once, between letters and beside apostrophes.
    bmp = [chr(c) for c in range(0x10000)]
    astral = [chr(c) for c in range(0x10000, 0x110000, 97)]
    for chars in (bmp, astral):
        assert_same(" ".join(chars))
        assert_same("a".join(chars))
        assert_same("'".join(chars))
        for c in chars[::7]:
            assert C.fold_for_scan(c)[:2] == PY.fold_for_scan(c)[:2]


def test_only_capital_i_with_dot_lowercases_to_two_characters() -> None:
    # _fold.c lower-cases character by character (Py_UNICODE_TOLOWER), which is
    # str.lower() except for these, for which it calls str.lower() itself.
    assert [c for c in map(chr, range(0x110000)) if len(c.lower()) != 1] == ["\u0130"]
    assert C.fold_for_scan("ΟΔΟΣ ΣΑΣ Σ")[1] == " οδος σας σ " == PY.fold_for_scan("ΟΔΟΣ ΣΑΣ Σ")[1]


def test_offsets_arrays_are_segments() -> None:
    cased, _, (dropped, keys, origins) = _fold.fold("Straße d'Aïn Kata'ib\u064e x", True, True)
    assert cased == "Strasse d Ain Kataib x"
    # Translated (before dropping "'"): "Strasse d'Ain Kata'ib x"
    assert memoryview(dropped).cast("q").tolist() == [18]  # the "'" of Kata'ib, the first dropped
    assert memoryview(keys).cast("q").tolist() == [4, 6, 21]  # "ss" at 4..6, the fatha (deleted) at 21
    assert memoryview(origins).cast("q").tolist() == [~4, 5, 21]  # both s from 4; then e from 5 on; x...


def test_bad_arguments_raise() -> None:
    with pytest.raises(TypeError):
        _fold.fold(b"bytes", True, True)
    with pytest.raises(TypeError):
        _fold.fold(None, True, True)
    with pytest.raises(TypeError):
        _fold.fold("text", True)
    with pytest.raises(ValueError):
        _fold.configure({c: "xx" for c in range(128)}, ["l"])
    with pytest.raises(ValueError):
        _fold.configure(_n.FOLD_TABLE, ["L'"])
    assert_same("still configured: l'EI")  # a failed configure() changes nothing


class _Failing(dict):
    """A fold table that fails on one code point, or gives a non-string."""

    def __missing__(self, code: int) -> str:
        if code == 0x2603:
            raise LookupError("snowman")
        if code == 0x2604:
            return 42  # type: ignore[return-value]
        return _n.FOLD_TABLE[code]


def test_errors_from_the_table_propagate_without_leaks() -> None:
    try:
        _fold.configure(_Failing(), sorted(_n._ELIDED))
        for _ in range(3):  # warm up
            _fold.fold("ok", True, True)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(2000):
            with pytest.raises(LookupError):
                _fold.fold("x" * 50 + "ﬃ\u2603", True, True)
            with pytest.raises(TypeError):
                _fold.fold("\ufdfa\u2604", False, False)
            _fold.fold("Kata'ib ﬃ " * 5, True, True)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert grown < 50_000, f"{grown} bytes not freed"
    finally:
        _fold.configure(_n.FOLD_TABLE, sorted(_n._ELIDED))
    assert_same("\u2603\u2604 restored")


def test_results_are_not_leaked() -> None:
    text = "Straße d'Aïn … Kata'ib " * 10
    refs = sys.getrefcount(text)
    for _ in range(1000):
        cased, scan, (dropped, keys, origins) = _fold.fold(text, True, True)
    assert sys.getrefcount(text) == refs
    assert sys.getrefcount(cased) == 2 and sys.getrefcount(scan) == 2


def test_threads_agree() -> None:
    # Lookups of new code points call into Python, so threads interleave mid-fold.
    # Astral code points are never cached in C; these have not been folded yet.
    texts = ["".join(chr(c) for c in range(start, start + 3000)) + " l'EI Kirkuk's" for start in range(0x20001, 0x2E000, 2000)]
    expected = [PY.fold_for_scan(t)[:2] for t in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(3):
            assert list(pool.map(lambda t: C.fold_for_scan(t)[:2], texts)) == expected
