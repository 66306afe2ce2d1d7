"""Outbound mail whose SMTP connection is made within EMAIL_TIMEOUT, name lookup included.
Django's SMTP backend leaves the connect to smtplib, which hands the host name to
socket.create_connection: its lookup takes no timeout (only the resolver's own retries end it,
or never), so a resolver that stopped answering held the outbox's deliverer, and every notice
behind it, as long as it liked; and each address then got the whole timeout again. Here the
name is looked up through opscore.http_deadline.looked_up (a thread of its own, capped lookups
at once) and the addresses are tried with what is left. smtplib keeps the name it was given
for everything after the connect: the greeting, STARTTLS's and implicit TLS's certificate
check (server_hostname) and the errors it raises.

smtplib's timeout bounds one read or write each: a server answering a byte at a time (each in
time), or whose EHLO reply never ends, held the deliverer for ever. So the whole conversation
has one deadline too, EMAIL_TIMEOUT from the connect: then its socket is shut down (from a
timer: a read under way is ended, TLS or not) and the error says the deadline passed."""

import contextlib
import smtplib
import socket
import threading
import time

from django.core.mail.backends.smtp import EmailBackend

from opscore.http_deadline import is_address, looked_up


class DeadlineEmailBackend(EmailBackend):
    """Django's SMTP backend (EMAIL_URL's smtp:// and submission://, opscore.settings), its
    connection made by `connected`."""

    @property
    def connection_class(self):
        return DeadlineSMTPSSL if self.use_ssl else DeadlineSMTP


class DeadlineSMTP(smtplib.SMTP):
    """smtplib's SMTP, its socket from `connected`: `_get_socket` is the hook smtplib's own
    SMTP_SSL and LMTP override to make theirs."""

    overdue, timer = False, None

    def _get_socket(self, host, port, timeout):
        if isinstance(timeout, int | float):
            self.timer = threading.Timer(timeout, self._cut_off, args=(timeout,))
            self.timer.daemon = True
            self.timer.start()
        return connected(host, port, timeout, self.source_address)

    def _cut_off(self, timeout) -> None:
        """The deadline passed: whatever is under way ends (the bare socket's shutdown: an
        SSLSocket's own would drop its TLS state under the reading thread)."""
        self.overdue = f"the mail server did not finish within {timeout:g} s"
        with contextlib.suppress(OSError, TypeError):
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)

    def _said_why(self, error: smtplib.SMTPServerDisconnected):
        return smtplib.SMTPServerDisconnected(self.overdue) if self.overdue else error

    def getreply(self):
        if self.overdue:  # the timer fired before the socket was ours to shut: no read now
            self.close()
            raise smtplib.SMTPServerDisconnected(self.overdue)
        try:
            return super().getreply()
        except smtplib.SMTPServerDisconnected as error:
            raise self._said_why(error) from None

    def send(self, s):
        try:
            return super().send(s)
        except smtplib.SMTPServerDisconnected as error:
            raise self._said_why(error) from None

    def close(self):
        if self.timer is not None:
            self.timer.cancel()
        super().close()

    def login(self, user, password, *, initial_response_ok=True):
        """A refused sign-in keeps its code, not the server's words: a server may repeat the
        AUTH line it refused, the credentials base64'd, which no masking of the password's
        own text recognises, and the outbox keeps the error on its row and alert."""
        try:
            return super().login(user, password, initial_response_ok=initial_response_ok)
        except smtplib.SMTPAuthenticationError as refused:
            said = b"the mail server refused the sign-in (its words are not kept)"
            raise smtplib.SMTPAuthenticationError(refused.smtp_code, said) from None

    def sendmail(self, from_addr, to_addrs, msg, mail_options=(), rcpt_options=()):
        """Every recipient taken, or SomeRecipientsRefused: smtplib returns the ones a server
        refused while it took the message for the others, and Django's backend drops them."""
        refused = super().sendmail(from_addr, to_addrs, msg, mail_options, rcpt_options)
        if refused:
            raise SomeRecipientsRefused(refused)
        return refused


class SomeRecipientsRefused(smtplib.SMTPException):
    """The message went to some recipients; `refused` maps each other one to the server's
    (code, words)."""

    def __init__(self, refused: dict):
        super().__init__(f"{len(refused)} recipient(s) refused")
        self.refused = refused


class DeadlineSMTPSSL(smtplib.SMTP_SSL, DeadlineSMTP):
    """Implicit TLS: SMTP_SSL wraps the socket DeadlineSMTP made (next in the MRO) in TLS for
    the host's name."""


def connected(host: str, port: int, timeout, source_address=None) -> socket.socket:
    """A TCP connection to `host` within `timeout` seconds, lookup and connects together. An
    address, or no timeout given (smtplib's default), connects as socket.create_connection
    does. A lookup not answered in time raises TimeoutError saying so; past the lookups at
    once, http_deadline.TooManyLookups (an OSError, like any failed connect)."""
    if is_address(host) or not isinstance(timeout, int | float):
        return socket.create_connection((host, port), timeout, source_address)
    deadline = time.monotonic() + timeout
    try:
        addresses = looked_up(host, port, timeout)
    except TimeoutError:
        raise TimeoutError(f"{host} was not looked up within {timeout:g} s") from None
    failed: OSError = OSError(f"{host} has no address")
    for address in addresses:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{host} did not answer within {timeout:g} s")
        try:
            return socket.create_connection((address, port), left, source_address)
        except OSError as error:
            failed = error
    raise failed
