"""The next-poll policy (monitor.service.schedule) and the trigger that carries it onto
APScheduler (monitor.service.jobs.FeedTrigger): pure, fixed times, no clock, no servers."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from monitor.config import MonitorConfig
from monitor.ingest.freshness import cache_lifetime, retry_after_seconds
from monitor.service.jobs import FeedTrigger
from monitor.service.schedule import Policy, base_delay, first_delay, next_delay, on_tick, with_jitter

P = Policy(interval=600, jitter=0.1, max_backoff=3600, broken_retry=7200, max_declared=86400, max_retry_after=86400)


def test_success_waits_the_interval():
    assert base_delay(P, status="ok").delay == 600
    assert base_delay(P, status="not_modified") .reason == "interval"


def test_backoff_doubles_from_the_interval_up_to_the_ceiling():
    delays = [base_delay(P, status="timeout", error_streak=n).delay for n in range(1, 9)]
    assert delays == [600, 1200, 2400, 3600, 3600, 3600, 3600, 3600]
    assert base_delay(P, status="network", error_streak=10_000).delay == 3600  # no overflow


def test_backoff_never_shorter_than_the_interval():
    slow = Policy(interval=7200, max_backoff=3600)
    assert base_delay(slow, status="http_status", error_streak=5).delay == 7200


def test_broken_feed_is_probed_rarely_not_dropped():
    decision = base_delay(P, status="http_status", error_streak=50, broken=True)
    assert decision == base_delay(P, status="timeout", error_streak=1, broken=True)
    assert decision.delay == 7200 and decision.reason == "broken"


def test_retry_after_wins_when_longer_and_is_capped():
    assert base_delay(P, status="http_status", error_streak=1, retry_after=5000).delay == 5000
    assert base_delay(P, status="http_status", error_streak=1, retry_after=5000).reason == "retry_after"
    # Shorter than the backoff: the backoff stands.
    assert base_delay(P, status="http_status", error_streak=3, retry_after=10).delay == 2400
    # "Come back in ten years" is capped.
    assert base_delay(P, status="http_status", error_streak=1, retry_after=10 * 365 * 86400).delay == 86400


def test_declared_interval_is_respected_when_longer_and_capped():
    assert base_delay(P, status="ok", declared_interval=3600) .delay == 3600
    assert base_delay(P, status="ok", declared_interval=60).delay == 600  # shorter: our interval
    assert base_delay(P, status="ok", declared_interval=30 * 86400).delay == 86400
    override = Policy(interval=600, respect_declared=False)
    assert base_delay(override, status="ok", declared_interval=3600).delay == 600


def test_jitter_only_adds_and_is_bounded():
    rng = random.Random(1)
    samples = [with_jitter(600, 0.1, rng) for _ in range(500)]
    assert all(600 <= s <= 660 for s in samples)
    assert max(samples) - min(samples) > 30  # actually spreads
    assert all(3600 <= with_jitter(3600, 0.1, rng) <= 3660 for _ in range(100))  # capped at 60 s
    assert with_jitter(600, 0, rng) == 600
    decision = next_delay(P, status="ok", rng=rng)
    assert 600 <= decision.delay <= 660


def test_hundreds_of_feeds_spread_out():
    rng = random.Random(7)
    due = sorted(next_delay(P, status="ok", rng=rng).delay for _ in range(500))
    # No one-second window holds more than a small share of the polls.
    assert max(sum(1 for d in due if t <= d < t + 1) for t in range(600, 661)) < 40


def test_first_delay_keeps_a_stored_future_and_spreads_the_rest():
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    rng = random.Random(3)
    assert first_delay(P, now + timedelta(seconds=1800), now, 10, rng) == 1800
    for stored in (None, now - timedelta(hours=2)):
        delays = [first_delay(P, stored, now, 10, rng) for _ in range(100)]
        assert all(0 <= d <= 10 for d in delays) and len(set(delays)) > 50
    short = Policy(interval=1)
    assert all(0 <= first_delay(short, None, now, 10, rng) <= 1 for _ in range(50))


def test_policy_from_config_with_per_feed_override():
    config = MonitorConfig.model_validate(
        {
            "defaults": {"interval": "5m", "max_backoff": "2h", "broken_retry": "3h", "jitter": 0.2},
            "feeds": [
                {"url": "https://a.example/rss", "interval": "1m", "respect_feed_ttl": False},
                {"url": "https://b.example/rss"},
            ],
        }
    )
    a, b = (Policy.for_feed(config, f) for f in config.feeds)
    assert (a.interval, a.respect_declared, a.max_backoff, a.broken_retry, a.jitter) == (60, False, 7200, 10800, 0.2)
    assert (b.interval, b.respect_declared) == (300, True)
    assert config.feed_broken_after(config.feeds[1]) == 3600  # default: max(6 x interval, 1 h)


@pytest.mark.parametrize(
    "headers, expected",
    [
        ({"Cache-Control": "public, max-age=900"}, 900),
        ({"cache-control": 's-maxage="1200", max-age=60'}, 1200),
        ({"Cache-Control": "no-cache, max-age=900"}, None),
        ({"Cache-Control": "max-age=0"}, None),
        ({"Expires": "Wed, 01 Jan 2025 01:00:00 GMT", "Date": "Wed, 01 Jan 2025 00:30:00 GMT"}, 1800),
        ({"Expires": "0"}, None),
        ({"Expires": "Tue, 31 Dec 2024 00:00:00 GMT", "Date": "Wed, 01 Jan 2025 00:30:00 GMT"}, None),
        ({}, None),
    ],
)
def test_cache_lifetime(headers, expected):
    assert cache_lifetime(headers) == expected


@pytest.mark.parametrize(
    "when, interval, tick, expected",
    [
        (1000.2, 60, 5, 1005),  # forward to the next point of a 5 s grid
        (1005.0, 60, 5, 1005),  # already on it
        (1000.2, 20, 5, 1002),  # a short interval narrows the grid to a tenth of it
        (1000.23, 1, 5, 1000.3),
        (1000.2, 60, 0, 1000.2),  # 0: no grid
    ],
)
def test_polls_start_on_a_grid_never_earlier_than_asked(when, interval, tick, expected):
    assert on_tick(when, interval, tick) == pytest.approx(expected)


def test_feeds_due_close_together_share_a_grid_point():
    rng = random.Random(3)
    starts = {on_tick(1_000_000 + rng.uniform(0, 60), 60, 5) for _ in range(500)}
    assert len(starts) <= 13  # 500 polls in a minute: at most 12-13 wake-ups, not 500
    assert all(t % 5 == 0 for t in starts)


def test_retry_after_in_seconds_or_as_a_date():
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    assert retry_after_seconds("120") == 120
    assert retry_after_seconds("Wed, 01 Jan 2025 00:10:00 GMT", now) == 600
    assert retry_after_seconds("Tue, 31 Dec 2024 00:00:00 GMT", now) == 0  # already past
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_no_rule_waits_longer_than_the_longest_delay():
    rng = random.Random(5)
    cases = [dict(status="ok", declared_interval=10**9), dict(status="timeout", error_streak=10**4),
             dict(status="http_status", broken=True), dict(status="http_status", retry_after=10**9)]
    for case in cases:
        assert all(next_delay(P, rng=rng, **case).delay <= P.longest_delay for _ in range(100))


# -- FeedTrigger: the policy's decisions on APScheduler --------------------------------

NOW = datetime(2025, 1, 1, 12, 0, 0, 300_000, tzinfo=timezone.utc)
GRID = Policy(interval=60)  # grid step: min(poll_tick 5 s, interval / 10) = 5 s


def test_the_first_poll_is_not_put_on_the_grid():
    trigger = FeedTrigger(GRID, poll_tick=5, next_delay=2.5)
    assert trigger.get_next_fire_time(None, NOW) == NOW + timedelta(seconds=2.5)


def test_after_a_poll_the_decided_delay_ends_on_the_grid_never_sooner():
    trigger = FeedTrigger(GRID, poll_tick=5, next_delay=2.5)
    trigger.after_poll(61.0)
    fire = trigger.get_next_fire_time(None, NOW)
    assert fire >= NOW + timedelta(seconds=61) and fire - (NOW + timedelta(seconds=61)) < timedelta(seconds=5)
    assert fire.timestamp() % 5 == 0


def test_a_submitted_run_parks_the_job_at_the_longest_wait_until_its_poll_decides():
    trigger = FeedTrigger(P, poll_tick=5, next_delay=0)
    assert trigger.get_next_fire_time(NOW, NOW) == NOW + timedelta(seconds=P.longest_delay)
