"""An SMTP sign-in that fails keeps no trace of the password: smtplib's error carries the
server's words, and a server may repeat what it was sent — the credentials, base64'd, which no
masking of the password's own text recognises. A real SMTP conversation on loopback."""

import base64
import socket
import threading

import pytest

from missions.models import OutboxMessage
from missions.outbox import deliver_one
from opportunities.models import NoticeLane
from opportunities.notices import notify

pytestmark = pytest.mark.django_db
PASSWORD = "smtp-password-0123456789"


def echo_the_sign_in(server: socket.socket, mechanism: str) -> None:
    """Advertise one AUTH mechanism and refuse each sign-in by repeating what came last."""
    while True:
        try:
            peer, _ = server.accept()
        except OSError:
            return
        with peer, peer.makefile("rwb") as wire:
            wire.write(b"220 fake ESMTP\r\n")
            wire.flush()
            for line in wire:
                said = line.strip()
                if said.upper().startswith(b"EHLO"):
                    answer = f"250-fake\r\n250 AUTH {mechanism}".encode()
                elif said.upper().startswith(b"AUTH LOGIN"):
                    answer = b"334 UGFzc3dvcmQ6"
                elif said.upper().startswith(b"QUIT"):
                    wire.write(b"221 bye\r\n")
                    wire.flush()
                    break
                else:
                    answer = b"535 5.7.8 authentication failed for " + said
                wire.write(answer + b"\r\n")
                wire.flush()


@pytest.fixture
def echoing_smtp(settings, request):
    server = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=echo_the_sign_in, args=(server, request.param), daemon=True).start()
    settings.EMAIL_BACKEND = "opscore.mail.DeadlineEmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.getsockname()[1]
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "opscore", PASSWORD
    settings.EMAIL_TIMEOUT = 5
    settings.OPS_NOTIFY_EMAIL = ["ops@example.com"]
    yield
    server.close()


@pytest.mark.parametrize("echoing_smtp", ["PLAIN", "LOGIN"], indirect=True)
def test_a_refused_sign_in_keeps_no_trace_of_the_password(echoing_smtp):
    notify(NoticeLane.ALERT, "Disk full", "db-1 is at 98%", dedupe_key="disk")

    assert deliver_one() is True

    message = OutboxMessage.objects.get(channel="email")
    encodings = [PASSWORD.encode(), b"\0opscore\0" + PASSWORD.encode()]
    secrets = [PASSWORD, *(base64.b64encode(value).decode() for value in encodings)]
    assert message.status == "pending" and "535" in message.last_error
    assert not [secret for secret in secrets if secret in message.last_error]


@pytest.mark.parametrize(
    ("host", "tls", "ssl", "warned"),
    [
        ("mail.example.com", False, False, True),
        ("mail.example.com", True, False, False),
        ("mail.example.com", False, True, False),
        ("localhost", False, False, False),
    ],
    ids=["smtp-in-clear", "submission", "smtps", "on-this-machine"],
)
def test_an_smtp_password_sent_in_clear_is_named_at_startup(settings, host, tls, ssl, warned):
    """EMAIL_URL=smtp://user:pass@mail.example.com signs in with no TLS: the password crossed
    the network in clear on every notice, and `manage.py check`, which names a channel's plain
    http endpoint, said nothing."""
    from opportunities.checks import check_channels

    settings.EMAIL_BACKEND = "opscore.mail.DeadlineEmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = (
        host,
        "u",
        PASSWORD,
    )
    settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL = tls, ssl

    said = [w for w in check_channels(None) if w.id == "opportunities.W003"]

    assert [w.msg for w in said] == (
        [
            "EMAIL_URL signs in to mail.example.com without TLS: the password crosses the network "
            "in clear."
        ]
        if warned
        else []
    )
    assert all(PASSWORD not in w.msg + w.hint for w in said)
