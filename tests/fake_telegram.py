"""A local fake of the Telegram Bot API for tests.

python-telegram-bot talks to it exactly as to api.telegram.org::

    bot = telegram.Bot(fake.token, base_url=fake.base_url)  # base_url = http://127.0.0.1:PORT/bot

PTB 22 POSTs every call to ``{base_url}{token}/{method}`` as
``application/x-www-form-urlencoded`` (``multipart/form-data`` when files are
attached); string values are sent raw, every other value JSON-encoded. The fake
also accepts JSON bodies and GET query strings, as Telegram does.

Two ways to run it:

* in-process: ``FakeTelegram().start()`` (or the ``fake_telegram`` pytest
  fixture) serves from a background thread; the test scripts it and reads its
  state through the object.
* standalone: ``python tests/fake_telegram.py --port 0 --state-file F`` prints
  ``READY <port>`` on stdout, writes its state to F after every change, and is
  scripted over HTTP: ``GET /_fake/state`` and ``POST /_fake/<action>`` with a
  JSON object of keyword arguments, e.g. ``POST /_fake/add_fault``
  ``{"kind": "429", "retry_after": 3}`` (see ``CONTROL_ACTIONS``; the helper
  ``control(url, action, **kwargs)`` does the request).

What it imitates (numbers from Telegram's docs and observed behaviour):
token check (401), unknown methods (404), chat lookup (400 chat not found),
blocked / kicked bot (403), message text rules (empty, over 4096 UTF-16 code
units after entity parsing, HTML parse errors), sendPhoto with a multipart
upload (the image checked and kept with its caption, ``sent_photos()``; a caption
over 1024 units after parsing refused with "message caption is too long"),
``disable_notification`` recorded per message, edit rules, per-chat /
per-group / global flood control (429 with retry_after), edits (each message
keeps its edit history in `versions`; "message is not modified" for the same
text, "message to edit not found" after `delete_message`), long-polling
getUpdates (a second poller ends the waiting one with 409 Conflict), inline keyboards
with callback queries (a test presses a button with ``push_callback``;
answerCallbackQuery within ``CALLBACK_ANSWER_SECONDS`` and once;
editMessageReplyMarkup), and scriptable faults: errors shaped as the real service shapes
them (the API's JSON error objects; nginx HTML pages for 502/503/504 from its
front end, or empty and cut-off bodies), a reply slower than the client's
timeout, a connection dropped before the request was read or after the message
was accepted, and an outage in which every call gets the same error page
(``set_outage``).
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import json
import math
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

DEFAULT_TOKEN = "123456789:TEST-fake-telegram-token"
CHANNEL = -1001234567890  # the alert channel of the tests' configs, @iraq_watch
SUBSCRIBER = 4242  # a reader's private chat
MAX_MESSAGE_LENGTH = 4096  # UTF-16 code units of the text after entity parsing
# A callback query must be answered within about 15 s, and only once; later (or again)
# Telegram answers 400 QUERY_TOO_OLD.
CALLBACK_ANSWER_SECONDS = 15.0
MAX_CALLBACK_DATA_BYTES = 64
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"

# ---------------------------------------------------------------------------
# HTML parse mode: the validator shared with tests of monitor.notify.format
# ---------------------------------------------------------------------------


class EntityParseError(ValueError):
    """The text is not valid for parse_mode=HTML; str(exc) is Telegram's reason."""


# Bot API "HTML style": the only tags Telegram accepts, and the entity they make.
_TAG_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

_ENTITY_RE = re.compile(r"&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8})|([A-Za-z][A-Za-z0-9]*));")
_TAG_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_ATTR_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (astral characters count 2)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _byte_offset(text: str, index: int) -> int:
    # Telegram reports parse errors at UTF-8 byte offsets.
    return len(text[:index].encode("utf-8", "surrogatepass"))


def _decode_entity(text: str, i: int) -> tuple[str, int]:
    """Decode the character entity starting at text[i] == "&"; return (char, next index)."""
    m = _ENTITY_RE.match(text, i)
    if m is None:
        raise EntityParseError(
            f'Character "&" must start an HTML entity at byte offset {_byte_offset(text, i)}'
        )
    decimal, hexadecimal, name = m.groups()
    if name is not None:
        if name not in _NAMED_ENTITIES:
            raise EntityParseError(
                f'Unsupported HTML entity "{m.group(0)}" at byte offset {_byte_offset(text, i)}'
            )
        return _NAMED_ENTITIES[name], m.end()
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise EntityParseError(
            f'Invalid character entity "{m.group(0)}" at byte offset {_byte_offset(text, i)}'
        )
    return chr(code), m.end()


def _parse_attributes(text: str, i: int, tag_start: int) -> tuple[dict[str, str], int]:
    """Parse `name="value"` pairs up to the closing ">" of a start tag; return (attrs, index after ">")."""
    attrs: dict[str, str] = {}
    n = len(text)
    unclosed = EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, tag_start)}")
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            raise unclosed
        if text[i] == ">":
            return attrs, i + 1
        m = _ATTR_NAME_RE.match(text, i)
        if m is None:
            raise EntityParseError(
                f"Expected equal sign in declaration of an attribute of the tag at byte offset "
                f"{_byte_offset(text, tag_start)}"
            )
        name, i = m.group(0).lower(), m.end()
        if i < n and text[i] == "=":
            i += 1
            if i >= n:
                raise unclosed
            value_chars: list[str] = []
            quote = text[i] if text[i] in "\"'" else None
            if quote:
                i += 1
            while True:
                if i >= n:
                    raise unclosed
                c = text[i]
                if (quote and c == quote) or (not quote and (c.isspace() or c == ">")):
                    break
                if c == "<":
                    raise EntityParseError(
                        f'Character "<" inside a tag at byte offset {_byte_offset(text, i)}'
                    )
                if c == "&":
                    decoded, i = _decode_entity(text, i)
                    value_chars.append(decoded)
                else:
                    value_chars.append(c)
                    i += 1
            if quote:
                i += 1  # the closing quote
            attrs[name] = "".join(value_chars)
        else:
            attrs[name] = ""  # boolean attribute, e.g. <blockquote expandable>


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML; return (plain text, entities with UTF-16 offsets).

    Raises EntityParseError with Telegram-style wording on anything Telegram
    would refuse. Stricter than Telegram in one documented respect: a bare ">"
    outside a tag is refused, because the Bot API docs require it escaped.
    """
    out: list[str] = []
    position = 0  # UTF-16 offset of the next output character
    # Open tags: (tag name, entity or None, UTF-16 start offset).
    stack: list[tuple[str, dict[str, Any] | None, int]] = []
    entities: list[dict[str, Any]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "&":
            decoded, i = _decode_entity(text, i)
            out.append(decoded)
            position += utf16_len(decoded)
        elif c == ">":
            raise EntityParseError(
                f'Character ">" must be escaped as "&gt;" at byte offset {_byte_offset(text, i)}'
            )
        elif c == "<" and text.startswith("</", i):
            m = _TAG_NAME_RE.match(text, i + 2)
            end = m.end() if m else i + 2
            while end < n and text[end].isspace():
                end += 1
            if m is None or end >= n or text[end] != ">":
                raise EntityParseError(f"Can't find end of tag at byte offset {_byte_offset(text, i)}")
            name = m.group(0).lower()
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {_byte_offset(text, i)}")
            open_name, entity, start = stack.pop()
            if open_name != name:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {_byte_offset(text, i)}, expected '
                    f'"</{open_name}>", found "</{name}>"'
                )
            if entity is not None and position > start:  # Telegram drops empty entities
                entity.update(offset=start, length=position - start)
                entities.append(entity)
            i = end + 1
        elif c == "<":
            m = _TAG_NAME_RE.match(text, i + 1)
            name = m.group(0).lower() if m else ""
            if name not in _TAG_ENTITY_TYPES:
                raise EntityParseError(
                    f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, i)}'
                )
            assert m is not None
            attrs, next_i = _parse_attributes(text, m.end(), i)
            stack.append((name, _entity_for_tag(name, attrs, stack, text, i), position))
            i = next_i
        else:
            out.append(c)
            position += utf16_len(c)
            i += 1
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _entity_for_tag(
    name: str,
    attrs: dict[str, str],
    stack: list[tuple[str, dict[str, Any] | None, int]],
    text: str,
    index: int,
) -> dict[str, Any] | None:
    entity: dict[str, Any] = {"type": _TAG_ENTITY_TYPES[name]}
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise EntityParseError('Tag "span" must have class "tg-spoiler"')
    if name == "tg-emoji":
        if not attrs.get("emoji-id"):
            raise EntityParseError(
                f'Custom emoji entity must have "emoji-id" attribute at byte offset '
                f"{_byte_offset(text, index)}"
            )
        entity["custom_emoji_id"] = attrs["emoji-id"]
    if name == "a":
        entity["url"] = attrs.get("href", "")
    if name == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    if name == "code" and stack and stack[-1][0] == "pre":
        # <pre><code class="language-x"> is one pre entity with a language.
        pre_entity = stack[-1][1]
        language = attrs.get("class", "")
        if pre_entity is not None and language.startswith("language-"):
            pre_entity["language"] = language.removeprefix("language-")
            return None
    return entity


def validate_html(text: str) -> str:
    """Check text as Telegram would for parse_mode=HTML; return the parsed plain text.

    Raises EntityParseError (str: the reason after "can't parse entities: ").
    """
    return parse_html(text)[0]


# ---------------------------------------------------------------------------
# Faults and flood control
# ---------------------------------------------------------------------------

# Errors come in two shapes, as from the real service: the Bot API itself answers
# JSON ({"ok": false, "error_code": ..., "description": ..., "parameters": {...}}),
# while its nginx front end answers 502/503/504 during an outage with an HTML page
# (or, from a proxy that gave up, an empty or cut-off body).
SERVER_ERROR_KINDS = ("500", "502", "503", "504")
FAULT_KINDS = ("429", *SERVER_ERROR_KINDS, "delay", "drop", "drop_before")
BODY_SHAPES = ("json", "html", "empty", "truncated")


def nginx_page(status: int) -> bytes:
    """The page nginx serves for a gateway error (what api.telegram.org answers in an outage)."""
    phrase = HTTPStatus(status).phrase
    return (
        f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode("ascii")


@dataclass
class Fault:
    """A scripted failure for the next `times` calls of `method` (None: any method).

    kinds:
      "429"          answer 429 Too Many Requests with parameters.retry_after; nothing recorded
      "500".."504"   answer that server error; nothing recorded. `body` says its shape:
                     "html" (nginx's page, the default for 502-504), "json" (the API's own
                     error object, the default for 500), "empty", or "truncated" (a
                     Content-Length promising more than is sent before the connection closes)
      "delay"        process and record the call, then wait `delay` seconds before
                     answering (a client with a shorter timeout loses the answer)
      "drop"         process and record the call, then close the connection unanswered
      "drop_before"  close the connection before reading the request body; nothing recorded

    `delay` also slows the error answers (a gateway that waited for its upstream).
    """

    kind: str
    times: int = 1
    method: str | None = "sendMessage"
    retry_after: int = 1
    delay: float = 0.0
    body: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.body is not None and self.body not in BODY_SHAPES:
            raise ValueError(f"unknown body shape {self.body!r}; expected one of {BODY_SHAPES}")

    @property
    def shape(self) -> str:
        if self.body is not None:
            return self.body
        return "html" if self.kind in ("502", "503", "504") else "json"


@dataclass
class RateLimits:
    """Telegram's (unpublished, approximate) flood limits as token buckets.

    Per chat ~1 message/s with a short burst; per group or channel 20/minute;
    30/s over all chats. Exceeding any answers 429 with retry_after.
    """

    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    per_group_per_minute: int = 20
    global_per_second: int = 30


TELEGRAM_LIMITS = RateLimits()  # the default; never changed in place (set_rate_limits replaces)


class _Bucket:
    def __init__(self, rate_per_second: float, capacity: float) -> None:
        self.rate = rate_per_second
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = time.monotonic()

    def wait_needed(self, now: float) -> float:
        """Seconds until one token is available (0 if available now)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


# ---------------------------------------------------------------------------
# Recorded state
# ---------------------------------------------------------------------------


@dataclass
class Call:
    """One Bot API request as the fake answered it (status 0: connection dropped unanswered)."""

    method: str
    params: dict[str, Any]
    time: float
    status: int = 200
    description: str | None = None
    chat_id: int | None = None
    message_id: int | None = None


@dataclass
class Message:
    chat_id: int
    message_id: int
    text: str  # after entity parsing, as Telegram shows it
    raw_text: str  # as sent
    parse_mode: str | None
    entities: list[dict[str, Any]]
    date: int
    from_bot: bool = True
    edit_count: int = 0
    disable_notification: bool = False  # sent silently (sendMessage's parameter)
    # Every text the message has shown, oldest first (the last is `text`): its edit history.
    versions: list[str] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None  # an inline keyboard, as sent (sendMessage, editMessageReplyMarkup)

    def __post_init__(self) -> None:
        if not self.versions:
            self.versions = [self.text]


@dataclass
class Chat:
    id: int
    type: str  # private, group, supergroup, channel
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    blocked: bool = False  # private chat whose user blocked the bot
    kicked: bool = False  # group/channel the bot was removed from

    def as_telegram(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        for key in ("title", "username", "first_name"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


class ApiError(Exception):
    """An error answer: HTTP status, Telegram description, optional parameters."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None, *, shape: str = "json"
    ):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters
        self.shape = shape  # json (the API's error object), html, empty, truncated (see Fault)


def _bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


# Parameters PTB sends JSON-encoded inside form fields.
_JSON_PARAMS = {
    "reply_markup", "entities", "commands", "scope", "allowed_updates",
    "link_preview_options", "reply_parameters",
}
_INT_PARAMS = {"message_id", "offset", "limit", "timeout", "user_id"}


def _normalise_params(params: dict[str, Any]) -> dict[str, Any]:
    """Turn form-encoded strings into the JSON types Telegram would see."""
    result: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, bytes):  # an uploaded file: keep the state JSON-serialisable
            value = f"<{len(value)} bytes>"
        elif isinstance(value, str):
            if key in _JSON_PARAMS:
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            elif key in _INT_PARAMS or (key == "chat_id" and re.fullmatch(r"-?\d+", value)):
                try:
                    value = int(value)
                except ValueError:
                    pass
            elif value in ("true", "false"):
                value = value == "true"
        result[key] = value
    return result


# ---------------------------------------------------------------------------
# The fake
# ---------------------------------------------------------------------------


class FakeTelegram:
    """In-memory Telegram Bot API with an HTTP front end on 127.0.0.1."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        port: int = 0,
        rate_limits: RateLimits | None = TELEGRAM_LIMITS,
        state_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.rate_limits = rate_limits
        self.state_file = state_file
        self._requested_port = port
        self._lock = threading.RLock()
        self._updates_cond = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> FakeTelegram:
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", self._requested_port), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name="fake-telegram", daemon=True,
        )
        self._thread.start()
        self._write_state()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self._updates_cond.notify_all()  # wake long polls
        if self._server is not None:
            self._server.shutdown()
            self._server.close_all_connections()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What to pass as telegram.Bot(base_url=...) / telegram.api_base_url."""
        return f"{self.url}/bot"

    # -- scripting (also reachable over HTTP as POST /_fake/<name>) --------

    def reset(self) -> None:
        """Forget everything: chats, messages, calls, updates, faults, counters."""
        with self._lock:
            self.chats: dict[int, Chat] = {}
            self.messages: dict[tuple[int, int], Message] = {}
            self.deleted_messages: list[Message] = []
            self.calls: list[Call] = []
            self.count_429 = 0
            self.commands: dict[str, list[dict[str, Any]]] = {}
            self._faults: list[Fault] = []
            self._outage: Fault | None = None
            self._next_message_id: dict[int, int] = {}
            self._updates: list[dict[str, Any]] = []
            self._updates_poll = 0  # the latest getUpdates call: an older one still waiting ends in 409
            self._next_update_id = 1
            self._buckets: dict[str, _Bucket] = {}
            self._webhook_deleted = False
            self._reset_photos()
            self.callback_queries: dict[str, CallbackQueryRecord] = {}

    def add_chat(
        self,
        chat_id: int,
        type: str = "channel",  # noqa: A002 - Telegram's field name
        *,
        username: str | None = None,
        title: str | None = None,
        first_name: str | None = None,
    ) -> dict[str, Any]:
        """Make a chat known to the bot. Channel ids look like -100..., groups are negative."""
        if type not in ("private", "group", "supergroup", "channel"):
            raise ValueError(f"unknown chat type {type!r}")
        with self._lock:
            chat = Chat(
                id=chat_id, type=type, username=username.lstrip("@") if username else None,
                title=title if title is not None else (None if type == "private" else f"Chat {chat_id}"),
                first_name=first_name if first_name is not None else ("User" if type == "private" else None),
            )
            self.chats[chat_id] = chat
            self._write_state()
            return chat.as_telegram()

    def add_channel(self, username: str = "@iraq_watch", chat_id: int = -1001000000001) -> dict[str, Any]:
        return self.add_chat(chat_id, "channel", username=username)

    def delete_message(self, chat_id: int, message_id: int) -> None:
        """Someone (a channel admin, the user) deleted this message: editing it now answers
        400 "message to edit not found"."""
        with self._lock:
            message = self.messages.pop((chat_id, message_id))
            self.deleted_messages.append(message)

    def block_chat(self, chat_id: int, blocked: bool = True) -> None:
        """The user of this private chat blocked the bot (403 on every send)."""
        with self._lock:
            self._chat(chat_id).blocked = blocked

    def kick_bot(self, chat_id: int, kicked: bool = True) -> None:
        """The bot was removed from this group/channel (403 on every send)."""
        with self._lock:
            self._chat(chat_id).kicked = kicked

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (update_id is assigned) for getUpdates."""
        with self._lock:
            update = {**update, "update_id": self._next_update_id}
            self._next_update_id += 1
            self._updates.append(update)
            self._updates_cond.notify_all()
            return update

    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        first_name: str = "Tester",
        username: str | None = None,
    ) -> dict[str, Any]:
        """A user writes `text` to the bot in private chat `chat_id` (created if new).

        A leading "/command" gets its bot_command entity, which PTB's
        CommandHandler needs.
        """
        user_id = chat_id if user_id is None else user_id
        with self._lock:
            chat = self.chats.get(chat_id)
            if chat is None:
                self.add_chat(chat_id, "private", first_name=first_name, username=username)
                chat = self.chats[chat_id]
            message_id = self._take_message_id(chat_id)
            user = {"id": user_id, "is_bot": False, "first_name": first_name}
            if username:
                user["username"] = username
            message: dict[str, Any] = {
                "message_id": message_id, "from": user, "chat": chat.as_telegram(),
                "date": int(time.time()), "text": text,
            }
            command = re.match(r"/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?", text)
            if command:
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": utf16_len(command.group(0))}
                ]
            self.messages[(chat_id, message_id)] = Message(
                chat_id, message_id, text, text, None, message.get("entities", []),
                message["date"], from_bot=False,
            )
            return self.push_update({"message": message})

    def push_callback(
        self,
        chat_id: int,
        message_id: int,
        data: str | None = None,
        *,
        button: str | None = None,
        user_id: int | None = None,
        age: float = 0.0,
    ) -> dict[str, Any]:
        """The user of private chat `chat_id` presses a button under the bot's message
        `message_id`: a callback_query update for getUpdates. `button` picks the button
        whose label contains it (its callback_data is sent); `data` sends any data (a
        client can forge it). `age` seconds: the press happened that long ago (to see
        a late answer refused)."""
        with self._lock:
            chat = self._chat(chat_id)
            message = self.messages.get((chat_id, message_id))
            if message is None or not message.from_bot:
                raise KeyError(f"no bot message {message_id} in chat {chat_id}")
            if button is not None:
                data = _button_data(message, button)
            user_id = chat_id if user_id is None else user_id
            query_id = str(7_000_000_000_000 + len(self.callback_queries) + 1)
            self.callback_queries[query_id] = CallbackQueryRecord(
                query_id, chat_id, message_id, data, time.monotonic() - age
            )
            query: dict[str, Any] = {
                "id": query_id,
                "from": {"id": user_id, "is_bot": False, "first_name": chat.first_name or "Tester"},
                "message": self._message_json(message, chat),
                "chat_instance": str(-abs(hash((self.bot_id, chat_id))) % 10**18),
            }
            if data is not None:
                query["data"] = data
            return self.push_update({"callback_query": query})

    def add_fault(
        self,
        kind: str,
        times: int = 1,
        method: str | None = "sendMessage",
        retry_after: int = 1,
        delay: float = 0.0,
        body: str | None = None,
    ) -> None:
        """Script the next `times` calls of `method` (None: any) to fail; see Fault."""
        with self._lock:
            self._faults.append(Fault(kind, times, method, retry_after, delay, body))

    def set_outage(self, status: int | None = 502, body: str | None = None, delay: float = 0.0) -> None:
        """Until called again with None: the front end answers every Bot API call (getMe,
        sendMessage, getUpdates, ...) with this server error; nothing is recorded as sent."""
        with self._lock:
            self._outage = None if status is None else Fault(str(status), 1, None, delay=delay, body=body)

    def set_rate_limits(self, limits: RateLimits | dict[str, Any] | None) -> None:
        """None turns flood control off."""
        with self._lock:
            self.rate_limits = RateLimits(**limits) if isinstance(limits, dict) else limits
            self._buckets.clear()

    # -- reading state ------------------------------------------------------

    def sent_messages(self, chat_id: int | str | None = None) -> list[Message]:
        """Messages the bot sent (current text after edits), in sending order."""
        with self._lock:
            wanted = None if chat_id is None else self._resolve_chat(chat_id).id
            return [  # self.messages keeps insertion (= sending) order
                m for m in self.messages.values()
                if m.from_bot and (wanted is None or m.chat_id == wanted)
            ]

    def calls_to(self, method: str, *, status: int | None = 200) -> list[Call]:
        """Recorded calls of one method, by default only the accepted ones."""
        with self._lock:
            return [
                c for c in self.calls
                if c.method.lower() == method.lower() and (status is None or c.status == status)
            ]

    def wait_for_messages(self, count: int, timeout: float = 10.0, chat_id: int | str | None = None) -> list[Message]:
        """Block until the bot has sent at least `count` messages (for tests driving a subprocess)."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.sent_messages(chat_id)
            if len(messages) >= count or time.monotonic() >= deadline:
                return messages
            time.sleep(0.02)

    def state(self) -> dict[str, Any]:
        """Everything recorded, as JSON-compatible data (also GET /_fake/state)."""
        with self._lock:
            return {
                "token": self.token,
                "base_url": self.base_url if self._server else None,
                "count_429": self.count_429,
                "chats": [asdict(c) for c in self.chats.values()],
                "calls": [asdict(c) for c in self.calls],
                "messages": [asdict(m) for m in self.sent_messages()],
                "pending_updates": len(self._updates),
                "photos": self._photos_state(),
            }

    # -- internals ------------------------------------------------------------

    def _write_state(self) -> None:
        if not self.state_file:
            return
        tmp = f"{self.state_file}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.state(), f, ensure_ascii=False)
        os.replace(tmp, self.state_file)  # readers never see a half-written file

    def _chat(self, chat_id: int) -> Chat:
        if chat_id not in self.chats:
            raise KeyError(f"unknown chat {chat_id}; add_chat() it first")
        return self.chats[chat_id]

    def _resolve_chat(self, chat_id: int | str | None) -> Chat:
        if chat_id is None or chat_id == "":
            raise _bad_request("chat_id is empty")
        if isinstance(chat_id, str) and re.fullmatch(r"-?\d+", chat_id):
            chat_id = int(chat_id)
        if isinstance(chat_id, str):
            name = chat_id.lstrip("@").lower()
            for chat in self.chats.values():
                if chat.username and chat.username.lower() == name:
                    return chat
        elif chat_id in self.chats:
            return self.chats[chat_id]
        raise _bad_request("chat not found")

    def _writable_chat(self, chat_id: int | str | None) -> Chat:
        chat = self._resolve_chat(chat_id)
        if chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat.kicked:
            if chat.type == "channel":
                raise ApiError(403, "Forbidden: bot is not a member of the channel chat")
            raise ApiError(403, "Forbidden: bot was kicked from the group chat")
        return chat

    def _take_message_id(self, chat_id: int) -> int:
        message_id = self._next_message_id.get(chat_id, 0) + 1
        self._next_message_id[chat_id] = message_id
        return message_id

    def _take_fault(self, method: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and (fault.method is None or fault.method.lower() == method.lower()):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def _check_flood(self, chat: Chat) -> None:
        """Raise 429 if this message would exceed a limit; otherwise spend the tokens."""
        limits = self.rate_limits
        if limits is None:
            return
        now = time.monotonic()
        buckets = [
            self._bucket("global", limits.global_per_second, limits.global_per_second),
            self._bucket(f"chat:{chat.id}", limits.per_chat_per_second, limits.per_chat_burst),
        ]
        if chat.type != "private":
            buckets.append(self._bucket(
                f"group:{chat.id}", limits.per_group_per_minute / 60, limits.per_group_per_minute
            ))
        wait = max(bucket.wait_needed(now) for bucket in buckets)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )
        for bucket in buckets:
            bucket.take()

    def _bucket(self, key: str, rate: float, capacity: float) -> _Bucket:
        if key not in self._buckets:
            self._buckets[key] = _Bucket(rate, capacity)
        return self._buckets[key]

    def _parse_text(self, params: dict[str, Any]) -> tuple[str, str, list[dict[str, Any]]]:
        raw = params.get("text")
        if not isinstance(raw, str) or not raw.strip():
            raise _bad_request("message text is empty")
        parse_mode = params.get("parse_mode")
        entities: list[dict[str, Any]] = []
        text = raw
        if isinstance(parse_mode, str) and parse_mode.lower() == "html":
            try:
                text, entities = parse_html(raw)
            except EntityParseError as exc:
                raise _bad_request(f"can't parse entities: {exc}") from None
        # Markdown modes are not parsed by the fake: the text counts as sent.
        if not text.strip():
            raise _bad_request("message text is empty")
        if utf16_len(text) > MAX_MESSAGE_LENGTH:
            raise _bad_request("message is too long")
        return raw, text, entities

    def _message_json(self, message: Message, chat: Chat) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": message.message_id, "chat": chat.as_telegram(),
            "date": message.date, "text": message.text,
        }
        if chat.type == "channel":
            data["sender_chat"] = chat.as_telegram()
        else:
            data["from"] = self._me()
        if message.entities:
            data["entities"] = message.entities
        if message.edit_count:
            data["edit_date"] = int(time.time())
        if message.reply_markup is not None:
            data["reply_markup"] = message.reply_markup
        return data

    def _me(self) -> dict[str, Any]:
        return {
            "id": self.bot_id, "is_bot": True, "first_name": "Iraq Watch Test Bot",
            "username": "iraq_watch_test_bot", "can_join_groups": True,
            "can_read_all_group_messages": False, "supports_inline_queries": False,
        }

    # -- Bot API methods (called with the lock held, except getUpdates) ------

    def call(self, method: str, params: dict[str, Any], uploads: dict[str, bytes] | None = None) -> tuple[Any, Call]:
        """Run one API method; returns (result, recorded call) or raises ApiError (also recorded).
        `uploads`: the files of a multipart request, by field name (their bytes)."""
        record = Call(method=method, params=params, time=time.time())
        handler = getattr(self, f"_api_{method.lower()}", None)
        if handler is None:
            raise ApiError(404, "Not Found")
        try:
            if method.lower() == "getupdates":
                result = handler(params, record)  # long poll: must not hold the lock while waiting
            else:
                with self._lock:
                    self._uploads = uploads or {}
                    result = handler(params, record)
        except ApiError as exc:
            record.status, record.description = exc.status, exc.description
            if exc.status == 429:
                with self._lock:
                    self.count_429 += 1
            raise
        finally:
            with self._lock:
                self.calls.append(record)
                self._write_state()
        return result, record

    def _record_fault(self, method: str, params: dict[str, Any], error: ApiError | None) -> None:
        """Record a call answered by a scripted fault (error None: dropped unanswered)."""
        with self._lock:
            record = Call(method=method, params=params, time=time.time(), status=0)
            if error is not None:
                record.status, record.description = error.status, error.description
                self.count_429 += error.status == 429
            self.calls.append(record)
            self._write_state()

    def _api_getme(self, params: dict[str, Any], record: Call) -> Any:
        return self._me()

    def _api_sendmessage(self, params: dict[str, Any], record: Call) -> Any:
        chat = self._writable_chat(params.get("chat_id"))
        record.chat_id = chat.id
        raw, text, entities = self._parse_text(params)
        markup = _inline_keyboard(params)
        self._check_flood(chat)
        message = Message(
            chat.id, self._take_message_id(chat.id), text, raw, params.get("parse_mode"),
            entities, int(time.time()), disable_notification=params.get("disable_notification") is True,
            reply_markup=markup,
        )
        self.messages[(chat.id, message.message_id)] = message
        record.message_id = message.message_id
        return self._message_json(message, chat)

    def _message_to_edit(self, params: dict[str, Any], record: Call) -> tuple[Chat, Message]:
        """(chat, message) an edit names, refused as Telegram refuses it."""
        if "inline_message_id" in params:
            raise _bad_request("inline messages are not supported by the fake")
        chat = self._writable_chat(params.get("chat_id"))
        record.chat_id = chat.id
        message = self.messages.get((chat.id, params.get("message_id")))  # type: ignore[arg-type]
        if message is None:
            raise _bad_request("message to edit not found")
        if not message.from_bot:
            raise _bad_request("message can't be edited")
        return chat, message

    def _api_editmessagetext(self, params: dict[str, Any], record: Call) -> Any:
        chat, message = self._message_to_edit(params, record)
        raw, text, entities = self._parse_text(params)
        # As Telegram: an edit without reply_markup takes the inline keyboard away.
        markup = _inline_keyboard(params)
        if text == message.text and entities == message.entities and markup == message.reply_markup:
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        self._check_flood(chat)
        message.reply_markup = markup
        message.text, message.raw_text, message.entities = text, raw, entities
        message.parse_mode = params.get("parse_mode")
        message.edit_count += 1
        message.versions.append(text)
        record.message_id = message.message_id
        return self._message_json(message, chat)

    def _api_getchat(self, params: dict[str, Any], record: Call) -> Any:
        chat = self._resolve_chat(params.get("chat_id"))
        record.chat_id = chat.id
        # PTB 22 parses getChat into ChatFullInfo, which requires these fields.
        return {
            **chat.as_telegram(), "accent_color_id": 0, "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False, "limited_gifts": False,
                "unique_gifts": False, "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _commands_key(self, params: dict[str, Any]) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code", "")], sort_keys=True)

    def _api_setmycommands(self, params: dict[str, Any], record: Call) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _bad_request("parameter \"commands\" is required")
        self.commands[self._commands_key(params)] = commands
        return True

    def _api_getmycommands(self, params: dict[str, Any], record: Call) -> Any:
        return self.commands.get(self._commands_key(params), [])

    def _api_deletemycommands(self, params: dict[str, Any], record: Call) -> Any:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _api_deletewebhook(self, params: dict[str, Any], record: Call) -> Any:
        self._webhook_deleted = True
        return True

    def _api_close(self, params: dict[str, Any], record: Call) -> Any:
        return True

    def _api_logout(self, params: dict[str, Any], record: Call) -> Any:
        return True

    def _api_getupdates(self, params: dict[str, Any], record: Call) -> Any:
        offset = params.get("offset") or 0
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        deadline = time.monotonic() + timeout
        with self._updates_cond:
            # Telegram allows one getUpdates at a time per bot: a new one ends the long
            # poll still waiting with 409 Conflict (two bot instances polling).
            self._updates_poll += 1
            this_poll = self._updates_poll
            self._updates_cond.notify_all()
            if offset:
                # Telegram: an offset confirms every update with a smaller id.
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while True:
                if self._updates_poll != this_poll:
                    raise ApiError(
                        409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
                    )
                ready = [u for u in self._updates if u["update_id"] >= offset][:limit]
                remaining = deadline - time.monotonic()
                if ready or remaining <= 0 or self._stopping.is_set():
                    return ready
                self._updates_cond.wait(remaining)

    # -- inline keyboards and callback queries ----------------------------------

    def _api_answercallbackquery(self, params: dict[str, Any], record: Call) -> Any:
        query = self.callback_queries.get(str(params.get("callback_query_id") or ""))
        if query is None or query.answered or time.monotonic() - query.pressed > CALLBACK_ANSWER_SECONDS:
            raise ApiError(400, QUERY_TOO_OLD)
        text = params.get("text")
        if isinstance(text, str) and len(text) > 200:
            raise _bad_request("MESSAGE_TOO_LONG")
        query.answered = True
        query.answer = text if isinstance(text, str) else ""
        record.chat_id, record.message_id = query.chat_id, query.message_id
        return True

    def _api_editmessagereplymarkup(self, params: dict[str, Any], record: Call) -> Any:
        chat, message = self._message_to_edit(params, record)
        markup = _inline_keyboard(params)
        if markup == message.reply_markup:
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        self._check_flood(chat)
        message.reply_markup = markup
        record.message_id = message.message_id
        return self._message_json(message, chat)


    # -- photos (sendPhoto) ----------------------------------------------------

    def _reset_photos(self) -> None:
        self.photos: list[Photo] = []
        self._uploads: dict[str, bytes] = {}

    def sent_photos(self, chat_id: int | str | None = None) -> list[Photo]:
        """Photos the bot sent, in sending order (with the uploaded bytes)."""
        with self._lock:
            wanted = None if chat_id is None else self._resolve_chat(chat_id).id
            return [p for p in self.photos if wanted is None or p.chat_id == wanted]

    def _photos_state(self) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in asdict(p).items() if k != "photo"} | {"size": len(p.photo), "png": p.photo.startswith(PNG_SIGNATURE)}
            for p in self.photos
        ]

    def _api_sendphoto(self, params: dict[str, Any], record: Call) -> Any:
        """sendPhoto as Telegram answers it: an uploaded file (multipart/form-data) that is
        a PNG/JPEG/GIF/WebP image of sane dimensions, an optional caption of at most
        1024 UTF-16 units after entity parsing. A file_id or URL is not supported here."""
        chat = self._writable_chat(params.get("chat_id"))
        record.chat_id = chat.id
        photo = self._uploads.get("photo")
        if photo is None:
            if isinstance(params.get("photo"), str) and params["photo"]:
                raise _bad_request("wrong file identifier/HTTP URL specified")
            raise _bad_request("there is no photo in the request")
        if len(photo) > MAX_PHOTO_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        dimensions = _image_dimensions(photo)
        if dimensions is None:
            raise _bad_request("IMAGE_PROCESS_FAILED")
        width, height = dimensions
        if width + height > 10000 or max(width, height) > 20 * max(min(width, height), 1):
            raise _bad_request("PHOTO_INVALID_DIMENSIONS")
        raw = params.get("caption") or ""
        caption, entities = raw, []
        parse_mode = params.get("parse_mode")
        if raw and isinstance(parse_mode, str) and parse_mode.lower() == "html":
            try:
                caption, entities = parse_html(raw)
            except EntityParseError as exc:
                raise _bad_request(f"can't parse entities: {exc}") from None
        if utf16_len(caption) > MAX_CAPTION_LENGTH:
            raise _bad_request("message caption is too long")
        self._check_flood(chat)
        sent = Photo(
            chat.id, self._take_message_id(chat.id), photo, caption, raw, parse_mode, entities, width, height,
            int(time.time()), disable_notification=params.get("disable_notification") is True,
        )
        self.photos.append(sent)
        record.message_id = sent.message_id
        data = self._message_json(Message(chat.id, sent.message_id, "", "", None, [], sent.date), chat)
        del data["text"]
        data["photo"] = [{
            "file_id": f"photo-{chat.id}-{sent.message_id}", "file_unique_id": f"u{chat.id}{sent.message_id}",
            "width": width, "height": height, "file_size": len(photo),
        }]
        if caption:
            data["caption"] = caption
        if entities:
            data["caption_entities"] = entities
        return data


@dataclass
class CallbackQueryRecord:
    """A button press the fake handed out, and its answer."""

    id: str
    chat_id: int
    message_id: int
    data: str | None
    pressed: float  # time.monotonic() of the press
    answered: bool = False
    answer: str | None = None


def _inline_keyboard(params: dict[str, Any]) -> dict[str, Any] | None:
    """The reply_markup of a call, checked as Telegram checks an inline keyboard."""
    markup = params.get("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return markup  # another kind of keyboard: recorded as sent
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad_request("field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array of Arrays")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise _bad_request("can't parse inline keyboard button: Text must be a String")
            data = button.get("callback_data")
            if data is None and not button.get("url"):
                raise _bad_request("text buttons are unallowed in the inline keyboard")
            if data is not None and not 1 <= len(str(data).encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
                raise _bad_request("BUTTON_DATA_INVALID")
    return markup


def _button_data(message: Message, label: str) -> str:
    """The callback_data of the button whose text contains `label`."""
    rows = (message.reply_markup or {}).get("inline_keyboard") or []
    for row in rows:
        for button in row:
            if label.lower() in button.get("text", "").lower() and "callback_data" in button:
                return str(button["callback_data"])
    raise KeyError(f"no button {label!r} under message {message.message_id}")


MAX_CAPTION_LENGTH = 1024  # UTF-16 code units of a caption after entity parsing
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # sendPhoto's limit for an uploaded photo
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Photo:
    """A photo the bot sent (sendPhoto), with the uploaded bytes."""

    chat_id: int
    message_id: int
    photo: bytes
    caption: str  # after entity parsing
    raw_caption: str  # as sent
    parse_mode: str | None
    caption_entities: list[dict[str, Any]]
    width: int
    height: int
    date: int
    disable_notification: bool = False


def _uploaded_files(params: dict[str, Any]) -> dict[str, bytes]:
    """The uploaded files of a multipart request (before _normalise_params hides their bytes)."""
    return {key: value for key, value in params.items() if isinstance(value, bytes)}


def _image_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, GIF or JPEG image, or None when it is not one Telegram could read."""
    if data.startswith(PNG_SIGNATURE) and len(data) >= 24 and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
            i += 2 + length
    return None


# Scripting actions reachable over HTTP (POST /_fake/<action>, JSON kwargs).
CONTROL_ACTIONS = {
    "reset", "add_chat", "add_channel", "delete_message", "block_chat", "kick_bot", "push_update",
    "push_message", "add_fault", "set_outage", "set_rate_limits", "push_callback",
}


# ---------------------------------------------------------------------------
# HTTP front end
# ---------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client must not block shutdown
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], fake: FakeTelegram):
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        with self._connections_lock:
            self._connections.add(conn)
        return conn, addr

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_all_connections(self) -> None:
        """Unblock keep-alive handler threads still waiting for a next request."""
        with self._connections_lock:
            for conn in list(self._connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._connections.clear()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects
    # Headers and body go out in separate writes; with Nagle's algorithm on, the
    # client's delayed ACK would add ~40 ms to every answer.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # quiet test output

    def do_GET(self) -> None:  # noqa: N802
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def _dispatch(self) -> None:
        fake = self.server.fake
        path = urlsplit(self.path).path
        m = re.fullmatch(r"/bot([^/]*)/([A-Za-z0-9_]+)", path)
        method = m.group(2) if m else ""
        # Faults that strike before the request body is read.
        outage = fake._outage
        fault = fake._take_fault(method) if m else None
        if fault is not None and fault.kind == "drop_before":
            fake._record_fault(method, {}, None)
            self._drop()
            return
        try:
            params = self._read_params()
        except ValueError as exc:
            self._reply(400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"})
            return
        if path.startswith("/_fake/"):
            self._control(path.removeprefix("/_fake/"), params)
            return
        if m is None:
            self._error(ApiError(404, "Not Found"))
            return
        token = m.group(1)
        if outage is not None:  # the front end answers before the API sees the call
            fake._record_fault(method, _normalise_params(params), self._fault_error(outage))
            fake._stopping.wait(outage.delay)
            self._error(self._fault_error(outage))
            return
        if token != fake.token:
            self._error(ApiError(401, "Unauthorized"))
            return
        if getattr(fake, f"_api_{method.lower()}", None) is None:
            self._error(ApiError(404, "Not Found"))
            return

        uploads = _uploaded_files(params)
        params = _normalise_params(params)
        if fault is not None and fault.kind in ("429", *SERVER_ERROR_KINDS):
            error = self._fault_error(fault)
            fake._record_fault(method, params, error)
            fake._stopping.wait(fault.delay)
            self._error(error)
            return

        try:
            result, record = fake.call(method, params, uploads)
        except ApiError as exc:
            self._error(exc)
            return
        if fault is not None and fault.kind == "drop":
            with fake._lock:
                record.status = 0  # accepted and recorded, but the client never hears back
                fake._write_state()
            self._drop()
            return
        if fault is not None and fault.kind == "delay":
            # The call is already recorded: a client that times out loses only the answer.
            fake._stopping.wait(fault.delay)
        self._reply(200, {"ok": True, "result": result})

    def _read_params(self) -> dict[str, Any]:
        params: dict[str, Any] = dict(parse_qsl(urlsplit(self.path).query))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        if not body:
            return params
        if content_type.startswith("application/json"):
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("JSON body must be an object")
            params.update(data)
        elif content_type.startswith("multipart/form-data"):
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
            )
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if name:
                    payload = part.get_payload(decode=True) or b""
                    params[name] = payload if part.get_filename() else payload.decode("utf-8")
        else:  # application/x-www-form-urlencoded: what PTB sends
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        return params

    def _control(self, action: str, params: dict[str, Any]) -> None:
        fake = self.server.fake
        if action == "state":
            self._reply(200, fake.state())
            return
        if action not in CONTROL_ACTIONS:
            self._reply(404, {"ok": False, "description": f"unknown control action {action!r}"})
            return
        try:
            result = getattr(fake, action)(**params)
        except (TypeError, ValueError, KeyError) as exc:
            self._reply(400, {"ok": False, "description": str(exc)})
            return
        with fake._lock:
            fake._write_state()
        self._reply(200, {"ok": True, "result": result})

    @staticmethod
    def _fault_error(fault: Fault) -> ApiError:
        if fault.kind == "429":
            return ApiError(
                429, f"Too Many Requests: retry after {fault.retry_after}",
                {"retry_after": fault.retry_after}, shape=fault.shape,
            )
        status = int(fault.kind)
        return ApiError(status, HTTPStatus(status).phrase, shape=fault.shape)

    def _error(self, exc: ApiError) -> None:
        body: dict[str, Any] = {"ok": False, "error_code": exc.status, "description": exc.description}
        if exc.parameters:
            body["parameters"] = exc.parameters
        if exc.shape == "json":
            self._reply(exc.status, body)
            return
        page = nginx_page(exc.status) if exc.status in (502, 503, 504) else json.dumps(body).encode()
        if exc.shape == "empty":
            self._send(exc.status, b"", "text/html")
        elif exc.shape == "truncated":
            # Promise the whole page, send half of it, hang up.
            self._send(exc.status, page[: len(page) // 2], "text/html", length=len(page))
            self._drop()
        else:
            self._send(exc.status, page, "text/html")

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json")

    def _send(self, status: int, data: bytes, content_type: str, *, length: int | None = None) -> None:
        try:
            self.send_response(status, HTTPStatus(status).phrase)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data) if length is None else length))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client gave up (e.g. timed out); nothing to do

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# ---------------------------------------------------------------------------
# Cross-process helpers, pytest fixture, CLI
# ---------------------------------------------------------------------------


def control(url: str, action: str, **kwargs: Any) -> Any:
    """Script a fake running in another process: control("http://127.0.0.1:PORT", "add_fault", kind="502")."""
    if action == "state":
        with urllib.request.urlopen(f"{url}/_fake/state", timeout=10) as resp:
            return json.load(resp)
    request = urllib.request.Request(
        f"{url}/_fake/{action}", data=json.dumps(kwargs).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.load(resp)["result"]


try:
    import pytest
except ImportError:  # the standalone server does not need pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def fake_telegram() -> Iterator[FakeTelegram]:
        """A started FakeTelegram with flood control on and no chats; stopped afterwards."""
        fake = FakeTelegram().start()
        try:
            yield fake
        finally:
            fake.stop()

    @pytest.fixture
    def fake(fake_telegram: FakeTelegram) -> FakeTelegram:
        """The fake with the alert channel (@iraq_watch) and one subscriber's private chat,
        flood control off: for tests about something else. A module that needs other
        chats or limits defines its own `fake`."""
        fake_telegram.add_chat(CHANNEL, "channel", username="iraq_watch")
        fake_telegram.add_chat(SUBSCRIBER, "private")
        fake_telegram.set_rate_limits(None)
        return fake_telegram


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fake Telegram Bot API for tests")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed as READY <port>)")
    parser.add_argument("--state-file", help="JSON state written after every change")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--channel", action="append", default=[], metavar="@NAME[=ID]",
                        help="a channel the bot may post to (repeatable)")
    parser.add_argument("--no-rate-limit", action="store_true", help="turn flood control off")
    args = parser.parse_args(argv)

    fake = FakeTelegram(
        token=args.token, port=args.port, state_file=args.state_file,
        rate_limits=None if args.no_rate_limit else RateLimits(),
    )
    for n, spec in enumerate(args.channel):
        name, _, chat_id = spec.partition("=")
        fake.add_channel(name, int(chat_id) if chat_id else -1001000000001 - n)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    fake.start()
    print(f"READY {fake.port}", flush=True)
    stop.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
