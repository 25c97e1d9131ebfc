"""Live configuration: notice edits of monitor.yaml / watchlist.yaml and build the new
runtime completely before anything is swapped.

The check is cheap: a stat() of both files every service.reload_check seconds;
only when size or mtime moved is the content hashed, and only a new hash counts
as a change (a `touch` does not reload). SIGHUP forces a reload.

`load_runtime(path)` is the one verdict on a config: load_settings (file:line:
field: message errors) plus building the matcher from the watchlist; `monitor
check-config` calls the same function, so it gives the same verdict.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from monitor.config import ConfigError, Settings, load_settings, secrets_of
from monitor.match import Matcher
from monitor.ops import metrics
from monitor.ops.logs import get_logger, redact
from monitor.service.notices import AdminNotices
from monitor.service.pipeline import Runtime
from monitor.service.stories import story_settings

__all__ = ["ConfigWatcher", "Reloader", "RuntimeBuildError", "load_runtime", "restart_only_changes"]

log = get_logger("monitor.service.reload")

# Sections the running service cannot swap in place; an edit of them is applied
# to everything else and logged as needing a restart.
RESTART_ONLY = ("storage", "fetch", "service")


@dataclass(frozen=True)
class _FileSig:
    path: Path
    mtime_ns: int
    size: int


def _stat(path: Path) -> _FileSig:
    try:
        st = os.stat(path)
    except OSError:
        return _FileSig(path, -1, -1)
    return _FileSig(path, st.st_mtime_ns, st.st_size)


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(str(path).encode() + b"\0")
        try:
            h.update(path.read_bytes())
        except OSError as exc:
            h.update(f"<unreadable: {exc.strerror}>".encode())
        h.update(b"\0")
    return h.hexdigest()


class RuntimeBuildError(Exception):
    """The config loaded but the runtime could not be built from it (e.g. the matcher)."""


def load_runtime(path: Path) -> Runtime:
    """Settings + matcher, fully built; raises ConfigError (file:line: field: message)
    or RuntimeBuildError. Nothing is shared with the running runtime."""
    settings = load_settings(path)
    try:
        matcher = Matcher.from_watchlist(settings.watchlist)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the matcher rejects is a config problem
        raise RuntimeBuildError(f"{settings.watchlist_path}: cannot build the matcher: {type(exc).__name__}: {exc}") from exc
    if settings.config.stories.enabled:
        try:  # the one check of the stories section that needs datasketch
            story_settings(settings.config.stories)
        except ValueError as exc:
            problem = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
            raise RuntimeBuildError(f"{settings.config_path}: stories: {problem}") from None
    return Runtime(settings, matcher)


def restart_only_changes(old: Settings, new: Settings) -> list[str]:
    """Sections edited that only take effect after a restart."""
    changed = [name for name in RESTART_ONLY if getattr(old.config, name) != getattr(new.config, name)]
    for key in ("token", "api_base_url", "commands"):  # the bot and its getUpdates loop are built at start
        if getattr(old.config.telegram, key) != getattr(new.config.telegram, key):
            changed.append(f"telegram.{key}")
    return changed


class ConfigWatcher:
    """Remembers what the running config was built from and says when it changed."""

    def __init__(self, settings: Settings):
        self._accept_paths(settings)
        self._rejected: str | None = None

    def _accept_paths(self, settings: Settings) -> None:
        self.paths = [Path(settings.config_path), Path(settings.watchlist_path)]
        self._sigs = [_stat(p) for p in self.paths]
        self._digest = _digest(self.paths)

    def changed(self, settle: float = 0.05) -> bool:
        """True when the files' content differs from the running config and from the
        last rejected edit (a broken edit is reported once, not every check)."""
        sigs = [_stat(p) for p in self.paths]
        if sigs == self._sigs:
            return False
        # An editor may still be writing: wait until the size/mtime hold still.
        time.sleep(settle)
        again = [_stat(p) for p in self.paths]
        if again != sigs:
            return False  # next check
        digest = _digest(self.paths)
        if digest == self._digest:
            self._sigs = sigs
            return False
        return digest != self._rejected

    def accepted(self, settings: Settings) -> None:
        """The new config runs now (its watchlist path may have moved)."""
        self._accept_paths(settings)
        self._rejected = None

    def rejected(self) -> None:
        """The files' current content was refused; don't report it again until it changes."""
        self._rejected = _digest(self.paths)


class Reloader:
    """Swaps a new runtime into the running service: on request, on SIGHUP, or when the
    files change. `current()` is the running runtime; `swap(old, new)` installs the new
    one (polls started from then on see it) and returns a summary for the log."""

    def __init__(self, current: Callable[[], Runtime], swap: Callable[[Runtime, Runtime], dict[str, list[str]]], notices: AdminNotices):
        self._current = current
        self._swap = swap
        self._notices = notices
        self._lock = asyncio.Lock()
        self._watcher: ConfigWatcher | None = None
        self._background: set[asyncio.Task] = set()
        self.config_ok = True  # the last reload attempt was applied (or there was none)

    async def reload(self, reason: str = "requested") -> bool:
        """Build the new runtime completely, then swap it in; on any problem keep the old one."""
        async with self._lock:
            old = self._current()
            try:
                new = await asyncio.to_thread(load_runtime, old.settings.config_path)
            except (ConfigError, RuntimeBuildError) as exc:
                if self._watcher is not None:
                    self._watcher.rejected()
                self.config_ok = False
                metrics.RELOADS.labels("rejected").inc()
                metrics.CONFIG_OK.set(0)
                log.error("config_rejected", reason=reason, error=str(exc), keeping="previous configuration")
                await self._notices.send(
                    f"config rejected ({reason}):\n{exc}\nThe previous configuration keeps running.", event="config_rejected"
                )
                return False
            needs_restart = restart_only_changes(old.settings, new.settings)
            # Old secrets stay redacted too: the old token is in use until a restart.
            redact.set_secrets([*secrets_of(old.settings.config), *secrets_of(new.settings.config)])
            changes = self._swap(old, new)
            if self._watcher is not None:
                self._watcher.accepted(new.settings)
            self.config_ok = True
            metrics.RELOADS.labels("applied").inc()
            metrics.CONFIG_OK.set(1)
            log.info(
                "config_reloaded",
                reason=reason,
                feeds=len(new.settings.config.feeds),
                entities=len(new.settings.watchlist.entities),
                **changes,
            )
            if needs_restart:
                log.warning("config_needs_restart", sections=needs_restart, note="these sections keep their old values until a restart")
            return True

    def on_sighup(self) -> None:
        """A signal handler: reload in the background."""
        task = asyncio.get_running_loop().create_task(self.reload("SIGHUP"))
        self._background.add(task)  # keep a reference until it is done
        task.add_done_callback(self._background.discard)

    async def watch(self, stop: asyncio.Event) -> None:
        """Reload when the files change, until `stop`; checks every service.reload_check."""
        self._watcher = ConfigWatcher(self._current().settings)
        interval = self._current().settings.config.service.reload_check
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
                return
            except asyncio.TimeoutError:
                pass
            try:
                if await asyncio.to_thread(self._watcher.changed):
                    await self.reload("file changed")
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive any one bad check
                log.error("config_watch_failed", error=f"{type(exc).__name__}: {exc}")
