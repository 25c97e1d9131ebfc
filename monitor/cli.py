"""The `monitor` command: parses arguments, calls the package, prints, sets exit codes.

Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad config. Anything a
user can cause ends in one clear line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from monitor.config import ConfigError, Settings, config_path_from, load_settings, secrets_of, world_readable_warning
from monitor.ops.logs import configure_logging, redact
from monitor.service.lock import InstanceLocked
from monitor.store import Store, database_problem

if TYPE_CHECKING:  # imported where used, so `monitor match` does not load the service
    from monitor.service import CycleReport
    from monitor.store.reports import FoundItem
    from monitor.store.stories import RecentStory

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse prints usage + exits 2; keep it to one line
        self.exit(EXIT_USAGE, f"monitor: {message} (see monitor --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="monitor", description="Watch news feeds for tracked entities and alert on Telegram.")
    parser.add_argument("--config", help="monitor.yaml (default: $MONITOR_CONFIG, else config/monitor.yaml)")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="run the service until SIGTERM/SIGINT")
    run.add_argument("--once", action="store_true", help="one cycle over all feeds, deliver, exit")

    commands.add_parser("check-config", help="validate monitor.yaml and watchlist.yaml")

    match = commands.add_parser("match", help="match files or stdin against the watchlist")
    match.add_argument("paths", nargs="*", metavar="PATH", help="text or .html files; '-' or none: stdin")
    match.add_argument("--json", action="store_true", help="one JSON object per input, per line")
    match.add_argument(
        "--explain",
        action="store_true",
        help="show every candidate: the mechanism that found it, its alias, variant and context rule",
    )

    recent = commands.add_parser("recent", help="the latest stories: lead title, article count, outlets")
    recent.add_argument("--limit", type=_positive_int, default=20, help="stories to show (default 20)")
    recent.add_argument("--entity", help="only stories with an article matching this entity id")
    recent.add_argument("--json", action="store_true", help="one JSON object per story, per line")

    story = commands.add_parser("story", help="a story's articles, in order of arrival")
    story.add_argument("story_id", type=_positive_int, metavar="ID", help="the story id (as `monitor recent` shows it)")
    story.add_argument("--json", action="store_true", help="one JSON object")

    stories = commands.add_parser("stories", help="the latest stories; --explain A B: why two articles were (not) joined")
    stories.add_argument(
        "--explain", nargs=2, type=_positive_int, metavar=("A", "B"), help="item ids of two stored articles"
    )
    stories.add_argument("--limit", type=_positive_int, default=20, help="stories to show (default 20)")

    search = commands.add_parser("search", help="stored items containing QUERY")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=50)
    search.add_argument("--json", action="store_true")

    stats = commands.add_parser("stats", help="feeds, entities and alerts at a glance")
    stats.add_argument("--json", action="store_true")
    stats.add_argument(
        "--feedback",
        action="store_true",
        help="readers' marks per entity and alias, and suggested excludes for aliases often marked not relevant",
    )
    stats.add_argument(
        "--share",
        type=_share,
        default=None,
        metavar="S",
        help="with --feedback: suggest an alias when at least this share of its marks say not relevant (default 0.5)",
    )
    stats.add_argument(
        "--min-marks",
        type=_positive_int,
        default=None,
        metavar="N",
        help="with --feedback: ... and at least N of them (default 3)",
    )

    report = commands.add_parser("report", help="the period at a glance: articles, top outlets, co-mentions per entity")
    report.add_argument(
        "--since",
        type=_report_period,
        default="7d",
        metavar="PERIOD",
        help="how far back: 24h, 7d, 30d, 2w (default 7d; days and weeks start at midnight UTC)",
    )
    report.add_argument("--json", action="store_true", help="one JSON object (for machines)")
    report.add_argument("--chart", type=_png_path, metavar="FILE.png", help="also draw articles per day per entity")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    path = config_path_from(args.config)
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    redact.set_secrets(secrets_of(settings.config))
    handler = _COMMANDS[args.command]
    try:
        return handler(settings, args)
    except KeyboardInterrupt:
        return EXIT_RUNTIME
    except InstanceLocked as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except DBAPIError as exc:
        print(redact(f"monitor: {database_problem(exc)}"), file=sys.stderr)
        return EXIT_RUNTIME
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - last resort: one line, not a traceback
        print(redact(f"monitor: {type(exc).__name__}: {exc}"), file=sys.stderr)
        return EXIT_RUNTIME


def _cmd_check_config(settings: Settings, args: argparse.Namespace) -> int:
    from monitor.service.reload import RuntimeBuildError, load_runtime

    # The same verdict a live reload would give: settings *and* a matcher built from them.
    try:
        load_runtime(settings.config_path)
    except (ConfigError, RuntimeBuildError) as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    config = settings.config
    for warning in filter(None, [world_readable_warning(settings.config_path)]):
        if config.telegram.token:
            print(f"warning: {warning}", file=sys.stderr)
    print(
        f"{settings.config_path}: ok ({len(config.feeds)} feeds, "
        f"{len(settings.watchlist.entities)} entities from {settings.watchlist_path.name})"
    )
    return EXIT_OK


def _cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from monitor.service import Monitor

    configure_logging(settings.config.service.log_format)
    if settings.config.telegram.token and (warning := world_readable_warning(settings.config_path)):
        print(f"warning: {warning}", file=sys.stderr)

    async def go() -> int:
        monitor = Monitor(settings)
        try:
            if args.once:
                report = await monitor.run_once()
                _print_cycle(report)
                # The database refused writes: nothing was lost (the items are found
                # again next time), but the run did not do its job.
                return EXIT_RUNTIME if any(o.status == "db_error" for o in report.outcomes) else EXIT_OK
            await monitor.run_forever()
            return EXIT_OK
        finally:
            await monitor.aclose()

    return asyncio.run(go())


def _print_cycle(report: CycleReport) -> None:
    console = Console(stderr=True)
    if report.new_items == 0:
        console.print(f"Nothing new in {len(report.outcomes)} feed(s).")
    else:
        console.print(
            f"{report.new_items} new item(s), {report.alerts_queued} alert(s) queued, "
            f"{report.delivered} delivered, from {len(report.outcomes)} feed(s)."
        )
    for failed in report.failed_feeds:
        console.print(f"[red]feed failed[/red] {failed.feed_url}: {failed.error}", markup=True, highlight=False)


def _read_inputs(paths: list[str]) -> list[tuple[str, str]]:
    from monitor.ingest.extract import extract_text

    inputs = []
    for name in paths or ["-"]:
        if name == "-":
            inputs.append(("-", sys.stdin.read()))
            continue
        path = Path(name)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise _UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
        if path.suffix.lower() in (".html", ".htm"):
            text = extract_text(raw, None, max_chars=10_000_000) or ""
        else:
            text = raw.decode("utf-8", errors="replace")
        inputs.append((name, text))
    return inputs


class _UsageError(Exception):
    pass


def _cmd_match(settings: Settings, args: argparse.Namespace) -> int:
    from monitor.match import Matcher

    matcher = Matcher.from_watchlist(settings.watchlist)
    try:
        inputs = _read_inputs(args.paths)
    except _UsageError as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    console = Console()
    for name, text in inputs:
        found = matcher.match(text)
        if args.json:
            print(
                json.dumps(
                    {
                        "input": name,
                        "entities": [
                            {
                                "id": m.entity_id,
                                "name": m.name,
                                "mentions": [{"text": x.text, "start": x.start, "end": x.end} for x in m.mentions],
                            }
                            for m in found
                        ],
                    },
                    ensure_ascii=False,
                )
            )
            continue
        if not found:
            console.print(f"{name}: no tracked entities", highlight=False)
        for m in found:
            spellings = ", ".join(sorted({x.text for x in m.mentions}))
            console.print(
                f"{name}: [bold]{m.name}[/bold] ({m.entity_id}) x{len(m.mentions)}: {spellings}", highlight=False, soft_wrap=True
            )
        if args.explain:
            # One line per candidate, unwrapped: "by <mechanism>" says what found it
            # (alias, variant rule, inflection, transliteration, role, context rule).
            for line in matcher.explain(text):
                console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
    return EXIT_OK


def _store(settings: Settings) -> Store:
    return Store(settings.config.storage.url)


def _items_table(title: str, found: list[FoundItem]) -> Table:
    table = Table(title=title, show_lines=False)
    for column in ("when (UTC)", "feed", "title", "entities", "link"):
        table.add_column(column, overflow="fold")
    for item in found:
        when = (item.published_at or item.fetched_at).strftime("%Y-%m-%d %H:%M")
        table.add_row(when, item.feed, item.title, ", ".join(item.entities), item.url or "")
    return table


def _items_json(found: list[FoundItem]) -> None:
    for item in found:
        print(
            json.dumps(
                {
                    "title": item.title,
                    "url": item.url,
                    "feed": item.feed,
                    "published": item.published_at.isoformat() if item.published_at else None,
                    "found": item.fetched_at.isoformat(),
                    "entities": item.entities,
                },
                ensure_ascii=False,
            )
        )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number")
    return value


def _cmd_recent(settings: Settings, args: argparse.Namespace) -> int:
    found = _store(settings).stories.recent(limit=args.limit, entity_id=args.entity)
    if args.json:
        for entry in found:
            print(json.dumps(_recent_json(entry), ensure_ascii=False))
    elif not found:
        print("No matching items stored yet.")
    else:
        Console().print(_stories_table("Recent stories", found, _entity_names(settings)))
    return EXIT_OK


def _entity_names(settings: Settings) -> dict[str, str]:
    return {e.id: e.name for e in settings.watchlist.entities}


def _recent_json(entry: RecentStory) -> dict:
    lead = entry.lead
    return {
        "story": entry.story_id,
        "title": lead.title,
        "url": lead.url,
        "feed": lead.outlet,
        "published": lead.published_at.isoformat(),
        "latest": entry.latest.published_at.isoformat(),
        "articles": len(entry.articles),
        "outlets": list(entry.outlets),
        "entities": list(entry.entities),
        "items": [a.item_id for a in entry.articles],
    }


def _stories_table(title: str, found: list[RecentStory], names: dict[str, str]) -> Table:
    table = Table(title=title, show_lines=False)
    for column in ("latest (UTC)", "story", "title (first report)", "articles", "outlets", "entities", "link"):
        table.add_column(column, overflow="fold")
    for entry in found:
        table.add_row(
            entry.latest.published_at.strftime("%Y-%m-%d %H:%M"),
            str(entry.story_id) if entry.story_id is not None else "-",
            entry.lead.title or entry.lead.url or "untitled",
            str(len(entry.articles)),
            ", ".join(entry.outlets),
            ", ".join(names.get(e, e) for e in entry.entities),
            entry.lead.url or "",
        )
    return table


def _cmd_story(settings: Settings, args: argparse.Namespace) -> int:
    story = _store(settings).stories.get(args.story_id)
    if story is None:
        print(f"monitor: no story {args.story_id} (a story's id is the item id of its first article; see monitor recent)", file=sys.stderr)
        return EXIT_RUNTIME
    names = _entity_names(settings)
    if args.json:
        print(
            json.dumps(
                {
                    "story": story.id,
                    "revision": story.revision,
                    "first_published": story.first_published_at.isoformat(),
                    "last_published": story.last_published_at.isoformat(),
                    "outlets": list(story.outlets),
                    "entities": list(story.entities),
                    "articles": [
                        {
                            "item": a.item_id,
                            "title": a.title,
                            "url": a.url,
                            "outlet": a.outlet,
                            "language": a.lang,
                            "published": a.published_at.isoformat(),
                            "entities": list(a.entities),
                            "joined_by": a.layer,
                            "score": a.score,
                            "joined_with": a.joined_with,
                        }
                        for a in story.articles
                    ],
                },
                ensure_ascii=False,
            )
        )
        return EXIT_OK
    console = Console()
    console.print(f"[bold]Story {story.id}[/bold]: {story.lead.title or story.lead.url or 'untitled'}", highlight=False)
    console.print(
        f"{story.article_count} article(s) from {len(story.outlets)} outlet(s), "
        f"{story.first_published_at:%Y-%m-%d %H:%M} to {story.last_published_at:%Y-%m-%d %H:%M} UTC; "
        f"entities: {', '.join(names.get(e, e) for e in story.entities)}",
        highlight=False,
    )
    table = Table(show_lines=False)
    for column in ("item", "published (UTC)", "outlet", "lang", "joined by", "title", "link"):
        table.add_column(column, overflow="fold")
    for a in story.articles:
        if a.layer in (None, "new"):
            how = "first report" if a.item_id == story.lead_item_id else "-"
        else:
            how = f"{a.layer} {a.score or 0:.2f} with {a.joined_with}"
        table.add_row(str(a.item_id), f"{a.published_at:%Y-%m-%d %H:%M}", a.outlet, a.lang or "-", how, a.title, a.url or "")
    console.print(table)
    return EXIT_OK


def _cmd_stories(settings: Settings, args: argparse.Namespace) -> int:
    if not args.explain:
        found = _store(settings).stories.recent(limit=args.limit)
        if not found:
            print("No matching items stored yet.")
        else:
            Console().print(_stories_table("Recent stories", found, _entity_names(settings)))
        return EXIT_OK
    from monitor.service.stories import explain_items

    first, second = args.explain
    if first == second:
        print(f"monitor: --explain needs two different items (got {first} twice)", file=sys.stderr)
        return EXIT_USAGE
    try:
        print(explain_items(_store(settings).stories, settings.config.stories, first, second))
    except LookupError as exc:
        print(f"monitor: {exc.args[0]}", file=sys.stderr)
        return EXIT_RUNTIME
    return EXIT_OK


def _cmd_search(settings: Settings, args: argparse.Namespace) -> int:
    from monitor.store import reports

    found = reports.search(_store(settings), args.query, limit=args.limit)
    if args.json:
        _items_json(found)
    elif not found:
        print(f"Nothing stored contains {args.query!r}.")
    else:
        Console().print(_items_table(f"Items containing {args.query!r}", found))
    return EXIT_OK


def _cmd_stats(settings: Settings, args: argparse.Namespace) -> int:
    from monitor.store import reports

    if args.feedback:
        return _feedback_stats(settings, args)
    if args.share is not None or args.min_marks is not None:
        print("monitor: --share and --min-marks go with --feedback (see monitor stats --help)", file=sys.stderr)
        return EXIT_USAGE
    result = reports.stats(_store(settings), settings.config.instances.lease)
    if args.json:
        print(
            json.dumps(
                {
                    "feeds": [
                        {
                            "url": f.url,
                            "name": f.name,
                            "last_poll": f.last_polled_at.isoformat() if f.last_polled_at else None,
                            "status": f.last_status,
                            "error": f.last_error,
                            "error_streak": f.error_streak,
                            "broken": f.broken,
                            "items": f.items,
                            "matched_items": f.matched_items,
                        }
                        for f in result.feeds
                    ],
                    "entities": {k: {"24h": d, "7d": w} for k, (d, w) in result.entity_counts.items()},
                    "alerts": result.alerts_by_status,
                    "failed_alerts": [{"chat": c, "reason": r} for c, r in result.failed_alerts],
                    "instances": [
                        {
                            "id": i.id,
                            "host": i.host,
                            "pid": i.pid,
                            "started_at": i.started_at.isoformat(),
                            "heartbeat_age": i.heartbeat_age,
                            "alive": i.alive,
                            "feed_leases": i.feed_leases,
                            "last_polled": i.last_polled,
                            "sender": any(role.startswith("sender:") for role in i.roles),
                        }
                        for i in result.instances
                    ],
                },
                ensure_ascii=False,
            )
        )
        return EXIT_OK
    console = Console()
    feeds = Table(title="Feeds")
    for column in ("feed", "last poll (UTC)", "status", "error streak", "items", "matched"):
        feeds.add_column(column, overflow="fold")
    for f in result.feeds:
        status = (f.last_status or "never polled") + (" (broken)" if f.broken else "")
        if f.last_error:
            status += f": {f.last_error}"
        when = f.last_polled_at.strftime("%Y-%m-%d %H:%M") if f.last_polled_at else "-"
        feeds.add_row(f.name or f.url, when, status, str(f.error_streak), str(f.items), str(f.matched_items))
    console.print(feeds)
    entities = Table(title="Entities (items matched)")
    for column in ("entity", "24 h", "7 d"):
        entities.add_column(column)
    names = {e.id: e.name for e in settings.watchlist.entities}
    for entity_id, (day, week) in sorted(result.entity_counts.items(), key=lambda kv: -kv[1][1]):
        entities.add_row(f"{names.get(entity_id, entity_id)} ({entity_id})", str(day), str(week))
    console.print(entities)
    alerts = ", ".join(f"{status}: {n}" for status, n in sorted(result.alerts_by_status.items())) or "none"
    console.print(f"Alerts: {alerts}", highlight=False)
    if unknown := result.alerts_by_status.get("unknown", 0):
        console.print(
            f"  {unknown} unknown: sent, but Telegram's answer was lost (may or may not have arrived; not resent)",
            highlight=False,
        )
    for chat, reason in result.failed_alerts:
        console.print(f"  failed to {chat}: {reason}", highlight=False, markup=False)
    if result.instances:
        _print_instances(console, result.instances)
    return EXIT_OK


def _print_instances(console: Console, instances) -> None:
    """The instances sharing the PostgreSQL database: who polls, who sends."""
    table = Table(title="Instances (one PostgreSQL database)")
    for column in ("instance", "host", "pid", "started (UTC)", "heartbeat", "feeds claimed now", "feeds last polled", "role"):
        table.add_column(column)
    for i in instances:
        heartbeat = f"{i.heartbeat_age:g} s ago" + ("" if i.alive else " (dead)")
        role = "sender" if any(r.startswith("sender:") for r in i.roles) else "-"
        table.add_row(
            i.id, i.host, str(i.pid), i.started_at.strftime("%Y-%m-%d %H:%M:%S"), heartbeat, str(i.feed_leases), str(i.last_polled), role
        )
    console.print(table)


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: a share between 0 and 1, e.g. 0.5")
    return value


def _feedback_stats(settings: Settings, args: argparse.Namespace) -> int:
    """`monitor stats --feedback`: counts of readers' marks, and excludes to consider
    (printed as a suggestion; the watchlist is never changed here)."""
    from monitor.store import reports

    share = reports.EXCLUDE_SHARE if args.share is None else args.share
    min_marks = reports.EXCLUDE_MIN_MARKS if args.min_marks is None else args.min_marks
    result = reports.feedback_stats(_store(settings), share=share, min_marks=min_marks)
    if args.json:

        def counts(c: reports.FeedbackCount) -> dict[str, object]:
            return {
                "entity": c.entity_id,
                **({"alias": c.alias} if c.alias is not None else {}),
                "sent": c.sent,
                "relevant": c.relevant,
                "not_relevant": c.not_relevant,
                "muted": c.muted,
            }

        print(
            json.dumps(
                {
                    "entities": [counts(c) for c in result.entities],
                    "aliases": [counts(c) for c in result.aliases],
                    "suggestions": [
                        {
                            "entity": s.entity_id,
                            "alias": s.alias,
                            "sent": s.sent,
                            "relevant": s.relevant,
                            "not_relevant": s.not_relevant,
                            "words": [w for w, _ in s.words],
                            "word_counts": dict(s.words),
                        }
                        for s in result.suggestions
                    ],
                    "share": result.share,
                    "min_marks": result.min_marks,
                },
                ensure_ascii=False,
            )
        )
        return EXIT_OK
    if result.empty:
        print("No feedback yet: no alert with buttons was sent to a subscriber, and no button was pressed.")
        return EXIT_OK
    console = Console()
    names = {e.id: e.name for e in settings.watchlist.entities}
    columns = ("sent", "relevant", "not relevant", "muted")
    entities = Table(title="Reader feedback per entity (alerts with buttons, in private chats)")
    entities.add_column("entity", overflow="fold")
    for column in columns:
        entities.add_column(column, justify="right")
    for c in result.entities:
        entities.add_row(f"{names.get(c.entity_id, c.entity_id)} ({c.entity_id})", *map(str, (c.sent, c.relevant, c.not_relevant, c.muted)))
    console.print(entities)
    aliases = Table(title="Per alias (an alert's alias: its entity's first mention)")
    aliases.add_column("entity", overflow="fold")
    aliases.add_column("alias", overflow="fold")
    for column in columns:
        aliases.add_column(column, justify="right")
    for c in result.aliases:
        aliases.add_row(c.entity_id, c.alias or "?", *map(str, (c.sent, c.relevant, c.not_relevant, c.muted)))
    console.print(aliases)
    rule = f"marked not relevant in at least {result.share:.0%} of their marks, at least {result.min_marks} times"
    if not result.suggestions:
        console.print(f"No alias is {rule}: no excludes to suggest.", highlight=False)
        return EXIT_OK
    console.print(
        f"Suggested excludes for aliases {rule} (a suggestion, never applied: edit the watchlist yourself):",
        highlight=False,
    )
    for s in result.suggestions:
        console.print(
            f"  {s.entity_id} / {s.alias!r}: not relevant {s.not_relevant} of {s.relevant + s.not_relevant} marked ({s.sent} sent)",
            highlight=False,
            markup=False,
        )
        if not s.words:
            console.print("    no word recurs around its bad matches", highlight=False)
            continue
        console.print(
            "    words around the bad matches: " + ", ".join(f"{w} ({n})" for w, n in s.words), highlight=False, markup=False
        )
        console.print(
            f"    under this alias: excludes: {{words: [{', '.join(w for w, _ in s.words)}], within: {reports.CONTEXT_WORDS}}}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    return EXIT_OK


def _report_period(text: str):
    from monitor.report.summary import parse_period

    try:
        return parse_period(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _png_path(text: str) -> Path:
    if not text.lower().endswith(".png"):
        raise argparse.ArgumentTypeError(f"{text!r}: the chart is a PNG; give a file name ending in .png")
    return Path(text)


# The chart path cannot be written for a reason in the path the user gave: a usage
# error (exit 2), like an unreadable input of `match`. Other I/O failures (disk
# full) are runtime failures (exit 1).
_UNWRITABLE_PATH = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENAMETOOLONG}


def _cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from monitor.report.render import empty_message, report_json, report_table
    from monitor.report.summary import summarise
    from monitor.store import utcnow
    from monitor.store.mentions import matched_articles

    since, until = args.since.bounds(utcnow())
    articles = matched_articles(_store(settings).database.engine, since, until)
    result = summarise(articles, since, until, names={e.id: e.name for e in settings.watchlist.entities})
    # The chart first: when it cannot be written nothing is printed, so a script sees
    # either the whole result or an error.
    if args.chart:
        from monitor.report.chart import daily_mentions_png

        try:
            args.chart.write_bytes(daily_mentions_png(result))
        except OSError as exc:
            print(f"monitor: cannot write the chart to {args.chart}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE if exc.errno in _UNWRITABLE_PATH else EXIT_RUNTIME
    if args.json:
        print(json.dumps(report_json(result), ensure_ascii=False))
    elif result.empty:
        print(empty_message(result))
    else:
        Console().print(report_table(result))
    return EXIT_OK


_COMMANDS = {
    "run": _cmd_run,
    "check-config": _cmd_check_config,
    "match": _cmd_match,
    "recent": _cmd_recent,
    "story": _cmd_story,
    "stories": _cmd_stories,
    "search": _cmd_search,
    "stats": _cmd_stats,
    "report": _cmd_report,
}
