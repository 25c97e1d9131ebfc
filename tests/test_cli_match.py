"""`monitor match` as outside tools use it (SPEC: one JSON object per input, per line)."""

from __future__ import annotations

import json
import subprocess
import sys

from monitor.cli import main
from conftest import REPO, write_config

SEED_ONE = REPO / "seeds" / "000_85dda86185701fc3.txt"


def test_match_json_on_a_seed_article(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(["--config", str(config), "match", "--json", str(SEED_ONE)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["input"] == str(SEED_ONE)
    ids = {e["id"] for e in result["entities"]}
    assert {"qayyarah-airbase", "al-qaim-base", "myles-caggins", "islamic-state", "qasem-soleimani", "quds-force"} <= ids
    text = SEED_ONE.read_text(encoding="utf-8")
    for entity in result["entities"]:
        assert entity["name"]
        for mention in entity["mentions"]:
            assert text[mention["start"] : mention["end"]] == mention["text"]


def test_match_html_input_is_extracted_first_and_offsets_index_the_extracted_text(tmp_path, capsys):
    page = tmp_path / "page.html"
    body = " ".join(["Fighters of Kata'ib Hizballah paraded in Baghdad on Friday, witnesses said."] * 4)
    page.write_text(f"<html><body><nav>Menu</nav><article><p>{body}</p></article></body></html>", encoding="utf-8")
    config = write_config(tmp_path)
    assert main(["--config", str(config), "match", "--json", str(page)]) == 0
    result = json.loads(capsys.readouterr().out)
    [entity] = [e for e in result["entities"] if e["id"] == "kataeb-hezbollah"]
    assert entity["mentions"][0]["text"] == "Kata'ib Hizballah"
    assert body[entity["mentions"][0]["start"] : entity["mentions"][0]["end"]] == "Kata'ib Hizballah"


def test_match_stdin_and_nothing_found(tmp_path):
    config = write_config(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "match", "--json"],
        input="The central bank left interest rates unchanged on Tuesday.",
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"input": "-", "entities": []}


def test_match_missing_file_is_one_line_exit_2(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(["--config", str(config), "match", str(tmp_path / "nope.txt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.txt" in err


def test_match_readable_output_and_explain(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(["--config", str(config), "match", "--explain", str(SEED_ONE)]) == 0
    out = capsys.readouterr().out
    assert "Qayyarah" in out and "qayyarah-airbase" in out
    assert "Qayara air base" in out  # the seed spells it "Al Qayara air base"
    assert "by alias" in out and "by variant rule" in out  # the mechanism that fired, per mention
