"""A delivery attempt by mail is over within EMAIL_TIMEOUT in all, whatever the server says:
smtplib's timeout bounds one read each, so a mail server that answers a byte at a time (each
in time), or whose greeting or EHLO reply never ends, held the outbox's deliverer, and every
notice and post behind it, as long as it liked. Real SMTP talkers on loopback."""

import socket
import threading
import time

import pytest

from missions.models import OutboxMessage
from missions.outbox import deliver_one
from opportunities.models import NoticeLane
from opportunities.notices import notify

pytestmark = pytest.mark.django_db
GREETING = b"220 mail.example.test ESMTP\r\n"
ENDLESS_EHLO = b"250-mail.example.test\r\n" * 30  # 690 bytes, one every 20 ms: 14 s


class TricklingSMTP:
    """Greets, then answers EHLO one byte at a time (each read arrives in time), for 14 s."""

    def __init__(self, answer: bytes):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.answer, self.sent = answer, 0
        threading.Thread(target=self._talk, daemon=True).start()

    @property
    def port(self) -> int:
        return self.listener.getsockname()[1]

    @property
    def cut_off(self) -> bool:
        return self.sent < len(self.answer)

    def _talk(self):
        conn, _ = self.listener.accept()
        with conn:
            try:
                conn.sendall(GREETING)
                conn.recv(1024)  # EHLO
                for start in range(len(self.answer)):
                    time.sleep(0.02)  # the server's pace, not something a test measures
                    conn.sendall(self.answer[start : start + 1])
                    self.sent += 1
            except OSError:  # the client hung up
                return

    def close(self):
        self.listener.close()


@pytest.fixture
def trickling_smtp(settings):
    server = TricklingSMTP(ENDLESS_EHLO)
    settings.EMAIL_BACKEND = "opscore.mail.DeadlineEmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_TIMEOUT = 0.5
    settings.OPS_NOTIFY_EMAIL = ["ops@example.com"]
    yield server
    server.close()


def test_a_mail_server_trickling_its_replies_costs_one_attempt_cut_off_at_the_timeout(
    trickling_smtp,
):
    notify(NoticeLane.ALERT, "Disk fills in 2 hours", "Volume /data is 97% full.", dedupe_key="d")

    assert deliver_one() is True

    message = OutboxMessage.objects.get(channel="email")
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.last_error == (
        "SMTPServerDisconnected: the mail server did not finish within 0.5 s"
    )
    assert trickling_smtp.cut_off
