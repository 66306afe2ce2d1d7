"""Notices reach people by mail through the outbox's own loop: a stalled SMTP server costs one
timed-out attempt, recorded and retried with backoff, then a recorded final failure, and never
holds a step worker; each message carries a valid Message-ID that a retry reuses and a subject
that says what it is. Real SMTP servers on loopback: one that accepts and never answers, and
aiosmtpd."""

import contextlib
import json
import logging
import signal
import socket
import ssl
import subprocess
import sys
import threading
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.db import connection

from console.accountability import accountability_digest
from missions.models import OutboxMessage
from missions.outbox import deliver_one, deliver_pending
from missions.worker import WorkerSession
from opportunities.models import NoticeLane
from opportunities.notices import notify
from opscore.db import Channel, db_now
from opscore.http_deadline import is_address
from opscore.models import Event
from tests.factories import make_step
from tests.processes import ROOT, child_environment, free_port, wait_for

pytestmark = pytest.mark.django_db
IN_TIME = "opscore.mail.DeadlineEmailBackend"  # its connect looks names up within EMAIL_TIMEOUT


@pytest.fixture
def stalled_smtp(settings):
    """A server that accepts the connection (the kernel completes it) and never says a word."""
    server = socket.create_server(("127.0.0.1", 0), backlog=16)
    smtp_at(settings, server.getsockname()[1])
    yield server
    server.close()


class Inbox:
    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    """aiosmtpd's thread logs each session's end at INFO ('mail.log'), sometimes after pytest
    has closed the stream its handler writes to: a '--- Logging error ---' traceback in the
    run's output for a test that passed. Its warnings still show."""
    inbox, quiet = Inbox(), logging.getLogger("mail.log")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()
    quiet.setLevel(level)


def smtp_at(settings, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_TIMEOUT = 0.3
    settings.OPS_NOTIFY_EMAIL = ["ops@example.com"]


def alert(title="Disk fills in 2 hours", key="alert:disk"):
    notify(NoticeLane.ALERT, title, "Volume /data is 97% full.", dedupe_key=key)
    return OutboxMessage.objects.get(channel="email", key__contains=":email")


def backoff_of(message) -> float:
    return (message.next_attempt_at - message.last_attempt_at).total_seconds()


def due_now(message) -> None:
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=db_now())


def test_a_stalled_smtp_server_costs_one_timed_out_attempt_kept_for_a_retry(stalled_smtp):
    message = alert()

    assert deliver_one() is True

    message.refresh_from_db()
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.last_error.endswith("timed out")  # smtplib: SMTPServerDisconnected
    assert backoff_of(message) == 30
    assert deliver_one() is False  # backing off: nothing is due


def test_retries_back_off_then_the_last_failure_is_recorded_with_its_reason(stalled_smtp):
    message = alert()
    backoffs = []

    for _ in range(5):
        due_now(message)
        deliver_one()
        message.refresh_from_db()
        backoffs.append(backoff_of(message))

    assert backoffs[:4] == [30, 60, 120, 240]
    assert (message.status, message.attempts) == ("failed", 5)
    assert message.last_error.endswith("timed out")
    event = Event.objects.get(kind="outbox.failed")
    assert "alert" in event.tags
    assert event.summary.startswith("gave up after 5 attempts: SMTPServerDisconnected")
    due_now(message)
    assert deliver_one() is False  # a failed row is never tried again


def test_the_step_worker_never_delivers_mail(stalled_smtp):
    message = alert()
    step = make_step("noop")

    report = WorkerSession("w-mail", seconds=5, idle_poll=0.1).run()

    message.refresh_from_db()
    step.refresh_from_db()
    assert report.steps == 1 and step.status == "succeeded"  # it ran, then idled
    assert (message.attempts, message.status) == (0, "pending")


def test_a_retry_sends_the_message_id_chosen_when_the_notice_was_written(
    stalled_smtp, smtp_server, settings
):
    message = alert()
    deliver_one()  # times out
    settings.EMAIL_PORT = smtp_server.port  # the mail server is back
    due_now(message)

    deliver_one()

    message.refresh_from_db()
    (received,) = smtp_server.received
    assert message.status == "delivered" and message.attempts == 2
    assert received["Message-ID"] == message.payload["message_id"]
    assert received["Message-ID"].defects == ()  # RFC 5322 msg-id, as Python's parser reads it
    assert received["Subject"] == "[Opscore] Alert: Disk fills in 2 hours"
    assert received["To"] == "ops@example.com"


def test_every_notice_has_its_own_message_id(settings):
    settings.OPS_NOTIFY_EMAIL = ["ops@example.com"]
    notify(NoticeLane.ALERT, "one", "b", dedupe_key="k1")
    notify(NoticeLane.ALERT, "two", "b", dedupe_key="k2")

    ids = [m.payload["message_id"] for m in OutboxMessage.objects.filter(channel="email")]
    assert len(set(ids)) == 2


def test_the_accountability_digest_says_what_it_is(settings):
    settings.OPS_NOTIFY_EMAIL = ["ops@example.com"]
    accountability_digest(db_now() - timedelta(days=1), "2026-12-03")

    deliver_pending()

    (sent,) = mail.outbox
    assert sent.subject.startswith("[Opscore] Daily accountability digest: Accountability 2026-12")
    assert "ideas" not in sent.subject.lower()


def test_an_smtp_url_without_a_timeout_still_gets_one_and_looks_names_up_within_it():
    """The settings a deployment gets from EMAIL_URL alone (no ?timeout=)."""
    code = "import django; django.setup(); from django.conf import settings as s; "
    code += "print(s.EMAIL_TIMEOUT, s.EMAIL_HOST, s.EMAIL_BACKEND)"
    env = child_environment(60, EMAIL_URL="smtp://mail.example.com:25", EMAIL_TIMEOUT="")
    env["DJANGO_SETTINGS_MODULE"] = "opscore.settings"

    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )

    assert out.stdout.split() == ["10", "mail.example.com", IN_TIME], out.stderr


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["smtp", "smtp-over-tls"])
def test_a_mail_server_whose_name_is_never_looked_up_costs_one_timed_out_attempt(
    hung_resolver, settings, implicit_tls
):
    """Django's own backend waited on the resolver as long as it liked (EMAIL_TIMEOUT bound
    the connect and the replies, not the lookup): the deliverer, and every notice behind it."""
    smtp_at(settings, 25)
    settings.EMAIL_BACKEND, settings.EMAIL_HOST = IN_TIME, "mail.hung.test"
    settings.EMAIL_USE_SSL = implicit_tls
    message = alert()

    assert deliver_one() is True

    message.refresh_from_db()
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.last_error == "TimeoutError: mail.hung.test was not looked up within 0.3 s"


def test_a_mail_server_named_by_its_host_name_gets_the_mail(monkeypatch, smtp_server, settings):
    resolving("mail.example.test", monkeypatch)
    smtp_at(settings, smtp_server.port)
    settings.EMAIL_BACKEND, settings.EMAIL_HOST = IN_TIME, "mail.example.test"
    message = alert()

    deliver_one()

    message.refresh_from_db()
    assert message.status == "delivered"
    assert smtp_server.received[0]["Subject"] == "[Opscore] Alert: Disk fills in 2 hours"


def test_tls_still_checks_the_servers_name_not_the_address_it_was_reached_at(monkeypatch, settings):
    """The server records the name the client's TLS hello asks for (SNI, the name the
    certificate is checked against), then ends the handshake: it has no certificate."""
    resolving("mail.example.test", monkeypatch)
    listener, asked_for = socket.create_server(("127.0.0.1", 0)), []
    threading.Thread(target=tls_hello_names, args=(listener, asked_for), daemon=True).start()
    smtp_at(settings, listener.getsockname()[1])
    settings.EMAIL_BACKEND, settings.EMAIL_HOST = IN_TIME, "mail.example.test"
    settings.EMAIL_USE_SSL = True
    message = alert()

    deliver_one()

    listener.close()
    message.refresh_from_db()
    assert asked_for == ["mail.example.test"]
    assert message.status == "pending" and message.last_error.startswith("SSLError")


def resolving(name: str, monkeypatch) -> None:
    """`name` looked up as 127.0.0.1 (this test's servers listen there), an address as itself
    (no resolver asked), any other name unknown."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == name:
            host = "127.0.0.1"
        elif not is_address(host):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def tls_hello_names(listener: socket.socket, names: list) -> None:
    connection, _ = listener.accept()
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.sni_callback = lambda tls, name, context: names.append(name)
    with connection, contextlib.suppress(OSError):  # no certificate: the handshake ends
        server.wrap_socket(connection, server_side=True)


def deliverer_listening() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE query = %s AND datname = current_database()",
            [f"LISTEN {Channel.OUTBOX}"],
        )
        return cursor.fetchone()[0] == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_deliverer_process_sends_a_notice_and_stops_on_sigint(smtp_server, settings):
    settings.OPS_NOTIFY_EMAIL = ["ops@example.com"]
    env = child_environment(
        60, EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}", OPS_NOTIFY_EMAIL="ops@example.com"
    )
    deliverer = subprocess.Popen(
        [sys.executable, "manage.py", "deliver", "--idle-poll", "120", "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(deliverer_listening)
        message = alert()  # the NOTIFY wakes it: the 120 s idle poll is never waited out
        wait_for(lambda: OutboxMessage.objects.get(pk=message.pk).status == "delivered")
    finally:
        deliverer.send_signal(signal.SIGINT)
        out, err = deliverer.communicate(timeout=60)

    assert deliverer.returncode == 0, err
    assert json.loads(out) == {"delivered": 1}
    assert smtp_server.received[0]["Subject"] == "[Opscore] Alert: Disk fills in 2 hours"


def test_the_loops_say_a_sentence_on_stopping_and_json_only_when_asked(monkeypatch):
    """Under `make run` their last words land in the operator's terminal: a sentence, not a
    raw JSON blob; scripts ask for --json."""
    from io import StringIO

    from django.core.management import call_command

    from missions.management.commands import work
    from missions.outbox import Deliverer

    monkeypatch.setattr(Deliverer, "run", lambda self: 3)
    monkeypatch.setattr(work, "run_slot", lambda slot, idle_poll: 5)
    said = {}
    for name, args in {"deliver": [], "work": ["--slot", "1"]}.items():
        for form in ("text", "json"):
            out = StringIO()
            call_command(name, *args, *(["--json"] if form == "json" else []), stdout=out)
            said[name, form] = out.getvalue().strip()

    assert said["deliver", "text"] == "deliver: stopped after delivering 3 message(s)"
    assert json.loads(said["deliver", "json"]) == {"delivered": 3}
    assert said["work", "text"] == "worker slot 1: stopped after 5 step(s)"
    assert json.loads(said["work", "json"]) == {"slot": 1, "steps": 5}


@pytest.mark.django_db
def test_the_deliverer_counts_what_it_delivered_not_what_it_tried(monkeypatch):
    """'stopped after delivering N message(s)' is read as N messages out: a send that failed
    (kept on its row for a retry) is not one of them."""
    import threading

    from missions.outbox import CHANNELS, Deliverer

    stop = threading.Event()

    def refused(message):
        raise ConnectionError("the receiver is down")

    def accepted(message):
        stop.set()  # the second message ends the run once it is delivered
        return "ok-1"

    monkeypatch.setitem(CHANNELS, "down", refused)
    monkeypatch.setitem(CHANNELS, "up", accepted)
    failing = OutboxMessage.objects.create(key="first", channel="down", payload={})
    OutboxMessage.objects.create(key="second", channel="up", payload={})

    assert Deliverer(stop, idle_poll=0).run() == 1
    failing.refresh_from_db()
    assert failing.status == "pending" and "receiver is down" in failing.last_error
