"""Stories with several instances on one PostgreSQL database: an instance catches up
with the articles another one placed before it places its own, and the story lock
(a transaction-scoped advisory lock) keeps two instances storing reports of one
event at the same moment from opening two stories.

Two real `Monitor`s (what `monitor run` builds) share a fresh database on the
local server; feeds come from the local feed server.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import create_engine, text

from conftest import write_config
from monitor.config import load_settings
from monitor.service import Monitor
from test_story_service import ASAD_DAILY, ASAD_WIRE, FETCH, SDF_RAID, serve

pytestmark = pytest.mark.postgres

ERBIL_WIRE = (
    "Drone attack on Erbil air base, no casualties reported",
    "An explosive-laden drone struck near the Erbil air base in northern Iraq late on Sunday, the Kurdistan "
    "region's counter-terrorism service said. There were no casualties; a hangar was damaged.",
)
ERBIL_LOCAL = (
    "Erbil airbase hit by drone, hangar damaged",
    "A drone carrying explosives hit the Erbil airbase on Sunday night, damaging a hangar, Kurdish security "
    "officials said. Nobody was hurt in the attack on the base, which hosts coalition forces.",
)


def monitor_for(tmp_path, name: str, postgres_url: str, feeds: list[dict]) -> Monitor:
    folder = tmp_path / name
    folder.mkdir()
    config = write_config(folder, feeds, fetch=FETCH, storage={"url": postgres_url}, service={"single_instance": False})
    return Monitor(load_settings(config))


def stories_by_title(postgres_url: str) -> dict[str, int]:
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(text("SELECT title, story_id FROM items WHERE story_id IS NOT NULL")).all())
    finally:
        engine.dispose()


async def test_instances_catch_up_with_each_other_and_open_one_story_per_event(tmp_path, site, postgres_url):
    wire = serve(site, "/wire.xml", "Tigris Wire", [("wire-1", ASAD_WIRE, 30)])
    daily = serve(site, "/daily.xml", "Baghdad Daily", [("daily-1", ASAD_DAILY, 20)])
    syria = serve(site, "/syria.xml", "Euphrates Monitor", [("syria-1", SDF_RAID, 40)])
    erbil_wire = serve(site, "/erbil-wire.xml", "Kurdistan Wire", [("erbil-1", ERBIL_WIRE, 5)])
    erbil_local = serve(site, "/erbil-local.xml", "Erbil Today", [("erbil-2", ERBIL_LOCAL, 5)])
    first = monitor_for(tmp_path, "first", postgres_url, [wire, erbil_wire])
    second = monitor_for(tmp_path, "second", postgres_url, [syria, daily, erbil_local])
    try:
        # The second instance places an article first: its assigner is built and stays
        # in memory; the first then opens the Ain al-Asad story.
        assert (await second.poll(second.runtime.settings.config.feeds[0])).matched_items == 1
        assert (await first.poll(first.runtime.settings.config.feeds[0])).alerts_queued == 1
        # The second catches up with that story before placing its own report of it.
        outcome = await second.poll(second.runtime.settings.config.feeds[1])
        assert (outcome.matched_items, outcome.alerts_queued) == (1, 0)
        found = stories_by_title(postgres_url)
        assert found[ASAD_DAILY[0]] == found[ASAD_WIRE[0]] != found[SDF_RAID[0]]

        # Two reports of another event stored by the two instances at the same moment.
        await asyncio.gather(
            first.poll(first.runtime.settings.config.feeds[1]), second.poll(second.runtime.settings.config.feeds[2])
        )
        found = stories_by_title(postgres_url)
        assert found[ERBIL_WIRE[0]] == found[ERBIL_LOCAL[0]]
        assert len(set(found.values())) == 3
        engine = create_engine(postgres_url)
        try:
            with engine.connect() as conn:
                channel_alerts = conn.execute(text("SELECT count(*) FROM alerts")).scalar()
                counts = sorted(r[0] for r in conn.execute(text("SELECT article_count FROM stories")))
        finally:
            engine.dispose()
        assert channel_alerts == 3 and counts == [1, 2, 2]
    finally:
        await first.aclose()
        await second.aclose()
