"""A database that refuses writes (disk full, read-only): a clear error, nothing
stored half-way, nothing marked sent, and the next healthy run catches up.

SQLite is made to refuse writes the way it does on a full or read-only disk, with
its own pragmas (max_page_count -> SQLITE_FULL, query_only -> "readonly"), set on
every new connection of the real engine the CLI builds.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from conftest import Response, write_config
from monitor.cli import main
from monitor.store import Store

PARAGRAPH = (
    "<p>Coalition trainers left Camp Taji on Sunday, handing the sprawling base north of Baghdad to the "
    "Iraqi army, officials said. The move follows months of rocket attacks on the installation that Western "
    "officials blamed on Iran-aligned factions, paragraph {n}.</p>"
)
# Long enough to need new pages in the database, which a full disk cannot give.
PAGE = "<html><body><article>" + "".join(PARAGRAPH.format(n=n) for n in range(60)) + "</article></body></html>"


@contextmanager
def refusing_writes(db_path, pragma: str):
    def on_connect(dbapi_conn, _record):
        if str(db_path) in (dbapi_conn.execute("PRAGMA database_list").fetchone()[2] or ""):
            dbapi_conn.execute(pragma)

    event.listen(Engine, "connect", on_connect)
    try:
        yield
    finally:
        event.remove(Engine, "connect", on_connect)


def serve(site):
    site.routes["/taji.html"] = Response(PAGE.encode(), 200, {"Content-Type": "text/html"})
    when = format_datetime(datetime.now(timezone.utc) - timedelta(minutes=2))
    site.add(
        "/rss.xml",
        f'<rss version="2.0"><channel><title>Wire</title><item><title>Coalition leaves Camp Taji</title>'
        f"<link>{site.url('/taji.html')}</link><guid>t-1</guid><pubDate>{when}</pubDate></item></channel></rss>",
    )
    return [{"url": site.url("/rss.xml"), "name": "Wire"}]


def counts(db) -> tuple[int, int, int]:
    with sqlite3.connect(db) as conn:
        return (
            conn.execute("SELECT count(*) FROM items").fetchone()[0],
            conn.execute("SELECT count(*) FROM alerts").fetchone()[0],
            conn.execute("SELECT count(*) FROM alerts WHERE status = 'sent'").fetchone()[0],
        )


@pytest.mark.parametrize(
    ("pragma", "words"),
    [
        # Room for the schema, none for news: what a full disk looks like to SQLite.
        ("PRAGMA max_page_count = 1", "database or disk is full"),
        ("PRAGMA query_only = ON", "readonly"),
    ],
)
def test_a_database_refusing_writes_loses_nothing(tmp_path, site, capsys, pragma, words):
    db = tmp_path / "monitor.db"
    config = write_config(tmp_path, serve(site))
    Store(f"sqlite:///{db}").close()  # the schema exists; only new writes will fail
    with sqlite3.connect(db) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]

    with refusing_writes(db, pragma.replace("= 1", f"= {pages}")):
        code = main(["--config", str(config), "run", "--once"])
    out, err = capsys.readouterr()
    assert code == 1
    assert words in err and "db_error" in err
    assert "Traceback" not in err
    assert "Camp Taji" not in out  # nothing announced
    assert counts(db) == (0, 0, 0)  # nothing half-written, nothing marked sent

    # Space is back: the same item is found, stored and alerted, once.
    assert main(["--config", str(config), "run", "--once"]) == 0
    out, _ = capsys.readouterr()
    assert "Coalition leaves Camp Taji" in out
    assert counts(db) == (1, 1, 1)


def test_a_database_that_cannot_be_opened_is_one_line_exit_1(tmp_path, site, capsys):
    db = tmp_path / "monitor.db"
    db.write_bytes(b"this is not a database, it is a text file" * 100)
    config = write_config(tmp_path, serve(site))
    assert main(["--config", str(config), "run", "--once"]) == 1
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0
    assert err.startswith("monitor: database error:") and "not a database" in err
