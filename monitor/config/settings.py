"""monitor.yaml: typed, validated once at load; the rest of the code gets `Settings`."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator

from monitor.config.watchlist import Watchlist, load_watchlist
from monitor.config.yamlfile import ConfigError, ConfigProblem, StrictModel, load_model

DEFAULT_CONFIG = Path("config/monitor.yaml")

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> float:
    """'90s', '10m', '1h30m', '2d' or a bare number of seconds -> seconds (float)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration like 90s, 10m, 1h")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        else:
            parts = _DURATION_PART.findall(text)
            if not parts or _DURATION_PART.sub("", text).strip():
                raise ValueError("expected a duration like 90s, 10m, 1h")
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise ValueError("expected a duration like 90s, 10m, 1h")
    if seconds <= 0:
        raise ValueError("expected a positive duration like 90s, 10m, 1h")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


_DAY = 86400.0


class RetentionConfig(StrictModel):
    """What the database forgets, and how often it looks (monitor/store/retention.py)."""

    enabled: bool = True
    # Identities (GUID, URLs) of items that matched nothing, once no feed has listed them
    # for this long (what a feed still lists is never forgotten, or it would be new again).
    # At least a day: other feeds often carry the same article hours later, and dedup
    # across feeds needs its identity.
    unmatched_items: Duration = 30 * _DAY
    # Sent, failed and unknown alerts (never queued ones) and their send attempts.
    alerts: Duration = 90 * _DAY
    # How often the pruning runs (in `run`; `run --once` prunes when this much time has
    # passed since the last pruning).
    every: Duration = 6 * 3600.0

    @field_validator("unmatched_items", "alerts")
    @classmethod
    def _at_least_a_day(cls, seconds: float) -> float:
        if seconds < _DAY:
            raise ValueError("must be at least 1d (a shorter memory makes old entries new again)")
        return seconds


class StorageConfig(StrictModel):
    url: str = "sqlite:///../var/monitor.db"
    # PostgreSQL: a statement running longer than this is cancelled by the server, so a
    # stuck query (a lock held by a hung client, a server in trouble) cannot stall an
    # instance; the poll or send it belonged to is retried like any database error.
    statement_timeout: Duration = 30.0
    retention: RetentionConfig = RetentionConfig()

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str, info: ValidationInfo) -> str:
        if not url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
            raise ValueError("expected sqlite:///path or postgresql://user@host/db")
        if url.startswith("postgres:"):
            url = "postgresql" + url[len("postgres") :]
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        base = (info.context or {}).get("base_dir")
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and base is not None:
            relative = url[len("sqlite:///") :]
            if relative and relative != ":memory:":
                url = "sqlite:///" + str((Path(base) / relative).resolve())
        return url


class RateLimitsConfig(StrictModel):
    """Telegram's (approximate, unpublished) limits; the sender paces itself to them."""

    per_chat_per_second: float = Field(default=1.0, gt=0)
    per_group_per_minute: float = Field(default=20.0, gt=0)  # groups and channels
    global_per_second: float = Field(default=30.0, gt=0)


class TelegramConfig(StrictModel):
    token: str = ""
    channel: str = ""
    api_base_url: str = "https://api.telegram.org/bot"
    admins: list[int] = Field(default_factory=list)
    link_preview: bool = False
    # Long polling for subscriber commands; off: alerts only, no /subscribe.
    commands: bool = True
    rate_limits: RateLimitsConfig = RateLimitsConfig()
    # While Telegram is down, alerts wait and the Bot API is asked again after a
    # growing pause (1 s, 2 s, 4 s ... with jitter), never longer than this.
    max_backoff: Duration = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _channel_needed_with_token(self) -> "TelegramConfig":
        if self.token and not self.channel:
            raise ValueError("channel: required when a token is set (chat id or @username)")
        return self


class FetchConfig(StrictModel):
    allow_private_networks: bool = False
    allowed_networks: list[str] = Field(default_factory=list)
    user_agent: str = "iraq-watch-monitor/0.1 (+https://github.com/iraq-watch/monitor)"
    connect_timeout: Duration = 10.0
    read_timeout: Duration = 20.0
    total_timeout: Duration = 60.0
    max_body_bytes: int = Field(default=15 * 1024 * 1024, gt=0)
    max_redirects: int = Field(default=5, ge=0)
    max_items_per_feed: int = Field(default=200, gt=0)
    max_text_chars: int = Field(default=200_000, gt=0)
    fetch_pages: bool = True
    concurrency: int = Field(default=16, gt=0)
    per_host_concurrency: int = Field(default=2, gt=0)

    @field_validator("allowed_networks")
    @classmethod
    def _cidrs(cls, networks: list[str]) -> list[str]:
        for net in networks:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"not a network in CIDR form: {net!r} (e.g. 127.0.0.0/8)") from None
        return networks


class DefaultsConfig(StrictModel):
    interval: Duration = 600.0
    # First poll of a feed stores what it finds but alerts only on entries this recent.
    backfill: Duration = 86400.0
    # --- scheduling politeness (used by monitor/service/schedule.py) ---
    # Random extra delay per poll, as a share of the interval (capped at 60 s), so
    # hundreds of feeds with one interval do not fire together.
    jitter: float = Field(default=0.1, ge=0, le=0.5)
    # Consecutive failures double the wait, from the interval up to this ceiling.
    max_backoff: Duration = 3600.0
    # Failing this long makes a feed "broken" (reported once); None: max(6 x interval, 1 h).
    broken_after: Duration | None = None
    # A broken feed is still probed, this rarely, and recovers by itself.
    broken_retry: Duration = 7200.0
    # Honour what a feed asks (<ttl>, sy:updatePeriod, Cache-Control/Expires) when it is
    # longer than the interval; capped at max_declared_interval. Per feed: respect_feed_ttl.
    respect_feed_ttl: bool = True
    max_declared_interval: Duration = 86400.0
    # A publisher's Retry-After is honoured up to this long.
    max_retry_after: Duration = 86400.0


class AlertsConfig(StrictModel):
    # More new matching items than this in one poll of one feed (an archive republished,
    # a CMS migration): one summary message per chat instead of one alert each.
    burst_limit: int = Field(default=10, gt=0)


def parse_clock_time(value: Any) -> str:
    """'8:00', '08:00', '23:59' -> 'HH:MM' (a wall-clock time of day)."""
    if not isinstance(value, str) or not (found := re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", value)):
        raise ValueError(f"expected a time of day as HH:MM, e.g. 08:00 (got {value!r})")
    hour, minute = int(found.group(1)), int(found.group(2))
    if hour > 23 or minute > 59:
        raise ValueError(f"{value!r} is not a time of day (00:00 to 23:59)")
    return f"{hour:02d}:{minute:02d}"


def parse_time_zone(value: Any) -> str:
    """An IANA time zone name ('Asia/Baghdad', 'UTC'), checked against the zone database."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a time zone name such as Asia/Baghdad or UTC")
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Baghdad, Europe/Berlin, UTC)") from None
    return value.strip()


ClockTime = Annotated[str, BeforeValidator(parse_clock_time)]
TimeZoneName = Annotated[str, BeforeValidator(parse_time_zone)]
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class DigestConfig(StrictModel):
    """When the items of digest-priority entities go out, one message per chat."""

    at: list[ClockTime] = Field(default_factory=lambda: ["08:00", "18:00"], min_length=1)
    timezone: TimeZoneName = "UTC"

    @field_validator("at")
    @classmethod
    def _distinct(cls, times: list[str]) -> list[str]:
        return sorted(set(times))


class WeeklyReportConfig(StrictModel):
    """The week at a glance (chart + table) sent to the channel as a photo."""

    enabled: bool = False
    at: str = "Mon 08:00"  # day of the week and time of day
    timezone: TimeZoneName = "UTC"

    @field_validator("at")
    @classmethod
    def _day_and_time(cls, value: str) -> str:
        day, _, clock = value.strip().partition(" ")
        if day[:3].lower() not in _WEEKDAYS or (len(day) > 3 and not day.lower().startswith(_full_day(day[:3]))):
            raise ValueError(f"expected a day and a time, e.g. 'Mon 08:00' (got {value!r})")
        return f"{day[:3].capitalize()} {parse_clock_time(clock)}"

    @property
    def weekday(self) -> int:
        """0 = Monday."""
        return _WEEKDAYS.index(self.at[:3].lower())

    @property
    def time(self) -> str:
        return self.at[4:]


def _full_day(abbreviation: str) -> str:
    return {"mon": "monday", "tue": "tuesday", "wed": "wednesday", "thu": "thursday", "fri": "friday",
            "sat": "saturday", "sun": "sunday"}[abbreviation.lower()]


class ReportsConfig(StrictModel):
    weekly: WeeklyReportConfig = WeeklyReportConfig()


class FeedConfig(StrictModel):
    url: str
    name: str = ""
    # Language of the feed's articles (e.g. "ar", "en"), for story grouping; default:
    # what the feed declares, else a guess from the script (Arabic), else unknown.
    language: str | None = Field(default=None, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
    interval: Duration | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    # Overrides defaults.respect_feed_ttl for this feed (false: poll at `interval` whatever it declares).
    respect_feed_ttl: bool | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if not re.match(r"^https?://[^/\s]+", url, re.IGNORECASE):
            raise ValueError("expected an http:// or https:// URL")
        return url


class EvidenceWeights(StrictModel):
    """How much each kind of language-independent evidence counts (times its IDF)."""

    entities: float = Field(default=1.0, ge=0)
    numbers: float = Field(default=1.0, ge=0)
    places: float = Field(default=0.5, ge=0)
    concepts: float = Field(default=0.5, ge=0)


HOUR = 3600.0


class StoryThresholds(StrictModel):
    """Thresholds and windows of story assignment (monitor.stories), with their defaults
    and why; measured in docs/STORIES.md. Durations accept "24h", "90m" or seconds."""

    # A story takes new articles while its latest article is at most this old
    # (practitioners: 18-24 h) ...
    join_window: Duration = 24 * HOUR
    # ... and while its first article is at most this old (practitioners: 36-72 h).
    max_story_age: Duration = 72 * HOUR
    # Layer 1, copies: estimated Jaccard overlap of word shingles from which two
    # articles are copies (reprints, wire text, tracking-parameter URL variants).
    # At 0.5, MinHash finds 297/300 copies with 5% edits (measured, see NOTES).
    copy_threshold: float = Field(default=0.5, gt=0, le=0.95)
    minhash_permutations: int = Field(default=128, ge=32, le=1024)
    shingle_words: int = Field(default=3, ge=1, le=8)
    # Layer 2, same language: TF-IDF cosine of title + lead (character 3-5-grams)
    # from which an article joins a story article of its language.
    same_language_threshold: float = Field(default=0.35, gt=0, le=1)
    lead_chars: int = Field(default=400, ge=0)
    # Layer 3, language-independent evidence (the across-languages layer; it
    # also joins same-language reports whose wording differs): the weighted
    # cosine of entities, numbers, places and kinds of event needed to join a
    # story article published `dt` apart rises linearly from
    # evidence_threshold_together (dt = 0) to evidence_threshold_at_window
    # (dt = evidence_window); articles further apart never join this way.
    # Two reports of one tracked site within the hour are nearly always one
    # event; half a day apart they need to agree on much more.
    evidence_threshold_together: float = Field(default=0.25, gt=0, le=1)
    evidence_threshold_at_window: float = Field(default=0.6, gt=0, le=1)
    evidence_window: Duration = 12 * HOUR
    evidence_weights: EvidenceWeights = EvidenceWeights()
    # New developments: from this long after a story began, an article whose
    # title announces a kind of event the story never mentioned (a denial,
    # airstrikes, "a second attack", "erneut", "هجوم جديد") or names a tracked
    # entity it never mentioned opens a new story. Earlier, reports still add
    # facts (casualties after "rockets hit").
    novelty_gap: Duration = 3 * HOUR
    # Compare a new article with at most this many of a story's latest
    # articles: bounds the cost of assigning into a very big story.
    max_compared_per_story: int = Field(default=40, ge=1)
    # Remember at most this many articles of open stories (about 13 KB each: sketches,
    # not text); past it the oldest are forgotten first, so memory and the cost of a
    # placement stay bounded on a busy day. A forgotten article can no longer be
    # compared: a late report of its event may open a story of its own.
    max_open_articles: int = Field(default=5000, ge=100)

    @model_validator(mode="after")
    def _windows_fit(self) -> "StoryThresholds":
        if self.join_window > self.max_story_age:
            raise ValueError("join_window must not be longer than max_story_age")
        if self.evidence_threshold_together > self.evidence_threshold_at_window:
            raise ValueError("evidence_threshold_together must not be above evidence_threshold_at_window")
        return self


class StoriesConfig(StoryThresholds):
    """`stories:` in monitor.yaml: one alert per story (monitor.stories, docs/STORIES.md)."""

    # Off: every matching article is alerted on its own, as before stories.
    enabled: bool = True
    # A later report edits the story's message in Telegram at once; further reports
    # edit it at most once per this interval (docs/DELIVERY.md). Read at start.
    edit_interval: Duration = Field(default=60.0, ge=0)

    def thresholds(self) -> dict[str, Any]:
        """The assignment settings without the switch (monitor.stories.StorySettings)."""
        return self.model_dump(exclude={"enabled", "edit_interval"})


class ServiceConfig(StrictModel):
    health_host: str = "127.0.0.1"
    health_port: int | None = Field(default=None, ge=0, le=65535)
    reload_check: Duration = 5.0
    log_format: str = Field(default="console", pattern="^(console|json)$")
    # --- lifecycle and health ---
    # On SIGTERM/SIGINT in-flight polls get this long to finish before they are cancelled.
    shutdown_grace: Duration = 5.0
    # First polls after a start are spread over min(interval, startup_spread).
    startup_spread: Duration = 10.0
    # After its first poll, a feed is polled on a grid of this many seconds (at most a tenth of its
    # interval), so polls due close together share one wake-up of the process: on a
    # small VM each wake-up costs as much CPU as a poll's own work. 0: no grid.
    poll_tick: Duration = 5.0
    # Routine poll bookkeeping (a 304 from a healthy feed: timestamps only) is
    # written in one batch this often; a killed process loses at most that much of
    # it (the feed is then polled a little early after the restart).
    state_flush: Duration = 10.0
    # /healthz says "degraded" when more than this share of the feeds is broken.
    degraded_broken_share: float = Field(default=0.25, ge=0, le=1)
    # One instance per SQLite database (a lock file beside it). PostgreSQL takes no lock:
    # instances share its database and split the feeds (see `instances`).
    single_instance: bool = True


class InstancesConfig(StrictModel):
    """Several instances on one PostgreSQL database (monitor.service.instances)."""

    # A feed claimed by an instance, and the sender role, are its for this long after
    # its last heartbeat: the feeds and the role of a dead instance are taken over
    # within one lease. A sender that cannot renew for half a lease stops sending.
    lease: Duration = 60.0
    # How often an instance renews its registry row, its feed claims and the sender role.
    heartbeat: Duration = 10.0

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> "InstancesConfig":
        if self.heartbeat * 3 > self.lease:
            raise ValueError(f"heartbeat: at most a third of the lease ({self.lease:g} s), so one late heartbeat loses nothing")
        return self


class MonitorConfig(StrictModel):
    storage: StorageConfig = StorageConfig()
    telegram: TelegramConfig = TelegramConfig()
    watchlist: str = "watchlist.yaml"
    fetch: FetchConfig = FetchConfig()
    defaults: DefaultsConfig = DefaultsConfig()
    alerts: AlertsConfig = AlertsConfig()
    stories: StoriesConfig = StoriesConfig()
    digest: DigestConfig = DigestConfig()
    reports: ReportsConfig = ReportsConfig()
    feeds: list[FeedConfig] = Field(default_factory=list)
    service: ServiceConfig = ServiceConfig()
    instances: InstancesConfig = InstancesConfig()

    @model_validator(mode="after")
    def _unique_feed_urls(self) -> "MonitorConfig":
        seen: set[str] = set()
        for feed in self.feeds:
            if feed.url in seen:
                raise ValueError(f"feeds: {feed.url} is listed twice")
            seen.add(feed.url)
        return self

    def feed_interval(self, feed: FeedConfig) -> float:
        return feed.interval or self.defaults.interval

    def feed_broken_after(self, feed: FeedConfig) -> float:
        """Seconds of failure after which a feed counts as broken."""
        if self.defaults.broken_after is not None:
            return self.defaults.broken_after
        return max(self.feed_interval(feed) * 6, 3600.0)

    def feed_respects_ttl(self, feed: FeedConfig) -> bool:
        return self.defaults.respect_feed_ttl if feed.respect_feed_ttl is None else feed.respect_feed_ttl


@dataclass(frozen=True)
class Settings:
    """Everything the service needs, validated: the config, its file, the watchlist."""

    config: MonitorConfig
    config_path: Path
    watchlist: Watchlist
    watchlist_path: Path


def config_path_from(cli_value: str | None) -> Path:
    if cli_value:
        return Path(cli_value)
    env = os.environ.get("MONITOR_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


def load_settings(path: Path) -> Settings:
    """Load monitor.yaml and the watchlist it names; ConfigError lists every problem."""
    config = load_model(MonitorConfig, path, context={"base_dir": path.parent})
    watchlist_path = (path.parent / config.watchlist).resolve()
    watchlist = load_watchlist(watchlist_path)
    return Settings(config, path, watchlist, watchlist_path)


def secrets_of(config: MonitorConfig) -> list[str]:
    """Values that must never appear in logs or errors."""
    from sqlalchemy.engine import make_url

    found = [config.telegram.token] if config.telegram.token else []
    try:
        password = make_url(config.storage.url).password
    except Exception:  # noqa: BLE001 - a URL we cannot parse has no password to hide
        password = None
    if password:
        found.append(str(password))
    return found


def world_readable_warning(path: Path) -> str | None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & 0o004:
        return f"{path} is readable by every user; it may hold secrets (chmod o-r {path})"
    return None


__all__ = [
    "AlertsConfig",
    "DigestConfig",
    "ReportsConfig",
    "WeeklyReportConfig",
    "ConfigError",
    "ConfigProblem",
    "FeedConfig",
    "InstancesConfig",
    "MonitorConfig",
    "RetentionConfig",
    "Settings",
    "config_path_from",
    "load_settings",
    "parse_duration",
]
