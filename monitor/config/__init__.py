"""Configuration, validated once at the edge: monitor.yaml and watchlist.yaml -> typed objects.

`load_settings(path)` is the entry point; every error is a `ConfigError` whose
message reads `file:line: field: problem`.
"""

from monitor.config.settings import (
    AlertsConfig,
    DefaultsConfig,
    EvidenceWeights,
    DigestConfig,
    FeedConfig,
    FetchConfig,
    InstancesConfig,
    MonitorConfig,
    RateLimitsConfig,
    ReportsConfig,
    RetentionConfig,
    ServiceConfig,
    Settings,
    StorageConfig,
    StoriesConfig,
    StoryThresholds,
    TelegramConfig,
    WeeklyReportConfig,
    config_path_from,
    load_settings,
    parse_duration,
    secrets_of,
    world_readable_warning,
)
from monitor.config.watchlist import Watchlist, load_watchlist
from monitor.config.yamlfile import ConfigError, ConfigProblem

__all__ = [
    "AlertsConfig",
    "ConfigError",
    "ConfigProblem",
    "DefaultsConfig",
    "EvidenceWeights",
    "DigestConfig",
    "FeedConfig",
    "FetchConfig",
    "InstancesConfig",
    "MonitorConfig",
    "RateLimitsConfig",
    "ReportsConfig",
    "RetentionConfig",
    "ServiceConfig",
    "Settings",
    "StorageConfig",
    "StoriesConfig",
    "StoryThresholds",
    "TelegramConfig",
    "Watchlist",
    "WeeklyReportConfig",
    "config_path_from",
    "load_settings",
    "load_watchlist",
    "parse_duration",
    "secrets_of",
    "world_readable_warning",
]
