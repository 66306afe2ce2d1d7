"""A mail server may take a message for some recipients and refuse others (a mailbox full, a
name gone): smtplib returns the refused ones and Django's backend drops them, so the row read
'delivered' and the other recipient never heard of the alert, nor anyone of them. The refusal
is the attempt's reason, and the retry goes to those still owed it, not again to everyone."""

import logging

import pytest
from aiosmtpd.controller import Controller

from missions.outbox import deliver_one
from tests.opportunities.test_mail_delivery import IN_TIME, alert, due_now, smtp_at
from tests.processes import free_port

pytestmark = pytest.mark.django_db


class Picky:
    """Takes mail for everyone but `busy`, whose first RCPT it answers 452 (mailbox full)."""

    def __init__(self, busy: str):
        self.busy, self.refusals, self.envelopes = busy, 1, []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.busy and self.refusals:
            self.refusals -= 1
            return "452 4.2.2 Mailbox full"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(sorted(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@pytest.fixture
def picky(settings):
    quiet = logging.getLogger("mail.log")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    handler = Picky(busy="bob@example.com")
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    smtp_at(settings, controller.port)
    settings.EMAIL_BACKEND = IN_TIME
    settings.OPS_NOTIFY_EMAIL = ["ann@example.com", "bob@example.com"]
    yield handler
    controller.stop()
    quiet.setLevel(level)


def test_a_recipient_the_server_refused_is_a_failed_attempt_retried_for_that_recipient_only(
    picky,
):
    message = alert()

    deliver_one()

    message.refresh_from_db()
    assert picky.envelopes == [["ann@example.com"]]
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.last_error == (
        "the mail server refused bob@example.com (452 4.2.2 Mailbox full); "
        "the others have the message"
    )
    due_now(message)

    deliver_one()

    message.refresh_from_db()
    assert picky.envelopes == [["ann@example.com"], ["bob@example.com"]]
    assert message.status == "delivered"
