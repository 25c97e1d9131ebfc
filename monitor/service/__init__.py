"""Running the pipeline: one feed poll end to end (pipeline), the polls under the
concurrency caps (polling), their schedule (schedule: the policy; jobs: APScheduler),
live reloads (reload), health (status), operator notices (notices), the instance lock
(lock) and the process's lifecycle (lifecycle: `Monitor`).

The names below are imported on first use, so `monitor match` or `check-config` do not
pay for the scheduler, the HTTP client and the Telegram library.
"""

from importlib import import_module
from typing import Any

__all__ = ["CycleReport", "InstanceLocked", "Monitor", "PollOutcome", "Runtime", "RuntimeBuildError", "load_runtime", "poll_feed"]

_MODULE_OF = {
    "CycleReport": "lifecycle",
    "Monitor": "lifecycle",
    "InstanceLocked": "lock",
    "PollOutcome": "pipeline",
    "Runtime": "pipeline",
    "poll_feed": "pipeline",
    "RuntimeBuildError": "reload",
    "load_runtime": "reload",
}


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
