import json

import pytest

from missions.models import Proposal
from opscore.models import Event
from tests.factories import propose

pytestmark = pytest.mark.django_db
TOKEN = "test-token-0123456789-0123456789"


@pytest.fixture(autouse=True)
def api_token(settings):
    settings.OPS_API_TOKEN = TOKEN


def post(client, body, token=TOKEN, raw=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = raw if raw is not None else json.dumps(body)
    return client.post(
        "/api/ops/proposals", data=data, content_type="application/json", headers=headers
    )


def test_it_accepts_a_proposal_and_answers_with_status_and_mission(client, agent):
    response = post(client, {"agent": "devops", "title": "Check", "steps": [{"kind": "analyze"}]})

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "accepted" and body["mission_id"] and body["step_ids"]
    assert Proposal.objects.get().source == "api"


def test_it_answers_a_rejection_with_its_reason(client, agent, settings):
    agent.enabled = False
    agent.save()

    body = post(client, {"agent": "devops", "title": "x", "steps": [{"kind": "analyze"}]}).json()

    assert (body["status"], body["reason"]) == ("rejected", "Agent devops is disabled")


@pytest.mark.parametrize("token", [None, "wrong-token", TOKEN + "x"])
def test_a_missing_or_wrong_token_is_401(client, agent, token):
    response = post(
        client, {"agent": "devops", "title": "x", "steps": [{"kind": "analyze"}]}, token
    )

    assert response.status_code == 401
    assert not Proposal.objects.exists()


def test_it_refuses_to_work_when_no_token_is_configured(client, agent, settings):
    settings.OPS_API_TOKEN = ""

    response = post(client, {}, token="")

    assert response.status_code == 503
    assert "OPS_API_TOKEN" in response.json()["error"]


def crawling(url: str) -> str:
    step = {"kind": "crawl", "payload": {"url": url}}
    return json.dumps({"agent": "devops", "title": "x", "steps": [step]})


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("{not json", "body"),
        ("[1, 2]", "body"),
        (json.dumps({"agent": "devops", "title": 5, "steps": [{"kind": "analyze"}]}), "title"),
        (
            json.dumps({"agent": "devops", "title": "x", "steps": [{"kind": "warp"}]}),
            "steps.0.kind",
        ),
        (json.dumps({"agent": "devops", "title": "x", "steps": []}), "steps"),
        (json.dumps({"agent": "devops", "title": "x", "steps": "analyze"}), "steps"),
        (
            json.dumps({"agent": "devops", "title": "x", "steps": [{"kind": "analyze"}], "x": 1}),
            "x",
        ),
        (json.dumps({"agent": "ghost", "title": "x", "steps": [{"kind": "analyze"}]}), "agent"),
        (crawling("http://news.example:99999/"), "steps.0.payload.url"),
        (crawling("http://[::1/"), "steps.0.payload.url"),
    ],
)
def test_bad_input_is_400_with_field_errors_and_writes_nothing(client, agent, raw, field):
    response = post(client, None, raw=raw)

    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Proposal.objects.exists()


def test_an_oversized_body_is_400(client, agent, settings):
    settings.OPS_MAX_INPUT_BYTES = 1024
    body = {
        "agent": "devops",
        "title": "x",
        "steps": [{"kind": "analyze", "payload": {"t": "a" * 2000}}],
    }

    response = post(client, body)

    assert response.status_code == 400
    assert "body" in response.json()["errors"]


@pytest.mark.parametrize("length", ["abc", "1e3", "  "])
def test_a_content_length_that_is_no_number_is_a_400_not_a_500(client, agent, length):
    """The WSGI entry point (console/wsgi.py) passes the header on as it came."""
    client.raise_request_exception = False
    body = {"agent": "devops", "title": "x", "steps": [{"kind": "analyze"}]}
    response = client.post(
        "/api/ops/proposals",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {TOKEN}"},
        CONTENT_LENGTH=length,
    )

    assert response.status_code == 400
    assert "Content-Length" in response.json()["errors"]
    assert not Proposal.objects.exists()


def test_events_page_by_cursor(client, agent):
    for n in range(3):
        propose(agent, "analyze", title=f"p{n}")
    first_id = Event.objects.order_by("id").first().id

    page = client.get(f"/api/ops/events?after={first_id}&limit=1").json()

    assert [e["id"] for e in page["events"]] == [first_id + 1]
    assert page["next_after"] == first_id + 1
    assert client.get("/api/ops/events?after=abc").status_code == 400
    assert client.get("/api/ops/events?limit=100000").status_code == 400


def test_reads_need_the_token_when_the_stage_is_private(client, agent, settings):
    settings.STAGE_PUBLIC = False

    assert client.get("/api/ops/status").status_code == 401
    authorised = client.get("/api/ops/status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert authorised.status_code == 200


def test_status_reports_queue_depths_and_rejections(client, agent):
    propose(agent, "analyze")
    agent.enabled = False
    agent.save()
    propose(agent, "analyze")

    status = client.get("/api/ops/status").json()

    assert status["queue"]["depths"]["queued"] == {"analyze": 1}
    assert status["queue"]["oldest_queued_age_seconds"] >= 0
    assert status["proposals"]["rejections_today"] == {
        "total": 1,
        "by_code": {"agent_disabled": 1},
    }


def test_secrets_never_reach_event_payloads(client, agent, settings):
    steps = [{"kind": "analyze", "payload": {"api_key": "sk-live-123", "note": f"see {TOKEN}"}}]
    post(client, {"agent": "devops", "title": f"leak {TOKEN}", "steps": steps})

    dumped = json.dumps(client.get("/api/ops/events").json())
    assert TOKEN not in dumped
