"""Story assignment (monitor.stories): pure unit tests with short articles of our own.

Each test feeds articles in the order they would arrive and checks which
story each one lands in, and why. Times are the articles' own published times:
the assigner has no clock of its own.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from monitor.stories import Article, StoryAssigner, StorySettings
from monitor.stories.evidence import EvidenceFinder, find_numbers

T0 = datetime(2021, 2, 15, 18, 0, tzinfo=timezone.utc)

WIRE_TEXT = (
    "About a dozen rockets struck the Erbil air base, which hosts U.S.-led coalition troops, late on Monday, "
    "killing a civilian contractor and wounding five others, Kurdish officials said. "
    "It was the first attack on the base in months."
)


def article(
    id: str,
    outlet: str,
    title: str,
    text: str = "",
    *,
    lang: str = "en",
    hours: float = 0.0,
    entities: tuple[str, ...] = ("erbil-airbase",),
    title_entities: tuple[str, ...] | None = None,
    url: str | None = None,
) -> Article:
    return Article(
        id=id,
        outlet=outlet,
        lang=lang,
        published=T0 + timedelta(hours=hours),
        title=title,
        text=text,
        entities=frozenset(entities),
        title_entities=frozenset(title_entities) if title_entities is not None else None,
        url=url,
    )


@pytest.fixture(scope="module")
def finder() -> EvidenceFinder:
    return EvidenceFinder()  # built once: the word lists' automata


@pytest.fixture
def assigner(finder: EvidenceFinder) -> StoryAssigner:
    return StoryAssigner(StorySettings(), finder)


def wire(id: str = "w1", outlet: str = "North Wire", hours: float = 0.0, **kw) -> Article:
    return article(id, outlet, "Rockets hit Erbil air base, killing a contractor", WIRE_TEXT, hours=hours, **kw)


# ------------------------------------------------------------------ copies


def test_reprints_light_edits_and_tracking_urls_join_the_wire_story(assigner: StoryAssigner) -> None:
    first = assigner.assign(wire(url="https://northwire.example/erbil-rockets"))
    reprint = assigner.assign(wire("r1", "Daily Reprints", hours=0.5))
    edited = assigner.assign(
        article(
            "r2",
            "Gulf Pages",
            "Iraq: Rockets hit Erbil air base, killing a contractor",
            "ERBIL (North Wire) - " + WIRE_TEXT + " This story was reprinted from a wire service report.",
            hours=1,
        )
    )
    tracked = assigner.assign(
        article("r3", "North Wire", "Rockets hit Erbil air base", "A shorter feed summary.", hours=1.5,
                url="https://www.northwire.example/erbil-rockets?utm_source=rss&utm_medium=feed")
    )
    assert first.new_story and first.story_id == "w1"
    assert [d.story_id for d in (reprint, edited, tracked)] == ["w1", "w1", "w1"]
    assert [d.layer for d in (reprint, edited, tracked)] == ["copy", "copy", "copy"]
    assert tracked.reason == "same canonical URL"


def test_a_copy_joins_even_without_tracked_entities(assigner: StoryAssigner) -> None:
    assigner.assign(wire())
    copy = assigner.assign(wire("r1", "Daily Reprints", hours=2, entities=()))
    assert copy.story_id == "w1" and copy.layer == "copy"


def test_assigning_the_same_article_again_changes_nothing(assigner: StoryAssigner) -> None:
    assigner.assign(wire())
    again = assigner.assign(wire())
    assert again.story_id == "w1" and again.reason == "already assigned"
    assert [s.article_ids for s in assigner.stories()] == [("w1",)]


# ------------------------------------------------------------- retellings


def test_same_event_retold_by_another_outlet_joins(assigner: StoryAssigner) -> None:
    assigner.assign(wire())
    retold = assigner.assign(
        article(
            "g1",
            "Gulf Herald",
            "Contractor killed as rocket barrage targets coalition base at Erbil airport",
            "A civilian contractor died and five people were injured when rockets struck the coalition's Erbil "
            "air base on Monday night, according to the Kurdistan Region's interior ministry.",
            hours=1,
        )
    )
    assert retold.story_id == "w1"
    assert retold.layer in ("same-language", "evidence")


def test_arabic_and_english_reports_of_one_attack_join(assigner: StoryAssigner) -> None:
    assigner.assign(wire())
    arabic = assigner.assign(
        article(
            "a1",
            "Sawt",
            "مقتل متعاقد مدني بهجوم صاروخي على قاعدة أربيل الجوية",
            "قتل متعاقد مدني وأصيب خمسة آخرون إثر سقوط صواريخ على قاعدة أربيل الجوية التي تضم قوات التحالف "
            "مساء الاثنين، بحسب مسؤولين في إقليم كردستان.",
            lang="ar",
            hours=1.5,
        )
    )
    assert arabic.story_id == "w1"
    assert arabic.layer == "evidence"
    assert assigner.stories()[0].languages == ("en", "ar")


def test_follow_up_with_a_higher_toll_joins(assigner: StoryAssigner) -> None:
    assigner.assign(wire())
    follow_up = assigner.assign(
        article(
            "f1",
            "Levant Daily",
            "Death toll in Erbil rocket attack rises to two",
            "A second person has died of wounds suffered in Monday's rocket attack on the Erbil air base, "
            "raising the toll to two; four others remain in hospital, officials said.",
            hours=5,
        )
    )
    assert follow_up.story_id == "w1"


def test_another_outlets_report_adds_its_new_entities_to_the_story(assigner: StoryAssigner) -> None:
    assigner.assign(wire())
    with_group = assigner.assign(
        article(
            "g2",
            "Capital Times",
            "Rocket attack on Erbil air base kills contractor",
            "Rockets hit the Erbil air base on Monday, killing a contractor and wounding five. A little-known "
            "group claimed it; officials suspect cover for Kataib Hezbollah.",
            hours=1,
            entities=("erbil-airbase", "kataeb-hezbollah"),
            title_entities=("erbil-airbase",),
        )
    )
    assert with_group.story_id == "w1"
    assert with_group.new_entities == frozenset({"kataeb-hezbollah"})


# ------------------------------------------------------ new developments


def test_denial_by_the_accused_group_hours_later_opens_a_new_story(assigner: StoryAssigner) -> None:
    assigner.assign(wire())
    denial = assigner.assign(
        article(
            "d1",
            "Gulf Herald",
            "Kataib Hezbollah denies role in Erbil rocket attack",
            "Kataib Hezbollah said on Tuesday it had nothing to do with the rocket attack on the Erbil air base "
            "that killed a contractor, and warned against accusations.",
            hours=14,
            entities=("erbil-airbase", "kataeb-hezbollah"),
            title_entities=("kataeb-hezbollah", "erbil-airbase"),
        )
    )
    assert denial.new_story
    check = assigner.explain(
        article("d1", "Gulf Herald", "Kataib Hezbollah denies role in Erbil rocket attack", hours=14,
                entities=("erbil-airbase", "kataeb-hezbollah")),
        wire(),
    )
    assert not check.joined and "denial" in check.new_kinds


def test_second_attack_on_the_same_base_days_later_is_a_new_story(assigner: StoryAssigner) -> None:
    assigner.assign(wire())
    assigner.assign(wire("r1", "Daily Reprints", hours=1))
    second = assigner.assign(
        article(
            "s1",
            "Gulf Herald",
            "Rockets hit Erbil air base, wounding three",
            "Three rockets struck the Erbil air base on Thursday evening, wounding three coalition soldiers, "
            "Kurdish officials said.",
            hours=72,
        )
    )
    assert second.new_story  # the first story closed: nothing joined it for a day


def test_second_attack_within_a_day_announced_as_such_is_a_new_story(assigner: StoryAssigner) -> None:
    assigner.assign(wire())
    assigner.assign(
        article("g1", "Gulf Herald", "Contractor killed in rocket attack on Erbil air base",
                "Rockets hit the Erbil air base on Monday, killing a civilian contractor.", hours=2)
    )
    second = assigner.assign(
        article(
            "s1",
            "Capital Times",
            "Erbil air base hit again by rockets a day after deadly attack",
            "Rockets struck the Erbil air base again on Tuesday evening, a day after an attack that killed a "
            "contractor there. No one was hurt this time.",
            hours=22,
        )
    )
    assert second.new_story


def test_unrelated_reports_about_one_entity_on_one_day_stay_apart(assigner: StoryAssigner) -> None:
    ambush = assigner.assign(
        article("i1", "North Wire", "Islamic State ambush kills four soldiers near Kirkuk",
                "Four Iraqi soldiers were killed when Islamic State militants ambushed a patrol south-west of Kirkuk.",
                entities=("islamic-state",))
    )
    court = assigner.assign(
        article("i2", "Capital Times", "Baghdad court sentences 11 Islamic State members to death",
                "A criminal court in Baghdad sentenced 11 men to death for membership of the Islamic State group.",
                hours=3, entities=("islamic-state",))
    )
    assert ambush.new_story and court.new_story
    check = assigner.explain(
        article("i2", "Capital Times", "Baghdad court sentences 11 Islamic State members to death",
                "A criminal court in Baghdad sentenced 11 men to death for membership of the Islamic State group.",
                hours=3, entities=("islamic-state",)),
        article("i1", "North Wire", "Islamic State ambush kills four soldiers near Kirkuk",
                "Four Iraqi soldiers were killed when Islamic State militants ambushed a patrol south-west of Kirkuk.",
                entities=("islamic-state",)),
    )
    assert check.reason == "contradiction: they name different places and different numbers (baghdad / kirkuk; 11 / 4)"


def test_a_report_that_never_mentions_the_storys_subject_stays_apart(assigner: StoryAssigner) -> None:
    handover = assigner.assign(
        article("t1", "North Wire", "Coalition hands Camp Taji over to Iraqi forces",
                "The anti-IS coalition handed Camp Taji north of Baghdad to the Iraqi army; rockets killed three "
                "coalition soldiers there in March.", entities=("taji-base", "islamic-state"),
                title_entities=("taji-base",))
    )
    attack = article("i1", "Capital Times", "Islamic State attack kills three soldiers north of Baghdad",
                     "Three Iraqi soldiers were killed when Islamic State militants attacked an army post north of "
                     "Baghdad.", hours=2, entities=("islamic-state",), title_entities=("islamic-state",))
    assert handover.new_story and assigner.assign(attack).new_story
    check = assigner.explain(attack, article("t1", "North Wire", "Coalition hands Camp Taji over to Iraqi forces",
                                             entities=("taji-base", "islamic-state"), title_entities=("taji-base",)))
    assert check.reason == "different subjects: B's title names taji-base, which A does not mention"


def test_one_outlets_second_article_joins_only_as_a_copy(assigner: StoryAssigner) -> None:
    assigner.assign(wire())
    update = article(
        "w2",
        "North Wire",
        "Contractor killed in rocket attack on Erbil air base, five hurt",
        "A civilian contractor was killed and five people were wounded in a rocket attack on the Erbil air base.",
        hours=1,
    )
    assert assigner.assign(update).new_story
    check = assigner.explain(update, wire())
    assert not check.joined and check.reason == "same outlet and not a copy"


def test_no_shared_tracked_entity_no_join(assigner: StoryAssigner) -> None:
    assigner.assign(wire())
    other = assigner.assign(
        article("o1", "Gulf Herald", "Rockets hit coalition base, killing a contractor",
                "About a dozen rockets struck a base hosting coalition troops, killing a contractor.",
                hours=1, entities=("ain-al-asad-airbase",))
    )
    assert other.new_story


# --------------------------------------------------------- windows, time


def test_a_story_stops_taking_articles_after_max_story_age(finder: EvidenceFinder) -> None:
    assigner = StoryAssigner(StorySettings(join_window="24h", max_story_age="36h"), finder)
    assigner.assign(wire())
    decisions = [assigner.assign(wire(f"r{n}", f"Reprint site {n}", hours=12 * n)) for n in range(1, 5)]
    assert [d.story_id for d in decisions] == ["w1", "w1", "w1", "r4"]  # r4 came 48 h after the first


def test_an_older_report_arriving_late_still_joins(assigner: StoryAssigner) -> None:
    assigner.assign(wire(hours=3))
    late = assigner.assign(wire("r1", "Daily Reprints", hours=1))
    assert late.story_id == "w1"
    assert assigner.stories()[0].first_published == T0 + timedelta(hours=1)


def test_naive_times_are_utc_and_language_tags_are_reduced(assigner: StoryAssigner) -> None:
    naive = Article("n1", "North Wire", "EN-GB", datetime(2021, 2, 15, 18, 0), "Rockets hit Erbil air base",
                    WIRE_TEXT, frozenset({"erbil-airbase"}))
    assigner.assign(naive)
    view = assigner.stories()[0]
    assert view.first_published == T0 and view.languages == ("en",)


# ------------------------------------------------------------ explain


def test_explain_says_why_two_reports_joined(assigner: StoryAssigner) -> None:
    english = wire()
    arabic = article("a1", "Sawt", "مقتل متعاقد بهجوم صاروخي على قاعدة أربيل الجوية",
                     "قتل متعاقد مدني وأصيب خمسة آخرون إثر سقوط صواريخ على قاعدة أربيل الجوية.", lang="ar", hours=1)
    check = assigner.explain(arabic, english)
    text = str(check)
    assert check.joined and check.layer == "evidence"
    assert check.shared_entities == frozenset({"erbil-airbase"})
    assert 5 in check.shared_numbers and {"projectile", "killed", "wounded"} <= check.shared_concepts
    assert text.startswith("A a1 / B w1: JOIN (evidence)")
    assert "shared erbil-airbase" in text and "apart:     1.0 h" in text


def test_explain_says_why_two_reports_did_not_join(assigner: StoryAssigner) -> None:
    far = article("x1", "Gulf Herald", "Rockets hit Erbil air base", WIRE_TEXT[:80], hours=30)
    check = assigner.explain(far, wire())
    assert not check.joined
    assert "30.0 h apart, more than the join window of 24 h" in check.reason
    assert "SEPARATE" in str(check)


# ---------------------------------------------------- state, snapshots


def test_snapshot_round_trip_gives_the_same_decisions(assigner: StoryAssigner, finder: EvidenceFinder) -> None:
    assigner.assign(wire())
    assigner.assign(wire("r1", "Daily Reprints", hours=0.5))
    data = json.loads(json.dumps(assigner.snapshot()))
    restored = StoryAssigner.from_snapshot(data, finder)
    arabic = article("a1", "Sawt", "مقتل متعاقد بهجوم صاروخي على قاعدة أربيل الجوية",
                     "قتل متعاقد مدني وأصيب خمسة آخرون إثر سقوط صواريخ على قاعدة أربيل الجوية.", lang="ar", hours=1)
    assert restored.stories() == assigner.stories()
    assert restored.assign(arabic) == assigner.assign(arabic)


def test_restore_rebuilds_stories_from_stored_assignments(assigner: StoryAssigner, finder: EvidenceFinder) -> None:
    rebuilt = StoryAssigner(StorySettings(), finder)
    rebuilt.restore(wire(), "story-7")
    rebuilt.restore(wire("r1", "Daily Reprints", hours=0.5), "story-7")
    decision = rebuilt.assign(wire("r2", "Gulf Pages", hours=1))
    assert decision.story_id == "story-7"
    assert rebuilt.story_of("r1") == "story-7"


def test_snapshot_of_another_version_is_refused() -> None:
    with pytest.raises(ValueError, match="not a story snapshot"):
        StoryAssigner.from_snapshot({"version": 99, "stories": []})


def test_closed_stories_are_forgotten(assigner: StoryAssigner) -> None:
    assigner.assign(wire())
    assigner.assign(article("i1", "North Wire", "Islamic State cell arrested in Mosul", "Police arrested five men.",
                            hours=100, entities=("islamic-state",)))
    assert [s.id for s in assigner.stories()] == ["i1"]
    assert len(assigner.snapshot()["stories"]) == 1


def test_past_max_open_articles_the_oldest_are_forgotten_first(finder: EvidenceFinder) -> None:
    """A busy day cannot grow the engine's memory without bound: the oldest articles are
    forgotten first; a story whose articles are all forgotten closes."""
    assigner = StoryAssigner(StorySettings(max_open_articles=100), finder)
    assigner.assign(wire())
    for n in range(1, 130):  # one wire story taking reprints, among unrelated reports
        if n % 2:
            assigner.assign(wire(f"r{n}", f"Reprint site {n}", hours=n / 60))
        else:
            assigner.assign(article(f"u{n}", f"Local paper {n}", f"Council meeting number {n} in Duhok", f"Item {n}.",
                                    hours=n / 60, entities=(f"entity-{n}",)))
    remembered = [a for s in assigner.stories() for a in s.article_ids]
    assert len(remembered) == 100
    assert assigner.story_of("w1") is None and assigner.story_of("u2") is None  # the oldest went first
    assert assigner.story_of("r29") is None and assigner.story_of("u30") == "u30" and assigner.story_of("r31") == "w1"  # the 100 latest stay
    assert "u2" not in {s.id for s in assigner.stories()}  # all its articles forgotten: closed
    # The wire story still takes reprints through the articles it remembers.
    assert assigner.assign(wire("late", "Another site", hours=2.5)).story_id == "w1"


# ------------------------------------------------------------ settings


def test_settings_take_durations_and_reject_impossible_windows() -> None:
    settings = StorySettings.model_validate({"join_window": "18h", "max_story_age": "2d", "evidence_window": "90m"})
    assert (settings.join_window, settings.max_story_age, settings.evidence_window) == (64800, 172800, 5400)
    with pytest.raises(ValidationError, match="join_window must not be longer than max_story_age"):
        StorySettings(join_window="3d", max_story_age="1d")
    with pytest.raises(ValidationError, match="permutations"):
        StorySettings(copy_threshold=0.95, minhash_permutations=32)
    with pytest.raises(ValidationError, match="extra"):
        StorySettings.model_validate({"join_windw": "1h"})


# ------------------------------------------------------------ evidence


@pytest.mark.parametrize(
    ("text", "lang", "numbers"),
    [
        ("At least 15 rockets hit the base, wounding 12, on March 11, 2020 at 19:30.", "en", {15, 12}),
        ("سقط ١٥ صاروخا وأصيب ثلاثة جنود وقتل خمسة عشر مدنيا في 11 آذار", "ar", {15, 3}),
        ("Trente-trois roquettes ont blessé cinq soldats le 14 mars.", "fr", {33, 5}),
        ("Dreiunddreißig Raketen, fünf Verletzte, 1.000 Schaulustige", "de", {33, 5, 1000}),
        ("One rocket, a dozen launchers and 2,500 troops.", "en", {2500}),
    ],
)
def test_numbers_in_digits_of_any_script_and_in_words(text: str, lang: str, numbers: set[int]) -> None:
    assert find_numbers(text, lang) == numbers


def test_kinds_of_event_and_places_are_found_in_every_language(finder: EvidenceFinder) -> None:
    english = finder.find("Rockets hit base near Baghdad, two killed", "", "en")
    arabic = finder.find("مقتل اثنين بقصف صاروخي على قاعدة قرب بغداد", "", "ar")
    german = finder.find("Zwei Tote bei Raketenangriff nahe Bagdad", "", "de")
    for found in (english, arabic, german):
        assert {"projectile", "killed"} <= found.concepts
        assert found.places == frozenset({"baghdad"})
        assert 2 in found.numbers
    assert "repeat" in finder.find("Erneut Raketen auf Stützpunkt", "", "de").title_concepts
    assert "repeat" in finder.find("هجوم جديد على القاعدة", "", "ar").title_concepts
    assert "killed" not in finder.find("Statement issued on Tuesday", "", "en").concepts  # not "tué*"


# ------------------------------------------------------------ odd input


def test_empty_and_odd_articles_are_assigned_without_error(assigner: StoryAssigner) -> None:
    odd = [
        Article("e1", "", "", T0, "", "", frozenset()),
        Article("e2", "Site", "ar", T0, "؟!", "\u200f\u200e", frozenset({"erbil-airbase"})),
        Article("e3", "Site 2", "xx-YY", T0, "1900 2100 ٢٠٢٠", "12:30 11/03 3.5 1,000,000", frozenset({"erbil-airbase"}),
                url="not a url"),
    ]
    decisions = [assigner.assign(a) for a in odd]
    assert decisions[0].new_story  # no entity, no text: nothing to join
    assert decisions[2].story_id in ("e2", "e3")
    check = assigner.explain(odd[0], odd[1])
    assert not check.joined and check.reason == "no tracked entity in common"


@settings(max_examples=40, deadline=None)
@given(title=st.text(max_size=80), text=st.text(max_size=300), lang=st.sampled_from(["en", "ar", "fr", "de", "tr", ""]))
def test_any_text_is_assigned_without_error(finder: EvidenceFinder, title: str, text: str, lang: str) -> None:
    assigner = StoryAssigner(StorySettings(), finder)
    assigner.assign(wire())
    decision = assigner.assign(article("x", "Fuzz", title, text, lang=lang, hours=1))
    assert decision.story_id in ("w1", "x")
