"""What a channel holds as a credential is masked wherever its words are kept: a session token
Bluesky hands out at runtime, and the generic webhook's URL (its key, as a chat webhook's is)."""

import httpx
import pytest
from django.db.models.functions import Now

from missions.models import OutboxMessage
from missions.outbox import record_failure
from opportunities.channels import bluesky
from opportunities.channels.base import PostRejected
from tests.channel_fakes import BSKY_SESSION, answer
from tests.opportunities.test_channel_adapters import REQUEST

JWT = BSKY_SESSION.json()["accessJwt"]


def test_a_bluesky_answer_quoting_the_session_token_bare_keeps_no_token(network, bluesky_account):
    network.on("POST", "/xrpc/com.atproto.server.createSession", BSKY_SESSION)
    quoted = {"error": "InvalidToken", "message": f"token {JWT} is not valid for this repo"}
    network.on("POST", "/xrpc/com.atproto.repo.createRecord", answer(400, quoted))

    with pytest.raises(PostRejected) as rejected:
        bluesky.Channel().publish(REQUEST)

    said = str(rejected.value)
    assert "InvalidToken" in said and "[redacted]" in said
    assert JWT not in said and JWT.split(".")[2] not in said


@pytest.mark.django_db
def test_an_error_naming_the_post_webhooks_url_keeps_no_key(settings):
    settings.OPS_POST_WEBHOOK_URL = "https://hooks.example/posts/k-0123456789abcdef"
    settings.OPS_POST_WEBHOOK_SECRET = "whsec-0123456789abcdef"
    message = OutboxMessage.objects.create(
        channel="post_webhook",
        key="post:w:1",
        payload={"text": "hi"},
        attempts=1,
        last_attempt_at=Now(),
    )
    lost = httpx.ConnectError(f"cannot reach {settings.OPS_POST_WEBHOOK_URL}")

    record_failure(message, f"{type(lost).__name__}: {lost}")

    message.refresh_from_db()
    assert "k-0123456789abcdef" not in message.last_error
    assert "ConnectError: cannot reach [redacted]" in message.last_error
