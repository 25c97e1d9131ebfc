"""A story's message as it stands now: the first alert plus the story's lines.

One rendering for every sink: the Telegram sender (a send of a grown story, an
edit) and the console (which cannot edit, so it prints the message again).
"""

from __future__ import annotations

from monitor.notify.format import ReportedArticle, format_story_html, format_story_plain, story_update
from monitor.store import Store, Story

__all__ = ["read_story", "story_texts"]


def read_story(store: Store, story_id: int) -> tuple[Story | None, dict[str, str]]:
    """The story (None: no longer stored) and the display names of its entities."""
    story = store.stories.get(story_id)
    if story is None:
        return None, {}
    return story, store.outbox.entity_names(e for a in story.articles for e in a.entities)


def story_texts(story: Story, names: dict[str, str], own_item_id: int, base_html: str, base_plain: str) -> tuple[str, str]:
    """The message of `own_item_id`'s alert with the story's lines (unchanged when the
    story holds nothing else)."""
    articles = [
        ReportedArticle(a.item_id, a.outlet, a.url or "", tuple((e, names.get(e, e)) for e in a.entities)) for a in story.articles
    ]
    update = story_update(own_item_id, articles)
    if update is None:
        return base_html, base_plain
    return format_story_html(base_html, update), format_story_plain(base_plain, update)

