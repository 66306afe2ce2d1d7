"""Who put a proposal in through `POST /api/ops/proposals`: the identity that authenticated
the request (a signed-in operator, else the API token, named by a digest of it, never the
secret), on the row and on its event. The body cannot name another: it has no such field."""

import hashlib
import json

import pytest

from missions.models import Proposal
from opscore.models import Event
from tests.factories import OperatorFactory

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"
TOKEN_ID = "api:token:" + hashlib.sha256(TOKEN.encode()).hexdigest()[:16]


@pytest.fixture
def post(client, agent, settings):
    settings.OPS_API_TOKEN = TOKEN

    def send(kind="deploy", **extra):
        body = {"agent": agent.slug, "title": "Ship it", "steps": [{"kind": kind}]} | extra
        headers = {"Authorization": f"Bearer {TOKEN}"}
        return client.post(
            "/api/ops/proposals", json.dumps(body), content_type="application/json", headers=headers
        )

    return send


def test_a_proposal_from_the_api_names_the_token_that_sent_it_on_the_row_and_event(post):
    answer = post()

    assert answer.status_code == 201
    proposal = Proposal.objects.get()
    assert proposal.proposed_by == TOKEN_ID
    event = Event.objects.get(kind="proposal.pending", proposal=proposal)
    assert event.payload["proposed_by"] == TOKEN_ID


def test_an_auto_approved_proposal_from_the_api_names_it_on_its_acceptance(post):
    post(kind="analyze")

    proposal = Proposal.objects.get()
    assert (proposal.status, proposal.proposed_by) == ("accepted", TOKEN_ID)
    event = Event.objects.get(kind="proposal.accepted", proposal=proposal)
    assert event.payload["proposed_by"] == TOKEN_ID


def test_a_signed_in_operator_posting_to_the_api_is_its_author(client, post):
    ann = OperatorFactory(username="ann")
    client.force_login(ann)

    post()

    proposal = Proposal.objects.get()
    assert (proposal.author, proposal.proposed_by) == ("ann", "operator:ann")


def test_the_body_cannot_name_another_proposer(post):
    answer = post(proposed_by="operator:boss", operator="boss")

    assert answer.status_code == 400
    assert not Proposal.objects.exists()
