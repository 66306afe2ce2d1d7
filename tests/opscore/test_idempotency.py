"""POST /api/ops/proposals is safe to retry: no error answer once the proposal is committed, and
an `Idempotency-Key` turns a retry into the first answer instead of a second proposal."""

import json
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.db.models.functions import Now
from django.test import Client

from missions.models import Proposal
from missions.tasks import sweep
from opscore.models import IdempotencyKey
from tests.factories import AgentFactory

TOKEN = "test-token-0123456789-0123456789"
BODY = {"agent": "devops", "title": "Check the backups", "steps": [{"kind": "analyze"}]}


@pytest.fixture(autouse=True)
def api_token(settings):
    settings.OPS_API_TOKEN = TOKEN


def post(client, body=BODY, key="key-1", raw=None):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(
        "/api/ops/proposals",
        data=raw or json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


@pytest.mark.django_db
def test_the_same_key_twice_makes_one_proposal_and_answers_the_same(client, agent):
    first, again = post(client), post(client)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and first.json()["status"] == "accepted"
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert Proposal.objects.count() == 1


@pytest.mark.django_db
def test_the_same_body_in_another_key_order_or_spacing_is_the_same_request(client, agent):
    first = post(client)
    reordered = post(client, raw=json.dumps(dict(reversed(BODY.items())), indent=2))

    assert reordered.status_code == 201 and reordered.json() == first.json()


@pytest.mark.django_db
def test_a_different_body_under_the_same_key_is_a_409(client, agent):
    post(client)

    conflict = post(client, BODY | {"title": "Something else"})

    assert conflict.status_code == 409
    assert "different request body" in conflict.json()["error"]
    assert Proposal.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_per_caller(client, agent, settings):
    post(client)
    settings.OPS_API_TOKEN = TOKEN.replace("test", "next")

    other = client.post(
        "/api/ops/proposals",
        data=json.dumps(BODY),
        content_type="application/json",
        headers={"Authorization": f"Bearer {settings.OPS_API_TOKEN}", "Idempotency-Key": "key-1"},
    )

    assert other.status_code == 201 and Proposal.objects.count() == 2


@pytest.mark.django_db
def test_a_refused_request_leaves_no_key_so_the_corrected_one_goes_through(client, agent):
    refused = post(client, BODY | {"agent": "ghost"})  # refused inside the intake's transaction

    corrected = post(client)

    assert refused.status_code == 400 and corrected.status_code == 201
    assert IdempotencyKey.objects.get().response_status == 201


@pytest.mark.django_db
def test_a_rejected_proposal_is_answered_the_same_way_again(client, agent):
    agent.enabled = False
    agent.save()

    first, again = post(client), post(client)

    assert first.json()["status"] == "rejected" and again.json() == first.json()
    assert Proposal.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "a b", "x" * 256, "é"])
def test_a_malformed_key_is_refused_with_a_json_error(client, agent, key):
    response = post(client, key=key)

    assert response.status_code == 400 and "Idempotency-Key" in response.json()["error"]
    assert not Proposal.objects.exists()


@pytest.mark.django_db
def test_a_key_older_than_a_day_is_taken_afresh_and_pruned_by_the_sweep(client, agent):
    post(client)
    IdempotencyKey.objects.update(created_at=Now() - timedelta(hours=25))

    reused = post(client, BODY | {"title": "Tomorrow's check"})
    IdempotencyKey.objects.update(created_at=Now() - timedelta(hours=25))

    assert reused.status_code == 201 and Proposal.objects.count() == 2
    assert sweep()["idempotency_keys_pruned"] == 1 and not IdempotencyKey.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_create_one_proposal():
    AgentFactory(slug="devops")

    def one(_):
        try:
            response = post(Client())
            return response.status_code, response.content
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(one, range(6)))

    assert len(set(answers)) == 1 and answers[0][0] == 201
    assert Proposal.objects.count() == 1


class DatabaseGoneAfterCommit:
    """The database connection dies right after a commit (the outage in issue 25): every later
    query fails. With `during_commit` the COMMIT itself reaches the server but its reply is lost,
    so the client cannot know the outcome."""

    def __init__(self, during_commit=False):
        self.during_commit = during_commit
        self.gone = False

    def commit(self, real_commit):
        def commit():
            real_commit()
            self.gone = True
            if self.during_commit:
                raise OperationalError("server closed the connection unexpectedly")

        return commit

    def __call__(self, execute, sql, params, many, context):
        if self.gone:
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)


@contextmanager
def outage(**kwargs):
    fault = DatabaseGoneAfterCommit(**kwargs)
    connection.commit = fault.commit(connection.commit)
    try:
        with connection.execute_wrapper(fault):
            yield
    finally:
        del connection.commit  # the instance's own attribute: the class's commit again


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("key", [None, "key-1"])
def test_a_committed_proposal_is_never_answered_with_an_error(client, key):
    AgentFactory(slug="devops")

    with outage():
        response = post(client, key=key)

    assert response.status_code == 201 and response.json()["status"] == "accepted"
    assert Proposal.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_commit_in_doubt_is_retried_safely_with_the_same_key(client):
    AgentFactory(slug="devops")
    with outage(during_commit=True):
        lost = post(client)
    connection.close()

    retried = post(client)

    assert lost.status_code == 503 and retried.status_code == 201
    assert retried["Idempotent-Replayed"] == "true"
    assert Proposal.objects.count() == 1
    assert retried.json()["id"] == Proposal.objects.get().id
