"""Watchlist loading: the shipped file is valid; mistakes give file:line: field: message."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from monitor.config.watchlist import Watchlist, load_watchlist
from monitor.config.yamlfile import ConfigError

REPO = Path(__file__).resolve().parents[1]

REQUIRED = """qayyarah-airbase al-qaim-base k1-airbase taji-base besmaya-base ain-al-asad-airbase erbil-airbase
myles-caggins coalition-spokesperson kataeb-hezbollah hashed-al-shaabi abu-mahdi-al-muhandis qasem-soleimani
quds-force islamic-state syrian-democratic-forces operation-inherent-resolve""".split()


def test_shipped_watchlist_has_required_ids() -> None:
    wl = load_watchlist(REPO / "config" / "watchlist.yaml")
    assert isinstance(wl, Watchlist)
    ids = {e.id for e in wl.entities}
    assert set(REQUIRED) <= ids
    assert all(e.name for e in wl.entities)


def load(tmp_path: Path, text: str) -> Watchlist:
    path = tmp_path / "watchlist.yaml"
    path.write_text(text, encoding="utf-8")
    return load_watchlist(path)


def error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, text)
    return str(exc.value)


def test_minimal_and_string_aliases(tmp_path: Path) -> None:
    wl = load(tmp_path, "entities:\n  - id: a\n    name: A\n    aliases: [Alpha, {text: AL, case_sensitive: true}]\n")
    assert [a.text for a in wl.entities[0].aliases] == ["Alpha", "AL"]
    assert wl.entities[0].aliases[1].case_sensitive


def test_unknown_key_names_line_and_field(tmp_path: Path) -> None:
    msg = error(tmp_path, "entities:\n  - id: a\n    name: A\n    aliasses: [x]\n")
    assert "watchlist.yaml:4: entities[0].aliasses: unknown key" in msg


def test_empty_alias(tmp_path: Path) -> None:
    msg = error(tmp_path, "entities:\n  - id: a\n    name: A\n    aliases:\n      - Alpha\n      - '  '\n")
    assert ":6: entities[0].aliases[1].text: an alias must not be empty" in msg


def test_duplicate_ids(tmp_path: Path) -> None:
    msg = error(tmp_path, "entities:\n  - id: a\n    name: A\n    aliases: [x]\n  - id: a\n    name: B\n    aliases: [y]\n")
    assert ":5: entities[1].id: duplicate entity id 'a'" in msg


def test_unknown_entity_in_requires(tmp_path: Path) -> None:
    text = """entities:
  - id: a
    name: A
    aliases:
      - text: AA
        requires:
          entities: [nope]
          anywhere: true
"""
    msg = error(tmp_path, text)
    assert "entities[0].aliases[0].requires[0].entities[0]: unknown entity id 'nope'" in msg
    assert "watchlist.yaml:6:" in msg  # the `requires:` line


def test_bad_id_and_rule(tmp_path: Path) -> None:
    msg = error(tmp_path, "variant_rules:\n  - name: x\n    alternatives: [a]\nentities:\n  - id: Bad Id\n    name: A\n    aliases: [x]\n")
    assert "variant_rules[0]" in msg and "at least 2 alternatives" in msg
    assert "entities[0].id" in msg


def test_context_rule_needs_words(tmp_path: Path) -> None:
    msg = error(tmp_path, "entities:\n  - id: a\n    name: A\n    aliases:\n      - {text: x, requires: {within: 3}}\n")
    assert "needs at least one of 'words' or 'entities'" in msg


def test_star_only_at_end(tmp_path: Path) -> None:
    msg = error(tmp_path, "entities:\n  - id: a\n    name: A\n    aliases:\n      - {text: x, requires: {words: ['a*b']}}\n")
    assert "'*' is only allowed at the end" in msg


def test_duplicate_alias(tmp_path: Path) -> None:
    msg = error(tmp_path, "entities:\n  - id: a\n    name: A\n    aliases: [Alpha, alpha]\n")
    assert "listed twice" in msg


def test_yaml_syntax_error(tmp_path: Path) -> None:
    msg = error(tmp_path, "entities: [\n")
    assert "invalid YAML" in msg


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_watchlist(tmp_path / "absent.yaml")


def test_implies_unknown(tmp_path: Path) -> None:
    msg = error(tmp_path, "entities:\n  - id: a\n    name: A\n    aliases: [x]\n    implies: [b]\n")
    assert "entities[0].implies[0]: unknown entity id 'b'" in msg


# The shipped watchlist in other languages and scripts: each line is a sentence
# written for this test, the entities it names, and look-alikes it must not match.
MULTILINGUAL = [
    ("ar", "سقطت ثلاثة صواريخ على قاعدة كركوك الجوية التي تضم مستشارين من التحالف.", {"k1-airbase"}, set()),
    ("ar", "أعلن حزب الله العراقي مسؤوليته عن الهجوم على القوات الأمريكية.", {"kataeb-hezbollah"}, set()),
    ("ar", "قال قائد جيش القدس التابع للحرس الثوري الإيراني إن الرد سيكون قاسيا.", {"quds-force"}, set()),
    ("ar", "احتشد الآلاف في يوم القدس العالمي وخرج الحشد الغفير إلى الشوارع.", set(), {"quds-force", "hashed-al-shaabi"}),
    ("ar", "قال الأمين العام لحركة حزب الله النجباء إن الفصائل جاهزة.", set(), {"kataeb-hezbollah"}),
    ("fa", "سردار سلیمانی فرمانده نیروی قدس سپاه در حمله پهپادی کشته شد.", {"qasem-soleimani", "quds-force"}, set()),
    ("fa", "پایگاه عین‌الاسد هدف حمله موشکی قرار گرفت؛ راهپیمایی روز قدس برگزار شد.", {"ain-al-asad-airbase"}, {"quds-force"}),
    ("fa", "شهید علی سلیمانی از رزمندگان دفاع مقدس بود.", set(), {"qasem-soleimani"}),
    ("ckb", "هێزەکانی سووریای دیموکرات (هەسەدە) هێرشیان کردە سەر چەکدارانی داعش.", {"syrian-democratic-forces", "islamic-state"}, set()),
    ("ckb", "لە سلێمانی خۆپیشاندانێک ئەنجامدرا و پەرلەمان لە هەولێر کۆبوویەوە.", set(), {"qasem-soleimani", "erbil-airbase"}),
    ("kmr", "Qasim Silêmanî û Ebû Mehdî el-Mihendis li Bexdayê hatin kuştin.", {"qasem-soleimani", "abu-mahdi-al-muhandis"}, set()),
    ("tr", "Ayn el-Esed Hava Üssü'ne füzeler isabet etti; Kudüs Gücü komutanı öldürüldü.", {"ain-al-asad-airbase", "quds-force"}, set()),
    ("tr", "Filistinliler Kudüs'te gösteri düzenledi; Süleymaniye'de seçim yapıldı.", set(), {"quds-force", "qasem-soleimani"}),
    ("fr", "Une roquette s'est abattue sur la base aérienne de Kirkouk ; les FDS ont repris Raqqa.", {"k1-airbase", "syrian-democratic-forces"}, set()),
    ("fr", "Le poste-frontière d'Al-Qaïm a rouvert ; à Kirkouk, la ville a voté.", set(), {"al-qaim-base", "k1-airbase"}),
    ("es", "Miles de iraquíes llamaron a una movilización popular; Japón desplegó sus Fuerzas de Autodefensa (FDS).", set(), {"hashed-al-shaabi", "syrian-democratic-forces"}),
    ("de", "Die irakische Hisbollah bekannte sich; am Al-Kuds-Tag demonstrierten Hunderte.", {"kataeb-hezbollah"}, {"quds-force"}),
    ("pl", "Dowódca jednostki Al-Kuds Kasem Sulejmani zginął; w Sulejmanii odbyły się protesty.", {"quds-force", "qasem-soleimani"}, set()),
    ("hu", "A Szíriai Demokratikus Erők elfoglalták Rakkát; a Kudsz-napon tüntetők vonultak.", {"syrian-democratic-forces"}, {"quds-force"}),
    ("el", "Ο Κασέμ Σουλεϊμανί, επικεφαλής της Δύναμης Κουντς, σκοτώθηκε.", {"qasem-soleimani", "quds-force"}, set()),
    ("el", "Ο πρόεδρος Μπασάρ αλ-Ασάντ επισκέφθηκε τη Μόσχα.", set(), {"ain-al-asad-airbase"}),
    ("he", "ארגון כתאיב חיזבאללה ירה רקטות על בסיס עין אל-אסד.", {"kataeb-hezbollah", "ain-al-asad-airbase"}, set()),
    ("he", "חיזבאללה ירה רקטות לעבר הגליל ואלפים צעדו ביום אל-קודס.", set(), {"kataeb-hezbollah", "quds-force"}),
    ("ru", "Командующий силами «Кудс» КСИР Касем Сулеймани погиб; в Тегеране прошёл «День Кудс».", {"quds-force", "qasem-soleimani"}, set()),
    ("ru", "Боевики ИГ (запрещено в РФ) атаковали позиции Сирийских демократических сил.", {"islamic-state", "syrian-democratic-forces"}, set()),
    ("ru", "Губернатор Киркука заявил о выборах; в Эрбиле открылась выставка; президент Башар Асад выступил.", set(), {"k1-airbase", "erbil-airbase", "ain-al-asad-airbase"}),
    ("uk", "Бойовики ІДІЛ атакували позиції Сирійських демократичних сил.", {"islamic-state", "syrian-democratic-forces"}, set()),
    ("ur", "قدس فورس کے سربراہ جنرل قاسم سلیمانی بغداد میں ہلاک ہو گئے۔", {"quds-force", "qasem-soleimani"}, set()),
    ("id", "Pasukan Demokratik Suriah menangkap anggota kelompok Negara Islam di Raqqa.", {"syrian-democratic-forces", "islamic-state"}, set()),
    ("id", "Polisi menangkap anggota kelompok Negara Islam Indonesia (NII) di Garut.", set(), {"islamic-state"}),
    ("zh", "伊朗伊斯兰革命卫队“圣城旅”指挥官苏莱曼尼在巴格达遇袭身亡。", {"quds-force", "qasem-soleimani"}, set()),
    ("zh", "伊斯兰国家组织在苏莱曼尼亚省开会，巴勒斯坦伊斯兰圣战组织下属的圣城旅发射火箭弹。", set(), {"islamic-state", "qasem-soleimani", "quds-force"}),
    ("zh", "伊拉克什叶派民兵武装“真主党旅”否认袭击阿萨德空军基地，黎巴嫩真主党发表讲话。", {"kataeb-hezbollah", "ain-al-asad-airbase"}, set()),
    ("en", "Syrian, Iraqi, Hezbollah and Iranian forces advanced; Japan's SDF sent ships; the dais was set.", set(), {"kataeb-hezbollah", "syrian-democratic-forces", "islamic-state"}),
]


@pytest.mark.parametrize(("lang", "text", "named", "look_alikes"), MULTILINGUAL, ids=[f"{c[0]}-{i}" for i, c in enumerate(MULTILINGUAL)])
def test_shipped_watchlist_in_other_languages(lang: str, text: str, named: set[str], look_alikes: set[str]) -> None:
    found = {m.entity_id for m in shipped_matcher().match(text)}
    assert named <= found, f"missed {sorted(named - found)}"
    assert not found & look_alikes, f"look-alike matched: {sorted(found & look_alikes)}"
    assert found <= named, f"unexpected: {sorted(found - named)}"


@functools.lru_cache(maxsize=1)
def shipped_matcher():
    from monitor.match import Matcher

    return Matcher.from_watchlist(load_watchlist(REPO / "config" / "watchlist.yaml"))
