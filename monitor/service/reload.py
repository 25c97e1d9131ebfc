"""Live configuration: notice edits of monitor.yaml / watchlist.yaml and build the new
runtime completely before anything is swapped.

The check is cheap: a stat() of both files every service.reload_check seconds;
only when size or mtime moved is the content hashed, and only a new hash counts
as a change (a `touch` does not reload). SIGHUP forces a reload.

`load_runtime(path)` is the one verdict on a config: load_settings (file:line:
field: message errors) plus building the matcher from the watchlist. `monitor
check-config` should call the same function so it gives the same verdict.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from monitor.config import ConfigError, Settings, load_settings

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


def load_runtime(path: Path):
    """Settings + matcher, fully built; raises ConfigError (file:line: field: message)
    or RuntimeBuildError. Nothing is shared with the running runtime."""
    from monitor.match import Matcher
    from monitor.service.pipeline import Runtime

    settings = load_settings(path)
    try:
        matcher = Matcher.from_watchlist(settings.watchlist)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the matcher rejects is a config problem
        raise RuntimeBuildError(f"{settings.watchlist_path}: cannot build the matcher: {type(exc).__name__}: {exc}") from exc
    return Runtime(settings, matcher)


def restart_only_changes(old: Settings, new: Settings) -> list[str]:
    """Sections edited that only take effect after a restart."""
    changed = [name for name in RESTART_ONLY if getattr(old.config, name) != getattr(new.config, name)]
    if old.config.telegram.token != new.config.telegram.token:
        changed.append("telegram.token")
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
