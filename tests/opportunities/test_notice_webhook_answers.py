"""What a chat webhook answers besides yes: a 429 names how long to wait (Retry-After), and a
notice retried sooner only spends its attempts inside the window the chat asked for."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from missions.models import OutboxMessage
from missions.outbox import deliver_pending
from opportunities.notices import notify

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 9, 14, 8, 30, tzinfo=UTC)


@pytest.fixture
def chat(settings, monkeypatch, clock):
    """A chat webhook answering what the test gives it, in turn, the last one repeated."""
    settings.OPS_WEBHOOK_URL = "https://hooks.example.com/T000/B000"
    answers, sent = [], []

    def answer(request):
        sent.append(request)
        return answers.pop(0) if len(answers) > 1 else answers[0]

    client = httpx.Client(transport=httpx.MockTransport(answer))
    monkeypatch.setattr("opportunities.notices.send_webhook.__defaults__", (client,))
    clock.freeze(T0)
    return answers, sent


def test_a_chat_answering_429_is_tried_again_after_its_retry_after_not_within_it(chat, clock):
    """Slack (and Discord) answer a burst with 429 and Retry-After: the backoff's 30 s, 1, 2
    and 4 min all fell inside a 15-minute window, and the alert was given up, undelivered."""
    answers, sent = chat
    answers += [httpx.Response(429, headers={"Retry-After": "900"}), httpx.Response(200)]
    notify("alert", "Exports stall", "Three nights in a row.", dedupe_key="alert:exports")

    deliver_pending()
    hook = OutboxMessage.objects.get(channel="webhook")
    assert (hook.status, hook.attempts) == ("pending", 1)
    assert hook.next_attempt_at == T0 + timedelta(seconds=900)
    assert hook.last_error == "the webhook answered 429 Too Many Requests (retry in 900 s)"

    clock.freeze(T0 + timedelta(seconds=899))
    deliver_pending()
    assert len(sent) == 1
    clock.freeze(T0 + timedelta(seconds=900))
    deliver_pending()
    assert OutboxMessage.objects.get(channel="webhook").status == "delivered"
