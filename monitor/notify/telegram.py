"""Sending one message through python-telegram-bot, and what its answer means.

`TelegramSender.send` never raises for a Bot API or network failure: it turns
every outcome into a `SendResult` the outbox acts on. The classification is the
delivery guarantee, so it is spelled out here:

* sent        Telegram answered with a Message.
* retry       Telegram certainly did NOT take the message: an error answer
              (429 with retry_after, 5xx, 401), or the request never left
              (connection refused, DNS, connect/pool timeout). Safe to resend.
* failed      A permanent refusal for this chat or text (chat not found, bot
              blocked / kicked, message rejected). Not retried.
* unknown     The request may have reached Telegram but the answer was lost
              (read/write timeout, connection dropped after sending). Telegram
              has no idempotency key and no way to ask "did you get it?", so
              resending could double the alert: we do not resend (at-most-once
              for this window; see docs/DELIVERY.md).

A 400 "can't parse entities" is answered before Telegram stores anything, so
the text is sent again at once as plain text without parse_mode.

The token is part of every request URL: nothing here logs URLs or PTB's
exception chains verbatim (monitor.ops.logs also redacts it everywhere).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import httpx
from telegram import Bot, LinkPreviewOptions
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

# Failures where httpx guarantees the request was not (fully) handed to the server.
_NOT_SENT_CAUSES = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol, httpx.ProxyError)


@dataclass(frozen=True)
class SendResult:
    kind: str  # sent, retry, failed, unknown
    message_id: int | None = None
    reason: str = ""
    retry_after: float | None = None  # from a 429: honour exactly
    chat_gone: bool = False  # the chat can receive nothing any more (blocked, kicked, not found)
    plain_fallback: bool = False  # sent as text_plain after a 400 on the HTML
    global_problem: bool = False  # not about this chat: Telegram/network/token is down


def chat_id_param(chat_id: str) -> int | str:
    """Numeric ids go as ints, '@channel' usernames as they are."""
    text = chat_id.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return text


def is_group_chat(chat_id: str) -> bool:
    """Groups, supergroups and channels: negative ids (-100… for channels) or @usernames.

    Positive ids are private chats with a user. The 20 messages/minute limit
    applies to the former."""
    text = chat_id.strip()
    return text.startswith(("@", "-"))


def _seconds(value: int | float | dt.timedelta) -> float:
    # PTB 22 gives retry_after as int, or as timedelta with PTB_TIMEDELTA=true.
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def retry_after_seconds(exc: RetryAfter) -> float:
    """retry_after in seconds, whether PTB_TIMEDELTA is on or not (without PTB's
    deprecation warning for the int form)."""
    internal = getattr(exc, "_retry_after", None)
    if isinstance(internal, dt.timedelta):
        return internal.total_seconds()
    return _seconds(exc.retry_after)


def _is_parse_error(exc: BadRequest) -> bool:
    return "can't parse entities" in exc.message.lower() or "can't find end" in exc.message.lower()


def classify(exc: TelegramError) -> SendResult:
    """What a PTB exception means for delivery. Order matters: BadRequest and
    TimedOut are NetworkError subclasses, RetryAfter/ChatMigrated are TelegramErrors."""
    if isinstance(exc, RetryAfter):
        after = retry_after_seconds(exc)
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
            # An HTTP error answer (5xx, 409...): Telegram said no, nothing was stored.
            return SendResult("retry", reason=f"Telegram error: {exc.message}", global_problem=True)
        if isinstance(cause, _NOT_SENT_CAUSES):
            return SendResult("retry", reason=f"Telegram unreachable ({type(cause).__name__})", global_problem=True)
        return SendResult(
            "unknown", reason=f"connection lost before Telegram answered ({type(cause).__name__}); the message may have been sent"
        )
    # Anything else from PTB (e.g. an unparsable answer) came after the request was sent.
    return SendResult("unknown", reason=f"unexpected answer from Telegram: {type(exc).__name__}")


def build_bot(token: str, base_url: str, *, read_timeout: float = 15.0, pool_size: int = 32) -> Bot:
    """A PTB Bot honouring telegram.api_base_url (a local Bot API server, or a test fake)."""
    request = HTTPXRequest(
        connection_pool_size=pool_size,
        connect_timeout=5.0,
        read_timeout=read_timeout,
        write_timeout=read_timeout,
        pool_timeout=5.0,
    )
    # getUpdates long-polls: its own connection so it never starves the senders.
    updates_request = HTTPXRequest(connection_pool_size=2, connect_timeout=5.0, read_timeout=60.0, pool_timeout=5.0)
    return Bot(token, base_url=base_url, request=request, get_updates_request=updates_request)


class TelegramSender:
    """Sends one alert text; never raises for API or network trouble."""

    def __init__(self, bot: Bot, *, link_preview: bool = False) -> None:
        self.bot = bot
        # One link per alert, so at most one preview; off by default (no preview spam).
        self._preview = LinkPreviewOptions(is_disabled=not link_preview, prefer_small_media=True)

    async def send(self, chat_id: str, text_html: str, text_plain: str) -> SendResult:
        target = chat_id_param(chat_id)
        try:
            message = await self.bot.send_message(target, text_html, parse_mode="HTML", link_preview_options=self._preview)
            return SendResult("sent", message_id=message.message_id)
        except BadRequest as exc:
            if not _is_parse_error(exc) or isinstance(exc, TimedOut):
                return classify(exc)
            first_reason = exc.message
        except TelegramError as exc:
            return classify(exc)
        # Telegram rejected the HTML before storing anything: plain text is safe to send.
        try:
            message = await self.bot.send_message(target, text_plain, link_preview_options=self._preview)
        except TelegramError as exc:
            result = classify(exc)
            return SendResult(
                result.kind, reason=f"{result.reason} (after HTML refused: {first_reason})", retry_after=result.retry_after,
                chat_gone=result.chat_gone, global_problem=result.global_problem,
            )
        return SendResult("sent", message_id=message.message_id, reason=f"sent as plain text: {first_reason}", plain_fallback=True)
