"""Talking to the Bot API through python-telegram-bot, and what each answer means.

`TelegramSender.send` never raises for a Bot API or network failure: it turns
every outcome into a `SendResult` the outbox acts on. `classify` carries the
delivery guarantee, so it is spelled out here:

* sent        Telegram answered with a Message.
* retry       Telegram certainly did NOT post the message: any HTTP error answer
              that is not a refusal of this message (429, any 5xx whatever its
              body: JSON, an nginx HTML page, empty, cut off; 401 token refused),
              or the request never left (connection refused, DNS, connect/pool
              timeout, the request could not be written). Safe to resend.
* failed      A definite refusal of this message or chat (any other 4xx: chat
              not found, bot blocked or kicked, text rejected). Not retried.
* unknown     The request may have reached Telegram but no answer came (read
              timeout, connection lost after the request was written) or the
              answer was a success that could not be read. Telegram has no
              idempotency key and no way to ask "did you get it?", so resending
              could double the alert: we do not resend (at-most-once for this
              window; counted in /metrics and `monitor stats`; docs/DELIVERY.md).

Why a hook on the HTTP client: in an outage Telegram's front end answers
502/503/504 with an HTML page, sometimes empty or cut off. python-telegram-bot
would report that as a NetworkError caused by a JSON parse error (or, for a cut
off body, as a lost connection), which reads like "no answer". The hook sees
the status line before the body is read and turns every 429 and 5xx into an
`ErrorAnswer` carrying the status, so a definite answer is never mistaken for
a lost one.

A 400 "can't parse entities" is answered before Telegram stores anything, so
the text is sent again at once as plain text without parse_mode.

Edits (`TelegramSender.edit`, editMessageText) are classified the same way, with
two answers of their own: 400 "message is not modified" means the text is already
shown (sent, `unchanged`: an edit re-applied after a lost answer or a crash), and
400 "message to edit not found" / "message can't be edited" means the message is
gone (failed, `message_gone`). An edit whose answer was lost may be made again:
the text is the same, so Telegram either applies it once or answers "not modified".

A subscriber's alert carries the feedback buttons (`feedback_keyboard`): relevant,
not relevant, mute the entity for a day. Each button's callback_data is
"fb:<alert id>:<choice letter>", well under Telegram's 64 bytes; the bot's
commands loop (monitor.notify.commands) handles the presses.

The token is part of every request URL: nothing here logs URLs or PTB's
exception chains verbatim (monitor.ops.logs also redacts it everywhere).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import json
import re
import warnings
from dataclasses import dataclass
from http import HTTPStatus
from collections.abc import Callable
from typing import Literal, NamedTuple

import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from monitor.store import Choice

__all__ = [
    "CAPTION_LIMIT",
    "ErrorAnswer",
    "FeedbackButtons",
    "Reachability",
    "SendKind",
    "SendResult",
    "TelegramSender",
    "build_bot",
    "chat_id_param",
    "classify",
    "feedback_data",
    "feedback_keyboard",
    "parse_feedback_data",
    "send_photo",
]

# Failures where httpx guarantees the request was not (fully) handed to the server:
# a server does not act on half a request.
_NOT_SENT_CAUSES = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
)

SendKind = Literal["sent", "retry", "failed", "unknown"]


class ErrorAnswer(TelegramError):
    """Telegram, or the web server in front of it, answered with an HTTP error status.

    Raised for every 429 and 5xx and for 4xx answers that are not the Bot API's JSON,
    whatever the body; the status line alone is the answer."""

    def __init__(self, status: int, description: str, *, retry_after: float | None = None, from_api: bool = True) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after
        self.from_api = from_api  # False: a page from the front end (nginx), not the API's JSON


def _json_object(body: bytes | None) -> dict[str, object] | None:
    if not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _page_title(body: bytes | None) -> str | None:
    match = re.search(rb"<title>([^<]{1,200})</title>", body or b"", re.IGNORECASE)
    return match.group(1).decode("latin-1").strip() if match else None


async def _check_answer(response: httpx.Response) -> None:
    """httpx response hook: turn 429, 5xx and non-JSON 4xx answers into ErrorAnswer.

    Runs once the status line and headers are in, before the body is read, so a body
    that never fully arrives still leaves the status known."""
    status = response.status_code
    if status < 400:
        return
    try:
        await response.aread()
        body: bytes | None = response.content
    except httpx.HTTPError:
        body = None  # cut off or timed out: the status line is the answer
    data = _json_object(body)
    if data is not None and status != 429 and status < 500:
        return  # the Bot API's own refusal: python-telegram-bot maps it (BadRequest, Forbidden...)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "error"
    if data is not None:
        description = str(data.get("description") or phrase)
    else:
        shape = "an empty body" if body == b"" else ("a cut-off body" if body is None else "an HTML page")
        description = f"{_page_title(body) or f'{status} {phrase}'} ({shape}, not the Bot API's JSON)"
    retry_after = None
    parameters = data.get("parameters") if data is not None else None
    if isinstance(parameters, dict) and isinstance(parameters.get("retry_after"), (int, float)):
        retry_after = float(parameters["retry_after"])
    raise ErrorAnswer(status, description, retry_after=retry_after, from_api=data is not None)


class Reachability(NamedTuple):
    """Does the Bot API answer? (ok, why not) — what /healthz shows."""

    ok: bool
    reason: str


@dataclass(frozen=True)
class SendResult:
    kind: SendKind
    message_id: int | None = None
    reason: str = ""
    retry_after: float | None = None  # from a 429: honour exactly
    chat_gone: bool = False  # the chat can receive nothing any more (blocked, kicked, not found)
    plain_fallback: bool = False  # sent as text_plain after a 400 on the HTML
    global_problem: bool = False  # not about this chat: Telegram/network/token is down
    unchanged: bool = False  # an edit Telegram found already applied ("message is not modified")
    message_gone: bool = False  # the message to edit was deleted (or can no longer be edited)


def chat_id_param(chat_id: str) -> int | str:
    """Numeric ids go as ints, '@channel' usernames as they are."""
    text = chat_id.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return text


def _retry_after_seconds(exc: RetryAfter) -> float:
    # PTB 22 gives retry_after as int (with a deprecation warning) or, with
    # PTB_TIMEDELTA=true, as a timedelta; both mean seconds.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def _is_parse_error(exc: BadRequest) -> bool:
    return "can't parse entities" in exc.message.lower() or "can't find end" in exc.message.lower()


def _is_not_modified(exc: BadRequest) -> bool:
    return "message is not modified" in exc.message.lower()


def _is_message_gone(exc: BadRequest) -> bool:
    lowered = exc.message.lower()
    return "message to edit not found" in lowered or "message can't be edited" in lowered


def classify(exc: TelegramError) -> SendResult:
    """What a failed Bot API call means for delivery. Order matters: BadRequest and
    TimedOut are NetworkError subclasses, RetryAfter/ChatMigrated are TelegramErrors."""
    if isinstance(exc, ErrorAnswer):
        if exc.status == 429:
            if exc.retry_after is not None:
                return SendResult("retry", reason=f"flood control: retry after {exc.retry_after:g}s", retry_after=exc.retry_after)
            return SendResult("retry", reason=f"Telegram answered 429: {exc.description}", global_problem=True)
        if exc.status >= 500:
            return SendResult("retry", reason=f"Telegram answered {exc.status}: {exc.description}", global_problem=True)
        return SendResult("failed", reason=f"refused with HTTP {exc.status}: {exc.description}")
    if isinstance(exc, RetryAfter):
        after = _retry_after_seconds(exc)
        return SendResult("retry", reason=f"flood control: retry after {after:g}s", retry_after=after)
    if isinstance(exc, ChatMigrated):
        return SendResult("failed", reason=f"group moved to supergroup {exc.new_chat_id}", chat_gone=True)
    if isinstance(exc, Forbidden):
        return SendResult("failed", reason=exc.message, chat_gone=True)
    if isinstance(exc, InvalidToken):
        return SendResult("retry", reason="Telegram refused the bot token (401/404)", global_problem=True)
    if isinstance(exc, BadRequest):
        lowered = exc.message.lower()
        gone = "chat not found" in lowered or "user is deactivated" in lowered or "chat_write_forbidden" in lowered
        return SendResult("failed", reason=exc.message, chat_gone=gone)
    if isinstance(exc, TimedOut):
        if isinstance(exc.__cause__, _NOT_SENT_CAUSES) or "not* sent" in exc.message:
            return SendResult("retry", reason="Telegram unreachable (connect timeout)", global_problem=True)
        return SendResult("unknown", reason="timed out waiting for Telegram's answer; the message may have been sent")
    if isinstance(exc, NetworkError):
        cause = exc.__cause__
        if cause is None:
            # An HTTP error answer in the API's JSON (409...): a definite no, nothing stored.
            return SendResult("retry", reason=f"Telegram error: {exc.message}", global_problem=True)
        if isinstance(cause, _NOT_SENT_CAUSES):
            return SendResult("retry", reason=f"Telegram unreachable ({type(cause).__name__})", global_problem=True)
        return SendResult(
            "unknown", reason=f"connection lost before Telegram answered ({type(cause).__name__}); the message may have been sent"
        )
    # A 2xx whose body could not be read: it may be Telegram's "ok", or something in between.
    return SendResult("unknown", reason=f"unreadable success answer from Telegram: {type(exc).__name__}")


def _edit_refusal(exc: BadRequest, message_id: int) -> SendResult:
    """An edit's 400 that settles it: already shown (done) or the message is gone."""
    if _is_not_modified(exc):
        return SendResult("sent", message_id=message_id, reason="message is not modified: this text is already shown", unchanged=True)
    return SendResult("failed", reason=exc.message, message_gone=True)


def build_bot(token: str, base_url: str, *, read_timeout: float = 15.0, pool_size: int = 32) -> Bot:
    """A PTB Bot honouring telegram.api_base_url (a local Bot API server, or a test fake)."""
    hooks = {"event_hooks": {"response": [_check_answer]}}
    request = HTTPXRequest(
        connection_pool_size=pool_size,
        connect_timeout=5.0,
        read_timeout=read_timeout,
        write_timeout=read_timeout,
        pool_timeout=5.0,
        httpx_kwargs=hooks,
    )
    # getUpdates long-polls: its own connection so it never starves the senders.
    updates_request = HTTPXRequest(
        connection_pool_size=2, connect_timeout=5.0, read_timeout=60.0, pool_timeout=5.0, httpx_kwargs=hooks
    )
    return Bot(token, base_url=base_url, request=request, get_updates_request=updates_request)


# sendPhoto: the caption's limit after entity parsing (sendMessage's text: 4096).
CAPTION_LIMIT = 1024


async def send_photo(bot: Bot, chat_id: str, photo: bytes, caption_html: str, *, silent: bool = False) -> SendResult:
    """sendPhoto (multipart upload) with an HTML caption; never raises for API or network
    trouble (the answer is classified like a message's). A caption Telegram cannot parse
    goes again as plain text: it was refused before anything was stored."""
    target = chat_id_param(chat_id)
    try:
        message: Message = await bot.send_photo(
            target, photo, caption=caption_html, parse_mode="HTML", disable_notification=silent,
            read_timeout=60, write_timeout=60,  # an upload of a few hundred kB
        )
        return SendResult("sent", message_id=message.message_id)
    except BadRequest as exc:
        if not _is_parse_error(exc) or isinstance(exc, TimedOut):
            return classify(exc)
    except TelegramError as exc:
        return classify(exc)
    plain = html.unescape(re.sub(r"<[^<>]*>", "", caption_html))
    try:
        message = await bot.send_photo(target, photo, caption=plain, disable_notification=silent, read_timeout=60, write_timeout=60)
    except TelegramError as exc:
        return classify(exc)
    return SendResult("sent", message_id=message.message_id, plain_fallback=True)


# -- feedback buttons -----------------------------------------------------------

_FEEDBACK_PREFIX = "fb"
_CHOICE_CODES: dict[Choice, str] = {"relevant": "r", "not_relevant": "n", "mute": "m"}
_CODE_CHOICES = {code: choice for choice, code in _CHOICE_CODES.items()}
_CHOSEN_MARK = "✓ "
_MAX_NAME_IN_BUTTON = 40


@dataclass(frozen=True)
class FeedbackButtons:
    """What a subscriber's alert message offers: buttons about this alert and entity."""

    alert_id: int
    entity_id: str
    chosen: Choice | None = None  # the reader's current choice, ticked (an edit must not drop the tick)


def feedback_data(alert_id: int, choice: Choice) -> str:
    """A button's callback_data: "fb:<alert id>:<r|n|m>" (Telegram allows 1-64 bytes)."""
    return f"{_FEEDBACK_PREFIX}:{alert_id}:{_CHOICE_CODES[choice]}"


def parse_feedback_data(data: str | None) -> tuple[int, Choice] | None:
    """(alert id, choice) of a feedback button's callback_data; None for anything else."""
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[0] != _FEEDBACK_PREFIX or not parts[1].isdigit() or parts[2] not in _CODE_CHOICES:
        return None
    return int(parts[1]), _CODE_CHOICES[parts[2]]


def feedback_keyboard(alert_id: int, entity_name: str, chosen: Choice | None = None) -> InlineKeyboardMarkup:
    """Relevant / not relevant on one row, the mute on the next; the chosen one ticked."""
    if len(entity_name) > _MAX_NAME_IN_BUTTON:
        entity_name = entity_name[: _MAX_NAME_IN_BUTTON - 1] + "…"
    labels: dict[Choice, str] = {
        "relevant": "👍 Relevant",
        "not_relevant": "👎 Not relevant",
        "mute": f"🔕 Mute {entity_name} for a day",
    }

    def button(choice: Choice) -> InlineKeyboardButton:
        mark = _CHOSEN_MARK if choice == chosen else ""
        return InlineKeyboardButton(mark + labels[choice], callback_data=feedback_data(alert_id, choice))

    return InlineKeyboardMarkup([[button("relevant"), button("not_relevant")], [button("mute")]])


class TelegramSender:
    """Sends one alert text; never raises for API or network trouble."""

    def __init__(self, bot: Bot, *, link_preview: bool = False, entity_name: Callable[[str], str] = str) -> None:
        self.bot = bot
        # One link per alert, so at most one preview; off by default (no preview spam).
        self.link_preview = link_preview
        self._entity_name = entity_name  # entity id -> display name, for the mute button

    @property
    def _preview(self) -> LinkPreviewOptions:
        return LinkPreviewOptions(is_disabled=not self.link_preview, prefer_small_media=True)

    def _keyboard(self, feedback: FeedbackButtons | None) -> InlineKeyboardMarkup | None:
        if feedback is None:
            return None
        return feedback_keyboard(feedback.alert_id, self._entity_name(feedback.entity_id), feedback.chosen)

    async def send(
        self, chat_id: str, text_html: str, text_plain: str, *, silent: bool = False, feedback: FeedbackButtons | None = None
    ) -> SendResult:
        """`silent`: delivered without a sound (disable_notification), for low-priority
        messages: digests, alerts held by quiet hours. `feedback`: a subscriber's alert,
        with its buttons."""
        target = chat_id_param(chat_id)
        keyboard = self._keyboard(feedback)
        try:
            message: Message = await self.bot.send_message(
                target, text_html, parse_mode="HTML", link_preview_options=self._preview, disable_notification=silent,
                reply_markup=keyboard,
            )
            return SendResult("sent", message_id=message.message_id)
        except BadRequest as exc:
            if not _is_parse_error(exc) or isinstance(exc, TimedOut):
                return classify(exc)
            first_reason = exc.message
        except TelegramError as exc:
            return classify(exc)
        # Telegram rejected the HTML before storing anything: plain text is safe to send.
        try:
            message = await self.bot.send_message(
                target, text_plain, link_preview_options=self._preview, disable_notification=silent, reply_markup=keyboard
            )
        except TelegramError as exc:
            result = classify(exc)
            return SendResult(
                result.kind, reason=f"{result.reason} (after HTML refused: {first_reason})", retry_after=result.retry_after,
                chat_gone=result.chat_gone, global_problem=result.global_problem,
            )
        return SendResult("sent", message_id=message.message_id, reason=f"sent as plain text: {first_reason}", plain_fallback=True)

    async def edit(
        self, chat_id: str, message_id: int, text_html: str, text_plain: str, *, feedback: FeedbackButtons | None = None
    ) -> SendResult:
        """Replace the text of a message the bot sent (editMessageText).

        "message is not modified" means this very text is already shown (an edit whose
        answer was lost, re-applied): sent, with `unchanged`. A deleted message is a
        failure with `message_gone`. Like `send`, HTML Telegram refuses goes again as
        plain text. A subscriber's alert keeps its feedback buttons only when `feedback`
        is given: an edit without reply_markup takes them away."""
        target = chat_id_param(chat_id)
        keyboard = self._keyboard(feedback)
        try:
            await self.bot.edit_message_text(
                text_html, chat_id=target, message_id=message_id, parse_mode="HTML", link_preview_options=self._preview,
                reply_markup=keyboard,
            )
            return SendResult("sent", message_id=message_id)
        except BadRequest as exc:
            if isinstance(exc, TimedOut) or not (_is_parse_error(exc) or _is_not_modified(exc) or _is_message_gone(exc)):
                return classify(exc)
            if not _is_parse_error(exc):
                return _edit_refusal(exc, message_id)
            first_reason = exc.message
        except TelegramError as exc:
            return classify(exc)
        try:
            await self.bot.edit_message_text(
                text_plain, chat_id=target, message_id=message_id, link_preview_options=self._preview, reply_markup=keyboard
            )
        except BadRequest as exc:
            if isinstance(exc, TimedOut) or not (_is_not_modified(exc) or _is_message_gone(exc)):
                return classify(exc)
            return _edit_refusal(exc, message_id)
        except TelegramError as exc:
            return classify(exc)
        return SendResult("sent", message_id=message_id, reason=f"edited as plain text: {first_reason}", plain_fallback=True)

    async def send_photo(self, chat_id: str, photo: bytes, caption_html: str, *, silent: bool = False) -> SendResult:
        return await send_photo(self.bot, chat_id, photo, caption_html, silent=silent)

    async def probe(self, timeout: float = 3.0) -> Reachability:
        """Does the Bot API answer right now? (getMe, bounded by `timeout` seconds)."""
        try:
            await asyncio.wait_for(
                self.bot.get_me(read_timeout=timeout, connect_timeout=timeout, write_timeout=timeout, pool_timeout=timeout),
                timeout=timeout + 0.5,
            )
        except TelegramError as exc:
            result = classify(exc)
            if result.kind == "unknown":  # about a message that may be sent: not the probe's case
                return Reachability(False, f"no answer from the Bot API ({type(exc.__cause__ or exc).__name__})")
            return Reachability(False, result.reason)
        except asyncio.TimeoutError:
            return Reachability(False, f"no answer from the Bot API within {timeout:g}s")
        return Reachability(True, "")
