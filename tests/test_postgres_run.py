"""The assembled service on PostgreSQL: `monitor run --once` through a local feed and
article pages stores, alerts once, and finds nothing new the second time; the
repositories' guarded outbox and batched bookkeeping hold on the server too."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from conftest import write_config
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

    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            statuses = dict(conn.execute(text("SELECT status, count(*) FROM alerts GROUP BY status")).all())
            polled = conn.execute(text("SELECT count(*) FROM feeds WHERE last_status IN ('ok', 'not_modified')")).scalar()
    finally:
        engine.dispose()
    assert statuses == {"sent": 3} and polled == 3
