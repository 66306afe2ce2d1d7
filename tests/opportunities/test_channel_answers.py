"""What a channel answers that is neither a post nor a refusal: a redirect is not a post made
(the post is retried with the outbox's backoff, the reason on its row, nothing says "Posted")."""

import pytest

from missions.models import OutboxMessage, Publication
from missions.outbox import deliver_pending
from missions.worker import handle_one_step
from opportunities.publishing import approve_channel
from opscore.models import Event
from tests.channel_fakes import answer
from tests.factories import make_step

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_a_webhook_answering_a_redirect_has_not_taken_the_post(network, webhook_account, code):
    network.on("POST", "/posts", answer(code, "", location="https://login.example/sso"))
    approve_channel("post_webhook", actor="operator:ann")
    make_step("post_tweet", payload={"text": "We shipped!", "channel": "post_webhook"})
    handle_one_step("w1")

    deliver_pending()

    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts) == ("pending", 1)
    assert (
        message.last_error == f"Unavailable: post_webhook answered {code}, a redirect: not followed"
    )
    assert not Publication.objects.filter(status="published").exists()
    assert not Event.objects.filter(kind="tweet.posted").exists()
