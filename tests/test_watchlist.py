"""Watchlist loading: the shipped file is valid; mistakes give file:line: field: message."""

from __future__ import annotations

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
