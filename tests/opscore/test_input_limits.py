"""Bad input gets a clear error at every boundary and writes nothing: NUL characters, deep
nesting, non-finite numbers and oversized values."""

import json
from io import StringIO

import pytest
from django.core.management import call_command

from missions.models import Proposal, Step
from opscore.actions import set_policy
from opscore.llm import LLMReply, LLMRequest, call_llm
from opscore.models import Event, Policy
from opscore.policies import PolicyError

pytestmark = pytest.mark.django_db
TOKEN = "a-test-token-that-is-long-enough-0123"
DEEP = "[" * 10_000 + "]" * 10_000


@pytest.fixture(autouse=True)
def api_token(settings):
    settings.OPS_API_TOKEN = TOKEN


def post(client, raw):
    return client.post(
        "/api/ops/proposals",
        data=raw,
        content_type="application/json",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


def test_a_nul_in_a_title_is_refused_with_the_field_named(client, agent):
    body = {"agent": "devops", "title": "disk\u0000check", "steps": [{"kind": "analyze"}]}

    response = post(client, json.dumps(body))

    assert response.status_code == 400
    assert "title" in response.json()["errors"]
    assert not Proposal.objects.exists()


def test_a_nul_deep_in_a_payload_is_refused_with_its_path(client, agent):
    step = {"kind": "analyze", "payload": {"notes": ["fine", "bad\u0000"]}}
    body = {"agent": "devops", "title": "x", "steps": [step]}

    response = post(client, json.dumps(body))

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["steps.0.payload.notes.1"]
    assert not Step.objects.exists()


def test_a_key_given_twice_is_refused_not_read_as_its_last_value(client, agent):
    """{"agent": "ops", "agent": "devops"} acted as devops: a proxy or a reviewer reading the
    first value saw another request than the one carried out."""
    body = '{"agent": "devops", "title": "x", "title": "y", "steps": [{"kind": "analyze"}]}'

    response = post(client, body)

    assert response.status_code == 400
    assert response.json()["errors"] == {
        "body": ["the key 'title' is given twice in one object: which is meant?"]
    }
    assert not Proposal.objects.exists()


def test_json_nested_ten_thousand_deep_is_refused_not_a_500(client, agent):
    response = post(client, '{"agent": "devops", "title": "x", "steps": ' + DEEP + "}")

    assert response.status_code == 400
    assert "nested deeper than" in response.json()["errors"]["body"][0]


def test_give_task_refuses_a_nul_in_place(admin_client, agent):
    response = admin_client.post(
        "/stage/task", {"agent": "devops", "kind": "analyze", "title": "Check\u0000"}
    )

    assert response.status_code == 400 and b"NUL" in response.content
    assert not Proposal.objects.exists()


@pytest.mark.parametrize(
    "value, problem",
    [
        ('{"per_agent_daily_usd": Infinity, "total_daily_usd": 5}', b"NaN and Infinity"),
        (DEEP, b"nested deeper than"),
        ('{"per_agent_daily_usd": 1, "total_daily_usd": 5, "x\\u0000": 1}', b"NUL"),
    ],
)
def test_the_admin_policy_form_refuses_what_jsonb_cannot_store(admin_client, value, problem):
    set_policy("llm_budget", {"per_agent_daily_usd": 1.0, "total_daily_usd": 5.0}, actor="t")

    response = admin_client.post(
        "/admin/opscore/policy/llm_budget/change/", {"key": "llm_budget", "value": value}
    )

    assert response.status_code == 200 and problem in response.content
    assert Policy.objects.get(key="llm_budget").version == 1


def test_policy_schemas_refuse_non_finite_numbers():
    with pytest.raises(PolicyError, match="finite"):
        set_policy(
            "llm_budget", {"per_agent_daily_usd": float("inf"), "total_daily_usd": 5}, actor="t"
        )


def agentbus(*args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        call_command("agentbus", *args, stdout=StringIO())
    return exit_info.value.code, json.loads(capsys.readouterr().out)


def test_agentbus_refuses_a_nul_with_exit_2_and_a_json_error(agent, capsys):
    payload = json.dumps({"note": "bad\u0000"})

    code, body = agentbus(
        "enqueue-job",
        "--target-agent",
        "devops",
        "--subject",
        "x",
        "--payload",
        payload,
        capsys=capsys,
    )

    assert code == 2 and "NUL" in json.dumps(body)
    assert not Proposal.objects.exists()


def test_agentbus_refuses_a_ten_megabyte_payload_like_the_api(agent, capsys, tmp_path):
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"blob": "x" * 10_000_000}))

    code, body = agentbus("emit-event", "--topic", "bulk", "--payload", f"@{big}", capsys=capsys)

    assert code == 2 and "at most 65536 bytes" in body["error"]
    assert not Event.objects.filter(kind="bulk").exists()


class NulProvider:
    name = "test"

    def model_for(self, tier):
        return "test-model"

    def complete(self, request):
        return LLMReply("half\u0000way", 1, 1, "test-model", "test")


def test_a_model_reply_never_carries_a_nul_into_the_database(agent):
    request = LLMRequest(system="s", messages=[{"role": "user", "content": "hi"}])

    reply = call_llm(
        request, agent=agent, purpose="t", prompt_version="t.v1", provider=NulProvider()
    )

    assert reply.text == "halfway"


# JSON may spell half a UTF-16 pair ("\udfff", as json.dumps writes it); no UTF-8 encoder takes
# one, so it used to reach the database driver and answer 500 with a traceback in the log.
LONE = "a\udfffb"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"agent": "devops", "title": LONE, "steps": [{"kind": "analyze"}]}, "title"),
        (
            {
                "agent": "devops",
                "title": "x",
                "steps": [{"kind": "analyze", "payload": {"n": LONE}}],
            },
            "steps.0.payload.n",
        ),
    ],
)
def test_a_lone_surrogate_is_refused_with_its_path(client, agent, body, field):
    response = post(client, json.dumps(body))

    assert response.status_code == 400
    assert "lone surrogate" in str(response.json()["errors"].get(field))
    assert not Proposal.objects.exists()


def test_a_lone_surrogate_in_the_deciding_user_is_a_400(client, agent):
    response = client.post(
        "/api/ops/proposals/1/approve",
        data=json.dumps({"as": LONE}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

    assert response.status_code == 400
    assert "lone surrogate" in str(response.json()["errors"]["as"])


def test_a_body_that_is_not_utf8_is_refused_not_rewritten(client, agent):
    raw = b'{"agent": "devops", "title": "disk \xff check", "steps": [{"kind": "analyze"}]}'

    response = post(client, raw)

    assert response.status_code == 400
    assert "not valid UTF-8" in response.json()["errors"]["body"][0]
    assert not Proposal.objects.exists()
