"""Alert messages for Telegram (parse_mode=HTML) and their plain-text fallback.

Pure functions: values in, strings out.

Layout::

    <a href="URL">Title</a>
    Outlet · 2020-03-26 14:05 UTC
    Kataeb Hezbollah, Taji base
    #kataeb_hezbollah #taji_base

    …the sentence with the <b>first mention</b> in bold…

Length: Telegram allows 4096 characters counted as UTF-16 code units of the
text after entity parsing. We count the UTF-16 units of the *raw* HTML
instead, which is never smaller (tags and escapes only add), so the limit
holds whichever way it is counted. When too long, parts are shortened in this
order: snippet, title, entity names, hashtags, outlet. The link target is never
shortened (a cut URL is a wrong URL); an absurdly long URL is dropped instead.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

__all__ = [
    "TELEGRAM_MAX_LENGTH",
    "AlertContent",
    "BurstItem",
    "ReportedArticle",
    "StoryUpdate",
    "SummaryPart",
    "format_burst_summary",
    "format_story_html",
    "format_story_plain",
    "format_alert_html",
    "format_alert_plain",
    "hashtag",
    "one_line_text",
    "snippet_around",
    "split_message",
    "story_update",
]

TELEGRAM_MAX_LENGTH = 4096
ELLIPSIS = "…"
_SNIPPET_MIN_USEFUL = 40  # below this budget a snippet says nothing; drop it instead


@dataclass(frozen=True)
class AlertContent:
    title: str
    url: str
    outlet: str  # feed/outlet name
    published: datetime | None
    entities: tuple[tuple[str, str], ...]  # (entity_id, display name), in order of first mention
    snippet: str  # plain text around the first mention (the sentence)
    mention_start: int  # offsets of the first mention inside `snippet`
    mention_end: int


# ---------------------------------------------------------------------------
# Cleaning news text
# ---------------------------------------------------------------------------

# Bidi embeddings/overrides/isolates: an unbalanced one from a headline would
# reorder the rest of our line (and is a known spoofing trick). LRM/RLM marks are
# harmless and kept.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_WHITESPACE_RUN = re.compile(r"\s+")


def one_line_text(text: str) -> str:
    """News text fit for one line: no control characters, whitespace runs become one space.

    Keeps ZWJ/ZWNJ (emoji sequences, Persian) and RTL marks.
    """
    chars = []
    for c in text:
        category = unicodedata.category(c)
        if c.isspace() or category in ("Zl", "Zp"):
            chars.append(" ")
        elif category in ("Cc", "Cs") or c in _BIDI_CONTROLS or c == "\ufeff":
            continue  # Cs: lone surrogates cannot even be encoded to UTF-8
        else:
            chars.append(c)
    return _WHITESPACE_RUN.sub(" ", "".join(chars))


def _clean_url(url: str) -> str | None:
    """The URL if it is a usable http(s) link (spaces/controls percent-encoded), else None."""
    url = url.strip()
    encoded = []
    for c in url:
        category = unicodedata.category(c)
        if category == "Cs":
            continue
        if c.isspace() or category in ("Cc", "Zl", "Zp") or c in _BIDI_CONTROLS:
            encoded.append("".join(f"%{b:02X}" for b in c.encode("utf-8")))
        else:
            encoded.append(c)
    url = "".join(encoded)
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a malformed IPv6 host
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


# ---------------------------------------------------------------------------
# Measuring and cutting
# ---------------------------------------------------------------------------


def _units(c: str) -> int:
    return 2 if ord(c) > 0xFFFF else 1


def _cost(text: str, *, escape: bool) -> int:
    """UTF-16 units `text` takes in the message (after HTML escaping if `escape`)."""
    if escape:
        text = html.escape(text, quote=True)
    return sum(_units(c) for c in text)


def _is_extender(c: str) -> bool:
    """Characters that belong to the preceding character (combining marks, emoji parts)."""
    cp = ord(c)
    return (
        unicodedata.category(c) in ("Mn", "Mc", "Me")
        or cp == 0x200D  # zero-width joiner
        or 0xFE00 <= cp <= 0xFE0F  # variation selectors
        or 0x1F3FB <= cp <= 0x1F3FF  # skin-tone modifiers
        or 0xE0020 <= cp <= 0xE007F  # emoji tag sequences (flags of regions)
    )


def _is_regional_indicator(c: str) -> bool:
    return 0x1F1E6 <= ord(c) <= 0x1F1FF


def _safe_cut(text: str, i: int) -> int:
    """Move a cut position left until it does not split a character cluster.

    Python strings hold code points, so surrogate pairs cannot be split; this
    also keeps Arabic letters with their vowel marks and emoji sequences whole.
    """
    while 0 < i < len(text) and (_is_extender(text[i]) or text[i - 1] == "\u200d"):
        i -= 1
    if 0 < i < len(text) and _is_regional_indicator(text[i]):
        run = 0  # flags are pairs of regional indicators: do not cut between the two
        while i - run - 1 >= 0 and _is_regional_indicator(text[i - run - 1]):
            run += 1
        if run % 2 == 1:
            i -= 1
    return i


def _safe_cut_from_left(text: str, i: int) -> int:
    """Like _safe_cut, for a cut whose right side is kept: move right instead."""
    while 0 < i < len(text) and (_is_extender(text[i]) or text[i - 1] == "\u200d"):
        i += 1
    if 0 < i < len(text) and _is_regional_indicator(text[i]):
        run = 0
        while i - run - 1 >= 0 and _is_regional_indicator(text[i - run - 1]):
            run += 1
        if run % 2 == 1:
            i += 1
    return i


def _prefix_within(text: str, budget: int, *, escape: bool) -> int:
    """Largest n such that text[:n] costs at most `budget`."""
    used = 0
    for n, c in enumerate(text):
        used += _cost(c, escape=escape)
        if used > budget:
            return n
    return len(text)


def _cut_end(text: str, budget: int, *, escape: bool) -> str:
    """`text`, or its beginning plus "…", costing at most `budget` ("" if nothing fits)."""
    if _cost(text, escape=escape) <= budget:
        return text
    room = budget - _cost(ELLIPSIS, escape=escape)
    if room <= 0:
        return ""
    n = _safe_cut(text, _prefix_within(text, room, escape=escape))
    space = text.rfind(" ", max(0, n - 30), n)  # end on a word boundary when one is close
    if space > 0:
        n = space
    return text[:n].rstrip() + ELLIPSIS if n > 0 else ""


def _cut_start(text: str, budget: int, *, escape: bool) -> str:
    """`text`, or "…" plus its end, costing at most `budget` ("" if nothing fits)."""
    if _cost(text, escape=escape) <= budget:
        return text
    room = budget - _cost(ELLIPSIS, escape=escape)
    if room <= 0:
        return ""
    reversed_n = _prefix_within(text[::-1], room, escape=escape)
    start = _safe_cut_from_left(text, len(text) - reversed_n)
    space = text.find(" ", start, start + 30)  # start on a word boundary when one is close
    if space != -1:
        start = space + 1
    kept = text[start:].lstrip()
    return ELLIPSIS + kept if kept else ""


# ---------------------------------------------------------------------------
# Snippets
# ---------------------------------------------------------------------------

# Sentence ends: . ! ? plus Arabic "؟", Urdu "۔", CJK "。", followed by space/end.
_SENTENCE_END = re.compile(r"[.!?؟۔。]+[\"'”’»)]*(?=\s|$)|\n")
# Dots that rarely end a sentence in news about this region: titles and initials.
_ABBREVIATION = re.compile(
    r"(?:\b(?:Col|Lt|Gen|Maj|Capt|Sgt|Cpl|Pvt|Brig|Adm|Cmdr|Gov|Sen|Rep|Mr|Mrs|Ms|Dr|Prof|St|"
    r"No|Jr|Sr|Inc|Co|Corp|vs|etc|approx|Jan|Feb|Mar|Apr|Aug|Sept?|Oct|Nov|Dec)|\b[A-Z])\.$"
)


def _is_abbreviation(text: str, dot: int) -> bool:
    # Look only a few characters back: abbreviations are short, articles are long.
    return _ABBREVIATION.search(text, max(0, dot - 12), dot + 1) is not None


def _sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """Start and end of the sentence(s) containing text[start:end]."""
    left = 0
    for m in _SENTENCE_END.finditer(text, 0, start):
        if not _is_abbreviation(text, m.start()):
            left = m.end()
    right = len(text)
    for m in _SENTENCE_END.finditer(text, end):
        if not _is_abbreviation(text, m.start()):
            right = m.end() if m.group(0) != "\n" else m.start()
            break
    return left, right


def snippet_around(text: str, start: int, end: int, max_chars: int = 300) -> tuple[str, int, int]:
    """The sentence(s) around text[start:end], at most `max_chars` long, cut with "…".

    Length is counted as Telegram does (UTF-16 code units: an emoji counts 2).

    Returns (snippet, new_start, new_end) with snippet[new_start:new_end] being
    the mention (itself cut if longer than max_chars). Whitespace runs are
    collapsed and control characters dropped.
    """
    start = min(max(start, 0), len(text))
    end = min(max(end, start), len(text))
    left, right = _sentence_bounds(text, start, end)
    before = one_line_text(text[left:start]).lstrip()
    mention = one_line_text(text[start:end])
    after = one_line_text(text[end:right]).rstrip()
    before, mention, after = _fit_snippet(before, mention, after, max_chars, escape=False, tags=0)
    return before + mention + after, len(before), len(before) + len(mention)


def _fit_snippet(
    before: str, mention: str, after: str, budget: int, *, escape: bool, tags: int
) -> tuple[str, str, str]:
    """Shorten before/mention/after to fit `budget`, keeping the mention in the middle.

    `tags` is the cost of the markup around the mention.
    """
    def cost(s: str) -> int:
        return _cost(s, escape=escape)

    if cost(before) + cost(mention) + tags + cost(after) <= budget:
        return before, mention, after
    mention_budget = budget - tags
    if cost(mention) > mention_budget - 2 * cost(ELLIPSIS):
        # Not even room for context: keep what fits of the mention alone.
        return "", _cut_end(mention, max(mention_budget, 0), escape=escape), ""
    room = mention_budget - cost(mention)
    # Share the room; a side needing less than half gives the rest to the other.
    before_room = min(cost(before), max(room // 2, room - cost(after)))
    after_room = room - before_room
    before = _cut_start(before, before_room, escape=escape)
    after = _cut_end(after, after_room, escape=escape)
    return before, mention, after


# ---------------------------------------------------------------------------
# Message parts
# ---------------------------------------------------------------------------


def hashtag(entity_id: str) -> str:
    """"kataeb-hezbollah" -> "#kataeb_hezbollah" (Telegram hashtags: letters, digits, "_")."""
    tag = re.sub(r"[\W_]+", "_", entity_id).strip("_")
    return f"#{tag}" if tag else ""


def _format_time(published: datetime | None) -> str:
    if published is None:
        return ""
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)  # feeds without a zone are taken as UTC
    return published.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class _Parts:
    """The shortenable pieces of a message, already cleaned (plain text)."""

    title: str
    url: str | None
    outlet: str
    time: str
    names: str
    tags: str
    before: str
    mention: str
    after: str


def _parts(alert: AlertContent, max_length: int) -> _Parts:
    snippet = alert.snippet
    start = min(max(alert.mention_start, 0), len(snippet))
    end = min(max(alert.mention_end, start), len(snippet))
    url = _clean_url(alert.url)
    if url is not None and _cost(url, escape=True) > max_length // 2:
        url = None  # no real article URL is this long; it would crowd out the alert itself
    return _Parts(
        title=one_line_text(alert.title).strip() or "(untitled)",
        url=url,
        outlet=one_line_text(alert.outlet).strip(),
        time=_format_time(alert.published),
        names=", ".join(n for n in (one_line_text(name).strip() for _, name in alert.entities) if n),
        tags=" ".join(t for t in (hashtag(entity_id) for entity_id, _ in alert.entities) if t),
        # Cleaned piecewise so the mention offsets stay valid.
        before=one_line_text(snippet[:start]).lstrip(),
        mention=one_line_text(snippet[start:end]),
        after=one_line_text(snippet[end:]).rstrip(),
    )


def _render(p: _Parts, *, as_html: bool) -> str:
    esc = (lambda s: html.escape(s, quote=True)) if as_html else (lambda s: s)
    if as_html:
        if p.url:
            title_line = f'<a href="{esc(p.url)}">{esc(p.title)}</a>'
        else:
            title_line = f"<b>{esc(p.title)}</b>"
    else:
        title_line = p.title
    lines = [title_line]
    if not as_html and p.url:
        lines.append(p.url)  # no link entity in plain text: show the address
    source = " · ".join(s for s in (esc(p.outlet), p.time) if s)
    lines += [line for line in (source, esc(p.names), esc(p.tags)) if line]
    if p.before or p.mention or p.after:
        mention = f"<b>{esc(p.mention)}</b>" if as_html and p.mention else esc(p.mention)
        lines += ["", esc(p.before) + mention + esc(p.after)]
    return "\n".join(lines)


def _fit(p: _Parts, max_length: int, *, as_html: bool) -> str:
    """Render, shortening parts in order of least value until the message fits."""
    def length() -> int:
        return _cost(_render(p, as_html=as_html), escape=False)

    def shrink(field: str, minimum: int = 1) -> None:
        """Shorten one field by the current excess (empty it if under `minimum` would remain)."""
        excess = length() - max_length
        if excess <= 0:
            return
        value = getattr(p, field)
        budget = _cost(value, escape=as_html) - excess
        setattr(p, field, _cut_end(value, budget, escape=as_html) if budget >= minimum else "")

    if length() <= max_length:
        return _render(p, as_html=as_html)

    # 1. The snippet, keeping the mention in view.
    tags = len("<b></b>") if as_html and p.mention else 0
    snippet_cost = sum(_cost(s, escape=as_html) for s in (p.before, p.mention, p.after)) + tags
    budget = snippet_cost - (length() - max_length)
    if budget >= _SNIPPET_MIN_USEFUL:
        p.before, p.mention, p.after = _fit_snippet(
            p.before, p.mention, p.after, budget, escape=as_html, tags=tags
        )
    else:
        p.before = p.mention = p.after = ""
    # 2. The rest, least useful first; the title keeps at least a few characters.
    shrink("title", minimum=20)
    if not p.title:
        p.title = ELLIPSIS
    for field in ("names", "tags", "outlet"):
        shrink(field)
    text = _render(p, as_html=as_html)
    # Unreachable with max_length >= a few hundred; a guard, not a code path.
    assert _cost(text, escape=False) <= max_length, "alert could not be shortened enough"
    return text


def format_alert_html(alert: AlertContent, *, max_length: int = TELEGRAM_MAX_LENGTH) -> str:
    """The alert for sendMessage(parse_mode="HTML"); all news text escaped; fits max_length."""
    return _fit(_parts(alert, max_length), max_length, as_html=True)


def format_alert_plain(alert: AlertContent, *, max_length: int = TELEGRAM_MAX_LENGTH) -> str:
    """The same alert without markup: the fallback after an HTML 400, and the console sink."""
    return _fit(_parts(alert, max_length), max_length, as_html=False)


# ---------------------------------------------------------------------------
# Long replies
# ---------------------------------------------------------------------------

# One unit of Telegram HTML that must never be cut: a tag or a character entity.
_MARKUP = re.compile(r"<[^<>]*>|&(?:#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,8}|[A-Za-z][A-Za-z0-9]*);")
_TAG_NAME = re.compile(r"</?\s*([A-Za-z][A-Za-z0-9-]*)")


def _atoms(text: str) -> list[str]:
    """`text` as tags, character entities and single characters, in order."""
    atoms: list[str] = []
    position = 0
    for m in _MARKUP.finditer(text):
        atoms.extend(text[position : m.start()])
        atoms.append(m.group(0))
        position = m.end()
    atoms.extend(text[position:])
    return atoms


def _after(stack: list[tuple[str, str]], atom: str) -> list[tuple[str, str]]:
    """The open tags (name, start tag as written) after `atom`."""
    if not atom.startswith("<") or len(atom) < 3:
        return stack
    m = _TAG_NAME.match(atom)
    if m is None:
        return stack
    name = m.group(1).lower()
    if atom.startswith("</"):
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] == name:
                return stack[:i]
        return stack
    return [*stack, (name, atom)]


def _closing(stack: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def split_message(text_html: str, limit: int = 4000) -> list[str]:
    """Cut a long HTML message into parts of at most `limit` UTF-16 units, in order.

    Cuts at a line end when one is in the part, else at a space, else between two
    characters; never inside a tag or a character entity (&amp;). Tags open at a
    cut are closed at the end of the part and opened again at the start of the
    next, so each part is valid Telegram HTML on its own."""
    pending = _atoms(text_html)
    pending.reverse()  # a stack: the next atom is pending[-1]
    parts: list[str] = []
    stack: list[tuple[str, str]] = []
    current: list[str] = [start for _, start in stack]
    prefix = 0  # atoms of `current` that are reopened tags
    used = 0
    # The latest place to cut: (index in current, the break atom is dropped, open tags there).
    line_end: tuple[int, bool, list[tuple[str, str]]] | None = None
    space: tuple[int, bool, list[tuple[str, str]]] | None = None

    def emit(atoms: list[str], open_tags: list[tuple[str, str]]) -> None:
        part = ("".join(atoms) + _closing(open_tags)).strip("\n")
        if re.sub(r"<[^<>]*>", "", part).strip():
            parts.append(part)

    while pending:
        atom = pending.pop()
        following = _after(stack, atom)
        cost = _cost(atom, escape=False)
        if used + cost + _cost(_closing(following), escape=False) > limit and len(current) > prefix:
            index, drop, open_tags = line_end or space or (len(current), False, stack)
            pending.append(atom)
            pending.extend(reversed(current[index + drop :]))
            emit(current[:index], open_tags)
            stack = open_tags
            current = [start for _, start in stack]
            prefix = len(current)
            used = sum(_cost(a, escape=False) for a in current)
            line_end = space = None
            continue
        if atom == "\n":
            line_end = (len(current), True, stack)
        elif atom == " ":
            space = (len(current), True, stack)
        current.append(atom)
        stack = following
        used += cost
    emit(current, stack)
    return parts


# ---------------------------------------------------------------------------
# Burst summaries
# ---------------------------------------------------------------------------

# A listed title longer than this is cut: a summary is a list, not the articles.
_SUMMARY_TITLE_MAX = 200
# A link target longer than this is left out (the title stays, unlinked): no real
# article URL is this long, and every line must fit a message with the heading.
_SUMMARY_URL_MAX = 1500


@dataclass(frozen=True)
class BurstItem:
    title: str
    url: str


@dataclass(frozen=True)
class SummaryPart:
    """One message of a burst summary and the index of the first item it lists."""

    text_html: str
    text_plain: str
    first: int


def _summary_heading(outlet: str, listed: int, found: int, limit: int, *, as_html: bool) -> str:
    esc = (lambda s: html.escape(s, quote=True)) if as_html else (lambda s: s)
    name = _cut_end(one_line_text(outlet).strip(), 100, escape=as_html) or "a feed"
    title = f"{listed} new item{'s' if listed != 1 else ''} from {esc(name)}"
    return "\n".join(
        [
            f"<b>{title}</b>" if as_html else title,
            f"One poll of this feed found {found} new matching items, more than the burst limit of {limit} "
            "(an archive republished or a site moved?), so they are listed here instead of one alert each.",
            "",
        ]
    )


def _summary_line(number: int, item: BurstItem, *, as_html: bool) -> str:
    esc = (lambda s: html.escape(s, quote=True)) if as_html else (lambda s: s)
    url = _clean_url(item.url) if item.url else None
    if url is not None and _cost(url, escape=True) > _SUMMARY_URL_MAX:  # the same choice in both twins
        url = None
    title = _cut_end(one_line_text(item.title).strip(), _SUMMARY_TITLE_MAX, escape=True) or url or "(untitled)"
    if not as_html:
        return f"{number}. {title}" + (f" {url}" if url and url != title else "")
    if url is None:
        return f"{number}. {esc(title)}"
    return f'{number}. <a href="{esc(url)}">{esc(title)}</a>'


def format_burst_summary(
    outlet: str, items: list[BurstItem], found: int, limit: int, *, max_length: int = TELEGRAM_MAX_LENGTH
) -> list[SummaryPart]:
    """One summary of a burst instead of an alert per item: a heading (how many items,
    from which feed, why), then a numbered title link per item, in order.

    Cut by `split_message` into as few messages as `max_length` allows, at line ends
    (every line fits a message, so no link is ever cut). `found` is how many items the
    poll found, `items` the ones this chat gets. Each part has its plain-text twin
    (the fallback and the console), listing the same items."""
    html_lines = [_summary_line(n, item, as_html=True) for n, item in enumerate(items, 1)]
    plain_lines = [_summary_line(n, item, as_html=False) for n, item in enumerate(items, 1)]
    heading_html = _summary_heading(outlet, len(items), found, limit, as_html=True)
    heading_plain = _summary_heading(outlet, len(items), found, limit, as_html=False)
    parts_html = split_message("\n".join([heading_html, *html_lines]), limit=max_length)
    # Which items each part lists: the lines are whole and in order in the parts.
    firsts: list[int] = []
    next_line = 0
    for part in parts_html:
        firsts.append(next_line)
        position = 0
        while next_line < len(html_lines):
            found_at = part.find(html_lines[next_line], position)
            if found_at < 0:
                break
            position = found_at + len(html_lines[next_line])
            next_line += 1
    assert next_line == len(html_lines), "a summary line was cut"  # every line fits a part: a guard
    summary: list[SummaryPart] = []
    for index, (part, first) in enumerate(zip(parts_html, firsts, strict=True)):
        last = firsts[index + 1] if index + 1 < len(firsts) else len(items)
        plain = "\n".join(([heading_plain] if index == 0 else []) + plain_lines[first:last])
        # Plain lines are never longer than their HTML twins, so this cut is a guard.
        summary.append(SummaryPart(part, _cut_end(plain, max_length, escape=False), first))
    return summary


# ---------------------------------------------------------------------------
# Stories: the first alert, kept up to date
# ---------------------------------------------------------------------------

# Outlets named in "Also reported by" at most (the rest collapse into "+N more"): a
# list of links longer than this is a wall nobody reads, even when it would fit.
STORY_MAX_OUTLETS = 12
# An outlet name longer than this is cut (feed names are short; a hostile one is not).
_STORY_OUTLET_MAX = 60
# A link target longer than this is left out (the outlet stays, unlinked).
_STORY_URL_MAX = 500


@dataclass(frozen=True)
class ReportedArticle:
    """One article of a story, as the message needs it."""

    item_id: int
    outlet: str
    url: str
    entities: tuple[tuple[str, str], ...] = ()  # (entity_id, display name)


@dataclass(frozen=True)
class StoryUpdate:
    """What a story's message shows beyond its own article."""

    reports: tuple[tuple[str, str], ...]  # (outlet, url of its first article): other outlets, oldest first
    article_count: int  # articles in the story, the message's own included
    new_entities: tuple[str, ...]  # display names of entities its own article did not mention


def story_update(own_item_id: int, articles: list[ReportedArticle]) -> StoryUpdate | None:
    """What to add to the message of `own_item_id` for a story of `articles` (oldest
    first); None when the story holds nothing but that article.

    Each other outlet is named once, with the URL of its first article; the message's
    own outlet is not named again (its later copies count, they are not news)."""
    own = next((a for a in articles if a.item_id == own_item_id), None)
    if own is None or len(articles) < 2:
        return None
    own_outlet = one_line_text(own.outlet).strip().casefold()
    reports: dict[str, tuple[str, str]] = {}
    for article in articles:
        outlet = one_line_text(article.outlet).strip()
        key = outlet.casefold()
        if article.item_id != own_item_id and outlet and key != own_outlet and key not in reports:
            reports[key] = (outlet, article.url)
    known = {entity_id for entity_id, _ in own.entities}
    names: dict[str, str] = {}
    for article in articles:
        for entity_id, name in article.entities:
            if entity_id not in known and entity_id not in names:
                names[entity_id] = one_line_text(name).strip() or entity_id
    return StoryUpdate(tuple(reports.values()), len(articles), tuple(names.values()))


def _story_lines(
    update: StoryUpdate, shown: int, max_outlets: int, entity_text: str, *, as_html: bool
) -> list[str]:
    """The lines added below the alert, naming the newest `shown` outlets."""
    esc = (lambda s: html.escape(s, quote=True)) if as_html else (lambda s: s)
    reports = update.reports
    shown = min(shown, max_outlets, len(reports))
    hidden = len(reports) - shown
    names: list[str] = []
    for outlet, url in reports[len(reports) - shown :]:
        name = _cut_end(one_line_text(outlet).strip() or "(unnamed)", _STORY_OUTLET_MAX, escape=as_html)
        link = _clean_url(url) if url and as_html else None
        if link is not None and _cost(link, escape=True) <= _STORY_URL_MAX:
            names.append(f'<a href="{esc(link)}">{esc(name)}</a>')
        else:
            names.append(esc(name))
    lines = []
    if reports:
        if names:
            more = f" +{hidden} more" if hidden else ""
            lines.append(f"Also reported by {', '.join(names)}{more}")
        else:
            lines.append(f"Also reported by {hidden} more outlet{'s' if hidden != 1 else ''}")
    lines.append(f"{update.article_count} reports in this story")
    if entity_text:
        lines.append(f"Now also about: {esc(entity_text)}")
    return lines


def _format_story(base: str, update: StoryUpdate, max_length: int, max_outlets: int, *, as_html: bool) -> str:
    """`base` (an alert as sent) plus the story's lines, within `max_length`.

    The alert itself is never cut (it is already a valid message); the added lines
    give way instead: the oldest outlets collapse into "+N more", then the new
    entities are shortened, then lines are dropped from the end."""
    budget = max_length - _cost(base, escape=False) - 2  # the blank line before the addition
    entity_text = one_line_text(", ".join(update.new_entities)).strip()

    def cost(lines: list[str]) -> int:
        return _cost("\n".join(lines), escape=False)

    lines: list[str] = []
    for shown in range(min(max_outlets, len(update.reports)), -1, -1):
        lines = _story_lines(update, shown, max_outlets, entity_text, as_html=as_html)
        if cost(lines) <= budget:
            return base + "\n\n" + "\n".join(lines)
    # Not even the collapsed outlet line fits with every entity named: shorten those.
    lines = _story_lines(update, 0, max_outlets, "", as_html=as_html)
    room = budget - cost(lines) - _cost("\nNow also about: ", escape=False)
    if entity_text and room > len(ELLIPSIS) + 10:
        lines = _story_lines(update, 0, max_outlets, _cut_end(entity_text, room, escape=as_html), as_html=as_html)
    while lines and cost(lines) > budget:
        lines.pop()
    return base + "\n\n" + "\n".join(lines) if lines else base


def format_story_html(
    base_html: str, update: StoryUpdate, *, max_length: int = TELEGRAM_MAX_LENGTH, max_outlets: int = STORY_MAX_OUTLETS
) -> str:
    """A story's message for parse_mode=HTML: its first alert as sent, plus "Also reported
    by" (outlet names linked to their first article), the count of reports, and the
    entities later reports added; within `max_length` (UTF-16 units of the raw HTML)."""
    return _format_story(base_html, update, max_length, max_outlets, as_html=True)


def format_story_plain(
    base_plain: str, update: StoryUpdate, *, max_length: int = TELEGRAM_MAX_LENGTH, max_outlets: int = STORY_MAX_OUTLETS
) -> str:
    """The same without markup (outlets unlinked): the fallback after an HTML 400."""
    return _format_story(base_plain, update, max_length, max_outlets, as_html=False)
