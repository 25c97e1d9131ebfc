"""How fast the bot may talk: Telegram's limits, its pauses, and the backoff when it is down.

Pure: every time comes from an injected clock, every random draw from an injected
generator, so the rules are tested without waiting.

* `RateGovernor` spaces messages per chat (~1/s), per group or channel
  (20/min) and overall (30/s), plus the pauses Telegram asks for with
  retry_after. It is asked *before* every send, so a 429 stays the exception.
* `backoff` is the one retry delay of the notify package: the outbox sender
  waiting for Telegram to come back and the command bot's long poll both use it.
  Its growth (`doubled`) is also the feed schedule's backoff after failed polls.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Limits", "RateGovernor", "backoff", "doubled", "is_group_chat"]


@dataclass(frozen=True)
class Limits:
    """Sending rates. Defaults follow Telegram's documented (approximate) limits.

    Bursts are 1 on purpose: Telegram tolerates short bursts but does not say
    how long, and a steady pace never earns a 429."""

    per_chat_per_second: float = 1.0
    per_group_per_minute: float = 20.0
    global_per_second: float = 30.0


def is_group_chat(chat_id: str) -> bool:
    """Groups, supergroups and channels: negative ids (-100… for channels) or @usernames.

    Positive ids are private chats with a user. The 20 messages/minute limit
    applies to the former."""
    return chat_id.strip().startswith(("@", "-"))


class RateGovernor:
    """Spacing per chat, per group/channel and overall (GCRA with a burst of 1),
    plus pauses Telegram asks for. All times from `clock` (monotonic seconds)."""

    def __init__(self, limits: Limits = Limits(), clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._next: dict[str, float] = {}  # key -> earliest time of the next message
        self._paused_until: dict[str, float] = {}

    def _keys(self, chat_id: str) -> list[tuple[str, float]]:
        keys = [("global", 1.0 / self.limits.global_per_second), (f"chat:{chat_id}", 1.0 / self.limits.per_chat_per_second)]
        if is_group_chat(chat_id):
            keys.append((f"group:{chat_id}", 60.0 / self.limits.per_group_per_minute))
        return keys

    def wait_time(self, chat_id: str) -> float:
        """Seconds until a message to this chat may go (0: now)."""
        now = self.clock()
        ready = max(
            [self._next.get(key, now) for key, _ in self._keys(chat_id)]
            + [self._paused_until.get("global", now), self._paused_until.get(f"chat:{chat_id}", now)]
        )
        return max(0.0, ready - now)

    def global_wait(self) -> float:
        """Seconds until anything may be sent at all (a pause of the whole bot)."""
        now = self.clock()
        return max(0.0, self._paused_until.get("global", now) - now)

    def take(self, chat_id: str) -> None:
        """Spend a slot for one message to this chat (call when wait_time() is 0)."""
        now = self.clock()
        for key, interval in self._keys(chat_id):
            # A sender that wakes a little late may catch up by that little (at most a
            # quarter interval, 50 ms), so loop latency does not pile up into lost rate.
            slack = min(interval * 0.25, 0.05)
            self._next[key] = max(self._next.get(key, now), now - slack) + interval

    def pause_chat(self, chat_id: str, seconds: float) -> None:
        self._pause(f"chat:{chat_id}", seconds)

    def pause_all(self, seconds: float) -> None:
        self._pause("global", seconds)

    def _pause(self, key: str, seconds: float) -> None:
        until = self.clock() + seconds
        self._paused_until[key] = max(self._paused_until.get(key, until), until)

    async def acquire(self, chat_id: str) -> None:
        """Wait for a slot and take it (for one-off sends such as command replies)."""
        while (wait := self.wait_time(chat_id)) > 0:
            await asyncio.sleep(wait)
        self.take(chat_id)


def doubled(base: float, times: int, cap: float) -> float:
    """`base` doubled `times` times, never above `cap`: the exponential growth every
    backoff here shares (the exponent is bounded first, so it stays finite)."""
    return min(cap, base * 2.0 ** min(max(times, 0), 60))


def backoff(attempt: int, base: float = 1.0, cap: float = 300.0, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: Telegram down for hours is probed every few minutes.

    attempt 1 waits between `base` and 2 x base, each further attempt doubles the
    ceiling, up to `cap`. The feed schedule (monitor.service.schedule) backs off on the
    same `doubled` growth, with its own jitter rule."""
    return (rng or random).uniform(base, max(base, doubled(base, attempt, cap)))
