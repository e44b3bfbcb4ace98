"""The HTTP side of a group robot: sign the stored payload, POST it (httpx), read the answer.

`ChatTransport.post` calls `on_data()` right before the request goes out: from then on a failure
without an answer (timeout, connection reset) is *ambiguous*, the group may have the message, and
the outbox marks it `unknown` instead of posting it twice. A connection that could not be made is
not ambiguous and is retried. The robot's URL carries its token and is never logged or shown
(`ChannelSettings.safe_url`); httpx's own request log is kept at WARNING for that reason.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Mapping

import httpx

from sentiment.config import ChannelSettings
from sentiment.reports.channels.platforms import PLATFORMS, Answer, Platform, body_bytes
from sentiment.reports.transports import MailError

log = logging.getLogger(__name__)
DEFAULT_MAX_WAIT = 5.0  # seconds a send run waits for the rate limit before leaving the rest for later


class ChatError(MailError):
    """A chat message was not posted. `throttle`: the platform's rate limit answered; wait that many
    seconds (not a failed attempt). `answer`: what the platform said, when it said something."""

    def __init__(self, message: str, *, retryable: bool = True, ambiguous: bool = False,
                 throttle: float | None = None, answer: Answer | None = None) -> None:
        super().__init__(message, retryable=retryable, ambiguous=ambiguous)
        self.throttle = throttle
        self.answer = answer


def _quiet_http_logs() -> None:
    for name in ("httpx", "httpcore"):  # their INFO lines carry the full URL, with the robot's token
        logging.getLogger(name).setLevel(logging.WARNING)


class ChatTransport:
    """One channel's robot. `time_scale` shrinks the platform's time windows (tests); `max_wait` is
    how long a send run may wait for the rate limit before leaving messages for a later run."""

    def __init__(self, channel: ChannelSettings, *, time_scale: float = 1.0, max_wait: float = DEFAULT_MAX_WAIT,
                 client: httpx.Client | None = None) -> None:
        self.channel = channel
        self.platform: Platform = PLATFORMS[channel.type].scaled(time_scale)
        self.max_wait = max_wait
        self._client = client
        self._own: httpx.Client | None = None
        _quiet_http_logs()

    @property
    def limits(self) -> tuple[Any, ...]:
        return self.platform.limits

    def __enter__(self) -> "ChatTransport":
        if self._client is None:
            self._own = httpx.Client(timeout=self.channel.timeout, follow_redirects=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._own is not None:
            self._own.close()
            self._own = None

    @property
    def where(self) -> str:
        return f"{self.channel.name} ({self.platform.name} {self.channel.safe_url})"

    def post(self, payload: Mapping[str, Any], on_data: Callable[[], None] = lambda: None) -> Answer:
        """Sign and post one message; returns the platform's success answer, raises ChatError otherwise."""
        client = self._client or self._own
        if client is None:
            raise RuntimeError("use the transport as a context manager")
        url, body = self.platform.sign(self.channel.url, self.channel.secret, payload, time.time())
        data = body_bytes(body)
        try:
            request = client.build_request("POST", url, content=data,
                                           headers={"Content-Type": "application/json; charset=utf-8"})
        except httpx.InvalidURL:
            raise ChatError(f"{self.where}: invalid webhook address (check [channels.{self.channel.name}] url)",
                            retryable=False) from None
        on_data()
        try:
            response = client.send(request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as exc:
            raise ChatError(f"{self.where}: cannot connect: {_describe(exc)}") from None
        except (httpx.TimeoutException, httpx.TransportError) as exc:  # sent, no answer: the group may have it
            raise ChatError(f"{self.where}: no answer after sending: {_describe(exc)}", ambiguous=True) from None
        return self._check(self.platform.answer(response.status_code, response.content))

    def _check(self, answer: Answer) -> Answer:
        if answer.ok:
            return answer
        text = f"{self.where}: {self.platform.label} answered {answer.describe()}"
        if answer.throttled:
            raise ChatError(f"{text} (rate limited; waiting {self.platform.penalty:g} s)",
                            throttle=self.platform.penalty, answer=answer)
        raise ChatError(text, retryable=answer.retryable, answer=answer)


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


def make_chat_transport(channel: ChannelSettings) -> ChatTransport:
    return ChatTransport(channel)
