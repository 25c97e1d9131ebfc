"""Alert formatting: layout, escaping, and Telegram's limits under hostile input."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fake_telegram import EntityParseError, parse_html, utf16_len, validate_html
from monitor.notify.format import (
    AlertContent,
    one_line_text,
    format_alert_html,
    format_alert_plain,
    hashtag,
    snippet_around,
    split_message,
)

SNIPPET = "Coalition forces handed over Taji base to the Iraqi army on Sunday."


def make_alert(**overrides: object) -> AlertContent:
    fields: dict[str, object] = {
        "title": "Coalition hands over Taji base",
        "url": "https://example.org/news/taji?id=1&lang=en",
        "outlet": "Example News",
        "published": datetime(2020, 8, 23, 9, 30, tzinfo=UTC),
        "entities": (("taji-base", "Taji base"), ("operation-inherent-resolve", "Operation Inherent Resolve")),
        "snippet": SNIPPET,
        "mention_start": SNIPPET.index("Taji base"),
        "mention_end": SNIPPET.index("Taji base") + len("Taji base"),
    }
    fields.update(overrides)
    return AlertContent(**fields)  # type: ignore[arg-type]


def bold_texts(message: str) -> list[str]:
    text, entities = parse_html(message)
    units = text.encode("utf-16-le", "surrogatepass")
    return [
        units[2 * e["offset"]: 2 * (e["offset"] + e["length"])].decode("utf-16-le", "surrogatepass")
        for e in entities if e["type"] == "bold"
    ]


def links(message: str) -> list[str]:
    return [e["url"] for e in parse_html(message)[1] if e["type"] == "text_link"]


# -- examples -----------------------------------------------------------------


def test_layout() -> None:
    message = format_alert_html(make_alert())
    assert message == (
        '<a href="https://example.org/news/taji?id=1&amp;lang=en">Coalition hands over Taji base</a>\n'
        "Example News · 2020-08-23 09:30 UTC\n"
        "Taji base, Operation Inherent Resolve\n"
        "#taji_base #operation_inherent_resolve\n"
        "\n"
        "Coalition forces handed over <b>Taji base</b> to the Iraqi army on Sunday."
    )
    assert links(message) == ["https://example.org/news/taji?id=1&lang=en"]


def test_plain_layout_shows_the_url_and_no_markup() -> None:
    message = format_alert_plain(make_alert(title="<b>Taji</b> & K1"))
    assert message.splitlines()[:2] == ["<b>Taji</b> & K1", "https://example.org/news/taji?id=1&lang=en"]
    assert message.endswith("Coalition forces handed over Taji base to the Iraqi army on Sunday.")


def test_news_text_is_escaped() -> None:
    alert = make_alert(
        title='<script>alert("x")</script> & <b>co',
        outlet="A&B <News>",
        entities=(("kataeb-hezbollah", "Kata'ib <Hizballah>"),),
    )
    message = format_alert_html(alert)
    text = validate_html(message)
    assert '<script>alert("x")</script> & <b>co' in text
    assert "A&B <News>" in text and "Kata'ib <Hizballah>" in text
    assert "<script>" not in message


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://example.org/x", "", "not a url", "https://"])
def test_title_is_not_linked_for_non_http_urls(url: str) -> None:
    message = format_alert_html(make_alert(url=url))
    assert links(message) == []
    assert message.startswith("<b>Coalition hands over Taji base</b>\n")


def test_url_quotes_and_spaces_cannot_break_the_attribute() -> None:
    message = format_alert_html(make_alert(url='https://e.org/a"><b>x</b> y'))
    assert links(message) == ['https://e.org/a"><b>x</b>%20y']


def test_time_is_utc_and_optional() -> None:
    baghdad = timezone(timedelta(hours=3))
    message = format_alert_html(make_alert(published=datetime(2020, 3, 26, 17, 5, tzinfo=baghdad)))
    assert "Example News · 2020-03-26 14:05 UTC" in message
    naive = format_alert_html(make_alert(published=datetime(2020, 3, 26, 14, 5)))
    assert "2020-03-26 14:05 UTC" in naive
    assert format_alert_html(make_alert(published=None)).splitlines()[1] == "Example News"


@pytest.mark.parametrize(
    ("entity_id", "tag"),
    [
        ("kataeb-hezbollah", "#kataeb_hezbollah"),
        ("k1-airbase", "#k1_airbase"),
        ("al-qaim base", "#al_qaim_base"),
        ("--x--", "#x"),
        ("---", ""),
    ],
)
def test_hashtag(entity_id: str, tag: str) -> None:
    assert hashtag(entity_id) == tag


def test_control_characters_and_bidi_overrides_are_stripped() -> None:
    alert = make_alert(title="Taji\x00 base\x1b[31m\u202e handed\r\nover\ufeff", outlet="Out\tlet")
    message = format_alert_html(alert)
    assert message.splitlines()[0].endswith(">Taji base[31m handed over</a>")
    assert "Out let" in message
    assert not re.search("[\x00-\x09\x0b-\x1f\u202e\ufeff]", message)


def test_arabic_and_emoji_survive() -> None:
    snippet = "أعلنت كتائب حزب الله 🇮🇶 مسؤوليتها عن الهجوم على قاعدة التاجي."
    alert = make_alert(
        title="هجوم على قاعدة التاجي 👨‍👩‍👧",
        snippet=snippet,
        mention_start=snippet.index("كتائب حزب الله"),
        mention_end=snippet.index("كتائب حزب الله") + len("كتائب حزب الله"),
        entities=(("kataeb-hezbollah", "كتائب حزب الله"),),
    )
    message = format_alert_html(alert)
    assert "هجوم على قاعدة التاجي 👨‍👩‍👧" in validate_html(message)
    assert bold_texts(message) == ["كتائب حزب الله"]


def test_huge_snippet_is_cut_around_the_mention() -> None:
    snippet = "word " * 2000 + "Kataeb Hezbollah" + " more" * 2000
    start = snippet.index("Kataeb")
    message = format_alert_html(make_alert(snippet=snippet, mention_start=start, mention_end=start + 16))
    assert utf16_len(message) <= 4096
    assert bold_texts(message) == ["Kataeb Hezbollah"]
    last_line = message.splitlines()[-1]
    assert last_line.startswith("…") and last_line.endswith("…")
    # The title, link and entities are all intact: only the snippet was cut.
    assert message.startswith(format_alert_html(make_alert(snippet="")).rstrip())


def test_huge_title_is_cut_but_never_the_link() -> None:
    url = "https://example.org/" + "a" * 1500
    message = format_alert_html(make_alert(title="&" * 5000, url=url))
    assert utf16_len(message) <= 4096
    assert links(message) == [url]
    linked_title = re.match(r'<a href="[^"]*">([^<]*)</a>', message)
    assert linked_title and linked_title.group(1).endswith("&amp;…")  # cut between escapes


def test_max_length_is_honoured_for_smaller_limits() -> None:
    message = format_alert_html(make_alert(snippet="x " * 500), max_length=300)
    assert utf16_len(message) <= 300
    validate_html(message)


# -- snippet_around -----------------------------------------------------------


def test_snippet_is_the_sentence_of_the_mention() -> None:
    text = (
        "Iraq took over a base. Col. Myles Caggins said the coalition left Al Qayara on Thursday! "
        "Next, K1."
    )
    start = text.index("Al Qayara")
    snippet, s, e = snippet_around(text, start, start + len("Al Qayara"))
    assert snippet == "Col. Myles Caggins said the coalition left Al Qayara on Thursday!"
    assert snippet[s:e] == "Al Qayara"


def test_snippet_stops_at_paragraphs_and_arabic_question_mark() -> None:
    text = "Headline about Taji\n\nهل غادرت القوات؟ نعم غادرت قاعدة التاجي اليوم. بعد ذلك"
    start = text.index("قاعدة التاجي")
    snippet, s, e = snippet_around(text, start, start + len("قاعدة التاجي"))
    assert snippet == "نعم غادرت قاعدة التاجي اليوم."
    assert snippet[s:e] == "قاعدة التاجي"
    start = text.index("Taji")
    assert snippet_around(text, start, start + 4)[0] == "Headline about Taji"


def test_long_sentence_is_trimmed_to_max_chars() -> None:
    text = "a " * 400 + "Taji" + " b" * 400 + "."
    start = text.index("Taji")
    snippet, s, e = snippet_around(text, start, start + 4, max_chars=100)
    assert len(snippet) <= 100
    assert snippet[s:e] == "Taji"
    assert snippet.startswith("…") and snippet.endswith("…")


# -- properties -----------------------------------------------------------------

# Text that attacks every rule: markup, entities, controls, RTL, astral characters.
FRAGMENTS = [
    "<", ">", "&", '"', "'", ";", "/", "=", "&amp;", "&lt;", "&foo;", "<b>", "</a>", "&#", "\u202e",
    "\u200d", "👨\u200d👩\u200d👧", "🇮🇶", "كتائب", "\u0650", "\x00", "\n", "\ud800", " ",
]
hostile_text = st.lists(
    st.one_of(st.text(st.characters(codec="utf-8"), max_size=4), st.sampled_from(FRAGMENTS)),
    max_size=20,
).map("".join)
huge_text = st.builds(lambda s, n: s * n, hostile_text, st.integers(1, 300))
any_text = st.one_of(hostile_text, huge_text)
urls = st.one_of(
    st.builds(lambda scheme, path: f"{scheme}://example.org/{path}", st.sampled_from(["http", "https", "HTTPS"]),
              hostile_text),
    hostile_text,
)


@st.composite
def alerts(draw: st.DrawFn) -> AlertContent:
    snippet = draw(any_text)
    start = draw(st.integers(0, len(snippet)))
    end = draw(st.integers(start, len(snippet)))
    return AlertContent(
        title=draw(any_text),
        url=draw(urls),
        outlet=draw(hostile_text),
        published=draw(st.none() | st.datetimes(timezones=st.just(UTC))),
        entities=tuple(draw(st.lists(st.tuples(hostile_text, hostile_text), max_size=5))),
        snippet=snippet,
        mention_start=start,
        mention_end=end,
    )


def _mention_survives(alert: AlertContent) -> bool:
    mention = alert.snippet[alert.mention_start:alert.mention_end]
    return bool(re.sub(r"[\s\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]", "", mention))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alerts())
@example(make_alert(title="😀" * 3000, snippet="😀" * 3000, mention_start=10, mention_end=20))
@example(make_alert(title="&" * 4000, outlet="<" * 60, snippet="<" * 4000, mention_start=0, mention_end=4000))
def test_any_alert_is_valid_telegram_html_within_limits(alert: AlertContent) -> None:
    message = format_alert_html(alert)
    try:
        text = validate_html(message)
    except EntityParseError as exc:  # pragma: no cover - the assertion message is the point
        pytest.fail(f"Telegram would reject: {exc}\n{message!r}")
    assert text.strip()
    assert utf16_len(text) <= 4096 and utf16_len(message) <= 4096 and len(message) <= 4096
    message.encode("utf-8")  # no lone surrogates: httpx could not even send it

    # The link is there whenever the URL is http(s) (and of a sane length).
    if re.match(r"(?i)https?://example\.org/", alert.url) and len(alert.url) < 1000:
        assert len(links(message)) == 1
    # The mention is bold (possibly cut), unless it was nothing but control characters
    # or a giant title left no room for any snippet.
    if _mention_survives(alert) and utf16_len(html.escape(alert.title)) < 2000:
        assert len(bold_texts(message)) == 1 + (not links(message))  # an unlinked title is bold too

    plain = format_alert_plain(alert)
    assert plain.strip() and utf16_len(plain) <= 4096
    plain.encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(any_text, st.data())
def test_snippet_around_keeps_offsets_and_limit(text: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 40)))
    max_chars = data.draw(st.integers(20, 400))
    snippet, s, e = snippet_around(text, start, end, max_chars=max_chars)
    assert utf16_len(snippet) <= max_chars
    assert 0 <= s <= e <= len(snippet)
    mention = one_line_text(text[start:end])  # control characters go, whitespace runs collapse
    if utf16_len(mention) <= max_chars - 2:  # room for the mention and an ellipsis each side
        assert snippet[s:e] == mention  # whole mentions stay whole and are located exactly


def test_escaping_matches_html_escape() -> None:
    # The property test relies on validate_html; make sure it is not trivially lenient.
    with pytest.raises(EntityParseError):
        validate_html("<b>" + html.escape("<x>", quote=False).replace("&lt;", "<") + "</b>")


# -- long bot replies ---------------------------------------------------------------


def _visible_words(text_html: str) -> list[str]:
    return parse_html(text_html)[0].split()


def test_split_keeps_lines_whole_and_in_order():
    lines = [f"• feed {i}: " + "x" * 90 for i in range(200)]
    parts = split_message("\n".join(lines), 4000)
    assert len(parts) > 1 and all(utf16_len(p) <= 4000 for p in parts)
    assert "\n".join(parts).split("\n") == lines  # every cut at a line end, nothing reordered


def test_a_line_longer_than_the_limit_comes_after_the_text_before_it():
    text = "first line\n" + "word " * 1000 + "\nlast line"
    parts = split_message(text, 1000)
    assert parts[0].startswith("first line")
    assert _visible_words("\n".join(parts)) == text.split()
    assert all(utf16_len(p) <= 1000 for p in parts)


def test_a_cut_never_splits_a_tag_or_an_entity_and_each_part_is_valid_html():
    link = '<a href="https://example.org/a?x=1&amp;y=2">Rockets &amp; drones hit <b>Camp Taji</b></a>'
    text = "<b>Status</b>\n" + " ".join([link] * 120) + "\n<i>" + "&lt;tail&gt; " * 300 + "</i>"
    parts = split_message(text, 500)
    for part in parts:
        assert utf16_len(part) <= 500
        validate_html(part)  # raises on a cut tag, a cut entity or an unbalanced tag
    assert _visible_words("\n".join(parts)) == _visible_words(text)


_piece = st.one_of(
    st.text(alphabet="abc xyz\n\u0639\U0001F600", min_size=1, max_size=40).map(html.escape),
    st.sampled_from(["&amp;", "&lt;", "&#1593;", "\n", " "]),
    st.tuples(st.sampled_from(["b", "i", "code"]), st.text(alphabet="ab c", min_size=1, max_size=60)).map(
        lambda t: f"<{t[0]}>{t[1]}</{t[0]}>"
    ),
    st.text(alphabet="ab c", min_size=1, max_size=60).map(lambda t: f'<a href="https://x.org/?q=1&amp;r=2">{t}</a>'),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(_piece, min_size=1, max_size=80), limit=st.integers(min_value=60, max_value=400))
def test_split_property_valid_parts_under_the_limit_nothing_lost(pieces, limit):
    text = "".join(pieces)
    parts = split_message(text, limit)
    for part in parts:
        assert utf16_len(part) <= limit
        validate_html(part)
    # Nothing lost, nothing reordered (cuts only drop the line end or space they replace).
    assert "".join("".join(parse_html(p)[0].split()) for p in parts) == "".join(parse_html(text)[0].split())
