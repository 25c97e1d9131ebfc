"""Digests (pure): when they are due, and their text.

A digest lists the items collected for one chat since its last digest, grouped by
entity, each line a title linked to its article, cut into as few messages as
Telegram's 4096-character limit allows (every line is whole in one message).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from monitor.notify.format import TELEGRAM_MAX_LENGTH, _clean_url, _cost, _cut_end, one_line_text
from monitor.store import DigestEntry, DigestPart

__all__ = ["format_digest", "latest_slot"]

_TITLE_MAX = 200  # characters of a title in a digest line
_URL_MAX = 1500  # longer links are left out (the title stays)


def latest_slot(now: datetime, at: Sequence[str], zone: ZoneInfo) -> datetime:
    """The latest digest time (HH:MM in `zone`) at or before `now`, in UTC."""
    local_today = now.astimezone(zone).date()
    slots = [_at(day, clock, zone) for day in (local_today - timedelta(days=1), local_today) for clock in at]
    return max(slot for slot in slots if slot <= now)


def _at(day: date, clock: str, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.fromisoformat(clock), tzinfo=zone).astimezone(timezone.utc)


def _line(entry: DigestEntry, *, as_html: bool) -> str:
    url = _clean_url(entry.url) if entry.url else None
    if url is not None and _cost(url, escape=True) > _URL_MAX:
        url = None
    title = _cut_end(one_line_text(entry.title).strip(), _TITLE_MAX, escape=True) or url or "(untitled)"
    if not as_html:
        return f"• {title}" + (f" {url}" if url and url != title else "")
    if url is None:
        return f"• {html.escape(title, quote=False)}"
    return f'• <a href="{html.escape(url, quote=True)}">{html.escape(title, quote=False)}</a>'


def _group_heading(name: str, count: int, *, as_html: bool, continued: bool = False) -> str:
    name = _cut_end(one_line_text(name).strip(), 100, escape=True) or "?"
    text = f"{html.escape(name, quote=False) if as_html else name}"
    suffix = " (continued)" if continued else f" ({count})"
    return f"<b>{text}</b>{suffix}" if as_html else f"{text}{suffix}"


def format_digest(entries: Sequence[DigestEntry], when: str, *, max_length: int = TELEGRAM_MAX_LENGTH) -> list[DigestPart]:
    """The digest of `entries` (oldest first) as messages: a heading (`when`, e.g.
    "08:00 Asia/Baghdad"), then per entity (most items first) its items, oldest first.
    A message that starts inside a group repeats the group's name. [] for no entries."""
    if not entries:
        return []
    groups: dict[str, list[DigestEntry]] = {}
    names: dict[str, str] = {}
    for entry in entries:
        groups.setdefault(entry.entity_id, []).append(entry)
        names.setdefault(entry.entity_id, entry.entity_name or entry.entity_id)
    order = sorted(groups, key=lambda e: (-len(groups[e]), names[e].casefold(), e))
    count = len(entries)
    heading = f"Digest, {when}: {count} article{'s' if count != 1 else ''}"
    # (html, plain, group it belongs to or None for a heading line)
    lines: list[tuple[str, str, str | None]] = [(f"<b>{html.escape(heading, quote=False)}</b>", heading, None)]
    for entity in order:
        lines.append(("", "", None))
        lines.append((
            _group_heading(names[entity], len(groups[entity]), as_html=True),
            _group_heading(names[entity], len(groups[entity]), as_html=False),
            None,
        ))
        lines += [(_line(e, as_html=True), _line(e, as_html=False), entity) for e in groups[entity]]

    parts: list[DigestPart] = []
    html_lines: list[str] = []
    plain_lines: list[str] = []
    used = 0
    for text_html, text_plain, group in lines:
        cost = _cost(text_html, escape=False) + (1 if html_lines else 0)
        if html_lines and used + cost > max_length:
            parts.append(DigestPart("\n".join(html_lines).strip("\n"), "\n".join(plain_lines).strip("\n")))
            html_lines, plain_lines, used = [], [], 0
            if group is not None:  # the new message starts inside a group: name it again
                html_lines = [_group_heading(names[group], 0, as_html=True, continued=True)]
                plain_lines = [_group_heading(names[group], 0, as_html=False, continued=True)]
                used = _cost(html_lines[0], escape=False)
            if not text_html:
                continue  # no blank line at the top of a message
            cost = _cost(text_html, escape=False) + (1 if html_lines else 0)
        html_lines.append(text_html)
        plain_lines.append(text_plain)
        used += cost
    if any(line.strip() for line in html_lines):
        parts.append(DigestPart("\n".join(html_lines).strip("\n"), "\n".join(plain_lines).strip("\n")))
    return parts
