"""Config errors through the real CLI: one line per problem naming file, line and field; exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import load_settings, parse_duration
from monitor.config.yamlfile import ConfigError, interpolate_env
from conftest import REPO, WATCHLIST, write_config


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_shipped_config_is_valid(capsys):
    code, out, err = run_cli(capsys, "--config", str(REPO / "config" / "monitor.yaml"), "check-config")
    assert code == 0, err
    assert "ok" in out and "17 entities" not in err


def test_valid_config_with_no_feeds(tmp_path, capsys):
    config = write_config(tmp_path, feeds=[])
    code, out, _ = run_cli(capsys, "--config", str(config), "check-config")
    assert code == 0
    assert "0 feeds" in out


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitor.yaml"
    path.write_text(text.replace("WATCHLIST", str(WATCHLIST)), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        # a missing key
        ("watchlist: WATCHLIST\nfeeds:\n  - name: No URL\n", 3, "feeds[0].url", "required"),
        # a wrong type
        ("watchlist: WATCHLIST\nfetch:\n  max_redirects: many\n", 3, "fetch.max_redirects", "integer"),
        # a bad duration
        ("watchlist: WATCHLIST\nfeeds:\n  - url: https://example.org/rss\n    interval: 5 minutes\n", 4, "feeds[0].interval", "duration"),
        # an unknown key (a typo)
        ("watchlist: WATCHLIST\ndefualts:\n  interval: 5m\n", 2, "defualts", "unknown key"),
        # a feed URL that is not http(s)
        ("watchlist: WATCHLIST\nfeeds:\n  - url: file:///etc/passwd\n", 3, "feeds[0].url", "http"),
    ],
)
def test_config_errors_name_file_line_and_field(tmp_path, capsys, text, line, field, words):
    path = _write(tmp_path, text)
    code, out, err = run_cli(capsys, "--config", str(path), "check-config")
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{path}:{line}: {field}: ")
    assert words in lines[0]


def test_invalid_yaml_is_one_line_with_the_line_number(tmp_path, capsys):
    path = _write(tmp_path, "watchlist: WATCHLIST\nfeeds:\n  - url: [unclosed\n")
    code, _, err = run_cli(capsys, "--config", str(path), "check-config")
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith(f"{path}:") and "invalid YAML" in err


def test_missing_watchlist_file(tmp_path, capsys):
    path = _write(tmp_path, "watchlist: nowhere.yaml\n")
    code, _, err = run_cli(capsys, "--config", str(path), "check-config")
    assert code == 2
    assert err.strip() == f"{tmp_path / 'nowhere.yaml'}: file not found"


def test_missing_config_file(tmp_path, capsys):
    code, _, err = run_cli(capsys, "--config", str(tmp_path / "absent.yaml"), "check-config")
    assert code == 2
    assert "absent.yaml: file not found" in err


def test_config_from_environment_variable(tmp_path, capsys, monkeypatch):
    config = write_config(tmp_path, feeds=[{"url": "https://example.org/a.xml"}])
    monkeypatch.setenv("MONITOR_CONFIG", str(config))
    code, out, _ = run_cli(capsys, "check-config")
    assert code == 0 and "1 feeds" in out


def test_env_interpolation_and_relative_sqlite_path(tmp_path, monkeypatch):
    monkeypatch.setenv("FEED_HOST", "news.example.org")
    monkeypatch.delenv("UNSET_TOKEN", raising=False)
    path = _write(
        tmp_path,
        "storage:\n  url: sqlite:///../var/m.db\n"
        "telegram:\n  token: ${UNSET_TOKEN:-}\n"
        "watchlist: WATCHLIST\n"
        "feeds:\n  - url: https://${FEED_HOST}/rss\n    interval: ${INTERVAL:-90s}\n",
    )
    settings = load_settings(path)
    assert settings.config.feeds[0].url == "https://news.example.org/rss"
    assert settings.config.feeds[0].interval == 90
    assert settings.config.telegram.token == ""
    assert settings.config.storage.url == f"sqlite:///{(tmp_path.parent / 'var' / 'm.db').resolve()}"


def test_interpolation_rules():
    env = {"A": "1", "EMPTY": ""}
    assert interpolate_env("${A}-${B}-${B:-x}-${EMPTY:-y}", env) == "1--x-y"


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("2d", 172800), (45, 45), ("30", 30)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "soon", "10 parsecs", "-5m", "0s", True, None, [1]])
def test_bad_durations(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_every_problem_is_reported_at_once(tmp_path):
    path = _write(tmp_path, "watchlist: WATCHLIST\nfetch:\n  max_redirects: x\n  connect_timeout: later\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    fields = [p.field for p in caught.value.problems]
    assert fields == ["fetch.connect_timeout", "fetch.max_redirects"] or sorted(fields) == ["fetch.connect_timeout", "fetch.max_redirects"]


def test_bad_usage_exits_2_with_one_line():
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "frobnicate"], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "invalid choice" in result.stderr


def test_world_readable_config_with_a_token_is_warned_about(tmp_path, capsys):
    config = write_config(tmp_path, telegram={"token": "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "channel": "@c"})
    config.chmod(0o644)
    assert main(["--config", str(config), "check-config"]) == 0
    err = capsys.readouterr().err
    assert "readable by every user" in err and "chmod o-r" in err
    assert "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" not in err
    config.chmod(0o640)
    assert main(["--config", str(config), "check-config"]) == 0
    assert "readable by every user" not in capsys.readouterr().err


def test_errors_never_show_the_database_password(tmp_path, capsys):
    config = write_config(tmp_path, storage={"url": "postgresql://monitor:S3cretPassw0rd@127.0.0.1:1/monitor"})
    code = main(["--config", str(config), "stats"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("monitor: database error:")
    assert "S3cretPassw0rd" not in err
