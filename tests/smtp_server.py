"""A real SMTP server on loopback for tests: aiosmtpd's Controller on 127.0.0.1, ephemeral port.

Variants: plain, AUTH (LOGIN/PLAIN against a user table), STARTTLS or implicit
TLS with a certificate from a trustme CA the test generates.

    with SmtpServer(auth={"bot": "s3cret"}) as server:
        ...send to server.host, server.port...
        assert len(server.messages) == 1
"""
from __future__ import annotations

import email
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"


def free_port() -> int:
    """An ephemeral port that nothing listens on (yet)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: str | None

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=default)  # type: ignore[return-value]


@dataclass
class Handler:
    messages: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # recipients answered with 550

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      envelope.original_content or envelope.content, login))
        return "250 2.0.0 accepted"


class Certificates:
    """A throwaway CA; `server_context()` for the server, `client_context()` trusts it."""

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self.cert = self.ca.issue_cert(HOST, "localhost")

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.cert.configure_cert(ctx)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        self.ca.configure_trust(ctx)
        return ctx


class SmtpServer:
    """Start/stop a Controller; `tls` = None, "starttls" or "ssl"; `auth` = {user: password} requires AUTH."""

    def __init__(self, *, port: int | None = None, tls: str | None = None, certs: Certificates | None = None,
                 auth: dict[str, str] | None = None) -> None:
        self.host = HOST
        self.port = port or free_port()
        self.handler = Handler()
        self.auth = auth
        kwargs: dict[str, Any] = {}
        if tls and certs is None:
            raise ValueError("TLS needs certificates")
        if tls == "starttls":
            kwargs.update(tls_context=certs.server_context(), require_starttls=True)  # type: ignore[union-attr]
        elif tls == "ssl":
            kwargs.update(ssl_context=certs.server_context())  # type: ignore[union-attr]
        if auth is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=tls is not None)
        self.controller = Controller(self.handler, hostname=HOST, port=self.port, **kwargs)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = (isinstance(data, LoginPassword) and self.auth is not None
              and self.auth.get(data.login.decode()) == data.password.decode())
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    def start(self) -> "SmtpServer":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> "SmtpServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
