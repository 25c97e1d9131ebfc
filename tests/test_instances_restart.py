"""The database going away under two running instances: PostgreSQL stopped for a few
seconds (articles keep appearing), started again, then restarted outright while
articles appear. Asserted, from outside: both `monitor run` processes stay up,
/healthz says degraded (HTTP 200, "database unreachable") while the server is down
and ok again after, and every matching article is alerted exactly once (counted at
the fake Bot API), each alert row ending 'sent'.

The server restarted is a private PostgreSQL cluster of this test (initdb in a
temporary folder, its own port, `pg_ctl stop/start/restart`: the same server binary
and the same restart as `pg_ctlcluster 15 main restart`), not the shared one at
127.0.0.1:5432, whose restart would break every other test using it at that moment.
It needs the PostgreSQL server binaries and root (to run them as the `postgres`
user); without them the test is skipped and says why.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import database_rows
from test_instances import CHANNEL_ID, Instance, NewsSite, alerted, instance_config, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


class PrivateServer:
    """A throw-away PostgreSQL cluster on a free port, run as the `postgres` user."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not bins:
            pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/pg_ctl) to run a private server")
        if os.geteuid() != 0:
            pytest.skip("a private PostgreSQL server is started as the postgres user, which needs root")
        try:
            self.user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("no postgres user to run a private PostgreSQL server")
        self.bin = Path(bins[-1]).parent
        self.folder = Path(tempfile.mkdtemp(prefix="monitor-pg-"))
        os.chown(self.folder, self.user.pw_uid, self.user.pw_gid)
        self.data = self.folder / "data"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._as_postgres("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.start()

    def _as_postgres(self, tool: str, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(self.bin / tool), *args],
            check=True, capture_output=True, timeout=60, cwd=self.folder,
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.folder / "server.log"), *args)

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off"
        self._ctl("-o", options, "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")

    def restart(self) -> None:
        self._ctl("-m", "fast", "restart")

    def close(self) -> None:
        try:
            self._ctl("-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def private_postgres():
    server = PrivateServer()
    yield server
    server.close()


def health(instance: Instance) -> dict:
    try:
        return instance.healthz()
    except OSError as exc:
        return {"status": f"no answer: {exc}"}


def test_instances_ride_out_a_database_stop_and_restart(tmp_path, site, fake_telegram, private_postgres):
    fake = fake_telegram
    fake.add_channel("@iraq_watch", CHANNEL_ID)
    news = NewsSite(site, feeds=20)
    database = private_postgres.url
    instances = [Instance(tmp_path / f"i{k}", instance_config(tmp_path / f"i{k}", news, database, fake)) for k in range(2)]
    serial = 0

    def publish(count: int, pause: float) -> None:
        nonlocal serial
        for _ in range(count):
            news.publish([serial % news.feeds], f"Rockets hit Camp Taji base, report {serial}")
            serial += 1
            time.sleep(pause)

    def all_alerted() -> bool:
        return all(alerted(fake, link) for link in news.articles)

    try:
        assert wait_until(lambda: all(i.port() for i in instances), 60), [i.log_path.read_text()[-2000:] for i in instances]
        assert wait_until(lambda: all(health(i)["status"] == "ok" for i in instances), 30), [health(i) for i in instances]
        publish(4, 0.3)
        assert wait_until(all_alerted, 30)

        # The server stops for a while; articles keep appearing.
        private_postgres.stop()
        publish(4, 0.3)
        assert wait_until(lambda: all(health(i)["status"] == "degraded" for i in instances), 15), [health(i) for i in instances]
        down = [health(i) for i in instances]
        assert all(any("database unreachable" in r for r in h["reasons"]) for h in down), down
        time.sleep(3)
        assert all(i.process.poll() is None for i in instances), "an instance exited while the database was down"
        private_postgres.start()
        assert wait_until(all_alerted, 60), [i.log_path.read_text()[-3000:] for i in instances]
        assert wait_until(lambda: all(health(i)["status"] == "ok" for i in instances), 30), [health(i) for i in instances]

        # A restart while articles appear.
        publish(3, 0.3)
        private_postgres.restart()
        publish(3, 0.3)
        assert wait_until(all_alerted, 60), [i.log_path.read_text()[-3000:] for i in instances]
        assert all(i.process.poll() is None for i in instances)
    finally:
        codes = [i.stop() for i in instances]

    counts = {link: alerted(fake, link) for link in news.articles}
    assert len(counts) == 14 and all(n == 1 for n in counts.values()), counts
    assert codes == [0, 0], codes
    statuses = dict(database_rows(database, "SELECT status, count(*) FROM alerts GROUP BY status"))
    [(stored,)] = database_rows(database, "SELECT count(*) FROM items WHERE title LIKE 'Rockets hit Camp Taji%'")
    assert statuses == {"sent": 14} and stored == 14, (statuses, stored)
