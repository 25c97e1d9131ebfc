"""A PeriodReport as a terminal table (rich), as JSON, and as a Telegram photo caption.

Pure functions: a report in, a table / dict / string out.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone

from rich.table import Table
from rich.text import Text

from monitor.report.summary import PeriodReport

# sendPhoto: "0-1024 characters after entities parsing". Like the alert formatter we
# count UTF-16 code units of the raw HTML, which is never less than what Telegram
# counts (tags and escapes only add), so the limit holds however it is counted.
TELEGRAM_CAPTION_LIMIT = 1024

TABLE_OUTLETS = 3  # outlets and co-mentions shown per row; --json has them all
TABLE_CO_MENTIONS = 3
CAPTION_OUTLETS = 2
CAPTION_CO_MENTIONS = 2
CAPTION_NAME_CHARS = 60  # a longer entity or outlet name is shortened in the caption


def period_label(report: PeriodReport) -> str:
    """'12 May 14:05 – 19 May 14:05 UTC' (or the report's zone)."""

    def when(moment: datetime) -> str:
        local = moment.astimezone(report.zone)
        return f"{local.day} {local:%b %H:%M}"

    zone_name = report.until.astimezone(report.zone).tzname() or "UTC"
    return f"{when(report.since)} – {when(report.until)} {zone_name}"


def empty_message(report: PeriodReport) -> str:
    return f"No tracked entity was mentioned in {period_label(report)}."


def _counts(pairs, limit: int, say_more: bool = True) -> str:
    shown = [f"{name} {n}" for name, n in pairs[:limit]]
    if say_more and len(pairs) > limit:
        shown.append(f"+{len(pairs) - limit} more")
    return ", ".join(shown)


def report_table(report: PeriodReport) -> Table:
    """Entity | articles | stories | top outlets | co-mentions. Cells are plain Text: names from
    feeds or the watchlist are never read as rich markup."""
    table = Table(title=f"{report.articles} article(s) naming tracked entities, {period_label(report)}")
    table.add_column("entity", overflow="fold")
    table.add_column("articles", justify="right")
    table.add_column("stories", justify="right")
    table.add_column("top outlets", overflow="fold")
    table.add_column("mentioned with", overflow="fold")
    for entity in report.entities:
        table.add_row(
            Text(f"{entity.name} ({entity.id})"),
            Text(str(entity.articles)),
            Text(str(entity.stories)),
            Text(_counts([(o.name, o.articles) for o in entity.outlets], TABLE_OUTLETS)),
            Text(_counts([(c.name, c.articles) for c in entity.co_mentions], TABLE_CO_MENTIONS) or "-"),
        )
    return table


def report_json(report: PeriodReport) -> dict:
    """The whole report for machines; `entities` is an empty list when nothing matched."""
    return {
        "since": _iso(report.since),
        "until": _iso(report.until),
        "days": [day.isoformat() for day in report.days],
        "articles": report.articles,
        "entities": [
            {
                "id": entity.id,
                "name": entity.name,
                "articles": entity.articles,
                "stories": entity.stories,
                "outlets": [{"name": o.name, "articles": o.articles} for o in entity.outlets],
                "co_mentions": [{"id": c.id, "name": c.name, "articles": c.articles} for c in entity.co_mentions],
                "daily": {day.isoformat(): n for day, n in zip(report.days, entity.daily, strict=True)},
            }
            for entity in report.entities
        ],
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def telegram_caption(report: PeriodReport, limit: int = TELEGRAM_CAPTION_LIMIT) -> str:
    """The report as an HTML photo caption (parse_mode=HTML) of at most `limit` UTF-16
    units: a heading, then one line per entity, most articles first, as many as fit;
    the rest are counted in a last line. Every name is HTML-escaped."""
    heading = f"<b>{_escape(period_label(report))}</b>"
    if report.empty:
        return _fit(f"{heading}\nNo tracked entity was mentioned.", limit)
    lines = [heading, f"{report.articles} article(s) naming tracked entities"]
    entity_lines = []
    for entity in report.entities:
        told = f" ({entity.stories} {'story' if entity.stories == 1 else 'stories'})" if entity.stories < entity.articles else ""
        parts = [f"<b>{_escape(_short(entity.name))}</b> {entity.articles}{told}"]
        if entity.outlets:
            outlets = [(_short(o.name), o.articles) for o in entity.outlets]
            parts.append(_escape(_counts(outlets, CAPTION_OUTLETS, say_more=False)))
        if entity.co_mentions:
            others = [(_short(c.name), c.articles) for c in entity.co_mentions]
            parts.append("with " + _escape(_counts(others, CAPTION_CO_MENTIONS, say_more=False)))
        entity_lines.append(" · ".join(parts))

    shown = len(entity_lines)
    while True:
        rest = len(entity_lines) - shown
        tail = [f"… and {rest} more {'entity' if rest == 1 else 'entities'}"] if rest else []
        text = "\n".join(lines + entity_lines[:shown] + tail)
        if _units(text) <= limit or shown == 0:
            break
        shown -= 1
    return _fit(text, limit)


def _short(name: str) -> str:
    return name if len(name) <= CAPTION_NAME_CHARS else name[: CAPTION_NAME_CHARS - 1].rstrip() + "…"


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fit(text: str, limit: int) -> str:
    """Last resort for absurd limits or names: keep whole lines that fit, never cut
    inside a tag or an entity."""
    if _units(text) <= limit:
        return text
    kept: list[str] = []
    for line in text.split("\n"):
        if _units("\n".join([*kept, line])) > limit:
            break
        kept.append(line)
    return "\n".join(kept)
