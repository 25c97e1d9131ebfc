"""The assembled service on PostgreSQL: `monitor run --once` through a local feed and
article pages stores, alerts once, and finds nothing new the second time; the
repositories' guarded outbox and batched bookkeeping hold on the server too."""

from __future__ import annotations

import pytest

from conftest import database_rows, write_config
from monitor.cli import main
from test_pipeline_e2e import build_site

pytestmark = pytest.mark.postgres


def test_run_once_on_postgresql_alerts_once(tmp_path, site, capsys, postgres_url):
    config = write_config(tmp_path, build_site(site), storage={"url": postgres_url})
    assert main(["--config", str(config), "run", "--once"]) == 0
    out, err = capsys.readouterr()
    assert "Rockets hit Iraq's Camp Taji" in out and "Late winner" not in out

    assert main(["--config", str(config), "run", "--once"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "Nothing new" in err

    statuses = dict(database_rows(postgres_url, "SELECT status, count(*) FROM alerts GROUP BY status"))
    [(polled,)] = database_rows(postgres_url, "SELECT count(*) FROM feeds WHERE last_status IN ('ok', 'not_modified')")
    assert statuses == {"sent": 3} and polled == 3
