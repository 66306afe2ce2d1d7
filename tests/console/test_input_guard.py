"""A NUL in an address, a query or a form field is a 400 naming where it was, before any view
runs, and nothing is written: forms reach PostgreSQL by roads the JSON boundary never sees."""

import pytest

from missions.models import Proposal
from opscore.models import Event
from tests.factories import make_step, propose

pytestmark = pytest.mark.django_db
TOKEN = "guard-token-0123456789-0123456789"


@pytest.mark.parametrize(
    "form",
    [
        {"decision": "approve", "digest": "ab\x00cd"},
        {"decision": "reject", "reason": "no\x00thanks"},
    ],
)
def test_an_approval_card_sending_a_nul_is_a_400_and_decides_nothing(admin_client, agent, form):
    pending = propose(agent, "post_tweet")

    answer = admin_client.post(f"/stage/approvals/{pending.id}", form)

    assert answer.status_code == 400
    assert "NUL" in answer.content.decode()
    assert Proposal.objects.get(pk=pending.pk).status == "pending"
    assert not Event.objects.filter(kind="proposal.decision_refused").exists()


def test_a_nul_in_an_api_query_is_a_json_400(client, settings):
    settings.OPS_API_TOKEN = TOKEN

    answer = client.get("/api/ops/chat?actor=%00", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert answer.status_code == 400
    assert answer.json()["errors"] == {"actor": ["contains a NUL character (\\u0000)"]}


def test_a_multipart_body_to_the_api_is_still_read_by_the_api(client, settings):
    settings.OPS_API_TOKEN = TOKEN

    answer = client.post(
        "/api/ops/proposals", {"agent": "x\x00"}, HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
    )

    assert answer.status_code == 400 and "not valid JSON" in str(answer.json()["errors"])


def test_a_thread_answer_that_is_not_a_question_id_is_a_400(admin_client, agent):
    step = make_step("analyze", agent=agent)

    answer = admin_client.post(
        f"/stage/threads/mission/{step.mission_id}/comment", {"text": "hi", "answers": "first"}
    )

    assert answer.status_code == 400
    assert "expected a question id" in answer.content.decode()
