"""A far end's words are kept with its NUL and other control characters taken out: Postgres
stores no NUL, and an error body carrying one made the write of the reason fail, so the
deliverer died on the row (and again on every retry). The poll's case: test_engagement_polls."""

import pytest

from missions.models import OutboxMessage, Publication
from tests.channel_fakes import answer, deliver_one_webhook_post

pytestmark = pytest.mark.django_db
BODY = "upstream\x00 down\x07"


def test_an_error_body_with_a_nul_is_kept_without_it_and_retried(network, webhook_account):
    network.on("POST", "/posts", answer(503, BODY))
    deliver_one_webhook_post()

    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.last_error == "Unavailable: post_webhook answered 503: upstream down"


def test_a_refusal_with_a_nul_is_kept_without_it(network, webhook_account):
    network.on("POST", "/posts", answer(422, BODY))
    deliver_one_webhook_post()

    publication = Publication.objects.get()
    assert publication.status == "refused"
    assert publication.reason == "post_webhook answered 422: upstream down"
