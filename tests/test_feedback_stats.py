"""`monitor stats --feedback` from outside, through the CLI: readers' marks given with
the buttons of real alerts (the service and the fake Bot API, as in test_feedback.py)
counted per entity and per alias, and the excludes it suggests (never applied)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


from conftest import REPO, running
from fake_telegram import SUBSCRIBER
from test_feedback import WATCHLIST, Wire, configure, press, subscribe
from test_service import until


# -- monitor stats --feedback, from outside ---------------------------------------------

BAD_TAJI = [
    "Taji market traders expect a record date harvest",
    "Date harvest lifts Taji market prices",
    "Farmers bring the date harvest to Taji market early",
]


def stats_feedback(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(config), "stats", "--feedback", *extra],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )


async def test_stats_feedback_counts_marks_and_suggests_excludes(tmp_path, site, fake):
    wire = Wire(site)
    config = configure(tmp_path, fake, wire)
    subscribe(tmp_path, SUBSCRIBER, None)
    empty = stats_feedback(config)
    assert empty.returncode == 0, empty.stderr
    assert "No feedback yet" in empty.stdout

    for title in ["Rockets hit Camp Taji overnight", *BAD_TAJI, "Drone downed near Taji air base"]:
        wire.publish(title)
    async with running(config):
        await until(lambda: len(fake.sent_messages(SUBSCRIBER)) == 5, timeout=20)
        for message in fake.sent_messages(SUBSCRIBER):
            title = message.text.splitlines()[0]
            choice = "Not relevant" if title in BAD_TAJI else "Relevant"
            await press(fake, SUBSCRIBER, message.message_id, button=choice)
        await until(lambda: len(fake.calls_to("editMessageReplyMarkup")) == 5)

    result = stats_feedback(config)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # Per entity and per alias: alerts sent, marked relevant, marked not relevant.
    assert "Camp Taji (camp-taji)" in out
    entity_line = next(line for line in out.splitlines() if "Camp Taji (camp-taji)" in line)
    assert entity_line.split("│")[2:5] == [" 5 ", " 2 ", " 3 "] or [c.strip() for c in entity_line.split("│")[2:5]] == ["5", "2", "3"]
    taji_line = next(line for line in out.splitlines() if "│ Taji " in line)
    assert [c.strip() for c in taji_line.split("│")[3:6]] == ["4", "1", "3"]
    # The suggestion: the alias marked not relevant 3 of 4 times, with the words around its bad matches.
    assert "Suggested excludes" in out
    suggestion = out[out.index("Suggested excludes"):]
    assert "Taji" in suggestion and "market" in suggestion and "harvest" in suggestion
    assert "never applied" in suggestion or "not applied" in suggestion
    assert "'Camp Taji'" not in suggestion  # the alias readers found relevant is not suggested

    as_json = stats_feedback(config, "--json")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert {"entity": "camp-taji", "sent": 5, "relevant": 2, "not_relevant": 3, "muted": 0} in data["entities"]
    [candidate] = data["suggestions"]
    assert candidate["alias"] == "Taji" and candidate["entity"] == "camp-taji" and candidate["not_relevant"] == 3
    assert {"market", "harvest"} <= set(candidate["words"])
    # Never applied: the watchlist is as it was.
    assert (tmp_path / "watchlist.yaml").read_text(encoding="utf-8") == WATCHLIST
