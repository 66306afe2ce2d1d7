"""A conversation asked for through the API names who asked, as every other API write does:
an `actor` string kept as `api:<name>` (`api:operator` when none is given), and an actor of
another JSON kind refused with nothing queued."""

import pytest

from roundtable.models import Conversation

pytestmark = pytest.mark.django_db
BODY = {"format": "debate", "participants": ["devops", "security"], "topic": "Fridays"}
TOKEN = "tok-0123456789" * 3


def ask(client, body):
    return client.post(
        "/api/ops/conversations",
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


@pytest.fixture(autouse=True)
def api_token(settings):
    settings.OPS_API_TOKEN = TOKEN


def test_it_keeps_the_name_of_the_caller_who_asked(crew, client):
    answer = ask(client, BODY | {"actor": "ann"})

    assert answer.status_code == 201
    assert Conversation.objects.get(pk=answer.json()["id"]).requested_by == "api:ann"


def test_a_caller_who_gives_no_name_is_the_operator(crew, client):
    answer = ask(client, BODY)

    assert Conversation.objects.get(pk=answer.json()["id"]).requested_by == "api:operator"


def test_an_actor_that_is_not_a_string_is_refused_and_nothing_is_queued(crew, client):
    answer = ask(client, BODY | {"actor": 7})

    assert answer.status_code == 400
    assert answer.json()["errors"] == {"actor": ["expected a string"]}
    assert not Conversation.objects.exists()
