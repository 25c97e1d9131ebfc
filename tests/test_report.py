"""The report's pure parts: periods, per-entity tallies, the Telegram caption and the chart.

No servers and no database: articles are built by hand, the clock is a parameter.
"""

from __future__ import annotations

import html
import io
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from monitor.report.chart import COLOURS, daily_mentions_png
from monitor.report.render import TELEGRAM_CAPTION_LIMIT, report_json, telegram_caption
from monitor.report.summary import Period, parse_period, summarise
from monitor.store.mentions import MatchedArticle

NOW = datetime(2025, 5, 19, 14, 5, tzinfo=timezone.utc)
KH = ("kataeb-hezbollah", "Kataeb Hezbollah")
PMF = ("hashed-al-shaabi", "Hashed al-Shaabi")
TAJI = ("taji-base", "Camp Taji")


def article(item_id: int, outlet: str, days_ago: float, *entities: tuple[str, str]) -> MatchedArticle:
    return MatchedArticle(item_id, outlet, NOW - timedelta(days=days_ago), tuple(sorted(entities)))


WEEK = [
    article(1, "Wire", 6.2, KH, PMF),
    article(2, "Wire", 5.1, KH),
    article(3, "Regional", 5.0, KH, TAJI),
    article(4, "Briefs", 2.4, PMF),
    article(5, "Wire", 0.1, KH, PMF, TAJI),
    article(6, "Regional", 0.05, TAJI),
]


# -- periods ------------------------------------------------------------------


@pytest.mark.parametrize("text, length, whole_days", [("24h", timedelta(hours=24), False), ("7d", timedelta(days=7), True), ("2W", timedelta(days=14), True), (" 30d ", timedelta(days=30), True)])
def test_periods_are_hours_days_or_weeks(text, length, whole_days):
    assert parse_period(text) == Period(length, whole_days)


@pytest.mark.parametrize("text", ["7", "7x", "d", "-1d", "1.5d", "0h", "400d", "7 days", ""])
def test_other_periods_are_refused_with_a_reason(text):
    with pytest.raises(ValueError, match="period|range"):
        parse_period(text)


def test_hours_are_exact_and_days_start_at_midnight():
    assert parse_period("24h").bounds(NOW) == (NOW - timedelta(hours=24), NOW)
    since, until = parse_period("7d").bounds(NOW)
    assert (since, until) == (datetime(2025, 5, 12, tzinfo=timezone.utc), NOW)
    baghdad = ZoneInfo("Asia/Baghdad")  # UTC+3: it is already 17:05 on the 19th there
    since, _ = parse_period("1d").bounds(NOW, baghdad)
    assert since == datetime(2025, 5, 18, tzinfo=baghdad)


# -- tallies ------------------------------------------------------------------


def test_each_entity_gets_its_articles_outlets_co_mentions_and_days():
    since, until = parse_period("7d").bounds(NOW)
    report = summarise(WEEK, since, until)

    assert report.articles == 6
    assert report.days == tuple(date(2025, 5, d) for d in range(12, 20))
    assert [(e.id, e.articles) for e in report.entities] == [
        ("kataeb-hezbollah", 4),
        ("taji-base", 3),  # ties are ordered by name: Camp Taji, Hashed al-Shaabi
        ("hashed-al-shaabi", 3),
    ]
    kh = report.entities[0]
    assert [(o.name, o.articles) for o in kh.outlets] == [("Wire", 3), ("Regional", 1)]
    assert [(c.id, c.articles) for c in kh.co_mentions] == [("taji-base", 2), ("hashed-al-shaabi", 2)]
    # 13 May 09:17, 14 May 11:41, 14 May 14:05, 19 May 11:41
    assert kh.daily == (0, 1, 2, 0, 0, 0, 0, 1)
    taji = report.entities[1]
    assert [(c.name, c.articles) for c in taji.co_mentions] == [("Kataeb Hezbollah", 2), ("Hashed al-Shaabi", 1)]
    assert sum(taji.daily) == taji.articles


def test_articles_outside_the_period_are_left_out():
    since, until = NOW - timedelta(hours=24), NOW
    late = MatchedArticle(9, "Wire", NOW, (KH,))  # the period ends before `until`
    report = summarise([*WEEK, late], since, until)
    assert report.articles == 2
    assert {e.id: e.articles for e in report.entities} == {"kataeb-hezbollah": 1, "hashed-al-shaabi": 1, "taji-base": 2}


def test_current_watchlist_names_win_over_stored_ones():
    renamed = [article(1, "Wire", 1, ("taji-base", "Taji base")), article(2, "Wire", 0.5, ("taji-base", "Camp Taji (Baghdad)"))]
    since, until = parse_period("7d").bounds(NOW)
    assert summarise(renamed, since, until).entities[0].name == "Camp Taji (Baghdad)"  # the newest stored name
    assert summarise(renamed, since, until, names={"taji-base": "Taji"}).entities[0].name == "Taji"


def test_days_follow_the_given_time_zone():
    baghdad = ZoneInfo("Asia/Baghdad")
    late_evening = MatchedArticle(1, "Wire", datetime(2025, 5, 18, 22, 30, tzinfo=timezone.utc), (KH,))
    since, until = parse_period("2d").bounds(NOW, baghdad)
    report = summarise([late_evening], since, until, zone=baghdad)
    assert dict(zip(report.days, report.entities[0].daily, strict=True))[date(2025, 5, 19)] == 1  # 01:30 in Baghdad


def test_nothing_matched_is_an_empty_report():
    since, until = parse_period("7d").bounds(NOW)
    report = summarise([], since, until)
    assert report.empty and report.articles == 0
    assert report_json(report) == {
        "since": "2025-05-12T00:00:00Z",
        "until": "2025-05-19T14:05:00Z",
        "days": [f"2025-05-{d}" for d in range(12, 20)],
        "articles": 0,
        "entities": [],
    }


def test_a_period_must_be_aware_and_forward():
    with pytest.raises(ValueError):
        summarise([], NOW, NOW)
    with pytest.raises(ValueError):
        summarise([], datetime(2025, 5, 1), datetime(2025, 5, 2))


# -- the Telegram caption -----------------------------------------------------


class _Tags(HTMLParser):
    """Collects the tags and the visible text of a caption, as Telegram would parse it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.tags: set[str] = set()
        self.text = ""
        self.balanced = True

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.open.append(tag)

    def handle_endtag(self, tag):
        self.balanced &= bool(self.open) and self.open.pop() == tag

    def handle_data(self, data):
        self.text += data


def parsed(caption: str) -> _Tags:
    tags = _Tags()
    tags.feed(caption)
    tags.close()
    assert tags.balanced and not tags.open, caption
    return tags


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def many_entities(count: int) -> list[MatchedArticle]:
    """`count` entities with long names full of HTML's special characters, each named
    with the next one, in outlets whose names hold a character outside the BMP (two
    UTF-16 units)."""
    articles = []
    for n in range(count):
        entity = (f"entity-{n:02}", f"Brigade <{n}> of the \"Northern\" & Western Front " + "x" * (n % 7) * 10)
        partner = (f"entity-{(n + 1) % count:02}", f"Brigade <{(n + 1) % count}> of the \"Northern\" & Western Front")
        for k in range(count - n):  # entity 0 has the most articles
            articles.append(article(1000 * n + k, f"Outlet 𝕏 {k % 4} & <Sons>", 1 + k % 5, entity, partner))
    return sorted(articles, key=lambda a: a.dated)


def test_the_caption_fits_telegrams_limit_however_many_entities():
    since, until = parse_period("7d").bounds(NOW)
    report = summarise(many_entities(40), since, until)
    caption = telegram_caption(report)

    assert utf16_units(caption) <= TELEGRAM_CAPTION_LIMIT
    tags = parsed(caption)
    assert tags.tags == {"b"}
    lines = caption.split("\n")
    assert lines[0] == "<b>12 May 00:00 – 19 May 14:05 UTC</b>"
    assert lines[1] == f"{report.articles} article(s) naming tracked entities"
    shown = [line for line in lines if line.startswith("<b>Brigade")]
    assert 3 <= len(shown) < 40
    # The top entities, in order, escaped; the rest are counted.
    top = report.entities[0]
    assert shown[0].startswith(f"<b>{html.escape(top.name, quote=False)}</b> {top.articles} · ")
    assert lines[-1] == f"… and {40 - len(shown)} more entities"
    assert "&lt;Sons&gt;" in caption and "<Sons>" not in caption


def test_a_short_report_is_shown_whole():
    since, until = parse_period("7d").bounds(NOW)
    caption = telegram_caption(summarise(WEEK, since, until))
    assert caption.split("\n")[2:] == [
        "<b>Kataeb Hezbollah</b> 4 · Wire 3, Regional 1 · with Camp Taji 2, Hashed al-Shaabi 2",
        "<b>Camp Taji</b> 3 · Regional 2, Wire 1 · with Kataeb Hezbollah 2, Hashed al-Shaabi 1",
        "<b>Hashed al-Shaabi</b> 3 · Wire 2, Briefs 1 · with Kataeb Hezbollah 2, Camp Taji 1",
    ]


def test_the_empty_caption_says_so():
    since, until = parse_period("7d").bounds(NOW)
    caption = telegram_caption(summarise([], since, until))
    assert parsed(caption).text.endswith("No tracked entity was mentioned.")


def test_a_tiny_limit_keeps_whole_lines_only():
    since, until = parse_period("7d").bounds(NOW)
    caption = telegram_caption(summarise(many_entities(5), since, until), limit=80)
    assert utf16_units(caption) <= 80
    parsed(caption)  # no tag or entity cut in half


# -- the chart -----------------------------------------------------------------


def colours_in(png: bytes) -> set[str]:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return {"#%02X%02X%02X" % rgb for _, rgb in image.getcolors(maxcolors=1 << 20)}


def test_the_chart_is_a_phone_sized_png_with_one_colour_per_entity():
    since, until = parse_period("7d").bounds(NOW)
    png = daily_mentions_png(summarise(WEEK, since, until))

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.verify()
    assert image.size == (1080, 1080)
    found = colours_in(png)
    assert set(COLOURS[:3]) <= found  # three entities, three lines
    assert COLOURS[3] not in found


def test_only_the_top_entities_are_drawn():
    since, until = parse_period("7d").bounds(NOW)
    report = summarise(many_entities(9), since, until)
    found = colours_in(daily_mentions_png(report, top=4))
    assert set(COLOURS[:4]) <= found and not set(COLOURS[4:]) & found


def test_an_empty_report_still_draws_a_chart():
    since, until = parse_period("24h").bounds(NOW)
    png = daily_mentions_png(summarise([], since, until))
    assert Image.open(io.BytesIO(png)).size == (1080, 1080)
    assert not set(COLOURS) & colours_in(png)


def test_stories_are_counted_once_per_entity_and_unplaced_articles_count_alone():
    week = [
        MatchedArticle(1, "Wire", NOW - timedelta(days=2), (KH, TAJI), story_id=1),
        MatchedArticle(2, "Regional", NOW - timedelta(days=2), (KH,), story_id=1),  # the same event elsewhere
        MatchedArticle(3, "Briefs", NOW - timedelta(days=1), (KH,), story_id=3),
        MatchedArticle(4, "Briefs", NOW - timedelta(days=1), (TAJI,)),  # stored before stories: its own
    ]
    report = summarise(week, NOW - timedelta(days=7), NOW)
    by_id = {e.id: e for e in report.entities}
    assert (by_id["kataeb-hezbollah"].articles, by_id["kataeb-hezbollah"].stories) == (3, 2)
    assert (by_id["taji-base"].articles, by_id["taji-base"].stories) == (2, 2)
    assert report_json(report)["entities"][0]["stories"] == 2
    assert "Kataeb Hezbollah</b> 3 (2 stories)" in telegram_caption(report)
