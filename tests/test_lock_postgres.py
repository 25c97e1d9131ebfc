"""One monitor per PostgreSQL database by default, like SQLite's lock file."""

from __future__ import annotations

import pytest

from conftest import write_config
from monitor.cli import main
from monitor.service.lock import InstanceLocked, lock_database

pytestmark = pytest.mark.postgres


def test_a_second_instance_on_the_same_postgres_database_is_refused(postgres_url):
    first = lock_database(postgres_url)
    try:
        with pytest.raises(InstanceLocked) as refused:
            lock_database(postgres_url)
        assert "another monitor is already running" in str(refused.value)
    finally:
        first.release()
    lock_database(postgres_url).release()  # free again once the first one stopped


def test_the_cli_says_so_in_one_line_and_exits_1(tmp_path, capsys, postgres_url):
    config = write_config(tmp_path, [], storage={"url": postgres_url})
    holder = lock_database(postgres_url)
    try:
        assert main(["--config", str(config), "run", "--once"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("monitor: another monitor is already running") and err.count("\n") == 1
    finally:
        holder.release()
    assert main(["--config", str(config), "run", "--once"]) == 0
