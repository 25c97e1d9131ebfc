"""A story's message: the first alert as sent, plus the other outlets, the count and
the entities later reports added; always valid Telegram HTML within 4096 units."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fake_telegram import EntityParseError, parse_html, utf16_len, validate_html
from monitor.notify.format import (
    ReportedArticle,
    StoryUpdate,
    format_alert_html,
    format_story_html,
    format_story_plain,
    story_update,
)
from test_format import alerts, hostile_text, make_alert

BASE = format_alert_html(make_alert())


def article(item_id: int, outlet: str, url: str = "", *entities: tuple[str, str]) -> ReportedArticle:
    return ReportedArticle(item_id, outlet, url or f"https://{outlet.lower().replace(' ', '-')}.example/{item_id}", tuple(entities))


TAJI = ("taji-base", "Taji base")
KH = ("kataeb-hezbollah", "Kataeb Hezbollah")
QUDS = ("quds-force", "Quds Force")


def test_other_outlets_are_named_once_with_their_first_report_as_link():
    articles = [
        article(1, "Tigris Wire", "", TAJI),
        article(2, "Gulf Daily", "https://gulf.example/first", TAJI, KH),
        article(3, "Tigris Wire", "", TAJI),  # the message's own outlet again: counted, not named
        article(4, "Gulf Daily", "https://gulf.example/second", TAJI),
        article(5, "Levant Post", "https://levant.example/a?x=1&y=2", TAJI, QUDS),
    ]
    update = story_update(1, articles)
    assert update == StoryUpdate(
        (("Gulf Daily", "https://gulf.example/first"), ("Levant Post", "https://levant.example/a?x=1&y=2")),
        5,
        ("Kataeb Hezbollah", "Quds Force"),
    )
    message = format_story_html(BASE, update)
    assert message.startswith(BASE + "\n\n")
    text, entities = parse_html(message)
    added = text.split("\n\n")[-1].splitlines()
    assert added == ["Also reported by Gulf Daily, Levant Post", "5 reports in this story", "Now also about: Kataeb Hezbollah, Quds Force"]
    links = [e["url"] for e in entities if e["type"] == "text_link"]
    assert links[-2:] == ["https://gulf.example/first", "https://levant.example/a?x=1&y=2"]
    plain = format_story_plain("Rockets hit Camp Taji", update)
    assert plain.endswith("Also reported by Gulf Daily, Levant Post\n5 reports in this story\nNow also about: Kataeb Hezbollah, Quds Force")


def test_a_story_of_one_article_adds_nothing():
    assert story_update(1, [article(1, "Tigris Wire")]) is None
    assert story_update(9, [article(1, "Tigris Wire"), article(2, "Gulf Daily")]) is None  # not a message of this story


def test_a_subscriber_copy_on_a_later_article_names_the_earlier_outlets():
    update = story_update(3, [article(1, "Tigris Wire", "", TAJI), article(2, "Gulf Daily", "", TAJI), article(3, "Levant Post", "", TAJI, QUDS)])
    assert update is not None
    assert [outlet for outlet, _ in update.reports] == ["Tigris Wire", "Gulf Daily"]
    assert update.new_entities == ()  # its own article names every entity of the story


def test_outlet_names_and_entities_are_escaped():
    update = StoryUpdate((("<b>Fake</b> & Co", 'https://x.example/"><script>'),), 2, ("A <i>B</i>",))
    message = format_story_html(BASE, update)
    text = validate_html(message)
    assert "<b>Fake</b> & Co" in text and "A <i>B</i>" in text


def test_the_oldest_outlets_collapse_into_more_when_the_message_would_not_fit():
    reports = tuple((f"Outlet {n:03d}", f"https://outlet{n}.example/" + "p" * 200) for n in range(40))
    update = StoryUpdate(reports, 41, ())
    message = format_story_html(BASE, update, max_outlets=40)
    text = validate_html(message)
    assert utf16_len(message) <= 4096
    line = next(line for line in text.splitlines() if line.startswith("Also reported by"))
    shown = re.findall(r"Outlet (\d{3})", line)
    hidden = int(re.search(r"\+(\d+) more$", line).group(1))
    assert shown == [f"{n:03d}" for n in range(40 - len(shown), 40)]  # the newest, in order
    assert hidden == 40 - len(shown) > 0


def test_at_most_twelve_outlets_are_named_by_default():
    update = StoryUpdate(tuple((f"Outlet {n}", "") for n in range(20)), 21, ())
    text = validate_html(format_story_html(BASE, update))
    assert "Outlet 8," in text and "Outlet 7," not in text and text.splitlines()[-2].endswith("+8 more")


def test_a_base_alert_at_the_limit_gets_what_still_fits():
    base = html.escape("x" * 4000)
    update = StoryUpdate((("Gulf Daily", "https://gulf.example/1"),), 2, ("Quds Force",))
    message = format_story_html(base, update)
    assert utf16_len(message) <= 4096 and message.startswith(base)
    full = format_story_html("x" * 4096, update)
    assert full == "x" * 4096


reports = st.lists(st.tuples(hostile_text, st.one_of(st.just(""), hostile_text.map(lambda p: "https://e.example/" + p))), max_size=60)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alerts(), reports, st.integers(1, 10_000), st.lists(hostile_text, max_size=30), st.integers(0, 60))
@example(make_alert(title="😀" * 3000, snippet="😀" * 3000, mention_start=10, mention_end=20), [("&" * 500, "https://e.example/" + "<" * 400)] * 50, 51, ["<" * 300] * 20, 60)
def test_any_story_message_is_valid_telegram_html_within_limits(alert, others, count, entities, max_outlets):
    base = format_alert_html(alert)
    message = format_story_html(base, StoryUpdate(tuple(others), count, tuple(entities)), max_outlets=max_outlets)
    try:
        text = validate_html(message)
    except EntityParseError as exc:  # pragma: no cover - the message is the point
        pytest.fail(f"Telegram would reject: {exc}\n{message!r}")
    assert message.startswith(base)
    assert utf16_len(text) <= 4096 and utf16_len(message) <= 4096 and len(message) <= 4096
