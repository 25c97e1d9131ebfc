"""The matching mechanisms that carry names across languages, each with its traps.

Script folding, transliteration, inflection, scripts without spaces, role
phrases, bases named by their town, and the mechanism `explain` reports. Every
sentence here is written for these tests. The shipped watchlist is used where
its aliases cover the case; small watchlists written here show a mechanism on
its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config.watchlist import Watchlist, load_watchlist
from monitor.match import Matcher

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def shipped() -> Matcher:
    return Matcher.from_watchlist(load_watchlist(REPO / "config" / "watchlist.yaml"))


def build(tmp_path: Path, text: str) -> Matcher:
    path = tmp_path / "watchlist.yaml"
    path.write_text(text, encoding="utf-8")
    return Matcher.from_watchlist(load_watchlist(path))


def found(matcher: Matcher, text: str) -> dict[str, list[tuple[str, str]]]:
    """entity id -> [(mention text, rule)], checking that every offset points at its text."""
    result = {}
    for match in matcher.match(text):
        for m in match.mentions:
            assert text[m.start : m.end] == m.text
        result[match.entity_id] = [(m.text, m.rule) for m in match.mentions]
    return result


# -- script folding: Persian, Urdu, Kurdish letters find Arabic-script aliases ----------------


@pytest.mark.parametrize(
    ("text", "entity", "surface"),
    [
        ("سردار قاسم سلیمانی فرمانده نیروی قدس بود", "qasem-soleimani", "قاسم سلیمانی"),  # Persian ی
        ("جنرل قاسم سلیمانی کی برسی کے موقع پر", "qasem-soleimani", "قاسم سلیمانی"),  # Urdu
        ("کتائب حزب الله مسئولیت حمله را نپذیرفت", "kataeb-hezbollah", "کتائب حزب الله"),  # Persian ک
        ("هێزەکانی حەشدی شەعبی و الحشد الشعبي", "hashed-al-shaabi", "الحشد الشعبي"),
        ("قاعدهٔ عين الأسد هدف قرار گرفت", "ain-al-asad-airbase", "عين الأسد"),
    ],
)
def test_persian_urdu_kurdish_letters_find_arabic_aliases(shipped: Matcher, text: str, entity: str, surface: str) -> None:
    assert surface in [t for t, _ in found(shipped, text)[entity]]


def test_kurdish_letters_fold_to_arabic(tmp_path: Path) -> None:
    # ە ێ ۆ ڕ ڵ and Persian digits, tatweel, harakat, ZWNJ: one spelling for the alias and the text.
    m = build(tmp_path, "entities:\n  - id: a\n    name: A\n    aliases: [قاعدة ١٢ بيروز]\n")
    # Kurdish ە ێ ۆ, Persian digits, tatweel, harakat and ZWNJ in the text; plain Arabic in the alias.
    assert found(m, "لە قاعدەی ۱۲ بێرۆز")  == {}  # قاعدەی is a different word (Kurdish ezafe): no match
    assert "a" in found(m, "هاجموا قاعـدة ۱۲ بَێرۆز\u200c أمس")


# -- transliteration: Greek and Cyrillic text meets Latin aliases --------------------------------


def test_russian_names_found_through_latin_aliases(tmp_path: Path) -> None:
    m = build(
        tmp_path,
        "variant_rules: [{name: q-k, alternatives: [q, k], where: word-start}]\n"
        "entities:\n"
        "  - id: soleimani\n    name: Soleimani\n    aliases: [Qasem Suleimani]\n"
        "  - id: muhandis\n    name: Muhandis\n    aliases: [Abu Mahdi al-Muhandis]\n",
    )
    text = "Генерал Касем Сулеймани и Абу Махди аль-Мухандис погибли под Багдадом."
    result = found(m, text)
    assert result["soleimani"] == [("Касем Сулеймани", "transliteration: variant rule q-k")]
    assert result["muhandis"] == [("Абу Махди аль-Мухандис", "transliteration")]


def test_shipped_watchlist_finds_russian_names(shipped: Matcher) -> None:
    result = found(shipped, "Генерал Кассем Сулеймани и Абу Махди аль-Мухандис погибли под Багдадом.")
    assert result["qasem-soleimani"][0][0] == "Кассем Сулеймани"
    assert result["abu-mahdi-al-muhandis"][0][0] == "Абу Махди аль-Мухандис"


def test_ukrainian_reads_g_as_h(shipped: Matcher) -> None:
    # Ukrainian г is h: Мугандіс = Muhandis.
    result = found(shipped, "Загинули також Касем Сулеймані та Абу Махді аль-Мугандіс.")
    assert result["abu-mahdi-al-muhandis"][0][0] == "Абу Махді аль-Мугандіс"


def test_greek_names_found_through_latin_aliases(shipped: Matcher) -> None:
    result = found(shipped, "Ο στρατηγός Κασέμ Σουλεϊμανί σκοτώθηκε στη Βαγδάτη.")
    assert result["qasem-soleimani"] == [("Κασέμ Σουλεϊμανί", result["qasem-soleimani"][0][1])]


def test_transliteration_keeps_the_city_trap(shipped: Matcher) -> None:
    # Сулеймания is the city (Sulaymaniyah); the ending -iya is not a case ending.
    assert "qasem-soleimani" not in found(shipped, "В Сулеймании прошли выборы в местный совет.")


def test_cyrillic_alias_takes_case_endings_in_latin_letters(tmp_path: Path) -> None:
    m = build(
        tmp_path,
        "inflection: {endings: [a, u, om, e]}\n"
        "entities:\n  - id: muhandis\n    name: Muhandis\n    aliases: [Мухандис]\n",
    )
    [(surface, rule)] = found(m, "Портрет Мухандиса висел на стене.")["muhandis"]
    assert surface == "Мухандиса" and rule.startswith("transliteration") and "-a" in rule


def test_latin_text_is_not_transliterated(shipped: Matcher) -> None:
    # A Latin word equal to a transliterated Cyrillic alias is not matched in Latin text.
    assert shipped.match("The cafe sign read Kirkuke in big letters.") == []


# -- inflection: case endings after a name -------------------------------------------------------


INFLECTING = """
inflection:
  min_letters: 5
  endings: [s, t, nak, nek, ban, i, u, em, ego, n, ssa, a]
entities:
  - id: suleimani
    name: Soleimani
    aliases: [Szulejmáni, Sulejmani, Soleimani]
  - id: hezbollah-brigades
    name: Hezbollah Brigades
    aliases: [Kataib Hezbollah]
  - id: taji
    name: Taji
    aliases: [Taji]
  - id: isis
    name: ISIS
    aliases: [{text: ISIS, case_sensitive: true}]
  - id: quiet
    name: No endings here
    inflection: false
    aliases: [Besmaya]
"""


@pytest.mark.parametrize(
    ("text", "entity", "surface", "ending"),
    [
        ("A tábornok Szulejmánit Bagdadban ölték meg.", "suleimani", "Szulejmánit", "-t"),  # Hungarian accusative
        ("Szulejmáninak nem volt ideje.", "suleimani", "Szulejmáninak", "-nak"),  # Hungarian dative
        ("Śmierć Sulejmaniego zaskoczyła wielu.", "suleimani", "Sulejmaniego", "-ego"),  # Polish genitive
        ("Soleimanin kuolema järkytti Irania.", "suleimani", "Soleimanin", "-n"),  # Finnish genitive
        ("Die Raketen der Kataib Hezbollahs trafen das Lager.", "hezbollah-brigades", "Kataib Hezbollahs", "-s"),
        ("bojownicy Kataib Hezbollahu w Bagdadzie", "hezbollah-brigades", "Kataib Hezbollahu", "-u"),
    ],
)
def test_case_endings_after_names(tmp_path: Path, text: str, entity: str, surface: str, ending: str) -> None:
    [(found_surface, rule)] = found(build(tmp_path, INFLECTING), text)[entity]
    assert found_surface == surface
    assert rule.startswith("inflection") and ending in rule


@pytest.mark.parametrize(
    "text",
    [
        "Tajik workers crossed the border.",  # short alias: no endings (Taji + k is another word)
        "Isisa and ISISu are not the group.",  # acronyms take no endings
        "Sulejmaniya hosted the conference.",  # -ya is not an ending: another place
        "Besmayan farmers and Besmayas.",  # the entity switched inflection off
        "Soleimaniland is a made-up word.",  # an ending must end the word
    ],
)
def test_inflection_traps(tmp_path: Path, text: str) -> None:
    assert found(build(tmp_path, INFLECTING), text) == {}


def test_alias_switch_overrides_entity_switch(tmp_path: Path) -> None:
    m = build(
        tmp_path,
        "inflection: {endings: [u]}\nentities:\n  - id: a\n    name: A\n    inflection: false\n"
        "    aliases: [{text: Hezbollah Brigades, inflection: true}, Kataib Hezbollah]\n",
    )
    assert "a" in found(m, "przez Hezbollah Brigadesu")
    assert found(m, "przez Kataib Hezbollahu") == {}


def test_turkish_suffix_after_apostrophe_is_a_word_break(shipped: Matcher) -> None:
    text = "SDG'nin Haseke'deki cezaevinden DEAŞ'lı teröristler kaçtı; Suriye'nin kuzeyi karıştı."
    result = found(shipped, text)
    assert result["syrian-democratic-forces"][0][0] == "SDG"
    assert result["islamic-state"][0][0] == "DEAŞ"


def test_shipped_watchlist_inflects_and_keeps_its_traps(shipped: Matcher) -> None:
    assert "kataeb-hezbollah" in found(shipped, "Atak przypisano Kataib Hezbollahowi.")
    assert found(shipped, "Libańskiego Hezbollahu nie należy mylić z innymi.") == {}


# -- Chinese and Japanese: no spaces between words --------------------------------------------


def test_chinese_aliases_need_no_word_breaks(tmp_path: Path) -> None:
    m = build(
        tmp_path,
        "entities:\n"
        "  - id: is\n    name: IS\n    aliases: [伊斯兰国, イスラム国]\n"
        "  - id: sdf\n    name: SDF\n"
        "    aliases: [{text: SDF, case_sensitive: true, requires: {words: [叙利亚, 库尔德], within: 3}}]\n",
    )
    assert found(m, "极端组织伊斯兰国宣称对袭击负责。")["is"] == [("伊斯兰国", "alias")]
    assert "is" in found(m, "過激派組織イスラム国の戦闘員")
    # A Latin acronym glued to Chinese characters, with a Chinese context word.
    assert found(m, "美军与SDF合作打击叙利亚境内的残余武装。")["sdf"][0][0] == "SDF"
    assert found(m, "日本自卫队SDF举行演习。") == {}  # no Syrian context: not this SDF


def test_latin_names_glued_to_chinese_characters(shipped: Matcher) -> None:
    assert found(shipped, "数名ISIS武装分子在伊拉克被捕。")["islamic-state"][0][0] == "ISIS"


# -- role phrases: a name next to "coalition spokesman", however it is spelled ----------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Wayne Marrotto, who speaks for the coalition, said no one was hurt.", "Wayne Marrotto"),
        ("The coalition's spokesman Col. Myles Cagins denied it.", "Myles Cagins"),
        ("OIR spokesman Col. Wayn Marotto wrote on Twitter.", "Wayn Marotto"),
        ("selon le porte-parole de la coalition, le colonel Myles Caggin, l'attaque a échoué", "Myles Caggin"),
        ("Koalitionssprecher Oberst Wayne Maroto sagte, niemand sei verletzt worden.", "Wayne Maroto"),
        ("dijo el portavoz de la coalición, el coronel Miles Caggins, a la prensa", "Miles Caggins"),
        ("powiedział rzecznik koalicji płk Wayne Marotto dziennikarzom", "Wayne Marotto"),
        ("заявил представитель коалиции полковник Уэйн Маротто", "Уэйн Маротто"),
        ("وقال المتحدث باسم التحالف الدولي العقيد واين ماروتو إن الهجوم فشل", "واين ماروتو"),
        ("سخنگوی ائتلاف، سرهنگ وین ماروتو، گفت", "وین ماروتو"),
    ],
)
def test_role_phrases_find_misspelled_spokespeople(shipped: Matcher, text: str, name: str) -> None:
    mentions = found(shipped, text)["coalition-spokesperson"]
    assert (name, "role: before") in mentions or (name, "role: after") in mentions


@pytest.mark.parametrize(
    "text",
    [
        "The Saudi-led coalition spokesman Turki al-Maliki said the strikes continued in Yemen.",
        "A coalition spokesman said the base had been handed over.",  # no name
        "قال المتحدث باسم التحالف إن القوات انسحبت",  # no name after the phrase
        "The ruling coalition spokesman Ali Hassan spoke to parliament.",
    ],
)
def test_role_phrase_traps(shipped: Matcher, text: str) -> None:
    assert "coalition-spokesperson" not in found(shipped, text)


# -- bases named by their town, next to a base word of any language ---------------------------


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        ("Two rockets struck the air base in Kirkuk overnight.", "k1-airbase"),
        ("سقطت صواريخ على قاعدة كركوك الجوية مساء أمس", "k1-airbase"),
        ("Des roquettes ont visé la base aérienne de Kirkouk.", "k1-airbase"),
        ("Raketen schlugen auf dem Stützpunkt Kirkuk ein.", "k1-airbase"),
        ("Rakiety spadły na bazę w Kirkuku.", "k1-airbase"),
        ("Ракеты упали на авиабазе в Киркуке.", "k1-airbase"),
        ("Kerkük Hava Üssü'ne roket saldırısı düzenlendi.", "k1-airbase"),
        ("Drones targeted the base at Erbil airport.", "erbil-airbase"),
        ("پایگاه اربیل هدف حمله پهپادی قرار گرفت", "erbil-airbase"),
        ("coalition troops left the Qayyarah base in March", "qayyarah-airbase"),
    ],
)
def test_bases_named_by_their_town(shipped: Matcher, text: str, entity: str) -> None:
    assert entity in found(shipped, text)


@pytest.mark.parametrize(
    "text",
    [
        "Kirkuk city council met on Monday to discuss the budget.",
        "The governor of Kirkuk province visited a school.",
        "مدينة كركوك تستعد للانتخابات",
        "Residents of the town of Qayyarah returned after the oil fires.",
        "Trucks queued at the al-Qaim border crossing for days.",
        "Erbil, the capital of the Kurdistan Region, hosted the talks.",
        "La ville de Kirkouk a célébré le Nouvel An.",
    ],
)
def test_towns_alone_are_not_bases(shipped: Matcher, text: str) -> None:
    assert not {"k1-airbase", "erbil-airbase", "qayyarah-airbase", "al-qaim-base"} & set(found(shipped, text))


def test_places_need_a_bases_rule(tmp_path: Path) -> None:
    from monitor.config.yamlfile import ConfigError

    with pytest.raises(ConfigError, match="bases"):
        build(tmp_path, "entities:\n  - id: k1\n    name: K1\n    places: [Kirkuk]\n")


# -- explain names the mechanism that fired ---------------------------------------------------


def test_explain_names_each_mechanism(shipped: Matcher) -> None:
    cases = {
        "alias": "Rockets hit Camp Taji.",
        "variant rule": "Kata'ib Hizballah denied it.",
        "inflection": "bojownicy Kataib Hezbollahu",
        "transliteration": "Касем Сулеймани",
        "role": "coalition spokesman Col. Wayne Marotto said",
        "context rule": "rockets hit the air base in Kirkuk",
    }
    for mechanism, text in cases.items():
        accepted = [x for x in shipped.explain(text) if x.accepted]
        assert mechanism in {x.mechanism for x in accepted}, (mechanism, [str(x) for x in accepted])
        assert any(f"by {mechanism}" in str(x) for x in accepted)


def test_watchlist_model_defaults_keep_inflection_off() -> None:
    # A watchlist that says nothing about inflection matches as before.
    wl = Watchlist.model_validate({"entities": [{"id": "a", "name": "A", "aliases": ["Hezbollah Brigades"]}]})
    assert wl.inflection.enabled is False
    assert Matcher.from_watchlist(wl).match("Hezbollah Brigadesu") == []


# -- Hebrew spelling, Sorani endings, Besmaya (issue 13, second round) ----------------------------


@pytest.mark.parametrize(
    "text, entity, surface",
    [
        # full and defective spelling, doubled letters: one skeleton
        ("ארגון כתאאב חזבאלה הודיע על תקיפה.", "kataeb-hezbollah", "כתאאב חזבאלה"),
        ("המפקד קאסם סלימאני חוסל בבגדאד.", "qasem-soleimani", "קאסם סלימאני"),
        # geresh inside a word is dropped like an apostrophe
        ("לדברי כתאא׳יב חיזבאללה, הפעולה תימשך.", "kataeb-hezbollah", "כתאא׳יב חיזבאללה"),
        ("רקטות נורו לעבר הבסיס בטאג׳י.", "taji-base", "בטאג׳י"),
        # a prefixed context word (הבסיס) and the full spelling of the town (אירביל)
        ("רחפנים תקפו את הבסיס באירביל שבו מוצבים חיילים אמריקאים.", "erbil-airbase", "באירביל"),
    ],
)
def test_hebrew_spellings_share_one_skeleton(shipped: Matcher, text: str, entity: str, surface: str) -> None:
    assert surface in [t for t, _ in found(shipped, text)[entity]]


@pytest.mark.parametrize(
    "text",
    [
        "יש חשד כי הנהג נרדם.",  # חשד = suspicion
        "חטיבות חיזבאללה בדרום לבנון בכוננות.",  # Lebanese Hezbollah's brigades
        "העיר ארביל חגגה את השנה החדשה.",  # the city
        "הוא צעיר מארביל.",  # צעיר ends in עיר but is not "city"; still no base word
        "יום אל-קודס נחגג בטהרן.",  # Quds Day
    ],
)
def test_hebrew_traps(shipped: Matcher, text: str) -> None:
    assert found(shipped, text) == {}


def test_hebrew_skeleton_keeps_offsets_and_says_how(shipped: Matcher) -> None:
    text = "דיווח: כתאאב חזבאלה איימה."
    accepted = [x for x in shipped.explain(text) if x.accepted]
    assert accepted
    for line in accepted:
        assert text[line.start : line.end] == "כתאאב חזבאלה"
        assert line.mechanism == "transliteration"


@pytest.mark.parametrize(
    "text, entity, surface",
    [
        ("هێزەکانی حەشدی شەعبییەکان گەیشتن.", "hashed-al-shaabi", "حەشدی شەعبییەکان"),
        ("حەشدی شەعبیش بەشداری کرد.", "hashed-al-shaabi", "حەشدی شەعبیش"),
        ("فەرماندەی هێزی قودسی سوپای پاسداران.", "quds-force", "هێزی قودسی"),
    ],
)
def test_sorani_endings_glued_to_names(shipped: Matcher, text: str, entity: str, surface: str) -> None:
    assert found(shipped, text)[entity][0][0] == surface


@pytest.mark.parametrize(
    "text",
    [
        "سلێمانییەکان خۆپیشاندانیان کرد.",  # the people of Sulaimani
        "السليمانية مدينة كردية.",  # the city in Arabic: سليماني + ة is not an ending
        "لە شاری سلێمانی.",
        "حزبوڵڵای لوبنان.",  # Lebanese Hezbollah
    ],
)
def test_sorani_ending_traps(shipped: Matcher, text: str) -> None:
    assert found(shipped, text) == {}


@pytest.mark.parametrize(
    "text, named",
    [
        ("Spanish trainers left Besmaya after the rocket attack.", True),
        ("Los militares españoles de la base Gran Capitán regresan a casa.", True),
        ("西班牙军队驻扎在巴斯马亚的训练营。", True),
        ("Op het trainingskamp Besmaya zijn Spaanse instructeurs gelegerd.", True),
        ("Bismayah New City housing project adds 10,000 apartments.", False),
        ("Hanwha signed a contract for Bismayah New City; residents moved in.", False),
        ("El Gran Capitán conquistó Nápoles en 1503.", False),  # the 15th-century general
        ("巴斯马亚新城项目由韩华建设。", False),  # the new city
    ],
)
def test_besmaya_in_more_languages_and_its_traps(shipped: Matcher, text: str, named: bool) -> None:
    assert ("besmaya-base" in found(shipped, text)) is named


@pytest.mark.parametrize(
    "text, entity",
    [
        ("De aanhangers van IS werden berecht.", "islamic-state"),
        ("De Hasjd al-Sjaabi is een koepel van sjiitische milities.", "hashed-al-shaabi"),
        ("Soleimani voerde het bevel over de Qudsmacht.", "quds-force"),
    ],
)
def test_dutch_names(shipped: Matcher, text: str, entity: str) -> None:
    assert entity in found(shipped, text)


@pytest.mark.parametrize(
    "text",
    ["HET IS TIJD VOOR VERANDERING", "Op Quds-dag demonstreerden duizenden in Teheran.", "Li Silêmaniyê xwepêşandan hat kirin.", "Li Qudsê xwepêşandan hat kirin."],
)
def test_dutch_and_kurmanji_traps(shipped: Matcher, text: str) -> None:
    assert found(shipped, text) == {}


# -- round 3: Kurmanji endings on places, K1 and Taji in more forms, Sorani spellings -------------


def test_place_takes_the_watchlists_place_endings_whatever_its_length(tmp_path: Path) -> None:
    matcher = build(
        tmp_path,
        "bases:\n  words: [bingeh*]\n  place_endings: [ye, e]\n"
        "entities:\n  - id: taji\n    name: Taji\n    places: [Taji]\n    aliases: [Camp Taji]\n",
    )
    [(surface, rule)] = found(matcher, "Bingeha Tajiyê hat hedefgirtin.")["taji"]
    assert surface == "Tajiyê" and "inflection -ye" in rule
    assert found(matcher, "Tajiyê li bakur e.") == {}  # no base word: the town
    assert found(matcher, "Bingeha Tajiyan.") == {}  # not one of the endings
    # an alias that is not a place does not take place endings
    assert found(matcher, "Camp Tajiye") == {}


@pytest.mark.parametrize(
    "text, entity",
    [
        ("Bingeha leşkerî ya Tajiyê hat bombebarankirin.", "taji-base"),
        ("Baregeha Qaimê ya leşkerî radestî artêşa Iraqê hat kirin.", "al-qaim-base"),
        ("Baregeha Qeyare ya leşkerî li başûrê Mûsilê ye.", "qayyarah-airbase"),
        ("Baregeha K1 ya leşkerî hat hedefgirtin.", "k1-airbase"),
        ("Fermandarê Fîlaqa Qudsê ya Sipaha Pasdaran gihişt Bexdayê.", "quds-force"),
        ("Hêzên Quds ên Îranê piştgirî didin komên çekdar.", "quds-force"),
        ("Leşkerê Qudsê yê Îranê li Iraqê çalak e.", "quds-force"),
        ("Kitaib Hizbullah li Iraqê hat sizakirin.", "kataeb-hezbollah"),
        ("General Silêmanî di êrîşeke Amerîkî de hat kuştin.", "qasem-soleimani"),
    ],
)
def test_kurmanji_forms(shipped: Matcher, text: str, entity: str) -> None:
    assert entity in found(shipped, text)


@pytest.mark.parametrize(
    "text",
    [
        "Roja Qudsê ya cîhanî li Tehranê hat pîrozkirin.",  # Quds Day
        "Tûgayên Qudsê yên Cîhada Îslamî li Xezzeyê şer dikin.",  # Islamic Jihad's brigades
        "Xelkê Qudsê li dijî dagirkeriyê xwepêşandan kirin.",  # the people of Jerusalem
        "Li bajarê Silêmanî baran barî.",
        "Zanîngeha Silêmaniyê vekirî ye.",
        "Tajiyê li bakurê Bexdayê ye.",  # the town, no base word
    ],
)
def test_kurmanji_traps(shipped: Matcher, text: str) -> None:
    assert found(shipped, text) == {}


@pytest.mark.parametrize(
    "text",
    [
        "قتل متعاقد أمريكي في هجوم على قاعدة كيه 1 قرب كركوك.",
        "استهدف هجوم صاروخي قاعدة «كي 1» العسكرية في كركوك.",  # quotes split a fixed phrase
        "بنکەی کەی وەن لە کەرکووک کرایە ئامانج.",  # Sorani
        "美军驻扎的K1空军基地遭到火箭弹袭击",  # glued to Chinese
        "Η βάση Κ1 δέχθηκε επίθεση με ρουκέτες.",  # Greek kappa
        "A US contractor died in the attack on an Iraqi military base in Kirkuk province.",
    ],
)
def test_k1_in_more_forms(shipped: Matcher, text: str) -> None:
    assert "k1-airbase" in found(shipped, text)


@pytest.mark.parametrize(
    "text",
    [
        "Kirkuk province held elections; the K-1 visa rules changed.",
        "Kirkuk airport reopened to civilian flights.",
        "أعيد افتتاح مطار كركوك أمام الرحلات المدنية.",  # an airport is not a base word
        "Premier przyleciał na lotnisko w Erbilu na rozmowy z władzami Kurdystanu.",
        "كي 1 نعرف",  # "so that" and a digit, no base nearby
    ],
)
def test_k1_and_airport_traps(shipped: Matcher, text: str) -> None:
    assert found(shipped, text) == {}


@pytest.mark.parametrize(
    "text, entity",
    [
        ("Raketen schlugen im Militärlager Tadschi nördlich von Bagdad ein.", "taji-base"),
        ("Die Koalitionstruppen in Tadschi wurden beschossen.", "taji-base"),
        ("חיילים אמריקנים נהרגו במחנה טאג'י.", "taji-base"),
        ("מתקפת רקטות על בסיס אל-תאג'י.", "taji-base"),
        ("Die Tötung Suleimanis durch die USA.", "qasem-soleimani"),
        ("جەنەراڵ سلێمانی کوژرا.", "qasem-soleimani"),
        ("کەتائیبی حیزبوڵڵا بەرپرسیارێتی هێرشەکەی گرتە ئەستۆ.", "kataeb-hezbollah"),
        ("گرووپی کتائب حزبوڵا لە عێراق.", "kataeb-hezbollah"),
        ("حزبوڵڵای عێراقی هەڕەشەی کرد.", "kataeb-hezbollah"),
        ("רקטות נורו לעבר בסיס הקואליציה בנמל התעופה של ארביל.", "erbil-airbase"),
        ("I miliziani dell'Is hanno attaccato un villaggio.", "islamic-state"),
        ("Het laatste IS-bolwerk in Syrië is gevallen.", "islamic-state"),
        ("Les combattants de l'EI ont revendiqué l'attaque.", "islamic-state"),
    ],
)
def test_round_three_names(shipped: Matcher, text: str, entity: str) -> None:
    assert entity in found(shipped, text)


@pytest.mark.parametrize(
    "text",
    [
        "Bauern in Tadschi klagen über Dürre.",
        "Der Bürgermeister von Taji besuchte die Koalitionspartner in Bagdad nicht.",
        "A morte de um manifestante em Suleimani gerou protestos.",
        "Na wraak gingen inwoners van Suleimani de straat op.",
        "حزبوڵڵای لوبنان هەڕەشەی لە ئیسرائیل کرد.",  # Lebanese Hezbollah
        "Le statut de l'EI protège le patrimoine personnel de l'entrepreneur.",  # entreprise individuelle
        "Is this the end? Is it over?",
        "عراقی فوجی دستوں نے القائم بارڈر کراسنگ کو دوبارہ کھول دیا۔",  # the crossing
        "القائم شہر میں فوجی آپریشن جاری ہے۔",  # the town
    ],
)
def test_round_three_traps(shipped: Matcher, text: str) -> None:
    assert found(shipped, text) == {}
