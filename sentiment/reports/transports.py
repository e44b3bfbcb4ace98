"""Mail transports: SMTP (none/starttls/ssl, optional AUTH) and file (.eml files under a directory).

A transport is opened once per send run and delivers raw RFC 5322 bytes. It
calls `on_data()` right before the message data is handed over: from then on
a failure is *ambiguous* (the server may have accepted the message), which the
mailer records so that a crash never leads to a blind resend.
"""
from __future__ import annotations

import os
import smtplib
import socket
import ssl
from email.utils import parseaddr
from pathlib import Path
from typing import Callable, Sequence

from sentiment.config import MailSettings, address_problem
from sentiment.errors import SentimentError


class MailError(SentimentError):
    """Mail cannot be delivered: `retryable` says whether trying later may help."""

    def __init__(self, message: str, *, retryable: bool = True, ambiguous: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.ambiguous = ambiguous  # the server may have accepted the message


class FileTransport:
    """Delivers by writing `<name>.eml` into a directory; idempotent (an existing file is kept)."""

    idempotent = True

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def __enter__(self) -> "FileTransport":
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MailError(f"cannot create mail directory {self.directory}: {exc.strerror}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, sender: str, recipients: Sequence[str], data: bytes, name: str,
             on_data: Callable[[], None]) -> str:
        target = self.directory / f"{name}.eml"
        if target.exists():
            return f"already delivered to {target}"
        on_data()
        tmp = target.with_suffix(".tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, target)
        except OSError as exc:
            raise MailError(f"cannot write {target}: {exc.strerror}") from None
        return str(target)


class SmtpTransport:
    """One SMTP session per send run; `security` none/starttls/ssl; AUTH when a username is set."""

    idempotent = False

    def __init__(self, mail: MailSettings, ssl_context: ssl.SSLContext | None = None) -> None:
        if mail.username and not mail.password:
            raise MailError(f"[mail] username {mail.username!r} is set but SENTIMENT_SMTP_PASSWORD is empty",
                            retryable=False)
        self.mail = mail
        self.context = ssl_context
        self.smtp: smtplib.SMTP | None = None
        self.broken: MailError | None = None  # a failed connect is not retried within one run

    def _connect(self) -> smtplib.SMTP:
        mail = self.mail
        context = self.context or ssl.create_default_context()
        where = f"{mail.host}:{mail.port}"
        try:
            if mail.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(mail.host, mail.port, timeout=mail.timeout, context=context)
            else:
                smtp = smtplib.SMTP(mail.host, mail.port, timeout=mail.timeout)
            try:
                smtp.ehlo()
                if mail.security == "starttls":
                    if not smtp.has_extn("starttls"):
                        raise MailError(f"SMTP server {where} does not offer STARTTLS ([mail] security)")
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if mail.username:
                    smtp.login(mail.username, mail.password or "")
            except BaseException:
                smtp.close()
                raise
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(f"SMTP login as {mail.username!r} at {where} failed: {exc.smtp_code} "
                            f"{_text(exc.smtp_error)}") from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise MailError(f"cannot connect to SMTP server {where}: {_describe(exc)}") from None
        return smtp

    def __enter__(self) -> "SmtpTransport":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None

    def send(self, sender: str, recipients: Sequence[str], data: bytes, name: str,
             on_data: Callable[[], None]) -> str:
        if self.broken is not None:
            raise self.broken
        _check_addresses(sender, recipients)
        if self.smtp is None:
            try:
                self.smtp = self._connect()
            except MailError as exc:
                self.broken = exc
                raise
        smtp = self.smtp
        envelope_from = parseaddr(sender)[1]
        try:
            code, resp = smtp.mail(envelope_from)
            if code != 250:
                smtp.rset()
                raise MailError(f"sender {envelope_from} refused: {code} {_text(resp)}", retryable=code < 500)
            refused = {}
            for rcpt in recipients:
                code, resp = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    refused[rcpt] = f"{code} {_text(resp)}"
            if len(refused) == len(recipients):
                smtp.rset()
                raise MailError(f"all recipients refused: {refused}",
                                retryable=any(v.startswith("4") for v in refused.values()))
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise MailError(f"SMTP error before sending data: {_describe(exc)}") from None
        except BaseException:  # unforeseen: the session state is unknown, the next message starts afresh
            self._drop()
            raise
        on_data()
        try:
            code, resp = smtp.data(data)
        except smtplib.SMTPResponseException as exc:  # a reply: the server did not take the message
            raise MailError(f"message refused: {exc.smtp_code} {_text(exc.smtp_error)}",
                            retryable=exc.smtp_code < 500) from None
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise MailError(f"connection lost while sending data: {_describe(exc)}", ambiguous=True) from None
        except BaseException:
            self._drop()
            raise
        if code != 250:
            raise MailError(f"message refused: {code} {_text(resp)}", retryable=code < 500)
        note = f"{code} {_text(resp)}"
        return note + (f"; refused: {refused}" if refused else "")

    def _drop(self) -> None:
        if self.smtp is not None:
            self.smtp.close()
            self.smtp = None


def _check_addresses(sender: str, recipients: Sequence[str]) -> None:
    """SMTP commands are ASCII: an address it cannot carry fails this message (not the run), before MAIL."""
    problem = address_problem(sender)
    if problem:
        raise MailError(f"sender {problem}; check [mail] from", retryable=False)
    for rcpt in recipients:
        problem = address_problem(rcpt)
        if problem:
            raise MailError(f"recipient {problem}; SMTP cannot deliver to it, check [audiences]", retryable=False)
    if not recipients:
        raise MailError("no recipients", retryable=False)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def make_transport(mail: MailSettings, ssl_context: ssl.SSLContext | None = None) -> FileTransport | SmtpTransport:
    """The configured transport: `file` writes into <outbox_dir>/sent/, `smtp` talks to the server."""
    if mail.transport == "smtp":
        return SmtpTransport(mail, ssl_context)
    return FileTransport(Path(mail.outbox_dir) / "sent")
